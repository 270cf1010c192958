//! Disk cache settings. Every default is written in its doc comment.

use std::path::PathBuf;

/// Where the cache lives, how big it may grow and which file IO writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// The directory holding the cache; created at open if missing. The cache owns the files
    /// in it named like an entry (64 hex digits) or ending in `.part`, and leaves any other
    /// file alone. One cache per directory: opening deletes every partial file in it,
    /// another instance's too. Default `/var/cache/dipper/recordings`.
    pub dir: PathBuf,
    /// Most bytes the complete entries may take on disk, headers included; the least recently
    /// used entries are evicted past it. Entries still being written are not counted until
    /// they are committed. Must be above zero. Default 10 GiB.
    pub max_bytes: u64,
    /// Which file IO writes entries. Default [`CacheIo::Auto`].
    pub io: CacheIo,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            dir: PathBuf::from("/var/cache/dipper/recordings"),
            max_bytes: 10 * 1024 * 1024 * 1024,
            io: CacheIo::default(),
        }
    }
}

/// The file IO asked for. What is in use is a [`CacheBackend`](super::CacheBackend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheIo {
    /// io_uring when a probe at open shows the kernel allows it, otherwise `tokio::fs`
    /// (containers often forbid io_uring). The default.
    #[default]
    Auto,
    /// io_uring, or [`CacheError::UringUnavailable`](super::CacheError::UringUnavailable)
    /// at open.
    Uring,
    /// Plain `tokio::fs` (blocking calls on tokio's blocking threads).
    Tokio,
}
