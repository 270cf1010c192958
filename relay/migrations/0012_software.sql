--@postgres
-- Box software updates (PostgreSQL; the twin is migrations/sqlite/0012_software.sql).
--@sqlite
-- Box software updates (SQLite; the twin is migrations/postgres/0012_software.sql).
--@end
-- See docs/design/0110-software-updates.md.
--
-- A box package a platform admin uploaded: its bytes in the object store at `object_key`,
-- its description signed by the relay's Ed25519 key (`signature`, base64, over
-- protocol::software::SignedPackage::signed_text). One row per (name, version).
CREATE TABLE software_packages (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL CHECK (size > 0),
    signature TEXT NOT NULL,
    object_key TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (name, version)
);

-- A package sent to boxes of one tenant in waves of `wave_size`: the next wave goes out when
-- every box of the one before is healthy; a box rolled back or failed halts the rollout.
CREATE TABLE software_rollouts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    package_id TEXT NOT NULL REFERENCES software_packages (id),
    wave_size INTEGER NOT NULL CHECK (wave_size >= 1),
    force INTEGER NOT NULL CHECK (force IN (0, 1)),
    health_timeout_s INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'halted')),
    -- The wave sent last (0: the first).
    wave INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX software_rollouts_tenant ON software_rollouts (tenant_id, created_at);

-- Each box of a rollout, its wave and where its update stands (the box's reports move it
-- forward only).
CREATE TABLE software_rollout_boxes (
    rollout_id TEXT NOT NULL REFERENCES software_rollouts (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    wave INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('waiting', 'sent', 'downloading', 'staged',
        'installing', 'healthy', 'rolled_back', 'failed')),
    reason TEXT,
    -- The version the box ran when the rollout began.
    version_before TEXT,
    rpc_id TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX software_rollout_boxes_device ON software_rollout_boxes (tenant_id, device_id);
--@postgres

--@tenant_wall software_rollouts

--@tenant_wall software_rollout_boxes
--@end
