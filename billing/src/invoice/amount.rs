//! Exact rational amounts, rounded once to the minor unit, half away from zero.

use crate::{BillingError, rules::FULL_DISCOUNT_BASIS_POINTS};

/// `numerator / denominator` rounded to the nearest integer, halves away from zero
/// (2.5 -> 3, -2.5 -> -3). `denominator` must be positive.
pub(crate) fn divide_rounding_half_away_from_zero(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.unsigned_abs() * 2 >= denominator.unsigned_abs() {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

/// A line's amount in minor units: the exact
/// `quantity × unit_price × (10000 − discount) / (10000 × units_per_price)` in `i128`,
/// rounded once. `what` names the line in an overflow error.
pub(crate) fn line_amount(
    quantity: u64,
    unit_price_minor: i64,
    discount_basis_points: u32,
    units_per_price: u64,
    what: &str,
) -> Result<i64, BillingError> {
    let overflow = || BillingError::overflow(format!("the amount of line {what}"));
    let payable_basis_points = FULL_DISCOUNT_BASIS_POINTS
        .checked_sub(discount_basis_points)
        .ok_or_else(overflow)?;
    let numerator = i128::from(quantity)
        .checked_mul(i128::from(unit_price_minor))
        .and_then(|n| n.checked_mul(i128::from(payable_basis_points)))
        .ok_or_else(overflow)?;
    let denominator = i128::from(FULL_DISCOUNT_BASIS_POINTS) * i128::from(units_per_price);
    let amount = divide_rounding_half_away_from_zero(numerator, denominator);
    i64::try_from(amount).map_err(|_| overflow())
}

/// The month's minimum charge: `Σ minimum(rule of date)` over the month's dates, divided by
/// the number of days, rounded once. Dates with no rule in effect contribute 0.
pub(crate) fn prorated_minimum(
    daily_minimums: impl IntoIterator<Item = i64>,
    days_in_month: u8,
) -> Result<i64, BillingError> {
    let sum: i128 = daily_minimums.into_iter().map(i128::from).sum();
    let minimum = divide_rounding_half_away_from_zero(sum, i128::from(days_in_month));
    i64::try_from(minimum).map_err(|_| BillingError::overflow("the prorated minimum charge"))
}

#[cfg(test)]
mod tests {
    use super::{divide_rounding_half_away_from_zero as round, line_amount, prorated_minimum};
    use crate::BillingError;

    #[test]
    fn halves_round_away_from_zero_and_the_rest_to_nearest() {
        for (numerator, denominator, expected) in [
            (5, 2, 3),     // 2.5
            (-5, 2, -3),   // -2.5
            (7, 3, 2),     // 2.33
            (8, 3, 3),     // 2.67
            (-7, 3, -2),   // -2.33
            (-8, 3, -3),   // -2.67
            (1, 10, 0),    // 0.1
            (0, 7, 0),     // 0
            (15, 10, 2),   // 1.5
            (14, 10, 1),   // 1.4
            (-15, 10, -2), // -1.5
        ] {
            assert_eq!(
                round(numerator, denominator),
                expected,
                "{numerator}/{denominator}"
            );
        }
    }

    #[test]
    fn line_amounts_are_rounded_once_from_the_exact_rational() {
        // 1.5 GB at 80 fen/GB, 20 % off: 1_500_000_000 × 80 × 8000 / (10000 × 10^9) = 96.
        assert_eq!(
            line_amount(1_500_000_000, 80, 2000, 1_000_000_000, "x"),
            Ok(96)
        );
        // 1 call at 3 fen per 1000, no discount: 3/1000 = 0.003 -> 0.
        assert_eq!(line_amount(1, 3, 0, 1000, "x"), Ok(0));
        // 500 calls at 3 fen per 1000: 1.5 -> 2 (half away from zero).
        assert_eq!(line_amount(500, 3, 0, 1000, "x"), Ok(2));
        // Free: 100 % off.
        assert_eq!(line_amount(12_345, 999, 10_000, 1, "x"), Ok(0));
    }

    #[test]
    fn an_amount_beyond_i64_is_an_overflow_naming_the_line() {
        let error = line_amount(u64::MAX, i64::MAX, 0, 1, "searches/2026-11-01/base")
            .expect_err("far beyond i64");
        assert_eq!(
            error,
            BillingError::Overflow {
                what: "the amount of line searches/2026-11-01/base".to_owned()
            }
        );
        assert!(matches!(
            line_amount(u64::MAX, 2, 0, 1, "x"),
            Err(BillingError::Overflow { .. })
        ));
    }

    #[test]
    fn the_minimum_is_prorated_by_days_and_rounded_once() {
        // 10 days at 3000 and 20 days at 6000 of a 30-day month:
        // (10 × 3000 + 20 × 6000) / 30 = 150000 / 30 = 5000.
        let days = std::iter::repeat_n(3000, 10).chain(std::iter::repeat_n(6000, 20));
        assert_eq!(prorated_minimum(days, 30), Ok(5000));
        // 1 day of 31 at 100: 100/31 = 3.23 -> 3.
        let days = std::iter::once(100).chain(std::iter::repeat_n(0, 30));
        assert_eq!(prorated_minimum(days, 31), Ok(3));
    }
}
