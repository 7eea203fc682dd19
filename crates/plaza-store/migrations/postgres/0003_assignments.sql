-- The dispatchers' assignments the classifier learns from at start, newest first: an
-- index of them alone, so that a town with millions of events starts at once.
CREATE INDEX task_events_assigned ON task_events (id) WHERE kind = 'assigned';
