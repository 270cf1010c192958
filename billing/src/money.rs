//! Money as a whole number of minor units (fen for CNY, cents for USD, yen for JPY) of one
//! currency.
//!
//! Contract:
//! - A [`Currency`] is an ISO 4217 code this crate knows the minor unit of (the table in
//!   [`Currency::KNOWN`]). Unknown codes are refused, never given a guessed exponent: a wrong
//!   guess would misstate every amount by a power of ten. Adding a currency is one line.
//! - Arithmetic is checked: an overflow or a mix of currencies is a [`BillingError`], never
//!   a wrap, a saturation or a panic.
//! - [`Money::decimal`] writes the amount in major units with exactly the currency's number
//!   of decimals (`1234.50`, `-0.05`, `1234` for JPY), for invoices and CSV.
//! - Serde: `{"minor": 123450, "currency": "CNY"}`; unknown fields are refused.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::BillingError;

#[cfg(test)]
mod tests;

/// An ISO 4217 currency with its minor-unit exponent (serde: its code, `"CNY"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

impl Currency {
    /// Chinese yuan renminbi; the minor unit is the fen (0.01).
    pub const CNY: Currency = Currency::known("CNY", 2);
    /// Euro; the minor unit is the cent.
    pub const EUR: Currency = Currency::known("EUR", 2);
    /// Japanese yen; no minor unit.
    pub const JPY: Currency = Currency::known("JPY", 0);
    /// United States dollar; the minor unit is the cent.
    pub const USD: Currency = Currency::known("USD", 2);

    /// Every currency [`Currency::new`] accepts, with its exponent (from ISO 4217).
    pub const KNOWN: [Currency; 8] = [
        Currency::CNY,
        Currency::EUR,
        Currency::known("GBP", 2),
        Currency::known("HKD", 2),
        Currency::JPY,
        Currency::known("KRW", 0),
        Currency::known("SGD", 2),
        Currency::USD,
    ];

    const fn known(code: &'static str, exponent: u8) -> Currency {
        Currency { code, exponent }
    }

    /// The currency of an ISO 4217 code: three ASCII upper-case letters, one of
    /// [`Currency::KNOWN`].
    pub fn new(code: &str) -> Result<Currency, BillingError> {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(BillingError::InvalidCurrency {
                code: code.to_owned(),
                reason: "not three ASCII upper-case letters",
            });
        }
        Currency::KNOWN
            .into_iter()
            .find(|currency| currency.code == code)
            .ok_or_else(|| BillingError::InvalidCurrency {
                code: code.to_owned(),
                reason: "not a currency whose minor unit this crate knows (CNY, EUR, GBP, HKD, JPY, KRW, SGD, USD)",
            })
    }

    /// The three-letter code, `"CNY"`.
    pub fn code(self) -> &'static str {
        self.code
    }

    /// How many decimal places the minor unit has: 2 for CNY (1 fen = 0.01 yuan), 0 for JPY.
    pub fn minor_unit_exponent(self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::new(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount: a whole number of the currency's minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// The amount in minor units (fen for CNY): `123450` is 1234.50 yuan.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// `minor` minor units of `currency`.
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Nothing, in `currency`.
    pub fn zero(currency: Currency) -> Money {
        Money::new(0, currency)
    }

    /// `self + other`, refusing another currency and overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, BillingError> {
        self.same_currency(other, "Money::checked_add")?;
        let minor = self.minor.checked_add(other.minor).ok_or_else(|| {
            BillingError::overflow(format!("{} + {}", self.decimal(), other.decimal()))
        })?;
        Ok(Money::new(minor, self.currency))
    }

    /// `self - other`, refusing another currency and overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, BillingError> {
        self.same_currency(other, "Money::checked_sub")?;
        let minor = self.minor.checked_sub(other.minor).ok_or_else(|| {
            BillingError::overflow(format!("{} - {}", self.decimal(), other.decimal()))
        })?;
        Ok(Money::new(minor, self.currency))
    }

    /// The sum of `amounts`, all of `currency` (zero when there are none).
    pub fn checked_sum(
        currency: Currency,
        amounts: impl IntoIterator<Item = Money>,
    ) -> Result<Money, BillingError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    /// The amount in major units with the currency's number of decimals, no code and no
    /// grouping: `1234.50`, `-0.05`, `0.00`; `1234` for JPY.
    pub fn decimal(self) -> String {
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        let exponent = usize::from(self.currency.exponent);
        if exponent == 0 {
            return format!("{sign}{magnitude}");
        }
        let scale = 10u64.pow(u32::from(self.currency.exponent));
        let (major, minor) = (magnitude / scale, magnitude % scale);
        format!("{sign}{major}.{minor:0exponent$}")
    }

    fn same_currency(self, other: Money, context: &'static str) -> Result<(), BillingError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(BillingError::CurrencyMismatch {
                context,
                expected: self.currency,
                found: other.currency,
            })
        }
    }
}

/// `1234.50 CNY`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}
