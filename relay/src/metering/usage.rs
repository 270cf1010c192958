//! A tenant's usage of one month, per local date, meter and class, as the meters hold it
//! now: the daily rollups plus the hours not yet rolled up, and the device-days of the
//! tenant's basis. What the usage route shows and what the monthly run prices.

use std::collections::BTreeMap;

use billing::{BillingMonth, Meter, MonthUsage};
use jiff::civil::Date;
use uuid::Uuid;

use super::zones::{self, local_date};
use crate::db::{DbError, Tx};
use crate::store::meters as store;

/// One month of a tenant's usage.
#[derive(Debug, Clone)]
pub struct Usage {
    pub month: BillingMonth,
    pub time_zone: String,
    pub device_day_basis: String,
    /// By local date, then (meter, class): the quantity in the meter's metered unit.
    pub days: BTreeMap<Date, BTreeMap<(String, String), i64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Billing(#[from] billing::BillingError),
}

impl Usage {
    /// Each meter's total over the month, classes added.
    pub fn totals(&self) -> BTreeMap<String, i64> {
        let mut totals = BTreeMap::new();
        for meters in self.days.values() {
            for ((meter, _), quantity) in meters {
                *totals.entry(meter.clone()).or_default() += quantity;
            }
        }
        totals
    }

    /// The usage as `billing` prices it: per date and meter, classes added, from `from` on
    /// (the dates before are left out); meters the relay counts but `billing` does not know
    /// are left out.
    pub fn for_pricing(&self, from: Option<Date>) -> Result<MonthUsage, billing::BillingError> {
        let mut usage = MonthUsage::new();
        for (date, meters) in &self.days {
            if from.is_some_and(|from| *date < from) {
                continue;
            }
            for ((meter, _), quantity) in meters {
                let (Ok(meter), Ok(quantity)) = (meter.parse::<Meter>(), u64::try_from(*quantity))
                else {
                    continue;
                };
                usage.add(*date, meter, quantity)?;
            }
        }
        Ok(usage)
    }

    fn add(&mut self, date: Date, (meter, class): (&str, &str), quantity: i64) {
        *self
            .days
            .entry(date)
            .or_default()
            .entry((meter.to_owned(), class.to_owned()))
            .or_default() += quantity;
    }
}

/// `tenant`'s usage in `month`, in the tenant's zone.
pub async fn month(tx: &mut Tx, tenant: Uuid, month: BillingMonth) -> Result<Usage, UsageError> {
    let settings = store::settings(tx, tenant).await?;
    let zone = zones::zone_or_default(&settings.time_zone);
    let (start, end) = (month.start(&zone)?, month.end(&zone)?);
    let (start_ms, end_ms) = (start.as_millisecond(), end.as_millisecond());
    let (first, last) = (month.first_day().to_string(), month.last_day().to_string());
    let mut usage = Usage {
        month,
        time_zone: settings.time_zone.clone(),
        device_day_basis: settings.device_day_basis.clone(),
        days: BTreeMap::new(),
    };
    for day in store::days(tx, tenant, (&first, &last)).await? {
        if let Ok(date) = day.local_date.parse::<Date>() {
            usage.add(date, (&day.meter, &day.class), day.quantity);
        }
    }
    for hour in store::pending_hours(tx, tenant, (start_ms, end_ms)).await? {
        let date = local_date(hour.hour_start, &zone);
        usage.add(date, (&hour.meter, &hour.class), hour.pending);
    }
    let device_days = Meter::DeviceDays.name();
    if settings.device_day_basis == "registered" {
        for (registered, decommissioned) in
            store::registrations(tx, tenant, (start_ms, end_ms)).await?
        {
            let from = local_date(registered.max(start_ms), &zone);
            let to = local_date(decommissioned.unwrap_or(end_ms - 1).min(end_ms - 1), &zone);
            let mut date = from;
            while date <= to {
                usage.add(date, (device_days, ""), 1);
                date = match date.tomorrow() {
                    Ok(next) => next,
                    Err(_) => break,
                };
            }
        }
    } else {
        for (date, boxes) in store::devices_seen(tx, tenant, (&first, &last)).await? {
            if let Ok(date) = date.parse::<Date>() {
                usage.add(date, (device_days, ""), boxes);
            }
        }
    }
    Ok(usage)
}
