//! The audit log's rows: written in the transaction of the change they record (see
//! [`crate::audit`]), read by a tenant's admins newest first.

use uuid::Uuid;

use super::{Columns, execute, fetch_all};
use crate::api::audit_log::AuditRecord;
use crate::db::{DbError, Tx, now_ms};

/// One audit record.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub tenant: Option<Uuid>,
    pub actor: &'a str,
    pub remote_addr: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    /// Why, when the action alone does not say.
    pub detail: Option<&'a str>,
}

pub async fn insert(tx: &mut Tx, entry: Entry<'_>) -> Result<(), DbError> {
    let sql = "INSERT INTO audit_log (id, tenant_id, actor, action, target, remote_addr, \
               outcome, created_at, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    let (id, e, now) = (Uuid::new_v4(), entry, now_ms());
    let p = params![
        id,
        e.tenant,
        e.actor,
        e.action,
        e.target,
        e.remote_addr,
        e.outcome,
        now,
        e.detail
    ];
    execute(tx, sql, p).await?;
    Ok(())
}

fn read(row: Columns<'_>) -> Result<AuditRecord, DbError> {
    read_row! { row => AuditRecord { id: id("id"), tenant_id: optional_id("tenant_id"),
    actor: text("actor"), action: text("action"), target: text("target"),
    remote_addr: text("remote_addr"), outcome: text("outcome"),
    detail: optional_text("detail"), created_at: time("created_at") } }
}

/// A page of `tenant`'s records, newest first.
pub async fn list(
    tx: &mut Tx,
    tenant: Uuid,
    (limit, offset): (i64, i64),
) -> Result<Vec<AuditRecord>, DbError> {
    let sql = "SELECT id, tenant_id, actor, action, target, remote_addr, outcome, detail, \
               created_at FROM audit_log WHERE tenant_id = $1 \
               ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3";
    fetch_all(tx, sql, params![tenant, limit, offset], read).await
}
