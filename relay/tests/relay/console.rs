//! The console's side of the relay: its files with their security headers, and the refresh
//! token carried as the `dipper_refresh` cookie (docs/design/0090): set HttpOnly and
//! SameSite=Strict on sign-in, renewed and rotated from the cookie, a reused one revoking the
//! session, a request from another origin refused, sign-out clearing it.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::harness::{Backend, PASSWORD, TestDb, TestRelay};
use crate::world::World;

/// `Set-Cookie` of a response, and its JSON body.
async fn with_cookie(response: reqwest::Response) -> (StatusCode, Option<String>, Value) {
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().expect("ascii").to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, cookie, body)
}

/// The token of a `dipper_refresh=<token>; ...` header.
fn token_of(set_cookie: &str) -> String {
    set_cookie
        .strip_prefix("dipper_refresh=")
        .and_then(|rest| rest.split(';').next())
        .expect("a dipper_refresh cookie")
        .to_owned()
}

async fn auth_call(
    relay: &TestRelay,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    let mut request = relay
        .raw(Method::POST, path)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = cookie {
        request = request.header(header::COOKIE, format!("dipper_refresh={token}"));
    }
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    with_cookie(request.send().await.expect("request")).await
}

#[tokio::test]
async fn the_refresh_token_travels_as_an_http_only_strict_cookie_when_asked() {
    let world = World::new(Backend::Sqlite).await;
    let relay = &world.relay;
    let login = json!({
        "email": world.a.admin_email, "password": PASSWORD, "tenant_id": world.a.id, "cookie": true,
    });
    let (status, cookie, pair) = auth_call(relay, "/api/v1/auth/login", None, None, login).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    assert!(pair["access_token"].is_string());
    assert!(
        pair.get("refresh_token").is_none(),
        "not in the body: {pair}"
    );
    let cookie = cookie.expect("Set-Cookie");
    for part in [
        "Path=/api/v1/auth",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=2592000",
    ] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    // Reached on 127.0.0.1 (plain HTTP): not Secure, or the browser would drop it.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let first = token_of(&cookie);

    // Renewed from the cookie alone; the next token comes as the cookie again.
    let renew = json!({ "cookie": true });
    let (status, next, pair) = auth_call(
        relay,
        "/api/v1/auth/refresh",
        Some(&first),
        None,
        renew.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    assert!(pair.get("refresh_token").is_none());
    let second = token_of(&next.expect("the next cookie"));
    assert_ne!(first, second);
    let me = relay
        .expect_get(
            "/api/v1/me",
            pair["access_token"].as_str().expect("token"),
            StatusCode::OK,
        )
        .await;
    assert_eq!(me["tenant_id"], world.a.id.as_str());

    // From another site's page: refused, whatever the cookie.
    let (status, _, refusal) = auth_call(
        relay,
        "/api/v1/auth/refresh",
        Some(&second),
        Some("https://evil.example"),
        renew.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");
    // From the relay's own page (Origin = its address): fine.
    let own = format!("http://{}", relay.addr);
    let (status, third, _) = auth_call(
        relay,
        "/api/v1/auth/refresh",
        Some(&second),
        Some(&own),
        renew.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let third = token_of(&third.expect("cookie"));

    // The old cookie again is theft: the session goes, and the answer clears the cookie.
    let (status, cleared, refusal) = auth_call(
        relay,
        "/api/v1/auth/refresh",
        Some(&second),
        None,
        renew.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refusal["error"], "refresh_token_reused");
    let cleared = cleared.expect("the cookie cleared");
    assert!(
        cleared.starts_with("dipper_refresh=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let (status, _, refusal) = auth_call(
        relay,
        "/api/v1/auth/refresh",
        Some(&third),
        None,
        renew.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refusal}");

    // Without the cookie, `cookie: true` gets the refresh refusal, not a crash.
    let (status, _, refusal) =
        auth_call(relay, "/api/v1/auth/refresh", None, None, renew.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refusal["error"], "refresh_token_invalid");
    // Without either, the body's field is named.
    let (status, _, refusal) =
        auth_call(relay, "/api/v1/auth/refresh", None, None, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refusal}");
    assert_eq!(refusal["field"], "refresh_token");
}

#[tokio::test]
async fn signing_out_with_the_cookie_revokes_the_session_and_clears_it() {
    let world = World::new(Backend::Sqlite).await;
    let relay = &world.relay;
    let login = json!({
        "email": world.a.admin_email, "password": PASSWORD, "tenant_id": world.a.id, "cookie": true,
    });
    let (_, cookie, pair) = auth_call(relay, "/api/v1/auth/login", None, None, login).await;
    let token = token_of(&cookie.expect("cookie"));
    let access = pair["access_token"].as_str().expect("access").to_owned();
    let (status, cleared, _) = auth_call(
        relay,
        "/api/v1/auth/logout",
        Some(&token),
        None,
        json!({ "cookie": true }),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(cleared.expect("cleared").contains("Max-Age=0"));
    // The session's access token died with it, and the cookie renews nothing.
    relay
        .expect_get("/api/v1/me", &access, StatusCode::UNAUTHORIZED)
        .await;
    let (status, _, _) = auth_call(
        relay,
        "/api/v1/auth/refresh",
        Some(&token),
        None,
        json!({ "cookie": true }),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Signing out again without a cookie left is fine (and clears it again).
    let (status, cleared, _) = auth_call(
        relay,
        "/api/v1/auth/logout",
        None,
        None,
        json!({ "cookie": true }),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(cleared.is_some());
}

#[tokio::test]
async fn every_console_answer_carries_the_security_headers() {
    let db = TestDb::new(Backend::Sqlite).await;
    let relay = TestRelay::start(&db).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (path, status) in [
        ("/", StatusCode::SEE_OTHER),
        ("/console", StatusCode::SEE_OTHER),
        ("/console/", StatusCode::OK),
        ("/console/app.js", StatusCode::OK),
        ("/console/common/dom.js", StatusCode::OK),
        ("/console/common/base.css", StatusCode::OK),
        ("/console/no-such-file.js", StatusCode::NOT_FOUND),
        // A client resolves `..` itself; an encoded one reaches the table lookup and fails.
        (
            "/console/common%2F..%2F..%2FCargo.toml",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let response = client.get(relay.url(path)).send().await.expect("get");
        assert_eq!(response.status(), status, "{path}");
        let headers = response.headers();
        let csp = headers
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap_or_else(|| panic!("{path}: no CSP"))
            .to_str()
            .expect("ascii");
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "{path}: {csp} lacks {part}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
    }
    // The page has no inline script or style: everything comes from files.
    let page = client
        .get(relay.url("/console/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
    assert!(page.contains(r#"<script type="module" src="/console/app.js"></script>"#));
    // A file is revalidated by its ETag.
    let first = client
        .get(relay.url("/console/app.js"))
        .send()
        .await
        .expect("get");
    let etag = first.headers()[header::ETAG].clone();
    let again = client
        .get(relay.url("/console/app.js"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("get");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    // Without `[oidc]`, only the relay's own accounts sign in, and the policy connects to the
    // relay alone.
    let config = relay
        .expect_public_get("/api/v1/auth/config", StatusCode::OK)
        .await;
    assert_eq!(config, json!({ "oidc": null }));
    // The API's own answers are unchanged: JSON errors, no console policy needed.
    let (status, body) = relay.call(Method::GET, "/api/v1/nothing", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
}
