//! The object store (`relay/src/objects/`) over real HTTP: the relay's own disk backend
//! with its signed URLs (`disk.rs`), the S3 backend against a real S3 server, s3s-fs, which
//! checks the presigned URLs itself (`s3.rs`), and the binary with no configuration
//! (`binary.rs`).

mod binary;
mod disk;
mod s3;

use std::time::{Duration, SystemTime};

use relay::objects::{ContentType, ObjectKey, ObjectStore, Presigned, SnapshotKind};
use uuid::Uuid;

use crate::harness::TestRelay;

/// A JPEG's first bytes, then `len - 3` bytes of a pattern: what the routes take as JPEG.
pub(crate) fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF];
    bytes.extend((0..len.saturating_sub(3)).map(|i| (i % 251) as u8));
    bytes
}

/// A face snapshot's key in a new tenant.
pub(crate) fn snapshot_key() -> ObjectKey {
    let time_ms = 1_772_409_600_000;
    ObjectKey::snapshot(
        Uuid::new_v4(),
        Uuid::new_v4(),
        time_ms,
        Uuid::new_v4(),
        7,
        SnapshotKind::Face,
    )
    .expect("key")
}

/// Two hours ago: a URL presigned from then for a minute has long expired.
pub(crate) fn long_ago() -> SystemTime {
    SystemTime::now() - Duration::from_secs(2 * 3600)
}

pub(crate) const MINUTES: Duration = Duration::from_secs(600);

/// A URL to PUT a JPEG at `key` for ten minutes, presigned by `relay`'s store.
pub(crate) async fn presign_put(relay: &TestRelay, key: &ObjectKey) -> Presigned {
    let objects = &relay.state.objects;
    objects
        .presign_put(key, MINUTES, ContentType::Jpeg)
        .await
        .expect("presign put")
}

/// PUTs `body` as `content_type` to a presigned `url`.
pub(crate) async fn put(url: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .put(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("PUT")
}

/// Asserts that `objects` holds `bytes` of `content_type` at `key`.
pub(crate) async fn assert_holds(
    objects: &ObjectStore,
    key: &ObjectKey,
    bytes: &[u8],
    content_type: ContentType,
) {
    let object = objects.get(key).await.expect("get").expect("there");
    assert_eq!(
        (object.bytes.as_ref(), object.content_type),
        (bytes, content_type)
    );
    assert!(objects.exists(key).await.expect("exists"));
}

/// Deletes `key` from `objects` twice (absent is fine) and asserts it is gone.
pub(crate) async fn assert_deleted(objects: &ObjectStore, key: &ObjectKey) {
    objects.delete(key).await.expect("delete");
    objects.delete(key).await.expect("delete again");
    assert!(!objects.exists(key).await.expect("exists"));
    assert_eq!(objects.get(key).await.expect("get"), None);
}
