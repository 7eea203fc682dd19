-- Issue 11 (bounded memory): tasks waiting for their reporter's "is it fixed?" answer
-- are no longer loaded at start (read by reporter when they answer, through
-- tasks_by_reporter); the core's timers (one per task fixed) are read window by window,
-- by when they are due.
CREATE INDEX timers_by_due ON timers (owner, due_at);
