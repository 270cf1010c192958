//! Currencies, checked arithmetic, decimal strings and the serde form of money.

use serde_json::json;

use crate::{BillingError, Currency, Money};

fn cny(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

#[test]
fn known_codes_have_their_iso_exponent() {
    for (code, exponent) in [("CNY", 2), ("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0)] {
        let currency = Currency::new(code).expect("a known code");
        assert_eq!(currency.code(), code);
        assert_eq!(currency.minor_unit_exponent(), exponent, "{code}");
        assert_eq!(currency.to_string(), code);
    }
    assert_eq!(Currency::new("CNY"), Ok(Currency::CNY));
}

#[test]
fn malformed_and_unknown_codes_are_refused_with_the_reason() {
    for (code, reason) in [
        ("cny", "not three ASCII upper-case letters"),
        ("CN", "not three ASCII upper-case letters"),
        ("CNYY", "not three ASCII upper-case letters"),
        ("C1Y", "not three ASCII upper-case letters"),
        ("", "not three ASCII upper-case letters"),
        ("ÇNY", "not three ASCII upper-case letters"),
    ] {
        assert_eq!(
            Currency::new(code),
            Err(BillingError::InvalidCurrency {
                code: code.to_owned(),
                reason
            })
        );
    }
    let error = Currency::new("XXX").expect_err("well-formed but unknown");
    assert!(
        error.to_string().contains("\"XXX\"") && error.to_string().contains("minor unit"),
        "{error}"
    );
}

#[test]
fn decimal_strings_have_exactly_the_currencys_decimals() {
    for (money, expected) in [
        (cny(123_450), "1234.50"),
        (cny(5), "0.05"),
        (cny(-5), "-0.05"),
        (cny(0), "0.00"),
        (cny(-123_450), "-1234.50"),
        (cny(100), "1.00"),
        (cny(i64::MAX), "92233720368547758.07"),
        (cny(i64::MIN), "-92233720368547758.08"),
        (Money::new(1234, Currency::JPY), "1234"),
        (Money::new(-7, Currency::JPY), "-7"),
        (Money::new(0, Currency::JPY), "0"),
    ] {
        assert_eq!(money.decimal(), expected, "{money:?}");
    }
    assert_eq!(cny(123_450).to_string(), "1234.50 CNY");
}

#[test]
fn arithmetic_is_checked_for_overflow_and_currency() {
    // 12.34 + 0.66 = 13.00; 12.34 - 0.66 = 11.68.
    assert_eq!(cny(1234).checked_add(cny(66)), Ok(cny(1300)));
    assert_eq!(cny(1234).checked_sub(cny(66)), Ok(cny(1168)));
    assert!(matches!(
        cny(i64::MAX).checked_add(cny(1)),
        Err(BillingError::Overflow { .. })
    ));
    assert!(matches!(
        cny(i64::MIN).checked_sub(cny(1)),
        Err(BillingError::Overflow { .. })
    ));
    assert_eq!(
        cny(1).checked_add(Money::new(1, Currency::USD)),
        Err(BillingError::CurrencyMismatch {
            context: "Money::checked_add",
            expected: Currency::CNY,
            found: Currency::USD
        })
    );
    assert_eq!(Money::checked_sum(Currency::CNY, []), Ok(cny(0)));
    assert_eq!(
        Money::checked_sum(Currency::CNY, [cny(1), cny(2), cny(3)]),
        Ok(cny(6))
    );
    assert!(Money::checked_sum(Currency::CNY, [cny(1), Money::new(2, Currency::EUR)]).is_err());
}

#[test]
fn serde_is_minor_units_and_the_code() {
    let text = serde_json::to_string(&cny(123_450)).expect("money serializes");
    assert_eq!(text, r#"{"minor":123450,"currency":"CNY"}"#);
    let back: Money = serde_json::from_str(&text).expect("and reads back");
    assert_eq!(back, cny(123_450));
}

#[test]
fn serde_refuses_unknown_fields_and_bad_codes() {
    for (value, needle) in [
        (
            json!({"minor": 1, "currency": "CNY", "major": 0}),
            "unknown field `major`",
        ),
        (json!({"minor": 1, "currency": "cny"}), "\"cny\""),
        (json!({"minor": 1, "currency": "ABC"}), "\"ABC\""),
        (json!({"minor": 1.5, "currency": "CNY"}), "invalid type"),
        (json!({"currency": "CNY"}), "missing field `minor`"),
    ] {
        let error = serde_json::from_value::<Money>(value.clone())
            .expect_err(&format!("{value} is not money"));
        assert!(error.to_string().contains(needle), "{value}: {error}");
    }
}
