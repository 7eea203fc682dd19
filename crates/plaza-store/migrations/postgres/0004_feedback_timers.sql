-- Issue 12: what the reporter says of a fix ("is it fixed?": confirmed, reopened, rated),
-- and timers (work at a time of the engine's clock: the question's time-out, plugins'
-- reminders), kept across restarts.
ALTER TABLE tasks ADD COLUMN confirmation TEXT;
ALTER TABLE tasks ADD COLUMN rating BIGINT;
ALTER TABLE tasks ADD COLUMN reopens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN credit TEXT;
-- Tasks waiting for their reporter's answer are part of the working set at start.
CREATE INDEX tasks_awaiting_answer ON tasks (id) WHERE confirmation = 'asked';

CREATE TABLE timers (
    owner   TEXT    NOT NULL,
    task_id BIGINT  NOT NULL,
    key     TEXT    NOT NULL,
    due_at  BIGINT  NOT NULL,
    PRIMARY KEY (owner, task_id, key)
);

-- Residents who asked for the town's notices: of one district, or of the whole town ('').
CREATE TABLE subscriptions (
    identity TEXT NOT NULL,
    district TEXT NOT NULL,
    PRIMARY KEY (identity, district)
);

-- Crew members' own choice to be named in public when they fix something ("credit Luis"):
-- the first name, or NULL when they said no (over the config's `credit`).
CREATE TABLE credits (
    identity TEXT PRIMARY KEY,
    name     TEXT
);
