-- Migration 5: retention. A recording older than `index.keep_days` (or the oldest, while the
-- index and snapshots take more than `index.quota_mib`) is retired: SQLite stops naming its
-- index entries, so they never match again, and its snapshots are removed.

ALTER TABLE recordings ADD COLUMN retired_at_ms INTEGER;
ALTER TABLE recordings ADD COLUMN snapshots_removed_at_ms INTEGER;
CREATE INDEX recordings_indexed_by_end ON recordings (end_ms) WHERE indexed_at_ms IS NOT NULL;
CREATE INDEX recordings_retired_with_snapshots ON recordings (retired_at_ms)
    WHERE retired_at_ms IS NOT NULL AND snapshots_removed_at_ms IS NULL;
