//! WAL checkpoints off the writer's path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, fsyncs
//! the database file and can take tens of milliseconds: every few hundred writes, one caller
//! (say, an operator creating a task) would wait for it. So the writer's connection turns
//! automatic checkpoints off, and this thread, on a connection of its own, runs a PASSIVE
//! checkpoint (which never blocks the writer or readers) once a second while writes happen,
//! and a TRUNCATE checkpoint at close.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};

/// How often the WAL is checkpointed while the database is written to.
const INTERVAL: Duration = Duration::from_secs(1);

/// The checkpointer thread; dropping it runs a last checkpoint and stops the thread.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// `commits` is bumped by the writer after each commit.
    pub(super) fn spawn(path: PathBuf, commits: Arc<AtomicU64>) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("dipper-db-checkpoint".to_owned())
            .spawn(move || {
                let conn = match Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                ) {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "cannot open the database to checkpoint it");
                        return;
                    }
                };
                let mut seen = commits.load(Ordering::Relaxed);
                loop {
                    let stopping = !matches!(
                        stopped.recv_timeout(INTERVAL),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    );
                    let now = commits.load(Ordering::Relaxed);
                    if stopping {
                        checkpoint(&conn, "TRUNCATE", &path);
                        return;
                    }
                    if now != seen {
                        seen = now;
                        checkpoint(&conn, "PASSIVE", &path);
                    }
                }
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn checkpoint(conn: &Connection, mode: &str, path: &std::path::Path) {
    let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    });
    match result {
        Ok((busy, log, done)) => {
            tracing::trace!(mode, busy, log, done, "checkpointed the WAL");
        }
        // A full disk or a busy database: the next round tries again; the WAL keeps
        // every committed write meanwhile.
        Err(e) => {
            tracing::debug!(path = %path.display(), mode, error = %e, "WAL checkpoint failed")
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
