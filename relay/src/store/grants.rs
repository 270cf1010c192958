//! Role grants: a user's role on its whole tenant or on an area (and every area below it).

use uuid::Uuid;

use super::{Columns, TenantRow, execute, fetch_all};
use crate::api::users::RoleGrant;
use crate::auth::{Grant, Role};
use crate::db::{DbError, Tx, now_ms};

macro_rules! select {
    () => {
        "SELECT id, user_id, role, area_id, created_at FROM role_grants WHERE tenant_id = $1 AND "
    };
}

impl Columns<'_> {
    fn role(self, name: &str) -> Result<Role, DbError> {
        Ok(Role::parse(&self.text(name)?).unwrap_or(Role::Viewer))
    }
}

impl TenantRow for RoleGrant {
    const BY_ID: &'static str = concat!(select!(), "id = $2");

    fn read(row: Columns<'_>) -> Result<Self, DbError> {
        read_row! { row => RoleGrant { id: id("id"), user_id: id("user_id"), role: role("role"),
        area_id: optional_id("area_id"), created_at: time("created_at") } }
    }
}

/// The grants of `user`, oldest first.
pub async fn of_user(tx: &mut Tx, tenant: Uuid, user: Uuid) -> Result<Vec<RoleGrant>, DbError> {
    let sql = concat!(select!(), "user_id = $2 ORDER BY created_at, id");
    fetch_all(tx, sql, params![tenant, user], RoleGrant::read).await
}

/// The roles of `user` as its principal holds them (the transaction is scoped to its
/// tenant, or the platform for a platform admin).
pub async fn held_by(tx: &mut Tx, user: Uuid) -> Result<Vec<Grant>, DbError> {
    let sql = "SELECT role, area_id FROM role_grants WHERE user_id = $1";
    fetch_all(tx, sql, params![user], |row| {
        read_row! { row => Grant { role: role("role"), area_id: optional_id("area_id") } }
    })
    .await
}

/// Grants `role` to `user` on `area` (the whole tenant for none).
pub async fn insert(
    tx: &mut Tx,
    tenant: Uuid,
    (id, user): (Uuid, Uuid),
    role: Role,
    area: Option<Uuid>,
) -> Result<(), DbError> {
    let sql = "INSERT INTO role_grants (id, tenant_id, user_id, role, area_id, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6)";
    let params = params![id, tenant, user, role.as_str(), area, now_ms()];
    execute(tx, sql, params).await?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, tenant: Uuid, grant: Uuid) -> Result<(), DbError> {
    let sql = "DELETE FROM role_grants WHERE tenant_id = $1 AND id = $2";
    execute(tx, sql, params![tenant, grant]).await?;
    Ok(())
}
