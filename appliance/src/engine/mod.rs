//! The search engine of the box: tasks from creation to their last match.
//!
//! Two components do the work, and know nothing of each other's insides:
//! - [`indexer`]: indexing a recording, once (download at the asking task's priority,
//!   keyframes, faces on the [`workers`] pool, snapshots, the embedding index). It owns
//!   the face models, the index and the recordings being indexed.
//! - [`searcher`]: one search task (its target, its camera tracks searched page by page,
//!   the index queried within each recording, the matches recorded). It asks the indexer
//!   for each recording's entries; a recording already indexed is only searched, so a
//!   second search over the same footage downloads and decodes nothing.
//!
//! [`Engine`] wires them for the API: creating a task only validates ([`request`]) and
//! stores it, then starts its searcher; status, cancel, lists and results read the rows
//! ([`store`]). [`cameras`] holds the stored cameras and their devices, [`gate`] how many
//! tasks run at once, [`disk`] the free space. No file here imports another that imports it.
//!
//! Crash safety comes from the order of writes: a recording's index entries are synced
//! before SQLite records them as the recording's, and a recording's matches, its task state
//! and the task's counters are one transaction, guarded by the recording still being
//! pending. A restart resumes every queued or running task from its rows.

mod background;
mod cameras;
mod disk;
mod error;
mod gate;
pub(crate) mod indexer;
mod latest;
mod motion;
pub(crate) mod probe;
mod request;
mod retention;
mod searcher;
mod snapshots;
mod store;
pub mod synthetic;
mod workers;

#[cfg(test)]
mod tests;

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use parking_lot::Mutex;
use pipeline::{downloader::Downloader, faces::FaceEngine, motion::GateConfig};
use serde::Serialize;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub(crate) use background::coverage::Coverage;
pub(crate) use cameras::{Cameras, NewCameraRequest};
pub(crate) use disk::{DiskMonitor, DiskStatus};
pub(crate) use error::EngineError;
pub(crate) use motion::GateView;
pub(crate) use request::TaskRequest;
#[cfg(test)]
pub(crate) use retention::Retired;
pub(crate) use store::{MatchRow, TaskRow, TaskState};

use crate::{
    config::{IndexConfig, SearchConfig},
    db::Database,
};
use gate::TaskGate;
use indexer::{Indexer, IndexerParts};
use searcher::{Progress, Running, Searches};
use snapshots::SnapshotStore;

/// A task as the API shows it: as stored, with its progress.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TaskStatus {
    #[serde(flatten)]
    pub(crate) task: TaskRow,
    /// Recordings known and not yet processed.
    pub(crate) recordings_remaining: u64,
    /// Whether every camera's search has reached the end of the range (until then the
    /// total grows).
    pub(crate) searches_done: bool,
    /// Seconds left at the rate of this run, over the recordings known so far.
    pub(crate) eta_seconds: Option<f64>,
    /// Why recordings failed, most common first.
    pub(crate) failures: Vec<FailureCount>,
    /// Damage in recordings searched anyway (the keyframes before it were), most common
    /// first.
    pub(crate) warnings: Vec<FailureCount>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct FailureCount {
    pub(crate) reason: String,
    pub(crate) recordings: u64,
}

/// Which snapshot of a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Snapshot {
    Face,
    Frame,
}

/// The engine; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    searches: Searches,
    data_dir: PathBuf,
    running: Mutex<HashMap<String, Running>>,
    /// Parent of every searcher's token; cancelled at shutdown (tasks stay resumable).
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// Everything the engine is built from.
#[derive(Debug)]
pub(crate) struct EngineParts {
    pub(crate) db: Database,
    /// The one ISAPI client every camera's device is made from.
    pub(crate) client: isapi::Client,
    pub(crate) downloader: Downloader,
    /// The face models, loaded.
    pub(crate) faces: FaceEngine,
    pub(crate) disk: DiskMonitor,
    pub(crate) config: SearchConfig,
    /// Downloads at once from one camera.
    pub(crate) per_camera: usize,
    /// Where the index and the snapshots live.
    pub(crate) data_dir: PathBuf,
    /// The motion gates' settings; `None`: every keyframe decoded and searched whole.
    pub(crate) motion: Option<GateConfig>,
}

impl Engine {
    /// Opens the embedding index and starts the worker threads. Call inside a tokio runtime.
    pub(crate) fn new(parts: EngineParts) -> Result<Engine, EngineError> {
        let cameras = Cameras::new(
            parts.db.clone(),
            parts.client,
            parts.downloader.clone(),
            parts.per_camera,
        );
        let indexer = Indexer::new(IndexerParts {
            db: parts.db.clone(),
            cameras: cameras.clone(),
            faces: parts.faces,
            disk: parts.disk,
            config: &parts.config,
            motion: parts.motion,
            data_dir: &parts.data_dir,
        })?;
        let searches = Searches {
            db: parts.db,
            cameras,
            indexer,
            downloader: parts.downloader,
            gate: TaskGate::new(parts.config.tasks_at_once),
            config: parts.config,
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                searches,
                data_dir: parts.data_dir,
                running: Mutex::new(HashMap::new()),
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
            }),
        })
    }

    pub(crate) fn db(&self) -> &Database {
        &self.inner.searches.db
    }

    pub(crate) fn cameras(&self) -> &Cameras {
        &self.inner.searches.cameras
    }

    /// A camera's latest keyframe the box decoded, as a JPEG.
    pub(crate) fn latest_frame(&self, camera: i64) -> Option<latest::LatestFrame> {
        self.inner.searches.indexer.latest_frames().get(camera)
    }

    /// Every face of a photo, judged, the usable ones embedded.
    pub(crate) async fn faces_in_photo(
        &self,
        photo: Vec<u8>,
    ) -> Result<Vec<indexer::PhotoFace>, indexer::PhotoError> {
        self.inner.searches.indexer.faces_in_photo(photo).await
    }

    /// Forgets a deleted camera's latest keyframe.
    pub(crate) fn forget_latest_frame(&self, camera: i64) {
        self.inner.searches.indexer.latest_frames().forget(camera);
    }

    /// The downloader, for its queue's figures.
    pub(crate) fn downloader(&self) -> &Downloader {
        &self.inner.searches.downloader
    }

    pub(crate) fn disk(&self) -> &DiskMonitor {
        self.inner.searches.indexer.disk()
    }

    /// The model the box embeds faces with; a search's embeddings must be of it.
    pub(crate) fn model(&self) -> pipeline::faces::ModelId {
        self.inner.searches.indexer.model()
    }

    pub(crate) fn index_entries(&self) -> u64 {
        self.inner.searches.indexer.entries()
    }

    pub(crate) fn running_tasks(&self) -> usize {
        self.inner.running.lock().len()
    }

    /// Starts background indexing of every enabled camera track (until shutdown).
    pub(crate) fn start_background(&self, config: IndexConfig) {
        let searches = &self.inner.searches;
        background::start(
            background::BackgroundParts {
                db: searches.db.clone(),
                cameras: searches.cameras.clone(),
                indexer: searches.indexer.clone(),
                downloader: searches.downloader.clone(),
                config,
                workers: searches.config.worker_count(),
            },
            self.inner.shutdown.child_token(),
            &self.inner.tracker,
        );
    }

    /// How a camera's motion gates stand; `None` when gating is off.
    pub(crate) async fn gate_view(&self, camera: i64) -> Result<Option<GateView>, EngineError> {
        Ok(self.inner.searches.indexer.gate_view(camera).await?)
    }

    /// Starts retiring footage past `keep_days` and the quota (until shutdown).
    pub(crate) fn start_retention(&self, config: IndexConfig) {
        let searches = &self.inner.searches;
        self.inner.tracker.spawn(retention::run(
            searches.db.clone(),
            searches.indexer.clone(),
            self.inner.data_dir.clone(),
            config,
            self.inner.shutdown.child_token(),
        ));
    }

    /// One retention pass now: what it retired.
    #[cfg(test)]
    pub(crate) async fn retain(&self, config: &IndexConfig) -> Result<Retired, EngineError> {
        let searches = &self.inner.searches;
        Ok(retention::pass(
            &searches.db,
            &searches.indexer,
            &self.inner.data_dir,
            config,
        )
        .await?)
    }

    /// Background indexing's progress on every camera track (or one camera's).
    pub(crate) async fn coverage(&self, camera: Option<i64>) -> Result<Vec<Coverage>, EngineError> {
        Ok(self
            .db()
            .read(move |c| match camera {
                Some(camera) => Ok(background::coverage::of_camera(c, camera)?),
                None => Ok(background::coverage::all(c)?),
            })
            .await?)
    }

    /// Starts a searcher for every queued or running task (after a start or a crash).
    pub(crate) async fn resume(&self) -> Result<usize, EngineError> {
        let ids = self.db().read(|c| Ok(store::unfinished_tasks(c)?)).await?;
        for id in &ids {
            self.spawn_searcher(id.clone());
        }
        if !ids.is_empty() {
            tracing::info!(tasks = ids.len(), "resuming unfinished tasks");
        }
        Ok(ids.len())
    }

    /// Validates and stores a task, starts its searcher, and returns its id. Enumerates
    /// nothing and decodes nothing: its cost does not depend on the footage.
    pub(crate) async fn create_task(&self, request: TaskRequest) -> Result<String, EngineError> {
        self.create_task_with(request, |_, _| Ok(())).await
    }

    /// [`Engine::create_task`], with `also` written in the task's own transaction (given the
    /// task's id): both are stored, or neither (a relay's search and its task, say, which a
    /// crash between two transactions would part).
    pub(crate) async fn create_task_with(
        &self,
        request: TaskRequest,
        also: impl FnOnce(&rusqlite::Transaction<'_>, &str) -> Result<(), crate::db::DbError>
        + Send
        + 'static,
    ) -> Result<String, EngineError> {
        let searches = &self.inner.searches;
        let mut task =
            request.validate(searches.config.match_distance, searches.indexer.model())?;
        let wanted = std::mem::take(&mut task.params.cameras);
        task.params.cameras = (self.db())
            .read(move |c| cameras::resolve(c, &wanted))
            .await??;
        let id = uuid::Uuid::new_v4().to_string();
        let stored = id.clone();
        self.db()
            .write(move |tx| {
                let now = store::now_ms();
                store::insert_task(tx, &stored, &task, now)?;
                also(tx, &stored)
            })
            .await?;
        metrics::counter!("dipper_tasks_created_total").increment(1);
        self.spawn_searcher(id.clone());
        Ok(id)
    }

    /// Cancels a task: its searcher stops every stage and its state becomes `cancelled`.
    /// A finished task is left as it is (and reported so).
    pub(crate) async fn cancel_task(&self, id: &str) -> Result<TaskStatus, EngineError> {
        let task = id.to_owned();
        let changed = (self.db())
            .write(move |tx| {
                let now = store::now_ms();
                Ok(store::set_state(
                    tx,
                    &task,
                    TaskState::Cancelled,
                    None,
                    now,
                )?)
            })
            .await?;
        if let Some(running) = self.inner.running.lock().get(id) {
            running.cancel.cancel();
        }
        let status = self.task_status(id).await?;
        if !changed && status.task.state != TaskState::Cancelled {
            return Err(EngineError::Conflict(format!(
                "task {id} is already {}",
                status.task.state.as_str()
            )));
        }
        Ok(status)
    }

    pub(crate) async fn task_status(&self, id: &str) -> Result<TaskStatus, EngineError> {
        let task = id.to_owned();
        let (row, reasons, sources_done) = (self.db())
            .read(move |c| {
                let row = store::task(c, &task)?;
                let failures = store::reasons(c, &task, "failed")?;
                let warnings = store::reasons(c, &task, "done")?;
                Ok((row, (failures, warnings), store::sources_done(c, &task)?))
            })
            .await?;
        let row = row.ok_or_else(|| EngineError::not_found("task", id))?;
        let progress = self.progress(id);
        Ok(status_of(row, reasons, sources_done, progress.as_deref()))
    }

    /// Returns once the task's searcher has ended (at once when none runs): the task is
    /// finished, or stopped with the daemon. (The tests' way to await a task; the API's
    /// clients poll its status.)
    #[cfg(test)]
    pub(crate) async fn wait_for_task(&self, id: &str) {
        let ended = self.inner.running.lock().get(id).map(|r| r.ended.clone());
        if let Some(ended) = ended {
            ended.cancelled().await;
        }
    }

    fn progress(&self, id: &str) -> Option<Arc<Progress>> {
        let running = self.inner.running.lock();
        running.get(id).map(|r| Arc::clone(&r.progress))
    }

    /// Tasks newest first; `before` is the last task of the previous page.
    pub(crate) async fn tasks(
        &self,
        state: Option<TaskState>,
        limit: u32,
        before: Option<String>,
    ) -> Result<Vec<TaskStatus>, EngineError> {
        let rows = (self.db())
            .read(move |c| {
                let before = match &before {
                    Some(id) => store::task(c, id)?.map(|t| (t.created_at_ms, t.id)),
                    None => None,
                };
                let before = before.as_ref().map(|(ms, id)| (*ms, id.as_str()));
                Ok(store::tasks(c, state, limit, before)?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let progress = self.progress(&row.id);
                let done = row.state == TaskState::Done;
                status_of(row, Default::default(), done, progress.as_deref())
            })
            .collect())
    }

    pub(crate) async fn matches(
        &self,
        task: &str,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<MatchRow>, EngineError> {
        let id = task.to_owned();
        let (exists, rows) = (self.db())
            .read(move |c| {
                let exists = store::task(c, &id)?.is_some();
                Ok((exists, store::matches(c, &id, after_id, limit)?))
            })
            .await?;
        if !exists {
            return Err(EngineError::not_found("task", task));
        }
        Ok(rows)
    }

    /// Where a match's snapshot is on this box.
    pub(crate) async fn snapshot_path(
        &self,
        id: i64,
        which: Snapshot,
    ) -> Result<PathBuf, EngineError> {
        let found = (self.db())
            .read(move |c| Ok(store::match_by_id(c, id)?))
            .await?
            .ok_or_else(|| EngineError::not_found("match", id))?;
        let relative = match which {
            Snapshot::Face => {
                SnapshotStore::face_path(found.recording_id, found.time_ms, found.face_index)
            }
            Snapshot::Frame => SnapshotStore::frame_path(found.recording_id, found.time_ms),
        };
        Ok(self.inner.data_dir.join(relative))
    }

    /// Stops every searcher; unfinished tasks stay `queued`/`running` and resume at the next
    /// start. Waits up to `drain` for searchers to let go of their work, then for the face
    /// workers to finish the jobs in hand (no thread is inside ONNX Runtime at exit).
    pub(crate) async fn shutdown(&self, drain: std::time::Duration) -> bool {
        self.inner.shutdown.cancel();
        self.inner.searches.downloader.shutdown();
        self.inner.tracker.close();
        let drained = tokio::time::timeout(drain, self.inner.tracker.wait())
            .await
            .is_ok();
        self.inner.searches.indexer.sync().await;
        self.inner.searches.indexer.stop_workers().await;
        drained
    }

    fn spawn_searcher(&self, id: String) {
        let running = Running::new(self.inner.shutdown.child_token());
        self.inner
            .running
            .lock()
            .insert(id.clone(), running.clone());
        let engine = self.clone();
        self.inner.tracker.spawn(async move {
            searcher::run(&engine.inner.searches, &id, &running).await;
            engine.inner.running.lock().remove(&id);
            running.ended.cancel();
        });
    }
}

/// A task's row with its progress.
fn status_of(
    task: TaskRow,
    (failures, warnings): (store::Reasons, store::Reasons),
    sources_done: bool,
    progress: Option<&Progress>,
) -> TaskStatus {
    let counts = task.counts;
    let remaining = counts
        .recordings_total
        .saturating_sub(counts.recordings_done + counts.recordings_failed);
    let finished = task.state.is_finished();
    let eta_seconds = progress
        .filter(|_| !finished)
        .and_then(|p| p.eta_seconds(remaining));
    let counted = |reasons: store::Reasons| {
        reasons
            .into_iter()
            .map(|(reason, recordings)| FailureCount { reason, recordings })
            .collect()
    };
    TaskStatus {
        recordings_remaining: remaining,
        searches_done: sources_done && task.started_at_ms.is_some(),
        eta_seconds: eta_seconds.or(finished.then_some(0.0)),
        failures: counted(failures),
        warnings: counted(warnings),
        task,
    }
}
