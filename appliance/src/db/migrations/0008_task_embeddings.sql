-- Migration 8: a task looks for one or more embeddings of one person (a remote search
-- carries every photo of them in the relay's face library, up to 32). They move out of the
-- task's row, which every recording or window searched rewrites whole, into a table of
-- their own, one row each; a task's existing embedding becomes its first.

CREATE TABLE task_embeddings (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    model TEXT NOT NULL,
    embedding BLOB NOT NULL,
    PRIMARY KEY (task_id, n)
);
INSERT INTO task_embeddings (task_id, n, model, embedding)
    SELECT id, 0, model, embedding FROM tasks WHERE model IS NOT NULL AND embedding IS NOT NULL;
ALTER TABLE tasks DROP COLUMN model;
ALTER TABLE tasks DROP COLUMN embedding;
