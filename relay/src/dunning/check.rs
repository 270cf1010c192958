//! The dunning check, as of a time: for each tenant with an invoice past its due date, the
//! invoices unpaid `overdue_after_days` after it are marked `overdue`, and the tenant moved
//! forward: `overdue` while its oldest overdue invoice is younger than `suspend_after_days`
//! more, `suspended` after. One transaction per tenant. `as_of` decides what is due; what the
//! check records (the moves, the notices, the boxes' RPCs) is stamped with the clock, so a
//! look ahead (`dipper-relay billing dunning --as-of`) leaves nothing dated in the future.

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use super::standing::{self, Level, Moved, SYSTEM};
use crate::db::{Db, DbError, Mode, Scope, now_ms};
use crate::store::invoices;
use crate::store::standing as stored;

/// What to check.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// As of when (the scheduler: now; an operator may look ahead).
    pub as_of: Timestamp,
    /// One tenant only.
    pub tenant: Option<Uuid>,
}

/// What a check did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckSummary {
    /// Tenants looked at.
    pub tenants: u64,
    /// Invoices marked overdue.
    pub invoices_overdue: u64,
    /// The tenants moved.
    pub moved: Vec<Moved>,
}

/// Runs the check.
pub async fn run(db: &Db, options: CheckOptions) -> Result<CheckSummary, DbError> {
    let as_of = options.as_of.as_millisecond();
    let candidates = match options.tenant {
        Some(tenant) => vec![tenant],
        None => {
            let mut tx = db.begin(Scope::Platform, Mode::Read).await?;
            let found = invoices::tenants_past_due(&mut tx, as_of).await?;
            tx.commit().await?;
            found
        }
    };
    let mut summary = CheckSummary::default();
    for tenant in candidates {
        summary.tenants += 1;
        let mut tx = db.begin(Scope::Tenant(tenant), Mode::Write).await?;
        let (overdue_after, suspend_after) = standing::thresholds(&mut tx, tenant).await?;
        let now = now_ms();
        let marked = invoices::mark_overdue(&mut tx, tenant, (as_of, overdue_after), now).await?;
        summary.invoices_overdue += marked.len() as u64;
        let overdue = invoices::overdue(&mut tx, tenant).await?;
        let Some(oldest) = overdue.first() else {
            tx.commit().await?;
            continue;
        };
        let suspend_at = oldest
            .due_at
            .saturating_add(overdue_after)
            .saturating_add(suspend_after);
        let to = if suspend_at <= as_of {
            Level::Suspended
        } else {
            Level::Overdue
        };
        let from = Level::parse(&stored::get(&mut tx, tenant).await?.standing);
        if to <= from {
            tx.commit().await?;
            continue;
        }
        let reason = match to {
            Level::Suspended => format!(
                "invoice {} unpaid {} days past its due date",
                oldest.number,
                (as_of - oldest.due_at) / 86_400_000
            ),
            _ => format!(
                "invoice {} unpaid past its due date and the {} days allowed",
                oldest.number,
                overdue_after / 86_400_000
            ),
        };
        let name = standing::tenant_name(&mut tx, tenant).await?;
        let facts = standing::facts(&name, &overdue, Some(suspend_at));
        let moved =
            standing::move_to(&mut tx, tenant, (from, to), (&reason, &facts), SYSTEM, now).await?;
        tx.commit().await?;
        summary.moved.push(moved);
    }
    Ok(summary)
}
