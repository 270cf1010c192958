//! `dipper-bench tasks`: the box daemon (`dipper run`, its own process) on simulated
//! cameras holding `--recordings` one-minute recordings in all.
//!
//! 1. **Task creation**: `--creates` tasks are created through the local API over a range
//!    covering 10 recordings, then as many over the whole range (every recording), while a
//!    big task runs; each latency is the whole HTTP exchange (upload of the query photo
//!    included). Creation stores the parameters only, so both p99s should be alike.
//! 2. **A task spanning every recording** runs for `--seconds`: the daemon's peak resident
//!    memory (`VmHWM`) is sampled throughout, and the footage it searched (recordings done x
//!    their length) per second of wall time gives camera-hours per hour.
//!
//! The simulator runs in this process; the daemon is `dipper` next to this binary (build
//! both: `scripts/bench-tasks`).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use clap::Args;
use isapi::sim::{DeviceConfig, SimConfig, Simulator};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    BoxError,
    daemon::{Daemon, KeyframeSize, percentile, photo_base64, post},
    proc,
};

#[derive(Debug, Args)]
pub(crate) struct TasksArgs {
    /// Recordings (one minute each) on the simulated cameras, in all.
    #[arg(long, default_value_t = 100_000)]
    recordings: u64,
    /// Recordings per camera (a week of one-minute recordings by default).
    #[arg(long, default_value_t = 10_080)]
    per_camera: u64,
    /// Tasks created per range for the latency figure.
    #[arg(long, default_value_t = 200)]
    creates: usize,
    /// How long the big task runs before it is measured.
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    #[command(flatten)]
    frame: KeyframeSize,
    /// One JSON line on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    recordings: u64,
    cameras: usize,
    creates: usize,
    /// Task creation over the whole range (every recording).
    create_p50_ms: f64,
    create_p99_ms: f64,
    /// Task creation over ten recordings.
    create_small_p50_ms: f64,
    create_small_p99_ms: f64,
    /// Recordings the big task knew of when measured (it searches lazily, page by page).
    recordings_found: u64,
    recordings_done: u64,
    keyframes: u64,
    /// Peak resident memory of the daemon, whole run.
    peak_rss_mb: f64,
    /// Resident memory of the daemon once started (models loaded), before any task.
    idle_rss_mb: f64,
    seconds: f64,
    camera_hours_per_hour: f64,
    keyframes_per_second: f64,
    frame: String,
    worker_threads: usize,
}

pub(crate) async fn run(args: TasksArgs) -> Result<(), BoxError> {
    let bench = Bench::start(&args).await?;
    let report = bench.measure(&args).await?;
    drop(bench.daemon);
    bench.sim.shutdown().await;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(())
}

/// The simulated cameras and the daemon that has them all.
struct Bench {
    sim: Simulator,
    daemon: Daemon,
    http: reqwest::Client,
    pid: u32,
    cameras: usize,
    minutes_per_camera: u64,
    /// The end of every camera's recordings.
    end: jiff::Timestamp,
    /// The daemon's ids of the cameras.
    ids: Vec<i64>,
    /// The daemon's resident memory once its cameras are added, before any task.
    idle_rss_mb: f64,
}

impl Bench {
    /// Starts the simulator with `--recordings` over as few cameras as `--per-camera`
    /// allows, and the daemon, and adds the cameras to it.
    async fn start(args: &TasksArgs) -> Result<Bench, BoxError> {
        let cameras = args.recordings.div_ceil(args.per_camera).max(1) as usize;
        let minutes_per_camera = args.recordings.div_ceil(cameras as u64);
        let end = jiff::Timestamp::now();
        let sim = start_simulator(cameras, minutes_per_camera, end).await?;
        // Background indexing off: this measures one task's own search of un-indexed footage.
        let daemon = Daemon::start(&format!(
            "{}tasks_at_once = 1\n[index]\nbackground = false\n[disk]\nmin_free_mib = 64\n",
            args.frame.search_section()
        ))
        .await?;
        let pid = daemon.pid()?;
        let http = daemon.http();
        let ids = daemon.add_cameras(&sim).await?;
        let idle_rss_mb = proc::rss_mb(Some(pid)).unwrap_or(f64::NAN);
        Ok(Bench {
            sim,
            daemon,
            http,
            pid,
            cameras,
            minutes_per_camera,
            end,
            ids,
            idle_rss_mb,
        })
    }

    /// Starts the big task, times the creations while it runs, and reads how far it got
    /// after `--seconds`.
    async fn measure(&self, args: &TasksArgs) -> Result<Report, BoxError> {
        let tasks = TaskRequests::new(self.end, self.minutes_per_camera)?;
        let url = format!("{}/tasks", self.daemon.base);
        // The big task starts first, so creations are measured on a busy box.
        let started = Instant::now();
        let big = post(&self.http, &url, &tasks.body(tasks.from, json!(self.ids))).await?;
        let big_id = big["id"].as_str().ok_or("no task id")?.to_owned();
        let (peaks_done, peaks_watch) = tokio::sync::watch::channel(false);
        let peaks = tokio::spawn(proc::poll_peaks(
            vec![self.pid],
            Duration::from_millis(200),
            peaks_watch,
        ));
        let one_camera = tasks.body(tasks.small_from, json!([self.ids[0]]));
        let small = time_creations(&self.http, &url, &one_camera, args.creates).await?;
        let every_camera = tasks.body(tasks.from, json!(self.ids));
        let whole = time_creations(&self.http, &url, &every_camera, args.creates).await?;

        let remaining = Duration::from_secs(args.seconds).saturating_sub(started.elapsed());
        tokio::time::sleep(remaining).await;
        let status: Value = self
            .http
            .get(format!("{url}/{big_id}"))
            .send()
            .await?
            .json()
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        peaks_done.send_replace(true);
        let peak = peaks.await?.first().copied().unwrap_or(f64::NAN);
        let done = status["recordings_done"].as_u64().unwrap_or(0);
        let keyframes = status["keyframes"].as_u64().unwrap_or(0);
        Ok(Report {
            recordings: self.minutes_per_camera * self.cameras as u64,
            cameras: self.cameras,
            creates: args.creates,
            create_p50_ms: percentile(&whole, 50.0),
            create_p99_ms: percentile(&whole, 99.0),
            create_small_p50_ms: percentile(&small, 50.0),
            create_small_p99_ms: percentile(&small, 99.0),
            recordings_found: status["recordings_total"].as_u64().unwrap_or(0),
            recordings_done: done,
            keyframes,
            peak_rss_mb: peak,
            idle_rss_mb: self.idle_rss_mb,
            seconds,
            camera_hours_per_hour: (done as f64 / 60.0) / (seconds / 3600.0),
            keyframes_per_second: keyframes as f64 / seconds,
            frame: args.frame.label(),
            worker_threads: crate::figures::cores(),
        })
    }
}

/// `cameras` simulated cameras with `minutes_per_camera` one-minute recordings each,
/// ending at `end`.
async fn start_simulator(
    cameras: usize,
    minutes_per_camera: u64,
    end: jiff::Timestamp,
) -> Result<Simulator, BoxError> {
    let devices: Vec<DeviceConfig> = (0..cameras)
        .map(|n| {
            let mut camera = DeviceConfig::camera("admin", "bench-pass");
            camera.serial = format!("BENCH-TASKS-{n:03}");
            camera.recording_minutes = 1;
            camera.days = minutes_per_camera.div_ceil(1440) as u32;
            camera.end = Some(end);
            camera.limits.max_results_per_page = 64;
            camera
        })
        .collect();
    Ok(Simulator::start(SimConfig::new(devices)).await?)
}

/// What the tasks ask for: the whole recorded period, or its last ten minutes (on one
/// camera), with the query photo.
struct TaskRequests {
    to: jiff::Timestamp,
    from: jiff::Timestamp,
    small_from: jiff::Timestamp,
    /// The query photo, base64.
    photo: String,
}

impl TaskRequests {
    fn new(end: jiff::Timestamp, minutes_per_camera: u64) -> Result<TaskRequests, BoxError> {
        let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/faces/obama.jpg");
        Ok(TaskRequests {
            to: end,
            from: end - jiff::SignedDuration::from_mins((minutes_per_camera + 1) as i64),
            small_from: end - jiff::SignedDuration::from_mins(10),
            photo: photo_base64(&photo)?,
        })
    }

    /// The body creating a task over `cameras` from `from`.
    fn body(&self, from: jiff::Timestamp, cameras: Value) -> Value {
        json!({ "from": from.to_string(), "to": self.to.to_string(), "cameras": cameras,
                "priority": 2, "photo": self.photo })
    }
}

/// Creates `n` tasks of `body` one after the other: each creation's milliseconds, sorted.
/// Queued behind the big task (one task at a time), they hold nothing while they wait.
async fn time_creations(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    n: usize,
) -> Result<Vec<f64>, BoxError> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        post(http, url, body).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn print_summary(report: &Report) {
    println!(
        "{} recordings on {} cameras\ncreate p50 {:.2} ms p99 {:.2} ms over every recording; p50 {:.2} ms p99 {:.2} ms over ten\n\
         big task: {} found, {} done, {} keyframes in {:.0} s\npeak RSS {:.0} MB (idle {:.0} MB)\n{:.1} camera-hours per hour, {:.1} keyframes/s at {}",
        report.recordings,
        report.cameras,
        report.create_p50_ms,
        report.create_p99_ms,
        report.create_small_p50_ms,
        report.create_small_p99_ms,
        report.recordings_found,
        report.recordings_done,
        report.keyframes,
        report.seconds,
        report.peak_rss_mb,
        report.idle_rss_mb,
        report.camera_hours_per_hour,
        report.keyframes_per_second,
        report.frame
    );
}
