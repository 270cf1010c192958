//! Billing months: text, calendar arithmetic, and their instants in real zones (DST,
//! half-hour offsets).

use std::collections::BTreeMap;

use jiff::{Timestamp, ToSpan, civil::Date, civil::date, tz::TimeZone};

use crate::{BillingError, BillingMonth, local_date_of_hour};

pub(crate) fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or_else(|e| panic!("the system tzdb has {name}: {e}"))
}

pub(crate) fn month(text: &str) -> BillingMonth {
    BillingMonth::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn instant(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn months_read_and_write_as_yyyy_mm() {
    let november = month("2026-11");
    assert_eq!((november.year(), november.month()), (2026, 11));
    assert_eq!(november.to_string(), "2026-11");
    assert_eq!(
        "2027-02".parse::<BillingMonth>(),
        BillingMonth::new(2027, 2)
    );
    assert_eq!(month("1000-01").to_string(), "1000-01");
    assert_eq!(month("9998-12").to_string(), "9998-12");
}

#[test]
fn malformed_months_are_refused_with_the_reason() {
    let shape = "not of the form YYYY-MM";
    for (text, reason) in [
        ("2026-13", "the month must be 01 to 12"),
        ("2026-00", "the month must be 01 to 12"),
        ("26-11", shape),
        ("2026-1", shape),
        ("2026/11", shape),
        ("2026-11-01", shape),
        (" 2026-11", shape),
        ("2026-11 ", shape),
        ("+026-11", shape),
        ("2026--1", shape),
        ("abcd-ef", shape),
        ("２０２６-11", shape),
        ("", shape),
        ("0999-12", "the year must be 1000 to 9998"),
        ("9999-01", "the year must be 1000 to 9998"),
    ] {
        assert_eq!(
            BillingMonth::parse(text),
            Err(BillingError::InvalidMonth {
                input: text.to_owned(),
                reason
            }),
            "{text:?}"
        );
    }
    let message = BillingMonth::parse("2026-13")
        .expect_err("no 13th month")
        .to_string();
    assert_eq!(
        message,
        "invalid billing month \"2026-13\": the month must be 01 to 12 (expected YYYY-MM, e.g. 2026-11)"
    );
    assert!(BillingMonth::new(2026, 13).is_err());
    assert!(BillingMonth::new(2026, 0).is_err());
    assert!(BillingMonth::new(999, 5).is_err());
}

#[test]
fn serde_is_the_text_form() {
    let text = serde_json::to_string(&month("2026-11")).expect("serializes");
    assert_eq!(text, "\"2026-11\"");
    assert_eq!(
        serde_json::from_str::<BillingMonth>(&text).expect("reads back"),
        month("2026-11")
    );
    let error = serde_json::from_str::<BillingMonth>("\"2026-13\"").expect_err("no 13th month");
    assert!(error.to_string().contains("01 to 12"), "{error}");
}

#[test]
fn days_of_the_month_follow_the_calendar_and_leap_years() {
    for (text, days) in [
        ("2026-11", 30),
        ("2026-12", 31),
        ("2027-02", 28),
        ("2028-02", 29),
        ("2100-02", 28), // divisible by 100, not by 400
        ("2000-02", 29), // divisible by 400
    ] {
        let m = month(text);
        assert_eq!(m.number_of_days(), days, "{text}");
        let dates: Vec<Date> = m.dates().collect();
        assert_eq!(dates.len(), usize::from(days), "{text}");
        assert_eq!(dates[0], m.first_day());
        assert_eq!(dates[dates.len() - 1], m.last_day());
        assert!(dates.windows(2).all(|w| w[0].tomorrow().ok() == Some(w[1])));
        assert!(dates.iter().all(|&d| m.contains(d)));
        assert!(!m.contains(m.first_day().yesterday().expect("a day before")));
        assert!(!m.contains(m.last_day().tomorrow().expect("a day after")));
    }
    assert_eq!(month("2028-02").last_day(), date(2028, 2, 29));
}

#[test]
fn previous_and_next_cross_years_and_stop_at_the_ends() {
    assert_eq!(month("2027-01").previous(), Ok(month("2026-12")));
    assert_eq!(month("2026-12").next(), Ok(month("2027-01")));
    assert_eq!(month("2028-03").previous(), Ok(month("2028-02")));
    assert!(matches!(
        month("1000-01").previous(),
        Err(BillingError::InvalidMonth { .. })
    ));
    assert!(matches!(
        month("9998-12").next(),
        Err(BillingError::InvalidMonth { .. })
    ));
}

#[test]
fn month_instants_in_zones_with_whole_half_and_changing_offsets() {
    // (zone, month, start, end, hours): the start and end are local midnights.
    for (name, text, start, end, hours) in [
        // UTC+8 all year: 30 × 24 hours.
        (
            "Asia/Shanghai",
            "2026-11",
            "2026-10-31T16:00:00Z",
            "2026-11-30T16:00:00Z",
            720,
        ),
        (
            "UTC",
            "2026-11",
            "2026-11-01T00:00:00Z",
            "2026-12-01T00:00:00Z",
            720,
        ),
        // UTC+05:30.
        (
            "Asia/Kolkata",
            "2026-11",
            "2026-10-31T18:30:00Z",
            "2026-11-30T18:30:00Z",
            720,
        ),
        // EDT (-4) ends on 1 November 2026 at 02:00: 30 × 24 + 1 hours.
        (
            "America/New_York",
            "2026-11",
            "2026-11-01T04:00:00Z",
            "2026-12-01T05:00:00Z",
            721,
        ),
        // EDT starts on 14 March 2027 at 02:00: 31 × 24 - 1 hours.
        (
            "America/New_York",
            "2027-03",
            "2027-03-01T05:00:00Z",
            "2027-04-01T04:00:00Z",
            743,
        ),
        // 28 and 29 days.
        (
            "Asia/Shanghai",
            "2027-02",
            "2027-01-31T16:00:00Z",
            "2027-02-28T16:00:00Z",
            672,
        ),
        (
            "Asia/Shanghai",
            "2028-02",
            "2028-01-31T16:00:00Z",
            "2028-02-29T16:00:00Z",
            696,
        ),
    ] {
        let (tz, m) = (zone(name), month(text));
        let (actual_start, actual_end) =
            (m.start(&tz).expect("a start"), m.end(&tz).expect("an end"));
        assert_eq!(
            (actual_start, actual_end),
            (instant(start), instant(end)),
            "{name} {text}"
        );
        let length = actual_end.duration_since(actual_start);
        assert_eq!(length.as_hours(), hours, "{name} {text}");
        assert_eq!(m.next().expect("a next month").start(&tz), Ok(actual_end));
        assert_eq!(BillingMonth::containing(actual_start, &tz), Ok(m));
        let last_instant = actual_end - 1.nanosecond();
        assert_eq!(BillingMonth::containing(last_instant, &tz), Ok(m));
        assert_eq!(BillingMonth::containing(actual_end, &tz), m.next());
    }
}

#[test]
fn an_hour_belongs_to_the_local_date_of_its_start() {
    for (name, hour_start, expected) in [
        ("Asia/Shanghai", "2026-10-31T15:00:00Z", date(2026, 10, 31)), // 23:00 local
        ("Asia/Shanghai", "2026-10-31T16:00:00Z", date(2026, 11, 1)),  // 00:00 local
        ("UTC", "2026-11-30T23:00:00Z", date(2026, 11, 30)),
        // Starts at 23:30 local: half of it is on 1 December, but it counts on 30 November.
        ("Asia/Kolkata", "2026-11-30T18:00:00Z", date(2026, 11, 30)),
        ("Asia/Kolkata", "2026-11-30T19:00:00Z", date(2026, 12, 1)), // 00:30 local
        // 01:00 EST, the repeated hour of 1 November 2026 (the first 01:00 was EDT).
        (
            "America/New_York",
            "2026-11-01T06:00:00Z",
            date(2026, 11, 1),
        ),
        (
            "America/New_York",
            "2026-11-02T04:00:00Z",
            date(2026, 11, 1),
        ), // 23:00 EST
    ] {
        assert_eq!(
            local_date_of_hour(instant(hour_start), &zone(name)),
            expected,
            "{name} {hour_start}"
        );
    }
}

/// How many UTC hours of `text`'s month start on each of its local dates in `name`.
fn hours_per_date(name: &str, text: &str) -> BTreeMap<Date, u32> {
    let (tz, m) = (zone(name), month(text));
    let (start, end) = (m.start(&tz).expect("start"), m.end(&tz).expect("end"));
    let mut counts = BTreeMap::new();
    // The first whole UTC hour at or after the start (Kolkata's start is at :30).
    let mut hour =
        Timestamp::from_second(start.as_second().div_euclid(3600) * 3600).expect("in range");
    if hour < start {
        hour += 1.hour();
    }
    while hour < end {
        *counts.entry(local_date_of_hour(hour, &tz)).or_insert(0) += 1;
        hour += 1.hour();
    }
    counts
}

#[test]
fn local_dates_have_23_or_25_hours_where_the_offset_changes() {
    let march = hours_per_date("America/New_York", "2027-03");
    assert_eq!(march.len(), 31);
    assert_eq!(march[&date(2027, 3, 14)], 23);
    assert!(
        march
            .iter()
            .all(|(d, &n)| n == 24 || *d == date(2027, 3, 14))
    );

    let november = hours_per_date("America/New_York", "2026-11");
    assert_eq!(november.len(), 30);
    assert_eq!(november[&date(2026, 11, 1)], 25);
    assert!(
        november
            .iter()
            .all(|(d, &n)| n == 24 || *d == date(2026, 11, 1))
    );

    // Kolkata: every date gets 24 hours, each starting at :30 local.
    let kolkata = hours_per_date("Asia/Kolkata", "2026-11");
    assert_eq!(kolkata.len(), 30);
    assert!(kolkata.values().all(|&n| n == 24));
}
