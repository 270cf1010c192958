//! Opening the cache: the directory, the entries already in it, and the backend.
//!
//! The scan runs with blocking `std::fs` calls on a blocking thread, before anyone can use
//! the cache. It deletes every `*.part` file (a write or a commit that never finished, or an
//! io_uring probe), checks each file named like an entry ([`entry::check`]) and deletes the
//! damaged ones, and leaves any other file alone. The complete entries enter the index in
//! the order of their modification times (a commit and each hit stamp it), oldest first,
//! and the least recently used are evicted down to `max_bytes`.
//!
//! Then the backend: [`CacheIo::Tokio`] as asked; [`CacheIo::Uring`] and [`CacheIo::Auto`]
//! start the io_uring thread and probe it in the cache directory (create, write, fsync,
//! close, rename, fsync the directory, remove), every operation a commit uses. A failure
//! is an error for `Uring`, a fallback to `tokio::fs` for `Auto`, logged with its reason.

use std::{fs, path::Path, time::SystemTime};

use super::{
    CacheConfig, CacheError, CacheIo, DiskCache, Inner, TestHooks,
    entry::{self, KeyHash, PART_SUFFIX},
    file::FileIo,
    index::Index,
    uring::Uring,
};

/// What the scan found.
#[derive(Debug)]
struct Scan {
    index: Index,
    evicted: u64,
    removed_partial: u64,
    removed_damaged: u64,
    /// The newest modification time seen, so new stamps sort after every old one.
    newest: SystemTime,
}

pub(super) async fn open(config: CacheConfig, hooks: TestHooks) -> Result<DiskCache, CacheError> {
    if config.dir.as_os_str().is_empty() {
        return Err(CacheError::InvalidConfig {
            field: "dir",
            reason: "is empty".to_owned(),
        });
    }
    if config.max_bytes == 0 {
        return Err(CacheError::InvalidConfig {
            field: "max_bytes",
            reason: "must be above zero".to_owned(),
        });
    }
    tokio::fs::create_dir_all(&config.dir)
        .await
        .map_err(|e| CacheError::io("create the directory", &config.dir, e))?;
    let dir = config.dir.clone();
    let max_bytes = config.max_bytes;
    let scan = tokio::task::spawn_blocking(move || scan(&dir, max_bytes))
        .await
        .map_err(|e| CacheError::io("scan the directory", &config.dir, e.into()))??;

    let io = choose_backend(&config, &hooks).await?;
    tracing::info!(
        dir = %config.dir.display(),
        backend = io.backend().as_str(),
        entries = scan.index.len(),
        bytes = scan.index.bytes(),
        max_bytes,
        removed_partial = scan.removed_partial,
        removed_damaged = scan.removed_damaged,
        evicted = scan.evicted,
        "disk cache: opened"
    );
    let inner = Inner {
        dir: config.dir,
        max_bytes,
        io,
        index: parking_lot::Mutex::new(scan.index),
        dir_lock: tokio::sync::Mutex::new(()),
        counters: Default::default(),
        last_use_stamp: parking_lot::Mutex::new(scan.newest),
        #[cfg(test)]
        hooks,
    };
    inner.counters.add_evictions(scan.evicted);
    inner.counters.add_damaged(scan.removed_damaged);
    Ok(DiskCache {
        inner: std::sync::Arc::new(inner),
    })
}

async fn choose_backend(config: &CacheConfig, hooks: &TestHooks) -> Result<FileIo, CacheError> {
    match config.io {
        CacheIo::Tokio => Ok(FileIo::Tokio),
        CacheIo::Uring => match probe(&config.dir, hooks).await {
            Ok(uring) => Ok(FileIo::Uring(uring)),
            Err(reason) => Err(CacheError::UringUnavailable { reason }),
        },
        CacheIo::Auto => match probe(&config.dir, hooks).await {
            Ok(uring) => Ok(FileIo::Uring(uring)),
            Err(reason) => {
                tracing::info!(
                    dir = %config.dir.display(),
                    reason,
                    "disk cache: io_uring is unavailable, falling back to tokio::fs"
                );
                Ok(FileIo::Tokio)
            }
        },
    }
}

/// Starts the io_uring thread and runs every operation a commit needs once, in `dir`.
async fn probe(dir: &Path, hooks: &TestHooks) -> Result<Uring, String> {
    #[cfg(test)]
    if hooks.fail_uring_probe {
        return Err("the probe was made to fail by a test".to_owned());
    }
    #[cfg(not(test))]
    let _ = hooks;
    let uring = Uring::start()
        .await
        .map_err(|e| format!("cannot set up an io_uring: {e}"))?;
    let tag = rand::random::<u64>();
    let created = dir.join(format!("uring-probe-{tag:016x}{PART_SUFFIX}"));
    let renamed = dir.join(format!("uring-probe-{tag:016x}-renamed{PART_SUFFIX}"));
    let failed = |what: &str, path: &Path, e: std::io::Error| {
        format!("cannot {what} {} with io_uring: {e}", path.display())
    };
    let probed = async {
        let file = uring
            .open(&created, true)
            .await
            .map_err(|e| failed("create", &created, e))?;
        let (written, _) = file.write_at(b"io_uring probe".to_vec(), 0).await;
        written.map_err(|e| failed("write to", &created, e))?;
        file.sync()
            .await
            .map_err(|e| failed("fsync", &created, e))?;
        file.close()
            .await
            .map_err(|e| failed("close", &created, e))?;
        uring
            .rename(&created, &renamed)
            .await
            .map_err(|e| failed("rename", &created, e))?;
        uring
            .sync_dir(dir)
            .await
            .map_err(|e| failed("fsync the directory", dir, e))?;
        uring
            .remove(&renamed)
            .await
            .map_err(|e| failed("remove", &renamed, e))
    }
    .await;
    if probed.is_err() {
        // Rare and tiny: plain blocking unlinks. The next open would delete them anyway.
        let _ = fs::remove_file(&created);
        let _ = fs::remove_file(&renamed);
    }
    probed.map(|()| uring)
}

/// Reads the directory (blocking); see the module doc.
fn scan(dir: &Path, max_bytes: u64) -> Result<Scan, CacheError> {
    let read_failed = |e| CacheError::io("read the directory", dir, e);
    let mut found = Vec::new();
    let mut removed_partial = 0;
    let mut removed_damaged = 0;
    for dir_entry in fs::read_dir(dir).map_err(read_failed)? {
        let dir_entry = dir_entry.map_err(read_failed)?;
        let path = dir_entry.path();
        let file_name = dir_entry.file_name();
        let name = file_name.to_string_lossy();
        let is_file = dir_entry.file_type().map_err(read_failed)?.is_file();
        if is_file && name.ends_with(PART_SUFFIX) {
            remove(&path, "a partial file left by an unfinished write");
            removed_partial += 1;
            continue;
        }
        let Some(hash) = KeyHash::from_file_name(&name).filter(|_| is_file) else {
            tracing::warn!(
                path = %path.display(),
                "disk cache: leaving alone a file that is not the cache's"
            );
            continue;
        };
        let checked = fs::File::open(&path)
            .map_err(|e| entry::Damage(format!("cannot open it: {e}")))
            .and_then(|mut file| {
                let checked = entry::check(&mut file, hash, None)?;
                let modified = file.metadata().and_then(|m| m.modified()).map_err(|e| {
                    entry::Damage(format!("cannot read its modification time: {e}"))
                })?;
                Ok((checked, modified))
            });
        match checked {
            Ok((checked, modified)) => {
                found.push((modified, hash, checked.header_len + checked.recording_len));
            }
            Err(entry::Damage(reason)) => {
                tracing::warn!(
                    path = %path.display(),
                    reason,
                    "disk cache: discarding a damaged entry"
                );
                remove(&path, "a damaged entry");
                removed_damaged += 1;
            }
        }
    }
    // Oldest first; equal times fall back to the name, so the order is the same each open.
    found.sort_unstable();
    let newest = found.last().map_or(SystemTime::UNIX_EPOCH, |f| f.0);
    let mut index = Index::default();
    for (_, hash, size) in found {
        index.insert(hash, size);
    }
    let evicted = index.evict_over(max_bytes);
    for hash in &evicted {
        remove(&dir.join(hash.file_name()), "an evicted entry");
    }
    Ok(Scan {
        index,
        evicted: evicted.len() as u64,
        removed_partial,
        removed_damaged,
        newest,
    })
}

fn remove(path: &Path, what: &str) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(
            path = %path.display(),
            error = %e,
            "disk cache: cannot remove {what}"
        ),
    }
}
