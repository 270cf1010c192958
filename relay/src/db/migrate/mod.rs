//! The embedded migrations of both engines, and the refusal of a newer schema.
//!
//! Each numbered step is one template in `relay/migrations/` (`steps.rs` embeds them,
//! `render.rs` is their language), rendered for the pool's engine once, the first time a
//! migrator is asked for. The rendered text of every step applied by a released relay is
//! frozen: sqlx refuses a database whose recorded checksum of a step differs from the
//! binary's, and `tests.rs` holds those checksums. A database that has applied a step this
//! binary does not know was upgraded by a newer relay: it is refused before anything is
//! changed.

mod render;
mod steps;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use sqlx::AnyPool;
use sqlx::migrate::Migrator;

pub use render::TemplateError;

use super::Backend;

static POSTGRES: LazyLock<Result<Migrator, TemplateError>> =
    LazyLock::new(|| steps::migrator(Backend::Postgres));
static SQLITE: LazyLock<Result<Migrator, TemplateError>> =
    LazyLock::new(|| steps::migrator(Backend::Sqlite));

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the database's schema is at version {database}, newer than this binary knows \
         (up to {binary}): run a dipper-relay at least as new as the one that upgraded it"
    )]
    DatabaseNewer { database: i64, binary: i64 },
    #[error("applying migrations: {0}")]
    Apply(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// The highest schema version this binary knows for `backend`.
pub(crate) fn latest_version(backend: Backend) -> Result<i64, MigrateError> {
    Ok(migrator(backend)?
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0))
}

/// The migrations of `backend`, in order (for tests that stop at an older schema, too).
pub fn migrator(backend: Backend) -> Result<&'static Migrator, MigrateError> {
    let rendered = match backend {
        Backend::Postgres => &*POSTGRES,
        Backend::Sqlite => &*SQLITE,
    };
    rendered.as_ref().map_err(|e| e.clone().into())
}

pub(super) async fn run(pool: &AnyPool, backend: Backend) -> Result<(), MigrateError> {
    let binary = latest_version(backend)?;
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
    migrator(backend)?.run(pool).await?;
    Ok(())
}
