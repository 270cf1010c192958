//! The monthly run's scheduler: every relay instance with `billing.run_monthly` tries, every
//! `billing.check_every_seconds`, to take the database lease on the run (`job_leases`); the
//! one holding it closes each tenant's previous month once that month ended [`GRACE`] ago in
//! the tenant's zone, then runs the dunning check as of now (`crate::dunning`) and notices
//! the boxes offline too long. The lease outlives two checks, so its holder keeps it while alive and
//! another instance takes over when it dies. Were two instances ever to run at once, the
//! invoices' unique key still makes one invoice per tenant and month. Each check is counted
//! in `dipper_relay_billing_checks_total{outcome}` (`ran`, `standby`: another instance holds
//! the lease, `failed`), each invoice issued or failed in `dipper_relay_invoices_total`.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use super::run::{Outcome, RunOptions, run};
use crate::db::{Db, DbError, Mode, Scope};
use crate::dunning::check::CheckOptions;
use crate::dunning::standing;
use crate::store::leases;

/// The lease's name.
pub const LEASE: &str = "billing";
/// How long after a month ends (in the tenant's zone) it is closed: metered messages and API
/// calls of its last hour are in by then.
pub const GRACE: SignedDuration = SignedDuration::from_hours(1);

/// Takes part in the monthly run until `stop` resolves; `uplink` takes suspensions and
/// restorations to the boxes online.
pub async fn schedule(
    db: Db,
    uplink: Option<crate::uplink::Uplink>,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let holder = format!("relay-{}", Uuid::new_v4());
    let mut tick = tokio::time::interval(every);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let checked = check(&db, uplink.as_ref(), (&holder, every), Timestamp::now()).await;
                count_check(&checked);
                if let Err(error) = checked {
                    tracing::warn!(%error, "the monthly billing run failed; it is tried again at the next check");
                }
            }
            () = &mut stop => break,
        }
    }
}

/// Counts one check in `dipper_relay_billing_checks_total{outcome}`.
fn count_check(checked: &Result<bool, DbError>) {
    let outcome = match checked {
        Ok(true) => "ran",
        Ok(false) => "standby",
        Err(_) => "failed",
    };
    metrics::counter!("dipper_relay_billing_checks_total", "outcome" => outcome).increment(1);
}

/// Runs the months due at `now`, the dunning check and the offline notices if `holder`
/// holds (or takes) the lease; whether it did.
pub async fn check(
    db: &Db,
    uplink: Option<&crate::uplink::Uplink>,
    (holder, every): (&str, Duration),
    now: Timestamp,
) -> Result<bool, DbError> {
    let lease_ms = i64::try_from(every.as_millis().saturating_mul(3)).unwrap_or(i64::MAX);
    let now_ms = now.as_millisecond();
    let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
    let held = leases::take(
        &mut tx,
        LEASE,
        holder,
        (now_ms, now_ms.saturating_add(lease_ms)),
    )
    .await?;
    tx.commit().await?;
    if !held {
        return Ok(false);
    }
    let as_of = now.checked_sub(GRACE).unwrap_or(now);
    let summary = run(db, RunOptions::default(), as_of, |outcome| {
        let counted = match outcome.outcome {
            Outcome::Issued => Some("issued"),
            Outcome::Failed => Some("failed"),
            _ => None,
        };
        if let Some(counted) = counted {
            metrics::counter!("dipper_relay_invoices_total", "outcome" => counted).increment(1);
        }
        match outcome.outcome {
            Outcome::Issued => tracing::info!(
                tenant = %outcome.tenant_id,
                period = %outcome.period,
                number = outcome.number.as_deref().unwrap_or_default(),
                total_minor = outcome.total_minor.unwrap_or_default(),
                "invoice issued"
            ),
            Outcome::Failed => tracing::warn!(
                tenant = %outcome.tenant_id,
                period = %outcome.period,
                reason = outcome.reason.as_deref().unwrap_or_default(),
                "a tenant's month could not be invoiced"
            ),
            _ => {}
        }
    })
    .await?;
    if summary.issued > 0 || summary.failed > 0 {
        tracing::info!(?summary, "monthly billing run");
    }
    let options = CheckOptions {
        as_of: now,
        tenant: None,
    };
    let dunning = crate::dunning::check::run(db, options).await?;
    standing::tell_online(uplink, &dunning.moved).await;
    let offline = crate::dunning::offline::notice(db, now).await?;
    if offline > 0 {
        tracing::info!(boxes = offline, "boxes offline too long noticed");
    }
    Ok(true)
}
