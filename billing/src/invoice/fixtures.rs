//! Short ways to write rules, usage and lookups in the invoice tests.

use std::collections::BTreeMap;

use jiff::{civil::Date, tz::TimeZone};

use crate::{
    BillingError, BillingMonth, Charge, Currency, InvoiceDraft, InvoiceLine, Meter, MonthUsage,
    PricingRule, Tier, price_month,
};

/// A charge of `unit_price_minor` per pricing unit with `free_allowance` and tiers given as
/// `(from_quantity, discount_basis_points)`.
pub(crate) fn charge(unit_price_minor: i64, free_allowance: u64, tiers: &[(u64, u32)]) -> Charge {
    Charge {
        unit_price_minor,
        free_allowance,
        tiers: tiers
            .iter()
            .map(|&(from_quantity, discount_basis_points)| Tier {
                from_quantity,
                discount_basis_points,
            })
            .collect(),
    }
}

/// A CNY rule version.
pub(crate) fn rule(
    effective_from: Date,
    minimum_monthly_minor: i64,
    charges: impl IntoIterator<Item = (Meter, Charge)>,
) -> PricingRule {
    PricingRule {
        effective_from,
        currency: Currency::CNY,
        charges: charges.into_iter().collect::<BTreeMap<_, _>>(),
        minimum_monthly_minor,
    }
}

/// Usage from `(date, meter, quantity)` entries.
pub(crate) fn usage(entries: impl IntoIterator<Item = (Date, Meter, u64)>) -> MonthUsage {
    let mut usage = MonthUsage::new();
    for (date, meter, quantity) in entries {
        usage.add(date, meter, quantity).expect("no overflow");
    }
    usage
}

pub(crate) fn shanghai() -> TimeZone {
    TimeZone::get("Asia/Shanghai").expect("the system tzdb has Asia/Shanghai")
}

/// `month` priced in Asia/Shanghai.
pub(crate) fn price(
    month: &str,
    rules: &[PricingRule],
    usage: &MonthUsage,
) -> Result<InvoiceDraft, BillingError> {
    let month = BillingMonth::parse(month).expect("a month");
    price_month(month, &shanghai(), rules, usage)
}

/// The line with `key`.
pub(crate) fn line<'a>(draft: &'a InvoiceDraft, key: &str) -> &'a InvoiceLine {
    draft
        .lines
        .iter()
        .find(|line| line.key == key)
        .unwrap_or_else(|| panic!("no line {key} in {:#?}", keys(draft)))
}

/// Every line as `(key, quantity, amount in minor units)`.
pub(crate) fn summary(draft: &InvoiceDraft) -> Vec<(String, u64, i64)> {
    draft
        .lines
        .iter()
        .map(|line| (line.key.clone(), line.quantity, line.amount.minor))
        .collect()
}

pub(crate) fn keys(draft: &InvoiceDraft) -> Vec<&str> {
    draft.lines.iter().map(|line| line.key.as_str()).collect()
}

/// `(key, quantity, amount)` rows, for comparing with [`summary`].
pub(crate) fn rows(expected: &[(&str, u64, i64)]) -> Vec<(String, u64, i64)> {
    expected
        .iter()
        .map(|&(key, quantity, amount)| (key.to_owned(), quantity, amount))
        .collect()
}
