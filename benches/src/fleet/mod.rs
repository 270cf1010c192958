//! `dipper-bench fleet`: the whole system held under load for a bounded time, and every
//! result counted (issue 23, the load and soak, and the faults injected during it: so far
//! `kill-box`).
//!
//! A real Mosquitto and the real relay (`dipper-relay run`, its own process, on the
//! PostgreSQL database `--database-url` names or a SQLite file of its own), as the `uplink`
//! bench starts them; one tenant, a person enrolled from `.cache/faces/obama.jpg`. Then:
//! - `--boxes` simulated boxes (`searches::boxes`: raw MQTT v5 clients in this process,
//!   each activated through the API, answering `createSearch` and `ping` at once, reporting
//!   `--matches` matches a search with their snapshots, telemetry every `--telemetry-ms`);
//! - `--real-boxes` real box daemons (`uplink::outage_box`: `dipper run`, a simulated camera,
//!   a day of synthetic faces in its index), activated through their own API;
//! - for `--seconds`: `--searches` searches running at once ([`searches`]), each of
//!   `--boxes-per-search` simulated boxes (every tenth also of a real box), each started
//!   again a little after it ends; operators reading and writing through the API
//!   ([`operators`]); a `ping` to a box every second, timed (the RPC acknowledgement);
//!   and the `--faults` asked for ([`faults`]).
//!
//! Then every search is awaited to its end and its results read through the API: results
//! delivered (listed) and duplicated (the same box's match listed twice) against results
//! produced (what the simulated boxes sent, and the matches the real boxes stored in their
//! own databases). One JSON line; the exit status is non-zero unless every search ended
//! done and every result produced was delivered once.

mod faults;
mod operators;
mod real;
mod report;
mod searches;

use std::time::{Duration, Instant};

use crate::BoxError;
use crate::searches::boxes::{Behaviour, SearchBoxes};
use crate::uplink::broker::Broker;
use crate::uplink::fleet::activate;
use crate::uplink::relay::RelayProcess;
use crate::uplink::site::Site;

#[derive(Debug, clap::Args)]
pub(crate) struct FleetArgs {
    /// The relay's database: a fresh PostgreSQL database's `postgres://` URL (the relay's
    /// own role), or none for a SQLite file of its own.
    #[arg(long)]
    database_url: Option<String>,
    /// Simulated boxes.
    #[arg(long, default_value_t = 1_000)]
    boxes: usize,
    /// Real box daemons, each with a simulated camera.
    #[arg(long, default_value_t = 2)]
    real_boxes: usize,
    /// Searches running at once, for the whole run.
    #[arg(long, default_value_t = 100)]
    searches: usize,
    /// Simulated boxes each search asks.
    #[arg(long, default_value_t = 10)]
    boxes_per_search: usize,
    /// Matches each simulated box reports in each search.
    #[arg(long, default_value_t = 2)]
    matches: u32,
    /// How long a search's place waits, on average, before the next search once one ends.
    #[arg(long, default_value_t = 10)]
    search_gap_seconds: u64,
    /// Each simulated box's telemetry period, ms (a box's is 30 s).
    #[arg(long, default_value_t = 30_000)]
    telemetry_ms: u64,
    /// Operators calling the API at once (one of them writing), each a call every 200 ms.
    #[arg(long, default_value_t = 4)]
    operators: usize,
    /// How long the load lasts.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// How long the searches still running at the end may take to end.
    #[arg(long, default_value_t = 600)]
    drain_seconds: u64,
    /// Faults injected during the load, comma-separated (`kill-box`).
    #[arg(long, value_delimiter = ',')]
    faults: Vec<faults::FaultKind>,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Every tenth search also asks a real box.
const REAL_EVERY: usize = 10;
/// The RPC acknowledgement is sampled this often.
const PING_EVERY: Duration = Duration::from_secs(1);

pub(crate) async fn run(args: FleetArgs) -> Result<(), BoxError> {
    if args.boxes == 0 || args.searches == 0 || args.boxes_per_search == 0 {
        return Err("--boxes, --searches and --boxes-per-search must be at least 1".into());
    }
    if args.operators < 2 {
        return Err("--operators must be at least 2 (one reads, one writes)".into());
    }
    let broker = Broker::start()?;
    let relay = RelayProcess::start_on(&broker, args.database_url.as_deref()).await?;
    let site = Site::start(&relay).await?;
    let person = enrol(&site).await?;
    let started = Instant::now();
    let identities = activate(&site, args.boxes).await?;
    let jpeg = crate::searches::snapshot_jpeg()?;
    let mut sim = SearchBoxes::connect(&broker, &identities, jpeg).await?;
    sim.set(Behaviour {
        hold: false,
        matches: args.matches,
    });
    sim.send_telemetry(Duration::from_millis(args.telemetry_ms));
    for identity in &identities {
        site.wait_online(&identity.device).await?;
    }
    let setup_boxes = started.elapsed().as_secs_f64();
    tracing::info!(
        boxes = args.boxes,
        setup_boxes,
        "fleet: the simulated boxes are online"
    );
    let real = real::RealBoxes::start(&site, args.real_boxes).await?;
    tracing::info!(
        real_boxes = args.real_boxes,
        "fleet: the real boxes are online"
    );
    let plan = searches::Plan {
        person,
        sim: identities.iter().map(|i| i.device.clone()).collect(),
        real: real.spans(),
        boxes_per_search: args.boxes_per_search,
        real_every: REAL_EVERY,
    };
    let load = Load {
        args: &args,
        site: &site,
        relay: &relay,
        broker: &broker,
        real: &real,
    };
    let measured = load.run(&plan, &identities).await?;
    let counted = searches::count(&site, &measured.searches, &real.devices()).await?;
    let produced = real::Produced {
        sim: sim.sent.matches.load(std::sync::atomic::Ordering::Relaxed),
        real: real.produced()?,
    };
    let republished = sim
        .sent
        .republished
        .load(std::sync::atomic::Ordering::Relaxed);
    drop(sim);
    let report = report::Report::new(&args, &relay, measured, counted, produced, republished)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        report.print_summary();
    }
    report.verdict()
}

/// Enrols the person the searches look for; their id.
async fn enrol(site: &Site) -> Result<String, BoxError> {
    let photo = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../.cache/faces/obama.jpg"
    ));
    let jpeg = std::fs::read(photo)
        .map_err(|e| format!("{}: {e} (run scripts/fetch-models)", photo.display()))?;
    site.enrol("Barack Obama", jpeg).await
}

/// The load's parts, for `--seconds`.
struct Load<'a> {
    args: &'a FleetArgs,
    site: &'a Site,
    relay: &'a RelayProcess,
    broker: &'a Broker,
    real: &'a real::RealBoxes,
}

/// What the load measured.
struct Measured {
    searches: searches::Driven,
    operators: operators::Operators,
    /// Each ping's time, ms, sorted; the pings that failed.
    acks: Vec<f64>,
    ack_errors: u64,
    window: report::Window,
    faults: Vec<faults::Injected>,
}

impl Load<'_> {
    async fn run(
        &self,
        plan: &searches::Plan,
        identities: &[crate::uplink::site::Identity],
    ) -> Result<Measured, BoxError> {
        let seconds = Duration::from_secs(self.args.seconds);
        let until = Instant::now() + seconds;
        let shape = searches::Shape {
            slots: self.args.searches,
            gap: Duration::from_secs(self.args.search_gap_seconds),
            until,
            drain: Duration::from_secs(self.args.drain_seconds),
        };
        let devices: Vec<&str> = identities.iter().map(|i| i.device.as_str()).collect();
        let (driven, operators, (acks, ack_errors), window, faults) = tokio::join!(
            searches::drive(self.site, plan, &shape),
            operators::work(
                self.site,
                self.relay,
                &devices,
                self.args.operators,
                seconds
            ),
            pings(self.site, &devices, until),
            report::Window::measure(self.relay, self.broker, seconds),
            self.faults(seconds),
        );
        Ok(Measured {
            searches: driven?,
            operators: operators?,
            acks,
            ack_errors,
            window: window?,
            faults: faults?,
        })
    }

    /// The faults asked for, one after another, the first a third of the way through.
    async fn faults(&self, seconds: Duration) -> Result<Vec<faults::Injected>, BoxError> {
        let mut injected = Vec::new();
        for fault in &self.args.faults {
            match fault {
                faults::FaultKind::KillBox => {
                    injected.push(faults::kill_box(self.site, self.real, seconds / 3).await?);
                }
            }
        }
        Ok(injected)
    }
}

/// A `ping` to the next box every [`PING_EVERY`] until `until`: each call's time (ms, from
/// the API request to the box's answer through the relay), and the calls that failed.
async fn pings(site: &Site, devices: &[&str], until: Instant) -> (Vec<f64>, u64) {
    let (mut samples, mut errors) = (Vec::new(), 0);
    let mut next = 0;
    while Instant::now() < until {
        let device = devices[next % devices.len()];
        next += 1;
        match site.pings(device, 1).await {
            Ok(took) => samples.extend(took.iter().map(|d| d.as_secs_f64() * 1000.0)),
            Err(error) => {
                tracing::warn!(%error, device, "fleet: a ping failed");
                errors += 1;
            }
        }
        tokio::time::sleep(PING_EVERY).await;
    }
    samples.sort_by(f64::total_cmp);
    (samples, errors)
}
