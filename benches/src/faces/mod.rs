//! `dipper-bench faces`: the face stages' models as the box runs them (ours: `pipeline::faces`
//! under the backend its settings choose, and under tract too when that is another one)
//! beside onnxruntime from Python (the peer, PyPI `onnxruntime` in the venv
//! `scripts/fetch-models` makes), same models, same inputs, same run.
//!
//! - **Embedder**: the 150x150 chips our alignment cuts from the real photos in
//!   `.cache/faces` (every face found, cycled to `--faces`), embedded in batches of
//!   `--batch`, one thread each side and then all cores (ours: one batch per thread, as
//!   the box's worker pool runs; onnxruntime: its intra-op pool of that many threads).
//!   Faces per second, and the largest difference between the two runtimes' normalised
//!   vectors.
//! - **Detector**: the group photo scaled to each pass size the pipeline uses (640x360
//!   keyframes, and the 1280 pass of full-HD ones), one pass each. Ours is the whole
//!   `detect` (letterbox, inference, decoding, NMS); onnxruntime runs only the network on
//!   the same letterboxed input.
//!
//! `ratio` is ours over theirs (throughput, bigger is better); the top-level figures are
//! the embedder on all cores, `backend` the runtime the box's figures are for, and each
//! `tract` object the same measurement under tract beside the same peer figures.

mod detector;
mod embedder;

use std::path::{Path, PathBuf};

use pipeline::faces::{AlignedFace, BackendChoice, FaceConfig, FaceEngine, RgbView, load_upright};
use serde::Serialize;

use crate::{
    BoxError,
    figures::{cores, round},
    python,
};

#[derive(Debug, clap::Args)]
pub(crate) struct FacesArgs {
    /// Folder of the model files (default: $DIPPER_MODELS_DIR, <repo>/.cache/models, then
    /// /usr/share/dipper/models).
    #[arg(long)]
    models: Option<PathBuf>,
    /// The runtime of the box's figures: auto (as the box: onnxruntime when its library
    /// loads, else tract), onnxruntime or tract.
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    /// Folder of the real face photos (default: <repo>/.cache/faces).
    #[arg(long)]
    photos: Option<PathBuf>,
    /// The Python with onnxruntime (default: $DIPPER_PYTHON or <repo>/.cache/venv/bin/python).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Faces per embedder batch, both sides (default 1: the box's setting, since neither
    /// runtime embeds faster per face in batches here).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Chips embedded per pass (the photos' faces, cycled).
    #[arg(long, default_value_t = 64)]
    faces: usize,
    /// Threads of the all-cores runs (default: the cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// One JSON line on stdout instead of a summary.
    #[arg(long)]
    json: bool,
}

/// One side by side measurement.
#[derive(Debug, Serialize)]
struct Pair {
    threads: usize,
    ours_per_second: f64,
    /// onnxruntime at its best of the configurations below.
    onnxruntime_per_second: f64,
    /// One session whose intra-op pool has `threads` threads.
    onnxruntime_intra_op_per_second: f64,
    /// `threads` single-threaded sessions side by side (absent for one thread).
    onnxruntime_sessions_per_second: Option<f64>,
    /// Ours over onnxruntime's best.
    ratio: f64,
}

impl Pair {
    fn new(threads: usize, ours: f64, theirs: Peer) -> Pair {
        let best = theirs
            .sessions
            .map_or(theirs.intra_op, |s| s.max(theirs.intra_op));
        Pair {
            threads,
            ours_per_second: round(ours, 1),
            onnxruntime_per_second: round(best, 1),
            onnxruntime_intra_op_per_second: round(theirs.intra_op, 1),
            onnxruntime_sessions_per_second: theirs.sessions.map(|s| round(s, 1)),
            ratio: round(ours / best, 3),
        }
    }
}

/// The box's measurement repeated under tract, beside the same peer figures.
#[derive(Debug, Serialize)]
struct TractSides {
    single_thread: Pair,
    all_cores: Pair,
}

impl TractSides {
    /// `ours` is tract's (one thread, all cores).
    fn new(threads: usize, ours: (f64, f64), theirs_one: Peer, theirs_all: Peer) -> TractSides {
        TractSides {
            single_thread: Pair::new(1, ours.0, theirs_one),
            all_cores: Pair::new(threads, ours.1, theirs_all),
        }
    }
}

/// onnxruntime's items per second in each configuration.
#[derive(Debug, Clone, Copy)]
struct Peer {
    intra_op: f64,
    sessions: Option<f64>,
}

/// What `python/onnxruntime_faces.py` runs: a model over raw f32 inputs of `shape`.
struct PeerRun<'a> {
    python: &'a Path,
    model: &'a Path,
    inputs: &'a Path,
    shape: String,
    batch: usize,
    seconds: f64,
}

impl PeerRun<'_> {
    /// onnxruntime on `threads` threads, both ways (one way for one thread); the first run
    /// writes its outputs to `outputs` when given.
    async fn measure(&self, threads: usize, outputs: Option<&Path>) -> Result<Peer, BoxError> {
        let intra_op = self.run(threads, 1, outputs).await?;
        let sessions = if threads > 1 {
            Some(self.run(1, threads, None).await?)
        } else {
            None
        };
        Ok(Peer { intra_op, sessions })
    }

    async fn run(
        &self,
        threads: usize,
        sessions: usize,
        outputs: Option<&Path>,
    ) -> Result<f64, BoxError> {
        let mut args = vec![
            "--model".to_owned(),
            self.model.display().to_string(),
            "--inputs".to_owned(),
            self.inputs.display().to_string(),
            "--shape".to_owned(),
            self.shape.clone(),
            "--batch".to_owned(),
            self.batch.to_string(),
            "--threads".to_owned(),
            threads.to_string(),
            "--sessions".to_owned(),
            sessions.to_string(),
            "--seconds".to_owned(),
            self.seconds.to_string(),
        ];
        if let Some(outputs) = outputs {
            args.push("--outputs".to_owned());
            args.push(outputs.display().to_string());
        }
        let script = python::script("onnxruntime_faces.py");
        let answer = python::run_json(self.python, &script, &args).await?;
        answer["items_per_second"]
            .as_f64()
            .ok_or_else(|| format!("no items_per_second in {answer}").into())
    }
}

#[derive(Debug, Serialize)]
struct Report {
    /// The runtime of the box's (`ours`) figures: onnxruntime or tract.
    backend: String,
    /// Headline: embedder faces per second on all cores.
    ours_faces_per_second: f64,
    onnxruntime_faces_per_second: f64,
    ratio: f64,
    embedder: embedder::EmbedderReport,
    detector: Vec<detector::DetectorReport>,
}

pub(crate) async fn run(args: FacesArgs) -> Result<(), BoxError> {
    let photos = args
        .photos
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/faces"));
    let python = args.python.clone().unwrap_or_else(python::default_python);
    let threads = args.threads.unwrap_or_else(cores);
    if args.batch == 0 || args.faces < args.batch {
        return Err(format!(
            "--faces ({}) must hold at least one --batch ({}), which must not be 0",
            args.faces, args.batch
        )
        .into());
    }
    let engines = Engines::new(&args)?;
    let engine = &engines.ours;
    let chips = chips(engine, &photos, args.faces)?;
    tracing::info!(chips = chips.len(), backend = %engine.backend(), "embedder");
    let embedder = embedder::measure(
        engine,
        engines.tract.as_ref(),
        &engines.config,
        &chips,
        &python,
        threads,
        &args,
    )
    .await?;
    let group = load_upright(&photos.join(GROUP_PHOTO))?;
    let mut detectors = Vec::new();
    for side in [640, 1280] {
        tracing::info!(side, "detector");
        detectors
            .push(detector::measure(&engines.config, &group, side, &python, threads, &args).await?);
    }
    let report = Report {
        backend: engine.backend().to_string(),
        ours_faces_per_second: embedder.all_cores.ours_per_second,
        onnxruntime_faces_per_second: embedder.all_cores.onnxruntime_per_second,
        ratio: embedder.all_cores.ratio,
        embedder,
        detector: detectors,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(())
}

/// The face engines measured, as `args` configures them.
struct Engines {
    config: FaceConfig,
    /// Under the backend the box's figures are for.
    ours: FaceEngine,
    /// Under tract, when `ours` is another backend.
    tract: Option<FaceEngine>,
}

impl Engines {
    fn new(args: &FacesArgs) -> Result<Engines, BoxError> {
        let mut config = FaceConfig::default();
        if let Some(dir) = &args.models {
            config.models = models::SearchPath::new([dir.clone()]);
        }
        config.embedder.batch_size = args.batch;
        config.backend.choice = args.backend;
        let ours = FaceEngine::new(config.clone())?;
        let tract = if ours.backend() == pipeline::faces::Backend::Tract {
            None
        } else {
            let mut tract_config = config.clone();
            tract_config.backend.choice = BackendChoice::Tract;
            Some(FaceEngine::new(tract_config)?)
        };
        Ok(Engines {
            config,
            ours,
            tract,
        })
    }
}

fn print_summary(report: &Report) {
    let e = &report.embedder;
    println!("ours: {}", report.backend);
    println!(
        "embedder {} (batch {}): 1 thread ours {} vs onnxruntime {} faces/s ({}); {} threads {} vs {} ({}); max difference {:.2e}",
        e.model,
        e.batch,
        e.single_thread.ours_per_second,
        e.single_thread.onnxruntime_per_second,
        e.single_thread.ratio,
        e.all_cores.threads,
        e.all_cores.ours_per_second,
        e.all_cores.onnxruntime_per_second,
        e.all_cores.ratio,
        e.max_abs_difference
    );
    for d in &report.detector {
        println!(
            "detector {} (input {}, {} faces): 1 thread ours {} vs onnxruntime {} frames/s ({}); {} threads {} vs {} ({})",
            d.frame,
            d.input,
            d.faces,
            d.single_thread.ours_per_second,
            d.single_thread.onnxruntime_per_second,
            d.single_thread.ratio,
            d.all_cores.threads,
            d.all_cores.ours_per_second,
            d.all_cores.onnxruntime_per_second,
            d.all_cores.ratio
        );
    }
}

/// The photo the detector is measured on: a 1927 group photo of about 29 faces.
const GROUP_PHOTO: &str = "solvay_conference_1927.jpg";

/// Every face of every photo in `dir`, aligned, cycled to `count`.
fn chips(engine: &FaceEngine, dir: &Path, count: usize) -> Result<Vec<AlignedFace>, BoxError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e} (run scripts/fetch-models)", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("png"))
        })
        .collect();
    paths.sort();
    let mut found = Vec::new();
    for path in &paths {
        let image = load_upright(path)?;
        let frame = RgbView::from_image(&image)?;
        for detection in engine.detect(frame)? {
            found.extend(engine.align(frame, &detection));
        }
    }
    if found.is_empty() {
        return Err(format!("no face found in the photos of {}", dir.display()).into());
    }
    Ok(found.iter().cycle().take(count).cloned().collect())
}

/// Runs `work` on `threads` threads until `seconds` pass; returns items per second, where
/// each call of `work` reports how many items it did.
fn per_second(
    threads: usize,
    seconds: f64,
    work: impl Fn() -> Result<usize, BoxError> + Sync,
) -> Result<f64, BoxError> {
    work()?; // warm-up: plans are built on first use
    let started = std::time::Instant::now();
    let deadline = std::time::Duration::from_secs_f64(seconds);
    let counts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut items = 0;
                    while started.elapsed() < deadline {
                        items += work()?;
                    }
                    Ok::<usize, BoxError>(items)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| BoxError::from("a worker thread panicked"))?
            })
            .collect::<Result<Vec<usize>, BoxError>>()
    })?;
    Ok(counts.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64())
}
