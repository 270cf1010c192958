//! The embedded migrations of both engines, and the refusal of a newer schema.
//!
//! `migrations/postgres/` and `migrations/sqlite/` hold the same numbered steps for each
//! engine. A database that has applied a step this binary does not know was upgraded by a
//! newer relay: it is refused before anything is changed.

use sqlx::AnyPool;
use sqlx::migrate::Migrator;

use super::Backend;

static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the database's schema is at version {database}, newer than this binary knows \
         (up to {binary}): run a dipper-relay at least as new as the one that upgraded it"
    )]
    DatabaseNewer { database: i64, binary: i64 },
    #[error("applying migrations: {0}")]
    Apply(#[from] sqlx::migrate::MigrateError),
}

/// The highest schema version this binary knows for `backend`.
pub(crate) fn latest_version(backend: Backend) -> i64 {
    migrator(backend)
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Postgres => &POSTGRES,
        Backend::Sqlite => &SQLITE,
    }
}

pub(super) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), MigrateError> {
    let binary = latest_version(backend);
    // No table yet means a new database; any other failure shows up again in `run` below.
    let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(pool)
        .await
        .unwrap_or(None);
    if let Some(database) = applied
        && database > binary
    {
        return Err(MigrateError::DatabaseNewer { database, binary });
    }
    migrator(backend).run(pool).await?;
    Ok(())
}
