-- Migration 6: the uplink. The box's identity on the relay and its broker (the credential
-- sealed), configuration set remotely, and the outbox: every message the box owes the
-- relay, numbered by a sequence that is never reused, kept until the broker acknowledges it.

CREATE TABLE uplink_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    relay_url TEXT NOT NULL,
    device_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    credential BLOB NOT NULL,
    broker_url TEXT NOT NULL,
    broker_username TEXT NOT NULL,
    topic_prefix TEXT NOT NULL,
    activated_at_ms INTEGER NOT NULL
);

CREATE TABLE config_overrides (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    set_at_ms INTEGER NOT NULL
);

CREATE TABLE remote_searches (
    search_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    last_match_id INTEGER NOT NULL DEFAULT 0,
    last_progress TEXT,
    finished INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX outbox_by_kind ON outbox (kind, seq);

CREATE TABLE outbox_usage (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    messages INTEGER NOT NULL,
    bytes INTEGER NOT NULL
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
