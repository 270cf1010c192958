//! The fleet run's report: one JSON line (or a short summary), and its verdict.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::faults::Injected;
use super::operators::Operators;
use super::real::Produced;
use super::searches::{Counted, Driven};
use super::{FleetArgs, Measured};
use crate::BoxError;
use crate::daemon::percentile;
use crate::figures::round;
use crate::uplink::broker::Broker;
use crate::uplink::relay::RelayProcess;

/// The relay's and the broker's cores over the load, and their memory at its end.
#[derive(Debug, Default)]
pub(super) struct Window {
    relay_cores: f64,
    broker_cores: f64,
    bench_cores: f64,
    relay_rss_mb: f64,
    broker_rss_mb: f64,
    bench_rss_mb: f64,
}

impl Window {
    /// Reads the CPU times now and after `seconds`, and the memory then.
    pub(super) async fn measure(
        relay: &RelayProcess,
        broker: &Broker,
        seconds: Duration,
    ) -> Result<Window, BoxError> {
        let relay_pid = Some(relay.pid()?);
        let broker_pid = broker.pid();
        let cpu = |pid| crate::proc::cpu_seconds(pid).unwrap_or(f64::NAN);
        let before = (cpu(relay_pid), cpu(broker_pid), cpu(None));
        let started = Instant::now();
        tokio::time::sleep(seconds).await;
        let elapsed = started.elapsed().as_secs_f64();
        let rss = |pid| crate::proc::rss_mb(pid).unwrap_or(f64::NAN);
        Ok(Window {
            relay_cores: (cpu(relay_pid) - before.0) / elapsed,
            broker_cores: (cpu(broker_pid) - before.1) / elapsed,
            bench_cores: (cpu(None) - before.2) / elapsed,
            relay_rss_mb: rss(relay_pid),
            broker_rss_mb: rss(broker_pid),
            bench_rss_mb: rss(None),
        })
    }
}

/// One fault injected during the load, and what it cost: the results of the box it hit
/// that never reached the relay, and those that reached it twice.
#[derive(Debug, serde::Serialize)]
pub(super) struct Fault {
    fault: &'static str,
    recovery_seconds: f64,
    lost: u64,
    duplicated: u64,
    /// The box's searches (its tasks) not yet ended when the fault hit it.
    searches_hit: usize,
}

#[derive(Debug, serde::Serialize)]
pub(super) struct Report {
    bench: &'static str,
    database: &'static str,
    boxes: usize,
    real_boxes: usize,
    /// Searches running at once; started in all; ended `done`; not ended by the drain's end.
    searches: usize,
    searches_started: usize,
    searches_done: u64,
    searches_unfinished: usize,
    results_produced: u64,
    results_delivered: u64,
    results_duplicated: u64,
    /// Of which the real boxes': stored in their databases, listed at the relay.
    results_produced_real: u64,
    results_delivered_real: u64,
    api_calls: usize,
    api_p50_ms: f64,
    api_p99_ms: f64,
    api_reads_p50_ms: f64,
    api_reads_p99_ms: f64,
    api_writes_p50_ms: f64,
    api_writes_p99_ms: f64,
    api_searches_p50_ms: f64,
    api_searches_p99_ms: f64,
    acks: usize,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    relay_rss_mb: f64,
    relay_peak_rss_mb: f64,
    relay_cores: f64,
    broker_rss_mb: f64,
    broker_cores: f64,
    bench_rss_mb: f64,
    bench_cores: f64,
    /// Search events the simulated boxes published again for want of an acknowledgement.
    events_republished: u64,
    errors: BTreeMap<String, u64>,
    seconds: f64,
    faults: Vec<Fault>,
}

/// Every failure of the run, by kind: calls that failed, parts that did not end `done`,
/// searches whose `result_count` is not what they list, searches that never ended.
fn errors_by_kind(
    searches: &Driven,
    operators: &Operators,
    ack_errors: u64,
    counted: &Counted,
    unfinished: usize,
) -> BTreeMap<String, u64> {
    let mut errors: BTreeMap<String, u64> = searches
        .errors
        .iter()
        .map(|(kind, n)| ((*kind).to_owned(), *n))
        .collect();
    let mut note = |kind: String, n: u64| {
        if n > 0 {
            *errors.entry(kind).or_default() += n;
        }
    };
    note("api_reads".to_owned(), operators.reads.errors as u64);
    note("api_writes".to_owned(), operators.writes.errors as u64);
    note("rpc_ping".to_owned(), ack_errors);
    note("search_count_mismatch".to_owned(), counted.count_mismatches);
    for (state, n) in &counted.parts_not_done {
        note(format!("parts_{state}"), *n);
    }
    note("searches_unfinished".to_owned(), unfinished as u64);
    errors
}

/// What `injected` cost its box, from the run's counts.
fn fault_cost(injected: &Injected, counted: &Counted, produced: &Produced) -> Fault {
    let device = injected.device.as_str();
    let made = (produced.real.iter())
        .find(|(d, _)| d == device)
        .map_or(0, |(_, n)| *n);
    let delivered = counted.real.get(device).copied().unwrap_or(0);
    let duplicated = counted.real_duplicated.get(device).copied().unwrap_or(0);
    Fault {
        fault: injected.fault,
        recovery_seconds: round(injected.recovery_seconds, 1),
        lost: made.saturating_sub(delivered - duplicated),
        duplicated,
        searches_hit: injected.searches_hit,
    }
}

impl Report {
    pub(super) fn new(
        args: &FleetArgs,
        relay: &RelayProcess,
        measured: Measured,
        counted: Counted,
        produced: Produced,
        republished: u64,
    ) -> Result<Report, BoxError> {
        let Measured {
            searches,
            operators,
            acks,
            ack_errors,
            window,
            faults,
        } = measured;
        let faults = faults
            .iter()
            .map(|f| fault_cost(f, &counted, &produced))
            .collect();
        let (reads, writes) = (&operators.reads, &operators.writes);
        let mut all: Vec<f64> = [&reads.samples_ms, &writes.samples_ms, &searches.samples_ms]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        all.sort_by(f64::total_cmp);
        let unfinished = searches
            .ended
            .iter()
            .filter(|e| e.state == "unfinished")
            .count();
        let errors = errors_by_kind(&searches, &operators, ack_errors, &counted, unfinished);
        let relay_pid = Some(relay.pid()?);
        Ok(Report {
            bench: "fleet",
            database: match &args.database_url {
                Some(url) if url.starts_with("postgres") => "postgres",
                Some(_) => "other",
                None => "sqlite",
            },
            boxes: args.boxes,
            real_boxes: args.real_boxes,
            searches: args.searches,
            searches_started: searches.ended.len(),
            searches_done: counted.done,
            searches_unfinished: unfinished,
            results_produced: produced.total(),
            results_delivered: counted.delivered,
            results_duplicated: counted.duplicated,
            results_produced_real: produced.real.iter().map(|(_, n)| n).sum(),
            results_delivered_real: counted.real.values().sum(),
            api_calls: all.len(),
            api_p50_ms: round(percentile(&all, 50.0), 1),
            api_p99_ms: round(percentile(&all, 99.0), 1),
            api_reads_p50_ms: round(reads.p50_ms, 1),
            api_reads_p99_ms: round(reads.p99_ms, 1),
            api_writes_p50_ms: round(writes.p50_ms, 1),
            api_writes_p99_ms: round(writes.p99_ms, 1),
            api_searches_p50_ms: round(percentile(&searches.samples_ms, 50.0), 1),
            api_searches_p99_ms: round(percentile(&searches.samples_ms, 99.0), 1),
            acks: acks.len(),
            ack_p50_ms: round(percentile(&acks, 50.0), 1),
            ack_p99_ms: round(percentile(&acks, 99.0), 1),
            relay_rss_mb: round(window.relay_rss_mb, 1),
            relay_peak_rss_mb: round(crate::proc::peak_rss_mb(relay_pid).unwrap_or(f64::NAN), 1),
            relay_cores: round(window.relay_cores, 3),
            broker_rss_mb: round(window.broker_rss_mb, 1),
            broker_cores: round(window.broker_cores, 3),
            bench_rss_mb: round(window.bench_rss_mb, 1),
            bench_cores: round(window.bench_cores, 3),
            events_republished: republished,
            errors,
            seconds: round(args.seconds as f64, 1),
            faults,
        })
    }

    pub(super) fn print_summary(&self) {
        println!(
            "fleet ({}): {} simulated and {} real boxes, {} searches at once ({} started, {} \
             done, {} unfinished) over {:.0} s",
            self.database,
            self.boxes,
            self.real_boxes,
            self.searches,
            self.searches_started,
            self.searches_done,
            self.searches_unfinished,
            self.seconds
        );
        println!(
            "results: produced {}, delivered {}, duplicated {} (real boxes: {} and {})",
            self.results_produced,
            self.results_delivered,
            self.results_duplicated,
            self.results_produced_real,
            self.results_delivered_real
        );
        println!(
            "API p50 {:.1} ms p99 {:.1} ms (reads p99 {:.1}, writes p99 {:.1}, searches p99 \
             {:.1}); ping p99 {:.1} ms; relay {:.2} cores {:.0} MB, broker {:.2} cores {:.0} \
             MB; errors {:?}; faults {:?}",
            self.api_p50_ms,
            self.api_p99_ms,
            self.api_reads_p99_ms,
            self.api_writes_p99_ms,
            self.api_searches_p99_ms,
            self.ack_p99_ms,
            self.relay_cores,
            self.relay_rss_mb,
            self.broker_cores,
            self.broker_rss_mb,
            self.errors,
            self.faults
        );
    }

    /// An error unless every search ended done and every result was delivered once (also
    /// for each fault's box).
    pub(super) fn verdict(&self) -> Result<(), BoxError> {
        let mut wrong = Vec::new();
        if self.results_delivered != self.results_produced {
            wrong.push(format!(
                "{} results delivered of {} produced",
                self.results_delivered, self.results_produced
            ));
        }
        if self.results_duplicated != 0 {
            wrong.push(format!("{} results duplicated", self.results_duplicated));
        }
        if self.searches_started == 0 {
            wrong.push("no search was started".to_owned());
        }
        if self.searches_done != self.searches_started as u64 {
            wrong.push(format!(
                "{} of {} searches done ({} unfinished)",
                self.searches_done, self.searches_started, self.searches_unfinished
            ));
        }
        for fault in &self.faults {
            if fault.lost != 0 || fault.duplicated != 0 {
                wrong.push(format!(
                    "{}: {} lost, {} duplicated",
                    fault.fault, fault.lost, fault.duplicated
                ));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(format!("the fleet run failed: {}", wrong.join("; ")).into())
        }
    }
}
