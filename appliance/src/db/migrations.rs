//! Schema migrations: numbered, transactional steps that take a database from any older
//! schema version to the newest this binary knows, recorded in `PRAGMA user_version`.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction together with the version
//! bump, so a migration that fails midway leaves the database at its previous version. A
//! database whose version is newer than [`latest_version`] is refused with
//! [`DbErrorKind::TooNew`] before anything is written to it. `schema.sql` describes the
//! schema after the last migration; a test checks that both agree.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::error::{DbError, DbErrorKind, SqlResultExt};

/// One step of the schema: SQL run in one transaction, after which `user_version` is
/// `version`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// The schema version after this step: 1 for the first, then consecutive.
    pub(crate) version: u32,
    /// A short name, for errors and logs.
    pub(crate) name: &'static str,
    /// The statements.
    pub(crate) sql: &'static str,
}

/// Every migration, oldest first. To add one, write `migrations/000N_name.sql`, add a line
/// here and update `schema.sql`.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "cameras",
        sql: include_str!("migrations/0001_cameras.sql"),
    },
    Migration {
        version: 2,
        name: "tasks",
        sql: include_str!("migrations/0002_tasks.sql"),
    },
    Migration {
        version: 3,
        name: "index coverage",
        sql: include_str!("migrations/0003_index_coverage.sql"),
    },
    Migration {
        version: 4,
        name: "motion gates",
        sql: include_str!("migrations/0004_motion_gates.sql"),
    },
    Migration {
        version: 5,
        name: "retention",
        sql: include_str!("migrations/0005_retention.sql"),
    },
    Migration {
        version: 6,
        name: "task photos",
        sql: include_str!("migrations/0006_task_photos.sql"),
    },
    Migration {
        version: 7,
        name: "uplink",
        sql: include_str!("migrations/0007_uplink.sql"),
    },
    Migration {
        version: 8,
        name: "task embeddings",
        sql: include_str!("migrations/0008_task_embeddings.sql"),
    },
    Migration {
        version: 9,
        name: "upload grants",
        sql: include_str!("migrations/0009_upload_grants.sql"),
    },
    Migration {
        version: 10,
        name: "local access",
        sql: include_str!("migrations/0010_local_access.sql"),
    },
    Migration {
        version: 11,
        name: "tenant standing",
        sql: include_str!("migrations/0011_tenant_standing.sql"),
    },
    Migration {
        version: 12,
        name: "software key",
        sql: include_str!("migrations/0012_software_key.sql"),
    },
];

/// The newest schema version in `migrations`.
pub(crate) fn latest_version(migrations: &[Migration]) -> u32 {
    migrations.last().map_or(0, |m| m.version)
}

/// Reads the schema version of the database behind `conn`.
pub(crate) fn schema_version(conn: &Connection) -> Result<u32, DbError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .purpose("read the schema version")?;
    u32::try_from(version).map_err(|_| {
        DbError::new(
            DbErrorKind::Corrupt,
            format!("read the schema version: {version} is not a version"),
        )
    })
}

/// Refuses a database newer than `migrations` know, without writing to it.
pub(crate) fn check_not_too_new(
    conn: &Connection,
    migrations: &[Migration],
    path: &Path,
) -> Result<u32, DbError> {
    let found = schema_version(conn).map_err(|e| e.at(path))?;
    let known = latest_version(migrations);
    if found > known {
        return Err(
            DbError::new(DbErrorKind::TooNew { found, known }, "open the database").at(path),
        );
    }
    Ok(found)
}

/// Applies every migration newer than the database's version, each in its own
/// transaction. Returns the version before and after.
pub(crate) fn migrate(
    conn: &mut Connection,
    migrations: &[Migration],
    path: &Path,
) -> Result<(u32, u32), DbError> {
    for (i, migration) in migrations.iter().enumerate() {
        if usize::try_from(migration.version).ok() != Some(i + 1) {
            return Err(DbError::new(
                DbErrorKind::Other,
                format!(
                    "migration {:?} has version {}, expected {} (versions must be 1, 2, ...)",
                    migration.name,
                    migration.version,
                    i + 1
                ),
            ));
        }
    }
    let before = check_not_too_new(conn, migrations, path)?;
    for migration in migrations.iter().filter(|m| m.version > before) {
        let context = format!("apply migration {} ({})", migration.version, migration.name);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .purpose(&context)
            .map_err(|e| e.at(path))?;
        // Another process may have migrated while we waited for the lock.
        if schema_version(&tx)? >= migration.version {
            continue;
        }
        tx.execute_batch(migration.sql)
            .purpose(&context)
            .map_err(|e| e.at(path))?;
        tx.pragma_update(None, "user_version", migration.version)
            .purpose(&context)
            .map_err(|e| e.at(path))?;
        tx.commit().purpose(&context).map_err(|e| e.at(path))?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied database migration"
        );
    }
    Ok((before, latest_version(migrations)))
}
