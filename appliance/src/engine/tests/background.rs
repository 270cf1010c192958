//! Background indexing on the simulator: a camera's footage covered back to `keep_days`,
//! a search over it answered without the camera, a camera that does not answer waiting
//! without holding the others back, and progress kept across a restart.

use std::time::Duration;

use isapi::sim::{Faults, Simulator};

use super::{USER, camera, engine, search_for};
use crate::{
    config::{IndexConfig, SearchConfig},
    engine::{
        Engine, NewCameraRequest, TaskRequest, background::coverage::Coverage,
        request::EmbeddingBody, synthetic,
    },
};

/// Runs `task` looking for all of `faces`: it finds `expected` matches, no face twice.
async fn assert_every_face_once(
    engine: &Engine,
    task: TaskRequest,
    faces: &[pipeline::faces::Embedding],
    expected: u64,
) {
    let body = |face: &pipeline::faces::Embedding| EmbeddingBody {
        model: face.model().id().to_owned(),
        values: face.vector().to_vec(),
    };
    let task = TaskRequest {
        embedding: Some(body(&faces[0])),
        more_embeddings: faces[1..].iter().map(body).collect(),
        ..task
    };
    let id = engine.create_task(task).await.expect("created");
    let done = super::finished(engine, &id).await;
    assert_eq!(done.task.counts.matches, expected, "{done:?}");
    let rows = engine.matches(&id, 0, 10_000).await.expect("matches");
    let seen: std::collections::BTreeSet<_> = rows
        .iter()
        .map(|m| (m.recording_id, m.time_ms, m.face_index))
        .collect();
    assert_eq!((rows.len() as u64, seen.len() as u64), (expected, expected));
}

/// Keyframe-free waits: background indexing is awaited by polling its stored progress.
const PATIENCE: Duration = Duration::from_secs(240);

/// One day kept, one-hour windows: the camera's last minutes are the only footage in reach.
fn config() -> IndexConfig {
    IndexConfig {
        background: true,
        keep_days: 1,
        quota_mib: 0,
        window_minutes: 60,
        poll_seconds: 3600,
        recordings_at_once: 2,
    }
}

/// A camera whose one-minute recordings end `minutes` after the horizon of one day, with a
/// face at its newest recording.
fn recent_camera(minutes: i64) -> isapi::sim::DeviceConfig {
    let end = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24)
        + jiff::SignedDuration::from_mins(minutes);
    camera(end, Some((1439, "cam1_h264.ps")))
}

async fn add(engine: &Engine, sim: &Simulator, device: usize, name: &str) -> i64 {
    let request = NewCameraRequest {
        name: name.to_owned(),
        url: sim.device(device).base_url(),
        username: USER.to_owned(),
        password: super::PASSWORD.to_owned(),
        tracks: None,
    };
    (engine.cameras().add_camera(request).await)
        .expect("camera added")
        .id
}

/// Polls the camera's coverage until `done` holds for it (bounded by [`PATIENCE`]).
async fn wait_for(engine: &Engine, camera: i64, done: impl Fn(&Coverage) -> bool) -> Coverage {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let coverage = engine.coverage(Some(camera)).await.expect("coverage");
        if let Some(track) = coverage.into_iter().find(|c| done(c)) {
            return track;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "camera {camera}: background indexing did not get there: {:?}",
            engine.coverage(Some(camera)).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Covered back to the horizon of `keep_days` (one day), with nothing left to do: the
/// track's last window began at its own horizon, which is before the one reckoned here.
/// (A minute's slack here once let the test look between the last two windows and count
/// the last one's download without its recording.)
fn reached_horizon(coverage: &Coverage) -> bool {
    let horizon = jiff::Timestamp::now().as_millisecond() - 24 * 3_600_000;
    coverage.covered_from_ms <= horizon && coverage.recordings_waiting == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn footage_is_indexed_back_to_keep_days_and_a_search_over_it_asks_no_camera() {
    let (sim, dir) = super::simulated(vec![recent_camera(8)]).await;
    let engine = engine(dir.path());
    let camera = add(&engine, &sim, 0, "gate").await;
    engine.start_background(config());

    let covered = wait_for(&engine, camera, reached_horizon).await;
    // Eight recordings in reach at the start; the horizon moves on while they are indexed.
    assert!(covered.recordings_indexed >= 4, "{covered:?}");
    assert_eq!(covered.recordings_failed, 0, "{covered:?}");
    assert_eq!(covered.problem, None);
    let downloads = sim.stats(0).downloads_started;
    assert_eq!(
        downloads, covered.recordings_indexed,
        "each recording downloaded once"
    );
    assert!(
        engine.index_entries() > 0,
        "the face clip's faces are indexed"
    );

    let searches = sim.stats(0).searches;
    let span = sim.recording_span(0, 101, 1439).expect("span");
    let (_, done) = search_for(&engine, camera, "obama.jpg", span).await;
    assert!(done.task.counts.matches > 0, "{done:?}");
    assert_eq!(
        sim.stats(0).downloads_started,
        downloads,
        "nothing downloaded"
    );
    assert_eq!(sim.stats(0).searches, searches, "the camera is not asked");
    engine.shutdown(Duration::from_secs(5)).await;
}

/// A search over covered footage is answered from the index a batch at a time (here three
/// recordings): no camera is asked, the one recording background indexing failed is
/// downloaded and indexed by the search itself, one whose video was damaged is searched and
/// named in the task's warnings, and only those two get a row of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_over_covered_footage_is_answered_in_batches_and_indexes_only_what_is_not() {
    let (sim, dir) = super::simulated(vec![recent_camera(8)]).await;
    let search = SearchConfig {
        indexed_batch: 3,
        ..super::test_search_config()
    };
    let engine = super::engine_with(dir.path(), search, None);
    let camera = add(&engine, &sim, 0, "gate").await;
    engine.start_background(config());
    let covered = wait_for(&engine, camera, reached_horizon).await;
    let span = covered.covered_from_ms..covered.covered_to_ms;
    let (in_span, failed) = (engine.db())
        .write(move |tx| {
            let mut ids = tx.prepare(
                "SELECT id FROM recordings WHERE camera_id = ?1 AND start_ms >= ?2
                 AND start_ms < ?3 AND indexed_at_ms IS NOT NULL ORDER BY start_ms",
            )?;
            let ids = ids
                .query_map(rusqlite::params![camera, span.start, span.end], |r| {
                    r.get(0)
                })?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            // The oldest failed in the background (as a busy camera leaves it); the second's
            // video was damaged after some keyframes.
            tx.execute(
                "UPDATE recordings SET indexed_at_ms = NULL, first_entry = NULL,
                     end_entry = NULL, index_error = 'the camera was busy' WHERE id = ?1",
                [ids[0]],
            )?;
            tx.execute(
                "UPDATE recordings SET decode_error = 'invalid NAL unit' WHERE id = ?1",
                [ids[1]],
            )?;
            Ok((ids.len() as u64, ids[0]))
        })
        .await
        .expect("recordings marked");
    assert!(
        in_span >= 5,
        "enough recordings for several batches: {in_span}"
    );
    let (downloads, searches) = (sim.stats(0).downloads_started, sim.stats(0).searches);

    let from = jiff::Timestamp::from_millisecond(covered.covered_from_ms).expect("from");
    let to = jiff::Timestamp::from_millisecond(covered.covered_to_ms).expect("to");
    let (id, done) = search_for(&engine, camera, "obama.jpg", (from, to)).await;
    let counts = done.task.counts;
    assert_eq!(
        (
            counts.recordings_total,
            counts.recordings_done,
            counts.recordings_failed
        ),
        (in_span, in_span, 0),
        "{done:?}"
    );
    assert!(counts.matches > 0, "{done:?}");
    assert!(counts.keyframes > 0 && counts.faces > 0, "{done:?}");
    assert_eq!(sim.stats(0).searches, searches, "the camera is not asked");
    assert_eq!(
        sim.stats(0).downloads_started,
        downloads + 1,
        "only the recording that failed in the background is downloaded"
    );
    assert_eq!(
        done.warnings
            .iter()
            .map(|w| (w.reason.as_str(), w.recordings))
            .collect::<Vec<_>>(),
        [("invalid NAL unit", 1)]
    );
    let rows = (engine.db())
        .read(move |c| {
            let mut rows = c.prepare(
                "SELECT recording_id FROM task_recordings WHERE task_id = ?1 ORDER BY recording_id",
            )?;
            let rows = rows.query_map([id], |r| r.get::<_, i64>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.contains(&failed), "{rows:?}");
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_does_not_answer_waits_and_catches_up_without_holding_others_back() {
    let (sim, dir) = super::simulated(vec![recent_camera(6), recent_camera(6)]).await;
    let engine = engine(dir.path());
    let busy = add(&engine, &sim, 0, "busy").await;
    let fine = add(&engine, &sim, 1, "fine").await;
    sim.set_faults(
        0,
        Faults {
            http_503: true,
            ..Faults::default()
        },
    );
    engine.start_background(config());

    wait_for(&engine, fine, reached_horizon).await;
    let waiting = wait_for(&engine, busy, |c| c.problem.is_some()).await;
    let problem = waiting.problem.clone().unwrap_or_default();
    assert!(
        problem.contains("503") || problem.contains("navailable"),
        "{problem}"
    );
    assert_eq!(waiting.recordings_indexed, 0, "{waiting:?}");

    sim.set_faults(0, Faults::default());
    let caught_up = wait_for(&engine, busy, reached_horizon).await;
    assert!(caught_up.recordings_indexed >= 1, "{caught_up:?}");
    assert_eq!(caught_up.problem, None, "{caught_up:?}");
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_what_was_committed_and_indexes_nothing_twice() {
    let (sim, dir) = super::simulated(vec![recent_camera(6)]).await;
    let first = engine(dir.path());
    let camera = add(&first, &sim, 0, "gate").await;
    first.start_background(config());
    // Stop as soon as one recording is done, before the camera is covered.
    let partway = wait_for(&first, camera, |c| c.recordings_indexed >= 1).await;
    first.shutdown(Duration::from_secs(10)).await;
    // What the first engine had downloaded but not indexed when it stopped: the only
    // recordings the second may download again.
    let at_stop = first.coverage(Some(camera)).await.expect("coverage");
    let in_hand = sim.stats(0).downloads_started - at_stop[0].recordings_indexed;
    drop(first);

    let second = engine(dir.path());
    let resumed = second.coverage(Some(camera)).await.expect("coverage");
    assert_eq!(resumed.len(), 1);
    assert!(resumed[0].recordings_indexed >= partway.recordings_indexed);
    second.start_background(config());
    let covered = wait_for(&second, camera, reached_horizon).await;
    let downloads = sim.stats(0).downloads_started;
    let index = second.db().read(|c| {
        let rows: i64 = c.query_row(
            "SELECT count(*) FROM recordings WHERE indexed_at_ms IS NOT NULL",
            [],
            |row| row.get(0),
        )?;
        let entries: i64 = c.query_row(
            "SELECT coalesce(sum(end_entry - first_entry), 0) FROM recordings",
            [],
            |row| row.get(0),
        )?;
        Ok((rows, entries))
    });
    let (rows, entries) = index.await.expect("read");
    assert_eq!(rows as u64, covered.recordings_indexed, "{covered:?}");
    assert!(
        downloads <= covered.recordings_indexed + in_hand,
        "at most the {in_hand} recordings in hand at the stop are downloaded again \
         ({downloads} for {covered:?})"
    );
    assert!(
        entries as u64 <= second.index_entries(),
        "SQLite names only entries the index holds ({entries} of {})",
        second.index_entries()
    );
    second.shutdown(Duration::from_secs(5)).await;
}

/// Made-up indexed footage ([`synthetic::fill`]: a day of two cameras, copies of two
/// people's faces) is searched from the index alone, both cameras together a window at a
/// time: every copy of the target's face matches, on its own camera, and none of the
/// other's, and the cameras are not downloaded from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_footage_is_searched_from_the_index_alone() {
    let (sim, dir) = super::simulated(vec![recent_camera(8), recent_camera(8)]).await;
    let search = SearchConfig {
        indexed_batch: 500,
        ..super::test_search_config()
    };
    let first = super::engine_with(dir.path(), search.clone(), None);
    let cameras = [
        add(&first, &sim, 0, "gate").await,
        add(&first, &sim, 1, "lobby").await,
    ];
    let mut faces = Vec::new();
    for name in ["obama.jpg", "biden.jpg"] {
        let photo = std::fs::read(super::cached(&format!("faces/{name}"))).expect("photo");
        let indexer = &first.inner.searches.indexer;
        faces.push(indexer.embed_photo(photo).await.expect("embedding"));
    }
    first.shutdown(Duration::from_secs(5)).await;
    drop(first);

    let end_ms = jiff::Timestamp::now().as_millisecond();
    let footage = synthetic::Footage {
        end_ms,
        days: 1,
        faces_per_minute: 0.5,
        known_share: 1.0,
        model: faces[0].model().id().to_owned(),
        faces: faces
            .iter()
            .map(|f| synthetic::Face {
                vector: f.vector().to_vec(),
                face_box: [100.0, 80.0, 60.0, 72.0],
            })
            .collect(),
    };
    let filled = synthetic::fill(dir.path(), &footage).await.expect("filled");
    assert_eq!(
        (filled.tracks, filled.recordings, filled.entries),
        (2, 2880, 1440)
    );
    let again = synthetic::fill(dir.path(), &footage).await;
    assert!(
        again.is_err_and(|e| e.to_string().contains("indexed already")),
        "made-up footage is never mixed into covered footage"
    );

    let engine = super::engine_with(dir.path(), search, None);
    let from = jiff::Timestamp::from_millisecond(end_ms - 24 * 3_600_000).expect("from");
    let to = jiff::Timestamp::from_millisecond(end_ms).expect("to");
    let task = TaskRequest {
        photo: super::photo("obama2.jpg"),
        cameras: cameras.to_vec(),
        ..super::request(cameras[0], from, to)
    };
    let id = engine.create_task(task).await.expect("created");
    let done = super::finished(&engine, &id).await;
    let counts = done.task.counts;
    assert_eq!(
        (
            counts.recordings_total,
            counts.recordings_done,
            counts.matches
        ),
        (2880, 2880, 720),
        "{done:?}"
    );
    assert_eq!(counts.faces, 1440, "{done:?}");
    let by_camera = (engine.db())
        .read(move |c| {
            let mut rows = c.prepare(
                "SELECT m.camera_id, count(*) FROM matches m
                 JOIN recordings r ON r.id = m.recording_id AND r.camera_id = m.camera_id
                 WHERE m.task_id = ?1 GROUP BY m.camera_id ORDER BY m.camera_id",
            )?;
            let rows = rows.query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
        .expect("matches");
    assert_eq!(by_camera, [(cameras[0], 360), (cameras[1], 360)]);

    // Both people's embeddings in one task: every face of either, each once, from the same
    // windows of the index.
    let both = TaskRequest {
        cameras: cameras.to_vec(),
        ..super::request(cameras[0], from, to)
    };
    assert_every_face_once(&engine, both, &faces, 1440).await;
    let downloads = sim.stats(0).downloads_started + sim.stats(1).downloads_started;
    assert_eq!(downloads, 0);
    engine.shutdown(Duration::from_secs(5)).await;
}
