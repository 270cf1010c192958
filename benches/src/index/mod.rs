//! `dipper-bench index`: the embedding index beside faiss `IndexFlatIP` on the same vectors.
//!
//! Generates `--vectors` clustered, face-like unit vectors and `--queries` queries
//! (`data.rs`), builds our index from them on disk, drops it and opens it again (the load
//! time), then times top-k searches: each query alone (mean per query of a repetition), and
//! all queries as one batch; the medians over `--reps` repetitions after a warm-up. faiss
//! (`benches/python/faiss_flat.py`, in `--python`) does the same over the same vectors,
//! written as raw `f32`, with the same number of threads. Recall@k of both is measured
//! against the exact answer (`f64` brute force, `exact.rs`). Ratios are faiss's time over
//! ours: above 1, ours is faster.

mod data;
mod exact;
mod faiss;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use pipeline::index::{
    EmbeddingIndex, EmbeddingRef, EntryMeta, FaceBox, NewEntry, Query, SearchOptions,
};
use serde::Serialize;

use crate::{
    BoxError,
    figures::{cores, round},
    python,
};

/// The model id the benchmark's index is made for.
const MODEL: &str = "bench-clustered";

#[derive(Debug, clap::Args)]
pub(crate) struct IndexArgs {
    /// Vectors in the index.
    #[arg(long, default_value_t = 1_000_000)]
    vectors: usize,
    /// Their dimension.
    #[arg(long, default_value_t = 128)]
    dims: usize,
    /// Identities (clusters) the vectors are views of.
    #[arg(long, default_value_t = 100_000)]
    identities: usize,
    /// Norm of the noise added to an identity's centre (0.6: same-identity cosine ≈ 0.74).
    #[arg(long, default_value_t = 0.6)]
    noise: f32,
    /// Queries: each timed alone, and all together as one batch.
    #[arg(long, default_value_t = 64)]
    queries: usize,
    /// Results per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Timed repetitions (medians are reported), after one warm-up.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Threads, ours and faiss's (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Our re-rank factor (candidates re-ranked per result; default: the index's).
    #[arg(long)]
    rerank_factor: Option<usize>,
    /// Python with faiss-cpu and numpy (default: $DIPPER_PYTHON, else
    /// <repo>/.cache/venv/bin/python, which scripts/fetch-models makes).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Folder for the index and the raw vector files (default: a new one under the system
    /// temporary folder, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// One JSON line on stdout instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Timing {
    ours_ms: f64,
    faiss_ms: f64,
    /// faiss's time over ours.
    ratio: f64,
    ours_ms_reps: Vec<f64>,
    faiss_ms_reps: Vec<f64>,
}

impl Timing {
    fn new(ours_reps: &[f64], faiss_ms: f64, faiss_ms_reps: &[f64]) -> Timing {
        let ours_ms = median(ours_reps);
        Timing {
            ours_ms: round(ours_ms, 3),
            faiss_ms: round(faiss_ms, 3),
            ratio: round(faiss_ms / ours_ms, 2),
            ours_ms_reps: ours_reps.iter().map(|v| round(*v, 3)).collect(),
            faiss_ms_reps: faiss_ms_reps.iter().map(|v| round(*v, 3)).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    vectors: usize,
    dims: usize,
    queries: usize,
    k: usize,
    threads: usize,
    reps: usize,
    rerank_factor: usize,
    data: String,
    seed: u64,
    faiss: String,
    /// Each query alone: mean milliseconds per query.
    single_query: Timing,
    /// faiss's single-query latency with one thread (its best; ours keeps `threads`).
    faiss_single_query_one_thread_ms: f64,
    /// faiss's best single-query time (one thread or `threads`) over ours.
    single_query_ratio_vs_faiss_best: f64,
    /// All `queries` at once: milliseconds per batch.
    batch: Timing,
    /// Ours (the batch's results) against the exact `f64` answer.
    recall_at_10: f64,
    faiss_recall_at_10: f64,
    /// Every single-query result equals the batch's.
    single_equals_batch: bool,
    /// Memory the index holds per vector (codes and metadata); faiss holds the `f32` vector.
    bytes_per_vector: f64,
    faiss_bytes_per_vector: f64,
    /// Our files on disk per vector (vectors, codes, metadata).
    disk_bytes_per_vector: f64,
    /// Adding every vector to a new index and syncing it.
    build_seconds: f64,
    /// Opening it again (page cache warm), codes and metadata into memory.
    load_seconds: f64,
    faiss_add_seconds: f64,
    /// Both ratios (the single query's against faiss's best) at least 2 and recall@10 at
    /// least 0.99.
    targets_met: bool,
}

pub(crate) async fn run(args: IndexArgs) -> Result<(), BoxError> {
    let python = args.python.clone().unwrap_or_else(python::default_python);
    if !python.is_file() {
        return Err(format!(
            "{} is missing: run scripts/fetch-models (it makes the venv with faiss-cpu) or pass \
             --python",
            python.display()
        )
        .into());
    }
    if args.vectors == 0 || args.queries == 0 || args.k == 0 || args.reps == 0 {
        return Err("--vectors, --queries, --k and --reps must be at least 1".into());
    }
    let threads = args.threads.unwrap_or_else(cores);
    let (dir, temporary) = match &args.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("dipper-bench-index-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let result = measure(&args, &python, &dir, threads).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(())
}

async fn measure(
    args: &IndexArgs,
    python: &Path,
    dir: &Path,
    threads: usize,
) -> Result<Report, BoxError> {
    let run = Run::generate(args, threads);
    let ours = run.measure_ours(&dir.join("index"))?;
    let theirs = run.measure_faiss(python, dir).await?;
    tracing::info!("exact answer (f64 brute force)");
    let truth = exact::top_k(&run.vectors, &run.queries, args.k, threads);
    Ok(run.report(&ours, &theirs, &truth))
}

/// The run's data: the vectors indexed and the queries, as `args` asks.
struct Run<'a> {
    args: &'a IndexArgs,
    threads: usize,
    vectors: data::Vectors,
    queries: data::Vectors,
}

/// What our index did.
struct Ours {
    /// Adding every vector to a new index and syncing it.
    build_seconds: f64,
    /// Opening it again.
    load_seconds: f64,
    rerank_factor: usize,
    bytes_per_vector: f64,
    /// Its files on disk, in all.
    disk_bytes: u64,
    searches: Searches,
}

/// Our timed searches: every query alone, and all as one batch.
struct Searches {
    /// Per repetition, the mean milliseconds of one query.
    single_ms: Vec<f64>,
    /// Per repetition, the milliseconds of the batch.
    batch_ms: Vec<f64>,
    single_equals_batch: bool,
    /// The ids the batch found, per query.
    ids: Vec<Vec<u64>>,
}

impl Run<'_> {
    fn generate(args: &IndexArgs, threads: usize) -> Run<'_> {
        let started = Instant::now();
        let (vectors, queries) = data::generate(
            args.vectors,
            args.queries,
            args.dims,
            args.identities,
            args.noise,
            args.seed,
        );
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "generated the vectors"
        );
        Run {
            args,
            threads,
            vectors,
            queries,
        }
    }

    /// Ours: built in `index_dir`, reopened, then its searches timed.
    fn measure_ours(&self, index_dir: &Path) -> Result<Ours, BoxError> {
        let (mut index, build_seconds, load_seconds) =
            build_and_reopen(index_dir, &self.vectors, self.args.dims)?;
        let mut options = SearchOptions {
            threads: self.threads,
            ..index.options()
        };
        if let Some(factor) = self.args.rerank_factor {
            options.rerank_factor = factor;
        }
        index.set_options(options);
        let bytes_per_vector = index.memory_bytes() as f64 / self.vectors.len() as f64;
        let disk_bytes: u64 = std::fs::read_dir(index_dir)?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        let searches = time_searches(&index, &self.queries, self.args.k, self.args.reps)?;
        tracing::info!(
            single_ms = median(&searches.single_ms),
            batch_ms = median(&searches.batch_ms),
            "ours timed"
        );
        Ok(Ours {
            build_seconds,
            load_seconds,
            rerank_factor: options.rerank_factor,
            bytes_per_vector,
            disk_bytes,
            searches,
        })
    }

    /// faiss `IndexFlatIP` over the same vectors, written as raw `f32` files into `dir`.
    async fn measure_faiss(&self, python: &Path, dir: &Path) -> Result<faiss::FaissRun, BoxError> {
        let vectors_path = dir.join("vectors.f32");
        let queries_path = dir.join("queries.f32");
        self.vectors.write_raw(&vectors_path)?;
        self.queries.write_raw(&queries_path)?;
        tracing::info!(python = %python.display(), "faiss IndexFlatIP");
        let files = faiss::Files {
            vectors: &vectors_path,
            queries: &queries_path,
            dims: self.args.dims,
        };
        let args = self.args;
        let theirs = faiss::run(python, &files, args.k, args.reps, self.threads).await?;
        if theirs.vectors != self.vectors.len() {
            return Err(format!(
                "faiss indexed {} vectors, expected {}",
                theirs.vectors,
                self.vectors.len()
            )
            .into());
        }
        Ok(theirs)
    }

    /// Both sides' figures, recalls measured against `truth`.
    fn report(&self, ours: &Ours, theirs: &faiss::FaissRun, truth: &[Vec<u64>]) -> Report {
        let args = self.args;
        let faiss_ids: Vec<Vec<u64>> = theirs
            .ids
            .iter()
            .map(|ids| ids.iter().map(|&id| id as u64).collect())
            .collect();
        let recall = exact::recall(&ours.searches.ids, truth);
        let faiss_recall = exact::recall(&faiss_ids, truth);
        let single_query = Timing::new(
            &ours.searches.single_ms,
            theirs.single_query_ms,
            &theirs.single_query_ms_reps,
        );
        let batch = Timing::new(
            &ours.searches.batch_ms,
            theirs.batch_ms,
            &theirs.batch_ms_reps,
        );
        let faiss_best_single_ms = theirs
            .single_query_ms
            .min(theirs.single_query_one_thread_ms);
        let single_query_ratio_vs_faiss_best =
            round(faiss_best_single_ms / single_query.ours_ms, 2);
        let targets_met =
            single_query_ratio_vs_faiss_best >= 2.0 && batch.ratio >= 2.0 && recall >= 0.99;
        let vectors = self.vectors.len();
        Report {
            vectors,
            dims: args.dims,
            queries: self.queries.len(),
            k: args.k,
            threads: self.threads,
            reps: args.reps,
            rerank_factor: ours.rerank_factor,
            data: data::describe(args.identities, args.noise),
            seed: args.seed,
            faiss: format!("faiss-cpu {} IndexFlatIP", theirs.faiss_version),
            single_query,
            faiss_single_query_one_thread_ms: round(theirs.single_query_one_thread_ms, 3),
            single_query_ratio_vs_faiss_best,
            batch,
            recall_at_10: round(recall, 4),
            faiss_recall_at_10: round(faiss_recall, 4),
            single_equals_batch: ours.searches.single_equals_batch,
            bytes_per_vector: round(ours.bytes_per_vector, 1),
            faiss_bytes_per_vector: (4 * args.dims) as f64,
            disk_bytes_per_vector: round(ours.disk_bytes as f64 / vectors as f64, 1),
            build_seconds: round(ours.build_seconds, 3),
            load_seconds: round(ours.load_seconds, 3),
            faiss_add_seconds: round(theirs.add_seconds, 3),
            targets_met,
        }
    }
}

/// A new index of `vectors` in `index_dir` (emptied first), synced, dropped and opened
/// again: the index, and the seconds the build and the load took.
fn build_and_reopen(
    index_dir: &Path,
    vectors: &data::Vectors,
    dims: usize,
) -> Result<(EmbeddingIndex, f64, f64), BoxError> {
    if index_dir.exists() {
        std::fs::remove_dir_all(index_dir)?;
    }
    let started = Instant::now();
    let mut index = EmbeddingIndex::create(index_dir, MODEL, dims)?;
    let ids: Vec<usize> = (0..vectors.len()).collect();
    for chunk in ids.chunks(10_000) {
        let entries: Vec<NewEntry<'_>> = chunk
            .iter()
            .map(|&i| NewEntry {
                embedding: EmbeddingRef::new(MODEL, vectors.row(i)),
                meta: meta_for(i),
            })
            .collect();
        index.add_batch(&entries)?;
    }
    index.sync()?;
    let build_seconds = started.elapsed().as_secs_f64();
    drop(index);
    let started = Instant::now();
    let index = EmbeddingIndex::open_for(index_dir, MODEL, dims)?;
    let load_seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        build_seconds,
        load_seconds,
        entries = index.len(),
        "built and reopened"
    );
    Ok((index, build_seconds, load_seconds))
}

/// Top-`k` searches of every query: a warm-up, then per repetition every query alone, then
/// all as one batch.
fn time_searches(
    index: &EmbeddingIndex,
    queries: &data::Vectors,
    k: usize,
    reps: usize,
) -> Result<Searches, BoxError> {
    let batch: Vec<Query<'_>> = (0..queries.len())
        .map(|q| Query::top_k(EmbeddingRef::new(MODEL, queries.row(q)), k))
        .collect();
    let mut singles = Vec::new();
    for query in &batch {
        singles.push(index.search(query)?);
    }
    let mut batch_hits = index.search_batch(&batch)?;
    let (mut single_ms, mut batch_ms) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let started = Instant::now();
        for (query, hits) in batch.iter().zip(singles.iter_mut()) {
            *hits = index.search(query)?;
        }
        single_ms.push(started.elapsed().as_secs_f64() * 1e3 / batch.len() as f64);
        let started = Instant::now();
        batch_hits = index.search_batch(&batch)?;
        batch_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let ids = batch_hits
        .iter()
        .map(|hits| hits.iter().map(|h| h.id.0).collect())
        .collect();
    Ok(Searches {
        single_ms,
        batch_ms,
        single_equals_batch: singles == batch_hits,
        ids,
    })
}

/// Metadata spread over 50 cameras and a day of footage, as the box would store.
fn meta_for(i: usize) -> EntryMeta {
    EntryMeta {
        recording: (i / 500) as u64,
        camera: (i % 50) as u32,
        time_ms: 1_700_000_000_000 + (i as i64) * 86,
        face_box: FaceBox {
            x: 100.0,
            y: 80.0,
            width: 96.0,
            height: 112.0,
        },
        crop: i as u64,
    }
}

fn print_summary(report: &Report) {
    println!(
        "{} vectors x {} dims, {} queries, top-{}, {} thread(s); ours vs {}",
        report.vectors, report.dims, report.queries, report.k, report.threads, report.faiss
    );
    for (name, t) in [
        ("one query", &report.single_query),
        ("batch", &report.batch),
    ] {
        println!(
            "  {name}: ours {:.2} ms, faiss {:.2} ms, ratio {:.2}",
            t.ours_ms, t.faiss_ms, t.ratio
        );
    }
    println!(
        "  one query, faiss with one thread: {:.2} ms",
        report.faiss_single_query_one_thread_ms
    );
    println!(
        "  recall@{}: ours {:.4}, faiss {:.4}; memory {:.0} B/vector (faiss {:.0}); build {:.1} s, \
         load {:.2} s; targets met: {}",
        report.k,
        report.recall_at_10,
        report.faiss_recall_at_10,
        report.bytes_per_vector,
        report.faiss_bytes_per_vector,
        report.build_seconds,
        report.load_seconds,
        report.targets_met
    );
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}
