--@postgres
-- Accounts per tenant (PostgreSQL; the SQLite twin is migrations/sqlite/0003_accounts_per_tenant.sql).
--@sqlite
-- no-transaction
-- Accounts per tenant (SQLite; the PostgreSQL twin is migrations/postgres/0003_accounts_per_tenant.sql).
--@end
-- See docs/design/0001-user-identity.md.
--
-- An e-mail is unique within its tenant, and among platform admins, instead of across the
-- platform: the login request names the tenant, so whether an e-mail exists in another tenant
-- is never consulted, and never shows.
--@postgres
ALTER TABLE users DROP CONSTRAINT users_email_key;
--@sqlite
--
-- SQLite cannot drop the column's UNIQUE constraint, so the table is rebuilt by SQLite's own
-- procedure: foreign keys are turned off outside the transaction, so dropping the old table
-- cascades to nothing, and the rows are copied unchanged, so every reference still holds.
-- Hence the file opens its own transaction.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE users_new (
    id TEXT PRIMARY KEY,
    -- NULL for platform admins, who belong to no tenant.
    tenant_id TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    -- Lower-cased; unique within the tenant (or among platform admins).
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    platform_admin INTEGER NOT NULL DEFAULT 0 CHECK (platform_admin IN (0, 1)),
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((platform_admin = 1) = (tenant_id IS NULL))
);
INSERT INTO users_new (id, tenant_id, email, display_name, password_hash, platform_admin,
    status, created_at, updated_at)
SELECT id, tenant_id, email, display_name, password_hash, platform_admin, status, created_at,
    updated_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_tenant_created ON users (tenant_id, created_at);
--@end
CREATE UNIQUE INDEX users_tenant_email ON users (tenant_id, email) WHERE tenant_id IS NOT NULL;
CREATE UNIQUE INDEX users_platform_email ON users (email) WHERE tenant_id IS NULL;

-- Failed logins per account (`<tenant id>/<email>` or `platform/<email>`, whether or not a
-- user has it) and client address; the address `*` counts the account's failures from every
-- address. The counts are short-lived, so the old per-e-mail rows are dropped.
DROP TABLE login_failures;
CREATE TABLE login_failures (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    failures INTEGER NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account, address)
);
CREATE INDEX login_failures_updated ON login_failures (updated_at);
--@postgres

--@platform_only login_failures
--@sqlite
COMMIT;
PRAGMA foreign_keys = ON;
--@end
