//! Users: a tenant's accounts (and the platform admins, who have no tenant), with their
//! passwords as Argon2id hashes.

use uuid::Uuid;

use super::{Columns, TenantRow, execute, fetch_all};
use crate::api::users::User;
use crate::db::{DbError, Tx, now_ms};

macro_rules! select {
    () => {
        "SELECT id, tenant_id, email, display_name, status, created_at, updated_at FROM users "
    };
}

impl TenantRow for User {
    const BY_ID: &'static str = concat!(select!(), "WHERE tenant_id = $1 AND id = $2");

    fn read(row: Columns<'_>) -> Result<Self, DbError> {
        read_row! { row => User { id: id("id"), tenant_id: id("tenant_id"), email: text("email"),
        display_name: text("display_name"), status: text("status"),
        created_at: time("created_at"), updated_at: time("updated_at") } }
    }
}

pub async fn list(
    tx: &mut Tx,
    tenant: Uuid,
    (limit, offset): (i64, i64),
) -> Result<Vec<User>, DbError> {
    let sql = concat!(
        select!(),
        "WHERE tenant_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
    );
    fetch_all(tx, sql, params![tenant, limit, offset], User::read).await
}

/// A user to add: to a tenant, or a platform admin for none.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub id: Uuid,
    pub tenant: Option<Uuid>,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
}

/// Inserts an active user; [`DbError::Constraint`] if its e-mail is taken in its tenant (or
/// among platform admins).
pub async fn insert(tx: &mut Tx, user: NewUser<'_>) -> Result<(), DbError> {
    let sql = "INSERT INTO users (id, tenant_id, email, display_name, password_hash, \
               platform_admin, status, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)";
    let admin = i32::from(user.tenant.is_none());
    let (id, tenant, email, name) = (user.id, user.tenant, user.email, user.display_name);
    let params = params![id, tenant, email, name, user.password_hash, admin, now_ms()];
    execute(tx, sql, params).await?;
    Ok(())
}

/// What a change may set; `None` keeps the value.
#[derive(Debug)]
pub struct UserChange<'a> {
    pub display_name: Option<&'a str>,
    /// `active` or `disabled`.
    pub status: Option<&'a str>,
    pub password_hash: Option<&'a str>,
}

pub async fn update(
    tx: &mut Tx,
    tenant: Uuid,
    user: Uuid,
    change: UserChange<'_>,
) -> Result<(), DbError> {
    let sql = "UPDATE users SET display_name = COALESCE($1, display_name), \
               status = COALESCE($2, status), password_hash = COALESCE($3, password_hash), \
               updated_at = $4 WHERE tenant_id = $5 AND id = $6";
    let (name, status, hash) = (change.display_name, change.status, change.password_hash);
    execute(tx, sql, params![name, status, hash, now_ms(), tenant, user]).await?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, tenant: Uuid, user: Uuid) -> Result<(), DbError> {
    let sql = "DELETE FROM users WHERE tenant_id = $1 AND id = $2";
    execute(tx, sql, params![tenant, user]).await?;
    Ok(())
}
