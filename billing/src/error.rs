//! The crate's one error type. Every variant names what a person needs to find and fix the
//! input at fault: the rule version (by its `effective_from`), the field, the date, the meter.

use jiff::{Timestamp, civil::Date};

use crate::{meter::Meter, money::Currency, period::BillingMonth};

/// Why money could not be computed, a month not read, or a rule not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// A currency code that is not three ASCII upper-case letters, or not in the table of
    /// currencies this crate knows the minor unit of ([`Currency::new`]).
    #[error("invalid currency code {code:?}: {reason}")]
    InvalidCurrency {
        /// The code as given.
        code: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two amounts of different currencies were added or compared.
    #[error("cannot combine {expected} with {found} in {context}")]
    CurrencyMismatch {
        /// Where it happened, e.g. `Money::checked_add`.
        context: &'static str,
        /// The currency of the left-hand amount.
        expected: Currency,
        /// The currency of the right-hand amount.
        found: Currency,
    },
    /// An amount or a quantity does not fit its integer type (`i64` minor units, `u64`
    /// metered units, or the `i128` intermediate of a line's amount).
    #[error("arithmetic overflow computing {what}")]
    Overflow {
        /// What was being computed, e.g. `amount of line traffic_bytes/2026-11-01/base`.
        what: String,
    },
    /// A billing month that is not `YYYY-MM` with a month 01..=12 and a year in
    /// [`BillingMonth::MIN_YEAR`]..=[`BillingMonth::MAX_YEAR`].
    #[error("invalid billing month {input:?}: {reason} (expected YYYY-MM, e.g. 2026-11)")]
    InvalidMonth {
        /// The text (or `year-month` numbers) as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A pricing rule that [`PricingRule::validate`](crate::rules::PricingRule::validate)
    /// refuses.
    #[error("pricing rule effective from {effective_from}: {field}: {problem}")]
    InvalidRule {
        /// The rule version at fault.
        effective_from: Date,
        /// The field at fault, as a path: `charges.traffic_bytes.tiers[1].from_quantity`.
        field: String,
        /// What is wrong with it.
        problem: RuleProblem,
    },
    /// Two rule versions of one tenant take effect on the same date, so neither is the one
    /// in effect.
    #[error(
        "two pricing rules are both effective from {effective_from}; give each version its own date"
    )]
    DuplicateRule {
        /// The date both claim.
        effective_from: Date,
    },
    /// A rule version changes the currency on a date other than the 1st of a month, so that
    /// month would be billed in two currencies.
    #[error(
        "the pricing rule effective from {effective_from} changes the currency from {previous} to {currency}; a currency may change only on the 1st of a month"
    )]
    CurrencyChangeMidMonth {
        /// The rule version that changes the currency.
        effective_from: Date,
        /// The currency of the version before it.
        previous: Currency,
        /// Its own currency.
        currency: Currency,
    },
    /// The rule versions in effect during one month do not share one currency.
    #[error(
        "{month} mixes currencies: the rule effective from {first_from} bills in {first}, the one from {second_from} in {second}"
    )]
    MixedCurrencies {
        /// The month being priced.
        month: BillingMonth,
        /// The first rule version in effect during the month.
        first_from: Date,
        /// Its currency.
        first: Currency,
        /// A later version in effect during the month.
        second_from: Date,
        /// Its different currency.
        second: Currency,
    },
    /// No rule version is in effect on any date of the month, so there is no currency to
    /// bill in (the tenant's first rule takes effect later, or it has none).
    #[error("no pricing rule is in effect on any date of {month}")]
    NoRuleInMonth {
        /// The month being priced.
        month: BillingMonth,
    },
    /// Usage on a date before the tenant's first rule version: it would be unpriced.
    #[error(
        "{quantity} units of {meter} on {date} have no pricing rule in effect (the first rule takes effect on {first_rule_from})"
    )]
    NoRuleInEffect {
        /// The date of the usage.
        date: Date,
        /// The meter of the usage.
        meter: Meter,
        /// The quantity used that day.
        quantity: u64,
        /// When the tenant's earliest rule version takes effect.
        first_rule_from: Date,
    },
    /// Usage recorded on a local date that is not in the month being priced.
    #[error("usage of {meter} on {date} is outside the billed month {month}")]
    UsageOutsideMonth {
        /// The month being priced.
        month: BillingMonth,
        /// The date of the usage.
        date: Date,
        /// The meter of the usage.
        meter: Meter,
    },
    /// Metered usage keyed by an instant that is not the start of a UTC hour.
    #[error("{instant} is not the start of a UTC hour (meters are kept per whole UTC hour)")]
    NotAnHourStart {
        /// The instant as given.
        instant: Timestamp,
    },
    /// Calendar or time-zone arithmetic that jiff refused (only near the ends of its range).
    #[error("time arithmetic failed for {what}: {reason}")]
    Time {
        /// What was being computed, e.g. `start of 2026-11 in Asia/Shanghai`.
        what: String,
        /// jiff's message.
        reason: String,
    },
}

/// What is wrong with one field of a pricing rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleProblem {
    /// A price below zero (a credit is not a price).
    #[error("negative price {value}")]
    NegativePrice {
        /// The value given, in minor units.
        value: i64,
    },
    /// A minimum monthly charge below zero.
    #[error("negative minimum monthly charge {value}")]
    NegativeMinimum {
        /// The value given, in minor units.
        value: i64,
    },
    /// A tier threshold not above the previous tier's.
    #[error("tier threshold {found} is not above the previous tier's {previous}")]
    TiersNotAscending {
        /// The previous tier's `from_quantity`.
        previous: u64,
        /// This tier's `from_quantity`.
        found: u64,
    },
    /// A discount over 100 % (10000 basis points).
    #[error("discount of {basis_points} basis points is over 100 % (10000)")]
    DiscountOver100Percent {
        /// The discount given.
        basis_points: u32,
    },
    /// A tier whose discount is smaller than the tier before it.
    #[error("discount of {found} basis points is below the previous tier's {previous}")]
    DiscountDecreasing {
        /// The previous tier's discount.
        previous: u32,
        /// This tier's discount.
        found: u32,
    },
}

impl BillingError {
    pub(crate) fn overflow(what: impl Into<String>) -> Self {
        BillingError::Overflow { what: what.into() }
    }

    pub(crate) fn time(what: impl Into<String>, error: jiff::Error) -> Self {
        BillingError::Time {
            what: what.into(),
            reason: error.to_string(),
        }
    }
}
