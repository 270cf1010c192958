//! Writes that a moment of full disk must not lose, on a real full disk (a small tmpfs,
//! filled; mounting needs root, as the test machine has): each is tried again once space is
//! back, and stored then.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::db::tests::disk_full::SmallDisk;
use crate::db::{Database, DbError};
use crate::engine::disk::DiskMonitor;
use crate::engine::searcher::task_end::store_end;
use crate::engine::store::TaskState;

/// A database on a 16 MiB tmpfs holding the running task `t`, opened again (so that its
/// write-ahead log is empty and the next write must grow it), then the disk filled to no
/// free space by the file `filler`; the database, a monitor of its disk and the filler.
async fn full_disk_with_a_task(disk: &SmallDisk) -> (Database, DiskMonitor, std::path::PathBuf) {
    let dir = disk.path().join("state");
    let db = Database::open(&dir).expect("open");
    db.write(|tx| {
        tx.execute(
            "INSERT INTO tasks (id, state, priority, from_ms, to_ms, cameras, \
             match_distance, has_photo, created_at_ms) \
             VALUES ('t', 'running', 1, 0, 60000, '[]', 0.5, 0, 0)",
            [],
        )?;
        Ok(())
    })
    .await
    .expect("a running task");
    drop(db);
    let db = Database::open(&dir).expect("open again");
    let monitor = DiskMonitor::new(dir, 0);
    let filler = disk.path().join("filler");
    fill(&filler);
    (db, monitor, filler)
}

/// Fills the file system of `filler` with it until a write fails.
fn fill(filler: &Path) {
    let mut file = std::fs::File::create(filler).expect("filler");
    let block = vec![0u8; 4096];
    while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
}

/// Waits until `monitor` says the disk is full, while `pending` has not finished.
async fn wait_reported_full<T>(monitor: &DiskMonitor, pending: &tokio::task::JoinHandle<T>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !monitor.is_full() {
        assert!(
            !pending.is_finished(),
            "the write was stored on a full disk"
        );
        assert!(
            Instant::now() < deadline,
            "the full disk was never reported"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn task_state(db: &Database) -> String {
    let read = db.read_blocking(|c| {
        Ok(c.query_row("SELECT state FROM tasks WHERE id = 't'", [], |r| r.get(0))?)
    });
    read.expect("the task's state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_end_that_meets_a_full_disk_is_stored_once_space_is_back() {
    let disk = SmallDisk::mount("16m");
    let (db, monitor, filler) = full_disk_with_a_task(&disk).await;
    let ending = tokio::spawn({
        let (db, monitor) = (db.clone(), monitor.clone());
        async move {
            let end = ("t", TaskState::Done, None);
            store_end(&db, &monitor, end, &CancellationToken::new()).await
        }
    });
    wait_reported_full(&monitor, &ending).await;
    assert_eq!(task_state(&db), "running", "stored while the disk was full");

    std::fs::remove_file(&filler).expect("free space");
    monitor.check();
    let stored = tokio::time::timeout(Duration::from_secs(60), ending)
        .await
        .expect("the end is stored once space is back")
        .expect("the task");
    assert!(stored.expect("stored"), "the task's row changed");
    assert_eq!(task_state(&db), "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_when_room_waits_for_space_then_is_stored() {
    let disk = SmallDisk::mount("16m");
    let (db, monitor, filler) = full_disk_with_a_task(&disk).await;
    let writing = tokio::spawn({
        let (db, monitor) = (db.clone(), monitor.clone());
        async move {
            let write = || {
                db.write(|tx| {
                    tx.execute("UPDATE tasks SET state = 'done' WHERE id = 't'", [])?;
                    Ok(())
                })
            };
            monitor
                .write_when_room(
                    "a test's write",
                    Duration::from_secs(120),
                    |e| Some(e),
                    write,
                )
                .await
        }
    });
    wait_reported_full(&monitor, &writing).await;
    assert_eq!(task_state(&db), "running", "stored while the disk was full");

    std::fs::remove_file(&filler).expect("free space");
    monitor.check();
    let written = tokio::time::timeout(Duration::from_secs(60), writing)
        .await
        .expect("the write is stored once space is back")
        .expect("the task");
    written.expect("stored");
    assert_eq!(task_state(&db), "done");

    // Given no time to wait, a write on a full disk fails at once, saying so.
    fill(&filler);
    let write = || {
        db.write(|tx| {
            tx.execute("UPDATE tasks SET state = 'failed' WHERE id = 't'", [])?;
            Ok(())
        })
    };
    let refused = monitor
        .write_when_room(
            "a test's write",
            Duration::ZERO,
            |e: &DbError| Some(e),
            write,
        )
        .await
        .expect_err("no room");
    assert!(refused.is_disk_full(), "{refused}");
}
