--@postgres
-- Remote searches (PostgreSQL; the SQLite twin is migrations/sqlite/0007_searches.sql).
--@sqlite
-- Remote searches (SQLite; the PostgreSQL twin is migrations/postgres/0007_searches.sql).
--@end
-- See docs/design/0062-remote-search.md.
--
-- A search of a tenant's footage for a person, fanned out to every box of its scope as a
-- persistent `createSearch` RPC; one row per box follows that box's part; the matches the
-- boxes send back are stored once each.
CREATE TABLE searches (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Who asked, as the audit log names them (`user:<id>`, `oidc:<subject>`).
    actor TEXT NOT NULL,
    -- The target; none once the person is removed from the face library.
    person_id TEXT REFERENCES people (id) ON DELETE SET NULL,
    -- The span searched, Unix ms.
    from_ms BIGINT NOT NULL,
    to_ms BIGINT NOT NULL,
    -- The scope as given: JSON arrays of area ids and device ids.
    areas TEXT NOT NULL,
    devices TEXT NOT NULL,
    -- The largest distance that counts as a match, in millionths; none: each box's default.
    max_distance_micros BIGINT,
    -- A box that has not received the search by then never will: its part expires.
    expires_at BIGINT NOT NULL,
    -- The client's Idempotency-Key and the SHA-256 of the request it came with.
    idempotency_key TEXT,
    request_hash TEXT,
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'cancelled')),
    created_at BIGINT NOT NULL,
    cancelled_at BIGINT,
    -- When every box's part had ended.
    finished_at BIGINT,
    UNIQUE (tenant_id, actor, idempotency_key)
);
CREATE INDEX searches_tenant_created ON searches (tenant_id, created_at);
CREATE INDEX searches_state ON searches (state);

-- One box's part of a search: its state, the createSearch RPC that carries it, the box's
-- task, its last progress and how many results it sent.
CREATE TABLE search_boxes (
    search_id TEXT NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'accepted', 'running', 'done',
        'failed', 'cancelled', 'expired')),
    rpc_id TEXT NOT NULL REFERENCES device_rpcs (id),
    -- The cancelSearch RPC, once the search was cancelled while the box had it.
    cancel_rpc_id TEXT REFERENCES device_rpcs (id),
    -- The box's task for the search (its answer to createSearch).
    task_id TEXT,
    -- Why the part failed or expired: a code (the box's, or the relay's) and a sentence.
    reason_code TEXT,
    reason TEXT,
    -- The box's last progress (the one with the highest seq), if any.
    progress_seq BIGINT,
    recordings_total BIGINT,
    recordings_done BIGINT,
    recordings_failed BIGINT,
    box_matches BIGINT,
    eta_seconds BIGINT,
    -- Results stored from this box; also the number of the last one (search_results.n).
    results BIGINT NOT NULL DEFAULT 0,
    -- A part still running then expires: the box did not finish in time.
    deadline_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (search_id, device_id)
);
CREATE INDEX search_boxes_state ON search_boxes (state, deadline_at);
CREATE INDEX search_boxes_rpc ON search_boxes (rpc_id);

-- A match a box found, stored once: a replayed event inserts nothing.
CREATE TABLE search_results (
    search_id TEXT NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    -- The box's own id of the match.
    match_id BIGINT NOT NULL,
    -- Its number among the box's results, in the order the relay stored them (1, 2, ...):
    -- what an event stream has already sent.
    n BIGINT NOT NULL,
    -- When the face was seen, Unix ms; the camera's name on the box.
    time_ms BIGINT NOT NULL,
    camera TEXT NOT NULL,
    -- The distance to the target, in millionths.
    distance_micros BIGINT NOT NULL,
    -- The face in the frame: [x, y, width, height] in pixels (JSON).
    face_box TEXT NOT NULL,
    -- The outbox sequence of the event that brought it.
    seq BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    -- The box said both snapshots (face, frame) are in the object store.
    snapshots_at BIGINT,
    -- When the box was last sent an upload grant for them, and how many it was sent.
    granted_at BIGINT,
    grants BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (search_id, device_id, match_id)
);
CREATE INDEX search_results_time ON search_results (search_id, time_ms, device_id, match_id);
CREATE INDEX search_results_number ON search_results (search_id, device_id, n);
-- Results whose snapshots are still to be uploaded, for the relay's upload grants.
CREATE INDEX search_results_pending ON search_results (snapshots_at, granted_at);
--@postgres

--@tenant_wall searches

--@tenant_wall search_boxes

--@tenant_wall search_results
--@end
