//! Areas: the tree of organisational units inside a tenant.

use uuid::Uuid;

use super::{Columns, TenantRow, VisibleRow, execute, fetch_all, required, scalar};
use crate::api::areas::Area;
use crate::db::{DbError, Tx, now_ms};

macro_rules! select {
    () => {
        "SELECT id, tenant_id, parent_id, name, created_at, updated_at FROM areas \
         WHERE tenant_id = $1 AND "
    };
}

impl TenantRow for Area {
    const BY_ID: &'static str = concat!(select!(), "id = $2");

    fn read(row: Columns<'_>) -> Result<Self, DbError> {
        read_row! { row => Area { id: id("id"), tenant_id: id("tenant_id"),
        parent_id: optional_id("parent_id"), name: text("name"),
        created_at: time("created_at"), updated_at: time("updated_at") } }
    }
}

impl VisibleRow for Area {
    const VISIBLE: &'static str = concat!(
        visible_areas!(),
        select!(),
        "($3 = 1 OR id IN (SELECT id FROM visible)) ORDER BY created_at, id LIMIT $4 OFFSET $5"
    );
}

/// Inserts area `id` named `name` under `parent` (a root area for none).
pub async fn insert(
    tx: &mut Tx,
    tenant: Uuid,
    (id, parent): (Uuid, Option<Uuid>),
    name: &str,
) -> Result<(), DbError> {
    let sql = "INSERT INTO areas (id, tenant_id, parent_id, name, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $5)";
    execute(tx, sql, params![id, tenant, parent, name, now_ms()]).await?;
    Ok(())
}

pub async fn rename(tx: &mut Tx, tenant: Uuid, area: Uuid, name: &str) -> Result<(), DbError> {
    let sql = "UPDATE areas SET name = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4";
    execute(tx, sql, params![name, now_ms(), tenant, area]).await?;
    Ok(())
}

/// Moves `area` under `parent` (to the root for none); the caller checked that `parent` is
/// not `area` or below it.
pub async fn set_parent(
    tx: &mut Tx,
    tenant: Uuid,
    area: Uuid,
    parent: Option<Uuid>,
) -> Result<(), DbError> {
    let sql = "UPDATE areas SET parent_id = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4";
    execute(tx, sql, params![parent, now_ms(), tenant, area]).await?;
    Ok(())
}

/// Whether `area` has child areas or devices.
pub async fn in_use(tx: &mut Tx, tenant: Uuid, area: Uuid) -> Result<bool, DbError> {
    let sql = "SELECT (SELECT COUNT(*) FROM areas WHERE tenant_id = $1 AND parent_id = $2) \
               + (SELECT COUNT(*) FROM devices WHERE tenant_id = $1 AND area_id = $2)";
    let count: i64 = required(scalar(tx, sql, params![tenant, area]).await?)?;
    Ok(count > 0)
}

pub async fn delete(tx: &mut Tx, tenant: Uuid, area: Uuid) -> Result<(), DbError> {
    let sql = "DELETE FROM areas WHERE tenant_id = $1 AND id = $2";
    execute(tx, sql, params![tenant, area]).await?;
    Ok(())
}

/// `area` and the areas above it, nearest first; empty if `tenant` has no such area.
pub async fn path_to_root(tx: &mut Tx, tenant: Uuid, area: Uuid) -> Result<Vec<Uuid>, DbError> {
    let sql = "WITH RECURSIVE up(id, parent_id) AS ( \
                   SELECT id, parent_id FROM areas WHERE tenant_id = $1 AND id = $2 \
                   UNION ALL \
                   SELECT a.id, a.parent_id FROM areas a JOIN up ON a.id = up.parent_id \
                   WHERE a.tenant_id = $1 \
               ) SELECT id FROM up";
    fetch_all(tx, sql, params![tenant, area], |row| row.id("id")).await
}
