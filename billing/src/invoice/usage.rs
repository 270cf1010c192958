//! A month's metered usage: per local date and meter, a quantity in the meter's metered unit.

use std::collections::BTreeMap;

use jiff::{Timestamp, civil::Date, tz::TimeZone};

use crate::{BillingError, Meter, period::local_date_of_hour};

/// Usage per (local date, meter), in metered units (bytes, calls, camera-seconds, ...).
///
/// A quantity of 0 is the same as no usage. Dates are not checked here:
/// [`price_month`](crate::price_month) refuses any entry, even 0, on a date outside the
/// month it prices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthUsage {
    quantities: BTreeMap<(Date, Meter), u64>,
}

impl MonthUsage {
    /// No usage.
    pub fn new() -> MonthUsage {
        MonthUsage::default()
    }

    /// Adds `quantity` to what `meter` used on `date`; a total over `u64::MAX` is an error
    /// and leaves the usage unchanged.
    pub fn add(&mut self, date: Date, meter: Meter, quantity: u64) -> Result<(), BillingError> {
        let entry = self.quantities.entry((date, meter)).or_insert(0);
        *entry = entry
            .checked_add(quantity)
            .ok_or_else(|| BillingError::overflow(format!("usage of {meter} on {date}")))?;
        Ok(())
    }

    /// Adds the usage of one metered UTC hour to the local date (in `tz`) of its start
    /// instant, which must be the start of a UTC hour.
    pub fn add_hour(
        &mut self,
        hour_start: Timestamp,
        tz: &TimeZone,
        meter: Meter,
        quantity: u64,
    ) -> Result<(), BillingError> {
        if hour_start.as_second().rem_euclid(3600) != 0 || hour_start.subsec_nanosecond() != 0 {
            return Err(BillingError::NotAnHourStart {
                instant: hour_start,
            });
        }
        self.add(local_date_of_hour(hour_start, tz), meter, quantity)
    }

    /// What `meter` used on `date` (0 if nothing was recorded).
    pub fn get(&self, date: Date, meter: Meter) -> u64 {
        self.quantities.get(&(date, meter)).copied().unwrap_or(0)
    }

    /// Every recorded entry, by date then meter.
    pub fn iter(&self) -> impl Iterator<Item = (Date, Meter, u64)> + '_ {
        self.quantities
            .iter()
            .map(|(&(date, meter), &quantity)| (date, meter, quantity))
    }
}
