//! Retention on the simulator: footage past `keep_days` is retired whole (entries no longer
//! named, snapshots removed, coverage moved past it), a search over it indexes it again and
//! finds what it found before, and a quota retires the oldest recordings first.

use isapi::sim::Simulator;

use super::{add_camera, camera, engine, search_for};
use crate::{
    config::IndexConfig,
    engine::{Engine, Retired, retention::tree_bytes},
};

fn keep_one_day() -> IndexConfig {
    IndexConfig {
        keep_days: 1,
        ..IndexConfig::default()
    }
}

/// The face clip at recordings `first..1440` of a camera whose day ended three days ago.
fn old_camera(first: u64) -> isapi::sim::DeviceConfig {
    let end = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72);
    let mut device = camera(end, None);
    device.recording_clips = (first..1440)
        .map(|index| isapi::sim::RecordingClip {
            track: 101,
            index,
            path: super::cached("clips/faces").join("cam1_h264.ps"),
        })
        .collect();
    device
}

/// Searches recordings `first..1440` for obama; the task's matches and recordings done.
async fn search(engine: &Engine, sim: &Simulator, camera: i64, first: usize) -> (u64, u64) {
    let (start, _) = sim.recording_span(0, 101, first).expect("first");
    let (_, stop) = sim.recording_span(0, 101, 1439).expect("last");
    let (_, done) = search_for(engine, camera, "obama.jpg", (start, stop)).await;
    (done.task.counts.matches, done.task.counts.recordings_done)
}

/// A fresh engine that has searched (and so indexed) recordings `first..1440` of a camera
/// whose day ended three days ago, with the face clip at each.
struct Searched {
    sim: Simulator,
    dir: tempfile::TempDir,
    engine: Engine,
    camera: i64,
    /// The search's matches and recordings done.
    matches: u64,
    done: u64,
}

async fn searched(first: u64) -> Searched {
    let (sim, dir) = super::simulated(vec![old_camera(first)]).await;
    let engine = engine(dir.path());
    let camera = add_camera(&engine, &sim).await;
    let (matches, done) = search(&engine, &sim, camera, first as usize).await;
    Searched {
        sim,
        dir,
        engine,
        camera,
        matches,
        done,
    }
}

/// (retired, snapshot folders removed) among the recordings, and their ids by age.
async fn recordings(engine: &Engine) -> Vec<(i64, bool, bool)> {
    let rows = engine.db().read(|c| {
        let mut statement = c.prepare(
            "SELECT id, retired_at_ms IS NOT NULL AND indexed_at_ms IS NULL,
                    snapshots_removed_at_ms IS NOT NULL
             FROM recordings ORDER BY end_ms",
        )?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    });
    rows.await.expect("recordings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn footage_past_keep_days_is_retired_whole_and_indexed_again_when_searched() {
    let Searched {
        sim,
        dir,
        engine,
        camera,
        matches,
        done,
    } = searched(1439).await;
    assert!(matches > 0 && done == 1, "{matches} matches in {done}");
    let listed = recordings(&engine).await;
    let snapshots = dir.path().join("snapshots").join(listed[0].0.to_string());
    assert!(snapshots.is_dir(), "snapshots of the indexed recording");
    let entries = engine.index_entries();

    let retired = engine.retain(&keep_one_day()).await.expect("pass");
    assert_eq!(
        retired,
        Retired {
            expired: 1,
            over_quota: 0,
            snapshot_folders: 1
        }
    );
    assert_eq!(recordings(&engine).await, vec![(listed[0].0, true, true)]);
    assert!(!snapshots.exists(), "snapshots removed");
    assert_eq!(
        engine.index_entries(),
        entries,
        "the index is not rewritten"
    );
    let again = engine.retain(&keep_one_day()).await.expect("pass");
    assert_eq!(again, Retired::default(), "nothing left to retire");

    // A search over the retired hour downloads it again and finds the same faces.
    let downloads = sim.stats(0).downloads_started;
    let (rematched, _) = search(&engine, &sim, camera, 1439).await;
    assert_eq!(rematched, matches);
    assert_eq!(sim.stats(0).downloads_started, downloads + 1);
    assert!(snapshots.is_dir(), "snapshots written again");
    // Keeping four days keeps it.
    let kept = IndexConfig {
        keep_days: 4,
        ..IndexConfig::default()
    };
    assert_eq!(
        engine.retain(&kept).await.expect("pass"),
        Retired::default()
    );
    engine.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_retires_the_oldest_recordings_first() {
    let Searched {
        dir,
        engine,
        matches,
        done,
        ..
    } = searched(1434).await;
    assert!(matches > 0 && done == 6, "{matches} matches in {done}");

    let snapshots: u64 = tree_bytes(&dir.path().join("snapshots"));
    assert!(
        snapshots > 1 << 20,
        "six recordings' snapshots take {snapshots} bytes"
    );
    let quota = IndexConfig {
        keep_days: 3650,
        quota_mib: 1,
        ..IndexConfig::default()
    };
    let retired = engine.retain(&quota).await.expect("pass");
    assert!(
        retired.over_quota >= 1 && retired.expired == 0,
        "{retired:?}"
    );
    assert!(
        tree_bytes(&dir.path().join("snapshots")) <= 1 << 20,
        "under the quota after the pass"
    );
    // Whole recordings, oldest first: the retired ones are a prefix by age.
    let listed = recordings(&engine).await;
    let flags: Vec<bool> = listed.iter().map(|(_, retired, _)| *retired).collect();
    let first_kept = flags.iter().position(|r| !r).unwrap_or(flags.len());
    assert!(flags[first_kept..].iter().all(|r| !r), "{listed:?}");
    assert_eq!(first_kept as u64, retired.over_quota, "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|(_, retired, removed)| retired == removed)
    );
    engine.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_left_by_a_crash_after_retiring_go_at_the_next_pass() {
    let Searched { dir, engine, .. } = searched(1439).await;
    let listed = recordings(&engine).await;
    let snapshots = dir.path().join("snapshots").join(listed[0].0.to_string());
    assert!(snapshots.is_dir());
    // What a kill -9 between the retiring transaction and the folder's removal leaves.
    let crashed = engine.db().write(|tx| {
        Ok(tx.execute(
            "UPDATE recordings SET indexed_at_ms = NULL, first_entry = NULL, end_entry = NULL,
                    retired_at_ms = 1",
            [],
        )?)
    });
    assert_eq!(crashed.await.expect("write"), 1);
    let kept = IndexConfig {
        keep_days: 3650,
        ..IndexConfig::default()
    };
    let retired = engine.retain(&kept).await.expect("pass");
    assert_eq!(
        retired,
        Retired {
            snapshot_folders: 1,
            ..Retired::default()
        }
    );
    assert!(!snapshots.exists());
    assert_eq!(recordings(&engine).await, vec![(listed[0].0, true, true)]);
    engine.shutdown(std::time::Duration::from_secs(5)).await;
}
