//! The downloader's metrics, through the `metrics` facade (a no-op until the binary
//! installs a recorder, such as the box's Prometheus exporter).
//!
//! Counters: `dipper_downloader_bytes_total{source="device"|"cache"}`,
//! `dipper_downloader_errors_total{kind}` (every failed attempt, retried or not),
//! `dipper_downloader_downloads_total{outcome}`. Gauges, sampled on the downloader's tick:
//! `dipper_downloader_active{level}`, `dipper_downloader_queue_depth{level}`,
//! `dipper_downloader_pool_chunks_in_use`, `dipper_downloader_pool_chunks_capacity`.

use super::{
    fetch::FetchError,
    pool::ChunkPool,
    scheduler::{Priority, Scheduler},
};

pub const BYTES: &str = "dipper_downloader_bytes_total";
pub const ERRORS: &str = "dipper_downloader_errors_total";
pub const DOWNLOADS: &str = "dipper_downloader_downloads_total";
pub const ACTIVE: &str = "dipper_downloader_active";
pub const QUEUE_DEPTH: &str = "dipper_downloader_queue_depth";
pub const POOL_IN_USE: &str = "dipper_downloader_pool_chunks_in_use";
pub const POOL_CAPACITY: &str = "dipper_downloader_pool_chunks_capacity";

const LEVELS: [&str; Priority::LEVELS] = ["0", "1", "2", "3", "4", "5"];

/// Where downloaded bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Device,
    Cache,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Device => "device",
            Source::Cache => "cache",
        }
    }
}

pub(super) fn bytes(source: Source, n: u64) {
    metrics::counter!(BYTES, "source" => source.as_str()).increment(n);
}

pub(super) fn attempt_failed(error: &isapi::Error) {
    metrics::counter!(ERRORS, "kind" => error_kind(error)).increment(1);
}

pub(super) fn finished(result: &Result<u64, FetchError>) {
    let outcome = match result {
        Ok(_) => "done",
        Err(FetchError::Cancelled) => "cancelled",
        Err(FetchError::ConsumerGone) => "consumer_gone",
        Err(FetchError::Device { .. }) => "failed",
    };
    metrics::counter!(DOWNLOADS, "outcome" => outcome).increment(1);
}

/// Sets the gauges from the scheduler's and the pool's state.
pub(super) fn sample(scheduler: &Scheduler, pool: &ChunkPool) {
    for (level, (active, queued)) in scheduler
        .active()
        .into_iter()
        .zip(scheduler.queue_depths())
        .enumerate()
    {
        metrics::gauge!(ACTIVE, "level" => LEVELS[level]).set(active as f64);
        metrics::gauge!(QUEUE_DEPTH, "level" => LEVELS[level]).set(queued as f64);
    }
    metrics::gauge!(POOL_IN_USE).set(pool.in_use() as f64);
    metrics::gauge!(POOL_CAPACITY).set(pool.capacity() as f64);
}

/// A low-cardinality name for an error's kind.
pub fn error_kind(error: &isapi::Error) -> &'static str {
    use isapi::ErrorKind as K;
    if error.is_device_busy() {
        return "device_busy";
    }
    match &error.kind {
        K::BadCredentials { .. } => "bad_credentials",
        K::LockedOut { .. } => "locked_out",
        K::CredentialsRejectedEarlier => "credentials_rejected_earlier",
        K::Device { .. } => "device_error",
        K::Refused { .. } => "refused",
        K::Http { .. } => "http",
        K::Connect(_) => "connect",
        K::Timeout { .. } => "timeout",
        K::Stalled { .. } => "stalled",
        K::Truncated { .. } => "truncated",
        K::Transport { .. } => "transport",
        K::Xml(_) => "xml",
        K::Protocol(_) => "protocol",
        K::InvalidRequest(_) => "invalid_request",
    }
}
