-- Events handed to the leading process by web-only processes (Open311 POST): the
-- leader handles them in order and writes back the task each became. A handled row
-- keeps no text or identity (it is cleared) and is deleted after an hour.
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY,
    inbound TEXT NOT NULL,
    at INTEGER NOT NULL,
    handled_at INTEGER,
    became INTEGER
);
CREATE INDEX inbox_pending ON inbox (id) WHERE handled_at IS NULL;
