//! The cache's error: what failed, on which path, and why.
//!
//! A full disk (or a used-up quota) is its own variant, [`CacheError::StorageFull`], so the
//! caller can tell "the cache has no room" from a broken disk without looking at errno.

use std::{io, path::PathBuf};

/// A cache operation that failed. Every variant that touched a file names it.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// No space left on the device (ENOSPC) or the disk quota is used up (EDQUOT).
    #[error(
        "disk cache: no space left on the device (or the disk quota is used up) to {op} {}",
        .path.display()
    )]
    StorageFull {
        /// What the cache was doing, e.g. "write to".
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Any other failed file operation.
    #[error("disk cache: cannot {op} {}: {}", .path.display(), .source.kind())]
    Io {
        /// What the cache was doing, e.g. "rename into place".
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// [`CacheIo::Uring`](super::CacheIo::Uring) was asked for and io_uring cannot be used.
    #[error(
        "disk cache: io_uring is unavailable ({reason}); use io \"auto\" or \"tokio\" to write \
         with tokio::fs"
    )]
    UringUnavailable { reason: String },
    /// The entry file ended before the recording length its header gives (it was damaged
    /// after it was opened).
    #[error(
        "disk cache: {} ends {missing} bytes before the end its header gives",
        .path.display()
    )]
    Truncated { path: PathBuf, missing: u64 },
    /// The writer failed earlier (its partial file is already removed); start a new one.
    #[error("disk cache: the writer for {} failed earlier; start a new one", .path.display())]
    WriterFailed { path: PathBuf },
    /// Keys are stored in each entry's header and are bounded.
    #[error("disk cache: a key of {len} bytes is longer than the {max} bytes allowed")]
    KeyTooLong { len: usize, max: usize },
    /// A setting of [`CacheConfig`](super::CacheConfig) is unusable.
    #[error("disk cache: invalid config `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
}

impl CacheError {
    /// Wraps an IO error on `path`, making a full disk or quota explicit.
    pub(super) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if is_storage_full(&source) {
            CacheError::StorageFull { op, path, source }
        } else {
            CacheError::Io { op, path, source }
        }
    }

    /// True when the disk (or quota) was full.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, CacheError::StorageFull { .. })
    }
}

fn is_storage_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}
