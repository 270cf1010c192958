-- Search tasks, the recordings they cover, the box's index of processed recordings, and
-- matches. Times are Unix milliseconds.

-- One search: a target face over a time range and some cameras.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,                -- UUID, given out at creation
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 5),  -- 0 = operator waiting
    from_ms INTEGER NOT NULL,
    to_ms INTEGER NOT NULL,
    cameras TEXT NOT NULL,              -- JSON array of camera ids
    match_distance REAL NOT NULL,       -- distance between normalised embeddings
    photo BLOB,                         -- the query photo as uploaded (JPEG/PNG), if any
    model TEXT,                         -- embedding model id, once the target is embedded
    embedding BLOB,                     -- little-endian f32s of the target
    error TEXT,                         -- why the task failed
    created_at_ms INTEGER NOT NULL,
    started_at_ms INTEGER,
    finished_at_ms INTEGER,
    -- Counters, updated in the same transaction as the rows they count.
    recordings_total INTEGER NOT NULL DEFAULT 0,
    recordings_done INTEGER NOT NULL DEFAULT 0,
    recordings_failed INTEGER NOT NULL DEFAULT 0,
    keyframes INTEGER NOT NULL DEFAULT 0,
    faces INTEGER NOT NULL DEFAULT 0,
    matches INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_by_created ON tasks (created_at_ms);
CREATE INDEX tasks_unfinished ON tasks (priority, created_at_ms) WHERE state IN ('queued', 'running');

-- How far a task's search of one camera track has got: recordings starting before
-- cursor_ms are all in task_recordings.
CREATE TABLE task_sources (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    camera_id INTEGER NOT NULL,
    track INTEGER NOT NULL,
    cursor_ms INTEGER NOT NULL,
    search_done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, camera_id, track)
);

-- Every recording the box has seen in a search. Once its faces are in the embedding index,
-- indexed_at_ms is set and [first_entry, end_entry) are its index entries; entries of the
-- same recording outside that range are leftovers of a crash and never match.
CREATE TABLE recordings (
    id INTEGER PRIMARY KEY,
    camera_id INTEGER NOT NULL,
    track INTEGER NOT NULL,
    playback_uri TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    size INTEGER,
    indexed_at_ms INTEGER,
    first_entry INTEGER,
    end_entry INTEGER,
    keyframes INTEGER,
    faces INTEGER,
    decode_error TEXT,                  -- the video was damaged after some keyframes
    UNIQUE (camera_id, playback_uri)
);

-- The recordings of a task, in the order its searches found them.
CREATE TABLE task_recordings (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    recording_id INTEGER NOT NULL REFERENCES recordings (id),
    seq INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    reason TEXT,                        -- why it failed, or what was damaged
    PRIMARY KEY (task_id, recording_id)
);
CREATE INDEX task_recordings_by_state ON task_recordings (task_id, state, seq);

-- A face of the target found by a task. (task_id, entry_id) is unique: a recording
-- processed twice after a crash cannot store a match twice.
CREATE TABLE matches (
    id INTEGER PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    entry_id INTEGER NOT NULL,
    recording_id INTEGER NOT NULL REFERENCES recordings (id),
    camera_id INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    distance REAL NOT NULL,
    box_x REAL NOT NULL,
    box_y REAL NOT NULL,
    box_width REAL NOT NULL,
    box_height REAL NOT NULL,
    face_index INTEGER NOT NULL,        -- names the snapshot files with recording and time
    UNIQUE (task_id, entry_id)
);
CREATE INDEX matches_by_task ON matches (task_id, id);
