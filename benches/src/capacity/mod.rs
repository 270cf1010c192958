//! `dipper-bench capacity`: what one relay instance carries on this machine, on SQLite or
//! PostgreSQL, each figure beside its peer in the same run.
//!
//! A real Mosquitto and the real relay (`dipper-relay run`, its own process, `[broker]` on
//! it, on a SQLite file or the PostgreSQL database `--database-url` names), a tenant, and a
//! fleet of simulated boxes (rumqttc clients in this process, each activated through the API
//! so each has its own broker identity and role). In order:
//! - **API calls**: a mixed read load (the device list, a device, the tenant, its areas, the
//!   caller, the audit log) and a write load (a device renamed: a change and its audit
//!   record), each from `--connections` kept-alive connections for `--api-seconds`, as a
//!   tenant admin; the peer is `/healthz` (no token, no database) through the same client.
//! - **Messages**: the first fleet sends telemetry at each of `--rates` messages a second in
//!   all for `--step-seconds`: what the relay applied, each sample's wait from its publish
//!   to the relay's acknowledgement of its `seq`, the relay's and the broker's cores. Then
//!   the fleet floods: what the relay applies at most, beside the peer, the same flood on a
//!   topic no relay reads, taken by one bare subscriber: the broker's own rate.
//! - **Boxes connected**: fleets of `--boxes` (activated a few at a time, timed), each box
//!   sending telemetry every `--telemetry-ms` (30 s, as boxes do): over one period the
//!   acknowledgement wait, the relay's cores and memory, the broker's.
//!
//! One JSON line with `--json`.

pub(crate) mod api;
mod fleet;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::{Value, json};

use self::api::{Call, LoadReport};
use self::fleet::{Fleet, Pace};
use crate::BoxError;
use crate::daemon::percentile;
use crate::uplink::broker::Broker;
use crate::uplink::relay::{RELAY_USER, ROOT, RelayProcess};
use crate::uplink::site::{Identity, Site, text};

#[derive(Debug, clap::Args)]
pub(crate) struct CapacityArgs {
    /// The relay's database: a fresh PostgreSQL database's `postgres://` URL (the relay's
    /// own role, without superuser or BYPASSRLS), or none for a SQLite file of its own.
    #[arg(long)]
    database_url: Option<String>,
    /// Boxes connected at each step of the boxes measurement, in order.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 2_000, 4_000])]
    boxes: Vec<usize>,
    /// Each box's telemetry period in the boxes measurement, ms (a box's is 30 s).
    #[arg(long, default_value_t = 30_000)]
    telemetry_ms: u64,
    /// Telemetry messages a second the first fleet offers in all, a step each, in order;
    /// the steps stop once the relay falls behind.
    #[arg(long, value_delimiter = ',', default_values_t = [250, 500, 1_000, 2_000, 4_000, 8_000])]
    rates: Vec<u64>,
    /// How long each rate step, the flood and its peer last.
    #[arg(long, default_value_t = 10)]
    step_seconds: u64,
    /// Connections of each API load.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// How long each API load lasts.
    #[arg(long, default_value_t = 10)]
    api_seconds: u64,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Activations in flight at once.
const PARALLEL_ACTIVATIONS: usize = 8;
/// A step falls behind when the relay applies less than this share of what is offered...
const KEEPS_UP: f64 = 0.95;
/// ... or acknowledges the slowest hundredth later than this.
const ACK_P99_LIMIT_MS: f64 = 1_000.0;

pub(crate) async fn run(args: CapacityArgs) -> Result<(), BoxError> {
    let first = *args.boxes.first().ok_or("--boxes names no step")?;
    let broker = Broker::start()?;
    let relay = RelayProcess::start_on(&broker, args.database_url.as_deref()).await?;
    let site = Site::start(&relay).await?;
    let database = match &args.database_url {
        Some(url) if url.starts_with("postgres") => "postgres",
        Some(_) => "other",
        None => "sqlite",
    };
    let run = Run {
        args: &args,
        broker: &broker,
        relay: &relay,
        http: reqwest::Client::new(),
    };

    let mut fleet = Fleet::new();
    let mut identities = Vec::new();
    let activation = run.activate(&site, &mut identities, first).await?;
    fleet.connect(&broker, &identities);
    run.wait_online(first).await?;
    tracing::info!(boxes = first, "capacity: the first fleet is connected");

    let api = run.api(&identities).await?;
    tracing::info!("capacity: API loads measured");
    let rates = run.rates(&fleet).await?;
    tracing::info!("capacity: message rates measured");
    let flood = run.flood(&fleet).await?;
    tracing::info!("capacity: flood and the broker alone measured");
    let mut boxes = Vec::new();
    for (i, &n) in args.boxes.iter().enumerate() {
        let activation = if i == 0 {
            activation
        } else {
            let before = identities.len();
            let seconds = run.activate(&site, &mut identities, n).await?;
            fleet.connect(&broker, &identities[before..]);
            run.wait_online(n).await?;
            seconds
        };
        boxes.push(run.connected(&fleet, activation).await?);
        tracing::info!(boxes = n, "capacity: a fleet measured");
    }
    drop(fleet);

    let report = Report {
        bench: "capacity",
        database,
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        api,
        rates,
        flood,
        boxes,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(())
}

struct Run<'a> {
    args: &'a CapacityArgs,
    broker: &'a Broker,
    relay: &'a RelayProcess,
    http: reqwest::Client,
}

impl Run<'_> {
    /// Registers and activates boxes until there are `n`; the seconds it took.
    async fn activate(
        &self,
        site: &Site,
        identities: &mut Vec<Identity>,
        n: usize,
    ) -> Result<ActivationReport, BoxError> {
        let from = identities.len();
        let started = Instant::now();
        let made: Vec<Identity> = futures::stream::iter(from..n)
            .map(|i| async move {
                let registered = site.register(&format!("capacity box {i}")).await?;
                site.activate(&registered).await
            })
            .buffer_unordered(PARALLEL_ACTIVATIONS)
            .try_collect()
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        identities.extend(made);
        Ok(ActivationReport {
            from,
            to: n,
            seconds,
            per_second: (n - from) as f64 / seconds,
        })
    }

    /// Waits until the relay has seen `n` boxes online (its gauge on `/metrics`).
    async fn wait_online(&self, n: usize) -> Result<(), BoxError> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let online = self.gauge("relay_uplink_boxes_online").await?;
            if online >= n as f64 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the relay sees {online} boxes online of {n}").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn metrics(&self) -> Result<String, BoxError> {
        let url = format!("{}/metrics", self.relay.base);
        Ok(self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    /// A gauge's value on `/metrics` (0 when absent).
    async fn gauge(&self, name: &str) -> Result<f64, BoxError> {
        let text = self.metrics().await?;
        Ok(text
            .lines()
            .filter_map(|line| line.strip_prefix(name))
            .filter(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            .filter_map(|rest| rest.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    async fn applied(&self) -> Result<u64, BoxError> {
        self.relay
            .messages(&self.http, Some("telemetry"), "applied")
            .await
    }

    /// Waits until the relay has worked off what the broker queued for it.
    async fn wait_quiet(&self) -> Result<(), BoxError> {
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut last = self.applied().await?;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.applied().await?;
            if now == last {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the relay was still applying after 5 minutes".into());
            }
            last = now;
        }
    }

    /// The read load, the write load and the peer.
    async fn api(&self, identities: &[Identity]) -> Result<ApiReport, BoxError> {
        let base = self.relay.base.as_str();
        let (tenant, token) = self.tenant_admin().await?;
        let t = format!("/api/v1/tenants/{tenant}");
        let devices: Vec<&str> = identities
            .iter()
            .take(50)
            .map(|i| i.device.as_str())
            .collect();
        let reads = api::operator_reads(&t, &devices)?;
        let writes = api::device_renames(&t, &devices, "capacity");
        let healthz = vec![Call::get("/healthz".to_owned())];
        let shape = (self.args.connections, self.args.api_seconds as f64);
        let pid = self.relay.pid().ok();
        // A short warm-up of every route (connections, prepared statements).
        api::load(
            (base, Some(&token)),
            &reads,
            (self.args.connections, 2.0),
            pid,
        )
        .await?;
        let read = api::load((base, Some(&token)), &reads, shape, pid).await?;
        let write = api::load((base, Some(&token)), &writes, shape, pid).await?;
        let peer = api::load((base, None), &healthz, shape, pid).await?;
        Ok(ApiReport {
            connections: self.args.connections,
            seconds: self.args.api_seconds,
            read_over_healthz: read.calls_per_second / peer.calls_per_second,
            read,
            write,
            healthz: peer,
        })
    }

    /// A tenant admin of the bench's tenant, signed in: the tenant's id and the token.
    async fn tenant_admin(&self) -> Result<(String, String), BoxError> {
        let base = &self.relay.base;
        let root = self
            .post(
                &format!("{base}/api/v1/auth/login"),
                None,
                json!({"email": ROOT.0, "password": ROOT.1}),
            )
            .await?;
        let root = text(&root, "access_token")?;
        let tenants: Value = self
            .http
            .get(format!("{base}/api/v1/tenants"))
            .bearer_auth(&root)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let tenant = tenants["items"]
            .as_array()
            .and_then(|items| items.first())
            .ok_or("no tenant")?;
        let tenant = text(tenant, "id")?;
        let email = "admin@capacity.bench";
        let user = json!({"email": email, "password": ROOT.1});
        let user = self
            .post(
                &format!("{base}/api/v1/tenants/{tenant}/users"),
                Some(&root),
                user,
            )
            .await?;
        let grants = format!(
            "{base}/api/v1/tenants/{tenant}/users/{}/grants",
            text(&user, "id")?
        );
        self.post(&grants, Some(&root), json!({"role": "tenant_admin"}))
            .await?;
        let login = json!({"email": email, "password": ROOT.1, "tenant_id": tenant});
        let login = self
            .post(&format!("{base}/api/v1/auth/login"), None, login)
            .await?;
        Ok((tenant, text(&login, "access_token")?))
    }

    async fn post(&self, url: &str, token: Option<&str>, body: Value) -> Result<Value, BoxError> {
        let mut request = self.http.post(url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await?;
        let status = answer.status();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("POST {url}: {status} {body}").into());
        }
        Ok(body)
    }

    /// The relay's and the broker's CPU seconds so far.
    fn cpu(&self) -> (f64, f64) {
        let cpu = |pid| crate::proc::cpu_seconds(pid).unwrap_or(f64::NAN);
        (cpu(self.relay.pid().ok()), cpu(self.broker.pid()))
    }

    /// One window of `seconds` at the fleet's current pace: what was offered and applied,
    /// the acknowledgement waits, the cores used.
    async fn window(&self, fleet: &Fleet, seconds: f64) -> Result<Window, BoxError> {
        fleet.take();
        let applied_before = self.applied().await?;
        let (relay_before, broker_before) = self.cpu();
        let bench_before = crate::proc::cpu_seconds(None).unwrap_or(f64::NAN);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        let taken = fleet.take();
        let applied = self.applied().await?;
        let elapsed = started.elapsed().as_secs_f64();
        let (relay_after, broker_after) = self.cpu();
        let bench_after = crate::proc::cpu_seconds(None).unwrap_or(f64::NAN);
        let mut waits = taken.ack_ms;
        waits.sort_by(f64::total_cmp);
        Ok(Window {
            sent_per_second: taken.sent as f64 / elapsed,
            applied_per_second: (applied - applied_before) as f64 / elapsed,
            ack_p50_ms: percentile(&waits, 50.0),
            ack_p99_ms: percentile(&waits, 99.0),
            acks: waits.len(),
            relay_cores: (relay_after - relay_before) / elapsed,
            broker_cores: (broker_after - broker_before) / elapsed,
            bench_cores: (bench_after - bench_before) / elapsed,
        })
    }

    /// Each rate in turn, until the relay falls behind.
    async fn rates(&self, fleet: &Fleet) -> Result<Vec<RateStep>, BoxError> {
        let mut steps = Vec::new();
        for &rate in &self.args.rates {
            let period = Duration::from_secs_f64(fleet.boxes as f64 / rate as f64);
            fleet.set(Pace::Every(period));
            // Every box past its first, randomly placed, sample.
            tokio::time::sleep(period + Duration::from_secs(1)).await;
            let window = self.window(fleet, self.args.step_seconds as f64).await?;
            fleet.set(Pace::Quiet);
            self.wait_quiet().await?;
            let behind = window.applied_per_second < KEEPS_UP * window.sent_per_second
                || window.ack_p99_ms > ACK_P99_LIMIT_MS;
            tracing::info!(rate, ?window, behind, "capacity: a rate step");
            steps.push(RateStep {
                offered_per_second: rate,
                window,
                behind,
            });
            if behind {
                break;
            }
        }
        Ok(steps)
    }

    /// The relay under the fleet's flood, then the broker alone under the same flood.
    async fn flood(&self, fleet: &Fleet) -> Result<FloodReport, BoxError> {
        let seconds = self.args.step_seconds as f64;
        fleet.set(Pace::Flood);
        let relay = self.window(fleet, seconds).await?;
        fleet.set(Pace::Quiet);
        self.wait_quiet().await?;
        let (consumer, received) = peer_consumer(self.broker).await?;
        fleet.set(Pace::FloodPeer);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, broker_before) = self.cpu();
        let from = received.load(Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        let elapsed = started.elapsed().as_secs_f64();
        let got = received.load(Ordering::Relaxed) - from;
        let (_, broker_after) = self.cpu();
        fleet.set(Pace::Quiet);
        consumer.abort();
        let broker_alone = got as f64 / elapsed;
        Ok(FloodReport {
            relay_applied_per_second: relay.applied_per_second,
            relay_cores: relay.relay_cores,
            broker_cores_with_relay: relay.broker_cores,
            broker_alone_per_second: broker_alone,
            broker_alone_cores: (broker_after - broker_before) / elapsed,
            relay_over_broker_alone: relay.applied_per_second / broker_alone,
            relay_ack_p50_ms: relay.ack_p50_ms,
            relay_ack_p99_ms: relay.ack_p99_ms,
        })
    }

    /// The fleet at the boxes' own pace: one period to start, one measured.
    async fn connected(
        &self,
        fleet: &Fleet,
        activation: ActivationReport,
    ) -> Result<BoxesStep, BoxError> {
        let period = Duration::from_millis(self.args.telemetry_ms);
        fleet.set(Pace::Every(period));
        tokio::time::sleep(period).await;
        let window = self.window(fleet, period.as_secs_f64()).await?;
        fleet.set(Pace::Quiet);
        let mb = |pid| crate::proc::rss_mb(pid).unwrap_or(f64::NAN);
        let step = BoxesStep {
            boxes: fleet.boxes,
            activation,
            relay_rss_mb: mb(self.relay.pid().ok()),
            broker_rss_mb: mb(self.broker.pid()),
            bench_rss_mb: mb(None),
            window,
        };
        self.wait_quiet().await?;
        Ok(step)
    }
}

/// A bare subscriber to what the fleet floods on `{prefix}/bench` (as the relay's identity,
/// through a shared subscription as the relay's are): the messages it received so far.
async fn peer_consumer(
    broker: &Broker,
) -> Result<(tokio::task::JoinHandle<()>, Arc<AtomicU64>), BoxError> {
    let mut options = MqttOptions::new("capacity-peer", "127.0.0.1", broker.port);
    options.set_credentials(RELAY_USER.0, RELAY_USER.1);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 64);
    client
        .subscribe("$share/peer/dipper/+/+/bench", QoS::AtLeastOnce)
        .await?;
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await? {
            break;
        }
    }
    let received = Arc::new(AtomicU64::new(0));
    let counting = Arc::clone(&received);
    let task = tokio::spawn(async move {
        let _client = client;
        while let Ok(event) = events.poll().await {
            if let Event::Incoming(Packet::Publish(_)) = event {
                counting.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Ok((task, received))
}

fn print_summary(report: &Report) {
    let a = &report.api;
    println!(
        "capacity on {} ({} cores): API reads {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), writes \
         {:.0}/s (p50 {:.1} ms, p99 {:.1} ms), /healthz {:.0}/s",
        report.database,
        report.cores,
        a.read.calls_per_second,
        a.read.p50_ms,
        a.read.p99_ms,
        a.write.calls_per_second,
        a.write.p50_ms,
        a.write.p99_ms,
        a.healthz.calls_per_second
    );
    for step in &report.rates {
        let w = &step.window;
        println!(
            "  {} msg/s offered: {:.0} applied/s, ack p50 {:.1} ms p99 {:.1} ms, relay {:.2} \
             cores, broker {:.2}{}",
            step.offered_per_second,
            w.applied_per_second,
            w.ack_p50_ms,
            w.ack_p99_ms,
            w.relay_cores,
            w.broker_cores,
            if step.behind { " (behind)" } else { "" }
        );
    }
    let f = &report.flood;
    println!(
        "  flood: relay applied {:.0}/s ({:.2} cores), broker alone {:.0}/s: {:.2}",
        f.relay_applied_per_second,
        f.relay_cores,
        f.broker_alone_per_second,
        f.relay_over_broker_alone
    );
    for step in &report.boxes {
        println!(
            "  {} boxes (activated {:.0}/s): ack p50 {:.1} ms p99 {:.1} ms, relay {:.2} cores \
             {:.0} MB, broker {:.2} cores {:.0} MB",
            step.boxes,
            step.activation.per_second,
            step.window.ack_p50_ms,
            step.window.ack_p99_ms,
            step.window.relay_cores,
            step.relay_rss_mb,
            step.window.broker_cores,
            step.broker_rss_mb
        );
    }
}

#[derive(Debug, serde::Serialize)]
struct Report {
    bench: &'static str,
    database: &'static str,
    cores: usize,
    api: ApiReport,
    rates: Vec<RateStep>,
    flood: FloodReport,
    boxes: Vec<BoxesStep>,
}

#[derive(Debug, serde::Serialize)]
struct ApiReport {
    connections: usize,
    seconds: u64,
    read: LoadReport,
    write: LoadReport,
    healthz: LoadReport,
    read_over_healthz: f64,
}

#[derive(Debug, serde::Serialize)]
struct Window {
    sent_per_second: f64,
    applied_per_second: f64,
    ack_p50_ms: f64,
    ack_p99_ms: f64,
    acks: usize,
    relay_cores: f64,
    broker_cores: f64,
    bench_cores: f64,
}

#[derive(Debug, serde::Serialize)]
struct RateStep {
    offered_per_second: u64,
    #[serde(flatten)]
    window: Window,
    behind: bool,
}

#[derive(Debug, serde::Serialize)]
struct FloodReport {
    relay_applied_per_second: f64,
    relay_cores: f64,
    broker_cores_with_relay: f64,
    relay_ack_p50_ms: f64,
    relay_ack_p99_ms: f64,
    broker_alone_per_second: f64,
    broker_alone_cores: f64,
    relay_over_broker_alone: f64,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
struct ActivationReport {
    from: usize,
    to: usize,
    seconds: f64,
    per_second: f64,
}

#[derive(Debug, serde::Serialize)]
struct BoxesStep {
    boxes: usize,
    activation: ActivationReport,
    relay_rss_mb: f64,
    broker_rss_mb: f64,
    bench_rss_mb: f64,
    #[serde(flatten)]
    window: Window,
}
