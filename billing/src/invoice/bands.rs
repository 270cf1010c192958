//! Which band (free, base price, a tier) each monthly position of a meter falls in.

use crate::{
    invoice::Band,
    rules::{Charge, FULL_DISCOUNT_BASIS_POINTS},
};

/// A run of consecutive monthly positions in one band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) band: Band,
    pub(crate) quantity: u64,
    pub(crate) discount_basis_points: u32,
}

/// Splits the monthly positions `start..end` of a meter into bands under `charge`: a
/// position below the free allowance is free; any other gets the discount of the highest
/// tier whose threshold is at or below it, or none (the base price) below the first tier.
pub(crate) fn segments(charge: &Charge, start: u64, end: u64) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut position = start;
    while position < end {
        let (band, discount_basis_points, next) = if position < charge.free_allowance {
            (
                Band::Free,
                FULL_DISCOUNT_BASIS_POINTS,
                charge.free_allowance,
            )
        } else {
            let reached = charge
                .tiers
                .partition_point(|tier| tier.from_quantity <= position);
            let next = charge
                .tiers
                .get(reached)
                .map_or(u64::MAX, |tier| tier.from_quantity);
            match reached.checked_sub(1) {
                None => (Band::Base, 0, next),
                Some(index) => (
                    Band::Tier(index),
                    charge.tiers[index].discount_basis_points,
                    next,
                ),
            }
        };
        let next = next.min(end);
        segments.push(Segment {
            band,
            quantity: next - position,
            discount_basis_points,
        });
        position = next;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::{Segment, segments};
    use crate::{
        invoice::Band,
        rules::{Charge, Tier},
    };

    fn charge() -> Charge {
        Charge {
            unit_price_minor: 100,
            free_allowance: 10,
            tiers: vec![
                Tier {
                    from_quantity: 5,
                    discount_basis_points: 1000,
                },
                Tier {
                    from_quantity: 20,
                    discount_basis_points: 2500,
                },
            ],
        }
    }

    fn check(start: u64, end: u64, expected: &[(Band, u64, u32)]) {
        let actual: Vec<(Band, u64, u32)> = segments(&charge(), start, end)
            .into_iter()
            .map(|s: Segment| (s.band, s.quantity, s.discount_basis_points))
            .collect();
        assert_eq!(actual, expected, "positions {start}..{end}");
    }

    #[test]
    fn free_allowance_wins_over_tiers_then_tiers_apply_by_position() {
        // 0..10 free (the tier from 5 does not matter there), 10..20 tier 0, 20..30 tier 1.
        check(
            0,
            30,
            &[
                (Band::Free, 10, 10_000),
                (Band::Tier(0), 10, 1000),
                (Band::Tier(1), 10, 2500),
            ],
        );
        check(
            12,
            21,
            &[(Band::Tier(0), 8, 1000), (Band::Tier(1), 1, 2500)],
        );
        check(7, 7, &[]);
    }

    #[test]
    fn positions_below_the_first_tier_get_the_base_price() {
        let charge = Charge {
            unit_price_minor: 1,
            free_allowance: 0,
            tiers: vec![Tier {
                from_quantity: 3,
                discount_basis_points: 500,
            }],
        };
        let bands: Vec<(Band, u64)> = segments(&charge, 0, 5)
            .into_iter()
            .map(|s| (s.band, s.quantity))
            .collect();
        assert_eq!(bands, [(Band::Base, 3), (Band::Tier(0), 2)]);
    }
}
