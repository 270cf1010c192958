//! `dipper-bench uplink`: a remote call's acknowledgement through the whole path (relay API
//! -> broker -> a box -> broker -> relay -> API answer) beside a bare MQTT request and
//! response through the same broker, in the same run.
//!
//! A real Mosquitto (Debian's, configured from `relay/broker/mosquitto.conf`) on a free
//! loopback port; the relay in this process over a SQLite file, with `[broker]`; one box
//! (a raw rumqttc MQTT v5 client, activated through the API) that answers every `ping` as
//! soon as it arrives; `calls` sequential two-way RPCs through `POST .../rpc`. The peer is
//! two raw rumqttc clients, one asking on a topic and one answering, `calls` round trips.
//! Prints p50/p99 of each and the ratio of the two p99s.

mod broker;
mod peer;
mod site;

use std::time::{Duration, Instant};

use crate::BoxError;
use crate::daemon::percentile;

#[derive(Debug, clap::Args)]
pub(crate) struct UplinkArgs {
    /// Calls through the whole path, and round trips of the bare peer.
    #[arg(long, default_value_t = 10_000)]
    calls: usize,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: UplinkArgs) -> Result<(), BoxError> {
    let broker = broker::Broker::start()?;
    let site = site::Site::start(&broker).await?;
    let box_task = site.answering_box(&broker).await?;
    // A short warm-up of both paths (connections, prepared statements, caches).
    site.calls(50).await?;
    let ack = site.calls(args.calls).await?;
    box_task.abort();
    let rtt = peer::round_trips(&broker, args.calls).await?;
    site.stop().await;
    let report = Report::new(args.calls, ack, rtt);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "uplink: {} calls, ack p50 {:.2} ms p99 {:.2} ms; bare MQTT round trip p50 {:.2} ms \
             p99 {:.2} ms; ack p99 / broker p99 = {:.1}",
            report.calls,
            report.ack_p50_ms,
            report.ack_p99_ms,
            report.broker_rtt_p50_ms,
            report.broker_rtt_p99_ms,
            report.ack_p99_over_broker_p99
        );
    }
    Ok(())
}

#[derive(Debug, serde::Serialize)]
struct Report {
    bench: &'static str,
    calls: usize,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    broker_rtt_p50_ms: f64,
    broker_rtt_p99_ms: f64,
    ack_p99_over_broker_p99: f64,
}

impl Report {
    fn new(calls: usize, ack: Vec<Duration>, rtt: Vec<Duration>) -> Report {
        let sorted = |samples: Vec<Duration>| {
            let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
            ms.sort_by(f64::total_cmp);
            ms
        };
        let (ack, rtt) = (sorted(ack), sorted(rtt));
        let ack_p99 = percentile(&ack, 99.0);
        let rtt_p99 = percentile(&rtt, 99.0);
        Report {
            bench: "uplink",
            calls,
            ack_p50_ms: percentile(&ack, 50.0),
            ack_p99_ms: ack_p99,
            broker_rtt_p50_ms: percentile(&rtt, 50.0),
            broker_rtt_p99_ms: rtt_p99,
            ack_p99_over_broker_p99: ack_p99 / rtt_p99,
        }
    }
}

/// TCP_NODELAY, as the relay's own client sets it (and the broker, `set_tcp_nodelay`).
fn no_delay() -> rumqttc::NetworkOptions {
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network
}

/// Times `n` runs of `one`, in order.
async fn timed<F, Fut>(n: usize, mut one: F) -> Result<Vec<Duration>, BoxError>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        one(i).await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}
