//! The disk backend, the default: each object is the file `{dir}/{key}`, served by the
//! relay's own routes (`api/objects.rs`) to holders of a URL signed with the shared key
//! ([`super::signing`]).
//!
//! A write goes to a temporary file beside the object (`.{name}.part-{random}`, which no
//! key can name, so it is never served), is fsynced, renamed over the object and the folder
//! fsynced: a reader sees the old object or the new one, never a part. The content type is
//! the key's extension.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use uuid::Uuid;

use super::signing::{Refusal, UrlMethod, UrlSigner};
use super::{Object, ObjectError, ObjectKey, Presigned};

#[derive(Debug)]
pub(crate) struct DiskStore {
    dir: PathBuf,
    public_url: String,
    signer: UrlSigner,
}

impl DiskStore {
    pub(crate) fn new(dir: PathBuf, public_url: String, signer: UrlSigner) -> DiskStore {
        DiskStore {
            dir,
            public_url,
            signer,
        }
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        // A checked key is a relative path of plain segments: it stays inside `dir`.
        self.dir.join(key.as_str())
    }

    /// Makes the folder and proves it writable with a file written, fsynced and removed.
    pub(crate) async fn check(&self) -> Result<(), ObjectError> {
        let dir = self.dir.clone();
        blocking(move || {
            std::fs::create_dir_all(&dir).map_err(ObjectError::io("creating", &dir))?;
            let probe = dir.join(format!(".write-check-{}", Uuid::new_v4().simple()));
            write_whole(&probe, b"dipper").map_err(ObjectError::io("writing", &probe))?;
            std::fs::remove_file(&probe).map_err(ObjectError::io("removing", &probe))
        })
        .await
    }

    pub(crate) async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), ObjectError> {
        let path = self.path(key);
        blocking(move || write_atomically(&path, &bytes)).await
    }

    pub(crate) async fn get(&self, key: &ObjectKey) -> Result<Option<Object>, ObjectError> {
        let path = self.path(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(Object {
                bytes: Bytes::from(bytes),
                content_type: key.content_type(),
            })),
            Err(e) if absent(&e) => Ok(None),
            Err(e) => Err(ObjectError::io("reading", path)(e)),
        }
    }

    pub(crate) async fn exists(&self, key: &ObjectKey) -> Result<bool, ObjectError> {
        let path = self.path(key);
        match tokio::fs::metadata(&path).await {
            Ok(metadata) => Ok(metadata.is_file()),
            Err(e) if absent(&e) => Ok(false),
            Err(e) => Err(ObjectError::io("reading", path)(e)),
        }
    }

    pub(crate) async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if absent(&e) => Ok(()),
            Err(e) => Err(ObjectError::io("removing", path)(e)),
        }
    }

    /// A URL for `method` on `key`, good from `start` for `ttl` (whole seconds).
    pub(crate) fn presign(
        &self,
        method: UrlMethod,
        key: &ObjectKey,
        start: SystemTime,
        ttl: Duration,
    ) -> Presigned {
        let start = start
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let expires = start.saturating_add(ttl.as_secs());
        let signature = self.signer.sign(method, key, expires);
        Presigned {
            url: format!(
                "{}/objects/{key}?method={}&expires={expires}&signature={signature}",
                self.public_url,
                method.as_str()
            ),
            expires_at_ms: i64::try_from(expires.saturating_mul(1000)).unwrap_or(i64::MAX),
        }
    }

    /// Checks a request made with `request_method` on `key` with a URL's `(method, expires,
    /// signature)`, now.
    pub(crate) fn authorize(
        &self,
        request_method: UrlMethod,
        key: &ObjectKey,
        url: (UrlMethod, u64, &str),
    ) -> Result<(), Refusal> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.signer.verify(request_method, key, url, now)
    }
}

fn absent(error: &std::io::Error) -> bool {
    // A key under what is a file (`a.jpg/b.jpg`) is as absent as a missing one.
    matches!(
        error.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ObjectError> + Send + 'static,
) -> Result<T, ObjectError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ObjectError::Unavailable(format!("the disk task did not finish: {e}")))?
}

/// Writes `bytes` to a new file at `path` and fsyncs it.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create_new(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replaces the object at `path` with `bytes`: temporary file, fsync, rename, folder fsync.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ObjectError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ObjectError::io("creating", parent))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let part = parent.join(format!(".{name}.part-{}", Uuid::new_v4().simple()));
    let written = write_whole(&part, bytes)
        .map_err(ObjectError::io("writing", &part))
        .and_then(|()| std::fs::rename(&part, path).map_err(ObjectError::io("renaming", &part)));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&part);
        return Err(error);
    }
    std::fs::File::open(parent)
        .and_then(|folder| folder.sync_all())
        .map_err(ObjectError::io("syncing", parent))
}
