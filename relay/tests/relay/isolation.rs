//! Tenant isolation: every route of the OpenAPI document, walked as tenant A's admin against
//! tenant B's objects (a search of B's among them), answers 404 (never 403, never a change),
//! but for the object store's routes, which a token does not open (403 without a signed
//! URL); lists show only one's own;
//! and on PostgreSQL, row-level security hides other tenants' rows even from a query that
//! forgot its tenant filter.

use std::collections::BTreeMap;

use relay::db::{Mode, Scope};
use relay::objects::{ContentType, ObjectKey, SnapshotKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backend, PASSWORD};
use crate::on_both_backends;
use crate::world::{Tenant, World};

/// A valid body for each operation that takes one, so what is tested is the object lookup,
/// not the body's validation.
pub(crate) fn sample_body(method: &Method, template: &str, b: &Tenant) -> Option<Value> {
    let body = match (method.as_str(), template) {
        ("PATCH", "/api/v1/tenants/{tenant_id}") => json!({"name": "Taken over"}),
        ("POST", "/api/v1/tenants/{tenant_id}/areas") => json!({"name": "Intruder"}),
        ("PATCH", "/api/v1/tenants/{tenant_id}/areas/{area_id}") => json!({"name": "Intruder"}),
        ("POST", "/api/v1/tenants/{tenant_id}/users") => {
            json!({"email": "intruder@dipper.test", "password": PASSWORD})
        }
        ("PATCH", "/api/v1/tenants/{tenant_id}/users/{user_id}") => json!({"status": "disabled"}),
        ("POST", "/api/v1/tenants/{tenant_id}/users/{user_id}/grants") => {
            json!({"role": "tenant_admin"})
        }
        ("POST", "/api/v1/tenants/{tenant_id}/devices") => {
            json!({"name": "Intruder", "area_id": b.floor})
        }
        ("PATCH", "/api/v1/tenants/{tenant_id}/devices/{device_id}") => json!({"name": "Intruder"}),
        ("POST", "/api/v1/tenants/{tenant_id}/devices/{device_id}/rpc") => {
            json!({"method": "ping", "persistent": true})
        }
        ("POST", "/api/v1/tenants/{tenant_id}/searches") => json!({
            "person_id": Uuid::new_v4(),
            "from": "2026-01-01T08:00:00Z",
            "to": "2026-01-01T10:00:00Z",
            "devices": [b.device],
        }),
        ("POST", "/api/v1/tenants/{tenant_id}/people") => json!({"name": "Intruder"}),
        ("POST", "/api/v1/tenants/{tenant_id}/software/rollouts") => {
            json!({"package_id": Uuid::new_v4(), "device_ids": [b.device]})
        }
        ("POST", "/api/v1/tenants/{tenant_id}/pricing-rules") => json!({
            "effective_from": "2099-01-01",
            "currency": "CNY",
            "charges": {"searches": {"unit_price_minor": 100}},
        }),
        ("POST", "/api/v1/tenants/{tenant_id}/invoices/{invoice_id}/payments") => {
            json!({"amount_minor": 100, "reference": "TX", "paid_on": "2026-11-20"})
        }
        ("POST", "/api/v1/tenants/{tenant_id}/invoices/{invoice_id}/credit-notes") => {
            json!({"amount_minor": 100, "reason": "a correction"})
        }
        ("PUT", "/api/v1/tenants/{tenant_id}/billing/settings") => {
            json!({"time_zone": "UTC", "device_day_basis": "registered"})
        }
        ("POST", "/api/v1/tenants/{tenant_id}/notification-channels") => {
            json!({"kind": "feishu", "target": "https://open.feishu.cn/open-apis/bot/v2/hook/x"})
        }
        ("PATCH", "/api/v1/tenants/{tenant_id}/people/{person_id}") => json!({"name": "Intruder"}),
        // Not a photo: the person must not be found before the body is looked at.
        ("POST", "/api/v1/tenants/{tenant_id}/people/{person_id}/photos") => json!("not a photo"),
        _ => return None,
    };
    Some(body)
}

/// Every (method, path template) of the document.
pub(crate) async fn operations(world: &World) -> Vec<(Method, String)> {
    let (status, doc) = world
        .relay
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut operations = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.push((
                    Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                    template.clone(),
                ));
            }
        }
    }
    operations
}

fn fill(template: &str, tenant: &str, (b, b_search): (&Tenant, &str)) -> String {
    template
        .replace("{tenant_id}", tenant)
        .replace("{area_id}", &b.building)
        .replace("{user_id}", &b.viewer_id)
        .replace("{device_id}", &b.device)
        .replace("{grant_id}", &b.viewer_grant)
        .replace("{person_id}", &b.person)
        // B's person has no photo: the person is what must not be found.
        .replace("{photo_id}", &Uuid::from_u128(19).to_string())
        // No RPC exists: the device (B's) is what must not be found.
        .replace("{rpc_id}", &Uuid::from_u128(17).to_string())
        .replace("{search_id}", b_search)
        // No invoice exists: the tenant (B's) is what must not be found.
        .replace("{invoice_id}", &Uuid::from_u128(23).to_string())
        // Nor any channel.
        .replace("{channel_id}", &Uuid::from_u128(29).to_string())
        // Nor any software rollout.
        .replace("{rollout_id}", &Uuid::from_u128(31).to_string())
}

async fn snapshot(world: &World, b_search: &str) -> BTreeMap<String, Value> {
    let b = &world.b;
    let root = &world.root_token;
    let base = format!("/api/v1/tenants/{}", b.id);
    let mut seen = BTreeMap::new();
    for path in [
        base.clone(),
        format!("{base}/areas"),
        format!("{base}/users"),
        format!("{base}/users/{}/grants", b.viewer_id),
        format!("{base}/devices"),
        format!("{base}/searches"),
        format!("{base}/searches/{b_search}"),
        format!("{base}/people"),
        format!("{base}/people/{}", b.person),
        format!("{base}/billing/settings"),
        format!("{base}/billing/standing"),
        format!("{base}/notification-channels"),
        format!("{base}/notifications"),
    ] {
        seen.insert(
            path.clone(),
            world.relay.expect_get(&path, root, StatusCode::OK).await,
        );
    }
    seen
}

/// A snapshot stored in `owner`'s part of the object store, and its bytes.
pub(crate) async fn store_object_of(world: &World, owner: &Tenant) -> (ObjectKey, Vec<u8>) {
    let tenant = owner.id.parse().expect("the tenant's id");
    let device = owner.device.parse().expect("the tenant's device");
    let key =
        ObjectKey::snapshot(tenant, device, 0, Uuid::new_v4(), 1, SnapshotKind::Face).expect("key");
    let bytes = vec![0xFF, 0xD8, 0xFF, 1, 2, 3];
    let objects = &world.relay.state.objects;
    objects
        .put(&key, bytes.clone().into(), ContentType::Jpeg)
        .await
        .expect("put");
    (key, bytes)
}

/// The object store's routes open objects to a signed URL, never to a token: A's admin with
/// a forged signature is refused B's object.
async fn object_route_refuses(world: &World, method: &Method, key: &ObjectKey) {
    let path = format!("/objects/{key}?method={method}&expires=4102444800&signature=forged");
    let token = Some(world.a.admin_token.as_str());
    let (status, answer) = world.relay.call(method.clone(), &path, token, None).await;
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::FORBIDDEN, &json!("url_refused")),
        "{method} {path}: {answer}"
    );
}

async fn every_route_hides_other_tenants_objects(backend: Backend) {
    let world = World::new(backend).await;
    let (a, b) = (&world.a, &world.b);
    let b_search = crate::searches::stored_search(&world, b).await.to_string();
    let before = snapshot(&world, &b_search).await;
    let (object, bytes) = store_object_of(&world, b).await;
    let mut walked = 0;
    let mut templates = std::collections::BTreeSet::new();
    for (method, template) in operations(&world).await {
        if !template.contains('{') {
            continue;
        }
        if template.starts_with("/objects/") {
            object_route_refuses(&world, &method, &object).await;
            walked += 1;
            continue;
        }
        // B's tenant with B's objects, then A's own tenant with B's objects.
        let mut paths = vec![fill(&template, &b.id, (b, &b_search))];
        if template.matches('{').count() > 1 {
            paths.push(fill(&template, &a.id, (b, &b_search)));
        }
        for path in paths {
            let body = sample_body(&method, &template, b);
            if method == Method::POST || method == Method::PATCH || method == Method::PUT {
                let bodyless = [
                    "/enable",
                    "/disable",
                    "/decommission",
                    "/provisioning-key",
                    "/void",
                ]
                .iter()
                .any(|end| template.ends_with(end));
                assert!(
                    body.is_some() || bodyless,
                    "no sample body for {method} {template}: add one to sample_body"
                );
            }
            let (status, answer) = world
                .relay
                .call(method.clone(), &path, Some(&a.admin_token), body)
                .await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{method} {path} as tenant A's admin answered {status}: {answer}"
            );
            assert_eq!(answer["error"], "not_found", "{method} {path}: {answer}");
            walked += 1;
        }
        templates.insert(template);
    }
    assert!(walked >= 25, "walked only {walked} operations");
    for searched in [
        "/api/v1/tenants/{tenant_id}/searches",
        "/api/v1/tenants/{tenant_id}/searches/{search_id}",
        "/api/v1/tenants/{tenant_id}/searches/{search_id}/results",
        "/api/v1/tenants/{tenant_id}/searches/{search_id}/events",
    ] {
        assert!(templates.contains(searched), "{searched} not walked");
    }
    assert_eq!(
        before,
        snapshot(&world, &b_search).await,
        "tenant B changed"
    );
    let stored = world.relay.state.objects.get(&object).await.expect("get");
    assert_eq!(
        stored.map(|o| o.bytes.to_vec()),
        Some(bytes),
        "B's object changed"
    );

    lists_and_references_stay_in_tenant(&world).await;
}

async fn lists_and_references_stay_in_tenant(world: &World) {
    let (a, b) = (&world.a, &world.b);
    // Lists show only one's own tenant.
    let tenants = world
        .relay
        .expect_get("/api/v1/tenants", &a.admin_token, StatusCode::OK)
        .await;
    let ids: Vec<&str> = tenants["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, vec![a.id.as_str()]);

    // A reference to B's area in a body answers exactly as a reference to no area at all.
    let base = format!("/api/v1/tenants/{}/devices", a.id);
    let foreign = world
        .relay
        .post(
            &base,
            &a.admin_token,
            json!({"name": "x", "area_id": b.floor}),
        )
        .await;
    let missing = world
        .relay
        .post(
            &base,
            &a.admin_token,
            json!({"name": "x", "area_id": Uuid::new_v4()}),
        )
        .await;
    assert_eq!(foreign.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", foreign.1);
    assert_eq!(foreign, missing);

    // The refusals are in A's audit log, and none of it in B's.
    let audit_a = world.audit(a).await;
    let refused = audit_a.iter().any(|r| r["outcome"] == "refused: not_found");
    assert!(refused, "{audit_a:?}");
    let audit_b = world.audit(b).await;
    let actor_a = format!("user:{}", a.admin_id);
    let seen = audit_b.iter().any(|r| r["actor"] == actor_a.as_str());
    assert!(!seen, "{audit_b:?}");
}

async fn viewers_see_only_their_subtree(backend: Backend) {
    let world = World::new(backend).await;
    let a = &world.a;
    let base = format!("/api/v1/tenants/{}", a.id);
    let viewer = world.relay.token(Some(&a.id), &a.viewer_email).await;
    // The viewer holds its role on Building 1: it sees Building 1 and Floor 1, not Community.
    let areas = world
        .relay
        .expect_get(&format!("{base}/areas"), &viewer, StatusCode::OK)
        .await;
    let mut names: Vec<&str> = areas["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, vec!["Building 1", "Floor 1"]);
    world
        .relay
        .expect_get(
            &format!("{base}/areas/{}", a.community),
            &viewer,
            StatusCode::NOT_FOUND,
        )
        .await;
    // The device on Floor 1 is visible through inheritance, but a viewer may not change it.
    world
        .relay
        .expect_get(
            &format!("{base}/devices/{}", a.device),
            &viewer,
            StatusCode::OK,
        )
        .await;
    let devices = world
        .relay
        .expect_get(&format!("{base}/devices"), &viewer, StatusCode::OK)
        .await;
    assert_eq!(devices["items"].as_array().expect("items").len(), 1);
    world
        .relay
        .expect_call(
            (Method::PATCH, &format!("{base}/devices/{}", a.device)),
            Some(&viewer),
            Some(json!({"name": "x"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    world
        .relay
        .expect_get(&format!("{base}/users"), &viewer, StatusCode::FORBIDDEN)
        .await;
    world
        .relay
        .expect_get(&format!("{base}/audit"), &viewer, StatusCode::FORBIDDEN)
        .await;

    an_operator_manages_its_subtree(&world).await;
}

async fn an_operator_manages_its_subtree(world: &World) {
    let a = &world.a;
    let base = format!("/api/v1/tenants/{}", a.id);
    // An operator on Building 1 manages devices below it, and nothing outside it.
    let operator = world
        .relay
        .expect_post(
            &format!("{base}/users"),
            &a.admin_token,
            json!({"email": "op@dipper.test", "password": PASSWORD}),
            StatusCode::CREATED,
        )
        .await;
    world
        .relay
        .expect_post(
            &format!(
                "{base}/users/{}/grants",
                operator["id"].as_str().expect("id")
            ),
            &a.admin_token,
            json!({"role": "operator", "area_id": a.building}),
            StatusCode::CREATED,
        )
        .await;
    let operator = world.relay.token(Some(&a.id), "op@dipper.test").await;
    world
        .relay
        .expect_post(
            &format!("{base}/devices"),
            &operator,
            json!({"name": "Box 2", "area_id": a.floor}),
            StatusCode::CREATED,
        )
        .await;
    world
        .relay
        .expect_post(
            &format!("{base}/devices"),
            &operator,
            json!({"name": "Box 3", "area_id": a.community}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    // Area management needs tenant admin on the area.
    world
        .relay
        .expect_post(
            &format!("{base}/areas"),
            &operator,
            json!({"name": "Floor 2", "parent_id": a.building}),
            StatusCode::FORBIDDEN,
        )
        .await;
    let devices = world
        .relay
        .expect_get(&format!("{base}/devices"), &operator, StatusCode::OK)
        .await;
    assert_eq!(devices["items"].as_array().expect("items").len(), 2);
}

on_both_backends!(
    every_route_hides_other_tenants_objects,
    viewers_see_only_their_subtree
);

/// Tables of tenant data the row-level security test looks into (`devices` apart).
const TENANT_TABLES: [&str; 12] = [
    "areas",
    "users",
    "role_grants",
    "audit_log",
    "refresh_tokens",
    "tenant_resources",
    "people",
    "face_photos",
    "device_rpcs",
    "searches",
    "search_boxes",
    "search_results",
];

/// With the application's own tenant filter left out, PostgreSQL still shows a transaction
/// only its tenant's rows, and refuses to write rows of another tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_blocks_cross_tenant_queries_on_postgres() {
    let world = World::new(Backend::Postgres).await;
    crate::searches::stored_search(&world, &world.b).await;
    let db = &world.relay.state.db;
    let (a, b) = (
        Uuid::parse_str(&world.a.id).expect("a"),
        Uuid::parse_str(&world.b.id).expect("b"),
    );

    let mut tx = db.begin(Scope::Platform, Mode::Read).await.expect("tx");
    let superuser: bool = sqlx::query_scalar(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("role");
    assert!(
        !superuser,
        "the relay must not connect as a role that bypasses row-level security"
    );
    let all: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(all, 2, "the platform scope sees both tenants' devices");
    tx.commit().await.expect("commit");

    let mut tx = db.begin(Scope::Tenant(a), Mode::Read).await.expect("tx");
    // No tenant filter on purpose: the policy is the only wall here.
    let tenants: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM devices")
        .fetch_all(&mut *tx)
        .await
        .expect("devices");
    assert_eq!(tenants, vec![a.to_string()]);
    for table in TENANT_TABLES {
        let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"
        )))
        .bind(b.to_string())
        .fetch_one(&mut *tx)
        .await
        .expect("count");
        assert_eq!(
            foreign, 0,
            "{table}: tenant A's transaction sees tenant B's rows"
        );
    }
    let visible_tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
        .fetch_one(&mut *tx)
        .await
        .expect("tenants");
    assert_eq!(visible_tenants, 1);
    tx.commit().await.expect("commit");

    // Writing a row into B from A's transaction is refused by the policy's check.
    let mut tx = db.begin(Scope::Tenant(a), Mode::Write).await.expect("tx");
    let insert = sqlx::query("INSERT INTO areas (id, tenant_id, parent_id, name, created_at, updated_at) VALUES ($1, $2, NULL, 'x', 0, 0)")
        .bind(Uuid::new_v4().to_string()).bind(b.to_string()).execute(&mut *tx).await;
    let error = insert
        .expect_err("cross-tenant insert must fail")
        .to_string();
    assert!(error.contains("row-level security"), "{error}");
    drop(tx);

    // A bare connection that set no scope sees nothing at all.
    let mut conn = db.pool().acquire().await.expect("conn");
    let bare: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devices")
        .fetch_one(&mut *conn)
        .await
        .expect("count");
    assert_eq!(bare, 0);
}
