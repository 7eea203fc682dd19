-- Issue 11 (bounded memory): tasks waiting for their reporter's "is it fixed?" answer
-- are no longer all loaded at start, only who waits (read by reporter when they write);
-- the core's timers (one per task fixed) are read window by window, by when they are due.
CREATE INDEX tasks_awaiting_by_reporter ON tasks (reporter) WHERE confirmation = 'asked';
CREATE INDEX timers_by_due ON timers (owner, due_at);
