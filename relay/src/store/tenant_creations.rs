//! The saga's records (platform-scoped): one row per tenant-creation request in
//! `tenant_creations`, keyed by its idempotency key, and the resources a tenant's creation
//! made outside its row in `tenant_resources`.

use uuid::Uuid;

use super::{Columns, execute, fetch_optional};
use crate::db::{DbError, Tx, now_ms};

/// What an earlier request with a key left.
#[derive(Debug)]
pub struct Creation {
    /// SHA-256 of the request's body, so a key reused for another request is refused.
    pub request_hash: String,
    pub tenant: Uuid,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub updated_at: i64,
}

fn read(row: Columns<'_>) -> Result<Creation, DbError> {
    read_row! { row => Creation { request_hash: text("request_hash"), tenant: id("tenant_id"),
    state: text("state"), updated_at: number("updated_at") } }
}

pub async fn find(tx: &mut Tx, key: &str) -> Result<Option<Creation>, DbError> {
    let sql = "SELECT request_hash, tenant_id, state, updated_at FROM tenant_creations \
               WHERE idempotency_key = $1";
    fetch_optional(tx, sql, params![key], read).await
}

/// Records the request keyed `key` as running for `tenant`; [`DbError::Constraint`] if
/// another request recorded the key first.
pub async fn insert(
    tx: &mut Tx,
    key: &str,
    request_hash: &str,
    tenant: Uuid,
    now: i64,
) -> Result<(), DbError> {
    let sql = "INSERT INTO tenant_creations (idempotency_key, request_hash, tenant_id, state, \
               created_at, updated_at) VALUES ($1, $2, $3, 'running', $4, $4)";
    execute(tx, sql, params![key, request_hash, tenant, now]).await?;
    Ok(())
}

/// Takes the creation keyed `key` over for `tenant`, only if it is still as `previous` left
/// it (its tenant and state); whether it was.
pub async fn take_over(
    tx: &mut Tx,
    key: &str,
    previous: &Creation,
    tenant: Uuid,
    now: i64,
) -> Result<bool, DbError> {
    let sql = "UPDATE tenant_creations SET tenant_id = $1, state = 'running', updated_at = $2 \
               WHERE idempotency_key = $3 AND tenant_id = $4 AND state = $5";
    let (was, state) = (previous.tenant, previous.state.as_str());
    Ok(execute(tx, sql, params![tenant, now, key, was, state]).await? == 1)
}

/// Sets the state of the creation keyed `key`: `done` or `failed`.
pub async fn set_state(tx: &mut Tx, key: &str, state: &str) -> Result<(), DbError> {
    let sql = "UPDATE tenant_creations SET state = $1, updated_at = $2 WHERE idempotency_key = $3";
    execute(tx, sql, params![state, now_ms(), key]).await?;
    Ok(())
}

/// Records the resource `kind` of `tenant` as `reference`, unless it is recorded already.
pub async fn insert_resource(
    tx: &mut Tx,
    tenant: Uuid,
    kind: &str,
    reference: String,
) -> Result<(), DbError> {
    let sql = "INSERT INTO tenant_resources (tenant_id, kind, reference, created_at) \
               VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, kind) DO NOTHING";
    execute(tx, sql, params![tenant, kind, reference, now_ms()]).await?;
    Ok(())
}

pub async fn delete_resource(tx: &mut Tx, tenant: Uuid, kind: &str) -> Result<(), DbError> {
    let sql = "DELETE FROM tenant_resources WHERE tenant_id = $1 AND kind = $2";
    execute(tx, sql, params![tenant, kind]).await?;
    Ok(())
}
