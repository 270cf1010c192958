//! The box's state in SQLite: `Database` opens `box.db` in a state directory, migrates it,
//! loads the key that encrypts camera passwords, and runs read and write jobs.
//!
//! Contract: one writer thread owns the only write connection (see `writer`); a write's
//! `Ok` means it is committed. Reads run on a small pool of read-only connections (see
//! `readers`) and never wait for writes (WAL). A database newer than this binary is
//! refused untouched (`DbErrorKind::TooNew`); a key file that others may read, or a missing
//! key while camera passwords are stored, is refused (`DbErrorKind::Key`). A full disk is
//! `DbErrorKind::Full` and never corrupts the database. Camera queries live in `cameras`.

// Until the daemon (issue 6) uses every item.

mod cameras;
mod checkpoint;
mod error;
mod migrations;
mod readers;
mod secrets;
mod writer;

#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction};

pub(crate) use cameras::{Camera, CameraChange, NewCamera};
pub(crate) use error::{DbError, DbErrorKind, KeyProblem, SqlResultExt};
pub(crate) use migrations::{MIGRATIONS, Migration};
pub(crate) use secrets::{Secrets, write_private_file};

use readers::ReadPool;
use writer::Pending;

/// The database file's name inside the state directory.
pub(crate) const DATABASE_FILE: &str = "box.db";
/// The key file's name inside the state directory.
pub(crate) const KEY_FILE: &str = "secret.key";
/// How long a statement waits for a lock held by another connection before `Busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The box's database: cheap to clone, shared by every task. When the last clone is
/// dropped, the writer finishes the jobs already queued and closes its connection (the
/// drop waits for that).
#[derive(Debug, Clone)]
pub(crate) struct Database {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    secrets: Secrets,
    readers: ReadPool,
    /// Dropped first when the last handle goes, which stops the writer thread.
    jobs: Option<writer::JobSender>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Dropped after the writer has stopped: a last checkpoint, then its thread ends.
    checkpointer: Option<checkpoint::Checkpointer>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Close the channel, then wait for the writer to finish the jobs already queued and
        // close its connection, so a new `Database` on the same directory starts clean.
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        drop(self.checkpointer.take());
    }
}

impl Database {
    /// Opens (creating if needed) the database in `dir`: `dir/box.db` in WAL mode, migrated
    /// to the newest schema, with the key in `dir/secret.key` (created if there is none and
    /// no encrypted value needs it). Blocking (file I/O, migrations): call it at start-up,
    /// or from `spawn_blocking`.
    pub(crate) fn open(dir: &Path) -> Result<Database, DbError> {
        Database::open_with(dir, MIGRATIONS)
    }

    /// [`Database::open`] with a given list of migrations (tests use broken ones).
    pub(crate) fn open_with(dir: &Path, migrations: &[Migration]) -> Result<Database, DbError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::io(e, "create the state directory").at(dir))?;
        let path = dir.join(DATABASE_FILE);
        let key_path = dir.join(KEY_FILE);
        let mut conn = open_writer(&path)?;
        // Before any write, even the journal mode: a newer database stays byte-identical.
        migrations::check_not_too_new(&conn, migrations, &path)?;
        // A bad key file refuses the start before the database is changed.
        let key = secrets::load_key(&key_path)?;
        configure_writer(&conn, &path)?;
        migrations::migrate(&mut conn, migrations, &path)?;
        let key = match key {
            Some(key) => key,
            None => {
                if holds_encrypted_values(&conn).map_err(|e| e.at(&path))? {
                    return Err(DbError::new(
                        DbErrorKind::Key(KeyProblem::Missing),
                        "load the key file",
                    )
                    .at(&key_path));
                }
                secrets::create_key(&key_path)?
            }
        };
        let commits = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (jobs, writer) = writer::spawn(conn, path.clone(), Arc::clone(&commits))?;
        let checkpointer = checkpoint::Checkpointer::spawn(path.clone(), commits)
            .map_err(|e| DbError::io(e, "start the checkpoint thread").at(&path))?;
        Ok(Database {
            inner: Arc::new(Inner {
                readers: ReadPool::new(path.clone(), BUSY_TIMEOUT),
                path,
                secrets: Secrets::from_key(&key),
                jobs: Some(jobs),
                writer: Some(writer),
                checkpointer: Some(checkpointer),
            }),
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The cipher for camera passwords.
    pub(crate) fn secrets(&self) -> &Secrets {
        &self.inner.secrets
    }

    /// Runs `job` in the writer's transaction (inside its own savepoint) and answers once
    /// the transaction is committed. An `Err` from the job rolls back only the job.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let receiver = self.send(job)?;
        receiver
            .await
            .unwrap_or_else(|_| Err(writer::writer_gone(&self.inner.path)))
    }

    /// [`Database::write`] for callers outside async code; blocks the calling thread.
    /// Panics if called from inside an async runtime's worker thread. (Tests use it.)
    #[cfg(test)]
    pub(crate) fn write_blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        let receiver = self.send(job)?;
        receiver
            .blocking_recv()
            .unwrap_or_else(|_| Err(writer::writer_gone(&self.inner.path)))
    }

    fn send<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<T, DbError>>, DbError> {
        let (pending, receiver) = Pending::new(job);
        let sent = match &self.inner.jobs {
            Some(jobs) => jobs.send(Box::new(pending)).is_ok(),
            None => false,
        };
        if sent {
            Ok(receiver)
        } else {
            Err(writer::writer_gone(&self.inner.path))
        }
    }

    /// Runs `job` on a read-only connection on a blocking thread. It sees every write whose
    /// `write` call has returned.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, DbError> {
        self.inner.readers.read(job).await
    }

    /// [`Database::read`] on the calling thread, for callers outside async code. (Tests
    /// use it.)
    #[cfg(test)]
    pub(crate) fn read_blocking<T>(
        &self,
        job: impl FnOnce(&Connection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.inner.readers.read_blocking(job)
    }
}

fn open_writer(path: &Path) -> Result<Connection, DbError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    open_connection(path, flags, BUSY_TIMEOUT, "open the database")
}

/// A connection to the database at `path` opened with `flags`, waiting up to
/// `busy_timeout` for a lock; a failure says `context` and the path.
fn open_connection(
    path: &Path,
    flags: OpenFlags,
    busy_timeout: Duration,
    context: &str,
) -> Result<Connection, DbError> {
    let conn = Connection::open_with_flags(path, flags)
        .purpose(context)
        .map_err(|e| e.at(path))?;
    conn.busy_timeout(busy_timeout)
        .purpose(context)
        .map_err(|e| e.at(path))?;
    Ok(conn)
}

fn configure_writer(conn: &Connection, path: &Path) -> Result<(), DbError> {
    let context = "configure the database (WAL, synchronous=NORMAL, foreign keys)";
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .purpose(context)
        .map_err(|e| e.at(path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(DbError::new(
            DbErrorKind::Other,
            format!("{context}: SQLite kept journal mode {mode:?} instead of WAL"),
        )
        .at(path));
    }
    // Checkpoints run on their own thread (`checkpoint.rs`), not inside a commit.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
    )
    .purpose(context)
    .map_err(|e| e.at(path))
}

/// Whether the database holds values sealed with the key file (camera passwords, the
/// uplink's credential).
fn holds_encrypted_values(conn: &Connection) -> Result<bool, DbError> {
    let context = "look for encrypted values";
    for table in ["cameras", "uplink_identity"] {
        let has_table: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [table],
                |row| row.get(0),
            )
            .purpose(context)?;
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {table})");
        if has_table
            && conn
                .query_row(&sql, [], |row| row.get(0))
                .purpose(context)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}
