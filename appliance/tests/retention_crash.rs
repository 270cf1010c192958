//! `kill -9` while retention retires a week of indexed footage, again and again as it goes,
//! each followed by a restart: every recording past `keep_days` ends retired, whole, and
//! the rest untouched, the coverage never claims a retired recording, the index opens
//! clean, and a search over the kept day finds what it found before.

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use appliance::synthetic::{self, Face, Footage};
use common::{Daemon, start_sim};
use pipeline::index::EmbeddingIndex;
use serde_json::json;

const DAY_MS: i64 = 86_400_000;
/// Kills while retiring (each restart loads the models again).
const MAX_KILLS: u32 = 6;

/// Four faces of the index's model: unit-ish vectors far from each other.
fn faces(dims: usize) -> Vec<Face> {
    (0..4)
        .map(|n| Face {
            vector: (0..dims)
                .map(|d| ((d * (n + 3)) as f32 * 0.7 + n as f32).sin())
                .collect(),
            face_box: [100.0, 80.0, 60.0, 72.0],
        })
        .collect()
}

/// (recordings, retired, half-retired: cleared but not marked, or marked but not cleared).
fn retirement(dir: &Path) -> (i64, i64, i64) {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("box.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("database");
    db.busy_timeout(Duration::from_secs(5)).expect("timeout");
    db.query_row(
        "SELECT count(*), count(retired_at_ms),
                sum((retired_at_ms IS NULL) <> (indexed_at_ms IS NOT NULL)
                    OR (indexed_at_ms IS NULL) <> (first_entry IS NULL))
         FROM recordings",
        [],
        |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get::<_, Option<i64>>(2)?.unwrap_or(0),
            ))
        },
    )
    .expect("counts")
}

/// A search of the last day (kept) for face 0, by its embedding: its matches.
async fn search_kept_day(daemon: &Daemon, camera: i64, model: &str, face: &Face) -> u64 {
    let to = jiff::Timestamp::now();
    let from = to - jiff::SignedDuration::from_hours(20);
    let (status, body) = daemon
        .api()
        .post(
            "/tasks",
            &json!({
                "from": from.to_string(), "to": to.to_string(), "cameras": [camera],
                "priority": 0, "embedding": {"model": model, "values": face.vector},
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let task = body["id"].as_str().expect("id");
    let done = daemon
        .api()
        .wait_finished(task, Duration::from_secs(120))
        .await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["recordings_failed"], 0, "{done}");
    done["matches"].as_u64().expect("matches")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_retiring_leaves_every_recording_whole() {
    let sim = start_sim(vec![common::face_camera(
        "RETIRE",
        jiff::Timestamp::now(),
        &[],
    )])
    .await;
    let (dir, mut daemon) = common::start_box("");
    let camera = daemon
        .api()
        .add_camera("gate", &sim.device(0).base_url())
        .await;
    daemon.kill9();

    let (model, dims) = {
        let index = EmbeddingIndex::open(dir.path().join("index")).expect("index");
        (index.model().to_owned(), index.dims())
    };
    let footage = Footage {
        end_ms: jiff::Timestamp::now().as_millisecond(),
        days: 8,
        faces_per_minute: 1.0,
        model: model.clone(),
        faces: faces(dims),
        known_share: 1.0,
    };
    let filled = synthetic::fill(dir.path(), &footage).await.expect("filled");
    assert_eq!(filled.recordings, 8 * 1440);

    // Keeping 30 days (the default): nothing is retired; the kept day's matches.
    let mut daemon = Daemon::start(dir.path(), "");
    let before = search_kept_day(&daemon, camera, &model, &footage.faces[0]).await;
    assert!(before > 0, "the kept day holds face 0");
    daemon.kill9();

    // Keeping one day: seven to retire, killed each time a batch more has committed (up to
    // MAX_KILLS times), then left to finish.
    let mut daemon = Daemon::start(dir.path(), "index.keep_days = 1\n");
    let (mut kills, mut last) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(300);
    let total_retired = loop {
        let (_, retired, half) = retirement(dir.path());
        assert_eq!(half, 0, "a recording is half retired after {kills} kills");
        // Seven days and a few minutes more, as the horizon moves.
        if retired >= 7 * 1440 {
            break retired;
        }
        if retired > last && kills < MAX_KILLS {
            daemon.restart();
            kills += 1;
            last = retired;
        }
        assert!(
            Instant::now() < deadline,
            "retention stalled at {retired} after {kills} kills\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert!(kills >= 3, "only {kills} kills landed while retiring");

    let (recordings, retired, half) = retirement(dir.path());
    assert_eq!((recordings, half), (8 * 1440, 0));
    assert!(retired >= total_retired);
    let db = rusqlite::Connection::open(dir.path().join("box.db")).expect("database");
    let horizon = jiff::Timestamp::now().as_millisecond() - DAY_MS;
    let (newest_retired, oldest_kept, covered_from): (i64, i64, i64) = db
        .query_row(
            "SELECT (SELECT max(end_ms) FROM recordings WHERE retired_at_ms IS NOT NULL),
                    (SELECT min(end_ms) FROM recordings WHERE indexed_at_ms IS NOT NULL),
                    (SELECT covered_from_ms FROM index_coverage)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .expect("ends");
    assert!(
        newest_retired <= horizon,
        "only footage past keep_days is retired"
    );
    assert!(
        oldest_kept > horizon - 10 * 60_000,
        "footage past keep_days is all retired"
    );
    assert!(
        covered_from >= newest_retired,
        "coverage never claims a retired recording"
    );
    drop(db);

    let after = search_kept_day(&daemon, camera, &model, &footage.faces[0]).await;
    assert_eq!(after, before, "the kept day is searched as before");
    daemon.kill9();
    let index = EmbeddingIndex::open(dir.path().join("index")).expect("index");
    assert!(index.recovery().is_clean(), "{:?}", index.recovery());
    assert_eq!(
        index.len(),
        filled.entries,
        "retention rewrites nothing in the index"
    );
}
