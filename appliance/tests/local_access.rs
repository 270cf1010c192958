//! The local API's access rules against a real daemon, over HTTP as a browser sends it:
//! first boot, signing in, sessions, CSRF, another box's cookie, throttling, the console's
//! reset, the CLI's token; and the page's files (path traversal) and the photo route's bad
//! input. The browser itself drives the page in `local_page.rs`.

mod common;

use base64::Engine as _;
use common::{Daemon, photo};
use serde_json::{Value, json};

const STRONG: &str = "harbour-lantern-river-42";

/// A browser-like client: no token; the session cookie and CSRF token set by hand.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Browser {
    fn new(daemon: &Daemon) -> Browser {
        Browser {
            base: daemon.base.clone(),
            http: reqwest::Client::new(),
            cookie: None,
            csrf: None,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        csrf: bool,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("dipper_session={cookie}"));
        }
        if csrf && let Some(token) = &self.csrf {
            request = request.header("x-csrf-token", token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).expect("json"));
        }
        request.send().await.expect("request")
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        answer(self.send(method, path, body, true).await).await
    }

    /// Signs in (or sets the first password at `path`): keeps the new cookie and token.
    async fn sign_in(&mut self, path: &str, password: &str) -> (u16, Value) {
        let response = self
            .send(
                reqwest::Method::POST,
                path,
                Some(&json!({ "password": password })),
                false,
            )
            .await;
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().expect("ascii").to_owned());
        let (status, body) = answer(response).await;
        if let Some(cookie) = cookie {
            assert!(cookie.contains("HttpOnly"), "{cookie}");
            assert!(cookie.contains("SameSite=Strict"), "{cookie}");
            assert!(cookie.contains("Path=/"), "{cookie}");
            let value = cookie
                .split(';')
                .next()
                .and_then(|pair| pair.split_once('='))
                .map(|(_, v)| v.to_owned())
                .expect("a cookie value");
            self.cookie = Some(value);
            self.csrf = body["csrf"].as_str().map(str::to_owned);
        }
        (status, body)
    }
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// Asserts that an API answer is `expected` with the error `code` (the body shown if not).
#[track_caller]
fn assert_error(status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (expected, Some(code)),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_boot_sessions_and_csrf() {
    let (_dir, daemon) = common::start_box("");
    let mut browser = Browser::new(&daemon);
    use reqwest::Method as M;

    // First boot: nothing but the session's state and the first step.
    let (status, state) = browser.call(M::GET, "/api/v1/session", None).await;
    assert_eq!(
        (status, &state["password_set"], &state["signed_in"]),
        (200, &json!(false), &json!(false)),
        "{state}"
    );
    let (status, body) = browser.call(M::GET, "/api/v1/cameras", None).await;
    assert_error(status, &body, 401, "setup_required");
    let (status, body) = browser
        .call(
            M::POST,
            "/api/v1/session",
            Some(&json!({"password": STRONG})),
        )
        .await;
    assert_error(status, &body, 401, "setup_required");
    // The health probe and the metrics stay open; the CLI's token works before first boot.
    assert_eq!(browser.call(M::GET, "/api/v1/health", None).await.0, 200);
    let (status, _) = daemon.api().get("/cameras").await;
    assert_eq!(status, 200);

    // A weak password is refused with the reason; a form post (not JSON) is refused.
    let (status, body) = browser
        .sign_in("/api/v1/session/setup", "password1234")
        .await;
    assert_error(status, &body, 422, "weak_password");
    let form = browser
        .http
        .post(format!("{}/api/v1/session/setup", browser.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("password={STRONG}"))
        .send()
        .await
        .expect("post");
    assert_eq!(form.status().as_u16(), 415);

    // The first password signs in.
    let (status, body) = browser.sign_in("/api/v1/session/setup", STRONG).await;
    assert_eq!(status, 201, "{body}");
    let first_cookie = browser.cookie.clone().expect("a cookie");
    let (status, state) = browser.call(M::GET, "/api/v1/session", None).await;
    assert_eq!(
        (status, &state["signed_in"]),
        (200, &json!(true)),
        "{state}"
    );
    assert_eq!(state["csrf"], json!(browser.csrf.clone()), "{state}");
    assert_eq!(browser.call(M::GET, "/api/v1/cameras", None).await.0, 200);
    // Only once.
    let mut other = Browser::new(&daemon);
    let (status, body) = other
        .sign_in("/api/v1/session/setup", "another-long-passphrase-9")
        .await;
    assert_error(status, &body, 409, "already_set");
    // Without a session: 401 unauthenticated now.
    let (status, body) = other.call(M::GET, "/api/v1/cameras", None).await;
    assert_error(status, &body, 401, "unauthenticated");

    // CSRF: a changing request with the cookie but without the token is refused, and so
    // is one with another session's token.
    let body = json!({"retention": {"keep_days": 9, "quota_mib": 0}});
    let refused = browser
        .send(M::PUT, "/api/v1/settings", Some(&body), false)
        .await;
    let (status, error) = answer(refused).await;
    assert_eq!(
        (status, error["error"].as_str()),
        (403, Some("csrf_failed")),
        "{error}"
    );
    let (status, _) = other.sign_in("/api/v1/session", STRONG).await;
    assert_eq!(status, 200);
    let mut forged = Browser::new(&daemon);
    forged.cookie = browser.cookie.clone();
    forged.csrf = other.csrf.clone();
    assert_eq!(
        forged.call(M::PUT, "/api/v1/settings", Some(&body)).await.0,
        403
    );
    let (status, settings) = browser.call(M::PUT, "/api/v1/settings", Some(&body)).await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["retention"]["keep_days"], 9);
    assert_eq!(settings["restart_needed"], true);

    // Session fixation: a cookie the browser brought is never the one signing in gives.
    let mut fixed = Browser::new(&daemon);
    fixed.cookie = Some("attacker-chosen-value".to_owned());
    let (status, _) = fixed.sign_in("/api/v1/session", STRONG).await;
    assert_eq!(status, 200);
    assert_ne!(fixed.cookie.as_deref(), Some("attacker-chosen-value"));
    assert_ne!(fixed.cookie, browser.cookie);

    // A wrong password: 401, no cookie.
    let mut wrong = Browser::new(&daemon);
    let (status, body) = wrong.sign_in("/api/v1/session", "not-the-password").await;
    assert_error(status, &body, 401, "wrong_password");
    assert!(wrong.cookie.is_none());

    // A wrong token is refused, not ignored.
    let bad_token = browser
        .http
        .get(format!("{}/api/v1/cameras", browser.base))
        .header("authorization", "Bearer not-the-token")
        .send()
        .await
        .expect("get");
    assert_eq!(bad_token.status().as_u16(), 401);

    // Signing out ends that session only.
    let (status, _) = browser.call(M::DELETE, "/api/v1/session", None).await;
    assert_eq!(status, 204);
    assert_eq!(browser.call(M::GET, "/api/v1/cameras", None).await.0, 401);
    assert_eq!(other.call(M::GET, "/api/v1/cameras", None).await.0, 200);
    let mut old = Browser::new(&daemon);
    old.cookie = Some(first_cookie);
    assert_eq!(old.call(M::GET, "/api/v1/cameras", None).await.0, 401);

    // Changing the password needs the current one, and ends every session.
    let change = json!({"current": STRONG, "new": "a-new-harbour-passphrase-7"});
    let (status, _) = other
        .call(M::PUT, "/api/v1/session/password", Some(&change))
        .await;
    assert_eq!(status, 204);
    assert_eq!(other.call(M::GET, "/api/v1/cameras", None).await.0, 401);
    assert_eq!(fixed.call(M::GET, "/api/v1/cameras", None).await.0, 401);
    let (status, _) = other
        .sign_in("/api/v1/session", "a-new-harbour-passphrase-7")
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_box_cookie_throttling_and_the_console_reset() {
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let box_a = Daemon::start(dir_a.path(), "");
    let box_b = Daemon::start(dir_b.path(), "");
    use reqwest::Method as M;
    let mut on_a = Browser::new(&box_a);
    let mut on_b = Browser::new(&box_b);
    assert_eq!(on_a.sign_in("/api/v1/session/setup", STRONG).await.0, 201);
    assert_eq!(on_b.sign_in("/api/v1/session/setup", STRONG).await.0, 201);
    // The same password, but box A's session means nothing to box B.
    let mut carried = Browser::new(&box_b);
    carried.cookie = on_a.cookie.clone();
    carried.csrf = on_a.csrf.clone();
    let (status, body) = carried.call(M::GET, "/api/v1/cameras", None).await;
    assert_error(status, &body, 401, "unauthenticated");

    // Five wrong passwords, then even the right one waits, with Retry-After.
    let mut guesser = Browser::new(&box_a);
    for n in 0..5 {
        let (status, _) = guesser
            .sign_in("/api/v1/session", &format!("guess-{n}"))
            .await;
        assert_eq!(status, 401);
    }
    let response = guesser
        .send(
            M::POST,
            "/api/v1/session",
            Some(&json!({"password": STRONG})),
            false,
        )
        .await;
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    let (status, body) = answer(response).await;
    assert_error(status, &body, 429, "locked");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(body["retry_after_seconds"], retry_after);
    // A session made before keeps working; the lock is on signing in.
    assert_eq!(on_a.call(M::GET, "/api/v1/cameras", None).await.0, 200);

    // The console's reset (root on the box) makes the next visit a first boot.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dipper"))
        .args(["admin", "reset-password", "--config"])
        .arg(&box_a.config)
        .output()
        .expect("dipper admin");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("forgotten"));
    assert_eq!(on_a.call(M::GET, "/api/v1/cameras", None).await.0, 401);
    let mut fresh = Browser::new(&box_a);
    let (status, state) = fresh.call(M::GET, "/api/v1/session", None).await;
    assert_eq!((status, &state["password_set"]), (200, &json!(false)));
    assert_eq!(
        fresh
            .sign_in("/api/v1/session/setup", "reset-harbour-passphrase-3")
            .await
            .0,
        201
    );

    // The CLI uses the token file; without it, the daemon's refusal is shown.
    let listed = box_a.cli(&["cameras", "list", "--json"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let no_token = std::process::Command::new(env!("CARGO_BIN_EXE_dipper"))
        .args(["cameras", "list"])
        .env("DIPPER_API", &box_a.base)
        .env("DIPPER_TOKEN_FILE", dir_a.path().join("no-such-file"))
        .env_remove("DIPPER_TOKEN")
        .output()
        .expect("dipper");
    assert_eq!(no_token.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&no_token.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("sign in"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_files_and_the_photo_route_refuse_bad_input() {
    let (_dir, daemon) = common::start_box("");
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", daemon.base)).send();

    let index = get("/").await.expect("index");
    assert_eq!(index.status().as_u16(), 200);
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(index.headers()["x-frame-options"], "DENY");
    let etag = index.headers()["etag"].clone();
    let html = index.text().await.expect("html");
    assert!(html.contains("/assets/app.js"), "{html}");
    let again = http
        .get(format!("{}/", daemon.base))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("index");
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(
        get("/assets/app.js").await.expect("js").status().as_u16(),
        200
    );

    // Traversal: the names are a fixed table; the snapshot routes check their parts.
    let token = daemon.api();
    for path in [
        "/assets/..%2F..%2FCargo.toml",
        "/assets/%2e%2e%2fbuild.rs",
        "/assets/../../../etc/passwd",
        "/assets/index.html/..",
    ] {
        let status = get(path).await.expect("get").status().as_u16();
        assert!(status == 404 || status == 400, "{path}: {status}");
    }
    for path in [
        "/matches/1/..%2F..%2Fbox.db",
        "/matches/..%2F..%2Fsecret.key/face.jpg",
        "/cameras/..%2F1/snapshot.jpg",
    ] {
        let (status, _) = token.bytes(path).await;
        assert!(status == 404 || status == 400, "{path}: {status}");
    }
    let (status, _) = token.bytes("/cameras/1/snapshot.jpg").await;
    assert_eq!(status, 404, "no camera, no keyframe");

    // The photo route: not an image, too large, no face, a face.
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let (status, body) = token
        .post("/faces", &json!({"photo": b64(b"%PDF-1.4 not a photo")}))
        .await;
    assert_error(status, &body, 422, "not_an_image");
    let huge = "A".repeat(28 * 1024 * 1024);
    let (status, body) = token
        .post_raw("/faces", format!("{{\"photo\":\"{huge}\"}}").into_bytes())
        .await;
    assert_error(status, &body, 413, "too_large");
    let grey = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
    let mut png = std::io::Cursor::new(Vec::new());
    grey.write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let (status, body) = token
        .post("/faces", &json!({"photo": b64(png.get_ref())}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["faces"], json!([]));
    assert_eq!(body["best"], Value::Null);
    let obama = std::fs::read(photo("obama.jpg")).expect("photo");
    let (status, body) = token.post("/faces", &json!({"photo": b64(&obama)})).await;
    assert_eq!(status, 200, "{body}");
    let faces = body["faces"].as_array().expect("faces");
    assert_eq!(faces.len(), 1, "{body}");
    assert_eq!(faces[0]["usable"], true);
    assert_eq!(body["best"], 0);
    assert!(
        faces[0]["crop"]
            .as_str()
            .expect("crop")
            .starts_with("data:image/jpeg;base64,")
    );
    assert!(
        faces[0]["embedding"]["values"]
            .as_array()
            .expect("values")
            .len()
            >= 128
    );
    // A group photo: several faces, each judged.
    let group = std::fs::read(photo("solvay_conference_1927.jpg")).expect("photo");
    let (status, body) = token.post("/faces", &json!({"photo": b64(&group)})).await;
    assert_eq!(status, 200, "{body}");
    let faces = body["faces"].as_array().expect("faces");
    assert!(faces.len() > 5, "{}", faces.len());
    assert!(
        faces
            .iter()
            .any(|f| f["usable"] == false && f["reason"].is_string()),
        "some refused with a reason"
    );
}
