//! Int8 quantisation of unit vectors, and the bound on the error it makes in a dot product.
//!
//! A vector `x` is stored as codes `c = round(x / δ)` with its own step `δ = max|x| / 127`,
//! so every code is in -127..=127 and `x ≈ δ·c`, each component off by at most `δ/2`. A query
//! is quantised the same way, and the approximate cosine of query `q` and entry `x` is
//! `δq·δx·(cq · cx)`, an exact integer dot product scaled once.
//!
//! Writing `q = q̂ + e` and `x = x̂ + f` (`q̂ = δq·cq`, `|e_i| ≤ δq/2`, `|f_i| ≤ δx/2`):
//!
//! `|q·x − q̂·x̂| ≤ |q̂·f| + |e·x̂| + |e·f| ≤ ‖q̂‖₁·δx/2 + ‖x̂‖₁·δq/2 + d·δq·δx/4`
//!
//! The index keeps the largest `δx` and the largest `‖x̂‖₁` over its entries, so one bound per
//! query covers every entry; a threshold search takes every entry whose approximate score is
//! within that bound of the threshold, then confirms each with the exact `f32` vectors.

use super::error::IndexError;

/// The largest code magnitude.
const CODE_MAX: f32 = 127.0;

/// Slack added to the quantisation bound for `f32` rounding: of the approximate score (two
/// products of values below 2^24) and of the exact score (a sum of at most `MAX_DIMS`
/// products of unit-vector components, error below 1024 × 2^-24 ≈ 6e-5).
const ROUNDING_SLACK: f32 = 1e-4;

/// `values` scaled to unit length. Refused when a component is NaN or infinite, or the
/// vector is all zeros.
pub(super) fn normalised(values: &[f32]) -> Result<Vec<f32>, IndexError> {
    if values.iter().any(|v| !v.is_finite()) {
        return Err(IndexError::InvalidVector {
            reason: "a component is NaN or infinite",
        });
    }
    // Sum in f64: a sum of squares in f32 could overflow for very large components.
    let norm = values
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(IndexError::InvalidVector {
            reason: "the vector is all zeros",
        });
    }
    Ok(values
        .iter()
        .map(|&v| (f64::from(v) / norm) as f32)
        .collect())
}

/// Quantises `unit` into `codes` (same length) and returns its step `δ`.
pub(super) fn quantise(unit: &[f32], codes: &mut [i8]) -> f32 {
    let max = unit.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    // A unit vector has a component of magnitude at least 1/sqrt(d) > 0.
    let delta = max / CODE_MAX;
    for (code, &v) in codes.iter_mut().zip(unit) {
        *code = (v / delta).round().clamp(-CODE_MAX, CODE_MAX) as i8;
    }
    delta
}

/// `‖x̂‖₁` of a stored vector: its step times the sum of its code magnitudes.
pub(super) fn l1(codes: &[i8], delta: f32) -> f32 {
    delta * codes.iter().map(|&c| f32::from(c).abs()).sum::<f32>()
}

/// A query ready to scan: its unit vector (for the exact re-rank), its codes as `i16` (the
/// row kernel) and `f32` (the batch kernel; exact small integers), its step and `‖q̂‖₁`.
#[derive(Debug, Clone)]
pub(super) struct QueryCodes {
    pub unit: Vec<f32>,
    pub codes: Vec<i16>,
    pub codes_f32: Vec<f32>,
    pub delta: f32,
    pub l1: f32,
}

impl QueryCodes {
    pub(super) fn new(unit: Vec<f32>) -> QueryCodes {
        let mut codes8 = vec![0i8; unit.len()];
        let delta = quantise(&unit, &mut codes8);
        QueryCodes {
            l1: l1(&codes8, delta),
            codes: codes8.iter().map(|&c| i16::from(c)).collect(),
            codes_f32: codes8.iter().map(|&c| f32::from(c)).collect(),
            unit,
            delta,
        }
    }

    /// How far an approximate score of this query can be from the exact one, for entries
    /// whose step is at most `max_delta` and whose `‖x̂‖₁` is at most `max_l1`.
    pub(super) fn error_bound(&self, max_delta: f32, max_l1: f32) -> f32 {
        let dims = self.unit.len() as f32;
        self.l1 * max_delta / 2.0
            + max_l1 * self.delta / 2.0
            + dims * self.delta * max_delta / 4.0
            + ROUNDING_SLACK
    }
}
