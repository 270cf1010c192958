//! Billing months and local dates in a tenant's time zone.
//!
//! Contract:
//! - A [`BillingMonth`] is a calendar month of the tenant's local calendar, written
//!   `YYYY-MM` (`2026-11`) in text, serde and the database.
//! - The month covers the half-open interval of instants `[start, end)`: from the first
//!   instant of its 1st day in the zone to the first instant of the next month's 1st day.
//!   Where midnight does not exist (a DST gap at 00:00), the day starts at the first instant
//!   after the gap; so consecutive months tile time with no gap and no overlap.
//! - Meters are kept per UTC hour. A metered hour belongs, whole, to the local date of its
//!   **start instant** ([`local_date_of_hour`]): in Asia/Kolkata (+05:30) the UTC hour
//!   18:00-19:00 starts at 23:30 local and counts on that date, though half of it falls on
//!   the next. Where a zone changes offset, a local date has 23 or 25 UTC hours (America/New_York
//!   in March and November); the date still gets exactly the hours that start within it.
//! - No clock is read: every instant and zone is passed in. Looking a zone up by name (which
//!   reads the system's tzdb) is the caller's business; a tenant without one is billed in
//!   [`DEFAULT_TIME_ZONE`].

use std::{fmt, str::FromStr};

use jiff::{Timestamp, ToSpan, civil::Date, tz::TimeZone};
use serde::{Deserialize, Serialize};

use crate::BillingError;

#[cfg(test)]
mod tests;

/// The IANA name of the zone a tenant is billed in when it has not chosen one.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// One calendar month of a tenant's local calendar (serde: `"2026-11"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BillingMonth {
    /// The month's 1st day; always a valid date with a year in range.
    first_day: Date,
}

impl BillingMonth {
    /// The earliest year a billing month may have (four digits, no leading zero).
    pub const MIN_YEAR: i16 = 1000;
    /// The latest year a billing month may have (its end, 1 January of the next year, must
    /// still be a date jiff can represent).
    pub const MAX_YEAR: i16 = 9998;

    /// The month `month` (1..=12) of `year`.
    pub fn new(year: i16, month: i8) -> Result<BillingMonth, BillingError> {
        let invalid = |reason| BillingError::InvalidMonth {
            input: format!("{year}-{month}"),
            reason,
        };
        if !(1..=12).contains(&month) {
            return Err(invalid("the month must be 01 to 12"));
        }
        if !(Self::MIN_YEAR..=Self::MAX_YEAR).contains(&year) {
            return Err(invalid("the year must be 1000 to 9998"));
        }
        let first_day = Date::new(year, month, 1).map_err(|_| invalid("not a date"))?;
        Ok(BillingMonth { first_day })
    }

    /// Reads `YYYY-MM`: four digits, a hyphen, two digits (`2026-11`); nothing else, no
    /// spaces, no day.
    pub fn parse(text: &str) -> Result<BillingMonth, BillingError> {
        let invalid = |reason| BillingError::InvalidMonth {
            input: text.to_owned(),
            reason,
        };
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 7
            && bytes[4] == b'-'
            && bytes[..4].iter().chain(&bytes[5..]).all(u8::is_ascii_digit);
        if !shape_ok {
            return Err(invalid("not of the form YYYY-MM"));
        }
        let digits = |range: std::ops::Range<usize>| {
            bytes[range]
                .iter()
                .fold(0i16, |value, digit| value * 10 + i16::from(digit - b'0'))
        };
        let month =
            i8::try_from(digits(5..7)).map_err(|_| invalid("the month must be 01 to 12"))?;
        BillingMonth::new(digits(0..4), month).map_err(|error| match error {
            BillingError::InvalidMonth { reason, .. } => invalid(reason),
            other => other,
        })
    }

    /// The month a local date falls in.
    pub fn of_date(date: Date) -> Result<BillingMonth, BillingError> {
        BillingMonth::new(date.year(), date.month())
    }

    /// The month an instant falls in, in the zone `tz`.
    pub fn containing(instant: Timestamp, tz: &TimeZone) -> Result<BillingMonth, BillingError> {
        BillingMonth::of_date(instant.to_zoned(tz.clone()).date())
    }

    /// The year, e.g. 2026.
    pub fn year(self) -> i16 {
        self.first_day.year()
    }

    /// The month of the year, 1..=12.
    pub fn month(self) -> i8 {
        self.first_day.month()
    }

    /// The 1st day of the month.
    pub fn first_day(self) -> Date {
        self.first_day
    }

    /// The last day of the month (the 28th to the 31st).
    pub fn last_day(self) -> Date {
        self.first_day.last_of_month()
    }

    /// How many days the month has: 28 (29 in a leap February) to 31.
    pub fn number_of_days(self) -> u8 {
        self.first_day.days_in_month().unsigned_abs()
    }

    /// The month's local dates, 1st to last, in order.
    pub fn dates(self) -> impl Iterator<Item = Date> {
        self.first_day
            .series(1.day())
            .take(usize::from(self.number_of_days()))
    }

    /// Whether `date` is one of the month's dates.
    pub fn contains(self, date: Date) -> bool {
        self.first_day <= date && date <= self.last_day()
    }

    /// The month before (December of the year before for January).
    pub fn previous(self) -> Result<BillingMonth, BillingError> {
        let day = self
            .first_day
            .yesterday()
            .map_err(|e| BillingError::time(format!("the month before {self}"), e))?;
        BillingMonth::of_date(day)
    }

    /// The month after (January of the next year for December).
    pub fn next(self) -> Result<BillingMonth, BillingError> {
        let day = self
            .last_day()
            .tomorrow()
            .map_err(|e| BillingError::time(format!("the month after {self}"), e))?;
        BillingMonth::of_date(day)
    }

    /// The first instant of the month in `tz` (the first instant of its 1st day).
    pub fn start(self, tz: &TimeZone) -> Result<Timestamp, BillingError> {
        self.first_day
            .to_zoned(tz.clone())
            .map(|zoned| zoned.timestamp())
            .map_err(|e| BillingError::time(format!("the start of {self} in {}", zone_name(tz)), e))
    }

    /// The end of the month in `tz`, exclusive: the first instant of the next month.
    pub fn end(self, tz: &TimeZone) -> Result<Timestamp, BillingError> {
        self.next()?.start(tz)
    }
}

/// The local date, in `tz`, that the metered UTC hour starting at `hour_start` belongs to:
/// the date of its start instant (see the module docs).
pub fn local_date_of_hour(hour_start: Timestamp, tz: &TimeZone) -> Date {
    hour_start.to_zoned(tz.clone()).date()
}

fn zone_name(tz: &TimeZone) -> &str {
    tz.iana_name().unwrap_or("a fixed-offset zone")
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

impl FromStr for BillingMonth {
    type Err = BillingError;

    fn from_str(text: &str) -> Result<BillingMonth, BillingError> {
        BillingMonth::parse(text)
    }
}

impl TryFrom<String> for BillingMonth {
    type Error = BillingError;

    fn try_from(text: String) -> Result<BillingMonth, BillingError> {
        BillingMonth::parse(&text)
    }
}

impl From<BillingMonth> for String {
    fn from(month: BillingMonth) -> String {
        month.to_string()
    }
}
