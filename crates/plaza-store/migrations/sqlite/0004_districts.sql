-- The district a task is in (`[[district]]` in the town's config), for the board's filter.
ALTER TABLE tasks ADD COLUMN district TEXT;
CREATE INDEX tasks_by_district ON tasks (district, id);
