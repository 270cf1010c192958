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
use crate::db::{Db, DbError, Mode, Scope, Tx};
use crate::error::ApiError;

pub use crate::store::audit::Entry;

/// Writes `entry` in `tx`.
pub async fn write(tx: &mut Tx, entry: Entry<'_>) -> Result<(), DbError> {
    crate::store::audit::insert(tx, entry).await
}

/// Records an `action` of `actor` on itself (a sign-in, a box's activation) from
/// `remote_addr` in `tenant`, in `tx`.
pub async fn own(
    tx: &mut Tx,
    (actor, remote_addr): (&str, &str),
    tenant: Option<Uuid>,
    action: &str,
    outcome: &str,
) -> Result<(), DbError> {
    let target = actor;
    let entry = Entry {
        tenant,
        actor,
        remote_addr,
        action,
        target,
        outcome,
        detail: None,
    };
    write(tx, entry).await
}

/// Records `principal`'s successful `action` on `target` in `tenant`, in `tx`.
pub async fn record(
    tx: &mut Tx,
    principal: &Principal,
    tenant: Option<Uuid>,
    action: &str,
    target: &str,
) -> Result<(), DbError> {
    write(tx, success(principal, tenant, action, target)).await
}

/// Records `principal`'s successful `action` on `target` in `tenant` and commits `tx`: the
/// change and its record land together.
pub async fn commit(
    mut tx: Tx,
    principal: &Principal,
    tenant: Option<Uuid>,
    action: &str,
    target: &str,
) -> Result<(), DbError> {
    record(&mut tx, principal, tenant, action, target).await?;
    Ok(tx.commit().await?)
}

/// The record of `principal`'s successful `action` on `target` in `tenant`.
fn success<'a>(
    principal: &'a Principal,
    tenant: Option<Uuid>,
    action: &'a str,
    target: &'a str,
) -> Entry<'a> {
    Entry {
        tenant,
        actor: &principal.actor,
        remote_addr: &principal.remote_addr,
        action,
        target,
        outcome: "success",
        detail: None,
    }
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
            let entry = Entry {
                outcome: &outcome,
                ..success(principal, tenant, action, target)
            };
            write(&mut tx, entry).await?;
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
