-- Accounts per tenant (PostgreSQL; the SQLite twin is migrations/sqlite/0003_accounts_per_tenant.sql).
-- See docs/design/0001-user-identity.md.
--
-- An e-mail is unique within its tenant, and among platform admins, instead of across the
-- platform: the login request names the tenant, so whether an e-mail exists in another tenant
-- is never consulted, and never shows.
ALTER TABLE users DROP CONSTRAINT users_email_key;
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

ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON login_failures USING (
    current_setting('dipper.platform', true) = 'on'
);
