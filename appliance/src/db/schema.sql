-- The box's current SQLite schema (`box.db`), schema version 11 (`PRAGMA user_version`).
--
-- This file is documentation and the reference the migration test checks against: a fresh
-- database built by applying every file of `migrations/` in order must have exactly these
-- tables, indexes and columns. When adding a migration, update this file to match.
--
-- Conventions: times are milliseconds since the Unix epoch (UTC) in `*_ms` INTEGER columns;
-- booleans are INTEGER 0/1; lists are JSON arrays in TEXT columns; secrets are BLOBs sealed
-- by `Secrets` (XChaCha20-Poly1305: 24-byte nonce || ciphertext || 16-byte tag) with the
-- key in `secret.key` beside the database.

-- A Hikvision camera or NVR the box searches.
CREATE TABLE cameras (
    -- Stable id, used by tasks and matches; never reused while the row exists.
    id INTEGER PRIMARY KEY,
    -- The installer's name for it, unique on the box (e.g. "gate-north").
    name TEXT UNIQUE NOT NULL,
    -- Base URL of the device's ISAPI, e.g. "http://192.168.1.64".
    base_url TEXT NOT NULL,
    -- ISAPI user name, plain text.
    username TEXT NOT NULL,
    -- ISAPI password, encrypted: nonce || ciphertext || tag. Never returned by the API.
    password BLOB NOT NULL,
    -- JSON array of the ISAPI track ids to search, e.g. "[101,201]".
    tracks TEXT NOT NULL,
    -- 1 if searches use this camera, 0 if it is kept but skipped.
    enabled INTEGER NOT NULL DEFAULT 1,
    -- When it was added.
    created_at_ms INTEGER NOT NULL,
    -- What its motion gates have learnt (JSON of pipeline::motion::GateState), once it has
    -- been indexed with the gates on.
    motion_state TEXT
);

-- Small box-wide values that outlive a restart, by name (e.g. the box's id on the relay).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    -- The value, as text (JSON where structured).
    value TEXT NOT NULL
);

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
    matches INTEGER NOT NULL DEFAULT 0,
    -- Of the keyframes: those decoded, and those sent to the face detector (the motion
    -- gates skipped the rest).
    keyframes_decoded INTEGER NOT NULL DEFAULT 0,
    keyframes_detected INTEGER NOT NULL DEFAULT 0,
    has_photo INTEGER NOT NULL DEFAULT 0  -- its target was given as a photo (in task_photos)
);
CREATE INDEX tasks_by_created ON tasks (created_at_ms);
CREATE INDEX tasks_unfinished ON tasks (priority, created_at_ms) WHERE state IN ('queued', 'running');

-- The query photo as uploaded (JPEG/PNG), apart from the task's row, which every recording
-- searched updates (SQLite rewrites a row whole).
CREATE TABLE task_photos (
    task_id TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    photo BLOB NOT NULL
);

-- The embeddings a task looks for, once known (given, or made from its photo): one or more
-- of one person, of one model; a face matches when it is near any of them. Apart from the
-- task's row for the same reason as the photo.
CREATE TABLE task_embeddings (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    n INTEGER NOT NULL,                 -- 0, 1, ...: the order they were given in
    model TEXT NOT NULL,                -- the embedding model's id (dlib-resnet-v1)
    embedding BLOB NOT NULL,            -- little-endian f32s
    PRIMARY KEY (task_id, n)
);

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
    index_error TEXT,                   -- why background indexing could not index it
    keyframes_decoded INTEGER,          -- of keyframes, those decoded (NULL before the gates: all)
    keyframes_detected INTEGER,         -- ... and those sent to the face detector
    -- Retention: when its entries were dropped (indexed_at_ms and the entry range are then
    -- NULL; it is indexed again only if a search asks for it), and when its snapshots went.
    retired_at_ms INTEGER,
    snapshots_removed_at_ms INTEGER,
    UNIQUE (camera_id, playback_uri)
);
CREATE INDEX recordings_by_track ON recordings (camera_id, track, start_ms);
CREATE INDEX recordings_indexed_by_end ON recordings (end_ms) WHERE indexed_at_ms IS NOT NULL;
CREATE INDEX recordings_retired_with_snapshots ON recordings (retired_at_ms)
    WHERE retired_at_ms IS NOT NULL AND snapshots_removed_at_ms IS NULL;

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

-- Background indexing: how far each camera track's footage is indexed. Every recording of
-- the track that starts in [covered_from_ms, covered_to_ms) is in `recordings`, indexed or
-- with its index_error; the range grows backwards (older footage) and forwards (recordings
-- closed since) and only ever after the recordings it adds are stored.
CREATE TABLE index_coverage (
    camera_id INTEGER NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    track INTEGER NOT NULL,
    covered_from_ms INTEGER NOT NULL,
    covered_to_ms INTEGER NOT NULL,
    recordings_waiting INTEGER NOT NULL DEFAULT 0,  -- found in the window being indexed
    recordings_indexed INTEGER NOT NULL DEFAULT 0,  -- by background indexing, all time
    recordings_failed INTEGER NOT NULL DEFAULT 0,
    problem TEXT,                       -- why indexing this track is stuck, while it is
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (camera_id, track)
);

-- The box's identity on the relay, once it is activated (`dipper uplink activate`): one row.
CREATE TABLE uplink_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    relay_url TEXT NOT NULL,            -- the relay that activated it (https://...)
    device_id TEXT NOT NULL,            -- UUID, also its broker user name and client id
    tenant_id TEXT NOT NULL,            -- UUID
    credential BLOB NOT NULL,           -- the device credential, sealed by `Secrets`
    broker_url TEXT NOT NULL,           -- mqtt://host:port or mqtts://host:port
    broker_username TEXT NOT NULL,
    topic_prefix TEXT NOT NULL,         -- dipper/{tenant}/{device}
    activated_at_ms INTEGER NOT NULL,
    -- The relay's Ed25519 public key for software packages (base64), the only key a software
    -- update is trusted with; NULL when activation brought none.
    software_key TEXT
);

-- Configuration set remotely (the `setConfig` RPC, shared attributes), by dotted key
-- (`uplink.telemetry_seconds`); applied over box.toml at every start.
CREATE TABLE config_overrides (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,                -- JSON
    set_at_ms INTEGER NOT NULL
);

-- Searches the relay started (`createSearch`): the box's task for each, and how far its
-- events have gone into the outbox (moved in the same transaction as the events, so each
-- is sent once, also across restarts).
CREATE TABLE remote_searches (
    search_id TEXT PRIMARY KEY,         -- the relay's search (UUID)
    task_id TEXT NOT NULL,              -- the box's task
    last_match_id INTEGER NOT NULL DEFAULT 0,   -- matches up to this id are in the outbox
    last_progress TEXT,                 -- the last progress sent (JSON), to send changes only
    finished INTEGER NOT NULL DEFAULT 0,        -- 1 once its end is in the outbox
    created_at_ms INTEGER NOT NULL
);

-- The outbox: every message the box owes the relay, in order. `seq` is the box's sequence,
-- carried in the payload: AUTOINCREMENT, so never reused, even once every row is gone. A
-- row is deleted only once the relay acknowledged it (or the broker's PUBACK, with
-- uplink.acknowledged_by = "broker").
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,                 -- telemetry | attributes | rpc_response | search_event
    topic TEXT NOT NULL,                -- below the box's prefix: telemetry, rpc/response/7, ...
    payload BLOB NOT NULL,              -- the JSON message, with its seq
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX outbox_by_kind ON outbox (kind, seq);

-- The outbox's size, kept by the triggers below, so its quota is checked without a scan.
-- The upload grants count against the same quota.
CREATE TABLE outbox_usage (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    messages INTEGER NOT NULL,
    bytes INTEGER NOT NULL,             -- sum of length(payload)
    grants INTEGER NOT NULL DEFAULT 0,  -- rows of upload_grants
    grant_bytes INTEGER NOT NULL DEFAULT 0  -- sum of their URLs' lengths
);
INSERT INTO outbox_usage (id, messages, bytes) VALUES (1, 0, 0);

CREATE TRIGGER outbox_usage_insert AFTER INSERT ON outbox BEGIN
    UPDATE outbox_usage SET messages = messages + 1, bytes = bytes + length(NEW.payload) WHERE id = 1;
END;
CREATE TRIGGER outbox_usage_update AFTER UPDATE OF payload ON outbox BEGIN
    UPDATE outbox_usage SET bytes = bytes - length(OLD.payload) + length(NEW.payload) WHERE id = 1;
END;
CREATE TRIGGER outbox_usage_delete AFTER DELETE ON outbox BEGIN
    UPDATE outbox_usage SET messages = messages - 1, bytes = bytes - length(OLD.payload) WHERE id = 1;
END;

-- Where to upload a match's snapshots (the relay's grant on `{prefix}/uploads`: presigned
-- PUT URLs for the face crop and the frame, signed for image/jpeg), kept until both are
-- uploaded (then a `snapshots_uploaded` search event is written and the row deleted in one
-- transaction), the grant expires or the store refuses it (`snapshots_wanted`: the relay
-- grants again), or the match's files are gone (retention). A grant for the same (search,
-- match) replaces the row and bumps `version`, so an upload of the old one in flight
-- changes nothing.
CREATE TABLE upload_grants (
    search_id TEXT NOT NULL,            -- the relay's search (UUID)
    match_id INTEGER NOT NULL,          -- matches.id
    face_url TEXT NOT NULL,
    frame_url TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL,     -- the store refuses both URLs after it
    face_uploaded INTEGER NOT NULL DEFAULT 0,   -- with this grant's URL
    frame_uploaded INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,        -- tries that found the store unreachable or failing
    next_attempt_at_ms INTEGER NOT NULL,        -- not tried again before (backoff with jitter)
    last_error TEXT,                    -- why the last try failed
    received_at_ms INTEGER NOT NULL,
    PRIMARY KEY (search_id, match_id)
);
CREATE INDEX upload_grants_by_next_attempt ON upload_grants (next_attempt_at_ms);

CREATE TRIGGER upload_grants_usage_insert AFTER INSERT ON upload_grants BEGIN
    UPDATE outbox_usage SET grants = grants + 1,
        grant_bytes = grant_bytes + length(NEW.face_url) + length(NEW.frame_url) WHERE id = 1;
END;
CREATE TRIGGER upload_grants_usage_update AFTER UPDATE OF face_url, frame_url ON upload_grants BEGIN
    UPDATE outbox_usage SET grant_bytes = grant_bytes - length(OLD.face_url) - length(OLD.frame_url)
        + length(NEW.face_url) + length(NEW.frame_url) WHERE id = 1;
END;
CREATE TRIGGER upload_grants_usage_delete AFTER DELETE ON upload_grants BEGIN
    UPDATE outbox_usage SET grants = grants - 1,
        grant_bytes = grant_bytes - length(OLD.face_url) - length(OLD.frame_url) WHERE id = 1;
END;

-- The local page's access (migration 10).
CREATE TABLE admin_password (
    id INTEGER PRIMARY KEY CHECK (id = 1),  -- one administrator
    hash TEXT NOT NULL,                 -- Argon2id PHC string
    set_at_ms INTEGER NOT NULL
);

CREATE TABLE sessions (
    digest BLOB PRIMARY KEY,            -- SHA-256 of the cookie's value; the value is not kept
    csrf TEXT NOT NULL,                 -- the token its changing requests must carry
    created_at_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL       -- renewed on use, at most once a minute
);

CREATE TABLE login_throttle (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    failures INTEGER NOT NULL,          -- failed sign-ins since the last success
    last_failure_ms INTEGER NOT NULL
);

-- The tenant's billing standing as the relay last decided it (`setStanding`, migration 11):
-- one row, absent until the relay first says (the box then counts as in good standing).
-- The latest decision wins: one older than `decided_at_ms` is answered and not stored.
CREATE TABLE tenant_standing (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- good | suspended (for an unpaid invoice: the relay's new searches are refused)
    standing TEXT NOT NULL CHECK (standing IN ('good', 'suspended')),
    decided_at_ms INTEGER NOT NULL,     -- when the relay decided it
    received_at_ms INTEGER NOT NULL     -- when the box stored it
);
