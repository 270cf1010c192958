//! Pricing a month, checked against amounts worked out by hand (the arithmetic is in the
//! comments), and every error `price_month` returns.

use jiff::{Timestamp, civil::date};
use serde_json::json;

use super::fixtures::{charge, keys, line, price, rows, rule, shanghai, summary, usage};
use crate::{Band, BillingError, Currency, LineItem, Meter, MonthUsage, PricingRule};

const GB: u64 = 1_000_000_000;

#[test]
fn device_days_of_a_box_present_on_some_dates_only() {
    // 5.00 a device-day. One box on 10-14 November, a second on 12 and 13:
    // 5 + 2 = 7 device-days × 500 = 3500.
    let rules = [rule(
        date(2026, 11, 1),
        0,
        [(Meter::DeviceDays, charge(500, 0, &[]))],
    )];
    let mut entries: Vec<_> = (10..=14)
        .map(|day| (date(2026, 11, day), Meter::DeviceDays, 1))
        .collect();
    entries.extend([12, 13].map(|day| (date(2026, 11, day), Meter::DeviceDays, 1)));
    let draft = price("2026-11", &rules, &usage(entries)).expect("priced");
    assert_eq!(
        summary(&draft),
        rows(&[("device_days/2026-11-01/base", 7, 3500)])
    );
    let only = line(&draft, "device_days/2026-11-01/base");
    assert_eq!(only.unit_price.minor, 500);
    assert_eq!((only.units_per_price, only.discount_basis_points), (1, 0));
    assert_eq!(
        only.item,
        LineItem::Usage {
            meter: Meter::DeviceDays,
            rule_effective_from: date(2026, 11, 1),
            band: Band::Base
        }
    );
    assert_eq!((draft.subtotal.minor, draft.total.minor), (3500, 3500));
    assert_eq!(draft.total.decimal(), "35.00");
}

#[test]
fn traffic_with_a_free_allowance_and_a_graduated_tier() {
    // 0.80 per GB, the first 100 GB free, 20 % off from 1 TB.
    // 1 Nov 60 GB (positions 0..60 GB): free.
    // 2 Nov 60 GB (60..120 GB): 40 GB free, 20 GB base.
    // 3 Nov 1000 GB (120..1120 GB): 880 GB base, 120 GB in tier 0.
    // free 100 GB = 0; base 900 GB × 80 = 72000; tier 0: 120 × 80 × 0.8 = 7680.
    let rules = [rule(
        date(2026, 11, 1),
        0,
        [(
            Meter::TrafficBytes,
            charge(80, 100 * GB, &[(1000 * GB, 2000)]),
        )],
    )];
    let usage = usage([
        (date(2026, 11, 1), Meter::TrafficBytes, 60 * GB),
        (date(2026, 11, 2), Meter::TrafficBytes, 60 * GB),
        (date(2026, 11, 3), Meter::TrafficBytes, 1000 * GB),
    ]);
    let draft = price("2026-11", &rules, &usage).expect("priced");
    assert_eq!(
        summary(&draft),
        rows(&[
            ("traffic_bytes/2026-11-01/free", 100 * GB, 0),
            ("traffic_bytes/2026-11-01/base", 900 * GB, 72_000),
            ("traffic_bytes/2026-11-01/tier-0", 120 * GB, 7680),
        ])
    );
    let free = line(&draft, "traffic_bytes/2026-11-01/free");
    assert_eq!(
        (free.discount_basis_points, free.unit_price.minor),
        (10_000, 80)
    );
    assert_eq!(
        line(&draft, "traffic_bytes/2026-11-01/tier-0").discount_basis_points,
        2000
    );
    assert_eq!(draft.total.decimal(), "796.80");
}

#[test]
fn each_line_is_rounded_once_half_away_from_zero() {
    // 0.03 per 1000 calls: 1500 calls = 4.5 fen -> 5; 1499 calls = 4.497 -> 4.
    // Searches at 0.33 with 1/3 off (3333 bp): 2 × 33 × 6667 / 10000 = 44.0022 -> 44.
    // Camera-hours at 2.00: 5400 camera-seconds = 1.5 h = 300.
    let priced = |calls| {
        let rules = [rule(
            date(2026, 11, 1),
            0,
            [
                (Meter::ApiCalls, charge(3, 0, &[])),
                (Meter::Searches, charge(33, 0, &[(0, 3333)])),
                (Meter::CameraHours, charge(200, 0, &[])),
            ],
        )];
        let usage = usage([
            (date(2026, 11, 5), Meter::ApiCalls, calls),
            (date(2026, 11, 5), Meter::Searches, 2),
            (date(2026, 11, 6), Meter::CameraHours, 5400),
        ]);
        summary(&price("2026-11", &rules, &usage).expect("priced"))
    };
    assert_eq!(
        priced(1500),
        rows(&[
            ("api_calls/2026-11-01/base", 1500, 5),
            ("searches/2026-11-01/tier-0", 2, 44),
            ("camera_hours/2026-11-01/base", 5400, 300),
        ])
    );
    assert_eq!(
        priced(1499)[0],
        ("api_calls/2026-11-01/base".to_owned(), 1499, 4)
    );
}

/// Searches at 1.00 with 10 free until the 15th, then 1.50 with 20 free and 50 % off from
/// the 30th search of the month; minimums 50.00 then 80.00.
fn change_on_the_15th() -> [PricingRule; 2] {
    [
        rule(
            date(2026, 10, 1),
            5000,
            [(Meter::Searches, charge(100, 10, &[]))],
        ),
        rule(
            date(2026, 11, 15),
            8000,
            [(Meter::Searches, charge(150, 20, &[(30, 5000)]))],
        ),
    ]
}

#[test]
fn a_rule_change_on_the_15th_applies_from_its_date_never_backwards() {
    // 2 searches a day. 1-14 Nov: positions 0..28 under the old rule: 10 free, 18 × 100 =
    // 1800. 15-30 Nov: positions 28..60 under the new: none free (28 >= 20), 28..30 base
    // 2 × 150 = 300, 30..60 tier 0: 30 × 150 × 0.5 = 2250. Subtotal 4350.
    // Minimum: (14 days × 5000 + 16 days × 8000) / 30 = 198000 / 30 = 6600: top-up 2250.
    let usage = usage((1..=30).map(|day| (date(2026, 11, day), Meter::Searches, 2)));
    let draft = price("2026-11", &change_on_the_15th(), &usage).expect("priced");
    assert_eq!(
        summary(&draft),
        rows(&[
            ("searches/2026-10-01/free", 10, 0),
            ("searches/2026-10-01/base", 18, 1800),
            ("searches/2026-11-15/base", 2, 300),
            ("searches/2026-11-15/tier-0", 30, 2250),
            ("minimum", 1, 2250),
        ])
    );
    assert_eq!(
        (draft.subtotal.minor, draft.minimum.minor, draft.total.minor),
        (4350, 6600, 6600)
    );
    let top_up = line(&draft, "minimum");
    assert_eq!(top_up.item, LineItem::MinimumTopUp);
    assert_eq!(
        top_up.description,
        "minimum monthly charge of 66.00 (43.50 of usage)"
    );

    // October is priced by the old rule alone: 31 days × 2 = 62 searches, 10 free,
    // 52 × 100 = 5200 >= the 5000 minimum, no top-up.
    let october = usage_in("2026-10", 2);
    let draft = price("2026-10", &change_on_the_15th(), &october).expect("priced");
    assert_eq!(
        summary(&draft),
        rows(&[
            ("searches/2026-10-01/free", 10, 0),
            ("searches/2026-10-01/base", 52, 5200),
        ])
    );
}

fn usage_in(month: &str, per_day: u64) -> MonthUsage {
    let month = crate::BillingMonth::parse(month).expect("a month");
    usage(month.dates().map(|d| (d, Meter::Searches, per_day)))
}

#[test]
fn a_version_that_keeps_a_meters_charge_keeps_its_lines() {
    // The 15 November version changes only the minimum: device-days stay on the lines of
    // the 1 October version. 30 device-days × 500 = 15000.
    // Minimum (14 × 1000 + 16 × 4000) / 30 = 78000 / 30 = 2600 < 15000.
    let device_days = || [(Meter::DeviceDays, charge(500, 0, &[]))];
    let rules = [
        rule(date(2026, 10, 1), 1000, device_days()),
        rule(date(2026, 11, 15), 4000, device_days()),
    ];
    let usage = usage((1..=30).map(|day| (date(2026, 11, day), Meter::DeviceDays, 1)));
    let draft = price("2026-11", &rules, &usage).expect("priced");
    assert_eq!(
        summary(&draft),
        rows(&[("device_days/2026-10-01/base", 30, 15_000)])
    );
    assert_eq!(draft.minimum.minor, 2600);
}

#[test]
fn a_meter_without_a_charge_is_listed_at_no_cost() {
    // Camera-hours are metered but not charged: 7200 camera-seconds at price 0.
    let rules = [rule(
        date(2026, 11, 1),
        0,
        [(Meter::Searches, charge(100, 0, &[]))],
    )];
    let usage = usage([
        (date(2026, 11, 2), Meter::Searches, 3),
        (date(2026, 11, 2), Meter::CameraHours, 7200),
    ]);
    let draft = price("2026-11", &rules, &usage).expect("priced");
    assert_eq!(
        summary(&draft),
        rows(&[
            ("searches/2026-11-01/base", 3, 300),
            ("camera_hours/2026-11-01/base", 7200, 0),
        ])
    );
    let camera = line(&draft, "camera_hours/2026-11-01/base");
    assert_eq!(camera.unit_price.minor, 0);
    assert!(
        camera.description.contains("not billed"),
        "{}",
        camera.description
    );
}

#[test]
fn the_minimum_of_a_tenant_starting_mid_month_is_prorated() {
    // First version on 11 November, 100.00 minimum, no usage:
    // 20 days of 30 × 10000 / 30 = 6666.67 -> 6667.
    let rules = [rule(date(2026, 11, 11), 10_000, [])];
    let draft = price("2026-11", &rules, &MonthUsage::new()).expect("priced");
    assert_eq!(summary(&draft), rows(&[("minimum", 1, 6667)]));
    assert_eq!(
        (draft.subtotal.minor, draft.minimum.minor, draft.total.minor),
        (0, 6667, 6667)
    );
    // Usage before the 11th would be unpriced: an error naming it.
    let early = usage([(date(2026, 11, 3), Meter::Searches, 4)]);
    assert_eq!(
        price("2026-11", &rules, &early),
        Err(BillingError::NoRuleInEffect {
            date: date(2026, 11, 3),
            meter: Meter::Searches,
            quantity: 4,
            first_rule_from: date(2026, 11, 11)
        })
    );
    // A zero is no usage.
    let zero = usage([(date(2026, 11, 3), Meter::Searches, 0)]);
    assert!(price("2026-11", &rules, &zero).is_ok());
}

#[test]
fn lines_have_a_stable_order_and_a_rerun_is_identical() {
    let rules = change_on_the_15th().map(|mut rule| {
        rule.charges.insert(Meter::DeviceDays, charge(500, 1, &[]));
        rule
    });
    let usage = usage([
        (date(2026, 11, 20), Meter::Searches, 40),
        (date(2026, 11, 2), Meter::Searches, 5),
        (date(2026, 11, 3), Meter::DeviceDays, 2),
    ]);
    let draft = price("2026-11", &rules, &usage).expect("priced");
    assert_eq!(
        keys(&draft),
        [
            // Meters in Meter::ALL order, then rule version, then band.
            "device_days/2026-10-01/free",
            "device_days/2026-10-01/base",
            "searches/2026-10-01/free",
            "searches/2026-11-15/free",
            "searches/2026-11-15/base",
            "searches/2026-11-15/tier-0",
            // Usage 500 + 1500 + 1125 = 3125 is below the 6600 minimum: the top-up, last.
            "minimum",
        ]
    );
    assert_eq!(price("2026-11", &rules, &usage), Ok(draft));
}

#[test]
fn the_draft_serializes_with_its_lines_and_reads_back() {
    let rules = [rule(
        date(2026, 11, 1),
        0,
        [(Meter::DeviceDays, charge(500, 1, &[(2, 1000)]))],
    )];
    // 3 device-days: 1 free, 1 base (500), 1 at 10 % off (450).
    let usage = usage([(date(2026, 11, 9), Meter::DeviceDays, 3)]);
    let draft = price("2026-11", &rules, &usage).expect("priced");
    let value = serde_json::to_value(&draft).expect("serializes");
    assert_eq!(value["month"], json!("2026-11"));
    assert_eq!(value["period_start"], json!("2026-10-31T16:00:00Z"));
    assert_eq!(value["total"], json!({"minor": 950, "currency": "CNY"}));
    assert_eq!(
        value["lines"][2],
        json!({
            "key": "device_days/2026-11-01/tier-0",
            "description": "1 device-day (device_days) at the price of 2026-11-01, per device-day, tier 0: 10.00 % off",
            "item": {"kind": "usage", "meter": "device_days", "rule_effective_from": "2026-11-01",
                     "band": {"tier": 0}},
            "quantity": 1,
            "unit_price": {"minor": 500, "currency": "CNY"},
            "units_per_price": 1,
            "discount_basis_points": 1000,
            "amount": {"minor": 450, "currency": "CNY"},
        })
    );
    assert_eq!(value["lines"][0]["item"]["band"], json!("free"));
    let back: crate::InvoiceDraft = serde_json::from_value(value).expect("reads back");
    assert_eq!(back, draft);
}

#[test]
fn usage_outside_the_month_is_refused_even_when_zero() {
    let rules = [rule(date(2026, 1, 1), 0, [])];
    for date in [date(2026, 12, 1), date(2026, 10, 31)] {
        for quantity in [0, 1] {
            let usage = usage([(date, Meter::ApiCalls, quantity)]);
            assert_eq!(
                price("2026-11", &rules, &usage),
                Err(BillingError::UsageOutsideMonth {
                    month: "2026-11".parse().expect("a month"),
                    date,
                    meter: Meter::ApiCalls
                })
            );
        }
    }
}

#[test]
fn a_month_without_any_rule_in_effect_is_refused() {
    let no_usage = MonthUsage::new();
    let expected = Err(BillingError::NoRuleInMonth {
        month: "2026-11".parse().expect("a month"),
    });
    assert_eq!(price("2026-11", &[], &no_usage), expected);
    let december = [rule(date(2026, 12, 1), 0, [])];
    assert_eq!(price("2026-11", &december, &no_usage), expected);
}

#[test]
fn two_currencies_in_one_month_are_refused_but_not_in_other_months() {
    let mut dollars = rule(date(2026, 11, 15), 0, []);
    dollars.currency = Currency::USD;
    let rules = [rule(date(2026, 10, 1), 0, []), dollars];
    let error = price("2026-11", &rules, &MonthUsage::new()).expect_err("CNY then USD");
    assert_eq!(
        error,
        BillingError::MixedCurrencies {
            month: "2026-11".parse().expect("a month"),
            first_from: date(2026, 10, 1),
            first: Currency::CNY,
            second_from: date(2026, 11, 15),
            second: Currency::USD
        }
    );
    assert_eq!(
        error.to_string(),
        "2026-11 mixes currencies: the rule effective from 2026-10-01 bills in CNY, the one from 2026-11-15 in USD"
    );
    let october = price("2026-10", &rules, &MonthUsage::new()).expect("October is all CNY");
    assert_eq!(october.currency, Currency::CNY);
    let december = price("2026-12", &rules, &MonthUsage::new()).expect("December is all USD");
    assert_eq!(december.total.currency, Currency::USD);
}

#[test]
fn invalid_or_duplicate_rules_are_refused_before_pricing() {
    let mut negative = rule(
        date(2026, 11, 1),
        0,
        [(Meter::ApiCalls, charge(-3, 0, &[]))],
    );
    assert!(matches!(
        price("2026-11", &[negative.clone()], &MonthUsage::new()),
        Err(BillingError::InvalidRule { field, .. }) if field == "charges.api_calls.unit_price_minor"
    ));
    negative.charges.clear();
    let twice = [negative.clone(), negative];
    assert_eq!(
        price("2026-11", &twice, &MonthUsage::new()),
        Err(BillingError::DuplicateRule {
            effective_from: date(2026, 11, 1)
        })
    );
}

#[test]
fn overflows_are_errors_naming_what_overflowed() {
    let rules = [rule(
        date(2026, 11, 1),
        0,
        [(Meter::Searches, charge(i64::MAX, 0, &[]))],
    )];
    // Two dates of u64::MAX searches: the monthly position passes u64::MAX.
    let usage_max = usage([
        (date(2026, 11, 1), Meter::Searches, u64::MAX),
        (date(2026, 11, 2), Meter::Searches, 1),
    ]);
    assert_eq!(
        price("2026-11", &rules, &usage_max),
        Err(BillingError::Overflow {
            what: "the monthly quantity of searches up to 2026-11-02".to_owned()
        })
    );
    // 2 searches at i64::MAX: the amount passes i64.
    let two = usage([(date(2026, 11, 1), Meter::Searches, 2)]);
    assert_eq!(
        price("2026-11", &rules, &two),
        Err(BillingError::Overflow {
            what: "the amount of line searches/2026-11-01/base".to_owned()
        })
    );
    // Two lines of i64::MAX / 2 + 1 each: the subtotal passes i64.
    let half = i64::MAX / 2 + 1;
    let rules = [rule(
        date(2026, 11, 1),
        0,
        [
            (Meter::Searches, charge(half, 0, &[])),
            (Meter::ApiCalls, charge(half, 0, &[])),
        ],
    )];
    let both = usage([
        (date(2026, 11, 1), Meter::Searches, 1),
        (date(2026, 11, 1), Meter::ApiCalls, 1000),
    ]);
    assert!(matches!(
        price("2026-11", &rules, &both),
        Err(BillingError::Overflow { .. })
    ));
}

#[test]
fn month_usage_adds_up_and_files_hours_by_their_local_date() {
    let mut usage = MonthUsage::new();
    usage
        .add(date(2026, 11, 1), Meter::ApiCalls, 5)
        .expect("adds");
    usage
        .add(date(2026, 11, 1), Meter::ApiCalls, 7)
        .expect("adds");
    assert_eq!(usage.get(date(2026, 11, 1), Meter::ApiCalls), 12);
    assert_eq!(usage.get(date(2026, 11, 2), Meter::ApiCalls), 0);
    assert!(matches!(
        usage.add(date(2026, 11, 1), Meter::ApiCalls, u64::MAX),
        Err(BillingError::Overflow { .. })
    ));
    assert_eq!(
        usage.get(date(2026, 11, 1), Meter::ApiCalls),
        12,
        "unchanged"
    );

    // 16:00 UTC is midnight in Shanghai: 1 November.
    let hour: Timestamp = "2026-10-31T16:00:00Z".parse().expect("an instant");
    usage
        .add_hour(hour, &shanghai(), Meter::TrafficBytes, 9)
        .expect("an hour start");
    assert_eq!(usage.get(date(2026, 11, 1), Meter::TrafficBytes), 9);
    let not_an_hour: Timestamp = "2026-10-31T16:30:00Z".parse().expect("an instant");
    assert_eq!(
        usage.add_hour(not_an_hour, &shanghai(), Meter::TrafficBytes, 1),
        Err(BillingError::NotAnHourStart {
            instant: not_an_hour
        })
    );
    assert_eq!(usage.iter().count(), 2);
}
