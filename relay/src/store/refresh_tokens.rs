//! Refresh tokens (stored as SHA-256 digests), found by their digest in a platform-scoped
//! transaction: the token is what finds the tenant.

use uuid::Uuid;

use super::{Columns, execute, fetch_optional};
use crate::db::{DbError, Tx, now_ms};

/// A refresh token with its user's and tenant's status.
#[derive(Debug)]
pub struct RefreshToken {
    pub id: String,
    /// The session (family) the token belongs to.
    pub family: String,
    pub user: Uuid,
    pub tenant: Option<Uuid>,
    /// `active`, `used` or `revoked`.
    pub status: String,
    pub expires_at: i64,
    pub user_status: String,
    pub tenant_status: Option<String>,
}

fn read(row: Columns<'_>) -> Result<RefreshToken, DbError> {
    read_row! { row => RefreshToken { id: text("id"), family: text("family_id"),
    user: id("user_id"), tenant: optional_id("tenant_id"), status: text("status"),
    expires_at: number("expires_at"), user_status: text("user_status"),
    tenant_status: optional_text("tenant_status") } }
}

pub async fn by_digest(tx: &mut Tx, digest: &str) -> Result<Option<RefreshToken>, DbError> {
    let sql = "SELECT r.id, r.user_id, r.tenant_id, r.family_id, r.status, r.expires_at, \
               u.status AS user_status, t.status AS tenant_status \
               FROM refresh_tokens r JOIN users u ON u.id = r.user_id \
               LEFT JOIN tenants t ON t.id = r.tenant_id WHERE r.token_hash = $1";
    fetch_optional(tx, sql, params![digest], read).await
}

/// Marks the token used if it is still active; whether it was.
pub async fn take(tx: &mut Tx, id: &str) -> Result<bool, DbError> {
    let sql = "UPDATE refresh_tokens SET status = 'used' WHERE id = $1 AND status = 'active'";
    Ok(execute(tx, sql, params![id]).await? == 1)
}

/// A refresh token to store.
#[derive(Debug)]
pub struct NewRefreshToken<'a> {
    pub user: Uuid,
    pub tenant: Option<Uuid>,
    pub session: Uuid,
    pub digest: &'a str,
    pub expires_at: i64,
}

/// Stores an active refresh token of `token.session`.
pub async fn insert(tx: &mut Tx, token: NewRefreshToken<'_>) -> Result<(), DbError> {
    let sql = "INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, \
               status, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)";
    let (id, t) = (Uuid::new_v4(), token);
    let params = params![
        id,
        t.tenant,
        t.user,
        t.session,
        t.digest,
        t.expires_at,
        now_ms()
    ];
    execute(tx, sql, params).await?;
    Ok(())
}
