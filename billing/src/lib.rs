//! What a tenant of the relay owes for a calendar month: money in minor units, the meters,
//! versioned pricing rules, billing months in the tenant's zone, and [`price_month`], which
//! turns a month's usage into an [`InvoiceDraft`].
//!
//! Contract:
//! - Pure computation: no database, no network, no files, no clock. Instants, zones, rules
//!   and usage are passed in; the relay stores rules, usage and invoices and looks zones up.
//! - A tenant is billed per calendar month of its own IANA zone ([`DEFAULT_TIME_ZONE`],
//!   Asia/Shanghai, unless it chose one). Usage is kept per local date; a metered UTC hour
//!   counts on the local date of its start instant ([`local_date_of_hour`]).
//! - Amounts are `i64` minor units of one [`Currency`]; every sum and product is checked,
//!   and an overflow is [`BillingError::Overflow`], never a wrap or a panic.
//!
//! Pricing rules (all quantities in the meter's metered unit, see [`meter`]):
//! - **Rule in effect.** On a date, the version with the latest `effective_from <= date`.
//!   A version that takes effect mid-month prices usage from its date on, never the dates
//!   before it. Usage on a date before the tenant's first version is an error
//!   ([`BillingError::NoRuleInEffect`]), never silently free. All versions in effect during
//!   one month share one currency ([`BillingError::MixedCurrencies`]; [`validate_versions`]
//!   lets a currency change only on the 1st of a month).
//! - **Positions.** Each meter's units of the month are numbered 0, 1, 2, ... in date
//!   order (within a date the order does not matter: all its units share one rule). The
//!   unit at position `p` is free while `p` is below the free allowance of its date's rule,
//!   and otherwise gets the discount of that rule's highest tier with `from_quantity <= p`
//!   (graduated: each unit by its own position, not the whole volume at the deepest tier).
//!   Positions run across a mid-month change: a new version's allowance and tiers apply to
//!   the month's running count, not a fresh one.
//! - **Lines.** One per (meter, rule version, band) with a quantity, the band being free,
//!   base or tier `i`. A meter the rule does not charge is listed at price 0, so each
//!   meter's line quantities add up to its usage. A version whose charge for a meter equals
//!   the previous version's (same currency) does not start new lines for it: its lines
//!   keep the earlier version's date. Keys: `{meter}/{version date}/{band}`,
//!   e.g. `device_days/2026-11-01/tier-0`.
//! - **Rounding.** A line's amount is the exact rational
//!   `quantity × unit_price × (10000 − discount_bp) / (10000 × units_per_price)`, computed in
//!   `i128` and rounded once to the minor unit, half away from zero. Nothing else is
//!   rounded except the minimum; so the invoice is off the exact total by at most half a
//!   minor unit per line.
//! - **Minimum.** Each version's `minimum_monthly_minor` counts for the days it is in
//!   effect: `Σ minimum(rule of date) / days in month`, exact, rounded once the same way;
//!   days before the first version count 0 (a tenant starting mid-month owes a prorated
//!   minimum). If the usage subtotal is below it, a top-up line (key `minimum`) makes up the
//!   difference.
//! - **Total** = the sum of the line amounts, always; the subtotal is the sum of the usage
//!   lines.
//! - **Monotone.** Under one version per month, more usage never costs less. Across a
//!   mid-month change it can: units added before the change move the later units to higher
//!   positions, where the new version may give a deeper discount than the old one charged.
//!   Adding usage on the month's last date with usage never lowers the total.

#![warn(missing_docs)]

mod error;
pub mod invoice;
pub mod meter;
pub mod money;
pub mod period;
pub mod rules;

pub use error::{BillingError, RuleProblem};
pub use invoice::{Band, InvoiceDraft, InvoiceLine, LineItem, MonthUsage, price_month};
pub use meter::Meter;
pub use money::{Currency, Money};
pub use period::{BillingMonth, DEFAULT_TIME_ZONE, local_date_of_hour};
pub use rules::{Charge, PricingRule, Tier, rule_in_effect, validate_versions};
