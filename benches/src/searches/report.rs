//! The report: one JSON line, or a short summary.

use std::time::Duration;

use super::SearchesArgs;
use super::ack::Ack;
use super::load::LoadReport;
use super::real_box::ResultReport;
use crate::daemon::percentile;

#[derive(Debug, serde::Serialize)]
pub(super) struct Report {
    bench: &'static str,
    boxes: usize,
    ack_searches: usize,
    /// POST to every part accepted, one box and every box.
    ack_p50_ms_1_box: f64,
    ack_p99_ms_1_box: f64,
    ack_p50_ms_boxes: f64,
    ack_p99_ms_boxes: f64,
    /// Of which the POST's own answer (the search stored, its RPCs published), every box.
    ack_post_p50_ms_boxes: f64,
    ack_post_p99_ms_boxes: f64,
    /// The bare broker round trip, and the ratios of the p99s to it.
    broker_rtt_p50_ms: f64,
    broker_rtt_p99_ms: f64,
    ack_p99_over_broker_p99_1_box: f64,
    ack_p99_over_broker_p99_boxes: f64,
    /// Box stored a match to the relay showing it with snapshots (the real box).
    result_p50_ms: f64,
    result_p99_ms: f64,
    result_samples: usize,
    #[serde(flatten)]
    results: ResultReport,
    #[serde(flatten)]
    load: LoadReport,
}

fn sorted_ms(samples: &[Duration]) -> Vec<f64> {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

impl Report {
    pub(super) fn new(
        args: &SearchesArgs,
        (ack_one, ack_all, rtt): (Vec<Ack>, Vec<Ack>, Vec<Duration>),
        load: LoadReport,
        results: ResultReport,
    ) -> Report {
        let whole = |acks: &[Ack]| sorted_ms(&acks.iter().map(|a| a.all).collect::<Vec<_>>());
        let (one, all, rtt) = (whole(&ack_one), whole(&ack_all), sorted_ms(&rtt));
        let posts = sorted_ms(&ack_all.iter().map(|a| a.post).collect::<Vec<_>>());
        let latencies = sorted_ms(&results.latencies);
        let rtt_p99 = percentile(&rtt, 99.0);
        Report {
            bench: "searches",
            boxes: load.load_boxes,
            ack_searches: args.ack_searches,
            ack_p50_ms_1_box: percentile(&one, 50.0),
            ack_p99_ms_1_box: percentile(&one, 99.0),
            ack_p50_ms_boxes: percentile(&all, 50.0),
            ack_p99_ms_boxes: percentile(&all, 99.0),
            ack_post_p50_ms_boxes: percentile(&posts, 50.0),
            ack_post_p99_ms_boxes: percentile(&posts, 99.0),
            broker_rtt_p50_ms: percentile(&rtt, 50.0),
            broker_rtt_p99_ms: rtt_p99,
            ack_p99_over_broker_p99_1_box: percentile(&one, 99.0) / rtt_p99,
            ack_p99_over_broker_p99_boxes: percentile(&all, 99.0) / rtt_p99,
            result_p50_ms: percentile(&latencies, 50.0),
            result_p99_ms: percentile(&latencies, 99.0),
            result_samples: latencies.len(),
            results,
            load,
        }
    }

    pub(super) fn print_summary(&self) {
        println!(
            "acknowledgement ({} searches each): 1 box p50 {:.0} ms p99 {:.0} ms; {} boxes p50 \
             {:.0} ms p99 {:.0} ms (of which the POST p50 {:.0} ms p99 {:.0} ms); bare broker round trip p50 {:.2} ms p99 {:.2} ms (p99 \
             ratios {:.1} and {:.1})",
            self.ack_searches,
            self.ack_p50_ms_1_box,
            self.ack_p99_ms_1_box,
            self.boxes,
            self.ack_p50_ms_boxes,
            self.ack_p99_ms_boxes,
            self.ack_post_p50_ms_boxes,
            self.ack_post_p99_ms_boxes,
            self.broker_rtt_p50_ms,
            self.broker_rtt_p99_ms,
            self.ack_p99_over_broker_p99_1_box,
            self.ack_p99_over_broker_p99_boxes
        );
        println!(
            "results (real box): {} matches, stored on the box to shown with snapshots p50 \
             {:.0} ms p99 {:.0} ms",
            self.result_samples, self.result_p50_ms, self.result_p99_ms
        );
        let l = &self.load;
        println!(
            "load: {} searches at once over {} boxes in {:.1} s; relay {:.2} cores, RSS {:.0} MB \
             before, peak {:.0} MB; results sent {}, at the relay {}, with snapshots {}, \
             delivered once: {}",
            l.load_searches,
            l.load_boxes,
            l.load_seconds,
            l.relay_cores,
            l.relay_rss_mb_before,
            l.relay_rss_mb_peak,
            l.results_sent,
            l.results_at_relay,
            l.results_with_snapshots,
            l.results_delivered_once
        );
    }
}
