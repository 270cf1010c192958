//! The read pool: up to [`READERS`] read-only connections, opened on first use and reused,
//! each used by one blocking task at a time.
//!
//! In WAL mode readers never wait for the writer and see the last commit made before their
//! statement began. A read job runs on `tokio::task::spawn_blocking`; a semaphore bounds
//! how many run at once, so no more than [`READERS`] connections ever exist.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use super::error::{DbError, DbErrorKind};

/// How many read connections (and concurrent read jobs) there may be.
pub(crate) const READERS: usize = 4;

/// The idle read connections, and the permits to use one.
#[derive(Debug)]
pub(crate) struct ReadPool {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// A pool for the database at `path`; connections are opened on first use.
    pub(crate) fn new(path: PathBuf, busy_timeout: Duration) -> ReadPool {
        ReadPool {
            path,
            busy_timeout,
            idle: Arc::new(Mutex::new(Vec::with_capacity(READERS))),
            permits: Arc::new(Semaphore::new(READERS)),
        }
    }

    /// Runs `job` on a read-only connection, on a blocking thread.
    pub(crate) async fn read<T, F>(&self, job: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| DbError::new(DbErrorKind::Other, "read pool closed"))?;
        let idle = Arc::clone(&self.idle);
        let path = self.path.clone();
        let busy_timeout = self.busy_timeout;
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match idle.lock().pop() {
                Some(conn) => conn,
                None => open_reader(&path, busy_timeout)?,
            };
            let result = job(&conn).map_err(|e| e.at(&path));
            idle.lock().push(conn);
            result
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(DbError::new(DbErrorKind::Other, "run a database read")
                .with_source(e)
                .at(&self.path)),
        }
    }

    /// Runs `job` on a read-only connection on the calling thread (which may block). It
    /// does not wait for a permit: a connection is opened if none is idle, and kept only if
    /// fewer than [`READERS`] are idle.
    #[cfg(test)]
    pub(crate) fn read_blocking<T>(
        &self,
        job: impl FnOnce(&Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let conn = match self.idle.lock().pop() {
            Some(conn) => conn,
            None => open_reader(&self.path, self.busy_timeout)?,
        };
        let result = job(&conn).map_err(|e| e.at(&self.path));
        let mut idle = self.idle.lock();
        if idle.len() < READERS {
            idle.push(conn);
        }
        result
    }
}

fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, DbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    super::open_connection(path, flags, busy_timeout, "open a read connection")
}
