//! Writing an entry: a partial file that only [`CacheWriter::commit`] makes servable.
//!
//! The recording's bytes go after room left for the header; commit writes the header,
//! fsyncs the file, renames it to its final name, fsyncs the directory and only then puts
//! the entry in the index. Until the rename the file ends in `.part` and carries no valid
//! header, so nothing can serve it and the next open deletes it. A write or commit that
//! fails removes the partial file and leaves the writer failed; dropping a writer that was
//! not committed (or cancelling its future) removes the partial file too.

use std::{io, path::PathBuf, sync::Arc, time::SystemTime};

use super::{
    CacheError, Inner,
    entry::{self, KeyHash},
    file::PartFile,
};

/// A cache entry being written.
#[derive(Debug)]
pub struct CacheWriter {
    /// First, so the file is dropped before `inner`: the last `inner` joins the io_uring
    /// thread, which waits for every file handle to go.
    state: State,
    inner: Arc<Inner>,
    key: String,
    hash: KeyHash,
    part_path: PathBuf,
    header_len: u64,
    /// Recording bytes written so far.
    written: u64,
}

#[derive(Debug)]
enum State {
    Writing(PartFile),
    /// The entry grew past `max_bytes`: its file is removed, further bytes are only counted.
    TooLarge,
    /// A write failed (or an operation was cancelled): the partial file is removed.
    Failed,
    Committed,
}

impl CacheWriter {
    /// Creates the partial file of `key` at `part_path`.
    pub(super) async fn start(
        inner: Arc<Inner>,
        key: &str,
        part_path: PathBuf,
    ) -> Result<CacheWriter, CacheError> {
        let header_len = entry::header_len(key.len());
        let mut writer = CacheWriter {
            state: State::Failed,
            inner,
            key: key.to_owned(),
            hash: KeyHash::of(key),
            part_path,
            header_len,
            written: 0,
        };
        if header_len > writer.inner.max_bytes {
            writer.state = State::TooLarge;
            return Ok(writer);
        }
        match writer.inner.io.create(&writer.part_path).await {
            Ok(file) => writer.state = State::Writing(file),
            Err(e) => {
                writer.inner.counters.count_write_error();
                return Err(CacheError::io("create", &writer.part_path, e));
            }
        }
        #[cfg(test)]
        if writer.inner.hooks.disk_full() {
            // The partial file exists; its bytes go to /dev/full, which answers ENOSPC.
            let full = writer.inner.io.open_existing("/dev/full".as_ref()).await;
            match (std::mem::replace(&mut writer.state, State::Failed), full) {
                (State::Writing(file), Ok(full)) => {
                    let _ = file.close().await;
                    writer.state = State::Writing(full);
                }
                (_, Err(e)) => return Err(writer.fail(None, "open /dev/full for", e).await),
                (other, _) => writer.state = other,
            }
        }
        Ok(writer)
    }

    /// Appends `bytes` to the recording. Past `max_bytes` the entry cannot be kept: its file
    /// is dropped at once and later bytes are only counted, so this still succeeds.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), CacheError> {
        let len = bytes.len() as u64;
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Writing(file) if bytes.is_empty() => {
                self.state = State::Writing(file);
                Ok(())
            }
            State::Writing(mut file) => {
                let offset = self.header_len + self.written;
                if offset.saturating_add(len) > self.inner.max_bytes {
                    self.state = State::TooLarge;
                    self.written += len;
                    let _ = file.close().await;
                    self.inner.discard(&self.part_path).await;
                    return Ok(());
                }
                match file.write_at(bytes, offset).await {
                    Ok(()) => {
                        self.written += len;
                        self.state = State::Writing(file);
                        Ok(())
                    }
                    Err(e) => Err(self.fail(Some(file), "write to", e).await),
                }
            }
            State::TooLarge => {
                self.state = State::TooLarge;
                self.written += len;
                Ok(())
            }
            State::Failed | State::Committed => Err(CacheError::WriterFailed {
                path: self.part_path.clone(),
            }),
        }
    }

    /// Makes the entry servable: writes the header, fsyncs the file, renames it to its final
    /// name, fsyncs the directory, adds it to the index as the most recently used entry and
    /// evicts least recently used entries until the cache is within `max_bytes`. An entry
    /// larger than `max_bytes` by itself is not kept (this still returns `Ok`; it counts in
    /// [`CacheStats::too_large`](super::CacheStats::too_large)). An entry of the same key
    /// is replaced; readers of the old one read on undisturbed.
    pub async fn commit(mut self) -> Result<(), CacheError> {
        let mut file = match std::mem::replace(&mut self.state, State::Failed) {
            State::Writing(file) => file,
            State::TooLarge => {
                self.inner.counters.count_too_large();
                tracing::debug!(
                    bytes = self.header_len + self.written,
                    max_bytes = self.inner.max_bytes,
                    "disk cache: an entry larger than the whole cache is not kept"
                );
                return Ok(());
            }
            State::Failed | State::Committed => {
                return Err(CacheError::WriterFailed {
                    path: self.part_path.clone(),
                });
            }
        };
        let header = entry::encode_header(&self.key, self.written);
        if let Err(e) = file.write_at(&header, 0).await {
            return Err(self.fail(Some(file), "write the header of", e).await);
        }
        // The modification time is the entry's recency for the next open.
        let used_at = self.inner.next_use_stamp();
        let part = self.part_path.clone();
        match tokio::task::spawn_blocking(move || stamp(&part, used_at)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "disk cache: cannot stamp a new entry"),
            Err(e) => tracing::debug!(error = %e, "disk cache: cannot stamp a new entry"),
        }
        if let Err(e) = file.sync().await {
            return Err(self.fail(Some(file), "fsync", e).await);
        }
        if let Err(e) = file.close().await {
            return Err(self.fail(None, "close", e).await);
        }

        let inner = self.inner.clone();
        let final_path = inner.entry_path(self.hash);
        let _dir_guard = inner.dir_lock.lock().await;
        if let Err(e) = inner.io.rename(&self.part_path, &final_path).await {
            return Err(self.fail(None, "rename into place", e).await);
        }
        if let Err(e) = inner.io.sync_dir(&inner.dir).await {
            // In place, but the rename may not survive a crash: take the entry out rather
            // than pretend it is stored.
            inner.index.lock().remove(self.hash);
            inner.discard(&final_path).await;
            self.state = State::Failed;
            inner.counters.count_write_error();
            return Err(CacheError::io("fsync the directory", &inner.dir, e));
        }
        self.state = State::Committed;
        let evicted = {
            let mut index = inner.index.lock();
            index.insert(self.hash, self.header_len + self.written);
            index.evict_over(inner.max_bytes)
        };
        inner.remove_evicted(evicted).await;
        Ok(())
    }

    /// Discards the entry and removes its partial file.
    pub async fn abort(mut self) {
        if let State::Writing(file) = std::mem::replace(&mut self.state, State::Failed) {
            let _ = file.close().await;
        }
        self.inner.discard(&self.part_path).await;
    }

    /// Records a failure of `op`: removes the partial file and leaves the writer failed.
    async fn fail(&mut self, file: Option<PartFile>, op: &'static str, e: io::Error) -> CacheError {
        self.state = State::Failed;
        if let Some(file) = file {
            let _ = file.close().await;
        }
        self.inner.discard(&self.part_path).await;
        self.inner.counters.count_write_error();
        CacheError::io(op, &self.part_path, e)
    }
}

impl Drop for CacheWriter {
    /// Removes the partial file of a writer that was not committed. A plain blocking
    /// `unlink`: a drop cannot wait, and the file must be gone when the drop returns.
    fn drop(&mut self) {
        // Closes the file (see the `state` field) before anything else goes.
        if matches!(
            std::mem::replace(&mut self.state, State::Failed),
            State::Committed
        ) {
            return;
        }
        match std::fs::remove_file(&self.part_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                path = %self.part_path.display(),
                error = %e,
                "disk cache: cannot remove a partial file (the next open removes it)"
            ),
        }
    }
}

/// Sets `path`'s modification time (blocking; io_uring has no such operation).
fn stamp(path: &std::path::Path, at: SystemTime) -> io::Result<()> {
    std::fs::File::open(path)?.set_modified(at)
}
