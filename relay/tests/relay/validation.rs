//! Malformed input: every kind answers 4xx with a JSON error naming the field, never 500.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Backend, expect};
use crate::on_both_backends;
use crate::world::World;

/// Sends `body` as is and checks the status and the named field (`None`: no field).
async fn check(
    world: &World,
    method: Method,
    path: &str,
    body: &str,
    status: StatusCode,
    field: Option<&str>,
) -> Value {
    let response = world
        .relay
        .raw(method.clone(), path)
        .bearer_auth(&world.a.admin_token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    let actual = response.status();
    let answer: Value = response.json().await.expect("a JSON error body");
    assert_eq!(actual, status, "{method} {path} {body:?}: {answer}");
    assert_eq!(
        answer["field"].as_str(),
        field,
        "{method} {path} {body:?}: {answer}"
    );
    assert!(
        answer["error"].is_string() && answer["message"].is_string(),
        "{answer}"
    );
    answer
}

async fn malformed_requests_name_the_field(backend: Backend) {
    let world = World::new(backend).await;
    let a = &world.a;
    let devices = format!("/api/v1/tenants/{}/devices", a.id);
    let area = a.floor.as_str();
    let bad = StatusCode::BAD_REQUEST;

    let answer = check(&world, Method::POST, &devices, "{\"name\": ", bad, None).await;
    assert_eq!(answer["error"], "malformed_json");
    check(&world, Method::POST, &devices, "[]", bad, None).await;
    check(
        &world,
        Method::POST,
        &devices,
        &json!({"name": "x", "area_id": area, "colour": "red"}).to_string(),
        bad,
        Some("colour"),
    )
    .await;
    check(
        &world,
        Method::POST,
        &devices,
        &json!({"name": 7, "area_id": area}).to_string(),
        bad,
        Some("name"),
    )
    .await;
    check(
        &world,
        Method::POST,
        &devices,
        &json!({"area_id": area}).to_string(),
        bad,
        None,
    )
    .await;
    check(
        &world,
        Method::POST,
        &devices,
        &json!({"name": "x".repeat(201), "area_id": area}).to_string(),
        bad,
        Some("name"),
    )
    .await;
    check(
        &world,
        Method::POST,
        &devices,
        &json!({"name": "", "area_id": area}).to_string(),
        bad,
        Some("name"),
    )
    .await;
    check(
        &world,
        Method::POST,
        &devices,
        &json!({"name": "a\u{0}b", "area_id": area}).to_string(),
        bad,
        Some("name"),
    )
    .await;
    check(
        &world,
        Method::POST,
        &devices,
        &json!({"name": "x", "area_id": "not-a-uuid"}).to_string(),
        bad,
        Some("area_id"),
    )
    .await;
    check(
        &world,
        Method::POST,
        &devices,
        &json!({"name": "x", "area_id": area, "group": ["g"]}).to_string(),
        bad,
        Some("group"),
    )
    .await;
    let users = format!("/api/v1/tenants/{}/users", a.id);
    check(
        &world,
        Method::POST,
        &users,
        &json!({"email": "no-at-sign", "password": "long enough pass"}).to_string(),
        bad,
        Some("email"),
    )
    .await;
    check(
        &world,
        Method::POST,
        &users,
        &json!({"email": "x@y.z", "password": "short"}).to_string(),
        bad,
        Some("password"),
    )
    .await;
    let grants = format!("/api/v1/tenants/{}/users/{}/grants", a.id, a.viewer_id);
    check(
        &world,
        Method::POST,
        &grants,
        &json!({"role": "overlord"}).to_string(),
        bad,
        Some("role"),
    )
    .await;
    // Bad ids in the path and bad query parameters.
    check(
        &world,
        Method::GET,
        &format!("{devices}/12345"),
        "",
        bad,
        Some("device_id"),
    )
    .await;
    check(
        &world,
        Method::GET,
        "/api/v1/tenants/zzz/devices",
        "",
        bad,
        Some("tenant_id"),
    )
    .await;
    check(
        &world,
        Method::GET,
        &format!("{devices}?limit=0"),
        "",
        bad,
        Some("limit"),
    )
    .await;
    check(
        &world,
        Method::GET,
        &format!("{devices}?limit=abc"),
        "",
        bad,
        Some("limit"),
    )
    .await;
    check(
        &world,
        Method::GET,
        &format!("{devices}?sort=name"),
        "",
        bad,
        Some("sort"),
    )
    .await;
    // Not JSON, too large, unknown route, wrong method.
    let not_json = world
        .relay
        .raw(Method::POST, &devices)
        .bearer_auth(&a.admin_token)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .expect("request");
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(100_000));
    let answer = check(
        &world,
        Method::POST,
        &devices,
        &huge,
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
    )
    .await;
    assert_eq!(answer["error"], "body_too_large");
    expect(
        world.relay.get("/api/v1/nowhere", &a.admin_token).await,
        StatusCode::NOT_FOUND,
    );
    expect(
        world
            .relay
            .call(Method::PUT, &devices, Some(&a.admin_token), None)
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
    // Login validates too, before any password is checked.
    let login = world
        .relay
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "a@b.c"})),
        )
        .await;
    expect(login, StatusCode::BAD_REQUEST);
}

on_both_backends!(malformed_requests_name_the_field);
