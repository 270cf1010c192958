//! The object store (`relay/src/objects/`) over real HTTP: the relay's own disk backend
//! with its signed URLs (`disk.rs`), the S3 backend against a real S3 server, s3s-fs, which
//! checks the presigned URLs itself (`s3.rs`), and the binary with no configuration
//! (`binary.rs`).

mod binary;
mod disk;
mod s3;

use std::time::{Duration, SystemTime};

use relay::objects::{ObjectKey, SnapshotKind};
use uuid::Uuid;

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
