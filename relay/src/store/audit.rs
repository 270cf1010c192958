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

/// Which records a list keeps; `None` keeps all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// The actor, exactly.
    pub actor: Option<&'a str>,
    /// The action, or an action under it (`device` keeps `device.register`).
    pub action: Option<&'a str>,
    /// From this time on (Unix ms), and before this one.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// A page of `tenant`'s records that `filter` keeps, newest first.
pub async fn list(
    tx: &mut Tx,
    tenant: Uuid,
    filter: Filter<'_>,
    (limit, offset): (i64, i64),
) -> Result<Vec<AuditRecord>, DbError> {
    // The action's prefix is compared with `substr`, not LIKE, so `_` and `%` in it match
    // only themselves.
    let sql = "SELECT id, tenant_id, actor, action, target, remote_addr, outcome, detail, \
               created_at FROM audit_log WHERE tenant_id = $1 \
               AND ($2 IS NULL OR actor = $2) \
               AND ($3 IS NULL OR action = $3 OR substr(action, 1, length($3) + 1) = $3 || '.') \
               AND created_at >= $4 AND created_at < $5 \
               ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7";
    let f = filter;
    // No time bound is the widest one (a NULL integer would travel as text to PostgreSQL).
    let (since, until) = (f.since.unwrap_or(i64::MIN), f.until.unwrap_or(i64::MAX));
    let params = params![tenant, f.actor, f.action, since, until, limit, offset];
    fetch_all(tx, sql, params, read).await
}
