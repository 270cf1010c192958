//! Phase 2: the same recordings as phase 1, at the same concurrency, fetched by a baseline
//! client: curl ([`curl`], separate processes) or a naive in-process client that buffers
//! each body whole, the way the old design did ([`naive`]).

pub(crate) mod curl;
pub(crate) mod naive;

use std::time::Duration;

use clap::ValueEnum;

/// How often the baseline's memory is sampled.
const POLL: Duration = Duration::from_millis(100);
/// Baseline errors logged one by one; the rest are only counted.
const ERRORS_LOGGED: usize = 5;

/// Which baseline runs after the downloader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum BaselineKind {
    /// `curl --parallel` processes (their memory is theirs, not ours).
    Curl,
    /// In this process: `Device::download` and `read_to_end` into one Vec per body.
    Naive,
    /// No baseline.
    None,
}

/// What a baseline did.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) name: &'static str,
    /// Bytes of the bodies received whole.
    pub(crate) bytes: u64,
    pub(crate) seconds: f64,
    /// Peak resident memory of what did the downloading, in MB.
    pub(crate) peak_rss_mb: Option<f64>,
    /// Naive: this process's resident memory when its peak was reset (already counted in
    /// `peak_rss_mb`: the downloader's pool and runtime are still there).
    pub(crate) rss_before_mb: Option<f64>,
    /// Transfers that failed or returned other bytes than the simulator's.
    pub(crate) errors: u64,
    /// Curl: how many curl processes shared the transfers.
    pub(crate) processes: Option<usize>,
    /// CPU the simulator used meanwhile (filled in by the caller).
    pub(crate) sim_cpu_seconds: Option<f64>,
}

fn log_errors(name: &str, errors: &[String]) {
    for error in errors.iter().take(ERRORS_LOGGED) {
        tracing::warn!("{name} baseline: {error}");
    }
    if errors.len() > ERRORS_LOGGED {
        tracing::warn!(
            "{name} baseline: {} more errors",
            errors.len() - ERRORS_LOGGED
        );
    }
}
