//! Sessions: one per sign-in, the family of refresh tokens that renew it and the access
//! tokens they yield (which name it as `sid`). A session is active until it is revoked:
//! by logout, by the reuse of one of its refresh tokens, or for all of a user's sessions when
//! the user's password changes or the user is disabled. An access token of a revoked session
//! is refused at its next request (see [`crate::auth::Principal`]), not when it expires.

use uuid::Uuid;

use super::{Columns, execute, fetch_optional};
use crate::db::{DbError, Tx, now_ms};

/// Starts a session for `user` and returns its id (the family of its refresh tokens).
pub async fn start(tx: &mut Tx, user: Uuid, tenant: Option<Uuid>) -> Result<Uuid, DbError> {
    let id = Uuid::new_v4();
    let sql = "INSERT INTO sessions (id, tenant_id, user_id, status, created_at) \
               VALUES ($1, $2, $3, 'active', $4)";
    execute(tx, sql, params![id, tenant, user, now_ms()]).await?;
    Ok(id)
}

/// Revokes one session and every refresh token of it.
pub async fn revoke(tx: &mut Tx, session: &str) -> Result<(), DbError> {
    let sql = "UPDATE sessions SET status = 'revoked', revoked_at = $1 \
               WHERE id = $2 AND status = 'active'";
    execute(tx, sql, params![now_ms(), session]).await?;
    let sql = "UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = $1";
    execute(tx, sql, params![session]).await?;
    Ok(())
}

/// Revokes every session of `user` in `tenant`, and their refresh tokens.
pub async fn revoke_all_of_user(tx: &mut Tx, tenant: Uuid, user: Uuid) -> Result<(), DbError> {
    let sql = "UPDATE sessions SET status = 'revoked', revoked_at = $1 \
               WHERE tenant_id = $2 AND user_id = $3 AND status = 'active'";
    execute(tx, sql, params![now_ms(), tenant, user]).await?;
    let sql = "UPDATE refresh_tokens SET status = 'revoked' WHERE tenant_id = $1 AND user_id = $2";
    execute(tx, sql, params![tenant, user]).await?;
    Ok(())
}

/// A user's row as an access token of one of its sessions finds it.
#[derive(Debug)]
pub struct SessionUser {
    pub tenant: Option<String>,
    /// The user's status: `active` or `disabled`.
    pub status: String,
    /// 1 for a platform admin.
    pub platform_admin: i32,
    pub tenant_status: Option<String>,
    /// None when the session is not the user's.
    pub session_status: Option<String>,
}

/// The user `user` with its tenant's status and the status of its session `session`; one
/// query, so checking revocation costs no extra round trip.
pub async fn user_of(
    tx: &mut Tx,
    user: Uuid,
    session: Uuid,
) -> Result<Option<SessionUser>, DbError> {
    let sql = "SELECT u.status, u.platform_admin, u.tenant_id, t.status AS tenant_status, \
               s.status AS session_status \
               FROM users u LEFT JOIN tenants t ON t.id = u.tenant_id \
               LEFT JOIN sessions s ON s.id = $2 AND s.user_id = u.id WHERE u.id = $1";
    fetch_optional(tx, sql, params![user, session], read_session_user).await
}

fn read_session_user(row: Columns<'_>) -> Result<SessionUser, DbError> {
    read_row! { row => SessionUser { tenant: optional_text("tenant_id"),
    status: text("status"), platform_admin: number("platform_admin"),
    tenant_status: optional_text("tenant_status"),
    session_status: optional_text("session_status") } }
}
