//! Tenants' time zones and the instants metering works in: a UTC hour's start, and the local
//! date of an instant in a tenant's zone. Zones come from the IANA database compiled into
//! the relay (jiff's bundled copy), so a host's missing or older `tzdata` cannot move a
//! tenant's days.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// An hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// The zone named `name` (an IANA name such as `Asia/Shanghai`), or why not.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    jiff::tz::db()
        .get(name)
        .map_err(|_| format!("{name:?} is not an IANA time zone (such as Asia/Shanghai)"))
}

/// The zone named `name`, or the default zone when the name no longer resolves (logged):
/// what metering uses, which must not stop over a stored setting.
pub fn zone_or_default(name: &str) -> TimeZone {
    zone(name).unwrap_or_else(|error| {
        tracing::warn!(%error, "a tenant's stored time zone; using the default");
        zone(billing::DEFAULT_TIME_ZONE).unwrap_or(TimeZone::UTC)
    })
}

/// The start (ms) of the UTC hour holding `ms`.
pub fn hour_start(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// The local date of the instant `ms` in `zone` (stored as YYYY-MM-DD, its `Display`).
pub fn local_date(ms: i64, zone: &TimeZone) -> Date {
    let instant = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    instant.to_zoned(zone.clone()).date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_and_local_dates() {
        // 2026-11-30T16:30:00Z is 00:30 on 1 December in Shanghai (+08:00), still 30
        // November in New York (-05:00) and 22:00 on 30 November in Kolkata (+05:30).
        let ms = 1_796_056_200_000;
        assert_eq!(hour_start(ms), 1_796_054_400_000);
        assert_eq!(hour_start(-1), -HOUR_MS);
        let shanghai = zone("Asia/Shanghai").expect("zone");
        assert_eq!(local_date(ms, &shanghai).to_string(), "2026-12-01");
        let new_york = zone("America/New_York").expect("zone");
        assert_eq!(local_date(ms, &new_york).to_string(), "2026-11-30");
        let kolkata = zone("Asia/Kolkata").expect("zone");
        assert_eq!(local_date(ms, &kolkata).to_string(), "2026-11-30");
    }

    #[test]
    fn unknown_zones_are_named() {
        let error = zone("Mars/Olympus").expect_err("no such zone");
        assert!(error.contains("Mars/Olympus"), "{error}");
        assert_eq!(
            zone_or_default("Mars/Olympus"),
            zone("Asia/Shanghai").expect("zone")
        );
    }
}
