//! Remote searches on a relay without a broker: starting one is refused (503) and stores
//! nothing; and [`stored_search`], a tenant's search written through the relay's own store
//! (no box can answer here), for the isolation tests. The searches' own scenarios, with a
//! broker and boxes, are in `tests/uplink/searches/`.

use relay::db::{Mode, Scope, now_ms};
use relay::store::rpcs::{self, StoredRpc};
use relay::store::searches::{self as store, NewSearch, StoredResult};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::harness::{Backend, TestRelay};
use crate::on_both_backends;
use crate::world::{Tenant, World};

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).expect("a uuid")
}

/// A person of `tenant` with one photo: `dipper face embed` of a test photo.
async fn person(relay: &TestRelay, tenant: Uuid) -> Uuid {
    let embedding = testkit::faces::embedding_of("obama.jpg");
    let person = Uuid::new_v4();
    let now = now_ms();
    let mut tx = (relay.state.db)
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    sqlx::query(
        "INSERT INTO people (id, tenant_id, name, created_at, updated_at) \
         VALUES ($1, $2, 'Barack', $3, $3)",
    )
    .bind(person.to_string())
    .bind(tenant.to_string())
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("person");
    sqlx::query(
        "INSERT INTO face_photos (id, tenant_id, person_id, model, embedding, object_key, \
         content_type, bytes, face_box, score, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'photo.jpg', 'image/jpeg', 1000, '[0,0,9,9]', 0.9, $6)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(tenant.to_string())
    .bind(person.to_string())
    .bind(embedding.model)
    .bind(embedding.vector)
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("photo");
    tx.commit().await.expect("commit");
    person
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

async fn without_a_broker_a_search_is_refused(backend: Backend) {
    let world = World::new(backend).await;
    let (relay, a) = (&world.relay, &world.a);
    let activated = json!({"device_id": a.device, "provisioning_key": a.provisioning_key});
    let path = (reqwest::Method::POST, "/api/v1/devices/activate");
    relay
        .expect_call(path, None, Some(activated), StatusCode::OK)
        .await;
    let person = person(relay, uuid(&a.id)).await;
    let now = jiff::Timestamp::now();
    let body = json!({
        "person_id": person,
        "from": now.checked_sub(jiff::SignedDuration::from_hours(3)).expect("time").to_string(),
        "to": now.checked_sub(jiff::SignedDuration::from_hours(1)).expect("time").to_string(),
        "devices": [a.device],
    });
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
    let activated = json!({"device_id": a.device, "provisioning_key": a.provisioning_key});
    let path = (reqwest::Method::POST, "/api/v1/devices/activate");
    relay
        .expect_call(path, None, Some(activated), StatusCode::OK)
        .await;
    let encode = |name: &str| {
        let bytes = std::fs::read(testkit::faces::photo(name)).expect("photo");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let now = jiff::Timestamp::now();
    let span = json!({
        "from": now.checked_sub(jiff::SignedDuration::from_hours(3)).expect("time").to_string(),
        "to": now.checked_sub(jiff::SignedDuration::from_hours(1)).expect("time").to_string(),
        "devices": [a.device],
    });
    let with = |extra: serde_json::Value| {
        let mut body = span.clone();
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
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
