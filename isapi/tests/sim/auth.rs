//! Digest auth as clients meet it: wrong passwords, lockout, stale and replayed nonces.

use std::time::Duration;

use isapi::{sim::Limits, xml::UserCheck};
use reqwest::{Method, StatusCode, header::WWW_AUTHENTICATE};

use crate::common::{Isapi, PASSWORD, USER, camera, curl, curl_body, parse, start};

const INFO: &str = "/ISAPI/System/deviceInfo";

#[tokio::test]
async fn a_wrong_password_gets_401_and_the_attempts_left() {
    let sim = start(vec![camera()]).await;
    let url = format!("{}{INFO}", sim.devices()[0].base_url());
    let (code, output) = curl(USER, "wrong", &[url.as_str()]).await;
    assert_eq!(code, 401);
    let check: UserCheck = parse("userCheck", &curl_body(&output));
    assert_eq!(check.status_value, Some(401));
    assert_eq!(check.status_string.as_deref(), Some("Unauthorized"));
    assert_eq!(check.lock_status.as_deref(), Some("unlock"));
    assert_eq!(check.retry_login_time, Some(4));
    assert_eq!(
        sim.stats(0).auth_failures,
        1,
        "the first challenge is no failure"
    );
}

#[tokio::test]
async fn five_failures_lock_out_even_the_right_password() {
    let sim = start(vec![camera(), camera()]).await;
    let url = format!("{}{INFO}", sim.devices()[0].base_url());
    let mut left = Vec::new();
    for _ in 0..5 {
        let (code, output) = curl(USER, "wrong", &[url.as_str()]).await;
        assert_eq!(code, 401);
        let check: UserCheck = parse("userCheck", &curl_body(&output));
        left.push((check.retry_login_time, check.is_locked()));
    }
    assert_eq!(
        left,
        [
            (Some(4), false),
            (Some(3), false),
            (Some(2), false),
            (Some(1), false),
            (Some(0), true)
        ]
    );
    let (code, output) = curl(USER, PASSWORD, &[url.as_str()]).await;
    assert_eq!(code, 401, "locked out");
    let check: UserCheck = parse("userCheck", &curl_body(&output));
    assert!(check.is_locked());
    assert!(
        check.unlock_time.is_some_and(|t| t > 1700 && t <= 1800),
        "{check:?}"
    );
    assert_eq!(sim.stats(0).auth_failures, 5);
    let other = format!("{}{INFO}", sim.devices()[1].base_url());
    let (code, _) = curl(USER, PASSWORD, &[other.as_str()]).await;
    assert_eq!(code, 200, "the lockout is per device");
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let sim = start(vec![camera()]).await;
    let device = &sim.devices()[0];
    let wrong = Isapi::with(device, USER, "wrong");
    for _ in 0..3 {
        assert_eq!(wrong.get(INFO).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(Isapi::new(device).get(INFO).await.0, StatusCode::OK);
    let (status, body) = wrong.get(INFO).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let check: UserCheck = parse("userCheck", &body);
    assert_eq!(check.retry_login_time, Some(4));
    assert_eq!(sim.stats(0).auth_failures, 4);
}

#[tokio::test]
async fn replayed_or_expired_nonces_are_stale_not_failures() {
    let sim = start(vec![camera()]).await;
    let isapi = Isapi::new(&sim.devices()[0]);
    let first = isapi.send_once(Method::GET, INFO, None, None).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let challenge = first.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Digest realm=\"") && challenge.contains("qop=\"auth\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("algorithm=MD5") && !challenge.contains("stale"),
        "{challenge}"
    );
    isapi.take_challenge(&first);

    let ok = isapi.send_once(Method::GET, INFO, None, Some(1)).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let replay = isapi.send_once(Method::GET, INFO, None, Some(1)).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(
        replay.headers()[WWW_AUTHENTICATE]
            .to_str()
            .is_ok_and(|h| h.ends_with("stale=TRUE"))
    );
    let next = isapi.send_once(Method::GET, INFO, None, Some(2)).await;
    assert_eq!(next.status(), StatusCode::OK);

    sim.set_limits(
        0,
        Limits {
            nonce_lifetime: Duration::ZERO,
            ..Limits::default()
        },
    );
    let expired = isapi.send_once(Method::GET, INFO, None, Some(3)).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert!(
        expired.headers()[WWW_AUTHENTICATE]
            .to_str()
            .is_ok_and(|h| h.ends_with("stale=TRUE"))
    );
    assert_eq!(sim.stats(0).auth_failures, 0);
}
