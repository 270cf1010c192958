//! What the benchmarks' reports share: figures rounded for the JSON line, and the default
//! number of threads.

/// `value` rounded to `places` decimal places.
pub(crate) fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// The cores this process may use (1 when that is unknown): the default of the `--threads`
/// options, and the `worker_threads` of the reports.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
