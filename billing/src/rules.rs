//! A tenant's pricing: versioned rules, each in effect from a local date until the next.
//!
//! Contract:
//! - A [`PricingRule`] takes effect on `effective_from`, a local date in the tenant's zone,
//!   and stays in effect until the next version's `effective_from`. The rule in effect on a
//!   date is the latest with `effective_from <= date` ([`rule_in_effect`]); a version never
//!   applies to dates before its own.
//! - Per meter a rule has an optional [`Charge`]: a unit price (per the meter's pricing unit,
//!   see [`Meter::units_per_price`]), a free allowance per month and graduated volume
//!   discounts ([`Tier`]), all counted in metered units. A meter without a charge is not
//!   billed while that rule is in effect: its usage is listed on the invoice at price 0.
//! - [`PricingRule::validate`] refuses what cannot be priced and names the field:
//!   negative prices or minimum, tier thresholds not strictly ascending, discounts over
//!   100 % or smaller than the tier before. [`validate_versions`] also refuses two versions on
//!   one date and a currency change anywhere but on the 1st of a month.
//! - JSON: every field named below, unknown fields refused. A charge's `free_allowance`
//!   defaults to 0 and its `tiers` to none; every other field is required.
//!
//! ```json
//! {"effective_from": "2026-11-01", "currency": "CNY", "minimum_monthly_minor": 10000,
//!  "charges": {"traffic_bytes": {"unit_price_minor": 80, "free_allowance": 100000000000,
//!              "tiers": [{"from_quantity": 1000000000000, "discount_basis_points": 2000}]}}}
//! ```

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::{BillingError, Currency, Meter, RuleProblem};

#[cfg(test)]
mod tests;

/// 100 % as basis points (1 basis point = 0.01 %).
pub const FULL_DISCOUNT_BASIS_POINTS: u32 = 10_000;

/// One version of a tenant's pricing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingRule {
    /// The local date (tenant's zone) from which this version is in effect.
    pub effective_from: Date,
    /// The currency of every price in the rule.
    pub currency: Currency,
    /// What each billed meter costs; a meter absent here is not billed under this version.
    pub charges: BTreeMap<Meter, Charge>,
    /// The least a whole month costs under this version, in minor units, prorated by the
    /// days it is in effect within a month (0 for none).
    pub minimum_monthly_minor: i64,
}

/// The price of one meter under one rule version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Charge {
    /// The price of one pricing unit ([`Meter::units_per_price`] metered units) in minor
    /// units: fen per GB for `traffic_bytes`.
    pub unit_price_minor: i64,
    /// Metered units per month that cost nothing: units at monthly positions below this are
    /// free (default 0).
    #[serde(default)]
    pub free_allowance: u64,
    /// Graduated volume discounts, thresholds strictly ascending (default: none).
    #[serde(default)]
    pub tiers: Vec<Tier>,
}

/// A graduated volume discount: the units of a month at positions `from_quantity` and
/// beyond (counting from 0, free units included) get `discount_basis_points` off, until the
/// next tier's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The monthly position, in metered units, from which the discount applies.
    pub from_quantity: u64,
    /// The discount in basis points: 2000 is 20 % off; at most 10000.
    pub discount_basis_points: u32,
}

impl PricingRule {
    /// This version's charge for `meter`, if it bills it.
    pub fn charge(&self, meter: Meter) -> Option<&Charge> {
        self.charges.get(&meter)
    }

    /// Checks every field; the error names the first field at fault and what is wrong.
    pub fn validate(&self) -> Result<(), BillingError> {
        let invalid = |field: String, problem| BillingError::InvalidRule {
            effective_from: self.effective_from,
            field,
            problem,
        };
        if self.minimum_monthly_minor < 0 {
            return Err(invalid(
                "minimum_monthly_minor".to_owned(),
                RuleProblem::NegativeMinimum {
                    value: self.minimum_monthly_minor,
                },
            ));
        }
        for (meter, charge) in &self.charges {
            charge
                .check()
                .map_err(|(field, problem)| invalid(format!("charges.{meter}.{field}"), problem))?;
        }
        Ok(())
    }
}

impl Charge {
    /// The field (relative to the charge) and problem of the first fault.
    fn check(&self) -> Result<(), (String, RuleProblem)> {
        if self.unit_price_minor < 0 {
            return Err((
                "unit_price_minor".to_owned(),
                RuleProblem::NegativePrice {
                    value: self.unit_price_minor,
                },
            ));
        }
        let mut previous: Option<Tier> = None;
        for (index, tier) in self.tiers.iter().enumerate() {
            let field = |name: &str| format!("tiers[{index}].{name}");
            if tier.discount_basis_points > FULL_DISCOUNT_BASIS_POINTS {
                return Err((
                    field("discount_basis_points"),
                    RuleProblem::DiscountOver100Percent {
                        basis_points: tier.discount_basis_points,
                    },
                ));
            }
            if let Some(previous) = previous {
                if tier.from_quantity <= previous.from_quantity {
                    return Err((
                        field("from_quantity"),
                        RuleProblem::TiersNotAscending {
                            previous: previous.from_quantity,
                            found: tier.from_quantity,
                        },
                    ));
                }
                if tier.discount_basis_points < previous.discount_basis_points {
                    return Err((
                        field("discount_basis_points"),
                        RuleProblem::DiscountDecreasing {
                            previous: previous.discount_basis_points,
                            found: tier.discount_basis_points,
                        },
                    ));
                }
            }
            previous = Some(*tier);
        }
        Ok(())
    }
}

/// Checks a tenant's versions together, as when one is added: each valid, no two on one
/// date, and the currency changing only on the 1st of a month. The versions may come in any
/// order.
pub fn validate_versions(rules: &[PricingRule]) -> Result<(), BillingError> {
    let sorted = validate_each(rules)?;
    for pair in sorted.windows(2) {
        let (previous, rule) = (pair[0], pair[1]);
        if previous.currency != rule.currency && rule.effective_from.day() != 1 {
            return Err(BillingError::CurrencyChangeMidMonth {
                effective_from: rule.effective_from,
                previous: previous.currency,
                currency: rule.currency,
            });
        }
    }
    Ok(())
}

/// Validates each version and refuses two on one date; returns them sorted by
/// `effective_from`. (Pricing a month checks the currency of that month's versions only.)
pub(crate) fn validate_each(rules: &[PricingRule]) -> Result<Vec<&PricingRule>, BillingError> {
    let mut sorted: Vec<&PricingRule> = rules.iter().collect();
    sorted.sort_by_key(|rule| rule.effective_from);
    for rule in &sorted {
        rule.validate()?;
    }
    if let Some(pair) = sorted
        .windows(2)
        .find(|pair| pair[0].effective_from == pair[1].effective_from)
    {
        return Err(BillingError::DuplicateRule {
            effective_from: pair[1].effective_from,
        });
    }
    Ok(sorted)
}

/// The version in effect on `date`: the latest with `effective_from <= date`, if any. With
/// two versions on one date (which [`validate_versions`] refuses) either may be returned.
pub fn rule_in_effect(rules: &[PricingRule], date: Date) -> Option<&PricingRule> {
    rules
        .iter()
        .filter(|rule| rule.effective_from <= date)
        .max_by_key(|rule| rule.effective_from)
}
