//! Indexing a recording: its faces into the embedding index, once. [`Indexer`] owns what
//! that takes (the face models and the worker pool, the embedding index, the snapshots, the
//! recordings being indexed) and answers [`Indexer::ensure_indexed`]: a recording already
//! indexed is only looked up; any other is downloaded (in the caller's download job, at its
//! priority), decoded to keyframes on a thread of its own at a lower CPU priority, its faces
//! found and embedded on the workers, their snapshots written, and the faces added to the
//! index, in that order.
//!
//! One recording is indexed by one caller at a time; a caller that waited finds it indexed.
//! Damaged video keeps the faces of the keyframes before the damage (the recording is
//! indexed, with a warning); a download or decode that gave nothing fails it with the
//! reason. A full disk waits for space and tries again; it never fails a recording.
//!
//! A recording's entries are synced (outside the index's lock, so searches do not wait)
//! before SQLite records them as the recording's: after a crash, entries SQLite does not
//! name are leftovers that never match.

use std::{collections::HashMap, path::Path, sync::Arc};

use parking_lot::{Mutex, RwLock};
use pipeline::{
    downloader::{DownloadEnd, DownloadRequest, EventSource, FetchError, Job},
    faces::{
        BoundingBox, Embedding, FaceEngine, FaceError, FacePick, FaceRecord, ModelId, RgbView,
    },
    index::{EmbeddingIndex, EmbeddingRef, EntryMeta, FaceBox, IndexError, IndexSyncer, NewEntry},
    keyframes::{self, DecodeThread, ExtractConfig, Keyframe, KeyframeError, KeyframeStream},
    motion::{GateConfig, GateCounters, MotionGates, PixelVerdict},
};
use tokio_util::sync::CancellationToken;

use crate::{
    config::SearchConfig,
    db::{Database, DbError},
    engine::{
        cameras::Cameras,
        disk::{DiskMonitor, is_no_space},
        error::{EngineError, error_chain},
        gate::TaskGate,
        motion::{CameraGates, GateView},
        snapshots::SnapshotStore,
        store::{self, Indexed, KeyframeCounts, PendingRecording, now_ms},
        workers::{PoolStopped, WorkerPool, lower_priority},
    },
};

/// Keyframes decoded but not yet taken by a face worker, per recording.
const KEYFRAMES_AHEAD: usize = 1;
/// Keyframe images in existence per recording (the decoder waits when all are in use).
const FRAME_BUFFERS: usize = 2;
/// Each recording's decoder: its own thread, at the face workers' lower priority.
const DECODE_THREAD: DecodeThread = DecodeThread {
    name: "dipper-decode",
    setup: lower_priority,
};

/// The embedding index as searches share it.
pub(crate) type SharedIndex = Arc<RwLock<EmbeddingIndex>>;

/// Indexes recordings; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Indexer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Database,
    cameras: Cameras,
    faces: Arc<FaceEngine>,
    workers: WorkerPool,
    index: SharedIndex,
    syncer: IndexSyncer,
    snapshots: SnapshotStore,
    disk: DiskMonitor,
    frame_width: u32,
    frame_height: u32,
    /// Recordings being downloaded and decoded at once, across tasks and background
    /// indexing (twice the workers: one analysed while the next decodes), best download
    /// priority first: a search's recordings go before the background's.
    active_recordings: TaskGate,
    /// One indexing of a recording at a time.
    recording_locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Each camera's motion gates.
    gates: CameraGates,
    /// Each camera's latest keyframe, for the local page.
    latest: super::latest::LatestFrames,
}

/// A recording's entries in the index and, for damaged video, what was wrong.
#[derive(Debug, Clone)]
pub(crate) struct IndexedRecording {
    pub(crate) entries: Indexed,
    pub(crate) warning: Option<String>,
}

/// Why a recording was not indexed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IndexingError {
    /// Cancelled, or the daemon is stopping.
    #[error("stopped")]
    Stopped,
    /// Out of disk space writing this; the caller does not see it (the indexer waits).
    #[error("out of disk space writing {0}")]
    DiskFull(&'static str),
    #[error(transparent)]
    Failed(#[from] RecordingFailure),
}

/// Why a recording cannot be indexed; its text is the reason a task shows.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordingFailure {
    #[error("{0}")]
    Camera(EngineError),
    #[error("starting a decoder thread: {0}")]
    DecoderThread(std::io::Error),
    #[error("{0}")]
    Workers(#[from] PoolStopped),
    #[error("reading the recording: {0}")]
    Lookup(DbError),
    /// What went wrong when no keyframe came out at all.
    #[error("{0}")]
    NothingDecoded(Problem),
    #[error("embedding index: {0}")]
    Index(String),
    #[error("database: {0}")]
    Database(DbError),
}

/// Damage found while indexing: fails a recording that gave no keyframe, else a warning.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Problem {
    #[error("download: {}", error_chain(.0))]
    Download(Box<FetchError>),
    #[error("video: {}", error_chain(.0))]
    Video(Box<KeyframeError>),
    #[error("video: no keyframe in the recording")]
    NoKeyframe,
    #[error("keyframe: {0}")]
    Keyframe(FaceError),
    #[error("faces: {}", error_chain(.0))]
    Faces(FaceError),
    #[error("snapshot: {0}")]
    Snapshot(std::io::Error),
}

/// Why a photo gave no embedding; its text is the task's error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PhotoError {
    #[error("{}", error_chain(.0))]
    Faces(#[from] FaceError),
    #[error("{0}")]
    Workers(#[from] PoolStopped),
}

/// A face of a photo, judged.
#[derive(Debug, Clone)]
pub(crate) struct PhotoFace {
    pub(crate) bbox: BoundingBox,
    /// Why the quality gate turns it away; `None`: usable.
    pub(crate) rejection: Option<pipeline::faces::Rejection>,
    /// A JPEG to show: the aligned face as it is searched for, or the box's crop when
    /// refused.
    pub(crate) crop_jpeg: Vec<u8>,
    pub(crate) embedding: Option<Embedding>,
}

/// The faces of a photo: each found face judged one by one (a photo holds few).
fn photo_faces(faces: &FaceEngine, photo: &[u8]) -> Result<Vec<PhotoFace>, FaceError> {
    let name = Path::new("the photo");
    let image = pipeline::faces::decode_upright(photo, name)?;
    // Asking for a face past the last lists them all.
    let listed = match faces.query_from_photo_bytes(photo, name, FacePick::Index(usize::MAX)) {
        Err(FaceError::NoSuchFace { faces: listed, .. }) => listed.len(),
        // Found only with the border a photo filled by its face gets: one face.
        Err(FaceError::NoFace { .. }) => usize::from(
            faces
                .query_from_photo_bytes(photo, name, FacePick::Only)
                .is_ok(),
        ),
        Err(other) => return Err(other),
        Ok(_) => 1,
    };
    let picks: Vec<FacePick> = if listed == 1 {
        vec![FacePick::Only]
    } else {
        (0..listed).map(FacePick::Index).collect()
    };
    let mut judged = Vec::with_capacity(picks.len());
    for pick in picks {
        match faces.query_from_photo_bytes(photo, name, pick) {
            Ok(query) => judged.push(PhotoFace {
                bbox: query.detection.bbox,
                rejection: None,
                crop_jpeg: super::snapshots::encode_jpeg(&query.aligned.to_image())
                    .unwrap_or_default(),
                embedding: Some(query.embedding),
            }),
            Err(FaceError::QueryRejected { bbox, reason, .. }) => judged.push(PhotoFace {
                bbox,
                rejection: Some(reason),
                crop_jpeg: super::snapshots::encode_jpeg(&super::snapshots::face_crop(
                    &image, &bbox,
                ))
                .unwrap_or_default(),
                embedding: None,
            }),
            Err(FaceError::NoFace { .. } | FaceError::NoSuchFace { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(judged)
}

/// A keyframe's faces, as a face worker returns them.
struct FrameFaces {
    time_ms: i64,
    faces: Vec<FaceRecord>,
}

/// What the face workers made of a recording's keyframes.
#[derive(Default)]
struct Analysed {
    /// Keyframes decoded.
    keyframes: u64,
    frames: Vec<FrameFaces>,
    /// The first keyframe that could not be analysed.
    problem: Option<Problem>,
}

/// What the indexer is built from.
#[derive(Debug)]
pub(crate) struct IndexerParts<'a> {
    pub(crate) db: Database,
    pub(crate) cameras: Cameras,
    pub(crate) faces: FaceEngine,
    pub(crate) disk: DiskMonitor,
    pub(crate) config: &'a SearchConfig,
    /// The motion gates' settings; `None`: every keyframe decoded and searched whole.
    pub(crate) motion: Option<GateConfig>,
    pub(crate) data_dir: &'a Path,
}

impl Indexer {
    /// Opens the embedding index and starts the face workers.
    pub(crate) fn new(parts: IndexerParts<'_>) -> Result<Indexer, EngineError> {
        let model = parts.faces.embedding_model();
        let index = EmbeddingIndex::open_or_create(
            parts.data_dir.join("index"),
            model.id(),
            model.dimensions().unwrap_or(128),
        )?;
        tracing::info!(entries = index.len(), recovery = ?index.recovery(), "embedding index open");
        metrics::gauge!("dipper_index_entries").set(index.len() as f64);
        let workers = WorkerPool::new(parts.config.worker_count()).map_err(|source| {
            EngineError::Threads {
                what: "face worker",
                source,
            }
        })?;
        Ok(Indexer {
            inner: Arc::new(Inner {
                db: parts.db,
                cameras: parts.cameras,
                faces: Arc::new(parts.faces),
                active_recordings: TaskGate::new(workers.threads() * 2),
                workers,
                syncer: index.syncer(),
                index: Arc::new(RwLock::new(index)),
                snapshots: SnapshotStore::new(parts.data_dir, parts.config.snapshot_width),
                disk: parts.disk,
                frame_width: parts.config.frame_width,
                frame_height: parts.config.frame_height,
                recording_locks: Mutex::new(HashMap::new()),
                gates: CameraGates::new(parts.motion),
                latest: super::latest::LatestFrames::default(),
            }),
        })
    }

    /// Each camera's latest keyframe.
    pub(crate) fn latest_frames(&self) -> &super::latest::LatestFrames {
        &self.inner.latest
    }

    /// The model every embedding of this box carries.
    pub(crate) fn model(&self) -> ModelId {
        self.inner.faces.embedding_model()
    }

    /// The index, for searches (which take its read lock).
    pub(crate) fn index(&self) -> SharedIndex {
        Arc::clone(&self.inner.index)
    }

    /// The data directory's free space, which indexing waits for.
    pub(crate) fn disk(&self) -> &DiskMonitor {
        &self.inner.disk
    }

    /// How the camera's motion gates stand; `None` when gating is off.
    pub(crate) async fn gate_view(&self, camera: i64) -> Result<Option<GateView>, DbError> {
        self.inner.gates.view(&self.inner.db, camera).await
    }

    pub(crate) fn entries(&self) -> u64 {
        self.inner.index.read().len()
    }

    /// Stops the face workers once their queued jobs are done (at shutdown).
    pub(crate) async fn stop_workers(&self) {
        self.inner.workers.stop().await;
    }

    /// Makes every entry durable (at shutdown).
    pub(crate) async fn sync(&self) {
        let syncer = self.inner.syncer.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || syncer.sync()).await {
            tracing::error!(error = %e, "cannot sync the embedding index");
        }
    }

    /// Every face of a photo with the quality gate's verdict, a crop to show, and the
    /// embedding of each usable one (the local page's search: the operator picks one).
    pub(crate) async fn faces_in_photo(
        &self,
        photo: Vec<u8>,
    ) -> Result<Vec<PhotoFace>, PhotoError> {
        let faces = Arc::clone(&self.inner.faces);
        let found = self
            .inner
            .workers
            .run(move || photo_faces(&faces, &photo))
            .await?;
        Ok(found?)
    }

    /// The embedding of the one face in a photo (JPEG or PNG), made on a face worker.
    pub(crate) async fn embed_photo(&self, photo: Vec<u8>) -> Result<Embedding, PhotoError> {
        let faces = Arc::clone(&self.inner.faces);
        let query = self
            .inner
            .workers
            .run(move || {
                faces.query_from_photo_bytes(&photo, Path::new("the photo"), FacePick::Only)
            })
            .await??;
        Ok(query.embedding)
    }

    /// The recording's entries, indexing it first when it is not yet.
    pub(crate) async fn ensure_indexed(
        &self,
        recording: &PendingRecording,
        job: &Job,
        cancel: &CancellationToken,
    ) -> Result<IndexedRecording, IndexingError> {
        let lock = self.recording_lock(recording.recording_id);
        let _held = tokio::select! {
            held = lock.lock() => held,
            () = cancel.cancelled() => return Err(IndexingError::Stopped),
        };
        let disk = &self.inner.disk;
        loop {
            let id = recording.recording_id;
            let found = self
                .inner
                .db
                .read(move |c| Ok(store::indexed(c, id)?))
                .await;
            if let Some(entries) = found.map_err(RecordingFailure::Lookup)? {
                return Ok(IndexedRecording {
                    entries,
                    warning: None,
                });
            }
            tokio::select! {
                () = disk.wait_for_space() => {}
                () = cancel.cancelled() => return Err(IndexingError::Stopped),
            }
            match self.index_recording(recording, job, cancel).await {
                Err(IndexingError::DiskFull(what)) => {
                    disk.report_full(what);
                    tracing::warn!(recording = %recording.playback_uri, %what, "disk full; the recording waits for space");
                }
                done => return done,
            }
        }
    }

    /// The lock that keeps two callers from indexing one recording at once.
    fn recording_lock(&self, recording: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.recording_locks.lock();
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(locks.entry(recording).or_default())
    }

    /// Downloads, decodes and analyses the recording, then adds its faces to the index and
    /// records them in SQLite.
    async fn index_recording(
        &self,
        recording: &PendingRecording,
        job: &Job,
        cancel: &CancellationToken,
    ) -> Result<IndexedRecording, IndexingError> {
        let _active = tokio::select! {
            slot = self.inner.active_recordings.enter(job.priority().level()) => slot,
            () = cancel.cancelled() => return Err(IndexingError::Stopped),
        };
        let device = (self.inner.cameras.device(recording.camera_id).await)
            .map_err(RecordingFailure::Camera)?;
        let gates = (self
            .inner
            .gates
            .fork(&self.inner.db, recording.camera_id)
            .await)
            .map_err(RecordingFailure::Lookup)?;
        let (mut stream, download) = self.start_decoding(recording, job, device, &gates)?;
        let analysed = self.analyse(&mut stream, recording, &gates, cancel).await?;
        let decoded = stream.finish().await;
        if decoded.is_err() {
            // The extractor stopped reading (damaged video): the rest is not needed.
            download.cancel();
        }
        let fetched = download.finish().await;
        if cancel.is_cancelled() {
            return Err(IndexingError::Stopped);
        }
        let problem = download_problem(fetched)
            .or(decoded.err().map(|e| Problem::Video(Box::new(e))))
            .or(analysed.problem);
        let (gate_state, counted) = match &gates {
            Some(fork) => {
                let (state, counted) = self.inner.gates.join(recording.camera_id, fork);
                (Some(state), Some(counted))
            }
            None => (None, None),
        };
        let keyframes = keyframe_counts(analysed.keyframes, counted);
        // The gates may skip every keyframe of a still recording; none decoded is a failure
        // only when some were to be.
        if analysed.keyframes == 0 && (keyframes.decoded > 0 || keyframes.total == 0) {
            let problem = problem.unwrap_or(Problem::NoKeyframe);
            return Err(RecordingFailure::NothingDecoded(problem).into());
        }
        let faces: u64 = analysed.frames.iter().map(|f| f.faces.len() as u64).sum();
        let range = self.add_to_index(recording, analysed.frames).await?;
        let entries = Indexed {
            first_entry: range.start,
            end_entry: range.end,
            keyframes,
            faces,
        };
        let warning = problem.map(|p| p.to_string());
        self.record_indexed(recording, entries, warning.clone(), gate_state)
            .await?;
        count_indexed(recording, &entries);
        Ok(IndexedRecording { entries, warning })
    }

    /// Starts the recording's download in `job` and its decoder thread reading it.
    fn start_decoding(
        &self,
        recording: &PendingRecording,
        job: &Job,
        device: isapi::Device,
        gates: &Option<MotionGates>,
    ) -> Result<(KeyframeStream, DownloadEnd), IndexingError> {
        let (events, download) = job
            .download(DownloadRequest {
                device_key: recording.camera_id as u64,
                device,
                playback_uri: recording.playback_uri.clone(),
                cache_key: Some(format!(
                    "{}/{}",
                    recording.camera_id, recording.playback_uri
                )),
            })
            .into_events();
        let stream = keyframes::spawn_on_thread(
            EventSource::new(events),
            self.extract_config(recording, gates.clone()),
            KEYFRAMES_AHEAD,
            DECODE_THREAD,
        )
        .map_err(RecordingFailure::DecoderThread)?;
        Ok((stream, download))
    }

    fn extract_config(
        &self,
        recording: &PendingRecording,
        gates: Option<MotionGates>,
    ) -> ExtractConfig {
        ExtractConfig {
            width: self.inner.frame_width,
            height: self.inner.frame_height,
            recording: recording.playback_uri.clone(),
            start: jiff::Timestamp::from_millisecond(recording.start_ms).ok(),
            frame_buffers: FRAME_BUFFERS,
            decoder_threads: 1,
            gates,
        }
    }

    /// Hands each keyframe to a face worker as it is decoded.
    async fn analyse(
        &self,
        stream: &mut KeyframeStream,
        recording: &PendingRecording,
        gates: &Option<MotionGates>,
        cancel: &CancellationToken,
    ) -> Result<Analysed, IndexingError> {
        let mut analysed = Analysed::default();
        loop {
            let keyframe = tokio::select! {
                keyframe = stream.next() => keyframe,
                () = cancel.cancelled() => return Err(IndexingError::Stopped),
            };
            let Some(keyframe) = keyframe else {
                return Ok(analysed);
            };
            analysed.keyframes += 1;
            let job = self.analyse_job(recording, keyframe, gates.clone());
            let result = tokio::select! {
                result = self.inner.workers.run(job) => result,
                () = cancel.cancelled() => return Err(IndexingError::Stopped),
            };
            match result.map_err(RecordingFailure::Workers)? {
                Ok(frame) => analysed.frames.push(frame),
                Err(Problem::Snapshot(e)) if is_no_space(&e) => {
                    return Err(IndexingError::DiskFull("snapshots"));
                }
                Err(problem) => {
                    analysed.problem.get_or_insert(problem);
                }
            }
        }
    }

    /// The work a face worker does for one keyframe: what the pixel gate lets through of
    /// it (all of it without gates), its faces, then snapshots of the frame and each face
    /// when there are any.
    fn analyse_job(
        &self,
        recording: &PendingRecording,
        keyframe: Keyframe,
        gates: Option<MotionGates>,
    ) -> impl FnOnce() -> Result<FrameFaces, Problem> + Send + 'static {
        let faces = Arc::clone(&self.inner.faces);
        let snapshots = self.inner.snapshots.clone();
        let latest = self.inner.latest.clone();
        let (recording_id, start_ms) = (recording.recording_id, recording.start_ms);
        let camera = recording.camera_id;
        move || {
            let time_ms = keyframe.wall_clock.map_or_else(
                || start_ms + keyframe.time.as_millis() as i64,
                |t| t.as_millisecond(),
            );
            let frame = RgbView::from_keyframe(&keyframe).map_err(Problem::Keyframe)?;
            latest.offer(camera, time_ms, frame);
            let verdict = gates.map(|gates| gates.judge_keyframe(&keyframe));
            let found = match &verdict {
                Some(PixelVerdict::Static) => {
                    return Ok(FrameFaces {
                        time_ms,
                        faces: Vec::new(),
                    });
                }
                None | Some(PixelVerdict::Whole(_)) => faces.analyse_frame(frame),
                Some(PixelVerdict::Regions(regions)) => {
                    let areas: Vec<BoundingBox> = regions
                        .iter()
                        .map(|r| BoundingBox {
                            x: r.x as f32,
                            y: r.y as f32,
                            width: r.width as f32,
                            height: r.height as f32,
                        })
                        .collect();
                    faces.analyse_areas(frame, &areas)
                }
            };
            let found = found.map_err(Problem::Faces)?;
            if !found.faces.is_empty() {
                let boxes: Vec<_> = found.faces.iter().map(|f| f.bbox).collect();
                (snapshots.write(recording_id, time_ms, frame, &boxes))
                    .map_err(Problem::Snapshot)?;
            }
            Ok(FrameFaces {
                time_ms,
                faces: found.faces,
            })
        }
    }

    /// Adds the faces to the index under its write lock, then syncs them after letting go.
    async fn add_to_index(
        &self,
        recording: &PendingRecording,
        frames: Vec<FrameFaces>,
    ) -> Result<std::ops::Range<u64>, IndexingError> {
        let index = self.index();
        let syncer = self.inner.syncer.clone();
        let (recording_id, camera) = (recording.recording_id as u64, recording.camera_id as u32);
        let added = tokio::task::spawn_blocking(move || {
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
            let range = index.write().add_batch(&entries)?;
            metrics::gauge!("dipper_index_entries").set(range.end as f64);
            syncer.sync()?;
            Ok::<_, IndexError>(range)
        })
        .await
        .map_err(|e| RecordingFailure::Index(e.to_string()))?;
        added.map_err(|e| {
            if is_no_space(&e) {
                IndexingError::DiskFull("the embedding index")
            } else {
                RecordingFailure::Index(e.to_string()).into()
            }
        })
    }

    /// Records the recording's entries in SQLite (after they are synced).
    /// With it, what the camera's motion gates have learnt (`gate_state`, JSON).
    async fn record_indexed(
        &self,
        recording: &PendingRecording,
        entries: Indexed,
        warning: Option<String>,
        gate_state: Option<String>,
    ) -> Result<(), IndexingError> {
        let (id, camera) = (recording.recording_id, recording.camera_id);
        let stored = self.inner.db.write(move |tx| {
            let now = now_ms();
            store::mark_indexed(tx, id, entries, warning.as_deref(), now)?;
            if let Some(state) = &gate_state {
                store::save_motion_state(tx, camera, state)?;
            }
            Ok(())
        });
        stored.await.map_err(|e| {
            if e.is_disk_full() {
                IndexingError::DiskFull("the database")
            } else {
                RecordingFailure::Database(e).into()
            }
        })
    }
}

/// A recording's keyframe counts, `decoded` of them coming out of the decoder: with the
/// gates, every keyframe and those sent to the detector are what its gates counted (the
/// pixel gate judges each decoded one); without, every keyframe was decoded and detected.
/// Counts an indexed recording in `/metrics`: its keyframes, faces and footage.
fn count_indexed(recording: &PendingRecording, entries: &Indexed) {
    metrics::counter!("dipper_keyframes_total").increment(entries.keyframes.total);
    metrics::counter!("dipper_keyframes_decoded_total").increment(entries.keyframes.decoded);
    metrics::counter!("dipper_faces_indexed_total").increment(entries.faces);
    let footage_ms = recording.end_ms.saturating_sub(recording.start_ms).max(0) as u64;
    metrics::counter!("dipper_footage_indexed_seconds_total")
        .increment(footage_ms.saturating_add(500) / 1000);
}

fn keyframe_counts(decoded: u64, gated: Option<GateCounters>) -> KeyframeCounts {
    match gated {
        Some(counted) => KeyframeCounts {
            total: counted.keyframes_total.max(decoded),
            decoded,
            detected: counted.keyframes_detected,
        },
        None => KeyframeCounts {
            total: decoded,
            decoded,
            detected: decoded,
        },
    }
}

/// What went wrong with the download, if the extractor did not stop it first.
fn download_problem(fetched: Result<u64, FetchError>) -> Option<Problem> {
    match fetched {
        Ok(_bytes) => None,
        // The extractor stopped reading first (damaged video): its error says why.
        Err(FetchError::Cancelled | FetchError::ConsumerGone) => None,
        Err(e) => Some(Problem::Download(Box::new(e))),
    }
}
