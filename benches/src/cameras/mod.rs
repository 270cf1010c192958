//! `dipper-bench cameras`: the downloader against N simulated cameras.
//!
//! The simulator runs in its own process ([`crate::sim`]). Its cameras are searched over
//! the last day for the work list ([`work`]). Then, in this process:
//! 1. the downloader fetches recordings with `--concurrency` workers for `--seconds`
//!    ([`ours`]); its peak memory is read from the OS right after, and every completed
//!    recording is then checked against the simulator's size and CRC-32 ([`checksums`]);
//! 2. a baseline client fetches exactly the recordings phase 1 completed, at the same
//!    concurrency ([`baseline`]);
//! 3. live downloads measure their first-byte latency while backfill saturates the
//!    downloader ([`live`]).
//!
//! The result is one JSON line with `--json` ([`report`]), else a short summary.

mod baseline;
mod checksums;
mod live;
mod ours;
mod report;
mod work;

use std::{path::PathBuf, sync::Arc, time::Duration};

use clap::Args;
use isapi::{Client, ClientConfig};
use pipeline::downloader::{Downloader, DownloaderConfig, scheduler::SchedulerConfig};

use crate::{
    BoxError,
    figures::round,
    proc,
    sim::{SimChildArgs, SimProcess},
};
use baseline::BaselineKind;
use checksums::Checksums;
use report::{BaselineReport, LiveReport, Report, mbps};
use work::WorkList;

/// The Digest user of the simulated cameras (the password is new each run).
const USER: &str = "admin";
/// Open files a process needs besides its sockets to cameras or downloads.
const SPARE_FILES: u64 = 256;

/// Options of `cameras`; every default is in its doc comment (and in `--help`).
#[derive(Debug, Clone, Args)]
pub(crate) struct CamerasArgs {
    /// Simulated cameras, one channel each, each on its own port of 127.0.0.1.
    #[arg(long, default_value_t = 100)]
    cameras: u32,
    /// Downloads at once (the global limit of the downloader). Default: one per camera.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Seconds during which workers start new downloads; those in flight then finish, and
    /// the measured time runs until they have.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Rate of each download stream in kbit/s, as a camera serves a playback download from
    /// its own storage; 0 = unthrottled (as fast as the two processes go).
    #[arg(long, default_value_t = 8000)]
    rate_kbps: u64,
    /// Length of each recording; the clips are about 614 kbit/s, so a minute is ~4.6 MB.
    #[arg(long, default_value_t = 1)]
    recording_minutes: u32,
    /// Downloads at once per camera: the simulated camera's own limit (more get 503
    /// deviceBusy) and the downloader's per-device limit.
    #[arg(long, default_value_t = 4)]
    device_limit: u32,
    /// The downloader's memory budget for downloaded bytes (its chunk pool).
    #[arg(long, default_value_t = 64)]
    memory_budget_mb: usize,
    /// Size of one chunk of the pool.
    #[arg(long, default_value_t = 32)]
    chunk_kb: usize,
    /// Read buffer of each download's connection (the ISAPI client's
    /// `download_read_buffer`).
    #[arg(long, default_value_t = 32)]
    read_buffer_kb: usize,
    /// Client fetching the same recordings for comparison: curl (separate processes), naive
    /// (in this process, each body buffered whole) or none.
    #[arg(long, value_enum, default_value_t = BaselineKind::Curl)]
    baseline: BaselineKind,
    /// Live downloads timed to their first byte under a saturated queue; 0 skips the phase.
    #[arg(long, default_value_t = 100)]
    live_tries: usize,
    /// Folder of the clips of scripts/make-clips. Default: $DIPPER_CLIPS_DIR, else
    /// <repo>/.cache/clips.
    #[arg(long)]
    clips: Option<PathBuf>,
    /// Print exactly one JSON line on stdout instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark and prints its report.
pub(crate) async fn run(args: CamerasArgs) -> Result<(), BoxError> {
    let report = measure(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.summary());
    }
    Ok(())
}

async fn measure(args: &CamerasArgs) -> Result<Report, BoxError> {
    let bench = Bench::set_up(args).await?;
    let (phase1, checksums) = bench.run_downloader().await?;
    let baseline = bench
        .run_baseline(&phase1.ours.completed, checksums)
        .await?;
    let live = bench.run_live().await?;
    Ok(bench.finish(phase1, baseline, live))
}

/// The parts of one run: the simulator, the work list searched on it and the downloader.
struct Bench<'a> {
    args: &'a CamerasArgs,
    concurrency: usize,
    password: String,
    sim: SimProcess,
    work: Arc<WorkList>,
    downloader: Downloader,
}

/// What phase 1 measured.
struct DownloaderPhase {
    ours: ours::Outcome,
    /// Completed recordings that differ from the simulator's.
    corrupt: u64,
    /// Bytes of the completed recordings.
    bytes: u64,
    peak_rss_mb: Option<f64>,
    pool_chunks_allocated: usize,
    cpu_seconds: Option<f64>,
    sim_cpu_seconds: Option<f64>,
}

impl Bench<'_> {
    /// Starts the simulator, lists the recordings to fetch and makes the downloader.
    async fn set_up(args: &CamerasArgs) -> Result<Bench<'_>, BoxError> {
        let concurrency = args.concurrency.unwrap_or(args.cameras as usize);
        if args.cameras == 0 || concurrency == 0 || args.device_limit == 0 {
            return Err("--cameras, --concurrency and --device-limit must be at least 1".into());
        }
        check_open_files(args.cameras as u64 + concurrency as u64)?;
        let password = format!("bench-{:08x}", rand::random::<u32>());
        let sim = start_simulator(args, &password).await?;

        let client = Client::new(ClientConfig {
            download_read_buffer: args.read_buffer_kb << 10,
            ..ClientConfig::default()
        })?;
        let per_camera = work::recordings_per_camera(
            args.cameras as usize,
            concurrency,
            args.seconds,
            args.rate_kbps,
            args.recording_minutes,
        );
        let work =
            Arc::new(WorkList::search(&client, sim.urls(), USER, &password, per_camera).await?);
        tracing::info!(per_camera, "recordings listed");

        let downloader = new_downloader(args, concurrency)?;
        for camera in &work.cameras {
            downloader.set_device_limit(camera.key, args.device_limit as usize);
        }
        Ok(Bench {
            args,
            concurrency,
            password,
            sim,
            work,
            downloader,
        })
    }

    /// Phase 1: the downloader for `--seconds`, then every recording it completed checked
    /// against the simulator's size and CRC-32 (outside the measured time). The checksums
    /// are the baseline's expectations.
    async fn run_downloader(&self) -> Result<(DownloaderPhase, Checksums), BoxError> {
        tracing::info!(
            concurrency = self.concurrency,
            seconds = self.args.seconds,
            "phase 1: the downloader"
        );
        let cpu_before = (proc::cpu_seconds(None), self.sim.cpu_seconds());
        let rss_before = proc::rss_mb(None);
        tracing::info!(rss_mb = ?rss_before, "resident memory before phase 1");
        let ours = ours::run(
            &self.downloader,
            &self.work,
            self.concurrency,
            Duration::from_secs(self.args.seconds),
        )
        .await;
        let peak_rss_mb = proc::peak_rss_mb(None);
        let pool_chunks_allocated = self.downloader.pool().allocated();
        let cpu_seconds = cpu_since(cpu_before.0, proc::cpu_seconds(None));
        let sim_cpu_seconds = cpu_since(cpu_before.1, self.sim.cpu_seconds());
        let mut checksums = Checksums::default();
        checksums
            .fetch(&self.work, ours.completed.iter().map(|c| c.item))
            .await?;
        let corrupt = count_corrupt(&self.work, &checksums, &ours.completed);
        let bytes: u64 = ours.completed.iter().map(|c| c.bytes).sum();
        tracing::info!(
            recordings = ours.completed.len(),
            bytes,
            seconds = ours.seconds,
            corrupt,
            errors = ours.errors.len(),
            "phase 1 done"
        );
        let phase1 = DownloaderPhase {
            ours,
            corrupt,
            bytes,
            peak_rss_mb,
            pool_chunks_allocated,
            cpu_seconds,
            sim_cpu_seconds,
        };
        Ok((phase1, checksums))
    }

    /// Phase 2: the baseline, on exactly the recordings phase 1 completed; `None` when
    /// there is none to run or nothing to fetch.
    async fn run_baseline(
        &self,
        completed: &[ours::Completed],
        checksums: Checksums,
    ) -> Result<Option<baseline::Outcome>, BoxError> {
        let items: Arc<Vec<usize>> = Arc::new(completed.iter().map(|c| c.item).collect());
        let (work, concurrency) = (&self.work, self.concurrency);
        let sim_cpu_before = self.sim.cpu_seconds();
        let baseline = match self.args.baseline {
            BaselineKind::None => None,
            _ if items.is_empty() => None,
            BaselineKind::Curl => {
                tracing::info!(recordings = items.len(), "phase 2: curl");
                let credentials = format!("{USER}:{}", self.password);
                let expected = |item| checksums.get(work, item);
                Some(baseline::curl::run(work, &items, concurrency, &credentials, expected).await?)
            }
            BaselineKind::Naive => {
                tracing::info!(recordings = items.len(), "phase 2: naive client");
                let checksums = Arc::new(checksums);
                let work_for_expected = work.clone();
                let expected = Arc::new(move |item| checksums.get(&work_for_expected, item));
                Some(baseline::naive::run(work, &items, concurrency, expected).await?)
            }
        };
        Ok(baseline.map(|mut outcome| {
            outcome.sim_cpu_seconds = cpu_since(sim_cpu_before, self.sim.cpu_seconds());
            outcome
        }))
    }

    /// Phase 3: live first-byte latency under a saturated queue; `None` with
    /// `--live-tries 0`.
    async fn run_live(&self) -> Result<Option<LiveReport>, BoxError> {
        let tries = self.args.live_tries;
        if tries == 0 {
            return Ok(None);
        }
        tracing::info!(tries, "phase 3: live first byte");
        let outcome = live::run(&self.downloader, &self.work, self.concurrency, tries).await?;
        Ok(Some(LiveReport::new(tries, &outcome)))
    }

    /// Stops the downloader and the simulator, and reports the three phases.
    fn finish(
        self,
        phase1: DownloaderPhase,
        baseline: Option<baseline::Outcome>,
        live: Option<LiveReport>,
    ) -> Report {
        self.downloader.shutdown();
        drop(self.sim);

        let (args, ours, bytes) = (self.args, &phase1.ours, phase1.bytes);
        let throughput_mbps = mbps(bytes, ours.seconds);
        let baseline = baseline.as_ref().map(BaselineReport::new);
        let ratio_vs_baseline = baseline
            .as_ref()
            .filter(|b| b.throughput_mbps > 0.0)
            .map(|b| round(throughput_mbps / b.throughput_mbps, 3));
        Report {
            cameras: args.cameras,
            concurrency: self.concurrency,
            rate_kbps: args.rate_kbps,
            recording_minutes: args.recording_minutes,
            device_limit: args.device_limit,
            memory_budget_mb: args.memory_budget_mb,
            chunk_kb: args.chunk_kb,
            read_buffer_kb: args.read_buffer_kb,
            recordings: ours.completed.len(),
            bytes,
            seconds: round(ours.seconds, 3),
            throughput_mbps,
            peak_rss_mb: phase1.peak_rss_mb.map(|mb| round(mb, 1)),
            errors: ours.errors.len() as u64,
            corrupt: phase1.corrupt,
            restarts: ours.restarts,
            pool_chunks_allocated: phase1.pool_chunks_allocated,
            pool_chunks_capacity: self.downloader.pool().capacity(),
            mean_chunk_bytes: bytes.checked_div(ours.data_events).unwrap_or(0),
            cpu_seconds: phase1.cpu_seconds.map(|s| round(s, 2)),
            sim_cpu_seconds: phase1.sim_cpu_seconds.map(|s| round(s, 2)),
            baseline,
            ratio_vs_baseline,
            live_first_byte_ms: live,
        }
    }
}

/// The simulator process, its cameras as `args` says, with `password` for [`USER`].
async fn start_simulator(args: &CamerasArgs, password: &str) -> Result<SimProcess, BoxError> {
    SimProcess::start(&SimChildArgs {
        cameras: args.cameras,
        rate_kbps: args.rate_kbps,
        device_limit: args.device_limit,
        recording_minutes: args.recording_minutes,
        user: USER.to_owned(),
        password: password.to_owned(),
        clips: args
            .clips
            .clone()
            .unwrap_or_else(isapi::sim::default_clips_dir),
    })
    .await
}

/// The downloader under test, sized as `args` says, `concurrency` downloads at once.
fn new_downloader(args: &CamerasArgs, concurrency: usize) -> Result<Downloader, BoxError> {
    Ok(Downloader::new(DownloaderConfig {
        memory_budget: args.memory_budget_mb << 20,
        chunk_size: args.chunk_kb << 10,
        scheduler: SchedulerConfig {
            global_limit: concurrency,
            job_limit: concurrency,
            default_device_limit: args.device_limit as usize,
            ..SchedulerConfig::default()
        },
        ..DownloaderConfig::default()
    })?)
}

/// Completed recordings whose bytes, CRC-32 or reported size differ from the simulator's
/// checksum; the first few are logged.
fn count_corrupt(work: &WorkList, checksums: &Checksums, completed: &[ours::Completed]) -> u64 {
    let mut corrupt = 0;
    for completed in completed {
        let want = checksums.get(work, completed.item);
        let exact = want.is_some_and(|want| {
            want.bytes == completed.bytes
                && want.crc32 == completed.crc32
                && completed.reported == completed.bytes
        });
        if !exact {
            corrupt += 1;
            if corrupt <= 5 {
                tracing::warn!(
                    uri = %work.recording(completed.item).playback_uri,
                    bytes = completed.bytes,
                    crc32 = completed.crc32,
                    reported = completed.reported,
                    ?want,
                    "downloaded recording differs from the simulator's"
                );
            }
        }
    }
    corrupt
}

fn cpu_since(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    Some(after? - before?)
}

/// Fails early, with the fix, when the processes may not open a socket per camera and per
/// download (the simulator inherits this process's limit).
fn check_open_files(sockets: u64) -> Result<(), BoxError> {
    let needed = sockets + SPARE_FILES;
    match proc::open_files_limit() {
        Some(limit) if limit < needed => Err(format!(
            "this run needs about {needed} open files, but the limit is {limit}: raise it with \
             `ulimit -n {needed}` or more (scripts/bench-cameras raises it to the hard limit)"
        )
        .into()),
        _ => Ok(()),
    }
}
