//! Devices: registration with a one-time key, activation, edits, decommissioning, and the
//! audit records they leave.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, assert_says, expect};
use crate::on_both_backends;
use crate::world::World;

async fn activate(world: &World, device: &str, key: &str) -> (StatusCode, Value) {
    world
        .relay
        .call(
            Method::POST,
            "/api/v1/devices/activate",
            None,
            Some(json!({"device_id": device, "provisioning_key": key})),
        )
        .await
}

async fn device_lifecycle(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, a) = (&world.relay, &world.a);
    let base = format!("/api/v1/tenants/{}/devices", a.id);
    let token = &a.admin_token;

    let registered = relay
        .expect_get(&format!("{base}/{}", a.device), token, StatusCode::OK)
        .await;
    assert_eq!(registered["status"], "registered");
    assert_eq!(registered["last_seen_at"], Value::Null);
    assert_eq!(registered["software_version"], Value::Null);

    // A new key replaces the old one.
    let renewed = relay
        .expect_post(
            &format!("{base}/{}/provisioning-key", a.device),
            token,
            json!(null),
            StatusCode::OK,
        )
        .await;
    let key = renewed["provisioning_key"]
        .as_str()
        .expect("key")
        .to_owned();
    expect(
        activate(&world, &a.device, &a.provisioning_key).await,
        StatusCode::UNAUTHORIZED,
    );
    // The key is bound to its device.
    expect(
        activate(&world, &world.b.device, &key).await,
        StatusCode::UNAUTHORIZED,
    );
    let credentials = expect(activate(&world, &a.device, &key).await, StatusCode::OK);
    assert_eq!(credentials["tenant_id"], a.id.as_str());
    assert!(
        credentials["credential"]
            .as_str()
            .expect("credential")
            .len()
            >= 43
    );
    // One time only.
    expect(
        activate(&world, &a.device, &key).await,
        StatusCode::UNAUTHORIZED,
    );
    let active = relay
        .expect_get(&format!("{base}/{}", a.device), token, StatusCode::OK)
        .await;
    assert_eq!(active["status"], "active");
    assert!(active["activated_at"].is_string());
    relay
        .expect_post(
            &format!("{base}/{}/provisioning-key", a.device),
            token,
            json!(null),
            StatusCode::CONFLICT,
        )
        .await;

    edit_move_and_decommission(&world).await;
}

async fn edit_move_and_decommission(world: &World) {
    let (relay, a) = (&world.relay, &world.a);
    let base = format!("/api/v1/tenants/{}/devices", a.id);
    let token = &a.admin_token;
    // Rename, group, move.
    let edited = relay
        .expect_call(
            (Method::PATCH, &format!("{base}/{}", a.device)),
            Some(token),
            Some(json!({"name": "Gate box", "group": "Gates", "area_id": a.building})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (
            edited["name"].as_str(),
            edited["group"].as_str(),
            edited["area_id"].as_str()
        ),
        (Some("Gate box"), Some("Gates"), Some(a.building.as_str()))
    );
    // Areas holding devices cannot be deleted.
    let in_use = relay
        .call(
            Method::DELETE,
            &format!("/api/v1/tenants/{}/areas/{}", a.id, a.building),
            Some(token),
            None,
        )
        .await;
    assert_eq!(
        expect(in_use, StatusCode::CONFLICT)["error"],
        "area_not_empty"
    );

    let gone = relay
        .expect_post(
            &format!("{base}/{}/decommission", a.device),
            token,
            json!(null),
            StatusCode::OK,
        )
        .await;
    assert_eq!(gone["status"], "decommissioned");

    changes_are_audited(world).await;
}

async fn changes_are_audited(world: &World) {
    let (relay, a) = (&world.relay, &world.a);
    let base = format!("/api/v1/tenants/{}/devices", a.id);
    let token = &a.admin_token;
    // Every change is in the audit log, newest first, with actor, target and address.
    let audit = relay
        .expect_get(
            &format!("/api/v1/tenants/{}/audit", a.id),
            token,
            StatusCode::OK,
        )
        .await;
    let items: Vec<&Value> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["outcome"] == "success")
        .collect();
    let actions: Vec<&str> = items.iter().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(
        &actions[..4],
        [
            "device.decommission",
            "device.update",
            "device.activate",
            "device.provisioning_key"
        ]
    );
    assert_eq!(items[0]["actor"], format!("user:{}", a.admin_id).as_str());
    assert_eq!(items[0]["target"], format!("device:{}", a.device).as_str());
    assert_eq!(items[0]["remote_addr"], "127.0.0.1");
    assert_eq!(items[0]["outcome"], "success");
    assert_eq!(items[2]["actor"], format!("device:{}", a.device).as_str());
    // A refused change is recorded too, without the change.
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;
    relay
        .expect_call(
            (Method::PATCH, &format!("{base}/{}", a.device)),
            Some(&viewer),
            Some(json!({"name": "x"})),
            StatusCode::FORBIDDEN,
        )
        .await;
    let audit = relay
        .expect_get(
            &format!("/api/v1/tenants/{}/audit?limit=1", a.id),
            token,
            StatusCode::OK,
        )
        .await;
    assert_eq!(audit["items"][0]["outcome"], "refused: forbidden");
    assert_eq!(
        audit["items"][0]["actor"],
        format!("user:{}", a.viewer_id).as_str()
    );
}

const WRONG_KEY: &str = "a guess at the provisioning key";

fn attempt(device: &str, key: &str) -> Value {
    json!({"device_id": device, "provisioning_key": key})
}

/// Activation attempts are limited per client address and per device: guessing a key meets a
/// 429 with `Retry-After` from one address or from many, and other devices are unaffected.
async fn activation_is_limited_per_address_and_device(backend: Backend) {
    let world = World::configured(backend, |config| {
        config.limits.activate_per_address_per_minute = 1;
        config.limits.activate_per_address_burst = 4;
        config.limits.activate_per_device_per_minute = 1;
        config.limits.activate_per_device_burst = 3;
    })
    .await;
    let (relay, a) = (&world.relay, &world.a);
    let path = "/api/v1/devices/activate";
    let wrong_key = WRONG_KEY;

    // Three wrong keys for A's device, one address each: the device's own bucket empties...
    for n in 2..5 {
        let (status, _, answer) = relay
            .post_from([127, 0, 0, n], path, attempt(&a.device, wrong_key))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["error"], "provisioning_key_invalid");
    }
    // ...so even the right key waits, from a fresh address.
    let (status, retry_after, limited) = relay
        .post_from(
            [127, 0, 0, 5],
            path,
            attempt(&a.device, &a.provisioning_key),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{limited}");
    assert_eq!(limited["error"], "rate_limited");
    assert_says(&limited, "device");
    assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");

    one_address_trying_many_devices(&world).await;
}

async fn one_address_trying_many_devices(world: &World) {
    let (relay, path, wrong_key) = (&world.relay, "/api/v1/devices/activate", WRONG_KEY);
    // One address trying many devices empties its own bucket.
    let guesser = [127, 0, 0, 6];
    for _ in 0..4 {
        let (status, _, answer) = relay
            .post_from(
                guesser,
                path,
                attempt(&uuid::Uuid::new_v4().to_string(), wrong_key),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    }
    let (status, retry_after, limited) = relay
        .post_from(
            guesser,
            path,
            attempt(&world.b.device, &world.b.provisioning_key),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{limited}");
    assert_says(&limited, "address");
    assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");

    // B's device, from another address, activates; nothing was spent on it.
    let (status, _, credentials) = relay
        .post_from(
            [127, 0, 0, 7],
            path,
            attempt(&world.b.device, &world.b.provisioning_key),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{credentials}");
    assert_eq!(credentials["tenant_id"], world.b.id.as_str());
}

async fn as_device(world: &World, authorization: &str) -> (StatusCode, Value) {
    let response = world
        .relay
        .raw(Method::GET, "/api/v1/devices/me")
        .header("authorization", authorization)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A box authenticates with its device credential: it sees itself; a wrong credential, a
/// user's token, a disabled tenant and decommissioning refuse it.
async fn a_box_is_a_principal(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, a) = (&world.relay, &world.a);
    let credentials = expect(
        activate(&world, &a.device, &a.provisioning_key).await,
        StatusCode::OK,
    );
    let credential = credentials["credential"].as_str().expect("credential");
    let header = format!("Device {}:{credential}", a.device);

    let me = expect(as_device(&world, &header).await, StatusCode::OK);
    assert_eq!(me["id"], a.device.as_str());
    assert_eq!(me["tenant_id"], a.id.as_str());
    assert_eq!(me["area_id"], a.floor.as_str());
    assert_eq!(me["status"], "active");

    // Another credential, another box's id, a malformed value, no value.
    let wrong = format!("Device {}:{credential}x", a.device);
    let refused = expect(as_device(&world, &wrong).await, StatusCode::UNAUTHORIZED);
    assert_eq!(refused["error"], "token_invalid");
    let other_box = format!("Device {}:{credential}", world.b.device);
    expect(
        as_device(&world, &other_box).await,
        StatusCode::UNAUTHORIZED,
    );
    expect(
        as_device(&world, &format!("Device {}", a.device)).await,
        StatusCode::UNAUTHORIZED,
    );
    let unknown = format!("Device {}:{credential}", uuid::Uuid::new_v4());
    expect(as_device(&world, &unknown).await, StatusCode::UNAUTHORIZED);
    // A user is not a box; a box holds no role on user routes.
    let user = relay
        .expect_get("/api/v1/devices/me", &a.admin_token, StatusCode::FORBIDDEN)
        .await;
    assert_eq!(user["error"], "forbidden");
    let response = relay
        .raw(Method::GET, &format!("/api/v1/tenants/{}/users", a.id))
        .header("authorization", &header)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A disabled tenant's box is refused, and welcome again once enabled.
    let tenant = format!("/api/v1/tenants/{}", a.id);
    let root = &world.root_token;
    relay
        .expect_post(
            &format!("{tenant}/disable"),
            root,
            json!(null),
            StatusCode::OK,
        )
        .await;
    let disabled = expect(as_device(&world, &header).await, StatusCode::FORBIDDEN);
    assert_eq!(disabled["error"], "tenant_disabled");
    relay
        .expect_post(
            &format!("{tenant}/enable"),
            root,
            json!(null),
            StatusCode::OK,
        )
        .await;
    expect(as_device(&world, &header).await, StatusCode::OK);

    // Decommissioned, its credential is dead.
    relay
        .expect_post(
            &format!("{tenant}/devices/{}/decommission", a.device),
            &a.admin_token,
            json!(null),
            StatusCode::OK,
        )
        .await;
    expect(as_device(&world, &header).await, StatusCode::UNAUTHORIZED);
}

/// The device view carries the latest telemetry sample's figures (for the console's box
/// list); registering and a new key answer the activation string as a QR code too.
async fn telemetry_and_the_activation_qr_code(backend: Backend) {
    use relay::db::{Mode, Scope};
    let world = World::new(backend).await;
    let (relay, a) = (&world.relay, &world.a);
    let base = format!("/api/v1/tenants/{}/devices", a.id);
    let token = &a.admin_token;

    let registered = relay
        .created(&base, token, json!({"name": "Gate", "area_id": a.floor}))
        .await;
    let svg = registered["activation_qr_svg"].as_str().expect("svg");
    assert!(svg.contains("<svg") && svg.ends_with("</svg>"), "{svg}");
    let device = registered["device"]["id"].as_str().expect("id").to_owned();
    assert_eq!(registered["device"]["telemetry"], Value::Null);
    let renewed = relay
        .expect_post(
            &format!("{base}/{device}/provisioning-key"),
            token,
            json!(null),
            StatusCode::OK,
        )
        .await;
    let again = renewed["activation_qr_svg"].as_str().expect("svg");
    assert!(
        again.contains("<svg") && again != svg,
        "a new key, a new code"
    );

    // The uplink stores a sample as the box sent it.
    let (tenant, id): (uuid::Uuid, uuid::Uuid) =
        (a.id.parse().expect("id"), device.parse().expect("id"));
    let sample = json!({"v": 1, "seq": 7, "ts_ms": 1_795_000_000_000_i64, "uptime_s": 60,
        "cameras_online": 1, "cameras_total": 2, "indexing_lag_s": 42,
        "disk_free_bytes": 1000, "outbox_depth": 3, "outbox_oldest_s": 9,
        "download_queue": 0, "software_version": "1.2.3", "model_id": "m"});
    let db = &relay.state.db;
    let mut tx = db
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    let now = jiff::Timestamp::now().as_millisecond();
    relay::store::uplink::set_telemetry(
        &mut tx,
        (tenant, id),
        &sample.to_string(),
        "1.2.3",
        (Some(7), now),
    )
    .await
    .expect("telemetry");
    tx.commit().await.expect("commit");

    let seen = relay
        .expect_get(&format!("{base}/{device}"), token, StatusCode::OK)
        .await;
    let telemetry = &seen["telemetry"];
    assert_eq!(seen["software_version"], "1.2.3");
    assert_eq!(seen["online"], true);
    assert_eq!(telemetry["indexing_lag_s"], 42, "{seen}");
    assert_eq!(telemetry["outbox_depth"], 3);
    assert_eq!(telemetry["outbox_oldest_s"], 9);
    assert_eq!(telemetry["cameras_online"], 1);
    assert_eq!(telemetry["cameras_total"], 2);
    assert_eq!(telemetry["model_id"], "m");
    assert!(telemetry["received_at"].is_string());
    let listed = relay.expect_get(&base, token, StatusCode::OK).await;
    let row = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|d| d["id"] == device.as_str())
        .expect("listed");
    assert_eq!(row["telemetry"]["outbox_depth"], 3);
}

/// What the console's areas and audit views need of the API: an area moves under another
/// (never below itself) or to the root; the audit log filters by actor, action and time.
async fn areas_move_and_the_audit_log_filters(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, a) = (&world.relay, &world.a);
    let token = &a.admin_token;
    let areas = format!("/api/v1/tenants/{}/areas", a.id);
    let move_to = |area: &str, parent: Value| {
        let path = format!("{areas}/{area}");
        async move {
            relay
                .call(
                    Method::PATCH,
                    &path,
                    Some(token),
                    Some(json!({ "parent_id": parent })),
                )
                .await
        }
    };
    // community > building > floor: the floor goes to the community, then to the root.
    let moved = expect(move_to(&a.floor, json!(a.community)).await, StatusCode::OK);
    assert_eq!(moved["parent_id"], a.community.as_str());
    let rooted = expect(move_to(&a.floor, Value::Null).await, StatusCode::OK);
    assert_eq!(rooted["parent_id"], Value::Null);
    // A rename alone leaves it where it is.
    let renamed = relay
        .expect_call(
            (Method::PATCH, &format!("{areas}/{}", a.floor)),
            Some(token),
            Some(json!({"name": "Loft"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (renamed["name"].as_str(), &renamed["parent_id"]),
        (Some("Loft"), &Value::Null)
    );
    // Not under itself, nor below itself, nor under another tenant's area.
    for parent in [&a.community, &a.building] {
        let refused = expect(
            move_to(&a.community, json!(parent)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        assert_eq!(refused["field"], "parent_id", "{refused}");
    }
    let foreign = expect(
        move_to(&a.floor, json!(world.b.community)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_eq!(foreign["field"], "parent_id");
    // A viewer moves nothing.
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;
    let (status, _) = relay
        .call(
            Method::PATCH,
            &format!("{areas}/{}", a.building),
            Some(&viewer),
            Some(json!({"parent_id": null})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The audit log by action (exactly, or the actions under a prefix), actor and time.
    let audit = |query: &str| {
        let path = format!("/api/v1/tenants/{}/audit?{query}", a.id);
        async move { relay.expect_get(&path, token, StatusCode::OK).await }
    };
    let actions = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| r["action"].as_str().expect("action").to_owned())
            .collect()
    };
    let updates = actions(&audit("action=area.update").await);
    assert!(
        updates.len() >= 5 && updates.iter().all(|a| a == "area.update"),
        "{updates:?}"
    );
    let under_area = actions(&audit("action=area").await);
    assert!(
        under_area.iter().all(|a| a.starts_with("area.")),
        "{under_area:?}"
    );
    assert!(
        under_area.iter().any(|a| a == "area.create"),
        "{under_area:?}"
    );
    assert!(
        actions(&audit("action=are").await).is_empty(),
        "a prefix stops at a dot"
    );
    // The viewer signed in (recorded) and was refused the move (both in one millisecond,
    // maybe: their order is not checked).
    let viewer_actor = format!("user:{}", a.viewer_id);
    let by_viewer = audit(&format!("actor={viewer_actor}")).await;
    let records = by_viewer["items"].as_array().expect("items");
    assert!(
        records.iter().all(|r| r["actor"] == viewer_actor.as_str()),
        "{by_viewer}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "area.update" && r["outcome"] == "refused: forbidden"),
        "{by_viewer}"
    );
    assert!(actions(&audit("until=2000-01-01T00:00:00Z").await).is_empty());
    assert!(actions(&audit("since=2100-01-01T00:00:00Z").await).is_empty());
    let recent = audit("since=2000-01-01T00:00:00Z&action=area.update&limit=2").await;
    assert_eq!(actions(&recent).len(), 2);
    let (status, bad) = relay
        .get(
            &format!("/api/v1/tenants/{}/audit?since=yesterday", a.id),
            token,
        )
        .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("since"))
    );
}

on_both_backends!(
    areas_move_and_the_audit_log_filters,
    device_lifecycle,
    activation_is_limited_per_address_and_device,
    a_box_is_a_principal,
    telemetry_and_the_activation_qr_code
);
