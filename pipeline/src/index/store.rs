//! The index on disk: five files in one directory, data appended in fixed-size records.
//!
//! | file | contents |
//! |---|---|
//! | `index.header` | 128 bytes, written once at create (temporary file, fsync, rename, directory fsync) and never again: magic `DIPPERIX`, format version (u32), dims (u32), the three record lengths (u32 each), model id (length u8, 64 bytes zero-padded), CRC-32 of the bytes before it. Locked (`flock`) while an index has it open. |
//! | `entries.meta` | 48 bytes per entry: recording (u64), crop (u64), time in Unix ms (i64), camera (u32), face box x, y, width, height (4 × f32), CRC-32 (u32) of the 44 bytes before it, the entry's code record and its vector record. |
//! | `entries.codes` | 4 + dims bytes per entry: the quantisation step (f32), then the int8 codes. |
//! | `entries.f32` | 4 × dims bytes per entry: the unit vector (f32). |
//! | `index.commit` | 16 bytes: entries made durable by the last `sync` (u64), CRC-32 of those 8 bytes, `DCMT`. |
//!
//! All numbers are little-endian; entry `i` is record `i` of each data file, so an entry is
//! found by multiplication and read with positioned reads.
//!
//! `sync` fsyncs the three data files and only then rewrites `index.commit`, so every entry
//! it counts is whole on disk. At open, the committed entries are trusted; entries past them
//! (appended but not synced before a crash or a restart) are kept if all three records are
//! whole and their CRC matches, and everything from the first that is not is cut off
//! (reported in [`Recovery`], logged, never served). A data file shorter than the committed
//! count is an error ([`IndexError::MissingEntries`]), not something to repair.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use std::sync::Arc;

use super::{
    commit::{Committer, encode_commit},
    error::IndexError,
    types::{EntryMeta, FaceBox, MAX_MODEL_ID_LEN, validate_dims, validate_model_id},
};

pub(super) const HEADER_FILE: &str = "index.header";
pub(super) const META_FILE: &str = "entries.meta";
pub(super) const CODES_FILE: &str = "entries.codes";
pub(super) const VECTORS_FILE: &str = "entries.f32";
pub(super) const COMMIT_FILE: &str = "index.commit";

const MAGIC: [u8; 8] = *b"DIPPERIX";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 128;
const HEADER_CRC_AT: usize = HEADER_LEN - 4;
pub(super) const META_LEN: usize = 48;
const META_CRC_AT: usize = META_LEN - 4;

/// Entries read per positioned read when loading or verifying.
const READ_CHUNK: usize = 8192;

/// What an index was created for: its model and the length of its vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Header {
    pub model: String,
    pub dims: usize,
}

impl Header {
    fn code_len(&self) -> usize {
        4 + self.dims
    }

    fn vector_len(&self) -> usize {
        4 * self.dims
    }

    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        for (at, value) in [
            (12, self.dims),
            (16, META_LEN),
            (20, self.code_len()),
            (24, self.vector_len()),
        ] {
            bytes[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes());
        }
        bytes[28] = self.model.len() as u8;
        bytes[29..29 + self.model.len()].copy_from_slice(self.model.as_bytes());
        let crc = crc32fast::hash(&bytes[..HEADER_CRC_AT]);
        bytes[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<Header, IndexError> {
        let bad = |reason: String| IndexError::BadHeader {
            path: path.to_owned(),
            reason,
        };
        if bytes.len() != HEADER_LEN {
            return Err(bad(format!("{} bytes, expected {HEADER_LEN}", bytes.len())));
        }
        if bytes[0..8] != MAGIC {
            return Err(bad("wrong magic number".to_owned()));
        }
        let version = u32_at(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(IndexError::UnsupportedVersion {
                path: path.to_owned(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let crc = u32_at(bytes, HEADER_CRC_AT);
        if crc != crc32fast::hash(&bytes[..HEADER_CRC_AT]) {
            return Err(bad("checksum mismatch".to_owned()));
        }
        let dims = u32_at(bytes, 12) as usize;
        validate_dims(dims).map_err(|e| bad(e.to_string()))?;
        let model_len = usize::from(bytes[28]);
        if model_len > MAX_MODEL_ID_LEN {
            return Err(bad(format!("model id length {model_len}")));
        }
        let model = std::str::from_utf8(&bytes[29..29 + model_len])
            .map_err(|_| bad("model id is not UTF-8".to_owned()))?
            .to_owned();
        validate_model_id(&model).map_err(|e| bad(e.to_string()))?;
        let header = Header { model, dims };
        let lengths = [
            (16, META_LEN, "metadata"),
            (20, header.code_len(), "code"),
            (24, header.vector_len(), "vector"),
        ];
        for (at, expected, what) in lengths {
            let found = u32_at(bytes, at) as usize;
            if found != expected {
                return Err(bad(format!(
                    "{what} records of {found} bytes, expected {expected} for {dims} dimensions"
                )));
            }
        }
        Ok(header)
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn f32_at(bytes: &[u8], at: usize) -> f32 {
    f32::from_bits(u32_at(bytes, at))
}

/// What opening an index found and repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Entries the index holds after opening.
    pub entries: u64,
    /// Entries the last `sync` before the restart had committed.
    pub committed: u64,
    /// Entries past the commit (added but not synced) found whole and intact, and kept.
    pub kept_uncommitted: u64,
    /// Partial or damaged entries at the end of the files (a crash mid-append), cut off.
    pub dropped_entries: u64,
    /// The bytes cut off the data files.
    pub dropped_bytes: u64,
    /// `index.commit` was missing or damaged, so every entry was checked as uncommitted.
    pub commit_damaged: bool,
}

impl Recovery {
    /// True when the files were exactly as the last `sync` left them.
    pub fn is_clean(&self) -> bool {
        self.kept_uncommitted == 0
            && self.dropped_entries == 0
            && self.dropped_bytes == 0
            && !self.commit_damaged
    }
}

/// New entries encoded for the three data files.
#[derive(Debug, Default)]
pub(super) struct Records {
    pub count: u64,
    meta: Vec<u8>,
    codes: Vec<u8>,
    vectors: Vec<u8>,
}

impl Records {
    pub(super) fn push(&mut self, meta: &EntryMeta, delta: f32, codes: &[i8], unit: &[f32]) {
        let meta_at = self.meta.len();
        let codes_at = self.codes.len();
        let vectors_at = self.vectors.len();
        let b = &meta.face_box;
        self.meta.extend_from_slice(&meta.recording.to_le_bytes());
        self.meta.extend_from_slice(&meta.crop.to_le_bytes());
        self.meta.extend_from_slice(&meta.time_ms.to_le_bytes());
        self.meta.extend_from_slice(&meta.camera.to_le_bytes());
        for v in [b.x, b.y, b.width, b.height] {
            self.meta.extend_from_slice(&v.to_le_bytes());
        }
        self.codes.extend_from_slice(&delta.to_le_bytes());
        self.codes.extend(codes.iter().map(|&c| c as u8));
        for v in unit {
            self.vectors.extend_from_slice(&v.to_le_bytes());
        }
        let crc = entry_crc(
            &self.meta[meta_at..],
            &self.codes[codes_at..],
            &self.vectors[vectors_at..],
        );
        self.meta.extend_from_slice(&crc.to_le_bytes());
        self.count += 1;
    }
}

fn entry_crc(meta: &[u8], codes: &[u8], vector: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&meta[..META_CRC_AT]);
    hasher.update(codes);
    hasher.update(vector);
    hasher.finalize()
}

/// One entry's metadata record.
pub(super) fn decode_meta(record: &[u8]) -> EntryMeta {
    EntryMeta {
        recording: u64_at(record, 0),
        crop: u64_at(record, 8),
        time_ms: u64_at(record, 16) as i64,
        camera: u32_at(record, 24),
        face_box: FaceBox {
            x: f32_at(record, 28),
            y: f32_at(record, 32),
            width: f32_at(record, 36),
            height: f32_at(record, 40),
        },
    }
}

/// One data file and the length of its records.
#[derive(Debug)]
struct DataFile {
    file: File,
    path: PathBuf,
    record: u64,
}

impl DataFile {
    fn open(dir: &Path, name: &str, record: usize) -> Result<DataFile, IndexError> {
        let path = dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| IndexError::io("open", &path, e))?;
        Ok(DataFile {
            file,
            path,
            record: record as u64,
        })
    }

    fn byte_len(&self) -> Result<u64, IndexError> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| IndexError::io("stat", &self.path, e))
    }

    /// Reads records `first..first + count` into `buf`.
    fn read(&self, first: u64, count: usize, buf: &mut Vec<u8>) -> Result<(), IndexError> {
        buf.resize(count * self.record as usize, 0);
        self.file
            .read_exact_at(buf, first * self.record)
            .map_err(|e| IndexError::io("read", &self.path, e))
    }

    fn write(&self, first: u64, bytes: &[u8]) -> Result<(), IndexError> {
        self.file
            .write_all_at(bytes, first * self.record)
            .map_err(|e| IndexError::io("append to", &self.path, e))
    }

    /// A second handle on the file (to fsync it elsewhere), with its path.
    fn handle(&self) -> Result<(File, PathBuf), IndexError> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| IndexError::io("duplicate the handle of", &self.path, e))?;
        Ok((file, self.path.clone()))
    }

    fn truncate(&self, entries: u64) -> Result<(), IndexError> {
        self.file
            .set_len(entries * self.record)
            .map_err(|e| IndexError::io("truncate", &self.path, e))
    }
}

/// The open files of an index.
#[derive(Debug)]
pub(super) struct Store {
    dir: PathBuf,
    header: Header,
    /// Held open for its lock, which marks the index as in use.
    _lock: File,
    meta: DataFile,
    codes: DataFile,
    vectors: DataFile,
    /// The commit record and the counts of entries written and committed; shared with
    /// the index's syncers.
    committer: Arc<Committer>,
    /// Entries written.
    len: u64,
}

impl Store {
    /// Makes a new, empty index in `dir` (created if missing), which must hold no index.
    pub(super) fn create(dir: &Path, header: &Header) -> Result<(), IndexError> {
        fs::create_dir_all(dir).map_err(|e| IndexError::io("create directory", dir, e))?;
        let header_path = dir.join(HEADER_FILE);
        if header_path.exists() {
            return Err(IndexError::AlreadyExists {
                dir: dir.to_owned(),
            });
        }
        // Data files first, header last: a crash in between leaves no header, so no index,
        // and the next `create` starts again.
        for name in [META_FILE, CODES_FILE, VECTORS_FILE] {
            write_new(&dir.join(name), &[])?;
        }
        write_new(&dir.join(COMMIT_FILE), &encode_commit(0))?;
        let temporary = dir.join(format!("{HEADER_FILE}.tmp"));
        write_new(&temporary, &header.encode())?;
        fs::rename(&temporary, &header_path)
            .map_err(|e| IndexError::io("rename into place", &header_path, e))?;
        sync_dir(dir)
    }

    /// Opens the index in `dir`: checks the header, locks it, repairs a torn tail.
    pub(super) fn open(dir: &Path) -> Result<(Store, Recovery), IndexError> {
        let header_path = dir.join(HEADER_FILE);
        let mut lock = match File::open(&header_path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(IndexError::NotAnIndex {
                    dir: dir.to_owned(),
                    file: HEADER_FILE,
                });
            }
            Err(e) => return Err(IndexError::io("open", &header_path, e)),
        };
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(IndexError::Locked {
                    dir: dir.to_owned(),
                });
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(IndexError::io("lock", &header_path, e));
            }
        }
        let mut bytes = Vec::with_capacity(HEADER_LEN);
        lock.read_to_end(&mut bytes)
            .map_err(|e| IndexError::io("read", &header_path, e))?;
        let header = Header::decode(&header_path, &bytes)?;

        let commit_path = dir.join(COMMIT_FILE);
        let commit = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&commit_path)
            .map_err(|e| IndexError::io("open", &commit_path, e))?;
        let meta = DataFile::open(dir, META_FILE, META_LEN)?;
        let codes = DataFile::open(dir, CODES_FILE, header.code_len())?;
        let vectors = DataFile::open(dir, VECTORS_FILE, header.vector_len())?;
        let handles = [&meta, &codes, &vectors]
            .into_iter()
            .map(DataFile::handle)
            .collect::<Result<Vec<_>, _>>()?;
        let mut store = Store {
            dir: dir.to_owned(),
            meta,
            codes,
            vectors,
            header,
            _lock: lock,
            committer: Arc::new(Committer::new(dir, handles, commit, commit_path)),
            len: 0,
        };
        let recovery = store.recover()?;
        Ok((store, recovery))
    }

    /// Finds the entries on disk, keeps the intact ones past the commit and cuts the rest.
    fn recover(&mut self) -> Result<Recovery, IndexError> {
        let committed = self.committer.read()?;
        let commit_damaged = committed.is_none();
        let committed = committed.unwrap_or(0);

        let mut whole = u64::MAX;
        let mut started = 0;
        for data in self.data_files() {
            let bytes = data.byte_len()?;
            let records = bytes / data.record;
            if records < committed {
                return Err(IndexError::MissingEntries {
                    path: data.path.clone(),
                    committed,
                    found: records,
                });
            }
            whole = whole.min(records);
            started = started.max(bytes.div_ceil(data.record));
        }

        let intact = committed + self.intact_run(committed, whole)?;
        let mut dropped_bytes = 0;
        for data in self.data_files() {
            let bytes = data.byte_len()?;
            let keep = intact * data.record;
            if bytes > keep {
                dropped_bytes += bytes - keep;
                data.truncate(intact)?;
            }
        }
        self.len = intact;
        self.committer.set_counts(intact, committed);
        let recovery = Recovery {
            entries: intact,
            committed,
            kept_uncommitted: intact - committed,
            dropped_entries: started - intact,
            dropped_bytes,
            commit_damaged,
        };
        if !recovery.is_clean() {
            tracing::warn!(
                dir = %self.dir.display(),
                entries = recovery.entries,
                committed = recovery.committed,
                kept_uncommitted = recovery.kept_uncommitted,
                dropped_entries = recovery.dropped_entries,
                dropped_bytes = recovery.dropped_bytes,
                commit_damaged = recovery.commit_damaged,
                "embedding index: checked the entries past the last sync; kept the intact ones, cut off a torn tail"
            );
            // Make the repair and the kept entries durable, and count them as committed.
            self.committer.commit_now(intact)?;
        }
        Ok(recovery)
    }

    /// How many entries from `first` (up to `end`) are whole and match their CRC.
    fn intact_run(&self, first: u64, end: u64) -> Result<u64, IndexError> {
        let (mut meta, mut codes, mut vectors) = (Vec::new(), Vec::new(), Vec::new());
        let code_len = self.header.code_len();
        let vector_len = self.header.vector_len();
        let mut at = first;
        while at < end {
            let count = (end - at).min(READ_CHUNK as u64) as usize;
            self.meta.read(at, count, &mut meta)?;
            self.codes.read(at, count, &mut codes)?;
            self.vectors.read(at, count, &mut vectors)?;
            for i in 0..count {
                let m = &meta[i * META_LEN..(i + 1) * META_LEN];
                let c = &codes[i * code_len..(i + 1) * code_len];
                let v = &vectors[i * vector_len..(i + 1) * vector_len];
                if u32_at(m, META_CRC_AT) != entry_crc(m, c, v) {
                    return Ok(at + i as u64 - first);
                }
            }
            at += count as u64;
        }
        Ok(end - first)
    }

    fn data_files(&self) -> [&DataFile; 3] {
        [&self.meta, &self.codes, &self.vectors]
    }

    pub(super) fn header(&self) -> &Header {
        &self.header
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn len(&self) -> u64 {
        self.len
    }

    pub(super) fn committed(&self) -> u64 {
        self.committer.committed()
    }

    /// The part that makes entries durable, to sync without holding the store.
    pub(super) fn committer(&self) -> &Arc<Committer> {
        &self.committer
    }

    /// Calls `each(meta_records, code_records)` for runs of entries in order, from the first.
    pub(super) fn for_each_chunk(
        &self,
        mut each: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), IndexError> {
        let (mut meta, mut codes) = (Vec::new(), Vec::new());
        let mut at = 0;
        while at < self.len {
            let count = (self.len - at).min(READ_CHUNK as u64) as usize;
            self.meta.read(at, count, &mut meta)?;
            self.codes.read(at, count, &mut codes)?;
            each(&meta, &codes);
            at += count as u64;
        }
        Ok(())
    }

    /// The code record length (step + codes).
    pub(super) fn code_len(&self) -> usize {
        self.header.code_len()
    }

    /// Entries whose CRC does not match, among the first `len` (reads every file whole).
    pub(super) fn count_damaged(&self) -> Result<u64, IndexError> {
        let mut damaged = 0;
        let mut at = 0;
        while at < self.len {
            at += self.intact_run(at, self.len)?;
            if at < self.len {
                damaged += 1;
                at += 1;
            }
        }
        Ok(damaged)
    }

    /// Writes `records` after the last entry. Durable only after [`Store::sync`].
    pub(super) fn append(&mut self, records: &Records) -> Result<(), IndexError> {
        self.committer.check_usable()?;
        // Positioned writes at the entry's offset: after a failed append the next one writes
        // over whatever part of this one reached the files.
        self.meta.write(self.len, &records.meta)?;
        self.codes.write(self.len, &records.codes)?;
        self.vectors.write(self.len, &records.vectors)?;
        self.len += records.count;
        self.committer.set_written(self.len);
        Ok(())
    }

    /// Makes every appended entry durable: fsyncs the data files, then commits their count.
    pub(super) fn sync(&self) -> Result<(), IndexError> {
        self.committer.sync()
    }

    /// Reads entry `index`'s unit vector into `out` (`dims` long), using `bytes` as buffer.
    pub(super) fn read_vector(
        &self,
        index: u64,
        bytes: &mut Vec<u8>,
        out: &mut [f32],
    ) -> Result<(), IndexError> {
        self.vectors.read(index, 1, bytes)?;
        for (value, word) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *value = f32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        }
        Ok(())
    }
}

/// Writes `bytes` to a new (or truncated) file at `path` and fsyncs it.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let mut file = File::create(path).map_err(|e| IndexError::io("create", path, e))?;
    io::Write::write_all(&mut file, bytes).map_err(|e| IndexError::io("write", path, e))?;
    file.sync_all()
        .map_err(|e| IndexError::io("fsync", path, e))
}

fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IndexError::io("fsync directory", dir, e))
}
