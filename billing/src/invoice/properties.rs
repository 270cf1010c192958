//! Properties of `price_month` over generated rules and usage: the total is the sum of the
//! lines and within half a minor unit per line of the exact rational total; quantities are
//! all accounted for; more usage never costs less; a version identical to the one before
//! changes nothing; overflow is an error, never a panic.

use std::collections::BTreeMap;

use jiff::civil::{Date, date};
use proptest::prelude::*;

use super::fixtures::shanghai;
use crate::{
    BillingError, BillingMonth, Charge, Currency, InvoiceDraft, LineItem, Meter, MonthUsage,
    PricingRule, Tier, price_month, rule_in_effect, rules::FULL_DISCOUNT_BASIS_POINTS,
};

const MONTHS: [&str; 4] = ["2026-11", "2027-02", "2028-02", "2027-03"];

/// 10000 × the least common multiple of every meter's `units_per_price` (1, 10^9, 1000,
/// 3600): every line's exact amount is a whole number over it.
const EXACT_DENOMINATOR: i128 = 10_000 * 9_000_000_000;

/// Generated quantities of traffic are in units of 10 kB, so they reach gigabytes.
fn scale(meter: Meter) -> u64 {
    match meter {
        Meter::TrafficBytes => 10_000,
        _ => 1,
    }
}

fn charge_strategy(meter: Meter) -> impl Strategy<Value = Charge> {
    let scale = scale(meter);
    (
        0i64..=100_000,
        0u64..=2_000,
        prop::collection::vec((1u64..=3_000, 0u32..=4_000), 0..=3),
    )
        .prop_map(move |(unit_price_minor, allowance, steps)| {
            let mut previous: Option<Tier> = None;
            let tiers = steps
                .into_iter()
                .map(|(gap, step)| {
                    let tier = match previous {
                        None => Tier {
                            from_quantity: (gap - 1) * scale,
                            discount_basis_points: step,
                        },
                        Some(previous) => Tier {
                            from_quantity: previous.from_quantity + gap * scale,
                            discount_basis_points: (previous.discount_basis_points + step)
                                .min(FULL_DISCOUNT_BASIS_POINTS),
                        },
                    };
                    previous = Some(tier);
                    tier
                })
                .collect();
            Charge {
                unit_price_minor,
                free_allowance: allowance * scale,
                tiers,
            }
        })
}

/// A rule's charges and minimum, to be given a date.
type Terms = (BTreeMap<Meter, Charge>, i64);

fn terms_strategy() -> impl Strategy<Value = Terms> {
    let charges = Meter::ALL.map(|meter| prop::option::of(charge_strategy(meter)));
    (charges, 0i64..=500_000).prop_map(|(charges, minimum)| {
        let charges = Meter::ALL
            .into_iter()
            .zip(charges)
            .filter_map(|(meter, charge)| charge.map(|charge| (meter, charge)))
            .collect();
        (charges, minimum)
    })
}

fn rule(effective_from: Date, (charges, minimum): Terms) -> PricingRule {
    PricingRule {
        effective_from,
        currency: Currency::CNY,
        charges,
        minimum_monthly_minor: minimum,
    }
}

/// `(day index, meter index, quantity before scaling)`; the day wraps to the month.
type Entry = (u8, usize, u64);

fn entries_strategy() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec((0u8..31, 0usize..5, 0u64..=3_000), 0..=30)
}

fn to_usage(month: BillingMonth, entries: &[Entry]) -> MonthUsage {
    let mut usage = MonthUsage::new();
    for &(day, meter, quantity) in entries {
        let meter = Meter::ALL[meter];
        usage
            .add(day_of(month, day), meter, quantity * scale(meter))
            .expect("small quantities");
    }
    usage
}

fn day_of(month: BillingMonth, day: u8) -> Date {
    let day = day % month.number_of_days();
    month
        .dates()
        .nth(usize::from(day))
        .expect("a day of the month")
}

fn month_of(index: usize) -> BillingMonth {
    BillingMonth::parse(MONTHS[index]).expect("a month")
}

/// A month, its rules (one from before it, maybe one from a date within it) and usage.
fn scenario() -> impl Strategy<Value = (BillingMonth, Vec<PricingRule>, MonthUsage)> {
    (
        0..MONTHS.len(),
        terms_strategy(),
        prop::option::of((1u8..28, terms_strategy())),
        entries_strategy(),
    )
        .prop_map(|(month, first, second, entries)| {
            let month = month_of(month);
            let mut rules = vec![rule(date(2026, 1, 1), first)];
            if let Some((day, terms)) = second {
                rules.push(rule(day_of(month, day), terms));
            }
            (month, rules, to_usage(month, &entries))
        })
}

fn priced(month: BillingMonth, rules: &[PricingRule], usage: &MonthUsage) -> InvoiceDraft {
    price_month(month, &shanghai(), rules, usage).expect("valid rules and small usage")
}

/// The exact usage total over [`EXACT_DENOMINATOR`], computed unit range by unit range from
/// the rules (not from the lines).
fn exact_usage(month: BillingMonth, rules: &[PricingRule], usage: &MonthUsage) -> i128 {
    let mut total = 0i128;
    for meter in Meter::ALL {
        let mut position = 0u64;
        for day in month.dates() {
            let quantity = usage.get(day, meter);
            let charge = rule_in_effect(rules, day)
                .expect("a rule every day")
                .charge(meter);
            let end = position + quantity;
            if let Some(charge) = charge {
                let mut cuts: Vec<u64> = [position, end, charge.free_allowance]
                    .into_iter()
                    .chain(charge.tiers.iter().map(|tier| tier.from_quantity))
                    .filter(|&cut| position <= cut && cut <= end)
                    .collect();
                cuts.sort_unstable();
                cuts.dedup();
                for range in cuts.windows(2) {
                    let discount = if range[0] < charge.free_allowance {
                        FULL_DISCOUNT_BASIS_POINTS
                    } else {
                        charge
                            .tiers
                            .iter()
                            .rev()
                            .find(|tier| tier.from_quantity <= range[0])
                            .map_or(0, |tier| tier.discount_basis_points)
                    };
                    let per_unit = EXACT_DENOMINATOR
                        / (i128::from(FULL_DISCOUNT_BASIS_POINTS)
                            * i128::from(meter.units_per_price()));
                    total += i128::from(range[1] - range[0])
                        * i128::from(charge.unit_price_minor)
                        * i128::from(FULL_DISCOUNT_BASIS_POINTS - discount)
                        * per_unit;
                }
            }
            position = end;
        }
    }
    total
}

fn usage_per_meter(usage: &MonthUsage) -> BTreeMap<Meter, u64> {
    let mut totals = BTreeMap::new();
    for (_, meter, quantity) in usage.iter() {
        *totals.entry(meter).or_insert(0) += quantity;
    }
    totals.retain(|_, quantity| *quantity > 0);
    totals
}

fn line_quantities_per_meter(draft: &InvoiceDraft) -> BTreeMap<Meter, u64> {
    let mut totals = BTreeMap::new();
    for line in &draft.lines {
        if let LineItem::Usage { meter, .. } = line.item {
            *totals.entry(meter).or_insert(0) += line.quantity;
        }
    }
    totals
}

proptest! {
    #[test]
    fn the_total_is_the_sum_of_the_lines((month, rules, usage) in scenario()) {
        let draft = priced(month, &rules, &usage);
        let sum: i64 = draft.lines.iter().map(|line| line.amount.minor).sum();
        prop_assert_eq!(draft.total.minor, sum);
        let usage_sum: i64 = draft
            .lines
            .iter()
            .filter(|line| line.item != LineItem::MinimumTopUp)
            .map(|line| line.amount.minor)
            .sum();
        prop_assert_eq!(draft.subtotal.minor, usage_sum);
        prop_assert_eq!(draft.total.minor, draft.subtotal.minor.max(draft.minimum.minor));
        prop_assert!(draft.lines.iter().all(|line| line.amount.currency == draft.currency));
    }

    #[test]
    fn rounding_never_drifts_more_than_half_a_minor_unit_per_line(
        (month, rules, usage) in scenario()
    ) {
        let draft = priced(month, &rules, &usage);
        let days = i128::from(month.number_of_days());
        // Everything over EXACT_DENOMINATOR × days.
        let exact_usage = exact_usage(month, &rules, &usage) * days;
        let daily_minimums: i128 = month
            .dates()
            .map(|day| i128::from(rule_in_effect(&rules, day).map_or(0, |r| r.minimum_monthly_minor)))
            .sum();
        let exact_total = exact_usage.max(daily_minimums * EXACT_DENOMINATOR);
        let invoiced = i128::from(draft.total.minor) * EXACT_DENOMINATOR * days;
        let lines = i128::try_from(draft.lines.len()).expect("few lines");
        prop_assert!(
            2 * (invoiced - exact_total).abs() <= EXACT_DENOMINATOR * days * lines,
            "invoiced {} vs exact {} / {}", draft.total.minor, exact_total, EXACT_DENOMINATOR * days
        );
    }

    #[test]
    fn line_quantities_add_up_to_the_usage_of_each_meter((month, rules, usage) in scenario()) {
        let draft = priced(month, &rules, &usage);
        prop_assert_eq!(line_quantities_per_meter(&draft), usage_per_meter(&usage));
        prop_assert!(draft.lines.iter().all(|line| line.quantity > 0));
    }

    #[test]
    fn more_usage_never_costs_less_under_one_rule(
        month in 0..MONTHS.len(),
        terms in terms_strategy(),
        entries in entries_strategy(),
        extra in entries_strategy(),
    ) {
        let month = month_of(month);
        let rules = [rule(date(2026, 1, 1), terms)];
        let less = priced(month, &rules, &to_usage(month, &entries));
        let all: Vec<Entry> = entries.iter().chain(&extra).copied().collect();
        let more = priced(month, &rules, &to_usage(month, &all));
        prop_assert!(more.total.minor >= less.total.minor, "{} < {}", more.total.minor, less.total.minor);
        prop_assert!(more.subtotal.minor >= less.subtotal.minor);
    }

    #[test]
    fn usage_added_after_all_other_usage_never_costs_less(
        (month, rules, usage) in scenario(),
        extra in prop::collection::vec((0u8..31, 0usize..5, 1u64..=3_000), 1..=5),
    ) {
        let less = priced(month, &rules, &usage);
        let last = usage.iter().map(|(day, _, _)| day).max().unwrap_or(month.first_day());
        let mut more_usage = usage.clone();
        for (day, meter, quantity) in extra {
            let day = day_of(month, day).max(last);
            let meter = Meter::ALL[meter];
            more_usage.add(day, meter, quantity * scale(meter)).expect("small quantities");
        }
        let more = priced(month, &rules, &more_usage);
        prop_assert!(more.total.minor >= less.total.minor, "{} < {}", more.total.minor, less.total.minor);
    }

    #[test]
    fn a_version_identical_to_the_one_before_changes_nothing(
        month in 0..MONTHS.len(),
        terms in terms_strategy(),
        split in 1u8..28,
        entries in entries_strategy(),
    ) {
        let month = month_of(month);
        let usage = to_usage(month, &entries);
        let whole = [rule(date(2026, 1, 1), terms.clone())];
        let split_rules = [whole[0].clone(), rule(day_of(month, split), terms)];
        let one = priced(month, &whole, &usage);
        let two = priced(month, &split_rules, &usage);
        let usage_lines = |draft: &InvoiceDraft| {
            draft.lines.iter().filter(|l| l.item != LineItem::MinimumTopUp).cloned().collect::<Vec<_>>()
        };
        prop_assert_eq!(usage_lines(&one), usage_lines(&two));
        prop_assert_eq!(one.subtotal, two.subtotal);
        prop_assert!((one.minimum.minor - two.minimum.minor).abs() <= 1);
        prop_assert!((one.total.minor - two.total.minor).abs() <= 1);
    }

    #[test]
    fn a_rerun_gives_identical_lines((month, rules, usage) in scenario()) {
        let mut reversed = rules.clone();
        reversed.reverse();
        prop_assert_eq!(priced(month, &rules, &usage), priced(month, &reversed, &usage));
    }
}

fn huge_charge() -> impl Strategy<Value = Charge> {
    (
        0i64..=i64::MAX,
        any::<u64>(),
        prop::collection::btree_set(any::<u64>(), 0..=3),
        prop::collection::vec(0u32..=FULL_DISCOUNT_BASIS_POINTS, 3),
    )
        .prop_map(
            |(unit_price_minor, free_allowance, thresholds, mut discounts)| {
                discounts.sort_unstable();
                let tiers = thresholds
                    .into_iter()
                    .zip(discounts)
                    .map(|(from_quantity, discount_basis_points)| Tier {
                        from_quantity,
                        discount_basis_points,
                    })
                    .collect();
                Charge {
                    unit_price_minor,
                    free_allowance,
                    tiers,
                }
            },
        )
}

proptest! {
    #[test]
    fn overflow_is_an_error_never_a_panic(
        month in 0..MONTHS.len(),
        charges in Meter::ALL.map(|_| prop::option::of(huge_charge())),
        minimum in 0i64..=i64::MAX,
        entries in prop::collection::vec((0u8..31, 0usize..5, any::<u64>()), 0..=6),
    ) {
        let month = month_of(month);
        let charges = Meter::ALL
            .into_iter()
            .zip(charges)
            .filter_map(|(meter, charge)| charge.map(|charge| (meter, charge)))
            .collect();
        let rules = [rule(date(2026, 1, 1), (charges, minimum))];
        let mut usage = MonthUsage::new();
        for (day, meter, quantity) in entries {
            match usage.add(day_of(month, day), Meter::ALL[meter], quantity) {
                Ok(()) | Err(BillingError::Overflow { .. }) => {}
                Err(other) => prop_assert!(false, "not an overflow: {other}"),
            }
        }
        match price_month(month, &shanghai(), &rules, &usage) {
            Ok(draft) => {
                let sum = draft.lines.iter().map(|l| i128::from(l.amount.minor)).sum::<i128>();
                prop_assert_eq!(i128::from(draft.total.minor), sum);
            }
            Err(BillingError::Overflow { what }) => prop_assert!(!what.is_empty()),
            Err(other) => prop_assert!(false, "not an overflow: {other}"),
        }
    }
}
