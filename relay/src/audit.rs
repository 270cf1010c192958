//! The audit log: who did what to which object, in which tenant, from where, and how it
//! ended.
//!
//! A successful change is recorded by [`record`] in the transaction that makes it, so the
//! two commit or vanish together. A refused or failed mutating request is recorded by
//! [`audited`] after its transaction rolled back, in the caller's own tenant (never in the
//! tenant whose id it tried), with the error code as the outcome.

use std::future::Future;

use uuid::Uuid;

use crate::auth::Principal;
use crate::db::{Db, DbError, Mode, Scope, Tx, now_ms};
use crate::error::ApiError;

/// One audit record.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub tenant: Option<Uuid>,
    pub actor: &'a str,
    pub remote_addr: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
}

/// Writes `entry` in `tx`.
pub async fn write(tx: &mut Tx, entry: Entry<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, actor, action, target, remote_addr, outcome, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(entry.tenant.map(|t| t.to_string()))
    .bind(entry.actor)
    .bind(entry.action)
    .bind(entry.target)
    .bind(entry.remote_addr)
    .bind(entry.outcome)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records `principal`'s successful `action` on `target` in `tenant`, in `tx`.
pub async fn record(
    tx: &mut Tx,
    principal: &Principal,
    tenant: Option<Uuid>,
    action: &str,
    target: &str,
) -> Result<(), DbError> {
    write(
        tx,
        Entry {
            tenant,
            actor: &principal.actor,
            remote_addr: &principal.remote_addr,
            action,
            target,
            outcome: "success",
        },
    )
    .await
}

/// Runs a mutating request's `work`; if it fails, records the failure in the caller's own
/// tenant. The work records its own success.
pub async fn audited<T>(
    db: &Db,
    principal: &Principal,
    action: &str,
    target: &str,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let result = work.await;
    if let Err(error) = &result {
        let outcome = format!("refused: {}", error.code().as_str());
        let tenant = principal.tenant_id;
        let scope = tenant.map_or(Scope::Platform, Scope::Tenant);
        let written = async {
            let mut tx = db.begin(scope, Mode::Write).await?;
            write(
                &mut tx,
                Entry {
                    tenant,
                    actor: &principal.actor,
                    remote_addr: &principal.remote_addr,
                    action,
                    target,
                    outcome: &outcome,
                },
            )
            .await?;
            tx.commit().await?;
            Ok::<(), DbError>(())
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, action, "could not record a refused request in the audit log");
        }
    }
    result
}
