//! Rolls finished hours up into days of each tenant's zone: the pending part of every hourly
//! counter of an hour that ended [`GRACE`] ago is added to its local date's counter, in one
//! transaction per tenant, exactly once (`store::meters::take_pending`). Hourly counters are
//! kept [`KEEP_HOURS_DAYS`] days, then deleted; expired Idempotency-Keys are forgotten.

use std::collections::BTreeMap;

use crate::db::{Db, DbError, Mode, Scope};
use crate::store::meters as store;

use super::zones;

/// How long after its end an hour is rolled up: longer than any transaction that counts
/// into it may take to commit. One that commits later still counts, at the next rollup.
pub const GRACE_MS: i64 = 10 * 60_000;
/// How long hourly counters are kept after their hour.
pub const KEEP_HOURS_DAYS: i64 = 62;

/// What one rollup did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RolledUp {
    pub tenants: usize,
    pub hours: usize,
}

/// Rolls up every tenant's hours that ended [`GRACE_MS`] before `now` (ms).
pub async fn roll_up(db: &Db, now: i64) -> Result<RolledUp, DbError> {
    roll_up_before(db, zones::hour_start(now - GRACE_MS)).await
}

/// Rolls up every tenant's hours starting before `before` (ms), then forgets old hours and
/// expired keys.
pub async fn roll_up_before(db: &Db, before: i64) -> Result<RolledUp, DbError> {
    let mut tx = db.begin(Scope::Platform, Mode::Read).await?;
    let tenants = store::tenants_pending(&mut tx, before).await?;
    tx.commit().await?;
    let mut done = RolledUp::default();
    for tenant in tenants {
        let mut tx = db.begin(Scope::Tenant(tenant), Mode::Write).await?;
        let settings = store::settings(&mut tx, tenant).await?;
        let zone = zones::zone_or_default(&settings.time_zone);
        let pending = store::take_pending(&mut tx, tenant, before).await?;
        let mut days: BTreeMap<(String, &str, &str), i64> = BTreeMap::new();
        for hour in &pending {
            let date = zones::local_date(hour.hour_start, &zone).to_string();
            *days
                .entry((date, hour.meter.as_str(), hour.class.as_str()))
                .or_default() += hour.pending;
        }
        for ((date, meter, class), quantity) in days {
            store::add_day(&mut tx, tenant, &date, (meter, class), quantity).await?;
        }
        tx.commit().await?;
        done.tenants += 1;
        done.hours += pending.len();
    }
    let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
    let keep_from = before - KEEP_HOURS_DAYS * 24 * zones::HOUR_MS;
    store::forget_hours(&mut tx, keep_from).await?;
    store::forget_expired_keys(&mut tx, before).await?;
    tx.commit().await?;
    Ok(done)
}
