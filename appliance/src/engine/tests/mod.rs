//! The engine on the simulator over real sockets, with the real face models and FFmpeg:
//! the indexer and the searcher together, awaited by condition, never by time.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use isapi::sim::{DeviceConfig, RecordingClip, SimConfig, Simulator};
use pipeline::{
    downloader::{Downloader, DownloaderConfig},
    faces::{FaceConfig, FaceEngine},
    motion::GateConfig,
};

use super::{Engine, EngineParts, NewCameraRequest, TaskRequest, TaskState, TaskStatus};
use crate::{
    config::SearchConfig,
    db::Database,
    engine::{disk::DiskMonitor, request::EmbeddingBody},
};

const USER: &str = "admin";
const PASSWORD: &str = "Cam3ra-pass";

/// A file or folder the scripts make under the workspace's `.cache`.
fn cached(relative: &str) -> PathBuf {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache");
    let path = cache.join(relative);
    let made = path.exists();
    assert!(
        made,
        "no {}: run scripts/fetch-models, scripts/make-clips",
        path.display()
    );
    path
}

/// A camera of one-minute recordings ending at `end`; `clip` is recording `index`'s.
fn camera(end: jiff::Timestamp, clip: Option<(u64, &str)>) -> DeviceConfig {
    let mut camera = DeviceConfig::camera(USER, PASSWORD);
    camera.days = 1;
    camera.recording_minutes = 1;
    camera.end = Some(end);
    camera.recording_clips = clip
        .into_iter()
        .map(|(index, file)| RecordingClip {
            track: 101,
            index,
            path: cached("clips/faces").join(file),
        })
        .collect();
    camera
}

/// An engine on `dir` with the real models, decoding at 640x360 like the daemon's tests,
/// without motion gates.
fn engine(dir: &Path) -> Engine {
    engine_with(dir, test_search_config(), None)
}

/// Small keyframes and two face workers.
fn test_search_config() -> SearchConfig {
    SearchConfig {
        frame_width: 640,
        frame_height: 360,
        workers: 2,
        ..SearchConfig::default()
    }
}

/// An engine on `dir` with the real models.
fn engine_with(dir: &Path, config: SearchConfig, motion: Option<GateConfig>) -> Engine {
    let faces = FaceEngine::new(FaceConfig::default()).expect("face models (scripts/fetch-models)");
    Engine::new(EngineParts {
        db: Database::open(dir).expect("database"),
        client: isapi::Client::new(isapi::ClientConfig::default()).expect("client"),
        downloader: Downloader::new(DownloaderConfig::default()).expect("downloader"),
        faces,
        disk: DiskMonitor::new(dir.to_owned(), 0),
        config,
        per_camera: 2,
        motion,
        data_dir: dir.to_owned(),
    })
    .expect("engine")
}

/// The simulator serving `cameras`, and a fresh data directory for an engine.
async fn simulated(cameras: Vec<DeviceConfig>) -> (Simulator, tempfile::TempDir) {
    let sim = Simulator::start(SimConfig::new(cameras))
        .await
        .expect("simulator");
    (sim, tempfile::tempdir().expect("tempdir"))
}

/// A simulated camera (`clip` at one recording) and an engine that knows it.
struct Setup {
    sim: Simulator,
    engine: Engine,
    camera: i64,
    _dir: tempfile::TempDir,
}

async fn setup(clip: Option<(u64, &str)>) -> Setup {
    let camera = camera(jiff::Timestamp::now(), clip);
    let (sim, dir) = simulated(vec![camera]).await;
    let engine = engine(dir.path());
    let camera = add_camera(&engine, &sim).await;
    Setup {
        sim,
        engine,
        camera,
        _dir: dir,
    }
}

async fn add_camera(engine: &Engine, sim: &Simulator) -> i64 {
    let request = NewCameraRequest {
        name: "gate".to_owned(),
        url: sim.device(0).base_url(),
        username: USER.to_owned(),
        password: PASSWORD.to_owned(),
        tracks: None,
    };
    engine
        .cameras()
        .add_camera(request)
        .await
        .expect("camera added")
        .id
}

fn request(camera: i64, from: jiff::Timestamp, to: jiff::Timestamp) -> TaskRequest {
    TaskRequest {
        from: from.to_string(),
        to: to.to_string(),
        cameras: vec![camera],
        priority: 0,
        match_distance: None,
        photo: None,
        embedding: None,
        more_embeddings: Vec::new(),
    }
}

fn photo(name: &str) -> Option<String> {
    let bytes = std::fs::read(cached("faces").join(name)).expect("photo");
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
}

async fn finished(engine: &Engine, id: &str) -> TaskStatus {
    engine.wait_for_task(id).await;
    engine.task_status(id).await.expect("status")
}

/// A task for the person of the test photo `name` over `[from, to)` of the camera, run to
/// its end and checked `done`: its id and status.
async fn search_for(
    engine: &Engine,
    camera: i64,
    name: &str,
    (from, to): (jiff::Timestamp, jiff::Timestamp),
) -> (String, TaskStatus) {
    let task = TaskRequest {
        photo: photo(name),
        ..request(camera, from, to)
    };
    let id = engine.create_task(task).await.expect("created");
    let done = finished(engine, &id).await;
    assert_eq!(done.task.state, TaskState::Done, "{done:?}");
    (id, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_is_indexed_once_and_a_second_task_only_searches_it() {
    let setup = setup(Some((1439, "cam1_h264.ps"))).await;
    let (sim, engine, camera) = (&setup.sim, &setup.engine, setup.camera);
    let (start, stop) = sim.recording_span(0, 101, 1439).expect("span");
    let from = start + jiff::SignedDuration::from_secs(1);

    let (first, done) = search_for(engine, camera, "obama.jpg", (from, stop)).await;
    assert_eq!(done.task.counts.recordings_done, 1, "{done:?}");
    assert!(done.task.counts.matches > 0, "{done:?}");
    assert_eq!(sim.stats(0).downloads_started, 1);
    let stored = engine
        .db()
        .read(move |c| Ok(super::store::task_embeddings(c, &first)?))
        .await
        .expect("read");
    let [target] = stored.as_slice() else {
        panic!("the photo's embedding is stored: {stored:?}");
    };

    // The same footage, for the same person given as an embedding: only searched.
    let second = TaskRequest {
        embedding: Some(EmbeddingBody {
            model: target.model().id().to_owned(),
            values: target.vector().to_vec(),
        }),
        ..request(camera, from, stop)
    };
    let second = engine.create_task(second).await.expect("created");
    let again = finished(engine, &second).await;
    assert_eq!(again.task.state, TaskState::Done, "{again:?}");
    assert_eq!(again.task.counts.matches, done.task.counts.matches);
    assert_eq!(
        sim.stats(0).downloads_started,
        1,
        "nothing downloaded twice"
    );
    let matches = engine.matches(&second, 0, 100).await.expect("matches");
    let face = super::Snapshot::Face;
    let snapshot = engine
        .snapshot_path(matches[0].id, face)
        .await
        .expect("path");
    let jpeg = std::fs::read(snapshot).expect("the face's snapshot");
    assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_without_a_face_fails_its_task_saying_so() {
    let setup = setup(None).await;
    let (sim, engine, camera) = (&setup.sim, &setup.engine, setup.camera);
    let mut png = Vec::new();
    image::RgbImage::from_pixel(64, 64, image::Rgb([200, 200, 200]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let to = jiff::Timestamp::now();
    let task = TaskRequest {
        photo: Some(base64::engine::general_purpose::STANDARD.encode(&png)),
        ..request(camera, to - jiff::SignedDuration::from_mins(10), to)
    };
    let id = engine
        .create_task(task)
        .await
        .expect("created: creation decodes nothing");
    let failed = finished(engine, &id).await;
    assert_eq!(failed.task.state, TaskState::Failed, "{failed:?}");
    let error = failed.task.error.unwrap_or_default();
    assert!(
        error.contains("no face") && error.contains("the photo"),
        "{error}"
    );
    assert_eq!(sim.stats(0).downloads_started, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_task_stops_and_stays_cancelled() {
    let setup = setup(None).await;
    let (engine, camera) = (&setup.engine, setup.camera);
    let to = jiff::Timestamp::now();
    let mut values = vec![0.0; 128];
    values[0] = 1.0;
    let task = TaskRequest {
        embedding: Some(EmbeddingBody {
            model: "dlib-resnet-v1".to_owned(),
            values,
        }),
        // Twelve hours of one-minute recordings.
        ..request(camera, to - jiff::SignedDuration::from_hours(12), to)
    };
    let id = engine.create_task(task).await.expect("created");
    let cancelled = engine.cancel_task(&id).await.expect("cancelled");
    assert_eq!(cancelled.task.state, TaskState::Cancelled);
    let ended = finished(engine, &id).await;
    assert_eq!(ended.task.state, TaskState::Cancelled, "{ended:?}");
    assert!(ended.task.counts.recordings_done < 720, "{ended:?}");
    assert_eq!(engine.running_tasks(), 0);
    assert!(
        engine.cancel_task(&id).await.is_ok(),
        "cancelling again answers the cancelled task"
    );
}

mod background;
mod full_disk;
mod gates;
mod retention;
mod targets;

/// What goes with a task is written in the task's own transaction: when it cannot be, the
/// task is not stored either (a crash between the two would otherwise leave a task whose
/// relay never hears of it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_and_what_goes_with_it_are_stored_together_or_not_at_all() {
    let setup = setup(None).await;
    let end = jiff::Timestamp::now();
    let from = end - jiff::SignedDuration::from_hours(1);
    let task = TaskRequest {
        photo: photo("obama.jpg"),
        ..request(setup.camera, from, end)
    };
    let refused = setup
        .engine
        .create_task_with(task.clone(), |_, _| {
            let kind = crate::db::DbErrorKind::NotFound;
            Err(crate::db::DbError::new(kind, "what goes with the task"))
        })
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let tasks: i64 = (setup.engine.db())
        .read(|c| Ok(c.query_row("SELECT count(*) FROM tasks", [], |r| r.get(0))?))
        .await
        .expect("count");
    assert_eq!(tasks, 0, "a task was stored without what goes with it");

    let id = setup
        .engine
        .create_task_with(task, |tx, id| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES ('with', ?1)",
                [id],
            )?;
            Ok(())
        })
        .await
        .expect("created");
    let with: String = (setup.engine.db())
        .read(|c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = 'with'", [], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .expect("what went with it");
    assert_eq!(with, id);
}
