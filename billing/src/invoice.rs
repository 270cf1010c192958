//! A tenant's invoice for one month: [`price_month`] turns the month's usage and the
//! tenant's rule versions into an [`InvoiceDraft`].
//!
//! Contract (the crate docs give the rules in full):
//! - Each meter is priced by walking the month's dates in order, keeping its cumulative
//!   monthly quantity. The unit at position `p` (from 0) is priced by the rule in effect on
//!   its date: free while `p` is below that rule's free allowance, otherwise discounted by the
//!   rule's highest tier with `from_quantity <= p`.
//! - One line per (meter, rule version, band) with quantity; a version whose charge for the
//!   meter is identical to the previous version's continues that version's lines, so adding a
//!   version that changes nothing for a meter changes nothing on its lines.
//! - A line's amount is computed exactly and rounded once, half away from zero. The
//!   subtotal is the sum of the usage lines; a top-up line brings it to the prorated
//!   minimum; the total is the sum of all lines, nothing else.
//! - Lines come in a stable order (meter, rule version, band; the top-up last), each with a
//!   stable key, so pricing the same input again gives identical lines.

use std::collections::BTreeMap;

use jiff::{Timestamp, civil::Date, tz::TimeZone};
use serde::{Deserialize, Serialize};

use crate::{
    BillingError, Currency, Meter, Money,
    period::BillingMonth,
    rules::{Charge, PricingRule, validate_each},
};

mod amount;
mod bands;
mod usage;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod months;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

pub use usage::MonthUsage;

/// The key of the minimum-charge top-up line.
pub const MINIMUM_TOP_UP_KEY: &str = "minimum";

/// A priced month, ready to be stored as an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceDraft {
    /// The month billed.
    pub month: BillingMonth,
    /// The first instant of the month in the tenant's zone.
    pub period_start: Timestamp,
    /// The first instant of the next month in the tenant's zone (exclusive).
    pub period_end: Timestamp,
    /// The currency of every amount.
    pub currency: Currency,
    /// The lines, in their stable order.
    pub lines: Vec<InvoiceLine>,
    /// The sum of the usage lines (every line but the top-up).
    pub subtotal: Money,
    /// The month's minimum charge, prorated over the days each version was in effect.
    pub minimum: Money,
    /// The sum of all lines: the subtotal, or the minimum when the subtotal is below it.
    pub total: Money,
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceLine {
    /// Stable across re-runs: `{meter}/{rule effective_from}/{band}`, e.g.
    /// `device_days/2026-11-01/tier-0`, or [`MINIMUM_TOP_UP_KEY`].
    pub key: String,
    /// A sentence for the tenant.
    pub description: String,
    /// What the line is for.
    pub item: LineItem,
    /// Metered units (bytes, calls, camera-seconds, ...); 1 for the top-up.
    pub quantity: u64,
    /// The price per pricing unit, before the discount (for the top-up, the top-up itself).
    pub unit_price: Money,
    /// How many metered units the unit price is for ([`Meter::units_per_price`]).
    pub units_per_price: u64,
    /// The discount in basis points: 10000 on free lines, 0 on base-price lines.
    pub discount_basis_points: u32,
    /// `quantity × unit_price × (10000 − discount) / (10000 × units_per_price)`, rounded
    /// once to the minor unit, half away from zero.
    pub amount: Money,
}

/// What an invoice line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LineItem {
    /// Usage of one meter in one band under one rule version.
    Usage {
        /// The meter.
        meter: Meter,
        /// The `effective_from` of the rule version that set this meter's charge.
        rule_effective_from: Date,
        /// The band of the charge.
        band: Band,
    },
    /// The difference between the usage subtotal and the prorated minimum charge.
    MinimumTopUp,
}

/// The part of a charge a unit falls in, in line order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Below the free allowance (100 % off); key `free`.
    Free,
    /// Below the first tier: the unit price, no discount; key `base`.
    Base,
    /// In the tier at this index of the rule's `tiers`; key `tier-{index}`.
    Tier(usize),
}

impl Band {
    /// The band's part of a line key: `free`, `base`, `tier-0`, ...
    pub fn key(self) -> String {
        match self {
            Band::Free => "free".to_owned(),
            Band::Base => "base".to_owned(),
            Band::Tier(index) => format!("tier-{index}"),
        }
    }
}

/// A usage line while the month is walked.
struct PendingLine {
    quantity: u64,
    unit_price_minor: i64,
    discount_basis_points: u32,
    billed: bool,
}

/// Prices `month` for a tenant billed in `tz` under its rule versions `rules` with the
/// month's `usage` per local date. `rules` may come in any order; they must include every
/// version from the one in effect on the month's 1st on (all of the tenant's will do).
///
/// Errors: an invalid rule or two on one date; no rule in effect during the month; rules of
/// two currencies in effect during it; usage on a date outside the month, or on a date
/// before the first rule; an overflow of a quantity or an amount.
pub fn price_month(
    month: BillingMonth,
    tz: &TimeZone,
    rules: &[PricingRule],
    usage: &MonthUsage,
) -> Result<InvoiceDraft, BillingError> {
    let sorted = validate_each(rules)?;
    let schedule: Vec<(Date, Option<usize>)> = month
        .dates()
        .map(|date| {
            let index = sorted.partition_point(|rule| rule.effective_from <= date);
            (date, index.checked_sub(1))
        })
        .collect();
    let currency = month_currency(month, &sorted, &schedule)?;
    for (date, meter, _) in usage.iter() {
        if !month.contains(date) {
            return Err(BillingError::UsageOutsideMonth { month, date, meter });
        }
    }

    let mut lines = Vec::new();
    for meter in Meter::ALL {
        lines.extend(price_meter(meter, currency, &sorted, &schedule, usage)?);
    }
    let subtotal = Money::checked_sum(currency, lines.iter().map(|line| line.amount))?;

    let daily_minimums = schedule
        .iter()
        .map(|&(_, rule)| rule.map_or(0, |index| sorted[index].minimum_monthly_minor));
    let minimum = Money::new(
        amount::prorated_minimum(daily_minimums, month.number_of_days())?,
        currency,
    );
    if subtotal.minor < minimum.minor {
        let top_up = minimum.checked_sub(subtotal)?;
        lines.push(InvoiceLine {
            key: MINIMUM_TOP_UP_KEY.to_owned(),
            description: format!(
                "minimum monthly charge of {} ({} of usage)",
                minimum.decimal(),
                subtotal.decimal()
            ),
            item: LineItem::MinimumTopUp,
            quantity: 1,
            unit_price: top_up,
            units_per_price: 1,
            discount_basis_points: 0,
            amount: top_up,
        });
    }
    let total = Money::checked_sum(currency, lines.iter().map(|line| line.amount))?;

    Ok(InvoiceDraft {
        month,
        period_start: month.start(tz)?,
        period_end: month.end(tz)?,
        currency,
        lines,
        subtotal,
        minimum,
        total,
    })
}

/// The one currency of the versions in effect during the month.
fn month_currency(
    month: BillingMonth,
    sorted: &[&PricingRule],
    schedule: &[(Date, Option<usize>)],
) -> Result<Currency, BillingError> {
    let mut in_effect = schedule.iter().filter_map(|&(_, rule)| rule);
    let first = sorted[in_effect
        .next()
        .ok_or(BillingError::NoRuleInMonth { month })?];
    for index in in_effect {
        let rule = sorted[index];
        if rule.currency != first.currency {
            return Err(BillingError::MixedCurrencies {
                month,
                first_from: first.effective_from,
                first: first.currency,
                second_from: rule.effective_from,
                second: rule.currency,
            });
        }
    }
    Ok(first.currency)
}

/// The usage lines of one meter, in (rule version, band) order.
fn price_meter(
    meter: Meter,
    currency: Currency,
    sorted: &[&PricingRule],
    schedule: &[(Date, Option<usize>)],
    usage: &MonthUsage,
) -> Result<Vec<InvoiceLine>, BillingError> {
    let terms_from = terms_from(meter, sorted);
    let not_billed = Charge {
        unit_price_minor: 0,
        free_allowance: 0,
        tiers: Vec::new(),
    };
    let mut pending: BTreeMap<(Date, Band), PendingLine> = BTreeMap::new();
    let mut position: u64 = 0;
    for &(date, rule) in schedule {
        let quantity = usage.get(date, meter);
        if quantity == 0 {
            continue;
        }
        let index = rule.ok_or_else(|| BillingError::NoRuleInEffect {
            date,
            meter,
            quantity,
            first_rule_from: sorted[0].effective_from,
        })?;
        let charge = sorted[index].charge(meter);
        let end = position.checked_add(quantity).ok_or_else(|| {
            BillingError::overflow(format!("the monthly quantity of {meter} up to {date}"))
        })?;
        for segment in bands::segments(charge.unwrap_or(&not_billed), position, end) {
            let line = pending
                .entry((terms_from[index], segment.band))
                .or_insert_with(|| PendingLine {
                    quantity: 0,
                    unit_price_minor: charge.map_or(0, |charge| charge.unit_price_minor),
                    discount_basis_points: segment.discount_basis_points,
                    billed: charge.is_some(),
                });
            // Cannot overflow: the line's quantity is part of `end`.
            line.quantity += segment.quantity;
        }
        position = end;
    }

    pending
        .into_iter()
        .map(|((rule_effective_from, band), line)| {
            let key = format!("{meter}/{rule_effective_from}/{}", band.key());
            let amount = amount::line_amount(
                line.quantity,
                line.unit_price_minor,
                line.discount_basis_points,
                meter.units_per_price(),
                &key,
            )?;
            Ok(InvoiceLine {
                description: describe(meter, rule_effective_from, band, &line),
                key,
                item: LineItem::Usage {
                    meter,
                    rule_effective_from,
                    band,
                },
                quantity: line.quantity,
                unit_price: Money::new(line.unit_price_minor, currency),
                units_per_price: meter.units_per_price(),
                discount_basis_points: line.discount_basis_points,
                amount: Money::new(amount, currency),
            })
        })
        .collect()
}

/// For each version (by index in `sorted`), the `effective_from` of the version that set its
/// charge for `meter`: its own, or that of the version before it when the charge and
/// currency are the same.
fn terms_from(meter: Meter, sorted: &[&PricingRule]) -> Vec<Date> {
    let mut terms_from: Vec<Date> = Vec::with_capacity(sorted.len());
    for (index, rule) in sorted.iter().enumerate() {
        let continued = index
            .checked_sub(1)
            .map(|previous| (previous, sorted[previous]))
            .filter(|(_, previous)| {
                previous.currency == rule.currency && previous.charge(meter) == rule.charge(meter)
            })
            .map(|(previous, _)| terms_from[previous]);
        terms_from.push(continued.unwrap_or(rule.effective_from));
    }
    terms_from
}

fn describe(meter: Meter, rule_effective_from: Date, band: Band, line: &PendingLine) -> String {
    let quantity = format!("{} {} ({})", line.quantity, meter.metered_unit(), meter);
    let price = format!("price of {rule_effective_from}");
    if !line.billed {
        return format!("{quantity}, not billed under the {price}");
    }
    match band {
        Band::Free => format!("{quantity}, free allowance of the {price}"),
        Band::Base => format!("{quantity} at the {price}, per {}", meter.pricing_unit()),
        Band::Tier(index) => format!(
            "{quantity} at the {price}, per {}, tier {index}: {}.{:02} % off",
            meter.pricing_unit(),
            line.discount_basis_points / 100,
            line.discount_basis_points % 100
        ),
    }
}
