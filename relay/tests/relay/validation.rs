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
    let request = world
        .relay
        .raw_json(method.clone(), (path, &world.a.admin_token), body.into());
    let response = request.send().await.expect("request");
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
    // An array is not read as a struct's fields in order.
    let rename = format!("/api/v1/tenants/{}/areas/{area}", a.id);
    let answer = check(&world, Method::PATCH, &rename, "[null, null]", bad, None).await;
    assert_eq!(answer["message"], "the body must be a JSON object");
    let twice = format!(r#"{{"name": "x", "area_id": "{area}", "name": "y"}}"#);
    let answer = check(&world, Method::POST, &devices, &twice, bad, Some("name")).await;
    assert_eq!(answer["error"], "duplicate_field");
    let missing = json!({"area_id": area}).to_string();
    let answer = check(&world, Method::POST, &devices, &missing, bad, Some("name")).await;
    assert_eq!(answer["error"], "missing_field");
    let users = format!("/api/v1/tenants/{}/users", a.id);
    let grants = format!("/api/v1/tenants/{}/users/{}/grants", a.id, a.viewer_id);
    #[rustfmt::skip]
    let bodies = [
        (&devices, json!({"name": "x", "area_id": area, "colour": "red"}), "colour"),
        (&devices, json!({"name": 7, "area_id": area}), "name"),
        (&devices, json!({"name": "x".repeat(201), "area_id": area}), "name"),
        (&devices, json!({"name": "", "area_id": area}), "name"),
        (&devices, json!({"name": "a\u{0}b", "area_id": area}), "name"),
        (&devices, json!({"name": "x", "area_id": "not-a-uuid"}), "area_id"),
        (&devices, json!({"name": "x", "area_id": area, "group": ["g"]}), "group"),
        (&users, json!({"email": "no-at-sign", "password": "long enough pass"}), "email"),
        (&users, json!({"email": "x@y.z", "password": "short"}), "password"),
        (&grants, json!({"role": "overlord"}), "role"),
    ];
    for (path, body, field) in bodies {
        let body = body.to_string();
        check(&world, Method::POST, path, &body, bad, Some(field)).await;
    }
    // Bad ids in the path and bad query parameters.
    let paths = [
        (format!("{devices}/12345"), "device_id"),
        ("/api/v1/tenants/zzz/devices".to_owned(), "tenant_id"),
        (format!("{devices}?limit=0"), "limit"),
        (format!("{devices}?limit=abc"), "limit"),
        (format!("{devices}?sort=name"), "sort"),
    ];
    for (path, field) in paths {
        check(&world, Method::GET, &path, "", bad, Some(field)).await;
    }
}

/// Not JSON, too large, unknown route, wrong method; a login body short of a field.
async fn unreadable_requests_are_refused(backend: Backend) {
    let world = World::new(backend).await;
    let a = &world.a;
    let devices = format!("/api/v1/tenants/{}/devices", a.id);
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
    world
        .relay
        .expect_get("/api/v1/nowhere", &a.admin_token, StatusCode::NOT_FOUND)
        .await;
    world
        .relay
        .expect_call(
            (Method::PUT, &devices),
            Some(&a.admin_token),
            None,
            StatusCode::METHOD_NOT_ALLOWED,
        )
        .await;
    // Login validates too, before any password is checked.
    let body = Some(json!({"email": "a@b.c"}));
    let login = world
        .relay
        .call(Method::POST, "/api/v1/auth/login", None, body);
    let login = login.await;
    expect(login, StatusCode::BAD_REQUEST);
}

/// Text the client sent, which no message may repeat.
const ECHO: &str = "zz-echo-zz";

/// Library and type names no message may show.
const INTERNALS: &[&str] = &[
    "Signature",
    "serde",
    "expected",
    "Uuid",
    "uuid",
    "u32",
    "struct",
    "sequence",
    "at line",
    "`",
    "invalid type",
    "invalid digit",
];

/// Checks an error answer's message: the relay's own words only.
#[track_caller]
fn own_words(answer: &Value) {
    let message = answer["message"].as_str().expect("message");
    assert!(!message.contains(ECHO), "echoes the input: {answer}");
    for internal in INTERNALS {
        assert!(!message.contains(internal), "shows {internal:?}: {answer}");
    }
}

async fn messages_are_our_own(backend: Backend) {
    let world = World::new(backend).await;
    let a = &world.a;
    let devices = format!("/api/v1/tenants/{}/devices", a.id);
    let area = a.floor.as_str();
    let bad = StatusCode::BAD_REQUEST;
    let grants = format!("/api/v1/tenants/{}/users/{}/grants", a.id, a.viewer_id);
    let users = format!("/api/v1/tenants/{}/users", a.id);
    let (post, get) = (Method::POST, Method::GET);
    #[rustfmt::skip]
    let cases = [
        (&post, devices.clone(), json!({"name": "x", "area_id": ECHO}).to_string(), Some("area_id")),
        (&post, devices.clone(), json!({"name": ["zz-echo-zz"], "area_id": area}).to_string(), Some("name")),
        (&post, devices.clone(), json!([ECHO]).to_string(), None),
        (&post, devices.clone(), format!(r#"{{"name": "{ECHO}", "area_id": "#), None),
        (&post, devices.clone(), format!(r#"{{"name": {ECHO}}}"#), None),
        (&post, grants.clone(), json!({"role": ECHO}).to_string(), Some("role")),
        (&post, users, json!({"email": ECHO, "password": "long enough password"}).to_string(), Some("email")),
        (&get, format!("/api/v1/tenants/{ECHO}/devices"), String::new(), Some("tenant_id")),
        (&get, format!("{devices}?limit={ECHO}"), String::new(), Some("limit")),
        (&get, format!("{devices}?offset=-1"), String::new(), Some("offset")),
    ];
    for (method, path, body, field) in cases {
        let answer = check(&world, method.clone(), &path, &body, bad, field).await;
        own_words(&answer);
    }
    let numeric = format!("{devices}?limit=abc");
    let numeric = check(&world, Method::GET, &numeric, "", bad, Some("limit")).await;
    assert_eq!(numeric["message"], "must be a whole number in range");
    let role = json!({"role": ECHO}).to_string();
    let role = check(&world, Method::POST, &grants, &role, bad, Some("role")).await;
    assert!(
        role["message"]
            .as_str()
            .expect("message")
            .starts_with("must be one of"),
        "{role}"
    );
}

/// Tokens: tampered, expired, of no kind we know; none names the JWT library's errors.
async fn token_errors_are_our_own(backend: Backend) {
    let world = World::new(backend).await;
    let a = &world.a;
    let key = signing_key(&world).await;
    let now = jiff::Timestamp::now().as_second();
    let claims = |exp: i64| {
        json!({"sub": a.admin_id, "tid": a.id, "sid": uuid::Uuid::new_v4(),
               "iss": "dipper-relay", "iat": now - 1000, "exp": exp})
    };
    let sign = |claims: &Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(&key),
        )
        .expect("sign")
    };
    let mut tampered = a.admin_token.clone();
    tampered.pop();
    tampered.push(if a.admin_token.ends_with('A') {
        'B'
    } else {
        'A'
    });
    let no_session = {
        let mut c = claims(now + 600);
        c.as_object_mut().expect("object").remove("sid");
        sign(&c)
    };
    for (token, code) in [
        (sign(&claims(now - 600)), "token_expired"),
        (tampered, "token_invalid"),
        (no_session, "token_invalid"),
        (sign(&claims(now + 600)), "session_revoked"),
        (ECHO.to_owned(), "token_invalid"),
    ] {
        let answer = world
            .relay
            .expect_get("/api/v1/me", &token, StatusCode::UNAUTHORIZED)
            .await;
        assert_eq!(answer["error"], code, "{answer}");
        own_words(&answer);
    }
}

/// The relay's access-token key, read from its database as another instance would.
async fn signing_key(world: &World) -> Vec<u8> {
    use base64::Engine as _;
    let db = &world.relay.state.db;
    let mut tx = db
        .begin(relay::db::Scope::Platform, relay::db::Mode::Read)
        .await
        .expect("tx");
    let value: String =
        sqlx::query_scalar("SELECT value FROM relay_secrets WHERE name = 'access_token_hs256'")
            .fetch_one(&mut *tx)
            .await
            .expect("key");
    tx.commit().await.expect("commit");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .expect("base64")
}

/// Names are trimmed; empty, invisible-only names and bidirectional overrides are refused.
async fn names_are_visible_and_plain(backend: Backend) {
    let world = World::new(backend).await;
    let a = &world.a;
    let devices = format!("/api/v1/tenants/{}/devices", a.id);
    let area = a.floor.as_str();
    let bad = StatusCode::BAD_REQUEST;
    let created = world
        .relay
        .expect_post(
            &devices,
            &a.admin_token,
            json!({"name": " \u{200b} Box 9\u{3000}", "area_id": area, "group": " Gate "}),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(created["device"]["name"], "Box 9");
    assert_eq!(created["device"]["group"], "Gate");
    #[rustfmt::skip]
    let invisible = [" ", "   ", "\u{200b}", "\u{200b}\u{200c}\u{200d}", "\u{3000}\u{feff}", "\u{2060}"];
    let overrides = [
        "abc\u{202e}fed",
        "\u{202a}x",
        "x\u{2066}y\u{2069}",
        "\u{202d}Box",
    ];
    for name in invisible.iter().chain(&overrides) {
        let answer = check(
            &world,
            Method::POST,
            &devices,
            &json!({"name": name, "area_id": area}).to_string(),
            bad,
            Some("name"),
        )
        .await;
        assert_eq!(answer["error"], "invalid_field");
        own_words(&answer);
    }
    let device = format!("{devices}/{}", a.device);
    let areas = format!("/api/v1/tenants/{}/areas", a.id);
    let users = format!("/api/v1/tenants/{}/users", a.id);
    let password = "long enough password";
    let display_name = json!({"email": "new@dipper.test", "password": password,
                              "display_name": "\u{202e}nimda"});
    let group = json!({"name": "Box", "area_id": area, "group": "\u{202e}"});
    let email = json!({"email": "ad\u{200b}min@dipper.test", "password": password});
    let cases = [
        (Method::POST, &devices, group, "group"),
        (Method::PATCH, &device, json!({"name": " "}), "name"),
        (Method::POST, &areas, json!({"name": "\u{200b}"}), "name"),
        (Method::POST, &users, display_name, "display_name"),
        (Method::POST, &users, email, "email"),
    ];
    for (method, path, body, field) in cases {
        check(&world, method, path, &body.to_string(), bad, Some(field)).await;
    }
    let area_created = world
        .relay
        .expect_post(
            &areas,
            &a.admin_token,
            json!({"name": "  North wing  "}),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(area_created["name"], "North wing");
    // Tenants, named by platform admins, follow the same rules.
    let body = json!({"name": "\u{200b} "}).to_string();
    let request = world
        .relay
        .raw_json(Method::POST, ("/api/v1/tenants", &world.root_token), body);
    let request = request.header("idempotency-key", "invisible-name");
    let tenant = request.send().await.expect("request");
    assert_eq!(tenant.status(), bad);
    let answer: Value = tenant.json().await.expect("json");
    assert_eq!(answer["field"], "name", "{answer}");
}

on_both_backends!(
    malformed_requests_name_the_field,
    unreadable_requests_are_refused,
    messages_are_our_own,
    token_errors_are_our_own,
    names_are_visible_and_plain
);
