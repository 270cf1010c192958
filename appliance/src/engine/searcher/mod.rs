//! One search task: its target, its sources, querying the index and recording matches.
//!
//! A task waits for a slot ([`TaskGate`]: `search.tasks_at_once`, best priority first),
//! gets its target's embeddings (given: one or more of one person; or made from its photo
//! and stored), then finishes
//! the recordings an earlier run left pending and searches each camera track from its
//! cursor, one page at a time. A page's recordings are stored (with the new cursor) before
//! any is processed, and processing is bounded (`search.recordings_per_task` at once, at
//! most a page waiting), so memory does not grow with the recordings a range covers.
//!
//! Processing a recording asks the [`Indexer`] for its entries (indexing it if it is not
//! yet), searches the index for the target among them (a face near any of the target's
//! embeddings matches once, at its best distance), and stores the matches, the
//! recording's state and the task's counters in one transaction, only while the recording
//! is still pending: a recording processed again after a crash stores nothing twice.

mod covered;
mod from_index;
pub(super) mod task_end;

use std::{
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt, stream::FuturesUnordered};
use pipeline::{
    downloader::{Downloader, Job, Priority},
    faces::Embedding,
    index::Hit,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use from_index::Covered;

use crate::{
    config::SearchConfig,
    db::{Database, DbError},
    engine::{
        cameras::Cameras,
        error::EngineError,
        gate::TaskGate,
        indexer::{Indexer, IndexingError, PhotoError, SharedIndex},
        store::{
            self, FoundRecording, Indexed, NewMatch, Outcome, PendingRecording, Source, TaskRow,
            TaskState, now_ms,
        },
    },
};

/// How often storing a recording's outcome is tried when the database is busy or full.
const STORE_ATTEMPTS: u32 = 30;

/// How often a camera's search is tried again after an error, before the source is given up.
const SEARCH_ATTEMPTS: u32 = 4;

/// Recordings being processed for one source.
type Work = FuturesUnordered<Pin<Box<dyn std::future::Future<Output = ()> + Send>>>;

/// What every search task uses; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Searches {
    pub(crate) db: Database,
    /// Each camera's device, to search its recordings.
    pub(crate) cameras: Cameras,
    /// Asked for each recording's entries.
    pub(crate) indexer: Indexer,
    /// Makes each task's download job, at its priority.
    pub(crate) downloader: Downloader,
    /// Tasks at once, best priority first.
    pub(crate) gate: TaskGate,
    pub(crate) config: SearchConfig,
}

/// A task whose searcher is alive, as the engine tracks it.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    pub(crate) cancel: CancellationToken,
    /// Cancelled when the searcher has ended.
    pub(crate) ended: CancellationToken,
    pub(crate) progress: Arc<Progress>,
}

impl Running {
    pub(crate) fn new(cancel: CancellationToken) -> Running {
        Running {
            cancel,
            ended: CancellationToken::new(),
            progress: Arc::new(Progress {
                started: Instant::now(),
                done: AtomicU64::new(0),
            }),
        }
    }
}

/// What this run of a task has done, for the rate and ETA.
#[derive(Debug)]
pub(crate) struct Progress {
    pub(crate) started: Instant,
    /// Recordings processed (stored) by this run.
    pub(crate) done: AtomicU64,
}

impl Progress {
    /// Seconds left for `remaining` recordings at this run's rate; `None` before the first.
    pub(crate) fn eta_seconds(&self, remaining: u64) -> Option<f64> {
        let done = self.done.load(Ordering::Relaxed);
        let elapsed = self.started.elapsed().as_secs_f64();
        (done > 0).then(|| remaining as f64 * elapsed / done as f64)
    }
}

/// Why a task failed; its text is the task's error.
#[derive(Debug, thiserror::Error)]
enum TaskFailure {
    #[error("{doing}: {source}")]
    Database {
        doing: &'static str,
        source: DbError,
    },
    #[error("the task has neither a photo nor an embedding")]
    NoTarget,
    #[error(transparent)]
    Photo(#[from] PhotoError),
}

/// How a task's run ended early.
enum Ending {
    /// Cancelled or the daemon is stopping: the state is already right.
    Stopped,
    Failed(TaskFailure),
}

impl From<TaskFailure> for Ending {
    fn from(failure: TaskFailure) -> Ending {
        Ending::Failed(failure)
    }
}

/// A database error while `doing` something fails the task.
fn db_failure(doing: &'static str) -> impl FnOnce(DbError) -> Ending {
    move |source| Ending::Failed(TaskFailure::Database { doing, source })
}

impl Source {
    fn warning(&self, problem: SourceProblem) -> SourceWarning {
        SourceWarning {
            camera: self.camera_id,
            track: self.track,
            problem,
        }
    }
}

/// A camera track that could not be searched; the task ends done, with this warning.
#[derive(Debug, thiserror::Error)]
#[error("camera {camera} track {track}: {problem}")]
struct SourceWarning {
    camera: i64,
    track: u32,
    problem: SourceProblem,
}

#[derive(Debug, thiserror::Error)]
enum SourceProblem {
    #[error("{0}")]
    Camera(EngineError),
    #[error("search failed: {0}")]
    Search(isapi::Error),
    #[error("storing recordings failed")]
    Store,
}

/// One running task, shared with its recordings.
#[derive(Debug)]
struct SearchTask {
    searches: Searches,
    id: String,
    job: Job,
    /// One or more embeddings of the person; a face near any of them matches.
    targets: Vec<Embedding>,
    index: SharedIndex,
    /// Cosine at or above which a face matches.
    min_score: f32,
    match_distance: f32,
    cancel: CancellationToken,
    slots: Semaphore,
    progress: Arc<Progress>,
}

/// Runs a task until it is done, fails, is cancelled, or the daemon stops.
pub(crate) async fn run(searches: &Searches, id: &str, running: &Running) {
    let span = tracing::info_span!("task", task = %id);
    let outcome = run_task(searches, id, running).instrument(span).await;
    let (state, error) = match outcome {
        Ok(warnings) => (TaskState::Done, warnings),
        Err(Ending::Stopped) => return,
        Err(Ending::Failed(failure)) => (TaskState::Failed, Some(failure.to_string())),
    };
    let disk = searches.indexer.disk();
    match task_end::store_end(&searches.db, disk, (id, state, error), &running.cancel).await {
        Ok(_) => tracing::info!(task = %id, state = state.as_str(), "task finished"),
        Err(e) => {
            tracing::error!(task = %id, error = %e, "cannot store the task's end; it resumes at the next start")
        }
    }
}

/// `Ok(Some(_))`: done, with sources that could not be searched.
async fn run_task(
    searches: &Searches,
    id: &str,
    running: &Running,
) -> Result<Option<String>, Ending> {
    let cancel = &running.cancel;
    let task = id.to_owned();
    let row = (searches.db.read(move |c| Ok(store::task(c, &task)?)).await)
        .map_err(db_failure("reading the task"))?
        .ok_or(Ending::Stopped)?;
    if row.state.is_finished() {
        return Err(Ending::Stopped);
    }
    let _slot = tokio::select! {
        slot = searches.gate.enter(row.params.priority) => slot,
        () = cancel.cancelled() => return Err(Ending::Stopped),
    };
    let started = (set_state(&searches.db, id, TaskState::Running, None).await)
        .map_err(db_failure("starting the task"))?;
    if !started {
        return Err(Ending::Stopped);
    }
    let targets = targets(searches, &row, cancel).await?;
    let (sources, mut warnings) = sources(searches, &row).await?;
    let task = Arc::new(SearchTask::new(searches, &row, targets, running));
    let job = task.job.clone();
    let stop_downloads = cancel.clone();
    let _cancel_job = tokio::spawn(async move {
        stop_downloads.cancelled().await;
        job.cancel();
    });
    finish_pending(&task).await?;
    let mut sources = sources;
    from_index::search_together(&task, &mut sources, row.params.to_ms).await;
    let searched = sources
        .iter()
        .filter(|s| !s.search_done)
        .map(|&source| search_source(Arc::clone(&task), source, row.params.to_ms));
    let results = futures::future::join_all(searched).await;
    if cancel.is_cancelled() {
        return Err(Ending::Stopped);
    }
    warnings.extend(
        results
            .into_iter()
            .filter_map(Result::err)
            .map(|w| w.to_string()),
    );
    Ok((!warnings.is_empty()).then(|| warnings.join("; ")))
}

/// Moves the unfinished task to `state`; whether it changed.
async fn set_state(
    db: &Database,
    id: &str,
    state: TaskState,
    error: Option<String>,
) -> Result<bool, DbError> {
    let task = id.to_owned();
    db.write(move |tx| {
        Ok(store::set_state(
            tx,
            &task,
            state,
            error.as_deref(),
            now_ms(),
        )?)
    })
    .await
}

/// The target's embeddings: the task's (given, or stored by an earlier run), or its
/// photo's, made on a face worker and stored.
async fn targets(
    searches: &Searches,
    row: &TaskRow,
    cancel: &CancellationToken,
) -> Result<Vec<Embedding>, Ending> {
    let task = row.id.clone();
    let stored = (searches.db)
        .read(move |c| Ok(store::task_embeddings(c, &task)?))
        .await
        .map_err(db_failure("reading the embeddings"))?;
    if !stored.is_empty() {
        return Ok(stored);
    }
    let task = row.id.clone();
    let photo = (searches
        .db
        .read(move |c| Ok(store::task_photo(c, &task)?))
        .await)
        .map_err(db_failure("reading the photo"))?
        .ok_or(TaskFailure::NoTarget)?;
    let embedding = tokio::select! {
        embedded = searches.indexer.embed_photo(photo) => embedded.map_err(TaskFailure::from)?,
        () = cancel.cancelled() => return Err(Ending::Stopped),
    };
    let (task, stored) = (row.id.clone(), vec![embedding]);
    let embeddings = stored.clone();
    (searches.db)
        .write(move |tx| Ok(store::set_embeddings(tx, &task, &stored)?))
        .await
        .map_err(db_failure("storing the embedding"))?;
    Ok(embeddings)
}

/// The task's camera tracks with their cursors (kept from an earlier run), and warnings for
/// cameras removed since the task was created.
async fn sources(searches: &Searches, row: &TaskRow) -> Result<(Vec<Source>, Vec<String>), Ending> {
    let mut tracks = Vec::new();
    let mut warnings = Vec::new();
    for &camera in &row.params.cameras {
        match searches.db.camera(camera).await {
            Ok(Some(camera)) => tracks.extend(camera.tracks.iter().map(|&t| (camera.id, t))),
            Ok(None) => warnings.push(format!("camera {camera} was removed")),
            Err(e) => return Err(db_failure("reading a camera")(e)),
        }
    }
    let (task, from_ms) = (row.id.clone(), row.params.from_ms);
    let sources = (searches.db)
        .write(move |tx| Ok(store::ensure_sources(tx, &task, &tracks, from_ms)?))
        .await
        .map_err(db_failure("storing the task's cameras"))?;
    Ok((sources, warnings))
}

impl SearchTask {
    fn new(searches: &Searches, row: &TaskRow, targets: Vec<Embedding>, running: &Running) -> Self {
        let priority = Priority::new(row.params.priority).unwrap_or(Priority::BACKFILL);
        SearchTask {
            searches: searches.clone(),
            id: row.id.clone(),
            job: searches.downloader.job(priority),
            targets,
            index: searches.indexer.index(),
            // For unit vectors, |a - b|^2 = 2 - 2 cos.
            min_score: 1.0 - row.params.match_distance * row.params.match_distance / 2.0,
            match_distance: row.params.match_distance,
            cancel: running.cancel.clone(),
            slots: Semaphore::new(searches.config.recordings_per_task),
            progress: Arc::clone(&running.progress),
        }
    }
}

/// Processes the recordings an earlier run left pending, a page at a time.
async fn finish_pending(task: &Arc<SearchTask>) -> Result<(), Ending> {
    let mut after_seq = 0;
    loop {
        let id = task.id.clone();
        let page = (task.searches.db)
            .read(move |c| Ok(store::pending(c, &id, after_seq, 64)?))
            .await
            .map_err(db_failure("reading pending recordings"))?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after_seq = last.seq;
        let mut work: FuturesUnordered<_> = page
            .into_iter()
            .map(|recording| process(Arc::clone(task), recording))
            .collect();
        while work.next().await.is_some() {}
        if task.cancel.is_cancelled() {
            return Err(Ending::Stopped);
        }
    }
}

/// How a search from the source's cursor ended.
enum Searched {
    /// The end of the range, or the task is stopping.
    Finished,
    /// The camera's search failed; search again from the cursor.
    Again,
    Failed(SourceProblem),
}

/// How reading one page of a camera's search ended.
enum PageEnd {
    Full,
    Ended,
    Failed(isapi::Error),
    Stopped,
}

/// Searches one camera track from its cursor to the end of the range, processing what each
/// page finds. Footage background indexing has covered is read from the box's own
/// recordings (indexed already: nothing is downloaded); the rest is asked of the camera.
/// `Err` is a warning: the source could not be searched.
async fn search_source(
    task: Arc<SearchTask>,
    mut source: Source,
    to_ms: i64,
) -> Result<(), SourceWarning> {
    let mut work = Work::new();
    let mut attempt = 0;
    let result = loop {
        if source.search_done || task.cancel.is_cancelled() {
            break Ok(());
        }
        let mut one = [&mut source];
        let searched = from_index::search_covered(&task, &mut one, to_ms, &mut work).await;
        let covered = match searched.map(|c| c[0]) {
            Ok(Covered::Stored) => continue,
            Ok(Covered::From(from)) => Some(from),
            Ok(Covered::Nothing) => None,
            Err(_) => break Err(source.warning(SourceProblem::Store)),
        };
        // Ask the camera up to where the covered footage begins, or to the end.
        let end = covered.filter(|&from| from < to_ms).unwrap_or(to_ms);
        let searched = search_from_cursor(
            &task,
            &mut source,
            end,
            end == to_ms,
            &mut work,
            &mut attempt,
        );
        match searched.await {
            Searched::Finished | Searched::Again => {}
            Searched::Failed(problem) => break Err(source.warning(problem)),
        }
    };
    while work.next().await.is_some() {}
    result
}

/// One search of the camera from the source's cursor to `to_ms`, page by page; `ends_task`
/// when `to_ms` is the end of the task's range.
async fn search_from_cursor(
    task: &Arc<SearchTask>,
    source: &mut Source,
    to_ms: i64,
    ends_task: bool,
    work: &mut Work,
    attempt: &mut u32,
) -> Searched {
    let device = match task.searches.cameras.device(source.camera_id).await {
        Ok(device) => device,
        Err(e) => return Searched::Failed(SourceProblem::Camera(e)),
    };
    let query = isapi::SearchQuery {
        track: source.track,
        start: jiff::Timestamp::from_millisecond(source.cursor_ms).unwrap_or_default(),
        end: jiff::Timestamp::from_millisecond(to_ms).unwrap_or_default(),
    };
    let mut stream = pin!(device.search(query));
    let page_size = task.searches.config.page_size as usize;
    loop {
        let mut page = Vec::new();
        let end = read_page(task, &mut stream, &mut page, work, attempt).await;
        let ended = matches!(end, PageEnd::Ended);
        match end {
            PageEnd::Stopped => return Searched::Finished,
            PageEnd::Failed(e) => return search_failed(task, source, page, work, attempt, e).await,
            PageEnd::Ended => source.cursor_ms = to_ms,
            PageEnd::Full => {}
        }
        if store_page(task, source, page, ended && ends_task, work)
            .await
            .is_err()
        {
            return Searched::Failed(SourceProblem::Store);
        }
        // At most a page of recordings waits for processing.
        while work.len() >= page_size {
            work.next().await;
        }
        if ended {
            return Searched::Finished;
        }
    }
}

/// Reads up to a page of the search, processing recordings meanwhile.
async fn read_page<S>(
    task: &SearchTask,
    stream: &mut Pin<&mut S>,
    page: &mut Vec<FoundRecording>,
    work: &mut Work,
    attempt: &mut u32,
) -> PageEnd
where
    S: Stream<Item = isapi::Result<isapi::Recording>>,
{
    let page_size = task.searches.config.page_size as usize;
    while page.len() < page_size {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(recording)) => {
                    *attempt = 0;
                    page.push(FoundRecording {
                        start_ms: recording.start.as_millisecond(),
                        end_ms: recording.end.as_millisecond(),
                        size: recording.size,
                        playback_uri: recording.playback_uri,
                    });
                }
                Some(Err(e)) => return PageEnd::Failed(e),
                None => return PageEnd::Ended,
            },
            Some(()) = work.next(), if !work.is_empty() => {}
            () = task.cancel.cancelled() => return PageEnd::Stopped,
        }
    }
    PageEnd::Full
}

/// A failed search: stores what the page found, then waits to search again, or gives up.
async fn search_failed(
    task: &Arc<SearchTask>,
    source: &mut Source,
    page: Vec<FoundRecording>,
    work: &mut Work,
    attempt: &mut u32,
    error: isapi::Error,
) -> Searched {
    *attempt += 1;
    if *attempt >= SEARCH_ATTEMPTS {
        return Searched::Failed(SourceProblem::Search(error));
    }
    tracing::warn!(camera = source.camera_id, track = source.track, %error, attempt, "search failed; trying again");
    if store_page(task, source, page, false, work).await.is_err() {
        return Searched::Failed(SourceProblem::Store);
    }
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(2u64 << *attempt)) => Searched::Again,
        () = task.cancel.cancelled() => Searched::Finished,
    }
}

/// Stores a page of found recordings and the source's cursor, then queues the new ones.
async fn store_page(
    task: &Arc<SearchTask>,
    source: &mut Source,
    page: Vec<FoundRecording>,
    ended: bool,
    work: &mut Work,
) -> Result<(), DbError> {
    if page.is_empty() && !ended {
        return Ok(());
    }
    if let Some(last) = page.last() {
        source.cursor_ms = source.cursor_ms.max(last.start_ms);
    }
    source.search_done = ended;
    let (id, stored) = (task.id.clone(), *source);
    let pending = (task.searches.db)
        .write(move |tx| Ok(store::add_found(tx, &id, &stored, &page)?))
        .await
        .inspect_err(
            |e| tracing::error!(task = %task.id, error = %e, "cannot store found recordings"),
        )?;
    for recording in pending {
        work.push(Box::pin(process(Arc::clone(task), recording)));
    }
    Ok(())
}

/// Processes one recording for the task and stores the outcome.
async fn process(task: Arc<SearchTask>, recording: PendingRecording) {
    let _permit = tokio::select! {
        permit = task.slots.acquire() => match permit {
            Ok(permit) => permit,
            Err(_) => return,
        },
        () = task.cancel.cancelled() => return,
    };
    let indexer = &task.searches.indexer;
    let outcome = match indexer
        .ensure_indexed(&recording, &task.job, &task.cancel)
        .await
    {
        Ok(indexed) => match matches_in(&task, &recording, indexed.entries).await {
            Ok(matches) => Outcome::Done {
                matches,
                keyframes: indexed.entries.keyframes,
                faces: indexed.entries.faces,
                warning: indexed.warning,
            },
            Err(reason) => Outcome::Failed { reason },
        },
        Err(IndexingError::Stopped) => return,
        Err(e) => Outcome::Failed {
            reason: e.to_string(),
        },
    };
    if let Outcome::Failed { reason } = &outcome {
        tracing::warn!(task = %task.id, camera = recording.camera_id, track = recording.track, recording = %recording.playback_uri, %reason, "recording failed");
    }
    store_outcome(&task, recording.recording_id, outcome).await;
}

/// Stores a recording's outcome, trying again while the database is busy or full.
async fn store_outcome(task: &SearchTask, recording: i64, outcome: Outcome) {
    let disk = task.searches.indexer.disk();
    let mut attempt = 0;
    let stored = loop {
        let (id, outcome) = (task.id.clone(), outcome.clone());
        let stored = (task.searches.db)
            .write(move |tx| Ok(store::complete(tx, &id, recording, &outcome)?))
            .await;
        match stored {
            // Busy or full: wait a little (for space, when full) and try again.
            Err(e) if e.is_retryable() && attempt < STORE_ATTEMPTS => {
                attempt += 1;
                if e.is_disk_full() {
                    disk.report_full("the database");
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = task.cancel.cancelled() => return,
                }
                if e.is_disk_full() {
                    tokio::select! {
                        () = disk.wait_for_space() => {}
                        () = task.cancel.cancelled() => return,
                    }
                }
            }
            stored => break stored,
        }
    };
    match stored {
        Ok(_) => {
            task.progress.done.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("dipper_recordings_processed_total").increment(1);
        }
        Err(e) => {
            if e.is_disk_full() {
                disk.report_full("storing a recording's matches");
            }
            tracing::error!(task = %task.id, error = %e, "cannot store a recording's outcome; it is processed again at the next start");
        }
    }
}

/// The target's matches among the recording's own entries (also for a recording just
/// indexed for this task: the same search as over covered footage).
async fn matches_in(
    task: &SearchTask,
    recording: &PendingRecording,
    indexed: Indexed,
) -> Result<Vec<NewMatch>, String> {
    let entries = covered::Entries::new(
        recording.camera_id,
        recording.recording_id,
        recording.start_ms..recording.end_ms,
        indexed.first_entry..indexed.end_entry,
    );
    from_index::search_index(task, vec![entries]).await
}

/// A hit within `max_distance` of the target, as a match.
fn to_match(hit: &Hit, max_distance: f32) -> Option<NewMatch> {
    let distance = (2.0 - 2.0 * hit.score).max(0.0).sqrt();
    (distance <= max_distance).then_some(NewMatch {
        entry_id: hit.id.0,
        recording_id: hit.meta.recording as i64,
        camera_id: i64::from(hit.meta.camera),
        time_ms: hit.meta.time_ms,
        distance,
        face_box: [
            hit.meta.face_box.x,
            hit.meta.face_box.y,
            hit.meta.face_box.width,
            hit.meta.face_box.height,
        ],
        face_index: hit.meta.crop,
    })
}
