-- Events handed to the leading process by web-only processes (Open311 POST): the
-- leader handles them in order and writes back the task each became. A handled row
-- keeps no text or identity (it is cleared) and is deleted after an hour.
CREATE TABLE inbox (
    id BIGSERIAL PRIMARY KEY,
    inbound TEXT NOT NULL,
    at BIGINT NOT NULL,
    handled_at BIGINT,
    became BIGINT
);
CREATE INDEX inbox_pending ON inbox (id) WHERE handled_at IS NULL;
