//! `dipper_relay_objects_total{op, outcome}`: what the disk backend's routes did with each
//! request. `op` is `get` or `put`; `outcome` is `ok`, `not_found`, `refused_*` (why the URL
//! was refused), `too_large`, `wrong_content_type` or `error`.

const OBJECTS_TOTAL: &str = "dipper_relay_objects_total";

/// Counts one request of `op` that ended as `outcome`.
pub fn count(op: &'static str, outcome: &'static str) {
    ::metrics::counter!(OBJECTS_TOTAL, "op" => op, "outcome" => outcome).increment(1);
}
