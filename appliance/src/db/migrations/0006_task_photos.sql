-- Migration 6: a task's query photo moves out of `tasks` into a table of its own. A task's
-- row is updated for every recording or batch it searches, SQLite rewrites a row whole,
-- and a photo (often hundreds of KB, in overflow pages) made each update write it again:
-- a week of a community searched from the index wrote hundreds of MB per task.

CREATE TABLE task_photos (
    task_id TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    photo BLOB NOT NULL
);
INSERT INTO task_photos (task_id, photo) SELECT id, photo FROM tasks WHERE photo IS NOT NULL;
ALTER TABLE tasks ADD COLUMN has_photo INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET has_photo = photo IS NOT NULL;
ALTER TABLE tasks DROP COLUMN photo;
