//! The index against a brute-force reference: exactness and recall on clustered data, filters,
//! thresholds, the kernels against each other, model and dimension checks, and the store
//! across restarts, crashes and damage.

use std::{collections::BTreeSet, fs::OpenOptions, os::unix::fs::FileExt, path::Path};

use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{
    EmbeddingIndex, EmbeddingRef, EntryId, EntryMeta, FaceBox, Filter, Hit, IndexError, NewEntry,
    Query, SearchOptions, kernels, quantize, store,
};

const MODEL: &str = "test-model-v1";

/// A standard normal sample (Box-Muller).
fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn unit(values: Vec<f32>) -> Vec<f32> {
    quantize::normalised(&values).expect("a non-zero vector")
}

/// Face-like data: `identities` centres, each vector a centre plus noise of norm about
/// `noise`, normalised.
struct Clustered {
    centres: Vec<Vec<f32>>,
    dims: usize,
    noise: f32,
}

impl Clustered {
    fn new(rng: &mut StdRng, identities: usize, dims: usize, noise: f32) -> Clustered {
        let centres = (0..identities)
            .map(|_| unit((0..dims).map(|_| gaussian(rng)).collect()))
            .collect();
        Clustered {
            centres,
            dims,
            noise,
        }
    }

    fn sample(&self, rng: &mut StdRng) -> Vec<f32> {
        let centre = &self.centres[rng.random_range(0..self.centres.len())];
        let scale = self.noise / (self.dims as f32).sqrt();
        unit(centre.iter().map(|c| c + scale * gaussian(rng)).collect())
    }
}

fn meta_for(i: u64) -> EntryMeta {
    EntryMeta {
        recording: 1000 + i / 7,
        camera: (i % 13) as u32,
        time_ms: 1_700_000_000_000 + (i as i64) * 40,
        face_box: FaceBox {
            x: i as f32,
            y: 2.0 * i as f32,
            width: 64.0,
            height: 80.0,
        },
        crop: i * 3,
    }
}

/// An index in a temporary directory with `vectors` added (and synced), and the unit vectors.
fn build(dir: &Path, dims: usize, vectors: &[Vec<f32>]) -> EmbeddingIndex {
    let mut index = EmbeddingIndex::create(dir, MODEL, dims).expect("create");
    let entries: Vec<NewEntry<'_>> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| NewEntry {
            embedding: EmbeddingRef::new(MODEL, v),
            meta: meta_for(i as u64),
        })
        .collect();
    for chunk in entries.chunks(1000) {
        index.add_batch(chunk).expect("add");
    }
    index.sync().expect("sync");
    index
}

fn embedding(v: &[f32]) -> EmbeddingRef<'_> {
    EmbeddingRef::new(MODEL, v)
}

/// The unit vectors the index stores for `vectors`.
fn stored(vectors: &[Vec<f32>]) -> Vec<Vec<f32>> {
    vectors.iter().map(|v| unit(v.clone())).collect()
}

/// Every entry's exact score (the index's own `f32` arithmetic on the stored unit vectors).
fn exact_scores(units: &[Vec<f32>], query: &[f32]) -> Vec<f32> {
    let q = unit(query.to_vec());
    units.iter().map(|v| kernels::exact_dot(&q, v)).collect()
}

/// The true top `k` by `f64` cosine among entries `accept` lets through.
fn reference_top_k(
    units: &[Vec<f32>],
    query: &[f32],
    k: usize,
    accept: impl Fn(u64) -> bool,
) -> Vec<u64> {
    let q = unit(query.to_vec());
    let mut scored: Vec<(f64, u64)> = units
        .iter()
        .enumerate()
        .filter(|(i, _)| accept(*i as u64))
        .map(|(i, v)| {
            let dot: f64 = q
                .iter()
                .zip(v)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            (dot, i as u64)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}

fn ids(hits: &[Hit]) -> Vec<u64> {
    hits.iter().map(|h| h.id.0).collect()
}

fn recall(found: &[u64], truth: &[u64]) -> f64 {
    let truth: BTreeSet<_> = truth.iter().collect();
    found.iter().filter(|id| truth.contains(id)).count() as f64 / truth.len().max(1) as f64
}

/// Hits are best first, ties by id, scores exact.
fn check_hits(hits: &[Hit], scores: &[f32]) {
    for pair in hits.windows(2) {
        assert!(
            pair[0].score > pair[1].score
                || (pair[0].score == pair[1].score && pair[0].id < pair[1].id),
            "hits out of order: {pair:?}"
        );
    }
    for hit in hits {
        assert_eq!(
            hit.score, scores[hit.id.0 as usize],
            "{} has an inexact score",
            hit.id
        );
        assert_eq!(hit.meta, meta_for(hit.id.0));
    }
}

fn clustered_fixture(
    seed: u64,
    n: usize,
    dims: usize,
    queries: usize,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let data = Clustered::new(&mut rng, n / 10, dims, 0.6);
    let vectors = (0..n).map(|_| data.sample(&mut rng)).collect();
    let queries = (0..queries).map(|_| data.sample(&mut rng)).collect();
    (vectors, queries)
}

#[test]
fn top_k_matches_brute_force_on_clustered_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vectors, queries) = clustered_fixture(1, 10_000, 128, 30);
    let index = build(dir.path(), 128, &vectors);
    let units = stored(&vectors);
    let mut total = 0.0;
    for query in &queries {
        let hits = index
            .search(&Query::top_k(embedding(query), 10))
            .expect("search");
        assert_eq!(hits.len(), 10);
        check_hits(&hits, &exact_scores(&units, query));
        total += recall(&ids(&hits), &reference_top_k(&units, query, 10, |_| true));
    }
    let recall = total / queries.len() as f64;
    assert!(recall >= 0.99, "recall@10 {recall}");
}

#[test]
fn batch_single_and_thread_counts_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Not a multiple of the tiles, the lanes or the query group.
    let (vectors, queries) = clustered_fixture(2, 10_011, 96, 13);
    let mut index = build(dir.path(), 96, &vectors);
    let batch: Vec<Query<'_>> = queries
        .iter()
        .map(|q| Query::top_k(embedding(q), 7))
        .collect();
    let together = index.search_batch(&batch).expect("batch");
    for threads in [1, 2, 3] {
        index.set_options(SearchOptions {
            threads,
            ..index.options()
        });
        for (query, expected) in batch.iter().zip(&together) {
            assert_eq!(&index.search(query).expect("search"), expected);
        }
        assert_eq!(index.search_batch(&batch).expect("batch"), together);
    }
}

#[test]
fn filters_by_camera_and_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vectors, queries) = clustered_fixture(3, 12_000, 64, 12);
    let index = build(dir.path(), 64, &vectors);
    let units = stored(&vectors);
    let start = meta_for(2_000).time_ms;
    let end = meta_for(9_000).time_ms;
    let cameras = [1u32, 4, 11];
    let accept = |i: u64| {
        let m = meta_for(i);
        cameras.contains(&m.camera) && (start..end).contains(&m.time_ms)
    };
    let batch: Vec<Query<'_>> = queries
        .iter()
        .map(|q| {
            Query::top_k(embedding(q), 10)
                .cameras(cameras)
                .time_range(start..end)
        })
        .collect();
    // Both kernels: one query at a time, and the batch.
    let single: Vec<Vec<Hit>> = batch
        .iter()
        .map(|q| index.search(q).expect("search"))
        .collect();
    assert_eq!(single, index.search_batch(&batch).expect("batch"));
    let mut total = 0.0;
    for (query, hits) in queries.iter().zip(&single) {
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| accept(h.id.0)), "{hits:?}");
        check_hits(hits, &exact_scores(&units, query));
        total += recall(&ids(hits), &reference_top_k(&units, query, 10, accept));
    }
    assert!(total / queries.len() as f64 >= 0.99);

    // A range before every entry, an empty camera set: nothing.
    let q = embedding(&queries[0]);
    let before = Query::top_k(q, 5).time_range(0..1000);
    assert!(index.search(&before).expect("search").is_empty());
    let none = Query::top_k(q, 5).cameras([]);
    assert!(index.search(&none).expect("search").is_empty());
    // A camera with no entries, a range of one entry.
    let absent = Query::top_k(q, 5).cameras([99]);
    assert!(index.search(&absent).expect("search").is_empty());
    let t = meta_for(777).time_ms;
    let one = Query::top_k(q, 5).filter(Filter::default().time_range(t..t + 1));
    assert_eq!(ids(&index.search(&one).expect("search")), vec![777]);
    // A large camera set (searched, not scanned), given unsorted with a duplicate.
    let many = [12u32, 0, 2, 3, 5, 6, 7, 8, 9, 10, 2];
    let hits = index
        .search(&Query::top_k(q, 10).cameras(many))
        .expect("search");
    let truth = reference_top_k(&units, &queries[0], 10, |i| {
        many.contains(&meta_for(i).camera)
    });
    assert!(recall(&ids(&hits), &truth) >= 0.9, "{hits:?} vs {truth:?}");
    assert!(hits.iter().all(|h| many.contains(&h.meta.camera)));
}

#[test]
fn threshold_returns_exactly_the_entries_at_or_above() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vectors, queries) = clustered_fixture(4, 8_000, 128, 6);
    let index = build(dir.path(), 128, &vectors);
    let units = stored(&vectors);
    for (q, query) in queries.iter().enumerate() {
        let scores = exact_scores(&units, query);
        let mut sorted = scores.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        // At a typical match score, exactly at an entry's score, and low enough for many.
        for threshold in [0.6, sorted[3], sorted[200]] {
            let batch = vec![Query::at_least(embedding(query), threshold); 1 + 8 * (q % 2)];
            let hits = index.search_batch(&batch).expect("search").remove(0);
            let expected: BTreeSet<u64> = (0..vectors.len() as u64)
                .filter(|&i| scores[i as usize] >= threshold)
                .collect();
            assert_eq!(ids(&hits).into_iter().collect::<BTreeSet<_>>(), expected);
            check_hits(&hits, &scores);
        }
        // Top-k with a threshold: the best k of those above it.
        let hits = index
            .search(&Query::top_k(embedding(query), 5).min_score(sorted[2]))
            .expect("search");
        assert_eq!(hits.len(), 3);
    }
}

#[test]
fn model_and_dimension_mismatches_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut index = EmbeddingIndex::create(dir.path(), MODEL, 4).expect("create");
    let v = [0.5f32, 0.5, 0.5, 0.5];
    index.add(embedding(&v), meta_for(0)).expect("add");
    let other = EmbeddingRef::new("other-model", &v);
    let err = index.add(other, meta_for(1)).expect_err("another model");
    assert!(matches!(err, IndexError::ModelMismatch { .. }), "{err}");
    assert!(err.to_string().contains("other-model"), "{err}");
    let err = index
        .search(&Query::top_k(other, 1))
        .expect_err("another model");
    assert!(matches!(err, IndexError::ModelMismatch { .. }), "{err}");
    let short = [1.0f32, 0.0, 0.0];
    let err = index
        .add(embedding(&short), meta_for(1))
        .expect_err("3 dims");
    assert!(
        matches!(
            err,
            IndexError::DimensionMismatch {
                expected: 4,
                actual: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = index
        .search(&Query::top_k(embedding(&short), 1))
        .expect_err("3 dims");
    assert!(matches!(err, IndexError::DimensionMismatch { .. }), "{err}");
    // A refused batch adds nothing.
    let batch = [
        NewEntry {
            embedding: embedding(&v),
            meta: meta_for(1),
        },
        NewEntry {
            embedding: other,
            meta: meta_for(2),
        },
    ];
    assert!(index.add_batch(&batch).is_err());
    assert_eq!(index.len(), 1);
    drop(index);

    let err = EmbeddingIndex::open_for(dir.path(), "other-model", 4).expect_err("model");
    assert!(matches!(err, IndexError::WrongIndexModel { .. }), "{err}");
    let err = EmbeddingIndex::open_for(dir.path(), MODEL, 8).expect_err("dims");
    assert!(
        matches!(
            err,
            IndexError::DimensionMismatch {
                expected: 4,
                actual: 8,
                ..
            }
        ),
        "{err}"
    );
    let err = EmbeddingIndex::open_or_create(dir.path(), "other-model", 4).expect_err("model");
    assert!(matches!(err, IndexError::WrongIndexModel { .. }), "{err}");
    assert_eq!(
        EmbeddingIndex::open_for(dir.path(), MODEL, 4)
            .expect("open")
            .len(),
        1
    );
}

#[test]
fn invalid_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for model in ["", "has space", &"x".repeat(65)] {
        let err = EmbeddingIndex::create(dir.path().join("m"), model, 4).expect_err(model);
        assert!(matches!(err, IndexError::InvalidModelId { .. }), "{err}");
    }
    for dims in [0, super::MAX_DIMS + 1] {
        let err = EmbeddingIndex::create(dir.path().join("d"), MODEL, dims).expect_err("dims");
        assert!(matches!(err, IndexError::InvalidDimension { .. }), "{err}");
    }
    let mut index = EmbeddingIndex::create(dir.path().join("i"), MODEL, 3).expect("create");
    for bad in [
        [0.0f32, 0.0, 0.0],
        [f32::NAN, 1.0, 0.0],
        [f32::INFINITY, 0.0, 0.0],
    ] {
        let err = index
            .add(embedding(&bad), meta_for(0))
            .expect_err("bad vector");
        assert!(matches!(err, IndexError::InvalidVector { .. }), "{err}");
    }
    let v = [1.0f32, 2.0, 3.0];
    let neither = Query {
        min_score: None,
        ..Query::at_least(embedding(&v), 0.5)
    };
    assert!(matches!(
        index.search(&neither),
        Err(IndexError::InvalidQuery { .. })
    ));
    assert!(matches!(
        index.search(&Query::at_least(embedding(&v), f32::NAN)),
        Err(IndexError::InvalidQuery { .. })
    ));
    let err = EmbeddingIndex::create(dir.path().join("i"), MODEL, 3).expect_err("exists");
    assert!(matches!(err, IndexError::AlreadyExists { .. }), "{err}");
    let err = EmbeddingIndex::open(dir.path().join("none")).expect_err("no index");
    assert!(matches!(err, IndexError::NotAnIndex { .. }), "{err}");
}

#[test]
fn the_index_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<EmbeddingIndex>();
}

#[test]
fn ids_are_dense_and_entries_found_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut index = EmbeddingIndex::create(dir.path(), MODEL, 3).expect("create");
    assert!(index.is_empty());
    let v = [3.0f32, 0.0, 4.0];
    assert!(
        index
            .search(&Query::top_k(embedding(&v), 3))
            .expect("search")
            .is_empty()
    );
    for i in 0..5 {
        assert_eq!(
            index.add(embedding(&v), meta_for(i)).expect("add"),
            EntryId(i)
        );
    }
    let added = index
        .add_batch(&[NewEntry {
            embedding: embedding(&v),
            meta: meta_for(5),
        }])
        .expect("add");
    assert_eq!(added, 5..6);
    assert_eq!(index.entry(EntryId(3)).expect("entry"), meta_for(3));
    assert_eq!(
        index.vector(EntryId(5)).expect("vector"),
        vec![0.6, 0.0, 0.8]
    );
    assert!(matches!(
        index.entry(EntryId(6)),
        Err(IndexError::UnknownEntry { id: 6, len: 6 })
    ));
    // k = 0, and k above the entries.
    assert!(
        index
            .search(&Query::top_k(embedding(&v), 0))
            .expect("search")
            .is_empty()
    );
    let hits = index
        .search(&Query::top_k(embedding(&v), usize::MAX))
        .expect("search");
    assert_eq!(ids(&hits), vec![0, 1, 2, 3, 4, 5]);
    assert!(hits.iter().all(|h| (h.score - 1.0).abs() < 1e-6));
}

#[test]
fn reopened_index_gives_the_same_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vectors, queries) = clustered_fixture(5, 5_000, 32, 10);
    let index = build(dir.path(), 32, &vectors);
    let batch: Vec<Query<'_>> = queries
        .iter()
        .map(|q| Query::top_k(embedding(q), 10).cameras([0, 1, 2, 3, 4]))
        .collect();
    let before = index.search_batch(&batch).expect("search");
    let memory = index.memory_bytes();
    let err = EmbeddingIndex::open(dir.path()).expect_err("open twice");
    assert!(matches!(err, IndexError::Locked { .. }), "{err}");
    drop(index);

    let index = EmbeddingIndex::open_for(dir.path(), MODEL, 32).expect("reopen");
    assert!(index.recovery().is_clean(), "{:?}", index.recovery());
    assert_eq!(index.len(), 5_000);
    assert_eq!(index.synced_len(), 5_000);
    assert_eq!(index.search_batch(&batch).expect("search"), before);
    assert_eq!(index.entry(EntryId(4_321)).expect("entry"), meta_for(4_321));
    assert!(index.memory_bytes() <= memory);
    assert_eq!(index.count_damaged().expect("verify"), 0);
}

#[test]
fn entries_not_synced_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vectors, queries) = clustered_fixture(6, 3_000, 16, 3);
    let mut index = build(dir.path(), 16, &vectors[..2_000]);
    for (i, v) in vectors.iter().enumerate().skip(2_000) {
        index.add(embedding(v), meta_for(i as u64)).expect("add");
    }
    assert_eq!(index.synced_len(), 2_000);
    let query = Query::top_k(embedding(&queries[0]), 10);
    let before = index.search(&query).expect("search");
    drop(index);

    let mut index = EmbeddingIndex::open(dir.path()).expect("reopen");
    let recovery = index.recovery();
    assert_eq!(
        (
            recovery.entries,
            recovery.committed,
            recovery.kept_uncommitted
        ),
        (3_000, 2_000, 1_000)
    );
    assert_eq!(recovery.dropped_entries, 0);
    assert_eq!(index.synced_len(), 3_000, "open commits what it kept");
    assert_eq!(index.search(&query).expect("search"), before);
    index
        .add(embedding(&vectors[0]), meta_for(3_000))
        .expect("add");
    assert_eq!(index.len(), 3_001);
}

#[test]
fn a_syncer_commits_while_the_index_is_shared_for_searches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vectors, queries) = clustered_fixture(7, 1_500, 16, 1);
    let index = parking_lot::RwLock::new(build(dir.path(), 16, &vectors[..1_000]));
    for (i, v) in vectors.iter().enumerate().skip(1_000) {
        index
            .write()
            .add(embedding(v), meta_for(i as u64))
            .expect("add");
    }
    let syncer = index.read().syncer();
    // A search holds the lock while the syncer commits: neither waits for the other.
    let reading = index.read();
    syncer.sync().expect("sync");
    let query = Query::top_k(embedding(&queries[0]), 10);
    let hits = reading.search(&query).expect("search");
    assert_eq!(reading.synced_len(), 1_500);
    drop(reading);
    drop(index);

    let reopened = EmbeddingIndex::open(dir.path()).expect("reopen");
    assert!(reopened.recovery().is_clean(), "{:?}", reopened.recovery());
    assert_eq!(reopened.len(), 1_500);
    assert_eq!(reopened.search(&query).expect("search"), hits);
}

/// Overwrites `bytes` at `offset` of `file` in the index directory.
fn damage(dir: &Path, file: &str, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new()
        .write(true)
        .open(dir.join(file))
        .expect("open for damage");
    file.write_all_at(bytes, offset).expect("damage");
}

fn file_len(dir: &Path, file: &str) -> u64 {
    std::fs::metadata(dir.join(file)).expect("stat").len()
}

fn truncate(dir: &Path, file: &str, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(dir.join(file))
        .expect("open")
        .set_len(len)
        .expect("truncate");
}

#[test]
fn a_torn_tail_is_cut_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dims = 8;
    let (vectors, queries) = clustered_fixture(7, 120, dims, 2);
    let mut index = build(dir.path(), dims, &vectors[..100]);
    let synced = index
        .search(&Query::top_k(embedding(&queries[0]), 5))
        .expect("search");
    for (i, v) in vectors.iter().enumerate().skip(100) {
        index.add(embedding(v), meta_for(i as u64)).expect("add");
    }
    drop(index);
    // A crash mid-append: the vector file stops inside entry 110, and entry 105's metadata
    // was never written (zeros).
    let vector_record = 4 * dims as u64;
    truncate(dir.path(), store::VECTORS_FILE, 110 * vector_record + 5);
    damage(dir.path(), store::META_FILE, 105 * 48, &[0u8; 48]);

    let index = EmbeddingIndex::open(dir.path()).expect("reopen");
    let recovery = index.recovery();
    assert_eq!(recovery.entries, 105, "{recovery:?}");
    assert_eq!(recovery.committed, 100);
    assert_eq!(recovery.kept_uncommitted, 5);
    assert_eq!(recovery.dropped_entries, 15);
    assert!(recovery.dropped_bytes > 0);
    assert_eq!(index.len(), 105);
    for file in [store::META_FILE, store::VECTORS_FILE] {
        let record = if file == store::META_FILE {
            48
        } else {
            vector_record
        };
        assert_eq!(file_len(dir.path(), file), 105 * record, "{file} cut");
    }
    // What was synced is answered as before; the torn entries are never served.
    let hits = index
        .search(&Query::top_k(embedding(&queries[0]), 200))
        .expect("search");
    assert!(hits.iter().all(|h| h.id.0 < 105));
    let filtered = Query::top_k(embedding(&queries[0]), 5).time_range(0..meta_for(100).time_ms);
    assert_eq!(index.search(&filtered).expect("search"), synced);
    drop(index);
    let again = EmbeddingIndex::open(dir.path()).expect("third open");
    assert!(again.recovery().is_clean(), "{:?}", again.recovery());
}

#[test]
fn damage_is_reported_not_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (vectors, _) = clustered_fixture(8, 50, 8, 0);
    drop(build(dir.path(), 8, &vectors));

    // A committed entry missing from a data file: data loss, refused.
    let codes = std::fs::read(dir.path().join(store::CODES_FILE)).expect("read");
    truncate(dir.path(), store::CODES_FILE, codes.len() as u64 - 3);
    let err = EmbeddingIndex::open(dir.path()).expect_err("truncated");
    assert!(
        matches!(
            err,
            IndexError::MissingEntries {
                committed: 50,
                found: 49,
                ..
            }
        ),
        "{err}"
    );
    std::fs::write(dir.path().join(store::CODES_FILE), &codes).expect("restore");

    // A damaged commit record: every entry checked, all kept.
    damage(dir.path(), store::COMMIT_FILE, 0, &[0xff]);
    let index = EmbeddingIndex::open(dir.path()).expect("open");
    assert!(index.recovery().commit_damaged);
    assert_eq!(index.len(), 50);
    // A flipped bit in a committed vector: found by the full check.
    damage(dir.path(), store::VECTORS_FILE, 7 * 32 + 4, &[0x55]);
    assert_eq!(index.count_damaged().expect("verify"), 1);
    drop(index);

    // The header: a flipped byte, another magic, another version.
    let header = std::fs::read(dir.path().join(store::HEADER_FILE)).expect("read");
    let mut flipped = header.clone();
    flipped[40] ^= 1;
    std::fs::write(dir.path().join(store::HEADER_FILE), &flipped).expect("write");
    let err = EmbeddingIndex::open(dir.path()).expect_err("bad header");
    assert!(matches!(err, IndexError::BadHeader { .. }), "{err}");
    let mut magic = header.clone();
    magic[0] = b'X';
    std::fs::write(dir.path().join(store::HEADER_FILE), &magic).expect("write");
    let err = EmbeddingIndex::open(dir.path()).expect_err("bad magic");
    assert!(err.to_string().contains("magic"), "{err}");
    let mut version = header.clone();
    version[8] = 9;
    std::fs::write(dir.path().join(store::HEADER_FILE), &version).expect("write");
    let err = EmbeddingIndex::open(dir.path()).expect_err("version");
    assert!(
        matches!(
            err,
            IndexError::UnsupportedVersion {
                found: 9,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    std::fs::write(dir.path().join(store::HEADER_FILE), &header[..100]).expect("write");
    let err = EmbeddingIndex::open(dir.path()).expect_err("short");
    assert!(matches!(err, IndexError::BadHeader { .. }), "{err}");
}

/// The row and batch kernels against a plain dot product.
fn check_kernels(dims: usize, rows: usize, queries: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let codes: Vec<i8> = (0..rows * dims)
        .map(|_| rng.random_range(-127i8..=127))
        .collect();
    let query_codes: Vec<Vec<i8>> = (0..queries)
        .map(|_| (0..dims).map(|_| rng.random_range(-127i8..=127)).collect())
        .collect();
    let plain = |q: &[i8], row: usize| -> i32 {
        q.iter()
            .zip(&codes[row * dims..(row + 1) * dims])
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum()
    };
    let groups = queries.div_ceil(kernels::QUERY_GROUP);
    let mut columns = vec![[0.0f32; kernels::QUERY_GROUP]; groups * dims];
    for (q, codes) in query_codes.iter().enumerate() {
        for (d, &c) in codes.iter().enumerate() {
            columns[(q / kernels::QUERY_GROUP) * dims + d][q % kernels::QUERY_GROUP] = f32::from(c);
        }
    }
    let mut tile = Vec::new();
    kernels::transpose_tile(&codes, dims, &mut tile);
    let blocks = rows.div_ceil(kernels::LANES);
    let mut out = vec![[0.0f32; kernels::LANES]; groups * kernels::QUERY_GROUP * blocks];
    kernels::dots_tile(&columns, &tile, dims, &mut out);
    for (q, query) in query_codes.iter().enumerate() {
        let wide: Vec<i16> = query.iter().map(|&c| i16::from(c)).collect();
        let mut dots = vec![0i32; rows];
        kernels::dots_rows(&wide, &codes, &mut dots);
        let batch = &out[q * blocks..(q + 1) * blocks].as_flattened()[..rows];
        for row in 0..rows {
            assert_eq!(dots[row], plain(query, row), "row kernel, row {row}");
            assert_eq!(
                batch[row],
                plain(query, row) as f32,
                "batch kernel, row {row}"
            );
        }
    }
}

#[test]
fn kernels_are_exact_at_the_largest_codes() {
    // Every product at its largest: the f32 sums must still be exact.
    let dims = super::MAX_DIMS;
    let codes = vec![-127i8; dims * 3];
    let query = vec![-127i16; dims];
    let mut dots = vec![0; 3];
    kernels::dots_rows(&query, &codes, &mut dots);
    assert_eq!(dots, vec![dims as i32 * 127 * 127; 3]);
    let columns = vec![[-127.0f32; kernels::QUERY_GROUP]; dims];
    let mut tile = Vec::new();
    kernels::transpose_tile(&codes, dims, &mut tile);
    let mut out = vec![[0.0f32; kernels::LANES]; kernels::QUERY_GROUP];
    kernels::dots_tile(&columns, &tile, dims, &mut out);
    assert_eq!(out[0][..3], [(dims * 127 * 127) as f32; 3]);
    check_kernels(128, 100, 5, 9);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn kernels_agree(dims in 1usize..80, rows in 1usize..70, queries in 1usize..10, seed: u64) {
        check_kernels(dims, rows, queries, seed);
    }

    /// On unclustered random data of any dimension, a threshold search finds exactly the
    /// entries whose exact score reaches the threshold, and top-k finds exact scores.
    #[test]
    fn threshold_search_never_misses(
        dims in 1usize..40,
        n in 1usize..300,
        threshold in -0.5f32..0.9,
        seed: u64,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let vectors: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..dims).map(|_| gaussian(&mut rng) + 0.01).collect())
            .collect();
        let query: Vec<f32> = (0..dims).map(|_| gaussian(&mut rng) + 0.01).collect();
        let dir = tempfile::tempdir().expect("tempdir");
        let index = build(dir.path(), dims, &vectors);
        let units = stored(&vectors);
        let scores = exact_scores(&units, &query);
        let hits = index.search(&Query::at_least(embedding(&query), threshold)).expect("search");
        let expected: BTreeSet<u64> =
            (0..n as u64).filter(|&i| scores[i as usize] >= threshold).collect();
        prop_assert_eq!(ids(&hits).into_iter().collect::<BTreeSet<_>>(), expected);
        check_hits(&hits, &scores);
        let top = index.search(&Query::top_k(embedding(&query), 3)).expect("search");
        check_hits(&top, &scores);
        prop_assert_eq!(top.len(), n.min(3));
    }
}
