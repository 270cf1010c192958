//! The embedding index: an append-only store of face embeddings and what is known about each
//! face (recording, camera, time, box in the keyframe, crop), searched by brute force.
//!
//! An [`EmbeddingIndex`] holds the vectors of one model, with one dimension, both fixed when
//! it is created. Every vector comes with its model id ([`EmbeddingRef`]); adding or searching
//! with a vector of another model is [`IndexError::ModelMismatch`], never a comparison. Each
//! entry gets a dense [`EntryId`] (0, 1, 2, ... in the order added), by which the caller finds
//! it again ([`EmbeddingIndex::entry`], [`EmbeddingIndex::vector`]); the box's daemon keeps its
//! own rows in SQLite keyed on it. There is no deletion.
//!
//! **Search.** Vectors are normalised, so scores are cosines. In memory each entry is int8
//! codes with a per-vector step (`quantize.rs`) plus its metadata in columns
//! (`columns.rs`): 176 bytes at 128 dimensions. A search quantises the query the same way and
//! scans every entry its [`Filter`] (camera set, time range) lets through with integer dot
//! products on all cores (`scan.rs`, `kernels.rs`). A top-k search keeps the best
//! `k × rerank_factor` by that approximate score (`select.rs`) and re-ranks them with the
//! exact `f32` vectors, read from disk with positioned reads (the page cache holds them), so
//! the scores returned are exact and recall is that of the candidate set. A threshold search
//! ([`Query::at_least`]) keeps every entry whose approximate score is within a proven bound of
//! the threshold, so no entry whose exact score reaches it is missed, then confirms each with
//! the exact vector. Hits come best first, ties by id.
//!
//! **Storage** (`store.rs`): files in one directory, appended in fixed-size records. An entry
//! is durable once [`EmbeddingIndex::sync`] returns; at open, entries past the last sync are
//! kept if whole and intact, and a torn tail (a crash mid-append) is cut off and reported in
//! [`Recovery`], never served. A damaged header, another format version, another model or
//! dimension than the caller expects, or a data file shorter than what was committed is an
//! error. The directory is locked while open.
//!
//! `add`/`sync` take `&mut self` and searches `&self`; the daemon shares the index behind a
//! read-write lock, and syncs through an [`IndexSyncer`] after letting the lock go, so a
//! search never waits for an fsync.

mod columns;
mod commit;
mod error;
mod kernels;
mod quantize;
mod scan;
mod search;
mod select;
mod store;
mod types;

#[cfg(test)]
mod tests;

use std::{ops::Range, path::Path};

pub use error::IndexError;
pub use store::{FORMAT_VERSION, Recovery};
pub use types::{
    EmbeddingRef, EntryId, EntryMeta, FaceBox, Filter, Hit, MAX_DIMS, MAX_MODEL_ID_LEN, NewEntry,
    Query,
};

use columns::Columns;
use store::{Header, Records, Store};

/// How searches run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchOptions {
    /// Threads a scan uses (default: every core). Indexes below 16k entries per thread use
    /// fewer.
    pub threads: usize,
    /// A top-k search re-ranks the best `k × rerank_factor` entries by approximate score with
    /// the exact vectors (at least `k + 16`). Default 4: recall@10 above 0.999 on clustered
    /// face-like data (`dipper-bench index`).
    pub rerank_factor: usize,
}

impl Default for SearchOptions {
    fn default() -> SearchOptions {
        SearchOptions {
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            rerank_factor: 4,
        }
    }
}

/// The embedding index of one model; see the module documentation.
#[derive(Debug)]
pub struct EmbeddingIndex {
    store: Store,
    columns: Columns,
    options: SearchOptions,
    recovery: Recovery,
}

impl EmbeddingIndex {
    /// Makes a new, empty index for `model`'s `dims`-dimensional vectors in `dir` (created if
    /// missing), which must not hold an index already.
    pub fn create(
        dir: impl AsRef<Path>,
        model: &str,
        dims: usize,
    ) -> Result<EmbeddingIndex, IndexError> {
        types::validate_model_id(model)?;
        types::validate_dims(dims)?;
        let header = Header {
            model: model.to_owned(),
            dims,
        };
        Store::create(dir.as_ref(), &header)?;
        EmbeddingIndex::open(dir)
    }

    /// Opens the index in `dir`, whatever its model (see [`EmbeddingIndex::model`]), loading
    /// its codes and metadata into memory and repairing a torn tail ([`Self::recovery`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<EmbeddingIndex, IndexError> {
        let (store, recovery) = Store::open(dir.as_ref())?;
        let columns = load_columns(&store)?;
        tracing::debug!(
            dir = %store.dir().display(),
            model = %store.header().model,
            entries = columns.len(),
            "embedding index: opened"
        );
        Ok(EmbeddingIndex {
            store,
            columns,
            options: SearchOptions::default(),
            recovery,
        })
    }

    /// Opens the index in `dir`, which must be for `model` and `dims`
    /// ([`IndexError::WrongIndexModel`], [`IndexError::DimensionMismatch`] otherwise).
    pub fn open_for(
        dir: impl AsRef<Path>,
        model: &str,
        dims: usize,
    ) -> Result<EmbeddingIndex, IndexError> {
        let index = EmbeddingIndex::open(dir)?;
        index.expect(model, dims)?;
        Ok(index)
    }

    /// Opens the index in `dir` for `model` and `dims`, creating it when `dir` holds none.
    pub fn open_or_create(
        dir: impl AsRef<Path>,
        model: &str,
        dims: usize,
    ) -> Result<EmbeddingIndex, IndexError> {
        match EmbeddingIndex::open_for(dir.as_ref(), model, dims) {
            Err(IndexError::NotAnIndex { .. }) => EmbeddingIndex::create(dir, model, dims),
            other => other,
        }
    }

    fn expect(&self, model: &str, dims: usize) -> Result<(), IndexError> {
        if self.model() != model {
            return Err(IndexError::WrongIndexModel {
                dir: self.dir().to_owned(),
                index_model: self.model().to_owned(),
                expected: model.to_owned(),
            });
        }
        if self.dims() != dims {
            return Err(IndexError::DimensionMismatch {
                dir: self.dir().to_owned(),
                model: model.to_owned(),
                expected: self.dims(),
                actual: dims,
            });
        }
        Ok(())
    }

    /// The model whose vectors the index holds.
    pub fn model(&self) -> &str {
        &self.store.header().model
    }

    /// The length of the index's vectors.
    pub fn dims(&self) -> usize {
        self.columns.dims
    }

    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// Entries held (added, durable or not).
    pub fn len(&self) -> u64 {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries made durable by the last [`EmbeddingIndex::sync`] (or found intact at open).
    pub fn synced_len(&self) -> u64 {
        self.store.committed()
    }

    /// What [`EmbeddingIndex::open`] found and repaired.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    pub fn options(&self) -> SearchOptions {
        self.options
    }

    pub fn set_options(&mut self, options: SearchOptions) {
        self.options = SearchOptions {
            threads: options.threads.max(1),
            rerank_factor: options.rerank_factor.max(1),
        };
    }

    /// Bytes of memory the index holds (codes and metadata; the vectors are on disk).
    pub fn memory_bytes(&self) -> usize {
        self.columns.memory_bytes()
    }

    /// Adds one entry; durable after the next [`EmbeddingIndex::sync`].
    pub fn add(
        &mut self,
        embedding: EmbeddingRef<'_>,
        meta: EntryMeta,
    ) -> Result<EntryId, IndexError> {
        let ids = self.add_batch(&[NewEntry { embedding, meta }])?;
        Ok(EntryId(ids.start))
    }

    /// Adds entries, written with one positioned write per file; returns their ids. Nothing is
    /// added when any vector is refused. Durable after the next [`EmbeddingIndex::sync`].
    pub fn add_batch(&mut self, entries: &[NewEntry<'_>]) -> Result<Range<u64>, IndexError> {
        let dims = self.dims();
        let mut records = Records::default();
        let mut codes = vec![0i8; entries.len() * dims];
        let mut deltas = Vec::with_capacity(entries.len());
        for (entry, codes) in entries.iter().zip(codes.chunks_exact_mut(dims)) {
            self.check(&entry.embedding)?;
            let unit = quantize::normalised(entry.embedding.values)?;
            let delta = quantize::quantise(&unit, codes);
            records.push(&entry.meta, delta, codes, &unit);
            deltas.push(delta);
        }
        let first = self.len();
        self.store.append(&records)?;
        self.columns.reserve(entries.len());
        for ((entry, codes), delta) in entries.iter().zip(codes.chunks_exact(dims)).zip(deltas) {
            self.columns.push(&entry.meta, delta, codes);
        }
        Ok(first..self.len())
    }

    /// Makes every entry added so far durable (fsync of the data files, then of the commit).
    pub fn sync(&mut self) -> Result<(), IndexError> {
        self.store.sync()
    }

    /// What [`EmbeddingIndex::sync`] does, without the index: an index shared behind a lock
    /// is synced after the lock is let go, so searches never wait for an fsync. A syncer's
    /// [`IndexSyncer::sync`] makes durable every entry added before it was called.
    pub fn syncer(&self) -> IndexSyncer {
        IndexSyncer {
            committer: std::sync::Arc::clone(self.store.committer()),
        }
    }

    /// Entry `id`'s metadata.
    pub fn entry(&self, id: EntryId) -> Result<EntryMeta, IndexError> {
        Ok(self.columns.meta(self.position(id)?))
    }

    /// Entry `id`'s unit vector, read from disk.
    pub fn vector(&self, id: EntryId) -> Result<Vec<f32>, IndexError> {
        self.position(id)?;
        let mut vector = vec![0.0; self.dims()];
        self.store.read_vector(id.0, &mut Vec::new(), &mut vector)?;
        Ok(vector)
    }

    /// Reads every file whole and counts the entries whose checksum does not match (0 for a
    /// healthy index). Open only checks the entries past the last sync.
    pub fn count_damaged(&self) -> Result<u64, IndexError> {
        self.store.count_damaged()
    }

    fn position(&self, id: EntryId) -> Result<usize, IndexError> {
        if id.0 < self.len() {
            Ok(id.0 as usize)
        } else {
            Err(IndexError::UnknownEntry {
                id: id.0,
                len: self.len(),
            })
        }
    }

    /// Refuses a vector of another model or length than the index's.
    fn check(&self, embedding: &EmbeddingRef<'_>) -> Result<(), IndexError> {
        if embedding.model != self.model() {
            return Err(IndexError::ModelMismatch {
                dir: self.dir().to_owned(),
                index_model: self.model().to_owned(),
                vector_model: embedding.model.to_owned(),
            });
        }
        if embedding.values.len() != self.dims() {
            return Err(IndexError::DimensionMismatch {
                dir: self.dir().to_owned(),
                model: self.model().to_owned(),
                expected: self.dims(),
                actual: embedding.values.len(),
            });
        }
        Ok(())
    }
}

/// Makes an index's entries durable from anywhere (see [`EmbeddingIndex::syncer`]).
#[derive(Debug, Clone)]
pub struct IndexSyncer {
    committer: std::sync::Arc<commit::Committer>,
}

impl IndexSyncer {
    /// Fsyncs the data files, then commits every entry added so far; syncs run one at a
    /// time. After a failed fsync the index refuses writes until reopened.
    pub fn sync(&self) -> Result<(), IndexError> {
        self.committer.sync()
    }
}

/// Reads the codes and metadata of every entry into memory.
fn load_columns(store: &Store) -> Result<Columns, IndexError> {
    let dims = store.header().dims;
    let code_len = store.code_len();
    let mut columns = Columns::new(dims);
    columns.reserve(store.len() as usize);
    let mut codes = vec![0i8; dims];
    store.for_each_chunk(|metas, code_records| {
        for (meta, record) in metas
            .chunks_exact(store::META_LEN)
            .zip(code_records.chunks_exact(code_len))
        {
            let delta = f32::from_le_bytes([record[0], record[1], record[2], record[3]]);
            for (code, &byte) in codes.iter_mut().zip(&record[4..]) {
                *code = byte as i8;
            }
            columns.push(&store::decode_meta(meta), delta, &codes);
        }
    })?;
    Ok(columns)
}
