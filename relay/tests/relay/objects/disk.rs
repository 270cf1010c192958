//! The disk backend: URLs the relay signs, served by its own `/objects/...` routes.

use std::time::Duration;

use relay::objects::{ContentType, ObjectError, ObjectKey, Presigned};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{
    MINUTES, assert_deleted, assert_holds, jpeg, long_ago, presign_put, put, snapshot_key,
};
use crate::harness::{Backend, TestDb, TestRelay};
use crate::on_both_backends;

on_both_backends!(
    a_signed_put_then_a_signed_get_return_the_same_bytes,
    urls_outlive_a_restart_and_work_on_every_instance,
);

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("GET")
}

/// The status and `error` code of an answer.
async fn refusal(response: reqwest::Response) -> (StatusCode, String, String) {
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("an error body");
    let code = body["error"].as_str().unwrap_or_default().to_owned();
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    (status, code, message)
}

async fn presign_get(relay: &TestRelay, key: &ObjectKey) -> Presigned {
    relay
        .state
        .objects
        .presign_get(key, MINUTES)
        .await
        .expect("presign get")
}

async fn a_signed_put_then_a_signed_get_return_the_same_bytes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let relay = TestRelay::start(&db).await;
    let objects = &relay.state.objects;
    assert_eq!(objects.backend_name(), "disk");
    let key = snapshot_key();
    let upload = presign_put(&relay, &key).await;
    assert!(
        upload
            .url
            .starts_with(&format!("http://{}/objects/{key}?", relay.addr)),
        "{}",
        upload.url
    );
    let now_ms = relay::db::now_ms();
    assert!(
        (now_ms + 590_000..=now_ms + 601_000).contains(&upload.expires_at_ms),
        "{upload:?}"
    );
    let bytes = jpeg(10_000);
    let response = put(&upload.url, "image/jpeg", bytes.clone()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        std::fs::read(db.objects.path().join(key.as_str())).expect("the file"),
        bytes
    );

    let response = get(&presign_get(&relay, &key).await.url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.bytes().await.expect("body").as_ref(), bytes);

    // The same store from the relay's side: read, exists, delete (twice: absent is fine).
    assert_holds(objects, &key, &bytes, ContentType::Jpeg).await;
    assert_deleted(objects, &key).await;
    let (status, code, _) = refusal(get(&presign_get(&relay, &key).await.url).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    let metrics = relay.metrics().await;
    for series in [
        r#"dipper_relay_objects_total{op="put",outcome="ok"}"#,
        r#"dipper_relay_objects_total{op="get",outcome="ok"}"#,
        r#"dipper_relay_objects_total{op="get",outcome="not_found"}"#,
    ] {
        assert!(metrics.contains(series), "{series} missing from {metrics}");
    }
}

async fn urls_outlive_a_restart_and_work_on_every_instance(backend: Backend) {
    let db = TestDb::new(backend).await;
    let key = snapshot_key();
    let (upload, download) = {
        let first = TestRelay::start(&db).await;
        let second = TestRelay::start(&db).await;
        // A URL the first instance signed, used at the second: the key is shared.
        let upload = presign_put(&first, &key).await;
        let at_second = upload
            .url
            .replace(&first.addr.to_string(), &second.addr.to_string());
        assert_eq!(
            put(&at_second, "image/jpeg", jpeg(64)).await.status(),
            StatusCode::CREATED
        );
        (upload, presign_get(&first, &key).await)
    };
    // Both stopped; a new one on the same database accepts what they signed.
    let again = TestRelay::start(&db).await;
    let path = |url: &str| url.split_once("/objects/").map(|(_, rest)| rest.to_owned());
    let read = again.url(&format!("/objects/{}", path(&download.url).expect("path")));
    let response = get(&read).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("body").as_ref(), jpeg(64));
    let write = again.url(&format!("/objects/{}", path(&upload.url).expect("path")));
    assert_eq!(
        put(&write, "image/jpeg", jpeg(65)).await.status(),
        StatusCode::CREATED
    );
    let object = again
        .state
        .objects
        .get(&key)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(object.bytes.as_ref(), jpeg(65));
}

/// Asserts that `response` is the refusal `status` with `code`, its message saying `says`.
async fn expect_refused(response: reqwest::Response, status: StatusCode, code: &str, says: &str) {
    let (got, got_code, message) = refusal(response).await;
    assert_eq!((got, got_code.as_str()), (status, code), "{message}");
    assert!(message.contains(says), "expected {says:?} in {message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_foreign_and_expired_urls_are_refused() {
    let db = TestDb::new(Backend::Sqlite).await;
    let relay = TestRelay::start(&db).await;
    let (key, other) = (snapshot_key(), snapshot_key());
    let upload = presign_put(&relay, &key).await;
    let forbidden = StatusCode::FORBIDDEN;
    let mismatch = "signature does not match";

    let (head, signature) = upload.url.rsplit_once("signature=").expect("signature");
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}signature={flipped}{}", &signature[1..]);
    let response = put(&tampered, "image/jpeg", jpeg(10)).await;
    expect_refused(response, forbidden, "url_refused", mismatch).await;
    // Signed for key A, used for key B.
    let for_other = upload.url.replace(key.as_str(), other.as_str());
    let response = put(&for_other, "image/jpeg", jpeg(10)).await;
    expect_refused(response, forbidden, "url_refused", mismatch).await;
    // A later expiry than signed.
    let (head, rest) = upload.url.split_once("expires=").expect("expires");
    let later = format!("{head}expires=9{rest}");
    let response = put(&later, "image/jpeg", jpeg(10)).await;
    expect_refused(response, forbidden, "url_refused", mismatch).await;
    // Expired: signed two hours ago for a minute.
    let objects = &relay.state.objects;
    let expired = objects
        .presign_put_from(&key, long_ago(), Duration::from_secs(60), ContentType::Jpeg)
        .await
        .expect("presign");
    let response = put(&expired.url, "image/jpeg", jpeg(10)).await;
    expect_refused(response, forbidden, "url_refused", "expired").await;
    let expired = objects
        .presign_get_from(&key, long_ago(), Duration::from_secs(60))
        .await
        .expect("presign");
    expect_refused(get(&expired.url).await, forbidden, "url_refused", "expired").await;

    assert!(!objects.exists(&key).await.expect("exists"));
    assert!(!objects.exists(&other).await.expect("exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_methods_types_and_paths_are_refused() {
    let db = TestDb::new(Backend::Sqlite).await;
    let relay = TestRelay::start(&db).await;
    let key = snapshot_key();
    let upload = presign_put(&relay, &key).await;
    let (forbidden, unsupported) = (StatusCode::FORBIDDEN, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A read URL used to write, and a write URL used to read.
    let read = presign_get(&relay, &key).await;
    let response = put(&read.url, "image/jpeg", jpeg(10)).await;
    expect_refused(response, forbidden, "url_refused", "another method").await;
    let response = get(&upload.url).await;
    expect_refused(response, forbidden, "url_refused", "another method").await;
    // Another content type than signed, or a body that is not one.
    let response = put(&upload.url, "image/png", jpeg(10)).await;
    let says = "Content-Type: image/jpeg";
    expect_refused(response, unsupported, "unsupported_media_type", says).await;
    let response = put(&upload.url, "image/jpeg", b"<html>".to_vec()).await;
    let says = "not a image/jpeg image";
    expect_refused(response, unsupported, "unsupported_media_type", says).await;
    // No signature at all.
    let response = put(
        &relay.url(&format!("/objects/{key}")),
        "image/jpeg",
        jpeg(10),
    )
    .await;
    expect_refused(response, StatusCode::BAD_REQUEST, "invalid_query", "").await;
    // A key that climbs out of the store's folder (encoded slashes: a URL parser would fold
    // a plain `..` segment away).
    let climbing = relay.url(&format!(
        "/objects/{}%2F..%2F..%2Fx.jpg?method=GET&expires=1&signature=x",
        key.tenant()
    ));
    let response = get(&climbing).await;
    expect_refused(response, StatusCode::BAD_REQUEST, "invalid_path", "`..`").await;

    let objects = &relay.state.objects;
    assert!(!objects.exists(&key).await.expect("exists"));
    let error = objects
        .presign_put(&key, MINUTES, ContentType::Png)
        .await
        .expect_err("a .jpg key holds JPEG");
    assert!(matches!(error, ObjectError::Invalid(_)), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_above_the_limit_are_refused() {
    let db = TestDb::new(Backend::Sqlite).await;
    let relay = TestRelay::start_with(&db, |c| c.objects.max_object_bytes = 100_000, None).await;
    let key = snapshot_key();
    let upload = presign_put(&relay, &key).await;
    let (status, code, _) = refusal(put(&upload.url, "image/jpeg", jpeg(100_001)).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    // Without a declared length (chunked), the limit holds as the body arrives.
    let status = put_chunked(&relay, &upload.url, &jpeg(100_001)).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert!(!relay.state.objects.exists(&key).await.expect("exists"));
    // Exactly the limit is fine (the API's own 64 KiB limit does not apply here).
    assert_eq!(
        put(&upload.url, "image/jpeg", jpeg(100_000)).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        put_chunked(&relay, &upload.url, &jpeg(1000))
            .await
            .get(..12),
        Some("HTTP/1.1 201")
    );
}

/// PUTs `body` to `url` in one chunk of `Transfer-Encoding: chunked`; the status line.
async fn put_chunked(relay: &TestRelay, url: &str, body: &[u8]) -> String {
    let target = url.split_once(&relay.addr.to_string()).expect("our URL").1;
    let mut stream = tokio::net::TcpStream::connect(relay.addr)
        .await
        .expect("connect");
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: image/jpeg\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        relay.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    // The relay may answer and close before taking the whole body.
    let _ = stream.write_all(body).await;
    let _ = stream.write_all(b"\r\n0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_owned()
}
