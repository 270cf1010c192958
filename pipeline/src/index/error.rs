//! [`IndexError`]: what failed, on which file of which index, and what was expected.

use std::{io, path::PathBuf};

/// An index operation that failed. Variants about the store name the file; variants about a
/// vector name the index's model and dimension beside the vector's.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A file operation failed (the disk is full, the directory is not writable, ...).
    #[error("embedding index: cannot {op} {}: {source}", .path.display())]
    Io {
        /// What the index was doing, e.g. "append to".
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The directory holds no index (there is no header file).
    #[error("embedding index: {} holds no index (no {file})", .dir.display())]
    NotAnIndex { dir: PathBuf, file: &'static str },
    /// `create` was asked for a directory that already holds an index.
    #[error("embedding index: {} already holds an index; open it instead", .dir.display())]
    AlreadyExists { dir: PathBuf },
    /// Another `EmbeddingIndex` (in this process or another) has the directory open.
    #[error("embedding index: {} is open elsewhere (its header file is locked)", .dir.display())]
    Locked { dir: PathBuf },
    /// An fsync failed earlier, so what reached the disk is unknown (the kernel may have
    /// dropped the dirty pages); nothing more is written until the index is opened again,
    /// which checks the files.
    #[error(
        "embedding index {}: an fsync failed earlier; open the index again before writing",
        .dir.display()
    )]
    SyncFailed { dir: PathBuf },
    /// The header file is not an index header, or is damaged.
    #[error("embedding index: {} is not a valid index header: {reason}", .path.display())]
    BadHeader { path: PathBuf, reason: String },
    /// The header was written by a newer (or unknown) format version.
    #[error(
        "embedding index: {} has format version {found}; this build reads version {supported}",
        .path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// A data file holds fewer whole entries than were committed by `sync`: it was truncated
    /// or replaced behind the index's back. Committed entries are lost; nothing is repaired.
    #[error(
        "embedding index: {} holds {found} whole entries but {committed} were committed; \
         the file was truncated or replaced",
        .path.display()
    )]
    MissingEntries {
        path: PathBuf,
        committed: u64,
        found: u64,
    },
    /// The index was opened for one model (or created for it) and holds another's vectors.
    #[error(
        "embedding index {}: holds vectors of model {index_model:?}, expected {expected:?}",
        .dir.display()
    )]
    WrongIndexModel {
        dir: PathBuf,
        index_model: String,
        expected: String,
    },
    /// A vector of another model was added or searched; vectors of different models are
    /// never compared.
    #[error(
        "embedding index {}: holds vectors of model {index_model:?}; a vector of model \
         {vector_model:?} cannot be added or searched",
        .dir.display()
    )]
    ModelMismatch {
        dir: PathBuf,
        index_model: String,
        vector_model: String,
    },
    /// A vector (or an index opened for a dimension) of the wrong length.
    #[error(
        "embedding index {}: model {model:?} has {expected}-dimensional vectors, got {actual}",
        .dir.display()
    )]
    DimensionMismatch {
        dir: PathBuf,
        model: String,
        expected: usize,
        actual: usize,
    },
    /// A vector that cannot be normalised: all zeros, or with a NaN or infinite component.
    #[error("embedding index: invalid vector: {reason}")]
    InvalidVector { reason: &'static str },
    /// A model id that cannot be stored (empty, too long, or not printable ASCII).
    #[error("embedding index: invalid model id {id:?}: {reason}")]
    InvalidModelId { id: String, reason: &'static str },
    /// A dimension outside 1..=[`MAX_DIMS`](super::MAX_DIMS).
    #[error("embedding index: invalid dimension {dims}: must be 1 to {max}")]
    InvalidDimension { dims: usize, max: usize },
    /// A query that asks for nothing (no `k` and no threshold) or for something impossible.
    #[error("embedding index: invalid query: {reason}")]
    InvalidQuery { reason: String },
    /// An entry id at or past the number of entries.
    #[error("embedding index: no entry {id}; the index holds {len}")]
    UnknownEntry { id: u64, len: u64 },
}

impl IndexError {
    pub(super) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        IndexError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when the disk (or the quota) was full.
    pub fn is_storage_full(&self) -> bool {
        matches!(
            self,
            IndexError::Io { source, .. }
                if matches!(
                    source.kind(),
                    io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
                )
        )
    }
}
