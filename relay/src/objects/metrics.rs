//! `dipper_relay_objects_total{op, outcome}`: what the disk backend's routes did with each
//! request. `op` is `get` or `put`; `outcome` is `ok`, `not_found`, `refused_*` (why the URL
//! was refused), `too_large`, `wrong_content_type` or `error`.
//!
//! `dipper_relay_object_store_operations_total{op, backend, outcome}`: what the relay's own
//! calls on its store did (`op`: `put`, `get`, `exists`, `delete`; `backend`: `disk` or
//! `s3`; `outcome`: `ok` or `error`; an object not found is `ok`).

const OBJECTS_TOTAL: &str = "dipper_relay_objects_total";
const OPERATIONS_TOTAL: &str = "dipper_relay_object_store_operations_total";

/// Counts one request of `op` that ended as `outcome`.
pub fn count(op: &'static str, outcome: &'static str) {
    ::metrics::counter!(OBJECTS_TOTAL, "op" => op, "outcome" => outcome).increment(1);
}

/// Counts one call of the store's `op` on `backend`; hands its result back.
pub(super) fn operation<T, E>(
    op: &'static str,
    backend: &'static str,
    result: Result<T, E>,
) -> Result<T, E> {
    let outcome = if result.is_ok() { "ok" } else { "error" };
    ::metrics::counter!(OPERATIONS_TOTAL, "op" => op, "backend" => backend, "outcome" => outcome)
        .increment(1);
    result
}
