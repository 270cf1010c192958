//! The search engine of the box: tasks from creation to their last match.
//!
//! Creating a task only validates and stores it ([`Engine::create_task`]); a runner then
//! waits for a slot ([`gate`]: `search.tasks_at_once`, best priority first) and works lazily
//! and page by page ([`runner`]): each camera track is searched one page at a time, a page's
//! recordings become pending rows, and each pending recording is processed
//! ([`recording`]): downloaded at the task's priority, decoded to keyframes, faces detected
//! and embedded on the [`workers`] pool, every accepted face added to the embedding index
//! with its snapshots, then the index searched for the target within that recording. A
//! recording already in the index is only searched: a second search over the same footage
//! downloads and decodes nothing.
//!
//! Crash safety comes from the order of writes: a recording's index entries are synced
//! before SQLite records them as the recording's, and a recording's matches, its task state
//! and the task's counters are one transaction, guarded by the recording still being
//! pending. A restart resumes every queued or running task from its rows.

mod cameras;
mod decode;
mod disk;
mod gate;
mod recording;
mod runner;
mod snapshots;
mod store;
mod workers;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use parking_lot::{Mutex, RwLock};
use pipeline::{downloader::Downloader, faces::FaceEngine, index::EmbeddingIndex};
use serde::Serialize;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub(crate) use cameras::NewCameraRequest;
pub(crate) use disk::{DiskMonitor, DiskStatus};
pub(crate) use store::{MatchRow, TaskCounts, TaskState};

use crate::{
    config::SearchConfig,
    db::{Database, DbError},
};
use gate::TaskGate;
use snapshots::SnapshotStore;
use workers::WorkerPool;

/// Why the engine refused or failed a request; the API maps these to status codes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("camera unreachable: {0}")]
    Camera(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

/// What creating a task takes.
#[derive(Debug, Clone)]
pub(crate) struct TaskRequest {
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
    /// Empty: every enabled camera.
    pub(crate) cameras: Vec<i64>,
    pub(crate) priority: u8,
    pub(crate) match_distance: Option<f32>,
    /// A photo of the person (JPEG or PNG), embedded when the task starts...
    pub(crate) photo: Option<Vec<u8>>,
    /// ... or their embedding, as the face stages make it.
    pub(crate) embedding: Option<(String, Vec<f32>)>,
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TaskStatus {
    pub(crate) id: String,
    pub(crate) state: TaskState,
    pub(crate) priority: u8,
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
    pub(crate) cameras: Vec<i64>,
    pub(crate) match_distance: f32,
    /// Whether the task was given a photo (else an embedding).
    pub(crate) photo: bool,
    pub(crate) error: Option<String>,
    pub(crate) created_at_ms: i64,
    pub(crate) started_at_ms: Option<i64>,
    pub(crate) finished_at_ms: Option<i64>,
    #[serde(flatten)]
    pub(crate) counts: TaskCounts,
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

/// The engine; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Database,
    client: isapi::Client,
    downloader: Downloader,
    faces: Arc<FaceEngine>,
    workers: WorkerPool,
    index: Arc<RwLock<EmbeddingIndex>>,
    snapshots: SnapshotStore,
    disk: DiskMonitor,
    config: SearchConfig,
    /// Downloads at once from one camera.
    per_camera: usize,
    data_dir: PathBuf,
    gate: TaskGate,
    /// Recordings being downloaded and decoded at once, across tasks (twice the workers:
    /// one analysed while the next decodes).
    active_recordings: tokio::sync::Semaphore,
    /// Devices by camera id, made from the stored credentials on first use.
    devices: Mutex<HashMap<i64, isapi::Device>>,
    running: Mutex<HashMap<String, Running>>,
    /// One processing of a recording at a time, across tasks.
    recording_locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Parent of every runner's token; cancelled at shutdown (tasks stay resumable).
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

/// A task whose runner is alive.
#[derive(Debug, Clone)]
struct Running {
    cancel: CancellationToken,
    /// Cancelled by a user (as opposed to the daemon stopping).
    cancelled_by_user: Arc<std::sync::atomic::AtomicBool>,
    live: Arc<Live>,
}

/// What this run of a task has done, for the rate and ETA.
#[derive(Debug)]
struct Live {
    started: Instant,
    done: std::sync::atomic::AtomicU64,
    searches_done: std::sync::atomic::AtomicBool,
}

/// Everything the engine is built from.
#[derive(Debug)]
pub(crate) struct EngineParts {
    pub(crate) db: Database,
    pub(crate) client: isapi::Client,
    pub(crate) downloader: Downloader,
    pub(crate) faces: FaceEngine,
    pub(crate) disk: DiskMonitor,
    pub(crate) config: SearchConfig,
    pub(crate) per_camera: usize,
    pub(crate) data_dir: PathBuf,
}

/// An error and its causes on one line, each cause once (many errors repeat their source
/// in their own message).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The largest photo a task takes.
const MAX_PHOTO_BYTES: usize = 20 * 1024 * 1024;

impl Engine {
    /// Opens the embedding index and starts the worker threads. Call inside a tokio runtime.
    pub(crate) fn new(parts: EngineParts) -> Result<Engine, EngineError> {
        let model = parts.faces.embedding_model();
        let index = EmbeddingIndex::open_or_create(
            parts.data_dir.join("index"),
            model.id(),
            model.dimensions().unwrap_or(128),
        )
        .map_err(|e| EngineError::Internal(format!("embedding index: {e}")))?;
        let recovery = index.recovery();
        tracing::info!(entries = index.len(), ?recovery, "embedding index open");
        let workers = WorkerPool::new(parts.config.worker_count())
            .map_err(|e| EngineError::Internal(format!("starting face workers: {e}")))?;
        Ok(Engine {
            inner: Arc::new(Inner {
                snapshots: SnapshotStore::new(&parts.data_dir, parts.config.snapshot_width),
                gate: TaskGate::new(parts.config.tasks_at_once),
                active_recordings: tokio::sync::Semaphore::new(workers.threads() * 2),
                db: parts.db,
                client: parts.client,
                downloader: parts.downloader,
                faces: Arc::new(parts.faces),
                workers,
                index: Arc::new(RwLock::new(index)),
                disk: parts.disk,
                config: parts.config,
                per_camera: parts.per_camera,
                data_dir: parts.data_dir,
                devices: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                recording_locks: Mutex::new(HashMap::new()),
                shutdown: CancellationToken::new(),
                tracker: TaskTracker::new(),
            }),
        })
    }

    pub(crate) fn db(&self) -> &Database {
        &self.inner.db
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub(crate) fn disk(&self) -> &DiskMonitor {
        &self.inner.disk
    }

    pub(crate) fn index_entries(&self) -> u64 {
        self.inner.index.read().len()
    }

    pub(crate) fn running_tasks(&self) -> usize {
        self.inner.running.lock().len()
    }

    /// Starts a runner for every queued or running task (after a start or a crash).
    pub(crate) async fn resume(&self) -> Result<usize, EngineError> {
        let ids = self
            .inner
            .db
            .read(|c| Ok(store::unfinished_tasks(c)?))
            .await?;
        for id in &ids {
            self.spawn_runner(id.clone());
        }
        if !ids.is_empty() {
            tracing::info!(tasks = ids.len(), "resuming unfinished tasks");
        }
        Ok(ids.len())
    }

    /// Validates and stores a task, starts its runner, and returns its id. Enumerates
    /// nothing and decodes nothing: its cost does not depend on the footage.
    pub(crate) async fn create_task(&self, request: TaskRequest) -> Result<String, EngineError> {
        let invalid = |field, message: &str| {
            Err(EngineError::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        if request.to_ms <= request.from_ms {
            return invalid("to", "must be after from");
        }
        if request.priority > 5 {
            return invalid("priority", "must be 0 (most urgent) to 5");
        }
        let match_distance = request
            .match_distance
            .unwrap_or(self.inner.config.match_distance);
        if !(match_distance > 0.0 && match_distance < 2.0) {
            return invalid("match_distance", "must be between 0 and 2");
        }
        match (&request.photo, &request.embedding) {
            (None, None) => return invalid("photo", "a photo or an embedding is required"),
            (Some(_), Some(_)) => {
                return invalid("photo", "give a photo or an embedding, not both");
            }
            (Some(photo), None) => {
                if photo.len() > MAX_PHOTO_BYTES {
                    return invalid("photo", "larger than 20 MiB");
                }
                if !(photo.starts_with(&[0xFF, 0xD8, 0xFF]) || photo.starts_with(b"\x89PNG")) {
                    return invalid("photo", "not a JPEG or PNG file");
                }
            }
            (None, Some((model, values))) => {
                let ours = self.inner.faces.embedding_model();
                if model != ours.id() {
                    return Err(EngineError::Invalid {
                        field: "embedding.model",
                        message: format!("this box embeds with {}, not {model}", ours.id()),
                    });
                }
                if values.len() != ours.dimensions().unwrap_or(128)
                    || values.iter().any(|v| !v.is_finite())
                {
                    return Err(EngineError::Invalid {
                        field: "embedding.values",
                        message: format!(
                            "expected {} finite numbers",
                            ours.dimensions().unwrap_or(128)
                        ),
                    });
                }
            }
        }
        let wanted = request.cameras.clone();
        let cameras = self
            .inner
            .db
            .read(move |c| cameras::resolve(c, &wanted))
            .await??;
        let id = uuid::Uuid::new_v4().to_string();
        let task = store::NewTask {
            id: id.clone(),
            priority: request.priority,
            from_ms: request.from_ms,
            to_ms: request.to_ms,
            cameras,
            match_distance,
            photo: request.photo,
            embedding: request.embedding,
            created_at_ms: now_ms(),
        };
        self.inner
            .db
            .write(move |tx| Ok(store::insert_task(tx, &task)?))
            .await?;
        metrics::counter!("dipper_tasks_created_total").increment(1);
        self.spawn_runner(id.clone());
        Ok(id)
    }

    /// Cancels a task: its runner stops every stage and its state becomes `cancelled`.
    /// A finished task is left as it is (and reported so).
    pub(crate) async fn cancel_task(&self, id: &str) -> Result<TaskStatus, EngineError> {
        let task = id.to_owned();
        let changed = self
            .inner
            .db
            .write(move |tx| {
                Ok(store::set_state(
                    tx,
                    &task,
                    TaskState::Cancelled,
                    None,
                    now_ms(),
                )?)
            })
            .await?;
        if let Some(running) = self.inner.running.lock().get(id) {
            running
                .cancelled_by_user
                .store(true, std::sync::atomic::Ordering::Relaxed);
            running.cancel.cancel();
        }
        let status = self.task_status(id).await?;
        if !changed && status.state != TaskState::Cancelled {
            return Err(EngineError::Conflict(format!(
                "task {id} is already {}",
                status.state.as_str()
            )));
        }
        Ok(status)
    }

    pub(crate) async fn task_status(&self, id: &str) -> Result<TaskStatus, EngineError> {
        let task = id.to_owned();
        let (row, failures, sources_done) = self
            .inner
            .db
            .read(move |c| {
                let row = store::task(c, &task)?;
                let failures = store::reasons(c, &task, "failed")?;
                let warnings = store::reasons(c, &task, "done")?;
                let sources_done: bool = c.query_row(
                    "SELECT count(*) = 0 FROM task_sources WHERE task_id = ?1 AND NOT search_done",
                    [&task],
                    |r| r.get(0),
                )?;
                Ok((row, (failures, warnings), sources_done))
            })
            .await?;
        let row = row.ok_or_else(|| EngineError::NotFound {
            what: "task",
            id: id.to_owned(),
        })?;
        let live = self
            .inner
            .running
            .lock()
            .get(id)
            .map(|r| Arc::clone(&r.live));
        Ok(self.status_of(row, failures, sources_done, live.as_deref()))
    }

    fn status_of(
        &self,
        row: store::TaskRow,
        (failures, warnings): (store::Reasons, store::Reasons),
        sources_done: bool,
        live: Option<&Live>,
    ) -> TaskStatus {
        let counts = row.counts;
        let remaining = counts
            .recordings_total
            .saturating_sub(counts.recordings_done + counts.recordings_failed);
        let eta_seconds = live.and_then(|live| {
            let done = live.done.load(std::sync::atomic::Ordering::Relaxed);
            let elapsed = live.started.elapsed().as_secs_f64();
            (done > 0 && !row.state.is_finished()).then(|| remaining as f64 * elapsed / done as f64)
        });
        TaskStatus {
            id: row.id,
            state: row.state,
            priority: row.priority,
            from_ms: row.from_ms,
            to_ms: row.to_ms,
            cameras: row.cameras,
            match_distance: row.match_distance,
            photo: row.has_photo,
            error: row.error,
            created_at_ms: row.created_at_ms,
            started_at_ms: row.started_at_ms,
            finished_at_ms: row.finished_at_ms,
            counts,
            recordings_remaining: remaining,
            searches_done: sources_done && row.started_at_ms.is_some(),
            eta_seconds: eta_seconds.or(row.state.is_finished().then_some(0.0)),
            failures: failures
                .into_iter()
                .map(|(reason, recordings)| FailureCount { reason, recordings })
                .collect(),
            warnings: warnings
                .into_iter()
                .map(|(reason, recordings)| FailureCount { reason, recordings })
                .collect(),
        }
    }

    /// Tasks newest first; `before` is the last task of the previous page.
    pub(crate) async fn tasks(
        &self,
        state: Option<TaskState>,
        limit: u32,
        before: Option<String>,
    ) -> Result<Vec<TaskStatus>, EngineError> {
        let rows = self
            .inner
            .db
            .read(move |c| {
                let before = match &before {
                    Some(id) => store::task(c, id)?.map(|t| (t.created_at_ms, t.id)),
                    None => None,
                };
                Ok(store::tasks(
                    c,
                    state,
                    limit,
                    before.as_ref().map(|(ms, id)| (*ms, id.as_str())),
                )?)
            })
            .await?;
        let running = self.inner.running.lock().clone();
        Ok(rows
            .into_iter()
            .map(|row| {
                let live = running.get(&row.id).map(|r| Arc::clone(&r.live));
                let done = row.state == TaskState::Done;
                self.status_of(row, Default::default(), done, live.as_deref())
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
        let (exists, rows) = self
            .inner
            .db
            .read(move |c| {
                let exists = store::task(c, &id)?.is_some();
                Ok((exists, store::matches(c, &id, after_id, limit)?))
            })
            .await?;
        if !exists {
            return Err(EngineError::NotFound {
                what: "task",
                id: task.to_owned(),
            });
        }
        Ok(rows)
    }

    pub(crate) async fn match_by_id(&self, id: i64) -> Result<MatchRow, EngineError> {
        self.inner
            .db
            .read(move |c| Ok(store::match_by_id(c, id)?))
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: "match",
                id: id.to_string(),
            })
    }

    /// Stops every runner; unfinished tasks stay `queued`/`running` and resume at the next
    /// start. Waits up to `drain` for runners to let go of their work.
    pub(crate) async fn shutdown(&self, drain: std::time::Duration) -> bool {
        self.inner.shutdown.cancel();
        self.inner.downloader.shutdown();
        self.inner.tracker.close();
        let drained = tokio::time::timeout(drain, self.inner.tracker.wait())
            .await
            .is_ok();
        let index = Arc::clone(&self.inner.index);
        let _ = tokio::task::spawn_blocking(move || index.write().sync()).await;
        drained
    }

    /// The device of a camera, made once from its stored credentials.
    async fn device(&self, camera: i64) -> Result<isapi::Device, EngineError> {
        if let Some(device) = self.inner.devices.lock().get(&camera) {
            return Ok(device.clone());
        }
        let (row, user, password) = self.camera_with_credentials(camera).await?;
        let device = self
            .inner
            .client
            .device(&row.base_url, &user, &password)
            .map_err(|e| EngineError::Camera(format!("{}: {e}", row.name)))?;
        self.inner
            .downloader
            .set_device_limit(camera as u64, self.per_camera_limit());
        self.inner.devices.lock().insert(camera, device.clone());
        Ok(device)
    }

    fn per_camera_limit(&self) -> usize {
        self.inner.per_camera
    }

    /// Forgets a camera's device (its credentials or address changed, or it was removed).
    pub(crate) fn forget_device(&self, camera: i64) {
        self.inner.devices.lock().remove(&camera);
    }

    fn spawn_runner(&self, id: String) {
        let cancel = self.inner.shutdown.child_token();
        let running = Running {
            cancel: cancel.clone(),
            cancelled_by_user: Arc::default(),
            live: Arc::new(Live {
                started: Instant::now(),
                done: Default::default(),
                searches_done: Default::default(),
            }),
        };
        self.inner
            .running
            .lock()
            .insert(id.clone(), running.clone());
        let engine = self.clone();
        self.inner.tracker.spawn(async move {
            runner::run(&engine, &id, &running).await;
            engine.inner.running.lock().remove(&id);
        });
    }

    /// The lock that keeps two tasks from processing one recording at once.
    fn recording_lock(&self, recording: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.recording_locks.lock();
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(locks.entry(recording).or_default())
    }

    fn match_threshold(distance: f32) -> f32 {
        // For unit vectors, |a - b|^2 = 2 - 2 cos.
        1.0 - distance * distance / 2.0
    }
}
