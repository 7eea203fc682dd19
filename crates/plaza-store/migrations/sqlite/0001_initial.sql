-- Plaza's schema. Times are milliseconds since the Unix epoch.

CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY,
    category        TEXT,
    crew            TEXT,
    status          TEXT    NOT NULL,
    close_reason    TEXT,
    visibility      TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    street          TEXT,
    street_key      TEXT,
    lat             REAL,
    lon             REAL,
    reporter        TEXT    NOT NULL,
    reporter_public INTEGER NOT NULL DEFAULT 0,
    language        TEXT    NOT NULL,
    me_too          INTEGER NOT NULL DEFAULT 0,
    supporters      TEXT    NOT NULL DEFAULT '[]',
    followers       TEXT    NOT NULL DEFAULT '[]',
    attachments     TEXT    NOT NULL DEFAULT '[]',
    related         TEXT    NOT NULL DEFAULT '[]',
    duplicate_of    INTEGER,
    assignee        TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    started_at      INTEGER,
    resolved_at     INTEGER,
    closed_at       INTEGER
);
CREATE INDEX tasks_by_status ON tasks (status, updated_at);

CREATE TABLE task_events (
    id      INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    actor   TEXT,
    kind    TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX task_events_by_task ON task_events (task_id, id);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    channel      TEXT    NOT NULL,
    destination  TEXT    NOT NULL,
    task_id      INTEGER,
    message      TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER,
    platform_id  TEXT,
    last_error   TEXT
);
CREATE INDEX outbox_pending ON outbox (channel, id) WHERE state = 'pending';

-- A task's post as delivered; a grouped message carries several tasks.
CREATE TABLE posts (
    channel    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    task_id    INTEGER NOT NULL,
    room       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    PRIMARY KEY (channel, message_id, task_id)
);
CREATE INDEX posts_by_task ON posts (task_id);

CREATE TABLE seen (
    channel    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (channel, message_id)
) WITHOUT ROWID;
CREATE INDEX seen_by_time ON seen (at);

CREATE TABLE dialogues (
    identity   TEXT PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE residents (
    identity TEXT PRIMARY KEY,
    language TEXT NOT NULL
);

CREATE TABLE cursors (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
