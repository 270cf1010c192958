//! Bad input is refused with the field at fault and stores nothing: another tenant's person,
//! area or device (the same 422 as one that does not exist), a person without photos or with
//! photos of two models, a span reversed, in the future or longer than the retention, bad
//! distances and expiries, a scope with no active box, a viewer, an operator outside its
//! areas, a disabled tenant. The Idempotency-Key answers a retry with the search it made.

use protocol::search::WireEmbedding;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{SearchSite, ago, id, photos};
use crate::harness::{Backend, PASSWORD, expect};
use crate::library::add_person;
use crate::on_both_backends;
use crate::site::uuid;

/// What a refusal answers: the status, the error code and the field named.
type Refusal<'a> = (StatusCode, &'a str, Option<&'a str>);

const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// Posts `body` with `token`; asserts the refusal; the answer.
async fn check(site: &SearchSite, token: &str, body: Value, refusal: Refusal<'_>) -> Value {
    let (status, code, field) = refusal;
    let answer = expect(
        site.relay().post(&site.path(), token, body.clone()).await,
        status,
    );
    assert_eq!(answer["error"], code, "{body}: {answer}");
    assert_eq!(answer["field"].as_str(), field, "{body}: {answer}");
    answer
}

/// `body` with `key` set to `value`.
fn with(body: &Value, key: &str, value: Value) -> Value {
    let mut body = body.clone();
    body[key] = value;
    body
}

/// Posts `body` with an Idempotency-Key; the status and the answer.
async fn keyed(site: &SearchSite, token: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    let path = site.path();
    (site.relay())
        .post_keyed((&path, token), key, body.to_string())
        .await
}

async fn bad_input_is_refused_and_stores_nothing(backend: Backend) {
    let site = SearchSite::new(backend).await;
    let box_1 = site.first_box().await;
    let valid = site.body(json!({"devices": [box_1.0]}));
    person_refusals(&site, &valid).await;
    span_refusals(&site, &valid).await;
    scope_refusals(&site, &valid, box_1.0).await;
    let by_operator = role_refusals(&site, &valid).await;
    let keyed = idempotency(&site, &valid).await;
    disabled_tenant(&site, &valid).await;

    // Nothing but those searches is stored; every refusal inside the handler is audited.
    let list = (site.relay())
        .expect_get(&site.path(), site.token(), StatusCode::OK)
        .await;
    let mut stored: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id)
        .collect();
    stored.sort_unstable();
    let mut made = vec![id(&by_operator), id(&keyed[0]), id(&keyed[1])];
    made.sort_unstable();
    assert_eq!(stored, made);
    // Billed: the searches started, not the refusals, nor the retry answered with its search.
    let usage = (site.relay())
        .expect_get(
            &format!("/api/v1/tenants/{}/usage", site.a().id),
            &site.site.world.root_token,
            StatusCode::OK,
        )
        .await;
    assert_eq!(usage["totals"]["searches"], made.len(), "{usage}");
    let audit = site.site.world.audit(site.a()).await;
    let refused = audit
        .iter()
        .filter(|r| r["action"] == "search.create")
        .filter(|r| {
            r["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("refused"))
        })
        .count();
    assert_eq!(refused, 22, "refusals audited: {audit:#?}");
}

/// Another tenant's person (as no person), one without photos, one with two models.
async fn person_refusals(site: &SearchSite, valid: &Value) {
    let (a, b, token) = (site.a(), &site.site.world.b, site.token());
    let person = (UNPROCESSABLE, "invalid_field", Some("person_id"));
    let theirs = add_person(site.relay(), uuid(&b.id), photos()).await;
    let foreign = check(site, token, with(valid, "person_id", json!(theirs)), person).await;
    let nobody = with(valid, "person_id", json!(Uuid::new_v4()));
    assert_eq!(foreign, check(site, token, nobody, person).await);
    let photoless = add_person(site.relay(), uuid(&a.id), &[]).await;
    let refusal = (UNPROCESSABLE, "person_without_photos", Some("person_id"));
    check(
        site,
        token,
        with(valid, "person_id", json!(photoless)),
        refusal,
    )
    .await;
    let other_model = WireEmbedding {
        model: "another-model-v9".to_owned(),
        vector: photos()[1].vector.clone(),
    };
    let mixed = [photos()[0].clone(), other_model];
    let mixed = add_person(site.relay(), uuid(&a.id), &mixed).await;
    let answer = check(site, token, with(valid, "person_id", json!(mixed)), person).await;
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(message.contains("another-model-v9"), "{answer}");
}

/// A span reversed, in the future, too long; distances and expiries out of range; a time
/// that is not RFC 3339, an unknown field.
async fn span_refusals(site: &SearchSite, valid: &Value) {
    let hour = std::time::Duration::from_secs(3600);
    let span = |from: String, to: Value| with(&with(valid, "from", json!(from)), "to", to);
    let in_an_hour = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(1));
    let in_an_hour = json!(in_an_hour.expect("time").to_string());
    let to = valid["to"].clone();
    let same = to.as_str().expect("to").to_owned();
    let refusals = [
        (span(same, to.clone()), "to"),
        (span(ago(2 * hour), in_an_hour), "to"),
        (span(ago(31 * 24 * hour), to.clone()), "from"),
        (with(valid, "max_distance", json!(0)), "max_distance"),
        (with(valid, "max_distance", json!(2.5)), "max_distance"),
        (
            with(valid, "expires_in_seconds", json!(0)),
            "expires_in_seconds",
        ),
        (
            with(valid, "expires_in_seconds", json!(2_592_001)),
            "expires_in_seconds",
        ),
    ];
    for (body, field) in refusals {
        let refusal = (UNPROCESSABLE, "invalid_field", Some(field));
        check(site, site.token(), body, refusal).await;
    }
    let malformed = StatusCode::BAD_REQUEST;
    let time = (malformed, "invalid_field", Some("from"));
    check(
        site,
        site.token(),
        with(valid, "from", json!("yesterday")),
        time,
    )
    .await;
    let unknown = (malformed, "unknown_field", Some("colour"));
    check(
        site,
        site.token(),
        with(valid, "colour", json!("red")),
        unknown,
    )
    .await;
}

/// Areas and devices: another tenant's (as absent ones), none active, none at all.
async fn scope_refusals(site: &SearchSite, valid: &Value, box_1: Uuid) {
    let (a, b, token) = (site.a(), &site.site.world.b, site.token());
    let scoped =
        |areas: Value, devices: Value| with(&with(valid, "areas", areas), "devices", devices);
    let area = (UNPROCESSABLE, "invalid_field", Some("areas[0]"));
    let foreign = check(site, token, scoped(json!([b.building]), json!([])), area).await;
    let nowhere = scoped(json!([Uuid::new_v4()]), json!([]));
    assert_eq!(foreign, check(site, token, nowhere, area).await);
    let device = (UNPROCESSABLE, "invalid_field", Some("devices[1]"));
    let theirs = scoped(json!([]), json!([box_1, b.device]));
    let foreign = check(site, token, theirs, device).await;
    let nothing = scoped(json!([]), json!([box_1, Uuid::new_v4()]));
    assert_eq!(foreign, check(site, token, nothing, device).await);
    // No active box: an area without boxes, a box not activated, nothing named.
    let empty = (UNPROCESSABLE, "empty_scope", None);
    let bare = site.area("Building 2", &a.community).await;
    check(site, token, scoped(json!([bare]), json!([])), empty).await;
    let path = format!("/api/v1/tenants/{}/devices", a.id);
    let body = json!({"name": "Not yet", "area_id": bare});
    let registered = site.relay().created(&path, token, body).await;
    let registered = &registered["device"]["id"];
    check(
        site,
        token,
        scoped(json!([bare]), json!([registered])),
        empty,
    )
    .await;
    check(site, token, scoped(json!([]), json!([])), empty).await;
}

/// A viewer may not search; an operator searches its areas only. The operator's search.
async fn role_refusals(site: &SearchSite, valid: &Value) -> Value {
    let (a, relay) = (site.a(), site.relay());
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;
    check(
        site,
        &viewer,
        valid.clone(),
        (StatusCode::FORBIDDEN, "forbidden", None),
    )
    .await;
    let users = format!("/api/v1/tenants/{}/users", a.id);
    let body = json!({"email": "op@dipper.test", "password": PASSWORD});
    let operator = relay.created(&users, site.token(), body).await;
    let grants = format!("{users}/{}/grants", id(&operator));
    let grant = json!({"role": "operator", "area_id": a.building});
    relay.created(&grants, site.token(), grant).await;
    let operator = relay.token(Some(&a.id), "op@dipper.test").await;
    let over = |area: &str| with(&with(valid, "devices", json!([])), "areas", json!([area]));
    let outside = (UNPROCESSABLE, "invalid_field", Some("areas[0]"));
    check(site, &operator, over(&a.community), outside).await;
    relay
        .created(&site.path(), &operator, over(&a.building))
        .await
}

/// The same key and body: the same search; another body: refused; another user: its own;
/// a malformed key: refused. The two searches made.
async fn idempotency(site: &SearchSite, valid: &Value) -> [Value; 2] {
    let (status, first) = keyed(site, site.token(), "retry-1", valid).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = keyed(site, site.token(), "retry-1", valid).await;
    assert_eq!(
        (status, id(&again)),
        (StatusCode::OK, id(&first)),
        "{again}"
    );
    let other = with(valid, "max_distance", json!(0.5));
    let (status, reused) = keyed(site, site.token(), "retry-1", &other).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reused}");
    assert_eq!(reused["error"], "idempotency_key_reused");
    let root = &site.site.world.root_token;
    let (status, roots) = keyed(site, root, "retry-1", valid).await;
    assert_eq!(status, StatusCode::CREATED, "{roots}");
    assert_ne!(id(&roots), id(&first));
    let (status, bad_key) = keyed(site, site.token(), "two words", valid).await;
    let named = &bad_key["field"];
    assert_eq!(
        (status, named),
        (StatusCode::BAD_REQUEST, &json!("Idempotency-Key"))
    );
    [first, roots]
}

/// A disabled tenant's searches are refused, for a platform admin too.
async fn disabled_tenant(site: &SearchSite, valid: &Value) {
    let (a, relay, root) = (site.a(), site.relay(), &site.site.world.root_token);
    let disable = format!("/api/v1/tenants/{}/disable", a.id);
    let ok = StatusCode::OK;
    relay
        .expect_call((Method::POST, &disable), Some(root), None, ok)
        .await;
    let disabled = (StatusCode::FORBIDDEN, "tenant_disabled", None);
    check(site, root, valid.clone(), disabled).await;
    check(site, site.token(), valid.clone(), disabled).await;
    let enable = format!("/api/v1/tenants/{}/enable", a.id);
    relay
        .expect_call((Method::POST, &enable), Some(root), None, ok)
        .await;
}

on_both_backends!(bad_input_is_refused_and_stores_nothing);
