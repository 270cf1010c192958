--@postgres
-- Sessions (PostgreSQL; the SQLite twin is migrations/sqlite/0002_sessions.sql). A session is
--@sqlite
-- Sessions (SQLite; the PostgreSQL twin is migrations/postgres/0002_sessions.sql). A session is
--@end
-- one sign-in: the family of refresh tokens that renew it (refresh_tokens.family_id is its
-- id) and the access tokens they yield, which name it in their `sid` claim. Every request
-- with an access token reads its session, so revoking one (logout, refresh-token reuse,
-- password change, user disabled) refuses its access tokens at once.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'active' until revoked; never back.
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_tenant_created ON sessions (tenant_id, created_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- The families of refresh tokens issued before this step become sessions; one with a revoked
--@postgres
-- token was revoked. The copy reads every tenant's rows, so this transaction takes the
-- platform scope the row-level security policies let through (the relay's role is subject
-- to them).
SELECT set_config('dipper.platform', 'on', true);
--@sqlite
-- token was revoked.
--@end
INSERT INTO sessions (id, tenant_id, user_id, status, created_at, revoked_at)
SELECT family_id, MIN(tenant_id), MIN(user_id),
       CASE WHEN SUM(CASE WHEN status = 'revoked' THEN 1 ELSE 0 END) > 0 THEN 'revoked' ELSE 'active' END,
       MIN(created_at), NULL
FROM refresh_tokens GROUP BY family_id;
--@postgres

--@tenant_wall sessions
--@end
