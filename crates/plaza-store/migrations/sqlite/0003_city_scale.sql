-- City scale (a million tasks): the stats and the Open311 date filters read recent tasks
-- by when they were created and when they ended, and the board's kind filter walks one
-- category newest first, instead of reading the whole table.
CREATE INDEX tasks_by_created ON tasks (created_at);
CREATE INDEX tasks_by_ended ON tasks (COALESCE(resolved_at, closed_at));
CREATE INDEX tasks_by_category ON tasks (category, id);
