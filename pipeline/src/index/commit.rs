//! Making appended entries durable, apart from the index's in-memory state: the data files
//! are fsynced, then the commit record names how many entries are whole on disk.
//!
//! [`Committer`] holds its own handles on the files (clones of the store's), the count of
//! entries written and the count committed, so a sync needs no access to the index: the
//! daemon appends under its write lock and syncs after letting go, and searches never wait
//! for an fsync. Syncs run one at a time; each commits every entry written when it began.

use std::{
    fs::File,
    io,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use parking_lot::Mutex;

use super::error::IndexError;

/// Length of `index.commit`.
pub(super) const COMMIT_LEN: usize = 16;
const COMMIT_MAGIC: [u8; 4] = *b"DCMT";

/// The commit record and the data files' handles, shared by a store and its syncers.
#[derive(Debug)]
pub(super) struct Committer {
    dir: PathBuf,
    /// The three data files, to fsync, with their paths for errors.
    data: Vec<(File, PathBuf)>,
    commit: File,
    commit_path: PathBuf,
    /// Held while a sync runs: one at a time, in order.
    syncing: Mutex<()>,
    /// Entries whole in the data files (appended).
    written: AtomicU64,
    /// Entries the commit record names.
    committed: AtomicU64,
    /// An fsync failed: refuse to write until reopened.
    failed: AtomicBool,
}

impl Committer {
    /// `data`: the data files' handles and paths; `commit`: the open commit record.
    pub(super) fn new(
        dir: &Path,
        data: Vec<(File, PathBuf)>,
        commit: File,
        commit_path: PathBuf,
    ) -> Committer {
        Committer {
            dir: dir.to_owned(),
            data,
            commit,
            commit_path,
            syncing: Mutex::new(()),
            written: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// The count the commit record holds; `None` when it is missing or damaged.
    pub(super) fn read(&self) -> Result<Option<u64>, IndexError> {
        let mut bytes = [0u8; COMMIT_LEN];
        match self.commit.read_exact_at(&mut bytes, 0) {
            Ok(()) => Ok(decode_commit(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(IndexError::io("read", &self.commit_path, e)),
        }
    }

    /// After recovery at open: what is on disk and what the record says.
    pub(super) fn set_counts(&self, written: u64, committed: u64) {
        self.written.store(written, Ordering::Release);
        self.committed.store(committed, Ordering::Release);
    }

    /// Entries appended and whole in the data files (durable or not).
    pub(super) fn set_written(&self, written: u64) {
        self.written.store(written, Ordering::Release);
    }

    pub(super) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Refuses writes after a failed fsync.
    pub(super) fn check_usable(&self) -> Result<(), IndexError> {
        if self.failed.load(Ordering::Acquire) {
            Err(IndexError::SyncFailed {
                dir: self.dir.clone(),
            })
        } else {
            Ok(())
        }
    }

    /// Makes every entry written so far durable; nothing to do when they already are.
    pub(super) fn sync(&self) -> Result<(), IndexError> {
        let _one_at_a_time = self.syncing.lock();
        let target = self.written.load(Ordering::Acquire);
        if self.committed() >= target {
            return Ok(());
        }
        self.commit_now(target)
    }

    /// Fsyncs the data files and commits `entries`, even when the record already says so.
    pub(super) fn commit_now(&self, entries: u64) -> Result<(), IndexError> {
        self.check_usable()?;
        let result = self.sync_and_commit(entries);
        // After a failed fsync the kernel may have dropped the pages it could not write and
        // a second fsync may report success: nothing written since can be trusted.
        self.failed.store(result.is_err(), Ordering::Release);
        result
    }

    fn sync_and_commit(&self, entries: u64) -> Result<(), IndexError> {
        for (file, path) in &self.data {
            file.sync_data()
                .map_err(|e| IndexError::io("fsync", path, e))?;
        }
        self.commit
            .write_all_at(&encode_commit(entries), 0)
            .map_err(|e| IndexError::io("write", &self.commit_path, e))?;
        self.commit
            .sync_data()
            .map_err(|e| IndexError::io("fsync", &self.commit_path, e))?;
        self.committed.store(entries, Ordering::Release);
        Ok(())
    }
}

pub(super) fn encode_commit(entries: u64) -> [u8; COMMIT_LEN] {
    let mut bytes = [0u8; COMMIT_LEN];
    bytes[0..8].copy_from_slice(&entries.to_le_bytes());
    let crc = crc32fast::hash(&bytes[0..8]);
    bytes[8..12].copy_from_slice(&crc.to_le_bytes());
    bytes[12..16].copy_from_slice(&COMMIT_MAGIC);
    bytes
}

fn decode_commit(bytes: &[u8; COMMIT_LEN]) -> Option<u64> {
    let entries = u64::from_le_bytes(bytes[0..8].try_into().ok()?);
    let crc = u32::from_le_bytes(bytes[8..12].try_into().ok()?);
    (bytes[12..16] == COMMIT_MAGIC && crc == crc32fast::hash(&bytes[0..8])).then_some(entries)
}
