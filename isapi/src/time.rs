//! Device wall-clock time.
//!
//! Hikvision devices record and search in their local wall clock. Search results carry
//! times like `2026-11-24T10:00:00Z` whose `Z` is not to be believed on most firmware: the
//! time is local. [`DeviceZone`] is read from `/ISAPI/System/time` and converts between the
//! device's wall clock and real instants ([`jiff::Timestamp`]), daylight saving included.

use jiff::{Timestamp, civil::DateTime, tz::TimeZone};

use crate::xml::DeviceTime;

/// A device's time zone, read from its `timeZone` (POSIX style) or `localTime` offset.
#[derive(Debug, Clone)]
pub struct DeviceZone {
    zone: TimeZone,
}

impl DeviceZone {
    pub fn utc() -> Self {
        DeviceZone {
            zone: TimeZone::UTC,
        }
    }

    /// A zone from a Hikvision `timeZone` string such as `CST-8:00:00` or
    /// `CET-1:00:00DST01:00:00,M3.5.0/02:00:00,M10.5.0/03:00:00`.
    ///
    /// Hikvision writes the daylight part as the *amount* of the shift (`DST01:00:00`)
    /// where POSIX wants the daylight offset itself; this is converted.
    pub fn from_hikvision_tz(tz: &str) -> Result<Self, String> {
        let posix = hikvision_tz_to_posix(tz)?;
        let zone = TimeZone::posix(&posix).map_err(|e| format!("time zone {tz:?}: {e}"))?;
        Ok(DeviceZone { zone })
    }

    /// The zone of a device from its `/ISAPI/System/time` document: `timeZone` when it can
    /// be read, else the fixed offset of `localTime`.
    pub fn from_device_time(time: &DeviceTime) -> Result<Self, String> {
        if let Some(Ok(zone)) = time
            .time_zone
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|tz| Self::from_hikvision_tz(tz.trim()))
        {
            return Ok(zone);
        }
        let local = time.local_time.trim();
        let fixed = (|| {
            let instant: Timestamp = local.parse().ok()?;
            let wall = parse_wall_clock(local).ok()?;
            let seconds = wall
                .to_zoned(TimeZone::UTC)
                .ok()?
                .timestamp()
                .as_second()
                .checked_sub(instant.as_second())?;
            let offset = jiff::tz::Offset::from_seconds(i32::try_from(seconds).ok()?).ok()?;
            Some(TimeZone::fixed(offset))
        })();
        let zone = fixed.ok_or_else(|| {
            format!(
                "cannot tell the device's time zone: timeZone {:?}, localTime {local:?}",
                time.time_zone
            )
        })?;
        Ok(DeviceZone { zone })
    }

    /// The instant of a device wall-clock time (the earlier one when a DST change repeats it).
    pub fn to_timestamp(&self, local: DateTime) -> Result<Timestamp, String> {
        self.zone
            .to_ambiguous_timestamp(local)
            .compatible()
            .map_err(|e| format!("device time {local}: {e}"))
    }

    /// The device wall-clock time of an instant.
    pub fn to_local(&self, ts: Timestamp) -> DateTime {
        self.zone.to_datetime(ts)
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.zone
    }
}

/// Rewrites a Hikvision time zone into a POSIX TZ string.
fn hikvision_tz_to_posix(tz: &str) -> Result<String, String> {
    let bad = || format!("unreadable time zone {tz:?}");
    let (head, rules) = match tz.split_once(',') {
        Some((head, rules)) => (head, Some(rules)),
        None => (tz, None),
    };
    let name_end = head
        .find(|c: char| c == '+' || c == '-' || c.is_ascii_digit())
        .ok_or_else(bad)?;
    let std_name = &head[..name_end];
    let rest = &head[name_end..];
    let offset_end = rest
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let std_offset = parse_posix_offset(&rest[..offset_end]).ok_or_else(bad)?;
    let dst = &rest[offset_end..];
    let std_name = if std_name.len() >= 3 {
        std_name.to_owned()
    } else {
        format!("<{}>", posix_offset_name(std_offset))
    };
    if dst.is_empty() {
        return Ok(format!("{std_name}{}", format_posix_offset(std_offset)));
    }
    let dst_name_end = dst
        .find(|c: char| c == '+' || c == '-' || c.is_ascii_digit())
        .unwrap_or(dst.len());
    let dst_name = &dst[..dst_name_end];
    let shift = if dst_name_end == dst.len() {
        3600
    } else {
        parse_posix_offset(&dst[dst_name_end..]).ok_or_else(bad)?
    };
    let rules = rules.ok_or_else(bad)?;
    let dst_name = if dst_name.len() >= 3 {
        dst_name.to_owned()
    } else {
        "<DST>".to_owned()
    };
    Ok(format!(
        "{std_name}{}{dst_name}{},{rules}",
        format_posix_offset(std_offset),
        format_posix_offset(std_offset - shift)
    ))
}

/// `-8:00:00` -> -28800 (POSIX sign: west of UTC is positive).
fn parse_posix_offset(s: &str) -> Option<i32> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let mut seconds = 0;
    let mut parts = digits.split(':');
    for (i, unit) in [3600, 60, 1].into_iter().enumerate() {
        match parts.next() {
            Some(p) if !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
                seconds += p.parse::<i32>().ok()? * unit;
            }
            None if i > 0 => break,
            _ => return None,
        }
    }
    if parts.next().is_some() || seconds > 25 * 3600 {
        return None;
    }
    Some(sign * seconds)
}

fn format_posix_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.abs();
    format!("{sign}{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn posix_offset_name(seconds: i32) -> String {
    // POSIX offsets are west-positive; a name like <+08> is east-positive.
    let east = -seconds;
    let sign = if east < 0 { '-' } else { '+' };
    format!("{sign}{:02}{:02}", east.abs() / 3600, east.abs() / 60 % 60)
}

/// Parses an ISAPI time (`2026-11-24T10:00:00Z`, `...+08:00`, `2026-11-24 10:00:00`) as the
/// device's wall clock, ignoring any offset or `Z` the device wrote.
pub fn parse_wall_clock(s: &str) -> Result<DateTime, String> {
    let s = s.trim();
    let bad = || format!("unreadable device time {s:?}");
    let body = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix('z'))
        .unwrap_or(s);
    let body = match body.get(19..) {
        Some(tail) if tail.starts_with('+') || tail.starts_with('-') => &body[..19],
        _ => body,
    };
    let body = body.replacen(' ', "T", 1);
    body.parse::<DateTime>().map_err(|_| bad())
}

/// Formats a wall-clock time as devices expect it in a search (`2026-11-24T10:00:00Z`).
pub fn format_wall_clock(dt: DateTime) -> String {
    dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Formats a wall-clock time as a playback URI carries it (`20261124T100000Z`).
pub fn format_uri_time(dt: DateTime) -> String {
    dt.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Parses a playback URI time as wall clock, in either spelling devices write:
/// `20261124T100000Z` (most firmware) or `2026-11-24T10:00:00Z` (seen on others), percent-
/// encoded or not. Like [`parse_wall_clock`], any `Z` or offset is ignored.
pub fn parse_uri_time(s: &str) -> Result<DateTime, String> {
    let decoded = percent_encoding::percent_decode_str(s.trim()).decode_utf8_lossy();
    let text = decoded.trim();
    let bad = || format!("unreadable URI time {s:?}");
    if text.contains(['-', ':']) {
        // ISO 8601, with the time of day (a bare date is not a recording's start).
        if !text.contains(':') {
            return Err(bad());
        }
        return parse_wall_clock(text).map_err(|_| bad());
    }
    let body = text.trim_end_matches(['Z', 'z']);
    DateTime::strptime("%Y%m%dT%H%M%S", body).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn utc_of(tz: &str, local: DateTime) -> String {
        DeviceZone::from_hikvision_tz(tz)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_timestamp(local)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_string()
    }

    #[test]
    fn hikvision_zones_convert_to_utc() {
        let noon = date(2026, 1, 15).at(12, 0, 0, 0);
        assert_eq!(utc_of("CST-8:00:00", noon), "2026-01-15T04:00:00Z");
        assert_eq!(utc_of("EST+5:00:00", noon), "2026-01-15T17:00:00Z");
        assert_eq!(utc_of("IST-5:30:00", noon), "2026-01-15T06:30:00Z");
        assert_eq!(utc_of("UTC+00:00:00", noon), "2026-01-15T12:00:00Z");
        // Daylight saving, written as Hikvision does (shift, not offset).
        let dst = "CET-1:00:00DST01:00:00,M3.5.0/02:00:00,M10.5.0/03:00:00";
        assert_eq!(utc_of(dst, noon), "2026-01-15T11:00:00Z");
        assert_eq!(
            utc_of(dst, date(2026, 7, 15).at(12, 0, 0, 0)),
            "2026-07-15T10:00:00Z"
        );
    }

    #[test]
    fn unreadable_zones_are_errors() {
        for tz in ["", "CST", "CST-99:00:00", "CST-8:00:00DST01:00:00", "-8:xx"] {
            assert!(
                DeviceZone::from_hikvision_tz(tz).is_err(),
                "{tz:?} should be rejected"
            );
        }
    }

    #[test]
    fn local_time_offset_is_the_fallback() {
        let time = DeviceTime {
            local_time: "2026-11-25T20:00:00+08:00".to_owned(),
            time_zone: Some("garbage".to_owned()),
            ..Default::default()
        };
        let zone = DeviceZone::from_device_time(&time).unwrap_or_else(|e| panic!("{e}"));
        let ts = zone
            .to_timestamp(date(2026, 11, 25).at(20, 0, 0, 0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ts.to_string(), "2026-11-25T12:00:00Z");
    }

    #[test]
    fn wall_clock_ignores_the_lying_z() {
        let want = date(2026, 11, 24).at(10, 0, 0, 0);
        for s in [
            "2026-11-24T10:00:00Z",
            "2026-11-24T10:00:00+08:00",
            "2026-11-24 10:00:00",
            " 2026-11-24T10:00:00 ",
        ] {
            assert_eq!(parse_wall_clock(s), Ok(want), "{s}");
        }
        assert!(parse_wall_clock("yesterday").is_err());
        assert_eq!(format_wall_clock(want), "2026-11-24T10:00:00Z");
        assert_eq!(format_uri_time(want), "20261124T100000Z");
        assert_eq!(parse_uri_time("20261124T100000Z"), Ok(want));
    }

    #[test]
    fn uri_times_in_both_spellings() {
        let want = date(2022, 12, 6).at(8, 51, 13, 0);
        for s in [
            "20221206T085113Z",
            "20221206T085113",
            "2022-12-06T08:51:13Z",
            "2022-12-06T08:51:13+08:00",
            "2022-12-06T08%3A51%3A13Z",
            " 2022-12-06 08:51:13 ",
        ] {
            assert_eq!(parse_uri_time(s), Ok(want), "{s}");
        }
        for s in [
            "",
            "2022-12-06",
            "20221206",
            "2022-13-06T08:51:13Z",
            "yesterday",
        ] {
            assert!(parse_uri_time(s).is_err(), "{s:?} should be refused");
        }
    }
}
