//! What can go wrong with the object store, sorted by what the caller should do.

use std::path::PathBuf;

/// An object store failure.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The store cannot be reached or did not answer in time, or answered a server error:
    /// nothing was done, and retrying later may succeed. The API answers 503
    /// `object_store_unavailable`.
    #[error("the object store is unavailable: {0}")]
    Unavailable(String),
    /// A key or content type the store does not take (a caller's mistake, or bad input).
    #[error("{0}")]
    Invalid(String),
    /// The disk backend could not read or write its folder.
    #[error("object store folder: {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The S3 server refused the request (credentials, a missing bucket, a policy) or the
    /// request could not be made; retrying will not help until the configuration changes.
    #[error("object store refused {operation} on bucket {bucket}: {message}")]
    Refused {
        operation: &'static str,
        bucket: String,
        message: String,
    },
}

impl ObjectError {
    /// Whether the same call may succeed later without a change of configuration.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ObjectError::Unavailable(_))
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ObjectError {
        let path = path.into();
        move |source| ObjectError::Io {
            action,
            path,
            source,
        }
    }
}
