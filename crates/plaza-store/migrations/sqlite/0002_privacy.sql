-- Privacy: a task made private by a decision stays private until an explicit `publico`;
-- the reporter's platform name is kept (never shown) to mask it in public text.
ALTER TABLE tasks ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN reporter_name TEXT;
CREATE INDEX tasks_by_reporter ON tasks (reporter);
CREATE INDEX task_events_by_actor ON task_events (actor);
CREATE INDEX outbox_by_destination ON outbox (destination);
