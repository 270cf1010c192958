//! `DbError`: every failure of the state layer, as a kind a caller can act on plus the
//! context a person needs (the database path, what the statement was for) and the
//! underlying error as its source.
//!
//! Foreign errors are mapped on purpose: SQLite `BUSY`/`LOCKED` are retryable,
//! `SQLITE_FULL` and an `ENOSPC` from the filesystem are [`DbErrorKind::Full`] (the disk is
//! full: stop downloads and report it), a uniqueness violation is a `Conflict`,
//! `CORRUPT`/`NOTADB` are `Corrupt`. Errors are `Clone` so that one failed group commit can
//! answer every job of the group.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::ErrorCode;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DbErrorKind {
    /// The database was locked by someone else for longer than the busy timeout. Retryable.
    Busy,
    /// The disk (or the filesystem holding the database) is full. Free space, then retry.
    Full,
    /// A row with the same unique value already exists (e.g. a camera name).
    Conflict,
    /// The row the caller named does not exist.
    NotFound,
    /// The database file, or data in it, is damaged.
    Corrupt,
    /// The database was written by a newer dipper: its schema version `found` is newer than
    /// the newest this binary knows, `known`. It was not touched.
    TooNew { found: u32, known: u32 },
    /// The key file that encrypts camera passwords is missing, unsafe or wrong.
    Key(KeyProblem),
    /// A filesystem operation failed (other than a full disk).
    Io,
    /// Anything else (a bug, a misuse of SQL, a stopped writer).
    Other,
}

/// Why the key file (or a value encrypted with it) could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyProblem {
    /// The key file is missing but the database holds values encrypted with it.
    Missing,
    /// The key file can be read by its group or by others (`mode` is its permission bits).
    Permissions { mode: u32 },
    /// The key file is not exactly 32 bytes long (or not a regular file).
    Length { len: u64 },
    /// A stored value does not decrypt with this key: the key is wrong or the value was
    /// tampered with.
    Undecryptable,
}

/// A failure of the state layer: a kind, what was being done, where, and why.
#[derive(Debug, Clone)]
pub(crate) struct DbError {
    kind: DbErrorKind,
    context: String,
    path: Option<PathBuf>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl DbError {
    /// An error of `kind` while doing `context` (e.g. "insert camera \"gate\"").
    pub(crate) fn new(kind: DbErrorKind, context: impl Into<String>) -> DbError {
        DbError {
            kind,
            context: context.into(),
            path: None,
            source: None,
        }
    }

    /// Maps a SQLite error to its kind, with what the statement was for.
    pub(crate) fn sqlite(error: rusqlite::Error, context: impl Into<String>) -> DbError {
        let kind = match &error {
            rusqlite::Error::SqliteFailure(e, _) => match e.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbErrorKind::Busy,
                ErrorCode::DiskFull => DbErrorKind::Full,
                ErrorCode::ConstraintViolation
                    if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                {
                    DbErrorKind::Conflict
                }
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => DbErrorKind::Corrupt,
                ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied => {
                    DbErrorKind::Io
                }
                ErrorCode::SystemIoFailure => {
                    if is_enospc_message(&error) {
                        DbErrorKind::Full
                    } else {
                        DbErrorKind::Io
                    }
                }
                _ => DbErrorKind::Other,
            },
            rusqlite::Error::QueryReturnedNoRows => DbErrorKind::NotFound,
            _ => DbErrorKind::Other,
        };
        DbError::new(kind, context).with_source(error)
    }

    /// Maps a filesystem error: `ENOSPC` and `EDQUOT` are a full disk, anything else `Io`.
    pub(crate) fn io(error: std::io::Error, context: impl Into<String>) -> DbError {
        let kind = match error.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                DbErrorKind::Full
            }
            _ => DbErrorKind::Io,
        };
        DbError::new(kind, context).with_source(error)
    }

    /// Attaches the underlying error.
    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> DbError {
        self.source = Some(Arc::new(source));
        self
    }

    /// Names the file concerned, unless a more precise one was named already.
    pub(crate) fn at(mut self, path: &Path) -> DbError {
        if self.path.is_none() {
            self.path = Some(path.to_owned());
        }
        self
    }

    /// What went wrong.
    pub(crate) fn kind(&self) -> &DbErrorKind {
        &self.kind
    }

    /// Whether the disk holding the database is full: the daemon stops downloads and
    /// reports it; writes succeed again once space is freed.
    pub(crate) fn is_disk_full(&self) -> bool {
        self.kind == DbErrorKind::Full
    }

    /// Whether trying again later may succeed (the database was busy, or the disk full).
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self.kind, DbErrorKind::Busy | DbErrorKind::Full)
    }
}

/// SQLite reports some write failures as a generic I/O error; its message still says why.
fn is_enospc_message(error: &rusqlite::Error) -> bool {
    match error {
        rusqlite::Error::SqliteFailure(_, Some(message)) => {
            let message = message.to_ascii_lowercase();
            message.contains("no space") || message.contains("disk is full")
        }
        _ => false,
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)?;
        if let Some(path) = &self.path {
            write!(f, " ({})", path.display())?;
        }
        match &self.kind {
            DbErrorKind::Busy => f.write_str(": the database is busy, try again"),
            DbErrorKind::Full => f.write_str(": the disk is full"),
            DbErrorKind::Conflict => f.write_str(": already exists"),
            DbErrorKind::NotFound => f.write_str(": not found"),
            DbErrorKind::Corrupt => f.write_str(": the database is damaged"),
            DbErrorKind::TooNew { found, known } => write!(
                f,
                ": the database has schema version {found} but this dipper knows versions up \
                 to {known}; it was written by a newer dipper, so upgrade dipper (the database \
                 was not touched)"
            ),
            DbErrorKind::Key(KeyProblem::Missing) => f.write_str(
                ": the key file is missing but the database holds camera passwords (or the \
                 uplink's credential) encrypted with it; restore the key file, or delete and \
                 re-add the cameras (and activate the uplink again)",
            ),
            DbErrorKind::Key(KeyProblem::Permissions { mode }) => write!(
                f,
                ": the key file has mode {mode:04o} and may be read by others; it must be \
                 readable only by its owner (chmod 600)"
            ),
            DbErrorKind::Key(KeyProblem::Length { len }) => write!(
                f,
                ": the key file is {len} bytes long, not 32; it is damaged or not a key"
            ),
            DbErrorKind::Key(KeyProblem::Undecryptable) => f.write_str(
                ": the value does not decrypt with this key (the key file was replaced, or the \
                 value was tampered with)",
            ),
            DbErrorKind::Io => f.write_str(": input/output error"),
            DbErrorKind::Other => Ok(()),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Adds what a statement was for to a SQLite result: `stmt.execute(..).purpose("insert
/// camera")?`.
pub(crate) trait SqlResultExt<T> {
    /// Maps the error with [`DbError::sqlite`].
    fn purpose(self, context: &str) -> Result<T, DbError>;
}

impl<T> SqlResultExt<T> for Result<T, rusqlite::Error> {
    fn purpose(self, context: &str) -> Result<T, DbError> {
        self.map_err(|e| DbError::sqlite(e, context))
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> DbError {
        DbError::sqlite(error, "SQLite statement")
    }
}
