//! Sessions: one per sign-in, the family of refresh tokens that renew it and the access
//! tokens they yield (which name it as `sid`). A session is active until it is revoked:
//! by logout, by the reuse of one of its refresh tokens, or for all of a user's sessions when
//! the user's password changes or the user is disabled. An access token of a revoked session
//! is refused at its next request (see [`super::Principal`]), not when it expires.

use uuid::Uuid;

use crate::db::{DbError, Tx, now_ms};

/// Starts a session for `user` and returns its id (the family of its refresh tokens).
pub async fn start(tx: &mut Tx, user: Uuid, tenant: Option<Uuid>) -> Result<Uuid, DbError> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO sessions (id, tenant_id, user_id, status, created_at) \
         VALUES ($1, $2, $3, 'active', $4)",
    )
    .bind(id.to_string())
    .bind(tenant.map(|t| t.to_string()))
    .bind(user.to_string())
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Revokes one session and every refresh token of it.
pub async fn revoke(tx: &mut Tx, session: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE sessions SET status = 'revoked', revoked_at = $1 \
         WHERE id = $2 AND status = 'active'",
    )
    .bind(now_ms())
    .bind(session)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = $1")
        .bind(session)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Revokes every session of `user` in `tenant`, and their refresh tokens.
pub async fn revoke_all_of_user(tx: &mut Tx, tenant: Uuid, user: Uuid) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE sessions SET status = 'revoked', revoked_at = $1 \
         WHERE tenant_id = $2 AND user_id = $3 AND status = 'active'",
    )
    .bind(now_ms())
    .bind(tenant.to_string())
    .bind(user.to_string())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET status = 'revoked' WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
