//! Whole months priced from hourly meters in real zones: every UTC hour that starts in the
//! month is billed in it, the hours on either side are not; short and leap Februaries.

use jiff::{Timestamp, ToSpan, civil::date, tz::TimeZone};

use super::fixtures::{charge, price, rows, rule, summary, usage};
use crate::{BillingError, BillingMonth, Meter, MonthUsage, price_month};

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or_else(|e| panic!("the system tzdb has {name}: {e}"))
}

/// One API call in every whole UTC hour that starts within `month` in `tz`, added through
/// [`MonthUsage::add_hour`]; also the hours just before and at the end.
fn hourly_calls(month: BillingMonth, tz: &TimeZone) -> (MonthUsage, Timestamp, Timestamp) {
    let (start, end) = (month.start(tz).expect("start"), month.end(tz).expect("end"));
    let mut hour =
        Timestamp::from_second(start.as_second().div_euclid(3600) * 3600).expect("in range");
    if hour < start {
        hour += 1.hour();
    }
    let before = hour - 1.hour();
    let mut usage = MonthUsage::new();
    while hour < end {
        usage
            .add_hour(hour, tz, Meter::ApiCalls, 1)
            .expect("an hour start");
        hour += 1.hour();
    }
    (usage, before, hour)
}

#[test]
fn every_hour_of_the_month_and_no_other_is_billed_in_each_zone() {
    // 10.00 per 1000 calls = 1 fen a call, so the amount in fen is the number of hours.
    let rules = [rule(
        date(2026, 1, 1),
        0,
        [(Meter::ApiCalls, charge(1000, 0, &[]))],
    )];
    for (name, text, hours) in [
        ("Asia/Shanghai", "2026-11", 720),
        ("UTC", "2026-11", 720),
        // 30 November 18:00 UTC starts at 23:30 local and is the month's last hour;
        // 31 October 18:00 UTC (23:30 local) is October's: 720 either way.
        ("Asia/Kolkata", "2026-11", 720),
        // 1 November has 25 hours (EDT ends), 14 March 24 - 1.
        ("America/New_York", "2026-11", 721),
        ("America/New_York", "2027-03", 743),
        ("Asia/Shanghai", "2027-02", 672),
        ("Asia/Shanghai", "2028-02", 696),
    ] {
        let (tz, month) = (zone(name), BillingMonth::parse(text).expect("a month"));
        let (usage, before, after) = hourly_calls(month, &tz);
        let draft = price_month(month, &tz, &rules, &usage).expect("priced");
        assert_eq!(
            summary(&draft),
            rows(&[("api_calls/2026-01-01/base", hours, hours as i64)]),
            "{name} {text}"
        );
        assert_eq!(draft.period_start, month.start(&tz).expect("start"));
        assert_eq!(draft.period_end, month.end(&tz).expect("end"));

        for outside in [before, after] {
            let mut with_outside = usage.clone();
            with_outside
                .add_hour(outside, &tz, Meter::ApiCalls, 1)
                .expect("an hour start");
            assert!(
                matches!(
                    price_month(month, &tz, &rules, &with_outside),
                    Err(BillingError::UsageOutsideMonth { .. })
                ),
                "{name} {text}: the hour at {outside} is another month's"
            );
        }
    }
}

#[test]
fn the_kolkata_hour_across_midnight_counts_on_the_date_it_starts() {
    let tz = zone("Asia/Kolkata");
    let month = BillingMonth::parse("2026-11").expect("a month");
    let mut usage = MonthUsage::new();
    // 23:30-00:30 local, 30 November into 1 December: the 30th's.
    let hour: Timestamp = "2026-11-30T18:00:00Z".parse().expect("an instant");
    usage
        .add_hour(hour, &tz, Meter::Searches, 3)
        .expect("an hour start");
    assert_eq!(usage.get(date(2026, 11, 30), Meter::Searches), 3);
    let rules = [rule(
        date(2026, 11, 1),
        0,
        [(Meter::Searches, charge(100, 0, &[]))],
    )];
    let draft = price_month(month, &tz, &rules, &usage).expect("priced");
    assert_eq!(draft.total.minor, 300);
}

#[test]
fn februaries_of_28_and_29_days_prorate_the_minimum_by_their_length() {
    // A box every day at 1.00 a device-day; minimums 29.00 until the 15th, 58.00 from it.
    // 2027: 28 device-days = 2800; minimum (14 × 2900 + 14 × 5800) / 28 = 121800 / 28
    //       = 4350; top-up 4350 - 2800 = 1550.
    // 2028: 29 device-days = 2900; minimum (14 × 2900 + 15 × 5800) / 29 = 127600 / 29
    //       = 4400; top-up 4400 - 2900 = 1500.
    for (text, year, days, minimum, top_up) in [
        ("2027-02", 2027, 28, 4350, 1550),
        ("2028-02", 2028, 29, 4400, 1500),
    ] {
        let rules = [
            rule(
                date(2026, 1, 1),
                2900,
                [(Meter::DeviceDays, charge(100, 0, &[]))],
            ),
            rule(
                date(year, 2, 15),
                5800,
                [(Meter::DeviceDays, charge(100, 0, &[]))],
            ),
        ];
        let usage = usage((1..=days).map(|day| (date(year, 2, day), Meter::DeviceDays, 1)));
        let draft = price(text, &rules, &usage).expect("priced");
        let amount = i64::from(days) * 100;
        assert_eq!(
            summary(&draft),
            rows(&[
                ("device_days/2026-01-01/base", days as u64, amount),
                ("minimum", 1, top_up),
            ]),
            "{text}"
        );
        assert_eq!((draft.minimum.minor, draft.total.minor), (minimum, minimum));
    }
}

#[test]
fn a_box_present_mid_month_gets_its_free_days_first() {
    // 2 device-days free a month, then 3.00: the box is seen on 10, 11 and 20 November:
    // the 10th and 11th are free, the 20th costs 300.
    let rules = [rule(
        date(2026, 11, 1),
        0,
        [(Meter::DeviceDays, charge(300, 2, &[]))],
    )];
    let usage = usage([10, 20, 11].map(|day| (date(2026, 11, day), Meter::DeviceDays, 1)));
    let draft = price("2026-11", &rules, &usage).expect("priced");
    assert_eq!(
        summary(&draft),
        rows(&[
            ("device_days/2026-11-01/free", 2, 0),
            ("device_days/2026-11-01/base", 1, 300),
        ])
    );
}

#[test]
fn a_change_on_the_15th_in_new_york_splits_at_local_midnight() {
    // The old price (1.00) prices 14 March 2027, the new (2.00) 15 March, by local date:
    // the UTC hour 03:00-04:00 of 15 March is still 23:00 on the 14th in EDT (-4).
    let tz = zone("America/New_York");
    let month = BillingMonth::parse("2027-03").expect("a month");
    let rules = [
        rule(
            date(2027, 3, 1),
            0,
            [(Meter::Searches, charge(100, 0, &[]))],
        ),
        rule(
            date(2027, 3, 15),
            0,
            [(Meter::Searches, charge(200, 0, &[]))],
        ),
    ];
    let mut usage = MonthUsage::new();
    for (hour, searches) in [("2027-03-15T03:00:00Z", 1), ("2027-03-15T04:00:00Z", 10)] {
        let hour: Timestamp = hour.parse().expect("an instant");
        usage
            .add_hour(hour, &tz, Meter::Searches, searches)
            .expect("an hour start");
    }
    // 1 × 100 + 10 × 200 = 2100.
    let draft = price_month(month, &tz, &rules, &usage).expect("priced");
    assert_eq!(
        summary(&draft),
        rows(&[
            ("searches/2027-03-01/base", 1, 100),
            ("searches/2027-03-15/base", 10, 2000),
        ])
    );
}
