//! Refresh tokens (stored as SHA-256 digests), found by their digest in a platform-scoped
//! transaction: the token is what finds the tenant.

use sqlx::Row as _;
use uuid::Uuid;

use crate::db::{DbError, Tx, parse_id};

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

pub async fn by_digest(tx: &mut Tx, digest: &str) -> Result<Option<RefreshToken>, DbError> {
    let Some(row) = sqlx::query(
        "SELECT r.id, r.user_id, r.tenant_id, r.family_id, r.status, r.expires_at, \
         u.status AS user_status, t.status AS tenant_status \
         FROM refresh_tokens r JOIN users u ON u.id = r.user_id \
         LEFT JOIN tenants t ON t.id = r.tenant_id WHERE r.token_hash = $1",
    )
    .bind(digest.to_owned())
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    let get = |name: &str| row.try_get::<String, _>(name);
    Ok(Some(RefreshToken {
        id: get("id")?,
        family: get("family_id")?,
        user: parse_id(&get("user_id")?)?,
        tenant: row
            .try_get::<Option<String>, _>("tenant_id")?
            .as_deref()
            .map(parse_id)
            .transpose()?,
        status: get("status")?,
        expires_at: row.try_get("expires_at")?,
        user_status: get("user_status")?,
        tenant_status: row.try_get("tenant_status")?,
    }))
}

/// Marks the token used if it is still active; whether it was.
pub async fn take(tx: &mut Tx, id: &str) -> Result<bool, DbError> {
    let taken = sqlx::query(
        "UPDATE refresh_tokens SET status = 'used' WHERE id = $1 AND status = 'active'",
    )
    .bind(id.to_owned())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(taken == 1)
}
