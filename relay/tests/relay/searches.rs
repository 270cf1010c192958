//! Remote searches on a relay without a broker: starting one is refused (503) and stores
//! nothing; and [`stored_search`], a tenant's search written through the relay's own store
//! (no box can answer here), for the isolation tests. The searches' own scenarios, with a
//! broker and boxes, are in `tests/uplink/searches/`.

use relay::db::{Mode, Scope, now_ms};
use relay::store::rpcs::{self, StoredRpc};
use relay::store::searches::{self as store, NewSearch, StoredResult};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backend, TestRelay};
use crate::library::add_person;
use crate::on_both_backends;
use crate::world::{Tenant, World};

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).expect("a uuid")
}

/// A person of `tenant` with one photo: `dipper face embed` of a test photo.
async fn person(relay: &TestRelay, tenant: Uuid) -> Uuid {
    add_person(relay, tenant, &[testkit::faces::embedding_of("obama.jpg")]).await
}

/// A running search of `tenant` over its device with one result, written through the
/// relay's store as the API and the uplink would (no broker here to carry it).
pub(crate) async fn stored_search(world: &World, tenant: &Tenant) -> Uuid {
    let relay = &world.relay;
    let (tenant_id, device) = (uuid(&tenant.id), uuid(&tenant.device));
    let person = person(relay, tenant_id).await;
    let (search, now) = (Uuid::new_v4(), now_ms());
    let mut tx = (relay.state.db)
        .begin(Scope::Tenant(tenant_id), Mode::Write)
        .await
        .expect("tx");
    let devices = json!([device]).to_string();
    let new = NewSearch {
        id: search,
        actor: "user:test",
        person: Some(person),
        span_ms: (now - 7_200_000, now - 3_600_000),
        scope: ("[]", &devices),
        max_distance_micros: 0,
        expires_at: now + 86_400_000,
        idempotency: None,
        now,
    };
    store::insert(&mut tx, tenant_id, &new)
        .await
        .expect("search");
    // Never sent: there is no broker here.
    let params = json!({"search_id": search}).to_string();
    let call = ("createSearch", params);
    let rpc = StoredRpc::queued((tenant_id, device), call, true, (1000, now), "test", now);
    rpcs::insert(&mut tx, &rpc).await.expect("rpc");
    let part = (search, device);
    store::insert_part(&mut tx, tenant_id, part, rpc.id, (now + 86_400_000, now))
        .await
        .expect("part");
    let result = StoredResult {
        device,
        match_id: 1,
        n: 0,
        time_ms: now - 5_000_000,
        camera: "Gate".to_owned(),
        distance_micros: 300_000,
        face_box: "[1,2,3,4]".to_owned(),
        snapshots_at: None,
    };
    let stored = store::add_result(&mut tx, (tenant_id, search), &result, (1, now));
    assert!(stored.await.expect("result"));
    tx.commit().await.expect("commit");
    search
}

/// Activates `tenant`'s box, so that a search may name it.
async fn activate(relay: &TestRelay, tenant: &Tenant) {
    let activated =
        json!({"device_id": tenant.device, "provisioning_key": tenant.provisioning_key});
    let path = (reqwest::Method::POST, "/api/v1/devices/activate");
    relay
        .expect_call(path, None, Some(activated), StatusCode::OK)
        .await;
}

/// A search's body over `tenant`'s box from three hours ago to one, with `extra`'s fields.
fn search_body(tenant: &Tenant, extra: Value) -> Value {
    let now = jiff::Timestamp::now();
    let ago = |hours| {
        let span = jiff::SignedDuration::from_hours(hours);
        now.checked_sub(span).expect("time").to_string()
    };
    let mut body = json!({"from": ago(3), "to": ago(1), "devices": [tenant.device]});
    for (key, value) in extra.as_object().expect("object") {
        body[key] = value.clone();
    }
    body
}

async fn without_a_broker_a_search_is_refused(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, a) = (&world.relay, &world.a);
    activate(relay, a).await;
    let person = person(relay, uuid(&a.id)).await;
    let body = search_body(a, json!({"person_id": person}));
    let searches = format!("/api/v1/tenants/{}/searches", a.id);
    let token = &a.admin_token;
    let refused = relay
        .expect_post(&searches, token, body, StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(refused["error"], "broker_unavailable", "{refused}");
    let list = relay.expect_get(&searches, token, StatusCode::OK).await;
    assert_eq!(list["items"], json!([]));
    let audit = world.audit(a).await;
    let recorded = audit
        .iter()
        .any(|r| r["action"] == "search.create" && r["outcome"] == "refused: broker_unavailable");
    assert!(recorded, "{audit:#?}");

    // What is stored is read without a broker.
    let search = stored_search(&world, a).await;
    let read = relay
        .expect_get(&format!("{searches}/{search}"), token, StatusCode::OK)
        .await;
    assert_eq!(read["state"], "running");
    assert_eq!(read["result_count"], 1);
    assert_eq!(read["results"]["items"][0]["distance"], 0.3);
}

on_both_backends!(without_a_broker_a_search_is_refused);

/// A one-off photo as the target is checked as an enrolment is, before anything else: a
/// photo the face stages refuse, one that is not base64, both a person and a photo, or
/// neither, are 422 naming the field; a good photo reaches the next check (here, no broker).
async fn a_one_off_photo_is_checked_like_an_enrolled_one(backend: Backend) {
    use base64::Engine as _;
    let world = World::new(backend).await;
    let (relay, a) = (&world.relay, &world.a);
    activate(relay, a).await;
    let encode = |name: &str| {
        let bytes = std::fs::read(testkit::faces::photo(name)).expect("photo");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let with = |extra: Value| search_body(a, extra);
    let searches = format!("/api/v1/tenants/{}/searches", a.id);
    let token = &a.admin_token;
    let refusals = [
        (
            json!({"photo": encode("solvay_conference_1927.jpg")}),
            "several_faces",
            "photo",
        ),
        (
            json!({"photo": "not base64 at all!"}),
            "invalid_field",
            "photo",
        ),
        (
            json!({"photo": base64::engine::general_purpose::STANDARD.encode(b"GIF89a")}),
            "not_an_image",
            "photo",
        ),
        (
            json!({"photo": encode("obama.jpg"), "person_id": a.person}),
            "invalid_field",
            "photo",
        ),
        (json!({}), "invalid_field", "person_id"),
    ];
    for (extra, code, field) in refusals {
        let answer = relay
            .expect_post(
                &searches,
                token,
                with(extra),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        assert_eq!(
            (answer["error"].as_str(), answer["field"].as_str()),
            (Some(code), Some(field)),
            "{answer}"
        );
    }
    let answer = relay
        .expect_post(
            &searches,
            token,
            with(json!({"photo": encode("obama.jpg")})),
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
    assert_eq!(answer["error"], "broker_unavailable", "{answer}");
}

on_both_backends!(a_one_off_photo_is_checked_like_an_enrolled_one);
