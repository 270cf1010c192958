//! The fleet run's report: one JSON line (or a short summary), and its verdict.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use super::cpu::CpuTally;
use super::faults::Injected;
use super::operators::Operators;
use super::real::Produced;
use super::searches::{Counted, Driven, Ended};
use super::tenants::Checked;
use super::{FleetArgs, Measured};
use crate::BoxError;
use crate::daemon::percentile;
use crate::figures::round;
use crate::uplink::broker::Broker;
use crate::uplink::relay::RelayProcess;

/// The relay's and the broker's cores over the load, and their memory at its end (of the
/// process running then: after a fault restarted one, the new one's).
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
    /// Reads the CPU times now, every second over `seconds` (so that a process killed and
    /// started again by a fault is counted as both), and the memory at the end.
    pub(super) async fn measure(
        relay: &RelayProcess,
        broker: &Broker,
        seconds: Duration,
    ) -> Result<Window, BoxError> {
        let cpu = |pid| crate::proc::cpu_seconds(pid).unwrap_or(f64::NAN);
        let (mut relay_cpu, mut broker_cpu) = (CpuTally::default(), CpuTally::default());
        relay_cpu.sample(relay.pid().ok(), true);
        broker_cpu.sample(broker.pid(), true);
        let bench_before = cpu(None);
        let started = Instant::now();
        let until = started + seconds;
        while let Some(left) = until.checked_duration_since(Instant::now())
            && !left.is_zero()
        {
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
            relay_cpu.sample(relay.pid().ok(), false);
            broker_cpu.sample(broker.pid(), false);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let rss = |pid| crate::proc::rss_mb(pid).unwrap_or(f64::NAN);
        Ok(Window {
            relay_cores: relay_cpu.seconds() / elapsed,
            broker_cores: broker_cpu.seconds() / elapsed,
            bench_cores: (cpu(None) - bench_before) / elapsed,
            relay_rss_mb: rss(relay.pid().ok()),
            broker_rss_mb: rss(broker.pid()),
            bench_rss_mb: rss(None),
        })
    }
}

/// One fault injected during the load, and what it cost: of the results produced in the
/// searches its window touched (of the box it hit, for a box's fault), those that never
/// reached the relay, and those that reached it twice.
#[derive(Debug, serde::Serialize)]
pub(super) struct Fault {
    fault: &'static str,
    recovery_seconds: f64,
    lost: u64,
    duplicated: u64,
    /// The searches not yet ended when it hit (the box's tasks, for a box's fault).
    searches_hit: usize,
    /// The searches running at some moment between the hit and the recovery, and the
    /// results produced in them (what `lost` and `duplicated` are counted over).
    searches_in_window: usize,
    results_in_window: u64,
}

#[derive(Debug, serde::Serialize)]
pub(super) struct Report {
    bench: &'static str,
    database: &'static str,
    boxes: usize,
    real_boxes: usize,
    /// Searches running at once; started in all (every search of the fleet's tenant, the
    /// isolation check's one included); ended `done`; not ended by the drain's end.
    searches: usize,
    searches_started: usize,
    searches_done: u64,
    searches_unfinished: usize,
    /// Of those started, the ones whose POST's answer was lost (found in the list at the end).
    searches_unknown: usize,
    /// Parts of searches that ended other than `done` without saying why.
    parts_without_reason: u64,
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
    /// The tenant isolation checks (after each fault and at the end), and what they found.
    isolation: Checked,
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

/// What `injected` cost, from the run's counts: over the searches running at some moment of
/// its window (and those the load never learnt of, which a fault's lost answer makes), and
/// of the box it hit alone when it hit one.
fn fault_cost(
    injected: &Injected,
    ended: &[Ended],
    counted: &Counted,
    produced: &Produced,
) -> Fault {
    let in_window: HashSet<&str> = ended
        .iter()
        .filter(|e| e.began <= injected.recovered && e.ended >= injected.hit)
        .map(|e| e.id.as_str())
        .chain(counted.unknown.iter().map(String::as_str))
        .collect();
    let device = injected.device.as_deref();
    let (mut lost, mut duplicated, mut made) = (0, 0, 0);
    for ((search, box_id), n) in &produced.by_search {
        if !in_window.contains(search.as_str()) || device.is_some_and(|d| d != box_id) {
            continue;
        }
        let listed = (counted.by_search)
            .get(&(search.clone(), box_id.clone()))
            .copied()
            .unwrap_or_default();
        made += n;
        lost += n.saturating_sub(listed.delivered - listed.duplicated);
        duplicated += listed.duplicated;
    }
    Fault {
        fault: injected.fault,
        recovery_seconds: round(injected.recovery_seconds(), 1),
        lost,
        duplicated,
        searches_hit: injected.searches_hit,
        searches_in_window: in_window.len(),
        results_in_window: made,
    }
}

/// Every API call's time, ms, sorted.
fn every_call(operators: &Operators, searches: &Driven) -> Vec<f64> {
    let (reads, writes) = (&operators.reads, &operators.writes);
    let mut all: Vec<f64> = [&reads.samples_ms, &writes.samples_ms, &searches.samples_ms]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    all.sort_by(f64::total_cmp);
    all
}

/// The results listed of `devices`.
fn delivered_of(counted: &Counted, devices: &[String]) -> u64 {
    (counted.by_search.iter())
        .filter(|((_, device), _)| devices.contains(device))
        .map(|(_, listing)| listing.delivered)
        .sum()
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
            .map(|f| fault_cost(f, &searches.ended, &counted, &produced))
            .collect();
        let (reads, writes) = (&operators.reads, &operators.writes);
        let all = every_call(&operators, &searches);
        let unfinished = searches
            .ended
            .iter()
            .filter(|e| e.state == "unfinished")
            .count();
        let errors = errors_by_kind(&searches, &operators, ack_errors, &counted, unfinished);
        let relay_pid = Some(relay.pid()?);
        Ok(Report {
            bench: "fleet",
            database: match args.database {
                super::Database::Postgres => "postgres",
                super::Database::Sqlite => "sqlite",
            },
            boxes: args.boxes,
            real_boxes: args.real_boxes,
            searches: args.searches,
            searches_started: counted.searches,
            searches_unknown: counted.unknown.len(),
            parts_without_reason: counted.parts_without_reason,
            searches_done: counted.done,
            searches_unfinished: unfinished,
            results_produced: produced.total(),
            results_delivered: counted.delivered,
            results_duplicated: counted.duplicated,
            results_produced_real: produced.real_total(),
            results_delivered_real: delivered_of(&counted, &produced.real),
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
            isolation: Checked::default(),
        })
    }

    /// The report with the tenant isolation checks' findings.
    pub(super) fn with_isolation(self, isolation: Checked) -> Report {
        Report { isolation, ..self }
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

    /// An error unless every search ended (`done`: each of its parts ended, `done` or with
    /// its reason), every result was delivered once (also over each fault's window), and no
    /// tenant saw another's data.
    pub(super) fn verdict(&self) -> Result<(), BoxError> {
        let mut wrong = Vec::new();
        if self.results_delivered != self.results_produced {
            wrong.push(format!(
                "{} results delivered of {} produced",
                self.results_delivered, self.results_produced
            ));
        }
        if !self.isolation.breaches.is_empty() || self.isolation.errors != 0 {
            wrong.push(format!(
                "tenant isolation: {} breaches ({}), {} checks not made",
                self.isolation.breaches.len(),
                self.isolation.breaches.join("; "),
                self.isolation.errors
            ));
        }
        if self.parts_without_reason != 0 {
            wrong.push(format!(
                "{} parts of searches ended without a reason",
                self.parts_without_reason
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use super::fault_cost;
    use crate::fleet::faults::Injected;
    use crate::fleet::real::Produced;
    use crate::fleet::searches::{Counted, Ended, Listing};

    fn ended(id: &str, began: Instant, ended: Instant) -> Ended {
        Ended {
            id: id.to_owned(),
            state: "done".to_owned(),
            began,
            ended,
        }
    }

    fn key(search: &str, device: &str) -> (String, String) {
        (search.to_owned(), device.to_owned())
    }

    #[test]
    fn a_fault_costs_what_its_window_lost_and_duplicated() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let searches = [
            ended("before", at(0), at(5)),
            ended("across", at(8), at(12)),
            ended("during", at(11), at(13)),
            ended("after", at(20), at(25)),
        ];
        let produced = Produced {
            by_search: HashMap::from([
                (key("before", "a"), 3),
                (key("across", "a"), 2),
                (key("across", "real"), 4),
                (key("during", "a"), 2),
                (key("after", "a"), 9),
                (key("unknown", "a"), 1),
            ]),
            real: vec!["real".to_owned()],
        };
        let listing = |delivered, duplicated| Listing {
            delivered,
            duplicated,
        };
        let counted = Counted {
            by_search: HashMap::from([
                // "before" lost everything and "after" one: outside the window, not counted.
                (key("across", "a"), listing(3, 1)),
                (key("across", "real"), listing(3, 0)),
                (key("during", "a"), listing(2, 0)),
                (key("after", "a"), listing(8, 0)),
            ]),
            unknown: vec!["unknown".to_owned()],
            ..Counted::default()
        };
        let system = Injected {
            fault: "kill_relay",
            device: None,
            hit: at(10),
            recovered: at(12),
            searches_hit: 1,
        };
        let cost = fault_cost(&system, &searches, &counted, &produced);
        assert_eq!(
            cost.searches_in_window, 3,
            "across, during and the unknown one"
        );
        assert_eq!(cost.results_in_window, 9);
        assert_eq!(
            (cost.lost, cost.duplicated),
            (2, 1),
            "the real box's one, the unknown one"
        );
        let on_the_box = Injected {
            fault: "kill_box",
            device: Some("real".to_owned()),
            ..system
        };
        let cost = fault_cost(&on_the_box, &searches, &counted, &produced);
        assert_eq!(
            (cost.results_in_window, cost.lost, cost.duplicated),
            (4, 1, 0)
        );
    }
}
