//! Tenants: their rows and status. A tenant is `creating` while its creation saga runs
//! (`crate::saga`), then `enabled` or `disabled`.

use uuid::Uuid;

use super::{Columns, execute, fetch_all, fetch_optional, scalar};
use crate::api::tenants::Tenant;
use crate::db::{DbError, Tx, now_ms};

macro_rules! select {
    () => {
        "SELECT id, name, status, created_at, updated_at FROM tenants WHERE "
    };
}

fn read(row: Columns<'_>) -> Result<Tenant, DbError> {
    read_row! { row => Tenant { id: id("id"), name: text("name"), status: text("status"),
    created_at: time("created_at"), updated_at: time("updated_at") } }
}

/// The tenant `tenant`, whatever its status.
pub async fn find(tx: &mut Tx, tenant: Uuid) -> Result<Option<Tenant>, DbError> {
    fetch_optional(tx, concat!(select!(), "id = $1"), params![tenant], read).await
}

/// The status of `tenant`, or none if there is no such tenant.
pub async fn status(tx: &mut Tx, tenant: Uuid) -> Result<Option<String>, DbError> {
    scalar(
        tx,
        "SELECT status FROM tenants WHERE id = $1",
        params![tenant],
    )
    .await
}

/// A page of the tenants made (not `creating`): every one, or only `only`.
pub async fn list(
    tx: &mut Tx,
    only: Option<Uuid>,
    (limit, offset): (i64, i64),
) -> Result<Vec<Tenant>, DbError> {
    let sql = concat!(
        select!(),
        "($1 IS NULL OR id = $1) AND status <> 'creating' \
         ORDER BY created_at, id LIMIT $2 OFFSET $3"
    );
    fetch_all(tx, sql, params![only, limit, offset], read).await
}

/// Inserts `tenant` as `creating`, at `now`.
pub async fn insert_creating(
    tx: &mut Tx,
    tenant: Uuid,
    name: &str,
    now: i64,
) -> Result<(), DbError> {
    let sql = "INSERT INTO tenants (id, name, status, created_at, updated_at) \
               VALUES ($1, $2, 'creating', $3, $3)";
    execute(tx, sql, params![tenant, name, now]).await?;
    Ok(())
}

/// Sets the name and, for `enabled` or `disabled`, the status; `None` keeps the value.
pub async fn update(
    tx: &mut Tx,
    tenant: Uuid,
    name: Option<&str>,
    status: Option<&str>,
) -> Result<(), DbError> {
    let sql = "UPDATE tenants SET name = COALESCE($1, name), status = COALESCE($2, status), \
               updated_at = $3 WHERE id = $4";
    execute(tx, sql, params![name, status, now_ms(), tenant]).await?;
    Ok(())
}

/// Deletes the tenant's row and, by cascade, everything in it.
pub async fn delete(tx: &mut Tx, tenant: Uuid) -> Result<(), DbError> {
    execute(tx, "DELETE FROM tenants WHERE id = $1", params![tenant]).await?;
    Ok(())
}

/// Up to `limit` ids of made tenants (not `creating`) after `after`, in id order: the pages
/// of a walk over every tenant.
pub async fn ids_after(tx: &mut Tx, after: Option<Uuid>, limit: i64) -> Result<Vec<Uuid>, DbError> {
    let sql = "SELECT id FROM tenants WHERE ($1 IS NULL OR id > $1) AND status <> 'creating' \
               ORDER BY id LIMIT $2";
    fetch_all(tx, sql, params![after, limit], |row| row.id("id")).await
}
