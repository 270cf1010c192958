-- Migration 3: background indexing. How far each camera track's footage is indexed, and
-- recordings that background indexing could not index.

CREATE TABLE index_coverage (
    camera_id INTEGER NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    track INTEGER NOT NULL,
    covered_from_ms INTEGER NOT NULL,
    covered_to_ms INTEGER NOT NULL,
    recordings_waiting INTEGER NOT NULL DEFAULT 0,
    recordings_indexed INTEGER NOT NULL DEFAULT 0,
    recordings_failed INTEGER NOT NULL DEFAULT 0,
    problem TEXT,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (camera_id, track)
);

ALTER TABLE recordings ADD COLUMN index_error TEXT;
CREATE INDEX recordings_by_track ON recordings (camera_id, track, start_ms);
