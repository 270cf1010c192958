//! The report of `cameras`: one JSON object (field meanings in the README, "Benchmark: the
//! downloader against cameras") or a short summary for a person.

use std::fmt::Write as _;

use serde::Serialize;

use super::{baseline, live};
use crate::figures::round;

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) cameras: u32,
    pub(crate) concurrency: usize,
    /// Per download stream; 0 = unthrottled.
    pub(crate) rate_kbps: u64,
    pub(crate) recording_minutes: u32,
    pub(crate) device_limit: u32,
    pub(crate) memory_budget_mb: usize,
    pub(crate) chunk_kb: usize,
    pub(crate) read_buffer_kb: usize,
    /// Recordings downloaded to their end (and checked) by the downloader.
    pub(crate) recordings: usize,
    pub(crate) bytes: u64,
    pub(crate) seconds: f64,
    /// Megabits per second (10^6 bits).
    pub(crate) throughput_mbps: f64,
    pub(crate) peak_rss_mb: Option<f64>,
    pub(crate) errors: u64,
    pub(crate) corrupt: u64,
    pub(crate) restarts: u64,
    pub(crate) pool_chunks_allocated: usize,
    pub(crate) pool_chunks_capacity: usize,
    /// Bytes per `Data` event: how full the downloader's chunks were on average.
    pub(crate) mean_chunk_bytes: u64,
    /// CPU this process used in phase 1.
    pub(crate) cpu_seconds: Option<f64>,
    /// CPU the simulator process used in phase 1.
    pub(crate) sim_cpu_seconds: Option<f64>,
    pub(crate) baseline: Option<BaselineReport>,
    pub(crate) ratio_vs_baseline: Option<f64>,
    pub(crate) live_first_byte_ms: Option<LiveReport>,
}

#[derive(Debug, Serialize)]
pub(crate) struct BaselineReport {
    pub(crate) name: &'static str,
    pub(crate) bytes: u64,
    pub(crate) seconds: f64,
    pub(crate) throughput_mbps: f64,
    pub(crate) peak_rss_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_before_mb: Option<f64>,
    pub(crate) errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) processes: Option<usize>,
    pub(crate) sim_cpu_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct LiveReport {
    pub(crate) tries: usize,
    pub(crate) errors: usize,
    /// Tries submitted while backfill downloads were waiting for a slot.
    pub(crate) saturated_tries: usize,
    pub(crate) p50: Option<f64>,
    pub(crate) p99: Option<f64>,
    pub(crate) max: Option<f64>,
}

/// Megabits per second.
pub(crate) fn mbps(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        round(bytes as f64 * 8.0 / 1e6 / seconds, 1)
    } else {
        0.0
    }
}

impl BaselineReport {
    pub(crate) fn new(outcome: &baseline::Outcome) -> BaselineReport {
        BaselineReport {
            name: outcome.name,
            bytes: outcome.bytes,
            seconds: round(outcome.seconds, 3),
            throughput_mbps: mbps(outcome.bytes, outcome.seconds),
            peak_rss_mb: outcome.peak_rss_mb.map(|mb| round(mb, 1)),
            rss_before_mb: outcome.rss_before_mb.map(|mb| round(mb, 1)),
            errors: outcome.errors,
            processes: outcome.processes,
            sim_cpu_seconds: outcome.sim_cpu_seconds.map(|s| round(s, 2)),
        }
    }
}

impl LiveReport {
    pub(crate) fn new(tries: usize, outcome: &live::Outcome) -> LiveReport {
        let mut sorted = outcome.first_byte_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let at = |q| percentile(&sorted, q).map(|ms| round(ms, 1));
        LiveReport {
            tries,
            errors: outcome.errors.len(),
            saturated_tries: outcome.saturated_tries,
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// The nearest-rank percentile `q` (0 < q <= 1) of ascending `sorted`.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

impl Report {
    /// A few lines for a person.
    pub(crate) fn summary(&self) -> String {
        let mut s = String::new();
        let rate = if self.rate_kbps == 0 {
            "unthrottled".to_owned()
        } else {
            format!("{} kbit/s each", self.rate_kbps)
        };
        let mb = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.0} MB"));
        let size = |bytes: u64| {
            let bytes = bytes as f64;
            if bytes >= 1e9 {
                format!("{:.1} GB", bytes / 1e9)
            } else {
                format!("{:.1} MB", bytes / 1e6)
            }
        };
        let _ = writeln!(
            s,
            "{} cameras, {} downloads at once ({rate}), {}-minute recordings",
            self.cameras, self.concurrency, self.recording_minutes
        );
        let _ = writeln!(
            s,
            "downloader: {} recordings, {} in {:.1} s = {:.0} Mbit/s; peak RSS {}; \
             {} errors, {} corrupt; pool {}/{} chunks",
            self.recordings,
            size(self.bytes),
            self.seconds,
            self.throughput_mbps,
            mb(self.peak_rss_mb),
            self.errors,
            self.corrupt,
            self.pool_chunks_allocated,
            self.pool_chunks_capacity,
        );
        if let Some(b) = &self.baseline {
            let _ = writeln!(
                s,
                "{} (same recordings): {} in {:.1} s = {:.0} Mbit/s; peak RSS {}; {} errors; \
                 downloader/{} = {}",
                b.name,
                size(b.bytes),
                b.seconds,
                b.throughput_mbps,
                mb(b.peak_rss_mb),
                b.errors,
                b.name,
                self.ratio_vs_baseline
                    .map_or("?".to_owned(), |r| format!("{r:.2}")),
            );
        }
        if let Some(l) = &self.live_first_byte_ms {
            let ms = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.1} ms"));
            let _ = writeln!(
                s,
                "live first byte over {} tries ({} errors): p50 {}, p99 {}, max {}",
                l.tries,
                l.errors,
                ms(l.p50),
                ms(l.p99),
                ms(l.max)
            );
        }
        let cpu = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.1} s"));
        let _ = writeln!(
            s,
            "CPU during the downloader's run: ours {}, simulator {}",
            cpu(self.cpu_seconds),
            cpu(self.sim_cpu_seconds)
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::{mbps, percentile};

    fn check(values: &[f64], q: f64, expected: Option<f64>) {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(percentile(&sorted, q), expected, "q {q} of {values:?}");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        check(&hundred, 0.5, Some(50.0));
        check(&hundred, 0.99, Some(99.0));
        check(&hundred, 1.0, Some(100.0));
        check(&[3.0, 1.0, 2.0], 0.5, Some(2.0));
        check(&[7.0], 0.99, Some(7.0));
        check(&[], 0.5, None);
    }

    #[test]
    fn throughput_is_in_megabits() {
        assert_eq!(mbps(125_000_000, 1.0), 1000.0);
        assert_eq!(mbps(1, 0.0), 0.0);
    }
}
