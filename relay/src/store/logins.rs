//! Sign-in: the user an e-mail names in a tenant (or among platform admins), and the
//! lockouts of failed attempts. Platform-scoped: the request is what finds the tenant.

use uuid::Uuid;

use super::{Columns, execute, fetch_optional, required, scalar};
use crate::db::{DbError, Tx};

/// The latest lockout of `account` from `address` or from every address (`every`).
pub async fn locked_until(
    tx: &mut Tx,
    account: &str,
    address: &str,
    every: &str,
) -> Result<Option<i64>, DbError> {
    let sql = "SELECT MAX(locked_until) FROM login_failures \
               WHERE account = $1 AND (address = $2 OR address = $3)";
    let latest: Option<Option<i64>> = scalar(tx, sql, params![account, address, every]).await?;
    Ok(latest.flatten())
}

macro_rules! find_user {
    ($filter:literal) => {
        concat!(
            "SELECT u.id, u.tenant_id, u.password_hash, u.status, t.status AS tenant_status \
             FROM users u LEFT JOIN tenants t ON t.id = u.tenant_id WHERE u.email = $1 AND ",
            $filter
        )
    };
}

/// A user as sign-in finds it.
#[derive(Debug)]
pub struct LoginUser {
    pub id: Uuid,
    pub tenant: Option<Uuid>,
    pub password_hash: String,
    /// `active` or `disabled`.
    pub status: String,
    pub tenant_status: Option<String>,
}

fn read(row: Columns<'_>) -> Result<LoginUser, DbError> {
    read_row! { row => LoginUser { id: id("id"), tenant: optional_id("tenant_id"),
    password_hash: text("password_hash"), status: text("status"),
    tenant_status: optional_text("tenant_status") } }
}

/// The user with `email` in `tenant` (among platform admins for none).
pub async fn user_by_email(
    tx: &mut Tx,
    tenant: Option<Uuid>,
    email: &str,
) -> Result<Option<LoginUser>, DbError> {
    match tenant {
        Some(tenant) => {
            let sql = find_user!("u.tenant_id = $2");
            fetch_optional(tx, sql, params![email, tenant], read).await
        }
        None => {
            let sql = find_user!("u.tenant_id IS NULL");
            fetch_optional(tx, sql, params![email], read).await
        }
    }
}

/// Counts one more failure of `account` from `address` at `now`, starting again from one
/// if the last one is older than `lockout_ms`; the count.
pub async fn count_failure(
    tx: &mut Tx,
    (account, address): (&str, &str),
    now: i64,
    lockout_ms: i64,
) -> Result<i64, DbError> {
    let sql = "INSERT INTO login_failures (account, address, failures, locked_until, \
               updated_at) VALUES ($1, $2, 1, 0, $3) ON CONFLICT (account, address) DO UPDATE \
               SET failures = CASE WHEN login_failures.updated_at < $4 THEN 1 \
               ELSE login_failures.failures + 1 END, updated_at = $3 RETURNING failures";
    let params = params![account, address, now, now - lockout_ms];
    required(scalar(tx, sql, params).await?)
}

/// Locks `account` from `address` until `until`, its count starting again.
pub async fn lock(
    tx: &mut Tx,
    (account, address): (&str, &str),
    until: i64,
) -> Result<(), DbError> {
    let sql = "UPDATE login_failures SET failures = 0, locked_until = $1 \
               WHERE account = $2 AND address = $3";
    execute(tx, sql, params![until, account, address]).await?;
    Ok(())
}

/// Forgets the failures of `account` from `address`.
pub async fn forgive(tx: &mut Tx, account: &str, address: &str) -> Result<(), DbError> {
    let sql = "DELETE FROM login_failures WHERE account = $1 AND address = $2";
    execute(tx, sql, params![account, address]).await?;
    Ok(())
}

/// Deletes the counts not locked at `now` whose last failure is before `before`; how many.
pub async fn prune(tx: &mut Tx, now: i64, before: i64) -> Result<u64, DbError> {
    let sql = "DELETE FROM login_failures WHERE locked_until < $1 AND updated_at < $2";
    execute(tx, sql, params![now, before]).await
}
