//! Background indexing: every enabled camera track is indexed continuously, from its
//! newest recordings backwards to `index.keep_days`, then forwards as new recordings close,
//! so that a search over indexed footage answers from the embedding index alone.
//!
//! One loop per track ([`track`]), started and stopped as cameras are added, enabled or
//! removed. Its downloads run at [`Priority::BACKFILL`](pipeline::downloader::Priority) and
//! its recordings take the indexer's slots at that priority, so every search task goes
//! first; at most `index.recordings_at_once` recordings are indexed in the background at
//! once. Progress ([`coverage`]) is stored in SQLite and grows only after the recordings it
//! adds are done, so a restart (or `kill -9`) resumes from the last committed recording.

pub(crate) mod coverage;
mod track;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use pipeline::downloader::Downloader;
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    config::IndexConfig,
    db::Database,
    engine::{cameras::Cameras, indexer::Indexer},
};

/// How often the cameras are read again for tracks to start or stop.
const RESCAN: Duration = Duration::from_secs(5);

/// What the track loops share.
#[derive(Debug)]
struct Inner {
    db: Database,
    cameras: Cameras,
    indexer: Indexer,
    downloader: Downloader,
    config: IndexConfig,
    /// Recordings indexed at once in the background, all tracks together.
    slots: Semaphore,
}

/// Everything background indexing is built from.
#[derive(Debug)]
pub(crate) struct BackgroundParts {
    pub(crate) db: Database,
    pub(crate) cameras: Cameras,
    pub(crate) indexer: Indexer,
    pub(crate) downloader: Downloader,
    pub(crate) config: IndexConfig,
    /// Face workers, the default for `recordings_at_once`.
    pub(crate) workers: usize,
}

/// Starts background indexing; it runs until `shutdown`, tracked by `tracker`.
pub(crate) fn start(parts: BackgroundParts, shutdown: CancellationToken, tracker: &TaskTracker) {
    let at_once = match parts.config.recordings_at_once {
        0 => parts.workers.max(1),
        n => n,
    };
    let inner = Arc::new(Inner {
        db: parts.db,
        cameras: parts.cameras,
        indexer: parts.indexer,
        downloader: parts.downloader,
        config: parts.config,
        slots: Semaphore::new(at_once),
    });
    let tracks_tracker = tracker.clone();
    tracker.spawn(supervise(inner, shutdown, tracks_tracker));
}

/// Keeps one loop running per enabled camera track.
async fn supervise(inner: Arc<Inner>, shutdown: CancellationToken, tracker: TaskTracker) {
    let mut running: HashMap<(i64, u32), CancellationToken> = HashMap::new();
    loop {
        match inner.db.cameras().await {
            Ok(cameras) => {
                let wanted: HashSet<(i64, u32)> = cameras
                    .iter()
                    .filter(|c| c.enabled)
                    .flat_map(|c| c.tracks.iter().map(move |&t| (c.id, t)))
                    .collect();
                running.retain(|key, cancel| {
                    let keep = wanted.contains(key);
                    if !keep {
                        cancel.cancel();
                    }
                    keep
                });
                for &(camera, track) in &wanted {
                    running.entry((camera, track)).or_insert_with(|| {
                        let cancel = shutdown.child_token();
                        tracing::info!(camera, track, "background indexing starts");
                        let looping = track::run(Arc::clone(&inner), camera, track, cancel.clone());
                        tracker.spawn(looping);
                        cancel
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "background indexing cannot read the cameras"),
        }
        tokio::select! {
            () = tokio::time::sleep(RESCAN) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Publishes a track's lag behind now in `/metrics`.
fn report_lag(coverage: &coverage::Coverage, now_ms: i64) {
    let (camera, track) = (coverage.camera_id.to_string(), coverage.track.to_string());
    metrics::gauge!(
        "dipper_indexing_lag_seconds",
        "camera" => camera.clone(),
        "track" => track.clone()
    )
    .set(coverage.lag_seconds(now_ms));
    metrics::gauge!("dipper_indexing_recordings_waiting", "camera" => camera, "track" => track)
        .set(coverage.recordings_waiting as f64);
}
