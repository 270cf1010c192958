//! Billing's meters: hourly counters added to in the transaction of what they count, their
//! daily rollup in each tenant's zone, the Idempotency-Keys of counted API calls, the days a
//! box was seen, and each tenant's billing settings (docs/design/0080-billing.md).

use uuid::Uuid;

use super::{Columns, execute, fetch_all};
use crate::db::{DbError, Tx};

/// A tenant's billing settings, as stored (the defaults when it has no row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingSettings {
    pub time_zone: String,
    pub device_day_basis: String,
    /// Days after its issue an invoice is due.
    pub payment_days: i32,
    /// Days an invoice may stay unpaid past its due date before the tenant is `overdue`.
    pub overdue_after_days: i32,
    /// Days after that before it is `suspended`.
    pub suspend_after_days: i32,
    /// Minutes a box may be offline before it is notified; 0: never.
    pub box_offline_minutes: i32,
}

impl Default for BillingSettings {
    fn default() -> Self {
        BillingSettings {
            time_zone: billing::DEFAULT_TIME_ZONE.to_owned(),
            device_day_basis: "seen_online".to_owned(),
            payment_days: 15,
            overdue_after_days: 7,
            suspend_after_days: 14,
            box_offline_minutes: 60,
        }
    }
}

/// The billing settings of `tenant`.
pub async fn settings(tx: &mut Tx, tenant: Uuid) -> Result<BillingSettings, DbError> {
    let sql = "SELECT time_zone, device_day_basis, payment_days, overdue_after_days, \
               suspend_after_days, box_offline_minutes FROM tenant_billing WHERE tenant_id = $1";
    let found = fetch_all(tx, sql, params![tenant], |row| {
        Ok(BillingSettings {
            time_zone: row.text("time_zone")?,
            device_day_basis: row.text("device_day_basis")?,
            payment_days: row.number("payment_days")?,
            overdue_after_days: row.number("overdue_after_days")?,
            suspend_after_days: row.number("suspend_after_days")?,
            box_offline_minutes: row.number("box_offline_minutes")?,
        })
    })
    .await?;
    Ok(found.into_iter().next().unwrap_or_default())
}

/// Stores the billing settings of `tenant`.
pub async fn set_settings(
    tx: &mut Tx,
    tenant: Uuid,
    settings: &BillingSettings,
    now: i64,
) -> Result<(), DbError> {
    let sql = "INSERT INTO tenant_billing \
               (tenant_id, time_zone, device_day_basis, payment_days, overdue_after_days, \
               suspend_after_days, box_offline_minutes, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id) DO UPDATE SET \
               time_zone = excluded.time_zone, device_day_basis = excluded.device_day_basis, \
               payment_days = excluded.payment_days, \
               overdue_after_days = excluded.overdue_after_days, \
               suspend_after_days = excluded.suspend_after_days, \
               box_offline_minutes = excluded.box_offline_minutes, \
               updated_at = excluded.updated_at";
    let params = params![
        tenant,
        settings.time_zone.as_str(),
        settings.device_day_basis.as_str(),
        settings.payment_days,
        settings.overdue_after_days,
        settings.suspend_after_days,
        settings.box_offline_minutes,
        now
    ];
    execute(tx, sql, params).await?;
    Ok(())
}

/// Adds `quantity` to the counter of `tenant`'s `meter` and `class` for the UTC hour
/// starting at `hour_start` (ms).
pub async fn add(
    tx: &mut Tx,
    tenant: Uuid,
    hour_start: i64,
    (meter, class): (&str, &str),
    quantity: i64,
) -> Result<(), DbError> {
    if quantity == 0 {
        return Ok(());
    }
    let sql = "INSERT INTO meter_hours (tenant_id, hour_start, meter, class, quantity, pending) \
               VALUES ($1, $2, $3, $4, $5, $5) \
               ON CONFLICT (tenant_id, hour_start, meter, class) DO UPDATE SET \
               quantity = meter_hours.quantity + excluded.quantity, \
               pending = meter_hours.pending + excluded.pending";
    execute(tx, sql, params![tenant, hour_start, meter, class, quantity]).await?;
    Ok(())
}

/// Takes `key` for a counted API call of `tenant` until `expires_at`; false when a call with
/// it was counted before (and has not expired).
pub async fn claim_key(
    tx: &mut Tx,
    tenant: Uuid,
    key: &str,
    (now, expires_at): (i64, i64),
) -> Result<bool, DbError> {
    let sql = "DELETE FROM meter_keys WHERE tenant_id = $1 AND idempotency_key = $2 \
               AND expires_at <= $3";
    execute(tx, sql, params![tenant, key, now]).await?;
    let sql = "INSERT INTO meter_keys (tenant_id, idempotency_key, expires_at) \
               VALUES ($1, $2, $3) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING";
    Ok(execute(tx, sql, params![tenant, key, expires_at]).await? == 1)
}

/// Forgets the keys expired by `now`.
pub async fn forget_expired_keys(tx: &mut Tx, now: i64) -> Result<u64, DbError> {
    execute(
        tx,
        "DELETE FROM meter_keys WHERE expires_at <= $1",
        params![now],
    )
    .await
}

/// Records that `device` of `tenant` was seen on `local_date` (YYYY-MM-DD); false when it
/// was already.
pub async fn seen(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    local_date: &str,
) -> Result<bool, DbError> {
    let sql = "INSERT INTO device_days (tenant_id, device_id, local_date) VALUES ($1, $2, $3) \
               ON CONFLICT (tenant_id, device_id, local_date) DO NOTHING";
    Ok(execute(tx, sql, params![tenant, device, local_date]).await? == 1)
}

/// An hourly counter's part not yet rolled up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub hour_start: i64,
    pub meter: String,
    pub class: String,
    pub pending: i64,
}

/// The tenants with counters of hours before `before` (ms) not yet rolled up.
pub async fn tenants_pending(tx: &mut Tx, before: i64) -> Result<Vec<Uuid>, DbError> {
    let sql = "SELECT DISTINCT tenant_id FROM meter_hours WHERE pending > 0 AND hour_start < $1";
    fetch_all(tx, sql, params![before], |row| row.id("tenant_id")).await
}

/// Takes the parts of `tenant`'s counters of hours before `before` not yet rolled up: they
/// are no longer pending once the transaction commits, and a concurrent rollup waits for it
/// and then finds nothing to take.
pub async fn take_pending(tx: &mut Tx, tenant: Uuid, before: i64) -> Result<Vec<Pending>, DbError> {
    let sql = "UPDATE meter_hours SET last_rolled = pending, pending = 0 \
               WHERE tenant_id = $1 AND pending > 0 AND hour_start < $2 \
               RETURNING hour_start, meter, class, last_rolled";
    fetch_all(tx, sql, params![tenant, before], |row| {
        Ok(Pending {
            hour_start: row.number("hour_start")?,
            meter: row.text("meter")?,
            class: row.text("class")?,
            pending: row.number("last_rolled")?,
        })
    })
    .await
}

/// Adds `quantity` to `tenant`'s daily counter of `local_date`, `meter` and `class`.
pub async fn add_day(
    tx: &mut Tx,
    tenant: Uuid,
    local_date: &str,
    (meter, class): (&str, &str),
    quantity: i64,
) -> Result<(), DbError> {
    let sql = "INSERT INTO meter_days (tenant_id, local_date, meter, class, quantity) \
               VALUES ($1, $2, $3, $4, $5) \
               ON CONFLICT (tenant_id, local_date, meter, class) DO UPDATE SET \
               quantity = meter_days.quantity + excluded.quantity";
    execute(tx, sql, params![tenant, local_date, meter, class, quantity]).await?;
    Ok(())
}

/// Deletes the hourly counters, all rolled up, of hours before `before`.
pub async fn forget_hours(tx: &mut Tx, before: i64) -> Result<u64, DbError> {
    let sql = "DELETE FROM meter_hours WHERE pending = 0 AND hour_start < $1";
    execute(tx, sql, params![before]).await
}

/// One daily counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub local_date: String,
    pub meter: String,
    pub class: String,
    pub quantity: i64,
}

fn read_day(row: Columns<'_>) -> Result<Day, DbError> {
    Ok(Day {
        local_date: row.text("local_date")?,
        meter: row.text("meter")?,
        class: row.text("class")?,
        quantity: row.number("quantity")?,
    })
}

/// `tenant`'s daily counters from `first` to `last` (local dates, inclusive), by date.
pub async fn days(
    tx: &mut Tx,
    tenant: Uuid,
    (first, last): (&str, &str),
) -> Result<Vec<Day>, DbError> {
    let sql = "SELECT local_date, meter, class, quantity FROM meter_days \
               WHERE tenant_id = $1 AND local_date >= $2 AND local_date <= $3 \
               ORDER BY local_date, meter, class";
    fetch_all(tx, sql, params![tenant, first, last], read_day).await
}

/// How many of `tenant`'s boxes were seen on each date from `first` to `last`.
pub async fn devices_seen(
    tx: &mut Tx,
    tenant: Uuid,
    (first, last): (&str, &str),
) -> Result<Vec<(String, i64)>, DbError> {
    let sql = "SELECT local_date, COUNT(*) AS boxes FROM device_days \
               WHERE tenant_id = $1 AND local_date >= $2 AND local_date <= $3 \
               GROUP BY local_date ORDER BY local_date";
    fetch_all(tx, sql, params![tenant, first, last], |row| {
        Ok((row.text("local_date")?, row.number("boxes")?))
    })
    .await
}

/// The registration and decommissioning instants (ms) of `tenant`'s boxes registered before
/// `before` and not decommissioned before `after`: those a month from `after` to `before`
/// may bill on the 'registered' basis.
pub async fn registrations(
    tx: &mut Tx,
    tenant: Uuid,
    (after, before): (i64, i64),
) -> Result<Vec<(i64, Option<i64>)>, DbError> {
    let sql = "SELECT created_at, decommissioned_at FROM devices WHERE tenant_id = $1 \
               AND created_at < $3 AND (decommissioned_at IS NULL OR decommissioned_at >= $2)";
    fetch_all(tx, sql, params![tenant, after, before], |row| {
        Ok((row.number("created_at")?, row.number("decommissioned_at")?))
    })
    .await
}

/// The parts of `tenant`'s hourly counters from `from` to `to` (ms, `to` excluded) not yet
/// rolled up: `(hour start, meter, class, pending)`.
pub async fn pending_hours(
    tx: &mut Tx,
    tenant: Uuid,
    (from, to): (i64, i64),
) -> Result<Vec<Pending>, DbError> {
    let sql = "SELECT hour_start, meter, class, pending FROM meter_hours \
               WHERE tenant_id = $1 AND pending > 0 AND hour_start >= $2 AND hour_start < $3";
    fetch_all(tx, sql, params![tenant, from, to], |row| {
        Ok(Pending {
            hour_start: row.number("hour_start")?,
            meter: row.text("meter")?,
            class: row.text("class")?,
            pending: row.number("pending")?,
        })
    })
    .await
}
