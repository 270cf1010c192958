--@postgres
-- The relay's first schema (PostgreSQL). The SQLite twin is migrations/sqlite/0001_init.sql;
-- both have the same tables, columns and meanings, so one set of queries serves both.
--@sqlite
-- The relay's first schema (SQLite). The PostgreSQL twin is migrations/postgres/0001_init.sql;
-- both have the same tables, columns and meanings, so one set of queries serves both. SQLite
-- has no row-level security: the embedded database serves one relay process, and the
-- tenant filter every query carries is the wall.
--@end
--
--@postgres
-- Conventions: ids are UUIDs written as lower-case text (the relay reads both engines through
-- sqlx's Any driver, which carries text, integers and floats); times are Unix milliseconds.
-- Every table that holds a tenant's data has `tenant_id` and an index on
-- (tenant_id, created_at), and a row-level security policy keyed on the per-transaction
-- settings `dipper.tenant_id` and `dipper.platform` (see src/db/mod.rs). FORCE makes the
-- policies apply to the tables' owner too, so only a superuser or a BYPASSRLS role, which
-- the relay never is, sees through them.
--@sqlite
-- Conventions: ids are UUIDs written as lower-case text; times are Unix milliseconds.
--@end

-- The relay's own secrets (the access-token signing key), shared by every instance.
CREATE TABLE relay_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- 'creating' while its creation saga runs, then 'enabled' or 'disabled'.
    status TEXT NOT NULL CHECK (status IN ('creating', 'enabled', 'disabled')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tenants_created ON tenants (created_at);

-- One row per tenant-creation request, keyed by the client's idempotency key: a retry with
-- the same key finds the tenant made the first time instead of making another.
CREATE TABLE tenant_creations (
    idempotency_key TEXT PRIMARY KEY,
    -- A hash of the request body, so a reused key with a different request is refused.
    request_hash TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    -- 'running', 'done' or 'failed' (every step compensated).
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The resources a tenant's creation saga provisioned outside this table set (object-storage
-- prefix, broker credentials...), each undone by its step's compensation.
CREATE TABLE tenant_resources (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);
CREATE INDEX tenant_resources_tenant_created ON tenant_resources (tenant_id, created_at);

CREATE TABLE areas (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- NULL for a root area; a parent is always in the same tenant (checked on insert).
    parent_id TEXT REFERENCES areas (id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX areas_tenant_created ON areas (tenant_id, created_at);
CREATE INDEX areas_parent ON areas (parent_id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    -- NULL for platform admins, who belong to no tenant.
    tenant_id TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    -- Lower-cased; unique across the platform, since login names no tenant.
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    platform_admin INTEGER NOT NULL DEFAULT 0 CHECK (platform_admin IN (0, 1)),
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((platform_admin = 1) = (tenant_id IS NULL))
);
CREATE INDEX users_tenant_created ON users (tenant_id, created_at);

-- A role granted to a user on the whole tenant (area_id NULL) or on an area and its subtree.
CREATE TABLE role_grants (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('tenant_admin', 'operator', 'viewer')),
    area_id TEXT REFERENCES areas (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX role_grants_tenant_created ON role_grants (tenant_id, created_at);
CREATE INDEX role_grants_user ON role_grants (user_id);

-- Refresh tokens, stored as SHA-256 of the secret. A rotation marks the presented token
-- 'used' and issues the next of its family; presenting a used token revokes the family.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('active', 'used', 'revoked')),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_tenant_created ON refresh_tokens (tenant_id, created_at);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Failed logins per (lower-cased) email, known or not, for throttling.
CREATE TABLE login_failures (
    email TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    area_id TEXT NOT NULL REFERENCES areas (id),
    name TEXT NOT NULL,
    group_name TEXT,
    -- 'registered' (key issued, not yet activated), 'active', 'decommissioned'.
    status TEXT NOT NULL CHECK (status IN ('registered', 'active', 'decommissioned')),
    -- SHA-256 of the one-time provisioning key; NULL once used or after decommissioning.
    provisioning_key_hash TEXT UNIQUE,
    provisioning_expires_at BIGINT,
    -- SHA-256 of the credential the box received at activation.
    credential_hash TEXT UNIQUE,
    activated_at BIGINT,
    -- Filled by the uplink.
    last_seen_at BIGINT,
    software_version TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX devices_tenant_created ON devices (tenant_id, created_at);
CREATE INDEX devices_area ON devices (area_id);

-- Every mutating request: who, tenant, what, target, when, from where, outcome. Written in
-- the transaction of the change it records.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    -- NULL for platform-level actions outside any tenant. No foreign key: the record outlives
    -- a deleted tenant.
    tenant_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant_created ON audit_log (tenant_id, created_at);
--@postgres

-- The second wall: rows are visible only to a transaction that set its tenant, or that set
-- the platform scope (platform admins and the few tenant-less steps such as login).
--@tenant_wall tenants id

--@platform_only tenant_creations

--@tenant_wall tenant_resources

--@tenant_wall areas

--@tenant_wall users

--@tenant_wall role_grants

--@tenant_wall refresh_tokens

--@tenant_wall devices

--@tenant_wall audit_log

--@platform_only login_failures

--@platform_only relay_secrets
--@end
