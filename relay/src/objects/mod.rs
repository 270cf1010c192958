//! The relay's object store: match snapshots and enrolled face photos, written and read by
//! the relay itself or, through presigned URLs, by boxes and operators' browsers, who never
//! hold the store's credentials.
//!
//! Two backends behind one [`ObjectStore`]: the relay's own disk (`disk.rs`, the default:
//! files under `[objects] dir`, served by `api/objects.rs` to holders of a URL signed with a
//! key kept in the database) and an S3 bucket (`s3.rs`, `aws-sdk-s3`; the S3 server checks
//! its own presigned URLs). Either way a URL reads or writes one key, with one method, for a
//! PUT with one content type, until it expires. Keys are [`ObjectKey`]s; the only content
//! types are JPEG and PNG, and a key's extension always agrees with its object's type.

mod content_type;
mod disk;
mod error;
mod key;
pub mod metrics;
mod s3;
pub mod signing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

pub use content_type::ContentType;
pub use error::ObjectError;
pub use key::{KEY_PATTERN, MAX_KEY_BYTES, ObjectKey, SnapshotKind};
pub use signing::{Refusal, UrlMethod};

use crate::config::{ObjectBackend, ObjectsConfig};
use crate::db::{Db, DbError};

/// An object read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub bytes: Bytes,
    pub content_type: ContentType,
}

/// A URL that reads or writes one object until `expires_at_ms` (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub expires_at_ms: i64,
}

/// The object store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    backend: Arc<Backend>,
}

#[derive(Debug)]
enum Backend {
    Disk(disk::DiskStore),
    S3(s3::S3Store),
}

impl ObjectStore {
    /// The store `config` describes. The disk backend's URLs start with
    /// [`ObjectsConfig::public_url`] (by default `http://{listen}`) and are signed with the
    /// key shared through `db`, made on first start. Nothing is checked yet: see
    /// [`ObjectStore::check`].
    pub async fn open(
        config: &ObjectsConfig,
        listen: SocketAddr,
        db: &Db,
    ) -> Result<ObjectStore, DbError> {
        let backend = match (config.backend, &config.s3) {
            (ObjectBackend::S3, Some(s3)) => Backend::S3(s3::S3Store::new(s3)),
            // `Config::validate` refuses `s3` without `[objects.s3]`.
            (ObjectBackend::Disk, _) | (ObjectBackend::S3, None) => {
                if config.public_url.is_none()
                    && (listen.ip().is_unspecified() || listen.port() == 0)
                {
                    tracing::warn!(
                        %listen,
                        "objects.public_url is not set and server.listen is no address a box \
                         can reach: the object store's URLs will not work; set \
                         objects.public_url"
                    );
                }
                let signer = signing::UrlSigner::load(db).await?;
                Backend::Disk(disk::DiskStore::new(
                    config.dir.clone(),
                    config.public_url(listen),
                    signer,
                ))
            }
        };
        Ok(ObjectStore {
            backend: Arc::new(backend),
        })
    }

    /// Run at start: the disk backend makes its folder and proves it writable; the S3
    /// backend heads its bucket and, with `create_bucket`, creates it when missing.
    pub async fn check(&self) -> Result<(), ObjectError> {
        match &*self.backend {
            Backend::Disk(disk) => disk.check().await,
            Backend::S3(s3) => s3.check().await,
        }
    }

    /// `disk` or `s3`.
    pub fn backend_name(&self) -> &'static str {
        match &*self.backend {
            Backend::Disk(_) => "disk",
            Backend::S3(_) => "s3",
        }
    }

    /// Stores `bytes` at `key`, replacing what was there. `content_type` must be the one the
    /// key's extension says.
    pub async fn put(
        &self,
        key: &ObjectKey,
        bytes: Bytes,
        content_type: ContentType,
    ) -> Result<(), ObjectError> {
        matching_type(key, content_type)?;
        let put = match &*self.backend {
            Backend::Disk(disk) => disk.put(key, bytes).await,
            Backend::S3(s3) => s3.put(key, bytes, content_type).await,
        };
        metrics::operation("put", self.backend_name(), put)
    }

    /// The object at `key`, or `None` when there is none.
    pub async fn get(&self, key: &ObjectKey) -> Result<Option<Object>, ObjectError> {
        let got = match &*self.backend {
            Backend::Disk(disk) => disk.get(key).await,
            Backend::S3(s3) => s3.get(key).await,
        };
        metrics::operation("get", self.backend_name(), got)
    }

    pub async fn exists(&self, key: &ObjectKey) -> Result<bool, ObjectError> {
        let exists = match &*self.backend {
            Backend::Disk(disk) => disk.exists(key).await,
            Backend::S3(s3) => s3.exists(key).await,
        };
        metrics::operation("exists", self.backend_name(), exists)
    }

    /// Removes the object at `key`; an absent one is not an error.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), ObjectError> {
        let deleted = match &*self.backend {
            Backend::Disk(disk) => disk.delete(key).await,
            Backend::S3(s3) => s3.delete(key).await,
        };
        metrics::operation("delete", self.backend_name(), deleted)
    }

    /// A URL that reads `key` for `ttl` from now (whole seconds).
    pub async fn presign_get(
        &self,
        key: &ObjectKey,
        ttl: Duration,
    ) -> Result<Presigned, ObjectError> {
        self.presign_get_from(key, SystemTime::now(), ttl).await
    }

    /// A URL that reads `key` from `start` for `ttl` (a start in the past makes a URL that
    /// is already expired, as tests need).
    pub async fn presign_get_from(
        &self,
        key: &ObjectKey,
        start: SystemTime,
        ttl: Duration,
    ) -> Result<Presigned, ObjectError> {
        match &*self.backend {
            Backend::Disk(disk) => Ok(disk.presign(UrlMethod::Get, key, start, ttl)),
            Backend::S3(s3) => s3.presign_get(key, start, ttl).await,
        }
    }

    /// A URL that writes `key` with `content_type` for `ttl` from now. The uploader must
    /// send `Content-Type: {content_type}`; any other is refused.
    pub async fn presign_put(
        &self,
        key: &ObjectKey,
        ttl: Duration,
        content_type: ContentType,
    ) -> Result<Presigned, ObjectError> {
        self.presign_put_from(key, SystemTime::now(), ttl, content_type)
            .await
    }

    /// [`ObjectStore::presign_put`] from `start`.
    pub async fn presign_put_from(
        &self,
        key: &ObjectKey,
        start: SystemTime,
        ttl: Duration,
        content_type: ContentType,
    ) -> Result<Presigned, ObjectError> {
        matching_type(key, content_type)?;
        match &*self.backend {
            Backend::Disk(disk) => Ok(disk.presign(UrlMethod::Put, key, start, ttl)),
            Backend::S3(s3) => s3.presign_put(key, start, ttl, content_type).await,
        }
    }

    /// The disk backend's URL check, for its routes; `None` with the S3 backend.
    pub(crate) fn disk(&self) -> Option<DiskRoutes<'_>> {
        match &*self.backend {
            Backend::Disk(disk) => Some(DiskRoutes(disk)),
            Backend::S3(_) => None,
        }
    }
}

/// What the disk backend's routes may do: check a URL, then read or write.
#[derive(Debug)]
pub(crate) struct DiskRoutes<'a>(&'a disk::DiskStore);

impl DiskRoutes<'_> {
    /// Checks a request of `request_method` on `key` made with a URL's `(method, expires,
    /// signature)`.
    pub(crate) fn authorize(
        &self,
        request_method: UrlMethod,
        key: &ObjectKey,
        url: (UrlMethod, u64, &str),
    ) -> Result<(), Refusal> {
        self.0.authorize(request_method, key, url)
    }
}

fn matching_type(key: &ObjectKey, content_type: ContentType) -> Result<(), ObjectError> {
    if key.content_type() == content_type {
        Ok(())
    } else {
        Err(ObjectError::Invalid(format!(
            "object key {key} holds {}, not {content_type}",
            key.content_type()
        )))
    }
}
