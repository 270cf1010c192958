//! Searching a week of a community's footage that is already indexed: `--cameras` cameras x
//! `--indexed-days` days of one-minute recordings, filled straight into a daemon's store and
//! index (`appliance::synthetic::fill`, which writes what background indexing would have)
//! with the faces the scene footage gave, at the density it gave them (faces per
//! camera-minute); then one search task per person over all of it, from its creation
//! through the API until its results are complete (`search_indexed_*`).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use appliance::synthetic::{self, Face, Footage};
use isapi::sim::{DeviceConfig, SimConfig, Simulator};
use pipeline::index::{EmbeddingIndex, EmbeddingRef, EntryId, Query};
use serde_json::json;

use super::{CommunityArgs, wait_finished};
use crate::{
    BoxError,
    daemon::{Daemon, photo_base64, post},
    proc,
};

/// The faces an indexing run left in its index.
#[derive(Debug)]
pub(super) struct RealFaces {
    model: String,
    faces: Vec<Face>,
    per_camera_minute: f64,
}

/// Every face in the index of the data directory `dir`, after `camera_minutes` of footage
/// were indexed into it (one-minute recordings: one a camera-minute).
pub(super) fn faces_of(dir: &Path, camera_minutes: u64) -> Result<RealFaces, BoxError> {
    let index = EmbeddingIndex::open(dir.join("index"))?;
    let mut faces = Vec::with_capacity(usize::try_from(index.len())?);
    for id in 0..index.len() {
        let meta = index.entry(EntryId(id))?;
        let b = meta.face_box;
        faces.push(Face {
            vector: index.vector(EntryId(id))?,
            face_box: [b.x, b.y, b.width, b.height],
        });
    }
    Ok(RealFaces {
        model: index.model().to_owned(),
        per_camera_minute: faces.len() as f64 / camera_minutes.max(1) as f64,
        faces,
    })
}

/// What the searches over the filled week measured.
#[derive(Debug, Default)]
pub(super) struct IndexedRun {
    /// Sorted.
    pub(super) latencies_ms: Vec<f64>,
    pub(super) camera_hours: f64,
    pub(super) entries: u64,
    /// Matches per search, sorted.
    pub(super) matches: Vec<f64>,
    /// One index query over the whole week, all cameras (the peer).
    pub(super) scan_ms: f64,
    pub(super) peak_rss_mb: f64,
}

/// Fills a fresh daemon with the week and searches it for each person in `queries`,
/// `--indexed-rounds` times over.
pub(super) async fn run(
    args: &CommunityArgs,
    faces: RealFaces,
    queries: &[(String, std::path::PathBuf)],
) -> Result<IndexedRun, BoxError> {
    // The cameras only need to exist: nothing of the filled week is asked of them.
    let devices = (0..args.cameras)
        .map(|n| {
            let mut camera = DeviceConfig::camera("admin", "bench-pass");
            camera.serial = format!("BENCH-WEEK-{n:03}");
            camera.days = 1;
            camera
        })
        .collect();
    let sim = Simulator::start(SimConfig::new(devices)).await?;
    let config = format!(
        "{}[index]\nbackground = false\n[disk]\nmin_free_mib = 64\n",
        args.frame.search_section()
    );
    let daemon = Daemon::start(&config).await?;
    let http = daemon.http();
    let cameras = daemon.add_cameras(&sim).await?;
    let dir = daemon.stop().await?;
    let end_ms = jiff::Timestamp::now().as_millisecond();
    let footage = Footage {
        end_ms,
        days: args.indexed_days,
        faces_per_minute: faces.per_camera_minute,
        model: faces.model,
        faces: faces.faces,
        known_share: args.indexed_known_share,
    };
    let filled = synthetic::fill(dir.path(), &footage).await?;
    let daemon = Daemon::start_in(dir, &config).await?;
    let (peaks_done, peaks_watch) = tokio::sync::watch::channel(false);
    let peaks = tokio::spawn(proc::poll_peaks(
        vec![daemon.pid()?],
        Duration::from_millis(200),
        peaks_watch,
    ));
    let from =
        jiff::Timestamp::from_millisecond(end_ms - i64::from(args.indexed_days) * 86_400_000)?;
    let to = jiff::Timestamp::from_millisecond(end_ms)?;
    let mut run = IndexedRun {
        camera_hours: filled.recordings as f64 / 60.0,
        entries: filled.entries,
        ..IndexedRun::default()
    };
    for _ in 0..args.indexed_rounds {
        for (person, photo) in queries {
            let body = json!({
                "from": from.to_string(), "to": to.to_string(),
                "cameras": cameras, "priority": 0, "photo": photo_base64(photo)?,
            });
            let started = Instant::now();
            let task = post(&http, &format!("{}/tasks", daemon.base), &body).await?;
            let id = task["id"].as_str().ok_or("no task id")?.to_owned();
            let status = wait_finished(&http, &daemon, &id).await?;
            run.latencies_ms
                .push(started.elapsed().as_secs_f64() * 1000.0);
            if status["state"] != "done" || status["recordings_done"] != filled.recordings {
                return Err(
                    format!("the search for {person} did not search the week: {status}").into(),
                );
            }
            run.matches
                .push(status["matches"].as_f64().unwrap_or(f64::NAN));
        }
    }
    run.latencies_ms.sort_by(f64::total_cmp);
    run.matches.sort_by(f64::total_cmp);
    peaks_done.send_replace(true);
    run.peak_rss_mb = peaks.await?.first().copied().unwrap_or(f64::NAN);
    let dir = daemon.stop().await?;
    sim.shutdown().await;
    let span = from.as_millisecond()..to.as_millisecond();
    run.scan_ms = scan_peer(dir.path(), &footage, &cameras, span)?;
    Ok(run)
}

/// The peer: one query of the whole week, every camera, straight on the index in this
/// process (what a search cannot beat), timed for a few of the faces; the median in ms.
fn scan_peer(
    dir: &Path,
    footage: &Footage,
    cameras: &[i64],
    span: std::ops::Range<i64>,
) -> Result<f64, BoxError> {
    let index = EmbeddingIndex::open(dir.join("index"))?;
    let distance = pipeline::faces::MATCH_DISTANCE;
    let min_score = 1.0 - distance * distance / 2.0;
    let mut times = Vec::new();
    for face in footage.faces.iter().take(9) {
        let query = Query::at_least(EmbeddingRef::new(&footage.model, &face.vector), min_score)
            .cameras(cameras.iter().map(|&c| c as u32))
            .time_range(span.clone());
        let started = Instant::now();
        index.search(&query)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times.get(times.len() / 2).copied().unwrap_or(f64::NAN))
}
