//! File operations of the two backends behind one interface: creating and writing a partial
//! file, renaming it into place, syncing the directory, removing files.
//!
//! On [`FileIo::Uring`] every one of them goes through the io_uring thread. On
//! [`FileIo::Tokio`] they are `tokio::fs` calls; each write waits until the bytes reached
//! the kernel (`flush`), so a full disk fails the write that hit it, not a later one.

use std::{
    io::{self, SeekFrom},
    path::Path,
};

use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{CacheBackend, uring::Uring, uring::UringFile};

/// The backend in use.
#[derive(Debug)]
pub(super) enum FileIo {
    Uring(Uring),
    Tokio,
}

/// A partial entry file open for writing.
#[derive(Debug)]
pub(super) enum PartFile {
    Uring {
        file: UringFile,
        /// The buffer of the last write, reused for the next one.
        spare: Vec<u8>,
    },
    Tokio {
        file: tokio::fs::File,
        /// Where the file's cursor is, to seek only when a write is elsewhere.
        position: u64,
    },
}

impl FileIo {
    pub(super) fn backend(&self) -> CacheBackend {
        match self {
            FileIo::Uring(_) => CacheBackend::Uring,
            FileIo::Tokio => CacheBackend::Tokio,
        }
    }

    /// Creates `path`, which must not exist.
    pub(super) async fn create(&self, path: &Path) -> io::Result<PartFile> {
        self.open(path, true).await
    }

    /// Opens the existing `path` for writing (tests point writes at `/dev/full` with it).
    #[cfg(test)]
    pub(super) async fn open_existing(&self, path: &Path) -> io::Result<PartFile> {
        self.open(path, false).await
    }

    async fn open(&self, path: &Path, create_new: bool) -> io::Result<PartFile> {
        match self {
            FileIo::Uring(uring) => Ok(PartFile::Uring {
                file: uring.open(path, create_new).await?,
                spare: Vec::new(),
            }),
            FileIo::Tokio => Ok(PartFile::Tokio {
                file: tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(create_new)
                    .open(path)
                    .await?,
                position: 0,
            }),
        }
    }

    /// Renames `from` to `to`, replacing `to` if it exists.
    pub(super) async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match self {
            FileIo::Uring(uring) => uring.rename(from, to).await,
            FileIo::Tokio => tokio::fs::rename(from, to).await,
        }
    }

    /// fsyncs the directory `dir`.
    pub(super) async fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match self {
            FileIo::Uring(uring) => uring.sync_dir(dir).await,
            FileIo::Tokio => {
                let dir = dir.to_owned();
                tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
                    .await
                    .map_err(io::Error::other)?
            }
        }
    }

    /// Removes `path`; a file already gone is not an error.
    pub(super) async fn remove(&self, path: &Path) -> io::Result<()> {
        let removed = match self {
            FileIo::Uring(uring) => uring.remove(path).await,
            FileIo::Tokio => tokio::fs::remove_file(path).await,
        };
        match removed {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

impl PartFile {
    /// Writes all of `bytes` at `offset`.
    pub(super) async fn write_at(&mut self, bytes: &[u8], offset: u64) -> io::Result<()> {
        match self {
            PartFile::Uring { file, spare } => {
                let mut buf = std::mem::take(spare);
                buf.clear();
                buf.extend_from_slice(bytes);
                let (written, buf) = file.write_at(buf, offset).await;
                *spare = buf;
                written
            }
            PartFile::Tokio { file, position } => {
                if *position != offset {
                    file.seek(SeekFrom::Start(offset)).await?;
                    *position = offset;
                }
                file.write_all(bytes).await?;
                file.flush().await?;
                *position += bytes.len() as u64;
                Ok(())
            }
        }
    }

    /// fsyncs the file.
    pub(super) async fn sync(&mut self) -> io::Result<()> {
        match self {
            PartFile::Uring { file, .. } => file.sync().await,
            PartFile::Tokio { file, .. } => file.sync_all().await,
        }
    }

    /// Closes the file, reporting a failure the close reports.
    pub(super) async fn close(self) -> io::Result<()> {
        match self {
            PartFile::Uring { file, .. } => file.close().await,
            PartFile::Tokio { mut file, .. } => file.flush().await,
        }
    }
}
