//! Reading a cached recording.
//!
//! A [`CacheReader`] holds its entry's file open from the moment
//! [`DiskCache::get`](super::DiskCache::get) checked it, so evicting or replacing the entry
//! meanwhile (which unlinks or renames over the file) does not disturb it. It reads with
//! `tokio::fs` on both backends and yields the recording's bytes only, never the header.

use std::{
    fs::File,
    io::{Seek, SeekFrom},
    path::PathBuf,
    time::SystemTime,
};

use tokio::io::AsyncReadExt;

use super::{
    CacheError,
    entry::{self, Damage, KeyHash},
};

/// An open cached recording.
#[derive(Debug)]
pub struct CacheReader {
    file: tokio::fs::File,
    path: PathBuf,
    len: u64,
    remaining: u64,
}

/// Why an entry could not be opened.
#[derive(Debug)]
pub(super) enum OpenFailure {
    /// The file is gone (evicted or replaced since it was looked up, or removed by hand).
    Missing,
    Damaged(Damage),
}

impl CacheReader {
    /// The recording's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty recording.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the next bytes of the recording into `buf`; `Ok(0)` at its end (or for an
    /// empty `buf`).
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<usize, CacheError> {
        let wanted = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
        if wanted == 0 {
            return Ok(0);
        }
        let read = self
            .file
            .read(&mut buf[..wanted])
            .await
            .map_err(|e| CacheError::io("read", &self.path, e))?;
        if read == 0 {
            return Err(CacheError::Truncated {
                path: self.path.clone(),
                missing: self.remaining,
            });
        }
        self.remaining -= read as u64;
        Ok(read)
    }

    /// Opens and checks the entry of `key` at `path` and stamps its modification time with
    /// `used_at` (the recency a later open reads back). Blocking: call on a blocking thread.
    pub(super) fn open_blocking(
        path: PathBuf,
        key: &str,
        used_at: SystemTime,
    ) -> Result<CacheReader, OpenFailure> {
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OpenFailure::Missing);
            }
            Err(e) => {
                return Err(OpenFailure::Damaged(Damage(format!("cannot open it: {e}"))));
            }
        };
        let checked =
            entry::check(&mut file, KeyHash::of(key), Some(key)).map_err(OpenFailure::Damaged)?;
        // check() leaves the cursor after the header; make sure of it.
        file.seek(SeekFrom::Start(checked.header_len))
            .map_err(|e| OpenFailure::Damaged(Damage(format!("cannot seek in it: {e}"))))?;
        if let Err(e) = file.set_modified(used_at) {
            tracing::debug!(
                path = %path.display(),
                error = %e,
                "disk cache: cannot stamp an entry's use"
            );
        }
        Ok(CacheReader {
            file: tokio::fs::File::from_std(file),
            path,
            len: checked.recording_len,
            remaining: checked.recording_len,
        })
    }
}
