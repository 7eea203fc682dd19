-- Plaza's schema on PostgreSQL: the same tables and columns as on SQLite (its
-- migrations 0001–0004 in one). Times are milliseconds since the Unix epoch; JSON is kept
-- as text, as on SQLite, and read as jsonb where a query looks inside it.

CREATE TABLE tasks (
    id              BIGINT PRIMARY KEY,
    category        TEXT,
    crew            TEXT,
    status          TEXT    NOT NULL,
    close_reason    TEXT,
    visibility      TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    street          TEXT,
    street_key      TEXT,
    lat             DOUBLE PRECISION,
    lon             DOUBLE PRECISION,
    reporter        TEXT    NOT NULL,
    reporter_public BOOLEAN NOT NULL DEFAULT FALSE,
    language        TEXT    NOT NULL,
    me_too          BIGINT  NOT NULL DEFAULT 0,
    supporters      TEXT    NOT NULL DEFAULT '[]',
    followers       TEXT    NOT NULL DEFAULT '[]',
    attachments     TEXT    NOT NULL DEFAULT '[]',
    related         TEXT    NOT NULL DEFAULT '[]',
    duplicate_of    BIGINT,
    assignee        TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    acknowledged_at BIGINT,
    started_at      BIGINT,
    resolved_at     BIGINT,
    closed_at       BIGINT,
    sealed          BOOLEAN NOT NULL DEFAULT FALSE,
    reporter_name   TEXT,
    district        TEXT
);
CREATE INDEX tasks_by_status ON tasks (status, updated_at);
CREATE INDEX tasks_by_reporter ON tasks (reporter);
CREATE INDEX tasks_by_created ON tasks (created_at);
CREATE INDEX tasks_by_ended ON tasks ((COALESCE(resolved_at, closed_at)));
CREATE INDEX tasks_by_category ON tasks (category, id);
CREATE INDEX tasks_by_district ON tasks (district, id);

CREATE TABLE task_events (
    id      BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    actor   TEXT,
    kind    TEXT   NOT NULL,
    detail  TEXT   NOT NULL
);
CREATE INDEX task_events_by_task ON task_events (task_id, id);
CREATE INDEX task_events_by_actor ON task_events (actor);

CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    channel      TEXT   NOT NULL,
    destination  TEXT   NOT NULL,
    task_id      BIGINT,
    message      TEXT   NOT NULL,
    state        TEXT   NOT NULL DEFAULT 'pending',
    attempts     BIGINT NOT NULL DEFAULT 0,
    due_at       BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT,
    platform_id  TEXT,
    last_error   TEXT
);
CREATE INDEX outbox_pending ON outbox (channel, id) WHERE state = 'pending';
CREATE INDEX outbox_by_destination ON outbox (destination);

CREATE TABLE posts (
    channel    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    task_id    BIGINT NOT NULL,
    room       TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    PRIMARY KEY (channel, message_id, task_id)
);
CREATE INDEX posts_by_task ON posts (task_id);

CREATE TABLE seen (
    channel    TEXT   NOT NULL,
    message_id TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (channel, message_id)
);
CREATE INDEX seen_by_time ON seen (at);

CREATE TABLE dialogues (
    identity   TEXT PRIMARY KEY,
    state      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE residents (
    identity TEXT PRIMARY KEY,
    language TEXT NOT NULL
);

CREATE TABLE cursors (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
