//! A database made by the first schema, with users, grants and sessions in it, upgraded by
//! this relay: nothing is lost (SQLite rebuilds `users`, which must not cascade to the rows
//! that reference it), refresh-token families become sessions with their state, and the
//! accounts sign in with their tenant.

use relay::auth::password::PasswordHasher;
use relay::auth::tokens::secret_digest;
use relay::db::{Db, Mode, Scope};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, PASSWORD, TestDb, TestRelay, test_config};
use crate::on_both_backends;

const TENANT: &str = "6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e";
const USER: &str = "7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
const ROOT: &str = "8b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e";
const LIVE_FAMILY: &str = "9c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f";
const DEAD_FAMILY: &str = "ad5e6f7a-8b9c-4d0e-9f2a-3b4c5d6e7f80";
const LIVE_SECRET: &str = "a refresh token issued before the upgrade";

/// Migrates `db` to the first schema only and fills it with a tenant, its admin and a
/// platform admin, a grant, a live session's token and a dead session's two.
async fn fill_first_schema(db: &TestDb) {
    let config = test_config(db);
    let old = Db::connect(&config.database).await.expect("connect");
    relay::db::migrator(old.backend())
        .expect("migrations")
        .run_to(1, old.pool())
        .await
        .expect("first schema");
    let hash = PasswordHasher::new(&config.auth.argon2)
        .expect("hasher")
        .hash(PASSWORD.to_owned())
        .await
        .expect("hash");
    let mut tx = old.begin(Scope::Platform, Mode::Write).await.expect("tx");
    let statements: Vec<(&str, Vec<Option<String>>)> = vec![
        (
            "INSERT INTO tenants (id, name, status, created_at, updated_at) \
             VALUES ($1, 'Old', 'enabled', 1, 1)",
            vec![Some(TENANT.into())],
        ),
        (
            "INSERT INTO users (id, tenant_id, email, display_name, password_hash, \
             platform_admin, status, created_at, updated_at) \
             VALUES ($1, $2, 'ann@old.test', 'Ann', $3, 0, 'active', 1, 1)",
            vec![Some(USER.into()), Some(TENANT.into()), Some(hash.clone())],
        ),
        (
            "INSERT INTO users (id, tenant_id, email, display_name, password_hash, \
             platform_admin, status, created_at, updated_at) \
             VALUES ($1, NULL, 'root@old.test', 'Root', $2, 1, 'active', 1, 1)",
            vec![Some(ROOT.into()), Some(hash)],
        ),
        (
            "INSERT INTO role_grants (id, tenant_id, user_id, role, area_id, created_at) \
             VALUES ('be6f7a8b-9c0d-4e1f-8a3b-4c5d6e7f8091', $1, $2, 'tenant_admin', NULL, 1)",
            vec![Some(TENANT.into()), Some(USER.into())],
        ),
        (
            "INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, status, \
             expires_at, created_at) VALUES ('cf7a8b9c-0d1e-4f2a-9b4c-5d6e7f8091a2', $1, $2, $3, \
             $4, 'active', 99999999999999, 1)",
            vec![
                Some(TENANT.into()),
                Some(USER.into()),
                Some(LIVE_FAMILY.into()),
                Some(secret_digest(LIVE_SECRET)),
            ],
        ),
        (
            "INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, status, \
             expires_at, created_at) VALUES ('d08b9c0d-1e2f-4a3b-8c5d-6e7f8091a2b3', $1, $2, $3, \
             'used-token', 'used', 99999999999999, 1), ('e19c0d1e-2f3a-4b4c-9d6e-7f8091a2b3c4', \
             $1, $2, $3, 'revoked-token', 'revoked', 99999999999999, 2)",
            vec![
                Some(TENANT.into()),
                Some(USER.into()),
                Some(DEAD_FAMILY.into()),
            ],
        ),
    ];
    for (sql, binds) in statements {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(bind);
        }
        query.execute(&mut *tx).await.expect(sql);
    }
    tx.commit().await.expect("commit");
    old.close().await;
}

async fn first_schema_upgrades_whole(backend: Backend) {
    let db = TestDb::new(backend).await;
    fill_first_schema(&db).await;

    let relay = TestRelay::start(&db).await;
    let mut tx = relay
        .state
        .db
        .begin(Scope::Platform, Mode::Read)
        .await
        .expect("tx");
    let grants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM role_grants WHERE user_id = $1")
        .bind(USER)
        .fetch_one(&mut *tx)
        .await
        .expect("grants");
    assert_eq!(grants, 1, "the user's grant survived the upgrade");
    let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens")
        .fetch_one(&mut *tx)
        .await
        .expect("tokens");
    assert_eq!(tokens, 3);
    let mut sessions: Vec<(String, String)> =
        sqlx::query_as("SELECT id, status FROM sessions ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .expect("sessions");
    sessions.sort();
    assert_eq!(
        sessions,
        [
            (LIVE_FAMILY.to_owned(), "active".to_owned()),
            (DEAD_FAMILY.to_owned(), "revoked".to_owned()),
        ]
    );
    tx.commit().await.expect("commit");

    old_sessions_and_accounts_go_on(&relay).await;
    drop(relay);
}

async fn old_sessions_and_accounts_go_on(relay: &TestRelay) {
    // The session begun before the upgrade goes on, with its grant.
    let renewed = relay.expect_refresh(LIVE_SECRET, StatusCode::OK).await;
    let me = relay.me(&renewed).await;
    assert_eq!(
        me["grants"],
        json!([{"role": "tenant_admin", "area_id": null}])
    );
    // Both accounts sign in, the tenant's naming its tenant.
    relay.token(Some(TENANT), "ann@old.test").await;
    relay.token(None, "root@old.test").await;
    relay
        .expect_login((None, "ann@old.test"), PASSWORD, StatusCode::UNAUTHORIZED)
        .await;
}

on_both_backends!(first_schema_upgrades_whole);
