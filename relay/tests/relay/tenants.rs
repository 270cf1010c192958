//! Tenants: the creation saga (idempotency, compensation of a failed step), edits, and
//! deletion.

use std::sync::Arc;

use relay::db::Db;
use relay::saga::{SagaStep, StepError, StepFuture, TenantSaga};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::harness::{Backend, TestDb, TestRelay, assert_says, expect, id};
use crate::on_both_backends;
use crate::world::{World, create_tenant};

async fn count(db: &Db, table: &str) -> i64 {
    let mut tx = db
        .begin(relay::db::Scope::Platform, relay::db::Mode::Read)
        .await
        .expect("tx");
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    n
}

async fn creation_is_idempotent(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, root) = (&world.relay, &world.root_token);
    let tenants = count(&relay.state.db, "tenants").await;
    let first = expect(
        create_tenant(relay, root, "Harbour View", "key-1").await,
        StatusCode::CREATED,
    );
    let again = expect(
        create_tenant(relay, root, "Harbour View", "key-1").await,
        StatusCode::OK,
    );
    assert_eq!(id(&first), id(&again));
    // The answer lists the saga's steps in order, each done; a replay did not time them.
    let names = |body: &serde_json::Value| -> Vec<String> {
        let steps = body["steps"].as_array().expect("steps");
        assert!(steps.iter().all(|s| s["state"] == "done"), "{body}");
        (steps.iter())
            .map(|s| s["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let expected = [
        "object_storage_prefix",
        "broker_credentials",
        "face_library",
    ];
    assert_eq!(names(&first), expected);
    assert_eq!(names(&again), expected);
    assert!(
        (first["steps"].as_array().expect("steps").iter()).all(|s| s["duration_ms"].is_u64()),
        "{first}"
    );
    assert!(
        (again["steps"].as_array().expect("steps").iter()).all(|s| s.get("duration_ms").is_none()),
        "{again}"
    );
    assert_eq!(first["status"], "enabled");
    let reused = expect(
        create_tenant(relay, root, "Other name", "key-1").await,
        StatusCode::CONFLICT,
    );
    assert_eq!(reused["error"], "idempotency_key_reused");
    // Concurrent requests with one key make one tenant.
    let attempts = futures_join(relay, root).await;
    let made: Vec<_> = attempts
        .iter()
        .filter(|(s, _)| s.is_success())
        .map(|(_, body)| id(body))
        .collect();
    assert!(!made.is_empty());
    assert!(made.iter().all(|m| *m == made[0]), "{made:?}");
    for (status, body) in &attempts {
        assert!(
            status.is_success() || body["error"] == "creation_in_progress",
            "{status} {body}"
        );
    }
    assert_eq!(count(&relay.state.db, "tenants").await, tenants + 2);
    // A missing key is refused, naming the header.
    let missing = relay
        .post("/api/v1/tenants", root, json!({"name": "No key"}))
        .await;
    assert_eq!(
        expect(missing, StatusCode::BAD_REQUEST)["field"],
        "Idempotency-Key"
    );
    // Only platform admins create tenants.
    expect(
        create_tenant(relay, &world.a.admin_token, "Mine", "key-3").await,
        StatusCode::FORBIDDEN,
    );
}

async fn futures_join(relay: &TestRelay, root: &str) -> Vec<(StatusCode, serde_json::Value)> {
    let (a, b, c) = tokio::join!(
        create_tenant(relay, root, "Race", "key-2"),
        create_tenant(relay, root, "Race", "key-2"),
        create_tenant(relay, root, "Race", "key-2"),
    );
    vec![a, b, c]
}

/// A step that always fails, standing in for an unreachable object store or broker.
#[derive(Debug)]
struct Unreachable;

impl SagaStep for Unreachable {
    fn name(&self) -> &'static str {
        "billing_account"
    }

    fn apply<'a>(&'a self, _db: &'a Db, _tenant: Uuid) -> StepFuture<'a> {
        Box::pin(async { Err(StepError("the billing service is unreachable".to_owned())) })
    }

    fn compensate<'a>(&'a self, _db: &'a Db, _tenant: Uuid) -> StepFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

async fn failed_creation_leaves_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let failing = |objects| TenantSaga::standard(objects).with_step(Arc::new(Unreachable));
    let relay = TestRelay::start_with(&db, |_| {}, Some(failing)).await;
    relay::admin::create_platform_admin(
        &relay.state.db,
        &relay.state.passwords,
        "root@dipper.test",
        crate::harness::PASSWORD.to_owned(),
    )
    .await
    .expect("admin");
    let root = relay.token(None, "root@dipper.test").await;
    let failed = expect(
        create_tenant(&relay, &root, "Doomed", "key-9").await,
        StatusCode::SERVICE_UNAVAILABLE,
    );
    assert_eq!(failed["error"], "tenant_creation_failed");
    assert_says(&failed, "billing_account");
    // The three resources made before the failing step were compensated, and the row is gone.
    assert_eq!(count(&relay.state.db, "tenants").await, 0);
    assert_eq!(count(&relay.state.db, "tenant_resources").await, 0);
    let listed = relay
        .expect_get("/api/v1/tenants", &root, StatusCode::OK)
        .await;
    assert_eq!(listed["items"], json!([]));
    drop(relay);

    // Once the service is back, the same key makes exactly one tenant with all its resources.
    let relay = TestRelay::start(&db).await;
    let root = relay.token(None, "root@dipper.test").await;
    let made = expect(
        create_tenant(&relay, &root, "Doomed", "key-9").await,
        StatusCode::CREATED,
    );
    expect(
        create_tenant(&relay, &root, "Doomed", "key-9").await,
        StatusCode::OK,
    );
    assert_eq!(count(&relay.state.db, "tenants").await, 1);
    // Its object-storage prefix, its broker name and its face library.
    assert_eq!(count(&relay.state.db, "tenant_resources").await, 3);
    // Deleting runs the compensations too.
    relay
        .expect_call(
            (Method::DELETE, &format!("/api/v1/tenants/{}", id(&made))),
            Some(&root),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    assert_eq!(count(&relay.state.db, "tenants").await, 0);
    assert_eq!(count(&relay.state.db, "tenant_resources").await, 0);
}

async fn tenant_edits(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, root, a) = (&world.relay, &world.root_token, &world.a);
    let path = format!("/api/v1/tenants/{}", a.id);
    let renamed = relay
        .expect_call(
            (Method::PATCH, &path),
            Some(root),
            Some(json!({"name": "Renamed"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(renamed["name"], "Renamed");
    // A tenant admin reads its tenant but does not manage it.
    relay
        .expect_get(&path, &a.admin_token, StatusCode::OK)
        .await;
    relay
        .expect_call(
            (Method::PATCH, &path),
            Some(&a.admin_token),
            Some(json!({"name": "Mine"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    relay
        .expect_post(
            &format!("{path}/disable"),
            &a.admin_token,
            json!(null),
            StatusCode::FORBIDDEN,
        )
        .await;
    relay
        .expect_call(
            (Method::DELETE, &path),
            Some(&a.admin_token),
            None,
            StatusCode::FORBIDDEN,
        )
        .await;
    let all = relay
        .expect_get("/api/v1/tenants", root, StatusCode::OK)
        .await;
    assert_eq!(all["items"].as_array().expect("items").len(), 2);
    // Deleting A removes its users: their tokens stop working.
    relay
        .expect_call(
            (Method::DELETE, &path),
            Some(root),
            None,
            StatusCode::NO_CONTENT,
        )
        .await;
    relay
        .expect_get("/api/v1/me", &a.admin_token, StatusCode::UNAUTHORIZED)
        .await;
    relay.expect_get(&path, root, StatusCode::NOT_FOUND).await;
    // Even a platform admin finds nothing under a tenant that is gone.
    for list in ["areas", "devices", "users", "audit"] {
        relay
            .expect_get(&format!("{path}/{list}"), root, StatusCode::NOT_FOUND)
            .await;
    }
    relay
        .expect_post(
            &format!("{path}/areas"),
            root,
            json!({"name": "x"}),
            StatusCode::NOT_FOUND,
        )
        .await;
    relay
        .expect_get("/api/v1/me", &world.b.admin_token, StatusCode::OK)
        .await;
}

/// A creation whose process died midway is undone and run again by the next request with its
/// key; one still fresh is left alone.
async fn interrupted_creation_is_taken_over(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, root) = (&world.relay, &world.root_token);
    let db = &relay.state.db;
    let hash = |name: &str| {
        use sha2::Digest as _;
        sha2::Sha256::digest(name.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let now = jiff::Timestamp::now().as_millisecond();
    let crashed = Uuid::new_v4().to_string();
    let fresh = Uuid::new_v4().to_string();
    let mut tx = db
        .begin(relay::db::Scope::Platform, relay::db::Mode::Write)
        .await
        .expect("tx");
    for (key, tenant, name, age) in [
        ("crashed", &crashed, "Crashed", 10 * 60 * 1000),
        ("fresh", &fresh, "Fresh", 0),
    ] {
        sqlx::query("INSERT INTO tenant_creations (idempotency_key, request_hash, tenant_id, state, created_at, updated_at) VALUES ($1, $2, $3, 'running', $4, $4)")
            .bind(key).bind(hash(name)).bind(tenant.as_str()).bind(now - age).execute(&mut *tx).await.expect("creation");
        sqlx::query("INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ($1, $2, 'creating', $3, $3)")
            .bind(tenant.as_str()).bind(name).bind(now - age).execute(&mut *tx).await.expect("tenant");
        sqlx::query("INSERT INTO tenant_resources (tenant_id, kind, reference, created_at) VALUES ($1, 'object_storage_prefix', 'x', $2)")
            .bind(tenant.as_str()).bind(now - age).execute(&mut *tx).await.expect("resource");
    }
    tx.commit().await.expect("commit");
    // Half-made tenants are invisible meanwhile.
    relay
        .expect_get(
            &format!("/api/v1/tenants/{crashed}"),
            root,
            StatusCode::NOT_FOUND,
        )
        .await;

    let busy = expect(
        create_tenant(relay, root, "Fresh", "fresh").await,
        StatusCode::CONFLICT,
    );
    assert_eq!(busy["error"], "creation_in_progress");
    let made = expect(
        create_tenant(relay, root, "Crashed", "crashed").await,
        StatusCode::CREATED,
    );
    assert_ne!(id(&made), crashed);
    let mut tx = db
        .begin(relay::db::Scope::Platform, relay::db::Mode::Read)
        .await
        .expect("tx");
    let left: i64 = sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM tenants WHERE id = $1) + (SELECT COUNT(*) FROM tenant_resources WHERE tenant_id = $1)")
        .bind(crashed.as_str()).fetch_one(&mut *tx).await.expect("count");
    assert_eq!(left, 0, "the crashed attempt's rows were compensated");
    let resources: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM tenant_resources WHERE tenant_id = $1")
            .bind(id(&made))
            .fetch_one(&mut *tx)
            .await
            .expect("count");
    // Its object-storage prefix, its broker name and its face library.
    assert_eq!(resources, 3);
    tx.commit().await.expect("commit");
}

on_both_backends!(
    creation_is_idempotent,
    failed_creation_leaves_nothing,
    tenant_edits,
    interrupted_creation_is_taken_over,
);
