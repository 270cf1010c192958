//! `dipper-bench community`: the box daemon indexing a community's cameras in the
//! background, on simulated cameras whose recordings are the scene clips
//! (`scripts/make-scene-clips`: a still street, noise, light changes, night, people walking
//! through about a tenth of the time), then searched for every person the clips show.
//!
//! 1. **Keeping up**: `--cameras` cameras of one-minute 1080p recordings are added to a fresh
//!    daemon; for `--seconds` it indexes in the background. Camera-hours indexed per
//!    wall-clock hour is `cameras_kept_up`: a box that indexes N camera-hours an hour keeps
//!    up with N cameras recording live. Meanwhile `--creates` tasks are created (and
//!    cancelled) through the API for the create latency under load, and the daemon's peak
//!    resident memory is sampled throughout.
//! 2. **Recall**: one task per person over the footage every camera has indexed; its
//!    matches are scored against the clips' manifest: `recall` is the share of appearances
//!    (a person visible on at least one keyframe of an indexed recording) found,
//!    `false_matches` the matches on keyframes where the manifest does not show that person.
//! 3. The same footage with the motion gates off (`[motion] enabled = false`) for
//!    `--ungated-seconds`, searched alike: `recall_ungated` beside the gated run's
//!    `recall_gated` (every recording of a camera is the same clip, so both runs search the
//!    same footage), and `camera_hours_per_hour_ungated`, the gates' peer.
//! 4. The same indexing on `testsrc2` footage (everything moves) for `--testsrc-seconds`,
//!    for reference: `camera_hours_per_hour_testsrc`.
//! 5. **Searching a week already indexed** (`indexed.rs`): `--indexed-days` of every
//!    camera filled into a fresh daemon with the faces step 1 indexed, at the density they
//!    came at, then searched for every person, from creation until complete
//!    (`search_indexed_*`).
//!
//! The simulator runs in this process; the daemon is `dipper` next to this binary (build
//! both: `scripts/bench-community`).

mod indexed;
mod scenes;
mod score;

use std::time::{Duration, Instant};

use clap::Args;
use isapi::sim::{Codec, DeviceConfig, RecordingClip, SimConfig, Simulator};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    BoxError,
    daemon::{Daemon, KeyframeSize, get, percentile, photo_base64, post},
    proc,
};

#[derive(Debug, Args)]
pub(crate) struct CommunityArgs {
    /// Simulated cameras, each with a day of one-minute recordings.
    #[arg(long, default_value_t = 16)]
    cameras: usize,
    /// How long background indexing runs on the scene footage.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// How long it runs with the motion gates off (0: not measured).
    #[arg(long, default_value_t = 180)]
    ungated_seconds: u64,
    /// How long it runs on testsrc2 footage (0: not measured).
    #[arg(long, default_value_t = 120)]
    testsrc_seconds: u64,
    /// Tasks created (and cancelled) during indexing, for the create latency.
    #[arg(long, default_value_t = 200)]
    creates: usize,
    /// Days of every camera filled in as indexed and searched (0: not measured).
    #[arg(long, default_value_t = 7)]
    indexed_days: u32,
    /// Searches of that week for each person.
    #[arg(long, default_value_t = 4)]
    indexed_rounds: usize,
    /// The share of the week's faces that are the clips' people; the rest are strangers
    /// (0.01: each of them a hundred-odd times a day over 16 cameras).
    #[arg(long, default_value_t = 0.01)]
    indexed_known_share: f64,
    #[command(flatten)]
    frame: KeyframeSize,
    /// One JSON line on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    cameras: usize,
    seconds: f64,
    /// Camera-hours of scene footage indexed per wall-clock hour.
    cameras_kept_up: f64,
    camera_hours_per_hour_testsrc: Option<f64>,
    /// The same footage with the motion gates off.
    camera_hours_per_hour_ungated: Option<f64>,
    recordings_indexed: u64,
    recordings_failed: u64,
    /// With the motion gates on and off over the same footage.
    recall_gated: Option<f64>,
    recall_ungated: Option<f64>,
    recall_ratio: Option<f64>,
    appearances: u64,
    appearances_found: u64,
    false_matches: u64,
    /// Search tasks, one per person and round, over `--indexed-days` of every camera
    /// already indexed, from creation until complete.
    search_indexed_p50_ms: f64,
    search_indexed_p99_ms: f64,
    search_indexed_searches: usize,
    search_indexed_camera_hours: f64,
    search_indexed_entries: u64,
    search_indexed_matches_p50: f64,
    /// The peer: one index query over the same week and cameras, in the bench's process.
    search_indexed_scan_ms: f64,
    create_p50_ms: f64,
    create_p99_ms: f64,
    /// The daemon's peak over the whole run (every daemon it started), and by phase.
    peak_rss_mb: f64,
    peak_rss_mb_indexing: f64,
    peak_rss_mb_search_indexed: Option<f64>,
    keyframes_total: u64,
    keyframes_decoded: u64,
    keyframes_detected: u64,
    frame: String,
    worker_threads: usize,
}

/// A scene camera `n`: a day of one-minute recordings, each the same scene clip.
fn scene_camera(n: usize, clip: &scenes::Clip, end: jiff::Timestamp) -> DeviceConfig {
    let mut camera = DeviceConfig::camera("admin", "bench-pass");
    camera.serial = format!("BENCH-SCENE-{n:03}");
    camera.recording_minutes = 1;
    camera.days = 1;
    camera.end = Some(end);
    camera.codec = if clip.codec == "h265" {
        Codec::H265
    } else {
        Codec::H264
    };
    camera.recording_clips = (0..1440)
        .map(|index| RecordingClip {
            track: 101,
            index,
            path: scenes::dir().join(&clip.file),
        })
        .collect();
    camera
}

fn daemon_config(args: &CommunityArgs, gated: bool) -> String {
    format!(
        "{}[index]\nbackground = true\nkeep_days = 1\nwindow_minutes = 60\npoll_seconds = 3600\n\
         [motion]\nenabled = {gated}\n\
         [disk]\nmin_free_mib = 64\n",
        args.frame.search_section()
    )
}

/// Recordings indexed and failed in the background, all cameras together.
async fn indexed(http: &reqwest::Client, daemon: &Daemon) -> Result<(u64, u64), BoxError> {
    let cameras = get(http, &format!("{}/cameras", daemon.base)).await?;
    let tracks = cameras
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["indexing"].as_array().cloned().unwrap_or_default());
    Ok(tracks.fold((0, 0), |(done, failed), t| {
        (
            done + t["recordings_indexed"].as_u64().unwrap_or(0),
            failed + t["recordings_failed"].as_u64().unwrap_or(0),
        )
    }))
}

/// A counter's total in the daemon's `/metrics`, over the label sets containing `labels`
/// (all of them for "").
async fn counter(
    http: &reqwest::Client,
    daemon: &Daemon,
    name: &str,
    labels: &str,
) -> Result<u64, BoxError> {
    let root = daemon.base.trim_end_matches("/api/v1");
    let text = http
        .get(format!("{root}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let total: f64 = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']) && rest.contains(labels))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Ok(total as u64)
}

/// Creates `n` small tasks one after another (each cancelled at once); latencies sorted.
async fn measure_creates(
    http: &reqwest::Client,
    daemon: &Daemon,
    camera: i64,
    photo: &str,
    n: usize,
) -> Result<Vec<f64>, BoxError> {
    let to = jiff::Timestamp::now();
    let body = json!({
        "from": (to - jiff::SignedDuration::from_mins(2)).to_string(), "to": to.to_string(),
        "cameras": [camera], "priority": 5, "photo": photo,
    });
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let task = post(http, &format!("{}/tasks", daemon.base), &body).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let id = task["id"].as_str().ok_or("no task id")?;
        post(
            http,
            &format!("{}/tasks/{id}/cancel", daemon.base),
            &json!({}),
        )
        .await?;
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// What indexing the scene footage measured.
struct SceneRun {
    seconds: f64,
    indexed: (u64, u64),
    creates: Vec<f64>,
    /// Every keyframe, those decoded, those sent to the detector.
    keyframes: [u64; 3],
    search: score::Searches,
    peak_rss_mb: f64,
    /// The faces it indexed, when asked for.
    faces: Option<indexed::RealFaces>,
}

impl SceneRun {
    fn camera_hours_per_hour(&self) -> f64 {
        self.indexed.0 as f64 / 60.0 / (self.seconds / 3600.0)
    }
}

/// Indexes the scene footage for `seconds`, gated or not, creating `creates` tasks
/// meanwhile, then searches it for everyone; `keep_faces`: returns the faces it indexed.
async fn run_scenes(
    args: &CommunityArgs,
    manifest: &scenes::Manifest,
    gated: bool,
    (seconds, creates): (u64, usize),
    keep_faces: bool,
) -> Result<SceneRun, BoxError> {
    let end = jiff::Timestamp::now();
    let devices: Vec<DeviceConfig> = (0..args.cameras)
        .map(|n| scene_camera(n, &manifest.clips[n % manifest.clips.len()], end))
        .collect();
    let sim = Simulator::start(SimConfig::new(devices)).await?;
    let daemon = Daemon::start(&daemon_config(args, gated)).await?;
    let http = daemon.http();
    let ids = daemon.add_cameras(&sim).await?;
    let started = Instant::now();
    let (peaks_done, peaks_watch) = tokio::sync::watch::channel(false);
    let peaks = tokio::spawn(proc::poll_peaks(
        vec![daemon.pid()?],
        Duration::from_millis(200),
        peaks_watch,
    ));
    let queries = scenes::queries(manifest)?;
    let query_photo = photo_base64(&queries.first().ok_or("no person in the clips")?.1)?;
    let creates = measure_creates(&http, &daemon, ids[0], &query_photo, creates).await?;
    tokio::time::sleep(Duration::from_secs(seconds).saturating_sub(started.elapsed())).await;
    let indexed = indexed(&http, &daemon).await?;
    let seconds = started.elapsed().as_secs_f64();
    let total = counter(&http, &daemon, "dipper_keyframes_total", "").await?;
    let keyframes = if gated {
        let gated = "dipper_keyframes_gated_total";
        [
            total,
            counter(&http, &daemon, gated, "stage=\"decode\"").await?,
            counter(&http, &daemon, gated, "stage=\"detect\"").await?,
        ]
    } else {
        [total; 3]
    };
    let search = score::search_every_person(&http, &daemon, &ids, manifest, &queries).await?;
    peaks_done.send_replace(true);
    let peak_rss_mb = peaks.await?.first().copied().unwrap_or(f64::NAN);
    let dir = daemon.stop().await?;
    let faces = match keep_faces {
        true => Some(indexed::faces_of(dir.path(), indexed.0)?),
        false => None,
    };
    sim.shutdown().await;
    Ok(SceneRun {
        seconds,
        indexed,
        creates,
        keyframes,
        search,
        peak_rss_mb,
        faces,
    })
}

/// Camera-hours of testsrc2 footage indexed per hour over `seconds`.
async fn run_testsrc(args: &CommunityArgs) -> Result<f64, BoxError> {
    let end = jiff::Timestamp::now();
    let devices: Vec<DeviceConfig> = (0..args.cameras)
        .map(|n| {
            let mut camera = DeviceConfig::camera("admin", "bench-pass");
            camera.serial = format!("BENCH-TESTSRC-{n:03}");
            camera.recording_minutes = 1;
            camera.days = 1;
            camera.end = Some(end);
            camera
        })
        .collect();
    let sim = Simulator::start(SimConfig::new(devices)).await?;
    let daemon = Daemon::start(&daemon_config(args, true)).await?;
    let http = daemon.http();
    daemon.add_cameras(&sim).await?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.testsrc_seconds)).await;
    let (done, _) = indexed(&http, &daemon).await?;
    let hours = started.elapsed().as_secs_f64() / 3600.0;
    drop(daemon);
    sim.shutdown().await;
    Ok(done as f64 / 60.0 / hours)
}

pub(crate) async fn run(args: CommunityArgs) -> Result<(), BoxError> {
    let manifest = scenes::load()?;
    if manifest.clips.is_empty() {
        return Err("the scene manifest lists no clip".into());
    }
    let keep_faces = args.indexed_days > 0;
    let times = (args.seconds, args.creates);
    let mut scene = run_scenes(&args, &manifest, true, times, keep_faces).await?;
    let ungated = match args.ungated_seconds {
        0 => None,
        seconds => Some(run_scenes(&args, &manifest, false, (seconds, 0), false).await?),
    };
    let testsrc = match args.testsrc_seconds {
        0 => None,
        _ => Some(run_testsrc(&args).await?),
    };
    let week = match scene.faces.take() {
        Some(faces) => Some(indexed::run(&args, faces, &scenes::queries(&manifest)?).await?),
        None => None,
    };
    let search = &scene.search;
    let peaks = [
        Some(scene.peak_rss_mb),
        ungated.as_ref().map(|u| u.peak_rss_mb),
        week.as_ref().map(|w| w.peak_rss_mb),
    ];
    let recall_gated = search.recall();
    let recall_ungated = ungated.as_ref().and_then(|u| u.search.recall());
    let report = Report {
        cameras: args.cameras,
        seconds: scene.seconds,
        cameras_kept_up: scene.camera_hours_per_hour(),
        camera_hours_per_hour_testsrc: testsrc,
        camera_hours_per_hour_ungated: ungated.as_ref().map(SceneRun::camera_hours_per_hour),
        recordings_indexed: scene.indexed.0,
        recordings_failed: scene.indexed.1,
        recall_gated,
        recall_ungated,
        recall_ratio: recall_gated
            .zip(recall_ungated)
            .map(|(gated, ungated)| gated / ungated),
        appearances: search.appearances,
        appearances_found: search.found,
        false_matches: search.false_matches,
        search_indexed_p50_ms: week
            .as_ref()
            .map_or(f64::NAN, |w| percentile(&w.latencies_ms, 50.0)),
        search_indexed_p99_ms: week
            .as_ref()
            .map_or(f64::NAN, |w| percentile(&w.latencies_ms, 99.0)),
        search_indexed_searches: week.as_ref().map_or(0, |w| w.latencies_ms.len()),
        search_indexed_camera_hours: week.as_ref().map_or(0.0, |w| w.camera_hours),
        search_indexed_entries: week.as_ref().map_or(0, |w| w.entries),
        search_indexed_scan_ms: week.as_ref().map_or(f64::NAN, |w| w.scan_ms),
        search_indexed_matches_p50: week
            .as_ref()
            .map_or(f64::NAN, |w| percentile(&w.matches, 50.0)),
        create_p50_ms: percentile(&scene.creates, 50.0),
        create_p99_ms: percentile(&scene.creates, 99.0),
        peak_rss_mb: peaks.into_iter().flatten().fold(f64::NAN, f64::max),
        peak_rss_mb_indexing: scene.peak_rss_mb,
        peak_rss_mb_search_indexed: week.as_ref().map(|w| w.peak_rss_mb),
        keyframes_total: scene.keyframes[0],
        keyframes_decoded: scene.keyframes[1],
        keyframes_detected: scene.keyframes[2],
        frame: args.frame.label(),
        worker_threads: crate::figures::cores(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// A task's status until it is finished, polled.
async fn wait_finished(
    http: &reqwest::Client,
    daemon: &Daemon,
    id: &str,
) -> Result<Value, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status = get(http, &format!("{}/tasks/{id}", daemon.base)).await?;
        if matches!(
            status["state"].as_str(),
            Some("done" | "failed" | "cancelled")
        ) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            return Err(format!("task {id} did not finish in 10 minutes: {status}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
