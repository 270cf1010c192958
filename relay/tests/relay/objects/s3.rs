//! The S3 backend against a real S3 server (s3s-fs), which checks the presigned URLs the
//! relay hands out: their signature, key, method, content type and expiry.

use std::time::Duration;

use relay::config::{Config, ObjectBackend, S3Config};
use relay::db::Db;
use relay::objects::{ContentType, ObjectError, ObjectKey};
use relay::state::{AppState, StateError};
use reqwest::StatusCode;
use testkit::S3Server;

use super::{
    MINUTES, assert_deleted, assert_holds, jpeg, long_ago, presign_put, put, snapshot_key,
};
use crate::harness::{Backend, TestDb, TestRelay, test_config};

const BUCKET: &str = "dipper-objects";

fn use_s3(config: &mut Config, server: &S3Server, create_bucket: bool) {
    config.objects.backend = ObjectBackend::S3;
    config.objects.s3 = Some(S3Config {
        endpoint: Some(server.endpoint()),
        region: "us-east-1".to_owned(),
        bucket: BUCKET.to_owned(),
        access_key_id: server.access_key().to_owned(),
        secret_access_key: server.secret_key().to_owned(),
        path_style: None,
        create_bucket,
    });
}

async fn start(db: &TestDb, server: &S3Server) -> TestRelay {
    TestRelay::start_with(db, |c| use_s3(c, server, true), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_put_then_a_presigned_get_return_the_same_bytes() {
    let server = S3Server::start();
    let db = TestDb::new(Backend::Sqlite).await;
    let relay = start(&db, &server).await;
    let objects = &relay.state.objects;
    assert_eq!(objects.backend_name(), "s3");
    let key = snapshot_key();
    let upload = presign_put(&relay, &key).await;
    assert!(
        upload
            .url
            .starts_with(&format!("{}/{BUCKET}/{key}?", server.endpoint())),
        "{}",
        upload.url
    );
    assert!(
        upload
            .url
            .contains("X-Amz-SignedHeaders=content-type%3Bhost"),
        "{}",
        upload.url
    );
    let bytes = jpeg(20_000);
    assert_eq!(
        put(&upload.url, "image/jpeg", bytes.clone()).await.status(),
        StatusCode::OK
    );

    let download = objects
        .presign_get(&key, MINUTES)
        .await
        .expect("presign get");
    let response = reqwest::get(&download.url).await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK, "{}", server.log());
    assert_eq!(response.bytes().await.expect("body").as_ref(), bytes);

    assert_holds(objects, &key, &bytes, ContentType::Jpeg).await;
    // The relay's own writes: a PNG photo, then removed (twice: absent is fine).
    let photo = ObjectKey::parse(&format!("{}/faces/p/q.png", key.tenant())).expect("key");
    let png = b"\x89PNG\r\n\x1a\n";
    let stored = bytes::Bytes::from_static(png);
    objects
        .put(&photo, stored, ContentType::Png)
        .await
        .expect("put");
    assert_holds(objects, &photo, png, ContentType::Png).await;
    assert_deleted(objects, &photo).await;
    // The relay's own routes are not the store's: 404.
    let at_relay = relay.url(&format!("/objects/{key}?method=GET&expires=1&signature=x"));
    let response = reqwest::get(&at_relay).await.expect("GET");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_refuses_altered_foreign_expired_and_mistyped_urls() {
    let server = S3Server::start();
    let db = TestDb::new(Backend::Sqlite).await;
    let relay = start(&db, &server).await;
    let objects = &relay.state.objects;
    let (key, other) = (snapshot_key(), snapshot_key());
    let upload = presign_put(&relay, &key).await;

    let (head, signature) = upload
        .url
        .rsplit_once("X-Amz-Signature=")
        .expect("signature");
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{head}X-Amz-Signature={flipped}{}", &signature[1..]);
    assert_eq!(
        put(&tampered, "image/jpeg", jpeg(10)).await.status(),
        StatusCode::FORBIDDEN
    );
    let for_other = upload.url.replace(key.as_str(), other.as_str());
    assert_eq!(
        put(&for_other, "image/jpeg", jpeg(10)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(&upload.url, "image/png", jpeg(10)).await.status(),
        StatusCode::FORBIDDEN
    );
    let expired = objects
        .presign_put_from(&key, long_ago(), Duration::from_secs(60), ContentType::Jpeg)
        .await
        .expect("presign");
    assert_eq!(
        put(&expired.url, "image/jpeg", jpeg(10)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(!objects.exists(&key).await.expect("exists"));
    assert!(!objects.exists(&other).await.expect("exists"));

    // The genuine URL still works, and a read URL reads only until it expires.
    assert_eq!(
        put(&upload.url, "image/jpeg", jpeg(10)).await.status(),
        StatusCode::OK
    );
    let expired = objects
        .presign_get_from(&key, long_ago(), Duration::from_secs(60))
        .await
        .expect("presign");
    let response = reqwest::get(&expired.url).await.expect("GET");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_down_is_unavailable_until_it_is_back() {
    let mut server = S3Server::start();
    let db = TestDb::new(Backend::Sqlite).await;
    let relay = start(&db, &server).await;
    let objects = &relay.state.objects;
    let key = snapshot_key();
    server.stop();
    let error = objects
        .put(&key, jpeg(10).into(), ContentType::Jpeg)
        .await
        .expect_err("down");
    assert!(matches!(error, ObjectError::Unavailable(_)), "{error}");
    assert!(error.is_retryable());
    let error = objects.get(&key).await.expect_err("down");
    assert!(matches!(error, ObjectError::Unavailable(_)), "{error}");
    let answer = relay::error::ApiError::from(error);
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.code().as_str(), "object_store_unavailable");
    // Presigning needs no store: a box can be handed URLs to use once it is back.
    let upload = presign_put(&relay, &key).await;

    server.resume();
    assert_eq!(
        put(&upload.url, "image/jpeg", jpeg(10)).await.status(),
        StatusCode::OK
    );
    objects
        .put(&key, jpeg(11).into(), ContentType::Jpeg)
        .await
        .expect("back");
    let object = objects.get(&key).await.expect("get").expect("there");
    assert_eq!(object.bytes.as_ref(), jpeg(11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_or_store_fails_the_start() {
    let mut server = S3Server::start();
    let db = TestDb::new(Backend::Sqlite).await;
    let error = start_error(&db, &server, false).await;
    let text = error.to_string();
    assert!(
        matches!(error, StateError::Objects(ObjectError::Refused { .. })),
        "{text}"
    );
    assert!(
        text.contains(BUCKET) && text.contains("objects.s3.create_bucket"),
        "{text}"
    );
    server.stop();
    let error = start_error(&db, &server, true).await;
    assert!(
        matches!(error, StateError::Objects(ObjectError::Unavailable(_))),
        "{error}"
    );
}

/// Why a relay on `server` does not start.
async fn start_error(db: &TestDb, server: &S3Server, create_bucket: bool) -> StateError {
    let mut config = test_config(db);
    use_s3(&mut config, server, create_bucket);
    let pool = Db::connect_and_migrate(&config.database).await.expect("db");
    match AppState::new(config, pool).await {
        Ok(_) => panic!("the relay started"),
        Err(error) => error,
    }
}
