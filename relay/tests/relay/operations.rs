//! Running the relay: health, readiness, metrics, the OpenAPI document, migrations, and two
//! instances sharing one database.

use relay::db::Db;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, PASSWORD, TestDb, TestRelay};
use crate::on_both_backends;
use crate::world::{World, create_tenant};

async fn health_metrics_and_document(backend: Backend) {
    let db = TestDb::new(backend).await;
    let relay = TestRelay::start(&db).await;
    assert_eq!(
        relay.expect_public_get("/healthz", StatusCode::OK).await["status"],
        "ok"
    );
    assert_eq!(
        relay.expect_public_get("/readyz", StatusCode::OK).await["status"],
        "ok"
    );
    let doc = relay
        .expect_public_get("/api/v1/openapi.json", StatusCode::OK)
        .await;
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    for expected in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/auth/login",
        "/api/v1/tenants/{tenant_id}/devices/{device_id}/decommission",
        "/api/v1/devices/activate",
        "/api/v1/tenants/{tenant_id}/audit",
    ] {
        assert!(
            paths.iter().any(|p| *p == expected),
            "{expected} missing from {paths:?}"
        );
    }
    let login = &doc["paths"]["/api/v1/auth/login"]["post"];
    assert!(login["responses"]["429"].is_object(), "{login}");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    metrics_and_readiness(&relay).await;
}

async fn metrics_and_readiness(relay: &TestRelay) {
    // Metrics carry the route template, never the URL.
    relay
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}", uuid::Uuid::new_v4()),
            None,
            None,
        )
        .await;
    let text = relay.metrics().await;
    assert!(
        text.contains("relay_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("route=\"/api/v1/tenants/{tenant_id}\""),
        "{text}"
    );
    assert!(text.contains("status=\"401\""), "{text}");
    // Without its database the relay is alive but not ready.
    relay.state.db.close().await;
    let unready = relay
        .expect_public_get("/readyz", StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(unready["error"], "not_ready");
    relay.expect_public_get("/healthz", StatusCode::OK).await;
    // The failed ping is counted, and every metric is from the relay's table.
    let text = relay.metrics().await;
    testkit::metrics::assert_described(&text);
    assert!(
        text.contains("dipper_relay_db_errors_total{kind=\"other\"}"),
        "{text}"
    );
}

async fn newer_database_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let pool = Db::connect_and_migrate(&db.config).await.expect("migrate");
    // Migrating again changes nothing.
    pool.migrate().await.expect("second migrate");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, $1, 0)",
    )
    .bind(vec![0_u8; 48])
    .execute(pool.pool())
    .await
    .expect("fake migration");
    pool.close().await;
    let error = Db::connect_and_migrate(&db.config)
        .await
        .expect_err("newer schema");
    let message = error.to_string();
    assert!(
        message.contains("version 9999") && message.contains("newer than this binary"),
        "{message}"
    );
}

async fn two_instances_share_one_database(backend: Backend) {
    let db = TestDb::new(backend).await;
    let one = TestRelay::start(&db).await;
    let two = TestRelay::start(&db).await;
    let world = World::populate(db, one).await;
    let one = &world.relay;
    // A token from one instance works on the other: the signing key is in the database.
    let pair = one
        .expect_login(
            (Some(&world.a.id), &world.a.admin_email),
            PASSWORD,
            StatusCode::OK,
        )
        .await;
    let access = pair["access_token"].as_str().expect("access");
    let me = two.expect_get("/api/v1/me", access, StatusCode::OK).await;
    assert_eq!(me["tenant_id"], world.a.id.as_str());
    // What one writes, the other reads.
    let area = two
        .expect_post(
            &format!("/api/v1/tenants/{}/areas", world.a.id),
            access,
            json!({"name": "Via two"}),
            StatusCode::CREATED,
        )
        .await;
    one.expect_get(
        &format!(
            "/api/v1/tenants/{}/areas/{}",
            world.a.id,
            area["id"].as_str().expect("id")
        ),
        access,
        StatusCode::OK,
    )
    .await;
    // Refresh on two, reuse the old token on one: the reuse is seen and the family revoked.
    let r1 = pair["refresh_token"].as_str().expect("r1");
    let rotated = two.expect_refresh(r1, StatusCode::OK).await;
    one.expect_refresh(r1, StatusCode::UNAUTHORIZED).await;
    two.expect_refresh(rotated["refresh_token"].clone(), StatusCode::UNAUTHORIZED)
        .await;
    one_key_and_one_count_across_instances(&world, (one, &two)).await;
}

async fn one_key_and_one_count_across_instances(
    world: &World,
    (one, two): (&TestRelay, &TestRelay),
) {
    // One idempotency key, both instances at once: one tenant.
    let (x, y) = tokio::join!(
        create_tenant(one, &world.root_token, "Shared", "shared-key"),
        create_tenant(two, &world.root_token, "Shared", "shared-key"),
    );
    let ids: Vec<&Value> = [&x, &y]
        .iter()
        .filter(|(s, _)| s.is_success())
        .map(|(_, b)| &b["id"])
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|i| *i == ids[0]),
        "{x:?} {y:?}"
    );
    let listed = two
        .expect_get("/api/v1/tenants", &world.root_token, StatusCode::OK)
        .await;
    assert_eq!(
        listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|t| t["name"] == "Shared")
            .count(),
        1
    );
    // Failed logins count across instances.
    for relay in [one, two, one] {
        relay
            .expect_login(
                (Some(&world.b.id), &world.b.admin_email),
                "wrong password!!",
                StatusCode::UNAUTHORIZED,
            )
            .await;
    }
    two.expect_login(
        (Some(&world.b.id), &world.b.admin_email),
        PASSWORD,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

on_both_backends!(
    health_metrics_and_document,
    newer_database_is_refused,
    two_instances_share_one_database
);
