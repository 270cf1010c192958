//! The relay's migration steps: each one template (`relay/migrations/NNNN_name.sql`, see
//! `render.rs`) embedded in the binary, and the sqlx migrator of one engine rendered from
//! them, as `sqlx::migrate!` would have built it from that engine's files.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use super::Backend;
use super::render::{TemplateError, render};

/// One step's template as embedded; its file name gives sqlx the version and description.
#[derive(Debug)]
pub(super) struct Step {
    pub(super) file: &'static str,
    pub(super) template: &'static str,
}

/// The step in `relay/migrations/<file>`.
macro_rules! step {
    ($file:literal) => {
        Step {
            file: $file,
            template: include_str!(concat!("../../../migrations/", $file)),
        }
    };
}

/// Every step, in order. A file added to `relay/migrations/` is added here too (a test fails
/// otherwise), and its checksums to `tests.rs` once it is final.
pub(super) const STEPS: &[Step] = &[
    step!("0001_init.sql"),
    step!("0002_sessions.sql"),
    step!("0003_accounts_per_tenant.sql"),
    step!("0004_uplink.sql"),
    step!("0005_report_order.sql"),
    step!("0006_face_library.sql"),
    step!("0007_searches.sql"),
    step!("0008_rpc_params.sql"),
    step!("0009_billing.sql"),
    step!("0010_dunning.sql"),
    step!("0011_search_finish_held.sql"),
    step!("0012_software.sql"),
];

/// The migrator of `backend`: every step rendered for it.
pub(super) fn migrator(backend: Backend) -> Result<Migrator, TemplateError> {
    let migrations = STEPS
        .iter()
        .map(|step| step.migration(backend))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Migrator::with_migrations(migrations))
}

impl Step {
    /// The step rendered for `backend`, with what sqlx reads from a file of that text.
    pub(super) fn migration(&self, backend: Backend) -> Result<Migration, TemplateError> {
        let (version, description) = self.version_and_description()?;
        let sql = render(self.file, self.template, backend)?;
        // sqlx's rule: a step whose text opens so runs outside a transaction.
        let no_tx = sql.starts_with("-- no-transaction");
        Ok(Migration::new(
            version,
            Cow::Owned(description),
            MigrationType::Simple,
            AssertSqlSafe(sql).into_sql_str(),
            no_tx,
        ))
    }

    /// sqlx's reading of a file name `<version>_<description>.sql`: the version, and the
    /// description with `_` for spaces.
    fn version_and_description(&self) -> Result<(i64, String), TemplateError> {
        let parsed = self.file.split_once('_').and_then(|(version, rest)| {
            let description = rest.strip_suffix(".sql")?;
            Some((version.parse().ok()?, description.replace('_', " ")))
        });
        parsed.ok_or_else(|| TemplateError {
            file: self.file.to_owned(),
            line: None,
            reason: "the file name is not `<version>_<description>.sql`".to_owned(),
        })
    }
}
