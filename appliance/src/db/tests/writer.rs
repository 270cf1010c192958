//! The writer's group commit and the read pool.

use std::sync::mpsc;

use tokio::sync::oneshot;

use rusqlite::OptionalExtension;

use super::super::writer::MAX_GROUP;
use super::super::{Database, DbError, DbErrorKind};
use super::open;

/// A job's answer, once its group committed or failed.
type Answer<T> = oneshot::Receiver<Result<T, DbError>>;

async fn setting(db: &Database, key: &str) -> Option<String> {
    let key = key.to_owned();
    db.read(move |conn| {
        Ok(conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()?)
    })
    .await
    .unwrap()
}

/// Queues a job that holds the writer until the returned sender is dropped, so the jobs
/// queued next wait and run as one group.
fn hold_writer(db: &Database) -> mpsc::Sender<()> {
    let (release, held) = mpsc::channel::<()>();
    let (started, wait_started) = mpsc::channel::<()>();
    let _answer = db
        .send(move |_tx| {
            started.send(()).unwrap();
            let _ = held.recv();
            Ok(())
        })
        .unwrap();
    wait_started.recv().unwrap();
    release
}

/// Queues a job that runs `sql`; its answer comes once its group commits (or fails to).
fn queue_sql(db: &Database, sql: &'static str) -> Answer<()> {
    db.send(move |tx| {
        tx.execute(sql, [])?;
        Ok(())
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_rolls_back_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let release = hold_writer(&db);
    let mut answers = Vec::new();
    for i in 0..10 {
        answers.push(
            db.send(move |tx| {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, 'v')",
                    [format!("k{i}")],
                )?;
                if i == 4 {
                    return Err(DbError::new(DbErrorKind::Other, "job 4 gives up"));
                }
                Ok(i)
            })
            .unwrap(),
        );
    }
    drop(release);
    for (i, answer) in answers.into_iter().enumerate() {
        let result = answer.await.unwrap();
        if i == 4 {
            let error = result.expect_err("job 4 fails");
            assert!(error.to_string().contains("job 4 gives up"), "{error}");
        } else {
            assert_eq!(result.unwrap(), i);
        }
    }
    for i in 0..10 {
        let expected = (i != 4).then(|| "v".to_owned());
        assert_eq!(setting(&db, &format!("k{i}")).await, expected, "k{i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commit_fails_every_job_of_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.write(|tx| {
        tx.execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER REFERENCES parent (id)
                                 DEFERRABLE INITIALLY DEFERRED);",
        )?;
        Ok(())
    })
    .await
    .unwrap();

    let release = hold_writer(&db);
    let before = queue_sql(&db, "INSERT INTO settings VALUES ('before', 'v')");
    // Succeeds inside its savepoint; the deferred foreign key fails the commit.
    let dangling = queue_sql(&db, "INSERT INTO child VALUES (42)");
    let after = queue_sql(&db, "INSERT INTO settings VALUES ('after', 'v')");
    drop(release);
    for (name, answer) in [("before", before), ("dangling", dangling), ("after", after)] {
        let error = answer.await.unwrap().expect_err(name);
        assert!(error.to_string().contains("commit"), "{name}: {error}");
    }
    assert_eq!(setting(&db, "before").await, None);
    assert_eq!(setting(&db, "after").await, None);

    db.write(|tx| {
        tx.execute("INSERT INTO settings VALUES ('later', 'v')", [])?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(setting(&db, "later").await.as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_job_is_an_error_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let release = hold_writer(&db);
    let panics = db
        .send(|tx| -> Result<(), DbError> {
            tx.execute("INSERT INTO settings VALUES ('panic', 'v')", [])?;
            panic!("a bug in a write job");
        })
        .unwrap();
    let fine = queue_sql(&db, "INSERT INTO settings VALUES ('fine', 'v')");
    drop(release);
    assert!(panics.await.is_err(), "the panicking job got an answer");
    fine.await.unwrap().unwrap();
    assert_eq!(setting(&db, "panic").await, None);
    assert_eq!(setting(&db, "fine").await.as_deref(), Some("v"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_jobs_than_a_group_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let release = hold_writer(&db);
    let count = MAX_GROUP * 3 + 5;
    let answers: Vec<_> = (0..count)
        .map(|i| {
            db.send(move |tx| {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                    [format!("k{i}"), i.to_string()],
                )?;
                Ok(())
            })
            .unwrap()
        })
        .collect();
    drop(release);
    for answer in answers {
        answer.await.unwrap().unwrap();
    }
    let stored: i64 = db
        .read(|conn| Ok(conn.query_row("SELECT count(*) FROM settings", [], |row| row.get(0))?))
        .await
        .unwrap();
    assert_eq!(stored, i64::try_from(count).unwrap());
}

#[test]
fn blocking_write_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let id = db
        .write_blocking(|tx| {
            tx.execute("INSERT INTO settings VALUES ('a', 'b')", [])?;
            Ok(tx.last_insert_rowid())
        })
        .unwrap();
    assert!(id > 0);
    let value: String = db
        .read_blocking(|conn| {
            Ok(
                conn.query_row("SELECT value FROM settings WHERE key = 'a'", [], |row| {
                    row.get(0)
                })?,
            )
        })
        .unwrap();
    assert_eq!(value, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_concurrently_and_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.write(|tx| {
        tx.execute("INSERT INTO settings VALUES ('a', 'b')", [])?;
        Ok(())
    })
    .await
    .unwrap();
    let reads: Vec<_> = (0..16)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { setting(&db, "a").await })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().as_deref(), Some("b"));
    }
    let error = db
        .read(|conn| {
            conn.execute("DELETE FROM settings", [])?;
            Ok(())
        })
        .await
        .expect_err("a read connection is read-only");
    assert!(error.to_string().contains("box.db"), "{error}");
    assert_eq!(setting(&db, "a").await.as_deref(), Some("b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_by_its_own_thread_and_emptied_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let main_file = dir.path().join("box.db");
    let before = std::fs::metadata(&main_file).unwrap().len();
    let big = "x".repeat(2 * 1024 * 1024);
    db.write(move |tx| {
        tx.execute(
            "INSERT INTO settings (key, value) VALUES ('big', ?1)",
            [big],
        )?;
        Ok(())
    })
    .await
    .unwrap();
    // The writer does not checkpoint (autocheckpoint is off): the data reaches the main
    // file only through the checkpoint thread, within about a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(&main_file).unwrap().len() < before + 2 * 1024 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was not checkpointed into box.db"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(db);
    let wal = std::fs::metadata(dir.path().join("box.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is truncated at close");
    let db = open(dir.path());
    assert_eq!(
        setting(&db, "big").await.map(|v| v.len()),
        Some(2 * 1024 * 1024)
    );
}
