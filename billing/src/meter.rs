//! The meters a tenant is billed on, each with the unit it is metered in and the number of
//! metered units one price is for.
//!
//! | meter | metered unit | priced per | `units_per_price` |
//! |---|---|---|---|
//! | `device_days` | one box counted on one local date | device-day | 1 |
//! | `traffic_bytes` | byte | GB = 10^9 bytes (decimal, not GiB) | 1 000 000 000 |
//! | `api_calls` | API call | 1,000 calls | 1 000 |
//! | `searches` | search | search | 1 |
//! | `camera_hours` | camera-second searched | camera-hour | 3 600 |
//!
//! Camera-hours are metered in camera-seconds, so a search over 20 minutes of one camera
//! counts 1200 and is priced as a third of a camera-hour, not rounded to whole hours before
//! pricing. Free allowances and tier thresholds are in the metered unit (bytes,
//! calls, camera-seconds), not the priced one.
//!
//! A meter's name (`device_days`, ...) is its serde form and its name in the database; it
//! never changes.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// One billed meter (serde and database: its snake_case [`name`](Meter::name)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meter {
    /// Boxes: one unit per box counted on a local date.
    DeviceDays,
    /// Traffic through the relay, in bytes; priced per GB (10^9 bytes).
    TrafficBytes,
    /// Calls of the relay's API; priced per 1,000 calls.
    ApiCalls,
    /// Searches run; priced per search.
    Searches,
    /// Footage searched, in camera-seconds; priced per camera-hour (3600 camera-seconds).
    CameraHours,
}

impl Meter {
    /// Every meter, in invoice order.
    pub const ALL: [Meter; 5] = [
        Meter::DeviceDays,
        Meter::TrafficBytes,
        Meter::ApiCalls,
        Meter::Searches,
        Meter::CameraHours,
    ];

    /// The stable snake_case name: `device_days`, `traffic_bytes`, `api_calls`, `searches`,
    /// `camera_hours`.
    pub fn name(self) -> &'static str {
        match self {
            Meter::DeviceDays => "device_days",
            Meter::TrafficBytes => "traffic_bytes",
            Meter::ApiCalls => "api_calls",
            Meter::Searches => "searches",
            Meter::CameraHours => "camera_hours",
        }
    }

    /// How many metered units one unit price is for: 1, 10^9, 1000, 1, 3600.
    pub fn units_per_price(self) -> u64 {
        match self {
            Meter::DeviceDays | Meter::Searches => 1,
            Meter::TrafficBytes => 1_000_000_000,
            Meter::ApiCalls => 1_000,
            Meter::CameraHours => 3_600,
        }
    }

    /// The metered unit, for people: `device-day`, `byte`, `call`, `search`,
    /// `camera-second`.
    pub fn metered_unit(self) -> &'static str {
        match self {
            Meter::DeviceDays => "device-day",
            Meter::TrafficBytes => "byte",
            Meter::ApiCalls => "call",
            Meter::Searches => "search",
            Meter::CameraHours => "camera-second",
        }
    }

    /// The unit a price is for, for people: `device-day`, `GB`, `1000 calls`, `search`,
    /// `camera-hour`.
    pub fn pricing_unit(self) -> &'static str {
        match self {
            Meter::DeviceDays => "device-day",
            Meter::TrafficBytes => "GB",
            Meter::ApiCalls => "1000 calls",
            Meter::Searches => "search",
            Meter::CameraHours => "camera-hour",
        }
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Meter::ALL`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown meter {0:?} (known: device_days, traffic_bytes, api_calls, searches, camera_hours)"
)]
pub struct UnknownMeter(pub String);

impl FromStr for Meter {
    type Err = UnknownMeter;

    fn from_str(name: &str) -> Result<Meter, UnknownMeter> {
        Meter::ALL
            .into_iter()
            .find(|meter| meter.name() == name)
            .ok_or_else(|| UnknownMeter(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::Meter;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for meter in Meter::ALL {
            assert_eq!(meter.name().parse::<Meter>(), Ok(meter));
            let json = serde_json::to_string(&meter).expect("a meter serializes");
            assert_eq!(json, format!("\"{}\"", meter.name()));
            let back: Meter = serde_json::from_str(&json).expect("its name reads back");
            assert_eq!(back, meter);
        }
    }

    #[test]
    fn pricing_units_are_as_documented() {
        let units: Vec<u64> = Meter::ALL.iter().map(|m| m.units_per_price()).collect();
        assert_eq!(units, [1, 1_000_000_000, 1_000, 1, 3_600]);
    }

    #[test]
    fn unknown_names_are_refused_with_the_name() {
        let error = "gigabytes".parse::<Meter>().expect_err("not a meter");
        assert!(error.to_string().contains("\"gigabytes\""), "{error}");
        assert!(serde_json::from_str::<Meter>("\"DeviceDays\"").is_err());
    }
}
