//! One recording for one task: make sure its faces are in the embedding index (download,
//! keyframes, faces, snapshots, index, in that order), then search the index for the
//! task's target within that recording.
//!
//! A recording is processed by one task at a time ([`Engine::recording_lock`]); a task that
//! waited finds it indexed and only searches. Damaged video keeps the faces of the keyframes
//! before the damage (the recording is done, with a warning); a download or decode that gave
//! nothing fails the recording with the reason. A full disk waits for space and tries
//! again; it never fails a recording.

use std::sync::Arc;

use pipeline::{
    downloader::{DownloadRequest, EventSource},
    faces::{FaceRecord, RgbView},
    index::{EmbeddingRef, EntryMeta, FaceBox, NewEntry, Query},
    keyframes::{ExtractConfig, Keyframe},
};
use tokio::sync::mpsc;

use super::{
    Engine, decode,
    disk::is_no_space,
    error_chain as chain, now_ms,
    runner::TaskContext,
    store::{self, Indexed, NewMatch, Outcome, PendingRecording},
};

/// The task is stopping (cancelled, or the daemon is stopping).
#[derive(Debug)]
pub(super) struct Stopped;

/// Why indexing a recording did not finish.
enum IndexingError {
    Stopped,
    /// Out of disk space while writing `what`.
    DiskFull(String),
    Failed(String),
}

/// Keyframes decoded but not yet taken by a face worker, per recording.
const KEYFRAMES_AHEAD: usize = 1;
/// Keyframe images in existence per recording (the decoder waits when all are in use).
const FRAME_BUFFERS: usize = 2;

pub(super) async fn process(
    context: &TaskContext,
    recording: &PendingRecording,
) -> Result<Outcome, Stopped> {
    let engine = &context.engine;
    let lock = engine.recording_lock(recording.recording_id);
    let _held = tokio::select! {
        held = lock.lock() => held,
        () = context.cancel.cancelled() => return Err(Stopped),
    };
    let (indexed, warning) = loop {
        let id = recording.recording_id;
        match engine
            .inner
            .db
            .read(move |c| Ok(store::indexed(c, id)?))
            .await
        {
            Ok(Some(indexed)) => break (indexed, None),
            Ok(None) => {}
            Err(e) => {
                return Ok(Outcome::Failed {
                    reason: format!("reading the recording: {e}"),
                });
            }
        }
        tokio::select! {
            () = engine.inner.disk.wait_for_space() => {}
            () = context.cancel.cancelled() => return Err(Stopped),
        }
        match index_recording(context, recording).await {
            Ok(done) => break done,
            Err(IndexingError::Stopped) => return Err(Stopped),
            Err(IndexingError::DiskFull(what)) => {
                engine.inner.disk.report_full(&what);
                tracing::warn!(recording = %recording.playback_uri, %what, "disk full; the recording waits for space");
            }
            Err(IndexingError::Failed(reason)) => return Ok(Outcome::Failed { reason }),
        }
    };
    let matches = match search(context, recording, indexed).await {
        Ok(matches) => matches,
        Err(reason) => return Ok(Outcome::Failed { reason }),
    };
    Ok(Outcome::Done {
        matches,
        keyframes: indexed.keyframes,
        faces: indexed.faces,
        warning,
    })
}

/// A keyframe's faces, as a face worker returns them.
struct FrameResult {
    time_ms: i64,
    faces: Vec<FaceRecord>,
}

/// Downloads, decodes and analyses the recording, then adds its faces to the index and
/// records them in SQLite. Returns the recording's entries and, for damaged video, a warning.
async fn index_recording(
    context: &TaskContext,
    recording: &PendingRecording,
) -> Result<(Indexed, Option<String>), IndexingError> {
    let engine = &context.engine;
    let _active = tokio::select! {
        permit = engine.inner.active_recordings.acquire() => permit.map_err(|_| IndexingError::Stopped)?,
        () = context.cancel.cancelled() => return Err(IndexingError::Stopped),
    };
    let device = engine
        .device(recording.camera_id)
        .await
        .map_err(|e| IndexingError::Failed(e.to_string()))?;
    let mut handle = context.job.download(DownloadRequest {
        device_key: recording.camera_id as u64,
        device,
        playback_uri: recording.playback_uri.clone(),
        cache_key: Some(format!(
            "{}/{}",
            recording.camera_id, recording.playback_uri
        )),
    });
    // The extractor reads a plain channel of events; this forwards the download's, and
    // stops the download when the extractor goes away.
    let (events, source) = mpsc::channel(4);
    let forward = tokio::spawn(async move {
        while let Some(event) = handle.next().await {
            if events.send(event).await.is_err() {
                handle.cancel();
                break;
            }
        }
        handle.finish().await
    });
    let config = &engine.inner.config;
    let start = jiff::Timestamp::from_millisecond(recording.start_ms).ok();
    let mut stream = decode::spawn(
        EventSource::new(source),
        ExtractConfig {
            width: config.frame_width,
            height: config.frame_height,
            recording: recording.playback_uri.clone(),
            start,
            frame_buffers: FRAME_BUFFERS,
            decoder_threads: 1,
        },
        KEYFRAMES_AHEAD,
    )
    .map_err(|e| IndexingError::Failed(format!("starting a decoder thread: {e}")))?;
    let mut frames: Vec<FrameResult> = Vec::new();
    let mut keyframes = 0u64;
    let mut frame_error: Option<String> = None;
    loop {
        let keyframe = tokio::select! {
            keyframe = stream.next() => keyframe,
            () = context.cancel.cancelled() => return Err(IndexingError::Stopped),
        };
        let Some(keyframe) = keyframe else { break };
        keyframes += 1;
        let job = analyse_job(engine, recording, keyframe);
        let analysed = tokio::select! {
            analysed = engine.inner.workers.run(job) => analysed,
            () = context.cancel.cancelled() => return Err(IndexingError::Stopped),
        };
        match analysed {
            Ok(Ok(frame)) => frames.push(frame),
            Ok(Err(AnalyseError::NoSpace(what))) => return Err(IndexingError::DiskFull(what)),
            Ok(Err(AnalyseError::Failed(reason))) => {
                frame_error.get_or_insert(reason);
            }
            Err(e) => return Err(IndexingError::Failed(e.to_string())),
        }
    }
    let decoded = stream.finish().await;
    let fetched = forward.await;
    if context.cancel.is_cancelled() {
        return Err(IndexingError::Stopped);
    }
    let fetch_error = match fetched {
        Ok(Ok(_bytes)) => None,
        Ok(Err(pipeline::downloader::FetchError::Cancelled)) => {
            // The extractor stopped reading first (damaged video): its error says why.
            None
        }
        Ok(Err(e)) => Some(format!("download: {}", chain(&e))),
        Err(e) => Some(format!("download: {e}")),
    };
    let decode_error = match decoded {
        Some(Ok(_summary)) => None,
        Some(Err(e)) => Some(format!("video: {}", chain(&e))),
        None => Some("video: the decoder stopped without a word".to_owned()),
    };
    let problem = fetch_error.or(decode_error).or(frame_error);
    if keyframes == 0 {
        return Err(IndexingError::Failed(problem.unwrap_or_else(|| {
            "video: no keyframe in the recording".to_owned()
        })));
    }
    let faces: u64 = frames.iter().map(|f| f.faces.len() as u64).sum();
    // Synced before SQLite names them the recording's: after a crash, entries SQLite does
    // not name are leftovers that never match.
    let index = Arc::clone(&engine.inner.index);
    let (recording_id, camera) = (recording.recording_id as u64, recording.camera_id as u32);
    let range = tokio::task::spawn_blocking(move || {
        let entries: Vec<NewEntry<'_>> = frames
            .iter()
            .flat_map(|frame| {
                frame.faces.iter().enumerate().map(|(n, face)| NewEntry {
                    embedding: EmbeddingRef::from(&face.embedding),
                    meta: EntryMeta {
                        recording: recording_id,
                        camera,
                        time_ms: frame.time_ms,
                        face_box: FaceBox::from(face.bbox),
                        crop: n as u64,
                    },
                })
            })
            .collect();
        let mut index = index.write();
        let range = index.add_batch(&entries)?;
        index.sync()?;
        Ok::<_, pipeline::index::IndexError>(range)
    })
    .await
    .map_err(|e| IndexingError::Failed(format!("embedding index: {e}")))?
    .map_err(|e| {
        if is_no_space(&e) {
            IndexingError::DiskFull("the embedding index".to_owned())
        } else {
            IndexingError::Failed(format!("embedding index: {e}"))
        }
    })?;
    let indexed = Indexed {
        first_entry: range.start,
        end_entry: range.end,
        keyframes,
        faces,
    };
    let id = recording.recording_id;
    let stored_problem = problem.clone();
    engine
        .inner
        .db
        .write(move |tx| {
            Ok(store::mark_indexed(
                tx,
                id,
                indexed,
                stored_problem.as_deref(),
                now_ms(),
            )?)
        })
        .await
        .map_err(|e| {
            if e.is_disk_full() {
                IndexingError::DiskFull("the database".to_owned())
            } else {
                IndexingError::Failed(format!("database: {e}"))
            }
        })?;
    metrics::counter!("dipper_keyframes_total").increment(keyframes);
    metrics::counter!("dipper_faces_indexed_total").increment(faces);
    Ok((indexed, problem))
}

enum AnalyseError {
    NoSpace(String),
    Failed(String),
}

/// The work a face worker does for one keyframe: faces, then snapshots of the frame and
/// each face when there are any.
fn analyse_job(
    engine: &Engine,
    recording: &PendingRecording,
    keyframe: Keyframe,
) -> impl FnOnce() -> Result<FrameResult, AnalyseError> + Send + 'static {
    let faces = Arc::clone(&engine.inner.faces);
    let snapshots = engine.inner.snapshots.clone();
    let recording_id = recording.recording_id;
    let start_ms = recording.start_ms;
    move || {
        let time_ms = keyframe.wall_clock.map_or_else(
            || start_ms + keyframe.time.as_millis() as i64,
            |t| t.as_millisecond(),
        );
        let frame = RgbView::from_keyframe(&keyframe)
            .map_err(|e| AnalyseError::Failed(format!("keyframe: {e}")))?;
        let found = faces
            .analyse_frame(frame)
            .map_err(|e| AnalyseError::Failed(format!("faces: {}", chain(&e))))?;
        if !found.faces.is_empty() {
            let boxes: Vec<_> = found.faces.iter().map(|f| f.bbox).collect();
            snapshots
                .write(recording_id, time_ms, frame, &boxes)
                .map_err(|e| {
                    if is_no_space(&e) {
                        AnalyseError::NoSpace("snapshots".to_owned())
                    } else {
                        AnalyseError::Failed(format!("snapshot: {e}"))
                    }
                })?;
        }
        Ok(FrameResult {
            time_ms,
            faces: found.faces,
        })
    }
}

/// The target's matches among the recording's own entries.
async fn search(
    context: &TaskContext,
    recording: &PendingRecording,
    indexed: Indexed,
) -> Result<Vec<NewMatch>, String> {
    if indexed.first_entry == indexed.end_entry {
        return Ok(Vec::new());
    }
    let index = Arc::clone(&context.engine.inner.index);
    let model = context.model.clone();
    let target = context.target.clone();
    let min_score = context.min_score;
    let max_distance = context.match_distance;
    let recording_id = recording.recording_id;
    let camera = recording.camera_id;
    // Keyframe times fall inside the recording; the margin covers a device clock that runs a
    // little past the recording's announced end.
    let times = (recording.start_ms - 60_000)..(recording.end_ms + 60_000);
    tokio::task::spawn_blocking(move || {
        let index = index.read();
        let query = Query::at_least(EmbeddingRef::new(&model, &target), min_score)
            .cameras([camera as u32])
            .time_range(times);
        let hits = index
            .search(&query)
            .map_err(|e| format!("embedding index: {e}"))?;
        Ok(hits
            .into_iter()
            .filter(|hit| {
                hit.meta.recording == recording_id as u64
                    && (indexed.first_entry..indexed.end_entry).contains(&hit.id.0)
            })
            .filter_map(|hit| {
                let distance = (2.0 - 2.0 * hit.score).max(0.0).sqrt();
                (distance <= max_distance).then_some(NewMatch {
                    entry_id: hit.id.0,
                    recording_id,
                    camera_id: camera,
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
            })
            .collect())
    })
    .await
    .map_err(|e| format!("embedding index: {e}"))?
}
