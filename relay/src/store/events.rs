//! The relay's events for a later sink (`billing.generated`, a tenant suspended or
//! restored), written in the transaction of the change they report.

use uuid::Uuid;

use super::{execute, fetch_all};
use crate::db::{DbError, Tx};

/// Records event `kind` of `tenant` (none: platform-wide) with its JSON `body`.
pub async fn record(
    tx: &mut Tx,
    tenant: Option<Uuid>,
    kind: &str,
    body: &str,
    now: i64,
) -> Result<(), DbError> {
    let sql = "INSERT INTO relay_events (id, tenant_id, kind, body, created_at) \
               VALUES ($1, $2, $3, $4, $5)";
    execute(tx, sql, params![Uuid::new_v4(), tenant, kind, body, now]).await?;
    Ok(())
}

/// The bodies of `tenant`'s events of `kind`, oldest first.
pub async fn bodies(tx: &mut Tx, tenant: Uuid, kind: &str) -> Result<Vec<String>, DbError> {
    let sql = "SELECT body FROM relay_events WHERE tenant_id = $1 AND kind = $2 \
               ORDER BY created_at, id";
    fetch_all(tx, sql, params![tenant, kind], |row| row.text("body")).await
}
