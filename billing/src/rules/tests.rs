//! Pricing rules: their JSON, every validation error, and which version is in effect.

use std::collections::BTreeMap;

use jiff::civil::{Date, date};
use serde_json::json;

use crate::{
    BillingError, Charge, Currency, Meter, PricingRule, RuleProblem, Tier, rule_in_effect,
    validate_versions,
};

fn tier(from_quantity: u64, discount_basis_points: u32) -> Tier {
    Tier {
        from_quantity,
        discount_basis_points,
    }
}

/// A valid rule: traffic at 0.80/GB with 100 GB free and 20 % off from 1 TB, device-days
/// at 5.00, a 100.00 minimum.
fn sample(effective_from: Date) -> PricingRule {
    PricingRule {
        effective_from,
        currency: Currency::CNY,
        charges: BTreeMap::from([
            (
                Meter::TrafficBytes,
                Charge {
                    unit_price_minor: 80,
                    free_allowance: 100_000_000_000,
                    tiers: vec![tier(1_000_000_000_000, 2000)],
                },
            ),
            (
                Meter::DeviceDays,
                Charge {
                    unit_price_minor: 500,
                    free_allowance: 0,
                    tiers: Vec::new(),
                },
            ),
        ]),
        minimum_monthly_minor: 10_000,
    }
}

#[test]
fn the_documented_json_reads_and_round_trips() {
    let text = r#"{"effective_from": "2026-11-01", "currency": "CNY", "minimum_monthly_minor": 10000,
 "charges": {"traffic_bytes": {"unit_price_minor": 80, "free_allowance": 100000000000,
             "tiers": [{"from_quantity": 1000000000000, "discount_basis_points": 2000}]}}}"#;
    let rule: PricingRule = serde_json::from_str(text).expect("the module docs' example");
    let mut expected = sample(date(2026, 11, 1));
    expected.charges.remove(&Meter::DeviceDays);
    assert_eq!(rule, expected);
    assert_eq!(rule.validate(), Ok(()));

    let full = sample(date(2026, 11, 15));
    let value = serde_json::to_value(&full).expect("serializes");
    assert_eq!(value["effective_from"], json!("2026-11-15"));
    assert_eq!(value["currency"], json!("CNY"));
    assert_eq!(
        value["charges"]["device_days"]["unit_price_minor"],
        json!(500)
    );
    let back: PricingRule = serde_json::from_value(value).expect("reads back");
    assert_eq!(back, full);
}

#[test]
fn a_charges_allowance_and_tiers_default_to_none() {
    let rule: PricingRule = serde_json::from_value(json!({
        "effective_from": "2026-11-01", "currency": "USD", "minimum_monthly_minor": 0,
        "charges": {"searches": {"unit_price_minor": 25}}
    }))
    .expect("a charge with only its price");
    let charge = rule.charge(Meter::Searches).expect("searches are charged");
    assert_eq!((charge.free_allowance, charge.tiers.len()), (0, 0));
    assert_eq!(rule.charge(Meter::ApiCalls), None);
}

#[test]
fn json_with_unknown_or_missing_fields_is_refused() {
    let base = || {
        json!({
            "effective_from": "2026-11-01", "currency": "CNY", "minimum_monthly_minor": 0,
            "charges": {"api_calls": {"unit_price_minor": 3,
                                      "tiers": [{"from_quantity": 10, "discount_basis_points": 5}]}}
        })
    };
    let mut unknown_top = base();
    unknown_top["timezone"] = json!("UTC");
    let mut unknown_charge = base();
    unknown_charge["charges"]["api_calls"]["per"] = json!(1000);
    let mut unknown_tier = base();
    unknown_tier["charges"]["api_calls"]["tiers"][0]["discount_percent"] = json!(5);
    let mut unknown_meter = base();
    unknown_meter["charges"]["gigabytes"] = json!({"unit_price_minor": 1});
    let mut missing_minimum = base();
    missing_minimum
        .as_object_mut()
        .expect("an object")
        .remove("minimum_monthly_minor");
    let mut bad_date = base();
    bad_date["effective_from"] = json!("2026-11-31");
    let mut negative_allowance = base();
    negative_allowance["charges"]["api_calls"]["free_allowance"] = json!(-1);
    let mut bad_currency = base();
    bad_currency["currency"] = json!("RMB");
    for (value, needle) in [
        (unknown_top, "unknown field `timezone`"),
        (unknown_charge, "unknown field `per`"),
        (unknown_tier, "unknown field `discount_percent`"),
        (unknown_meter, "unknown variant `gigabytes`"),
        (missing_minimum, "missing field `minimum_monthly_minor`"),
        (bad_date, "must be in range `1..=30`"),
        (negative_allowance, "invalid value: integer `-1`"),
        (bad_currency, "\"RMB\""),
    ] {
        let error = serde_json::from_value::<PricingRule>(value.clone())
            .expect_err(&format!("{value} is not a rule"));
        assert!(error.to_string().contains(needle), "{needle}: {error}");
    }
}

/// `change` makes the sample rule invalid in `field` with `problem`.
fn check_invalid(change: impl FnOnce(&mut PricingRule), field: &str, problem: RuleProblem) {
    let mut rule = sample(date(2026, 11, 1));
    change(&mut rule);
    let expected = BillingError::InvalidRule {
        effective_from: date(2026, 11, 1),
        field: field.to_owned(),
        problem,
    };
    assert_eq!(rule.validate(), Err(expected.clone()), "{field}");
    assert_eq!(validate_versions(&[rule]), Err(expected));
}

fn traffic(rule: &mut PricingRule) -> &mut Charge {
    rule.charges
        .get_mut(&Meter::TrafficBytes)
        .expect("the sample charges traffic")
}

#[test]
fn every_invalid_field_is_named_with_its_problem() {
    check_invalid(
        |rule| traffic(rule).unit_price_minor = -1,
        "charges.traffic_bytes.unit_price_minor",
        RuleProblem::NegativePrice { value: -1 },
    );
    check_invalid(
        |rule| rule.minimum_monthly_minor = -500,
        "minimum_monthly_minor",
        RuleProblem::NegativeMinimum { value: -500 },
    );
    check_invalid(
        |rule| traffic(rule).tiers = vec![tier(10, 100), tier(10, 200)],
        "charges.traffic_bytes.tiers[1].from_quantity",
        RuleProblem::TiersNotAscending {
            previous: 10,
            found: 10,
        },
    );
    check_invalid(
        |rule| traffic(rule).tiers = vec![tier(0, 0), tier(20, 100), tier(15, 200)],
        "charges.traffic_bytes.tiers[2].from_quantity",
        RuleProblem::TiersNotAscending {
            previous: 20,
            found: 15,
        },
    );
    check_invalid(
        |rule| traffic(rule).tiers = vec![tier(10, 10_001)],
        "charges.traffic_bytes.tiers[0].discount_basis_points",
        RuleProblem::DiscountOver100Percent {
            basis_points: 10_001,
        },
    );
    check_invalid(
        |rule| traffic(rule).tiers = vec![tier(10, 3000), tier(20, 2000)],
        "charges.traffic_bytes.tiers[1].discount_basis_points",
        RuleProblem::DiscountDecreasing {
            previous: 3000,
            found: 2000,
        },
    );
}

#[test]
fn the_error_message_names_the_version_field_and_problem() {
    let mut rule = sample(date(2026, 11, 15));
    traffic(&mut rule).unit_price_minor = -80;
    let message = rule.validate().expect_err("negative price").to_string();
    assert_eq!(
        message,
        "pricing rule effective from 2026-11-15: charges.traffic_bytes.unit_price_minor: negative price -80"
    );
}

#[test]
fn edge_values_are_valid() {
    let mut rule = sample(date(2026, 11, 1));
    rule.minimum_monthly_minor = 0;
    *traffic(&mut rule) = Charge {
        unit_price_minor: 0,
        free_allowance: u64::MAX,
        tiers: vec![tier(0, 0), tier(1, 0), tier(u64::MAX, 10_000)],
    };
    assert_eq!(rule.validate(), Ok(()));
    rule.charges.clear();
    assert_eq!(rule.validate(), Ok(()));
}

#[test]
fn versions_need_their_own_dates_and_change_currency_on_the_1st() {
    let first = sample(date(2026, 10, 1));
    let second = sample(date(2026, 11, 15));
    // Any order.
    assert_eq!(validate_versions(&[second.clone(), first.clone()]), Ok(()));
    assert_eq!(
        validate_versions(&[first.clone(), second.clone(), sample(date(2026, 10, 1))]),
        Err(BillingError::DuplicateRule {
            effective_from: date(2026, 10, 1)
        })
    );
    let mut dollars_mid_month = second.clone();
    dollars_mid_month.currency = Currency::USD;
    assert_eq!(
        validate_versions(&[first.clone(), dollars_mid_month]),
        Err(BillingError::CurrencyChangeMidMonth {
            effective_from: date(2026, 11, 15),
            previous: Currency::CNY,
            currency: Currency::USD
        })
    );
    let mut dollars_from_december = sample(date(2026, 12, 1));
    dollars_from_december.currency = Currency::USD;
    assert_eq!(
        validate_versions(&[first, second, dollars_from_december]),
        Ok(())
    );
}

#[test]
fn the_latest_version_on_or_before_a_date_is_in_effect() {
    let rules = [
        sample(date(2026, 11, 15)),
        sample(date(2026, 10, 1)),
        sample(date(2027, 1, 1)),
    ];
    for (on, expected) in [
        (date(2026, 9, 30), None),
        (date(2026, 10, 1), Some(date(2026, 10, 1))),
        (date(2026, 11, 14), Some(date(2026, 10, 1))),
        (date(2026, 11, 15), Some(date(2026, 11, 15))),
        (date(2026, 12, 31), Some(date(2026, 11, 15))),
        (date(2027, 6, 1), Some(date(2027, 1, 1))),
    ] {
        let found = rule_in_effect(&rules, on).map(|rule| rule.effective_from);
        assert_eq!(found, expected, "on {on}");
    }
}
