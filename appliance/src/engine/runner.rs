//! One task's life: wait for a slot, embed the target, search each camera track page by
//! page, and process every recording found; resume from the rows after a restart.
//!
//! Phase one finishes the recordings left pending by an earlier run; phase two searches
//! every source from its cursor. A page's recordings are stored (with the new cursor) before
//! any is processed, and processing is bounded (`search.recordings_per_task` at once, at most
//! a page waiting), so memory does not grow with the number of recordings a range covers.

use std::{pin::pin, sync::Arc, time::Duration};

use futures::{StreamExt, stream::FuturesUnordered};
use pipeline::{
    downloader::{Job, Priority},
    faces::FacePick,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    Engine, Live, Running, error_chain, now_ms,
    recording::{self, Stopped},
    store::{self, FoundRecording, Outcome, PendingRecording, Source, TaskState},
};

/// How often storing a recording's outcome is tried when the database is busy or full.
const STORE_ATTEMPTS: u32 = 30;

/// How often a camera's search is tried again after an error, before the source is given up.
const SEARCH_ATTEMPTS: u32 = 4;

/// Recordings being processed for one source.
type Work = FuturesUnordered<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>;

/// What one running task shares with its recordings.
#[derive(Debug)]
pub(super) struct TaskContext {
    pub(super) engine: Engine,
    pub(super) id: String,
    pub(super) job: Job,
    pub(super) model: String,
    pub(super) target: Vec<f32>,
    /// Cosine at or above which a face matches.
    pub(super) min_score: f32,
    pub(super) match_distance: f32,
    pub(super) cancel: CancellationToken,
    slots: Semaphore,
    live: Arc<Live>,
}

/// Runs a task until it is done, fails, is cancelled, or the daemon stops.
pub(super) async fn run(engine: &Engine, id: &str, running: &Running) {
    let span = tracing::info_span!("task", task = %id);
    let outcome = run_task(engine, id, running).instrument(span).await;
    let (state, error) = match outcome {
        Ok(None) => (TaskState::Done, None),
        Ok(Some(warning)) => (TaskState::Done, Some(warning)),
        Err(Ending::Stopped) => return,
        Err(Ending::Failed(message)) => (TaskState::Failed, Some(message)),
    };
    let task = id.to_owned();
    let result = engine
        .inner
        .db
        .write(move |tx| {
            Ok(store::set_state(
                tx,
                &task,
                state,
                error.as_deref(),
                now_ms(),
            )?)
        })
        .await;
    match result {
        Ok(_) => tracing::info!(task = %id, state = state.as_str(), "task finished"),
        Err(e) => {
            tracing::error!(task = %id, error = %e, "cannot store the task's end; it resumes at the next start")
        }
    }
}

enum Ending {
    /// Cancelled or the daemon is stopping: the state is already right.
    Stopped,
    Failed(String),
}

/// `Ok(Some(_))`: done, with sources that could not be searched.
async fn run_task(engine: &Engine, id: &str, running: &Running) -> Result<Option<String>, Ending> {
    let cancel = running.cancel.clone();
    let db = &engine.inner.db;
    let task = id.to_owned();
    let row = db
        .read(move |c| Ok(store::task(c, &task)?))
        .await
        .map_err(|e| Ending::Failed(format!("reading the task: {e}")))?
        .ok_or(Ending::Stopped)?;
    if row.state.is_finished() {
        return Err(Ending::Stopped);
    }
    let _slot = tokio::select! {
        slot = engine.inner.gate.enter(row.priority) => slot,
        () = cancel.cancelled() => return Err(Ending::Stopped),
    };
    let task = id.to_owned();
    let started = db
        .write(move |tx| {
            Ok(store::set_state(
                tx,
                &task,
                TaskState::Running,
                None,
                now_ms(),
            )?)
        })
        .await
        .map_err(|e| Ending::Failed(format!("starting the task: {e}")))?;
    if !started {
        return Err(Ending::Stopped);
    }
    let (model, target) = match row.embedding.clone() {
        Some(embedding) => embedding,
        None => embed_photo(engine, id, &cancel).await?,
    };
    let mut sources = Vec::new();
    let mut warnings = Vec::new();
    for &camera in &row.cameras {
        match engine.inner.db.camera(camera).await {
            Ok(Some(camera)) => sources.extend(camera.tracks.iter().map(|&t| (camera.id, t))),
            Ok(None) => warnings.push(format!("camera {camera} was removed")),
            Err(e) => return Err(Ending::Failed(format!("reading camera {camera}: {e}"))),
        }
    }
    let task = id.to_owned();
    let from_ms = row.from_ms;
    let sources = db
        .write(move |tx| Ok(store::ensure_sources(tx, &task, &sources, from_ms)?))
        .await
        .map_err(|e| Ending::Failed(format!("storing the task's cameras: {e}")))?;
    let priority = Priority::new(row.priority).unwrap_or(Priority::BACKFILL);
    let job = engine.inner.downloader.job(priority);
    let context = Arc::new(TaskContext {
        engine: engine.clone(),
        id: id.to_owned(),
        job: job.clone(),
        model,
        target,
        min_score: Engine::match_threshold(row.match_distance),
        match_distance: row.match_distance,
        cancel: cancel.clone(),
        slots: Semaphore::new(engine.inner.config.recordings_per_task),
        live: Arc::clone(&running.live),
    });
    let stop_downloads = cancel.clone();
    let _cancel_job = tokio::spawn(async move {
        stop_downloads.cancelled().await;
        job.cancel();
    });

    finish_pending(&context).await?;
    let searches = sources
        .iter()
        .filter(|s| !s.search_done)
        .map(|&source| search_source(Arc::clone(&context), source, row.to_ms));
    let results = futures::future::join_all(searches).await;
    if cancel.is_cancelled() {
        return Err(Ending::Stopped);
    }
    running
        .live
        .searches_done
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for result in results {
        if let Err(warning) = result {
            warnings.push(warning);
        }
    }
    Ok((!warnings.is_empty()).then(|| warnings.join("; ")))
}

/// Embeds the task's photo on a face worker and stores the embedding.
async fn embed_photo(
    engine: &Engine,
    id: &str,
    cancel: &CancellationToken,
) -> Result<(String, Vec<f32>), Ending> {
    let task = id.to_owned();
    let photo = engine
        .inner
        .db
        .read(move |c| Ok(store::task_photo(c, &task)?))
        .await
        .map_err(|e| Ending::Failed(format!("reading the photo: {e}")))?
        .ok_or_else(|| Ending::Failed("the task has neither a photo nor an embedding".into()))?;
    let dir = engine.inner.data_dir.join("tmp");
    let extension = if photo.starts_with(b"\x89PNG") {
        "png"
    } else {
        "jpg"
    };
    let job_path = dir.join(format!("{id}.{extension}"));
    let faces = Arc::clone(&engine.inner.faces);
    let embedded = engine.inner.workers.run(move || {
        std::fs::create_dir_all(&dir).map_err(|e| format!("writing the photo: {e}"))?;
        std::fs::write(&job_path, &photo).map_err(|e| format!("writing the photo: {e}"))?;
        let query = faces.query_from_photo(&job_path, FacePick::Only);
        let _ = std::fs::remove_file(&job_path);
        query.map_err(|e| error_chain(&e).replace(&job_path.display().to_string(), "the photo"))
    });
    let query = tokio::select! {
        query = embedded => query.map_err(|e| Ending::Failed(e.to_string()))?,
        () = cancel.cancelled() => return Err(Ending::Stopped),
    };
    let query = query.map_err(Ending::Failed)?;
    let model = query.embedding.model().id().to_owned();
    let values = query.embedding.vector().to_vec();
    let (task, stored_model, stored) = (id.to_owned(), model.clone(), values.clone());
    engine
        .inner
        .db
        .write(move |tx| Ok(store::set_embedding(tx, &task, &stored_model, &stored)?))
        .await
        .map_err(|e| Ending::Failed(format!("storing the embedding: {e}")))?;
    Ok((model, values))
}

/// Processes the recordings an earlier run left pending, a page at a time.
async fn finish_pending(context: &Arc<TaskContext>) -> Result<(), Ending> {
    let mut after_seq = 0;
    loop {
        let task = context.id.clone();
        let page = context
            .engine
            .inner
            .db
            .read(move |c| Ok(store::pending(c, &task, after_seq, 64)?))
            .await
            .map_err(|e| Ending::Failed(format!("reading pending recordings: {e}")))?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after_seq = last.seq;
        let mut work: FuturesUnordered<_> = page
            .into_iter()
            .map(|recording| process(Arc::clone(context), recording))
            .collect();
        while work.next().await.is_some() {}
        if context.cancel.is_cancelled() {
            return Err(Ending::Stopped);
        }
    }
}

/// Searches one camera track from its cursor to the end of the range, processing what each
/// page finds. `Err` is a warning: the source could not be searched.
async fn search_source(
    context: Arc<TaskContext>,
    mut source: Source,
    to_ms: i64,
) -> Result<(), String> {
    let engine = &context.engine;
    let page_size = engine.inner.config.page_size as usize;
    let mut work = Work::new();
    let mut attempt = 0;
    let label = format!("camera {} track {}", source.camera_id, source.track);
    let result = 'search: loop {
        let device = match engine.device(source.camera_id).await {
            Ok(device) => device,
            Err(e) => break 'search Err(format!("{label}: {e}")),
        };
        let query = isapi::SearchQuery {
            track: source.track,
            start: jiff::Timestamp::from_millisecond(source.cursor_ms).unwrap_or_default(),
            end: jiff::Timestamp::from_millisecond(to_ms).unwrap_or_default(),
        };
        let mut stream = pin!(device.search(query));
        loop {
            let mut page: Vec<FoundRecording> = Vec::new();
            let mut ended = false;
            while page.len() < page_size {
                tokio::select! {
                    item = stream.next() => match item {
                        Some(Ok(recording)) => {
                            attempt = 0;
                            page.push(FoundRecording {
                                start_ms: recording.start.as_millisecond(),
                                end_ms: recording.end.as_millisecond(),
                                size: recording.size,
                                playback_uri: recording.playback_uri,
                            });
                        }
                        Some(Err(e)) => {
                            attempt += 1;
                            if attempt >= SEARCH_ATTEMPTS {
                                break 'search Err(format!("{label}: search failed: {e}"));
                            }
                            tracing::warn!(%label, error = %e, attempt, "search failed; trying again");
                            // Store what this page found before searching again.
                            if store_page(&context, &mut source, page, false, &mut work).await.is_err() {
                                break 'search Err(format!("{label}: storing recordings failed"));
                            }
                            tokio::select! {
                                () = tokio::time::sleep(Duration::from_secs(2u64 << attempt)) => {}
                                () = context.cancel.cancelled() => break 'search Ok(()),
                            }
                            continue 'search;
                        }
                        None => {
                            ended = true;
                            break;
                        }
                    },
                    Some(()) = work.next(), if !work.is_empty() => {}
                    () = context.cancel.cancelled() => break 'search Ok(()),
                }
            }
            if ended {
                source.cursor_ms = to_ms;
            }
            if store_page(&context, &mut source, page, ended, &mut work)
                .await
                .is_err()
            {
                break 'search Err(format!("{label}: storing recordings failed"));
            }
            // At most a page of recordings waits for processing.
            while work.len() >= page_size {
                work.next().await;
            }
            if ended {
                break 'search Ok(());
            }
        }
    };
    while work.next().await.is_some() {}
    result
}

/// Stores a page of found recordings and the source's cursor, then queues the new ones.
async fn store_page(
    context: &Arc<TaskContext>,
    source: &mut Source,
    page: Vec<FoundRecording>,
    ended: bool,
    work: &mut Work,
) -> Result<(), ()> {
    if page.is_empty() && !ended {
        return Ok(());
    }
    if let Some(last) = page.last() {
        source.cursor_ms = source.cursor_ms.max(last.start_ms);
    }
    source.search_done = ended;
    let task = context.id.clone();
    let stored = *source;
    let pending = context
        .engine
        .inner
        .db
        .write(move |tx| Ok(store::add_found(tx, &task, &stored, &page)?))
        .await
        .map_err(|e| {
            tracing::error!(task = %context.id, error = %e, "cannot store found recordings");
        })?;
    for recording in pending {
        work.push(Box::pin(process(Arc::clone(context), recording)));
    }
    Ok(())
}

/// Processes one recording for the task and stores the outcome.
async fn process(context: Arc<TaskContext>, recording: PendingRecording) {
    let _permit = tokio::select! {
        permit = context.slots.acquire() => match permit {
            Ok(permit) => permit,
            Err(_) => return,
        },
        () = context.cancel.cancelled() => return,
    };
    let outcome = match recording::process(&context, &recording).await {
        Ok(outcome) => outcome,
        Err(Stopped) => return,
    };
    if let Outcome::Failed { reason } = &outcome {
        tracing::warn!(task = %context.id, camera = recording.camera_id, track = recording.track, recording = %recording.playback_uri, %reason, "recording failed");
    }
    let id = recording.recording_id;
    let mut attempt = 0;
    let stored = loop {
        let (task, outcome) = (context.id.clone(), outcome.clone());
        let stored = context
            .engine
            .inner
            .db
            .write(move |tx| Ok(store::complete(tx, &task, id, &outcome)?))
            .await;
        match stored {
            // Busy or full: wait a little (for space, when full) and try again.
            Err(e) if e.is_retryable() && attempt < STORE_ATTEMPTS => {
                attempt += 1;
                if e.is_disk_full() {
                    context.engine.inner.disk.report_full("the database");
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = context.cancel.cancelled() => return,
                }
                if e.is_disk_full() {
                    tokio::select! {
                        () = context.engine.inner.disk.wait_for_space() => {}
                        () = context.cancel.cancelled() => return,
                    }
                }
            }
            stored => break stored,
        }
    };
    match stored {
        Ok(_) => {
            context
                .live
                .done
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics::counter!("dipper_recordings_processed_total").increment(1);
        }
        Err(e) => {
            if e.is_disk_full() {
                context
                    .engine
                    .inner
                    .disk
                    .report_full("storing a recording's matches");
            }
            tracing::error!(task = %context.id, error = %e, "cannot store a recording's outcome; it is processed again at the next start");
        }
    }
}
