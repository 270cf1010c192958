--@postgres
-- The uplink (PostgreSQL; the SQLite twin is migrations/sqlite/0004_uplink.sql).
--@sqlite
-- The uplink (SQLite; the PostgreSQL twin is migrations/postgres/0004_uplink.sql).
--@end
-- See docs/design/0051-relay-uplink-and-rpc.md.
--
-- What the uplink (relay/src/uplink/) learns of each box: its presence, from its `status`
-- topic (online on connect, offline as its last will) and its telemetry; its client
-- attributes as last sent; its latest telemetry sample (JSON as received).
ALTER TABLE devices ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN status_changed_at BIGINT;
ALTER TABLE devices ADD COLUMN client_attributes TEXT;
ALTER TABLE devices ADD COLUMN telemetry TEXT;
ALTER TABLE devices ADD COLUMN telemetry_at BIGINT;

-- Every message a box sent with an outbox sequence, applied once: the key is (device, seq),
-- not a high-water mark, since relays sharing a subscription may see one box's messages out
-- of order. Search events keep their body (kind 'event'); other kinds only their place.
CREATE TABLE uplink_messages (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    -- 'telemetry', 'attributes', 'event', 'rpc_response'.
    kind TEXT NOT NULL,
    body TEXT,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX uplink_messages_tenant_kind ON uplink_messages (tenant_id, device_id, kind, seq);

-- Server-side RPCs to boxes, in ThingsBoard's persistent-RPC states. `request_id` is the id
-- on the wire (`rpc/request/{request_id}`), unique per device.
CREATE TABLE device_rpcs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    request_id BIGINT NOT NULL,
    method TEXT NOT NULL,
    -- The request's params (JSON).
    params TEXT NOT NULL,
    persistent INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('queued', 'sent', 'delivered', 'successful', 'timeout', 'expired', 'failed')),
    -- How long the box has to answer once the request is sent.
    timeout_ms BIGINT NOT NULL,
    -- Not sent after this (a persistent RPC waiting for its box).
    expires_at BIGINT NOT NULL,
    -- Sent + timeout: after this, an unanswered RPC times out.
    answer_by BIGINT,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    completed_at BIGINT,
    -- The box's answer: `{"result": ...}` or `{"error": {...}}`.
    response TEXT,
    UNIQUE (device_id, request_id)
);
CREATE INDEX device_rpcs_device_state ON device_rpcs (device_id, state);
CREATE INDEX device_rpcs_tenant_created ON device_rpcs (tenant_id, created_at);
--@postgres

--@tenant_wall uplink_messages

--@tenant_wall device_rpcs
--@end
