//! The relay's database: one pool over PostgreSQL or SQLite through sqlx's `Any` driver, the
//! embedded migrations of both, and transactions scoped to a tenant.
//!
//! Every request's work runs in one transaction opened by [`Db::begin`] with a [`Scope`]. On
//! PostgreSQL the scope becomes the transaction-local settings `dipper.tenant_id` and
//! `dipper.platform` that the row-level security policies read (the `--@tenant_wall`
//! directives of `relay/migrations/`, rendered by `migrate/render.rs`), so a query that forgot
//! its tenant filter still sees only the principal's tenant. On SQLite the filter every query
//! carries is the only wall.

mod migrate;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};
use uuid::Uuid;

pub use migrate::{MigrateError, TemplateError, migrator};

use crate::config::DatabaseConfig;

/// Which engine the pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Whose rows a transaction may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One tenant's rows only.
    Tenant(Uuid),
    /// Every row: platform admins, and the tenant-less steps (login, token refresh, device
    /// activation) that find their tenant by a secret.
    Platform,
}

/// Whether a transaction writes. On SQLite a writing transaction takes the write lock at
/// `BEGIN` (`BEGIN IMMEDIATE`), so a read followed by a write never fails to upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

/// A database error, sorted into what a caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique or foreign-key constraint refused the change.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// The database is busy or the transaction lost a race; the request may be retried.
    #[error("database busy: {0}")]
    Busy(String),
    /// The database is unreachable or failed in a way the caller cannot fix.
    #[error("database error: {0}")]
    Other(sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

impl DbError {
    /// Sorts a sqlx error by kind. `?` on a sqlx error calls it through `From`, so no query
    /// can skip the sorting, nor the count in `dipper_relay_db_errors_total{kind}` (a row
    /// not found is no error there).
    pub fn from_sqlx(error: sqlx::Error) -> Self {
        let timed_out = matches!(error, sqlx::Error::PoolTimedOut);
        let not_found = matches!(error, sqlx::Error::RowNotFound);
        let sorted = DbError::sort_sqlx(error);
        let kind = match &sorted {
            _ if timed_out => "pool_timed_out",
            DbError::Constraint(_) => "constraint",
            DbError::Busy(_) => "busy",
            _ => "other",
        };
        if !not_found {
            metrics::counter!("dipper_relay_db_errors_total", "kind" => kind).increment(1);
        }
        sorted
    }

    fn sort_sqlx(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            if db.is_unique_violation() || db.is_foreign_key_violation() || db.is_check_violation()
            {
                return DbError::Constraint(db.message().to_owned());
            }
            let code = db.code().unwrap_or_default();
            // PostgreSQL: serialization failure, deadlock. SQLite: BUSY, LOCKED.
            if matches!(code.as_ref(), "40001" | "40P01" | "5" | "6" | "517" | "261") {
                return DbError::Busy(db.message().to_owned());
            }
        }
        if matches!(error, sqlx::Error::PoolTimedOut) {
            return DbError::Busy(error.to_string());
        }
        DbError::Other(error)
    }
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        DbError::from_sqlx(error)
    }
}

impl From<sqlx::Error> for crate::error::ApiError {
    fn from(error: sqlx::Error) -> Self {
        DbError::from_sqlx(error).into()
    }
}

impl From<DbError> for crate::error::ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Constraint(message) => {
                // The constraint's name and text are the schema's business, not the client's.
                tracing::debug!(%message, "a change refused by a constraint");
                crate::error::ApiError::conflict(
                    crate::error::ErrorCode::Conflict,
                    "the change conflicts with existing data",
                )
            }
            DbError::Busy(_) => crate::error::ApiError::unavailable(),
            other => crate::error::ApiError::internal(&other),
        }
    }
}

/// A transaction over either engine.
pub type Tx = Transaction<'static, Any>;

/// The pool and the engine it talks to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// SQLite: the one connection writing transactions take, in turn. SQLite lets one
    /// writer in at a time anyway; queued here, writers wait their turn in order instead of
    /// polling the file lock in SQLite's busy handler, where under a burst of writes one
    /// could lose every race for `busy_timeout` and fail with "database is locked".
    writer: Option<AnyPool>,
    backend: Backend,
}

/// How long a writing transaction waits for the SQLite writer's turn.
const WRITER_WAIT: Duration = Duration::from_secs(30);

impl Db {
    /// Connects (creating a SQLite file if missing) without migrating.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if config.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite if !config.url.contains("mode=") => {
                let separator = if config.url.contains('?') { '&' } else { '?' };
                format!("{}{separator}mode=rwc", config.url)
            }
            _ => config.url.clone(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = Self::pool_options(backend, config.max_connections, Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let writer = match backend {
            Backend::Sqlite => Some(
                Self::pool_options(backend, 1, WRITER_WAIT)
                    .connect_with(options)
                    .await?,
            ),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            writer,
            backend,
        })
    }

    /// A pool of up to `connections`, each set up for `backend`.
    fn pool_options(backend: Backend, connections: u32, wait: Duration) -> AnyPoolOptions {
        let mut pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(wait);
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        pool
    }

    /// Connects and brings the schema up to this binary's version; refuses a database whose
    /// schema is newer than the binary.
    pub async fn connect_and_migrate(config: &DatabaseConfig) -> Result<Self, DbError> {
        let db = Self::connect(config).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Applies the embedded migrations of this engine.
    pub async fn migrate(&self) -> Result<(), DbError> {
        migrate::run(&self.pool, self.backend).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool itself, for the few callers (tests, health checks) that need it.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Opens a transaction that sees only what `scope` allows.
    pub async fn begin(&self, scope: Scope, mode: Mode) -> Result<Tx, DbError> {
        let mut tx = match (self.backend, mode) {
            (Backend::Sqlite, Mode::Write) => {
                let writer = self.writer.as_ref().unwrap_or(&self.pool);
                writer.begin_with("BEGIN IMMEDIATE").await
            }
            _ => self.pool.begin().await,
        }?;
        if self.backend == Backend::Postgres {
            let (tenant, platform) = match scope {
                Scope::Tenant(id) => (id.to_string(), "off"),
                Scope::Platform => (String::new(), "on"),
            };
            sqlx::query(
                "SELECT set_config('dipper.tenant_id', $1, true), \
                 set_config('dipper.platform', $2, true)",
            )
            .bind(tenant)
            .bind(platform)
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch, the unit of every time column.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Reads an id column back into a UUID. The relay writes every id itself, so a malformed one
/// means the database was edited by hand.
pub fn parse_id(text: &str) -> Result<Uuid, DbError> {
    Uuid::parse_str(text).map_err(|e| DbError::Other(sqlx::Error::Decode(Box::new(e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question_mark(error: sqlx::Error) -> Result<(), DbError> {
        Err(error)?
    }

    #[test]
    fn a_question_mark_sorts_sqlx_errors() {
        assert!(matches!(
            question_mark(sqlx::Error::PoolTimedOut),
            Err(DbError::Busy(_))
        ));
        assert!(matches!(
            question_mark(sqlx::Error::RowNotFound),
            Err(DbError::Other(sqlx::Error::RowNotFound))
        ));
    }
}
