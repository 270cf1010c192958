//! `dipper-bench uplink`: the uplink between boxes and the relay under load, in one run.
//!
//! A real Mosquitto (Debian's, configured from `relay/broker/mosquitto.conf`) on a free
//! loopback port and the real relay (`dipper-relay run`, its own process, over a SQLite file,
//! with `[broker]`). Then:
//! - **Acknowledgement**: one box (a raw rumqttc MQTT v5 client, activated through the API)
//!   answers every `ping` at once; `calls` sequential two-way RPCs through `POST .../rpc`
//!   (relay API -> broker -> box -> broker -> relay -> API answer), beside the peer: two raw
//!   rumqttc clients, one asking and one answering through the same broker, `calls` round
//!   trips.
//! - **A fleet**: `boxes` more boxes registered and activated through the API (each its own
//!   broker identity), connected, each sending telemetry every `telemetry_ms`; the same
//!   calls again, the relay's resident memory before and after they connected, then every
//!   box sending telemetry back to back for `flood_seconds`: what the relay applied per
//!   second.
//! - **The outage** ([`outage`]): a real box daemon's outbox filled while the broker is
//!   down, the box killed and restarted, the broker started: exactly once, order, replay
//!   rate and the box's memory.

mod answering;
pub(crate) mod broker;
pub(crate) mod fleet;
mod outage;
pub(crate) mod outage_box;
pub(crate) mod peer;
pub(crate) mod relay;
pub(crate) mod site;

use std::time::{Duration, Instant};

use crate::BoxError;
use crate::daemon::percentile;

#[derive(Debug, clap::Args)]
pub(crate) struct UplinkArgs {
    /// Calls through the whole path (with one box, and with the fleet), and round trips of
    /// the bare peer.
    #[arg(long, default_value_t = 10_000)]
    calls: usize,
    /// Simulated boxes connected for the second measurement.
    #[arg(long, default_value_t = 1_000)]
    boxes: usize,
    /// Each fleet box's telemetry period, in ms (a box sends every 30 s: 1000 is time
    /// compressed 30 times).
    #[arg(long, default_value_t = 1_000)]
    telemetry_ms: u64,
    /// How long the fleet sends as fast as it can, to count what the relay applies.
    #[arg(long, default_value_t = 10)]
    flood_seconds: u64,
    /// Faces in the day the outage box searches: one match, so one search event, each.
    #[arg(long, default_value_t = 100_000)]
    outage_messages: u64,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: UplinkArgs) -> Result<(), BoxError> {
    let mut broker = broker::Broker::start()?;
    let relay = relay::RelayProcess::start(&broker).await?;
    let site = site::Site::start(&relay).await?;
    let one = site.activate(&site.register("Box").await?).await?;
    let answering = answering::answering_box(&broker, &one).await?;
    site.wait_online(&one.device).await?;
    // A short warm-up of both paths (connections, prepared statements, caches).
    site.pings(&one.device, 50).await?;
    let ack = site.pings(&one.device, args.calls).await?;
    tracing::info!("uplink: one box measured");
    let rtt = peer::round_trips(&broker, args.calls).await?;
    let fleet = fleet_run(&args, &broker, &relay, &site, &one.device).await?;
    answering.abort();
    let outage = outage::run(&mut broker, &relay, &site, args.outage_messages).await?;
    let report = Report::new(args.calls, ack, rtt, fleet, outage);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(())
}

fn print_summary(report: &Report) {
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
    let f = &report.fleet;
    println!(
        "fleet: {} boxes (activated in {:.1} s), ack p50 {:.2} ms p99 {:.2} ms (bare MQTT p99 \
         {:.2} ms); relay {:.1} KiB a box; {:.0} telemetry messages/s applied (relay {:.2} \
         cores, broker {:.2})",
        f.boxes,
        f.activation_seconds,
        report.ack_p50_ms_1000_boxes,
        report.ack_p99_ms_1000_boxes,
        report.broker_rtt_p99_ms_1000_boxes,
        f.relay_kib_per_box,
        f.relay_messages_per_second,
        f.relay_cores_flood,
        f.broker_cores_flood
    );
    let o = &report.outage;
    println!(
        "outage: {} owed, {} applied, {} duplicates, in order {}; replay {:.0}/s over {:.1} s, \
         box peak RSS {:.0} MB",
        o.outage_messages,
        o.outage_applied,
        o.outage_duplicates,
        o.outage_in_order,
        o.replay_per_second,
        o.replay_seconds,
        o.replay_peak_rss_mb
    );
}

/// What the fleet measured.
#[derive(Debug, Default, serde::Serialize)]
struct FleetReport {
    boxes: usize,
    telemetry_ms: u64,
    activation_seconds: f64,
    #[serde(skip)]
    ack: Vec<Duration>,
    relay_rss_mb_before: f64,
    relay_rss_mb_after: f64,
    relay_kib_per_box: f64,
    relay_messages_per_second: f64,
    /// Cores the relay and the broker used while the fleet flooded.
    relay_cores_flood: f64,
    broker_cores_flood: f64,
    #[serde(skip)]
    rtt: Vec<Duration>,
}

/// Activates and connects the fleet, measures the calls to `device` with it connected, the
/// relay's memory, and what the relay absorbs when every box floods.
async fn fleet_run(
    args: &UplinkArgs,
    broker: &broker::Broker,
    relay: &relay::RelayProcess,
    site: &site::Site,
    device: &str,
) -> Result<FleetReport, BoxError> {
    let started = Instant::now();
    let identities = fleet::activate(site, args.boxes).await?;
    let activation_seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        boxes = args.boxes,
        activation_seconds,
        "uplink: the fleet is activated"
    );
    let http = reqwest::Client::new();
    let before_kib = relay.rss_kib()?;
    let sent_before = relay.messages(&http, Some("telemetry"), "applied").await?;
    let every = Duration::from_millis(args.telemetry_ms);
    let fleet = fleet::Fleet::connect(broker, &identities, fleet::Mode::Telemetry(every));
    // Every box connected and reporting: as many samples applied as there are boxes, twice.
    let want = sent_before + 2 * args.boxes as u64;
    wait_counter(relay, &http, want, Duration::from_secs(120)).await?;
    let after_kib = relay.rss_kib()?;
    site.pings(device, 50).await?;
    let ack = site.pings(device, args.calls).await?;
    // The peer under the same load: how much of the wait is the busy broker's.
    let rtt = peer::round_trips(broker, args.calls).await?;
    tracing::info!("uplink: calls with the fleet measured");
    fleet.set(fleet::Mode::Flood);
    let from = relay.messages(&http, Some("telemetry"), "applied").await?;
    let cpu = |pid: Option<u32>| pid.and_then(|pid| crate::proc::cpu_seconds(Some(pid)));
    let (relay_cpu, broker_cpu) = (cpu(relay.pid().ok()), cpu(broker.pid()));
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.flood_seconds)).await;
    let to = relay.messages(&http, Some("telemetry"), "applied").await?;
    let seconds = window.elapsed().as_secs_f64();
    let rate = (to - from) as f64 / seconds;
    // Cores each used during the flood.
    let share = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(before), Some(after)) => (after - before) / seconds,
        _ => f64::NAN,
    };
    let relay_cores = share(relay_cpu, cpu(relay.pid().ok()));
    let broker_cores = share(broker_cpu, cpu(broker.pid()));
    drop(fleet);
    wait_quiet(relay, &http).await?;
    Ok(FleetReport {
        boxes: args.boxes,
        telemetry_ms: args.telemetry_ms,
        activation_seconds,
        ack,
        relay_rss_mb_before: before_kib * 1024.0 / 1e6,
        relay_rss_mb_after: after_kib * 1024.0 / 1e6,
        relay_kib_per_box: (after_kib - before_kib) / args.boxes.max(1) as f64,
        relay_messages_per_second: rate,
        relay_cores_flood: relay_cores,
        broker_cores_flood: broker_cores,
        rtt,
    })
}

/// Waits until the relay applied `want` telemetry messages in all.
async fn wait_counter(
    relay: &relay::RelayProcess,
    http: &reqwest::Client,
    want: u64,
    within: Duration,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + within;
    loop {
        let applied = relay.messages(http, Some("telemetry"), "applied").await?;
        if applied >= want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the relay applied {applied} telemetry messages of {want}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the relay has worked off what the broker queued for it (its count of applied
/// messages still for half a second).
async fn wait_quiet(relay: &relay::RelayProcess, http: &reqwest::Client) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = relay.messages(http, None, "applied").await?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = relay.messages(http, None, "applied").await?;
        if now == last {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the relay was still applying the flood after 5 minutes".into());
        }
        last = now;
    }
}

#[derive(Debug, serde::Serialize)]
struct Report {
    bench: &'static str,
    calls: usize,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    ack_p50_ms_1000_boxes: f64,
    ack_p99_ms_1000_boxes: f64,
    broker_rtt_p50_ms: f64,
    broker_rtt_p99_ms: f64,
    ack_p99_over_broker_p99: f64,
    broker_rtt_p99_ms_1000_boxes: f64,
    ack_p99_over_broker_p99_1000_boxes: f64,
    #[serde(flatten)]
    fleet: FleetReport,
    #[serde(flatten)]
    outage: outage::OutageReport,
}

impl Report {
    fn new(
        calls: usize,
        ack: Vec<Duration>,
        rtt: Vec<Duration>,
        mut fleet: FleetReport,
        outage: outage::OutageReport,
    ) -> Report {
        let sorted = |samples: Vec<Duration>| {
            let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
            ms.sort_by(f64::total_cmp);
            ms
        };
        let (ack, rtt) = (sorted(ack), sorted(rtt));
        let ack_fleet = sorted(std::mem::take(&mut fleet.ack));
        let rtt_fleet = sorted(std::mem::take(&mut fleet.rtt));
        let ack_p99 = percentile(&ack, 99.0);
        let rtt_p99 = percentile(&rtt, 99.0);
        Report {
            bench: "uplink",
            calls,
            ack_p50_ms: percentile(&ack, 50.0),
            ack_p99_ms: ack_p99,
            ack_p50_ms_1000_boxes: percentile(&ack_fleet, 50.0),
            ack_p99_ms_1000_boxes: percentile(&ack_fleet, 99.0),
            broker_rtt_p50_ms: percentile(&rtt, 50.0),
            broker_rtt_p99_ms: rtt_p99,
            ack_p99_over_broker_p99: ack_p99 / rtt_p99,
            broker_rtt_p99_ms_1000_boxes: percentile(&rtt_fleet, 99.0),
            ack_p99_over_broker_p99_1000_boxes: percentile(&ack_fleet, 99.0)
                / percentile(&rtt_fleet, 99.0),
            fleet,
            outage,
        }
    }
}

/// TCP_NODELAY, as the relay's own client sets it (and the broker, `set_tcp_nodelay`).
pub(crate) fn no_delay() -> rumqttc::NetworkOptions {
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network
}

/// Times `n` runs of `one`, in order.
pub(crate) async fn timed<F, Fut>(n: usize, mut one: F) -> Result<Vec<Duration>, BoxError>
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
