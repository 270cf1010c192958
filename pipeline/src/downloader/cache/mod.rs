//! A local disk cache of downloaded recordings, so a second search over the same footage
//! does not download it again.
//!
//! [`DiskCache`] keeps complete recordings under one directory, bounded by
//! [`CacheConfig::max_bytes`] with least-recently-used eviction. A recording enters through
//! a [`CacheWriter`]: its bytes go to a partial file (`*.part`) that only
//! [`CacheWriter::commit`] renames into place, after writing the header and fsyncing, so a
//! partially written entry is never served, and a crash at any point leaves either the old
//! state or the new. [`DiskCache::get`] checks an entry's header (magic, version, key,
//! length: see `entry.rs`) before serving it; a damaged entry is removed and is a
//! miss. Evictions and replacements unlink or rename over files; a [`CacheReader`] holds its
//! file open, so it reads on undisturbed.
//!
//! Writes go through io_uring (`tokio-uring`, on a dedicated thread: `uring.rs`)
//! where the kernel allows it and through `tokio::fs` where it does not; [`CacheIo::Auto`]
//! decides with a probe at open and logs the choice. Reads use `tokio::fs` on both backends:
//! a hit streams a file once, sequentially, which gains little from io_uring. Recency is
//! kept in memory and stamped on each file's modification time, so a reopened cache evicts
//! in the same order. The counters in [`CacheStats`] are plain numbers for the downloader
//! to export.

mod config;
mod entry;
mod error;
mod file;
mod index;
mod open;
mod reader;
mod uring;
mod writer;

#[cfg(test)]
mod tests;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use parking_lot::Mutex;

pub use config::{CacheConfig, CacheIo};
pub use error::CacheError;
pub use reader::CacheReader;
pub use writer::CacheWriter;

use entry::{KeyHash, MAX_KEY_LEN, PART_SUFFIX};
use file::FileIo;
use index::Index;
use reader::OpenFailure;

/// The file IO in use for writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    /// io_uring, through `tokio-uring` on the cache's own thread.
    Uring,
    /// `tokio::fs`.
    Tokio,
}

impl CacheBackend {
    /// A short name for logs and metric labels: `io_uring` or `tokio_fs`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheBackend::Uring => "io_uring",
            CacheBackend::Tokio => "tokio_fs",
        }
    }
}

/// A snapshot of the cache's size and counters (counters run from open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Complete entries held.
    pub entries: u64,
    /// Their bytes on disk, headers included.
    pub bytes: u64,
    pub max_bytes: u64,
    /// `get` calls that returned a reader.
    pub hits: u64,
    /// `get` calls that returned `None` (damaged entries included).
    pub misses: u64,
    /// Entries evicted to stay within `max_bytes` (at open too).
    pub evictions: u64,
    /// Committed entries not kept because each alone was larger than `max_bytes`.
    pub too_large: u64,
    /// Entries found damaged and removed (at open or on `get`).
    pub damaged: u64,
    /// Writer creations, writes and commits that failed.
    pub write_errors: u64,
}

/// The cache. Cloning shares it; the io_uring thread stops when the last clone and the last
/// writer are gone (readers do not need it).
#[derive(Debug, Clone)]
pub struct DiskCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    io: FileIo,
    index: Mutex<Index>,
    /// Held while a final entry name is renamed onto or unlinked, so that deciding to
    /// remove a file and removing it cannot interleave with a commit of the same key.
    dir_lock: tokio::sync::Mutex<()>,
    counters: Counters,
    /// The last modification time stamped; stamps only grow, so equal clock readings still
    /// give a strict recency order on disk.
    last_use_stamp: Mutex<SystemTime>,
    #[cfg(test)]
    hooks: TestHooks,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    too_large: AtomicU64,
    damaged: AtomicU64,
    write_errors: AtomicU64,
}

/// Faults tests inject; empty outside tests.
#[derive(Debug, Default)]
struct TestHooks {
    /// The io_uring probe fails, as where the kernel forbids io_uring.
    #[cfg(test)]
    fail_uring_probe: bool,
    /// Writers send their bytes to `/dev/full`, as on a full disk.
    #[cfg(test)]
    disk_full: std::sync::atomic::AtomicBool,
}

impl DiskCache {
    /// Opens the cache in `config.dir` (creating it), cleans up and indexes what is there,
    /// and picks the backend; see `open.rs` for the details. Logs the backend.
    pub async fn open(config: CacheConfig) -> Result<DiskCache, CacheError> {
        open::open(config, TestHooks::default()).await
    }

    /// The file IO writes use.
    pub fn backend(&self) -> CacheBackend {
        self.inner.io.backend()
    }

    /// The recording cached under `key`, opened and checked, or `None`. A hit makes the
    /// entry the most recently used. A damaged entry is removed (with a warning) and is a
    /// miss.
    pub async fn get(&self, key: &str) -> Option<CacheReader> {
        let inner = &self.inner;
        let hash = KeyHash::of(key);
        let Some(generation) = inner.index.lock().generation(hash) else {
            inner.counters.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let path = inner.entry_path(hash);
        let used_at = inner.next_use_stamp();
        let (key_owned, path_owned) = (key.to_owned(), path.clone());
        let opened = tokio::task::spawn_blocking(move || {
            CacheReader::open_blocking(path_owned, &key_owned, used_at)
        })
        .await;
        let failure = match opened {
            Ok(Ok(reader)) => {
                inner.index.lock().touch(hash, generation);
                inner.counters.hits.fetch_add(1, Ordering::Relaxed);
                return Some(reader);
            }
            Ok(Err(failure)) => failure,
            Err(e) => {
                // The check never ran to the end (a panic, or the runtime shutting down):
                // nothing is known against the entry, so it stays.
                tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "disk cache: cannot check an entry"
                );
                inner.counters.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        inner.counters.misses.fetch_add(1, Ordering::Relaxed);
        let _dir_guard = inner.dir_lock.lock().await;
        // Still the version looked up? Otherwise it was evicted or replaced meanwhile.
        if !inner.index.lock().remove_if(hash, generation) {
            return None;
        }
        match failure {
            OpenFailure::Missing => tracing::warn!(
                path = %path.display(),
                "disk cache: an entry's file is gone; forgetting the entry"
            ),
            OpenFailure::Damaged(entry::Damage(reason)) => {
                tracing::warn!(
                    path = %path.display(),
                    reason,
                    "disk cache: discarding a damaged entry"
                );
                inner.counters.damaged.fetch_add(1, Ordering::Relaxed);
                inner.discard(&path).await;
            }
        }
        None
    }

    /// Starts writing the entry of `key` (any string up to 16 KiB). Nothing is served until
    /// [`CacheWriter::commit`]; an existing entry of `key` is served until then.
    pub async fn writer(&self, key: &str) -> Result<CacheWriter, CacheError> {
        if key.len() > MAX_KEY_LEN {
            return Err(CacheError::KeyTooLong {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        let part_name = format!(
            "{}.{:016x}{PART_SUFFIX}",
            KeyHash::of(key),
            rand::random::<u64>()
        );
        let part_path = self.inner.dir.join(part_name);
        CacheWriter::start(self.inner.clone(), key, part_path).await
    }

    /// The cache's size and counters now.
    pub fn stats(&self) -> CacheStats {
        let (entries, bytes) = {
            let index = self.inner.index.lock();
            (index.len() as u64, index.bytes())
        };
        let counters = &self.inner.counters;
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CacheStats {
            entries,
            bytes,
            max_bytes: self.inner.max_bytes,
            hits: count(&counters.hits),
            misses: count(&counters.misses),
            evictions: count(&counters.evictions),
            too_large: count(&counters.too_large),
            damaged: count(&counters.damaged),
            write_errors: count(&counters.write_errors),
        }
    }
}

impl Inner {
    fn entry_path(&self, hash: KeyHash) -> PathBuf {
        self.dir.join(hash.file_name())
    }

    /// A modification time later than every one stamped before by this cache.
    fn next_use_stamp(&self) -> SystemTime {
        let mut last = self.last_use_stamp.lock();
        let now = SystemTime::now();
        *last = if now > *last {
            now
        } else {
            *last + Duration::from_micros(1)
        };
        *last
    }

    /// Removes a file the cache no longer wants; a failure is logged (the next open retries).
    async fn discard(&self, path: &std::path::Path) {
        if let Err(e) = self.io.remove(path).await {
            tracing::warn!(
                path = %path.display(),
                error = %e,
                "disk cache: cannot remove a file (the next open retries)"
            );
        }
    }

    /// Unlinks entries the index evicted. Call with `dir_lock` held.
    async fn remove_evicted(&self, evicted: Vec<KeyHash>) {
        self.counters.add_evictions(evicted.len() as u64);
        for hash in evicted {
            self.discard(&self.entry_path(hash)).await;
        }
    }
}

impl Counters {
    fn count_write_error(&self) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn count_too_large(&self) {
        self.too_large.fetch_add(1, Ordering::Relaxed);
    }

    fn add_evictions(&self, n: u64) {
        self.evictions.fetch_add(n, Ordering::Relaxed);
    }

    fn add_damaged(&self, n: u64) {
        self.damaged.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
impl TestHooks {
    fn disk_full(&self) -> bool {
        self.disk_full.load(Ordering::SeqCst)
    }
}
