//! `dipper-bench fleet`: the whole system held under load for a bounded time, and every
//! result counted (issue 23, the load and soak, and the faults injected during it:
//! `kill-box`, `kill-relay`, `kill-broker`, `kill-postgres`, `stop-s3`, `cut-network`,
//! `fill-disk`; docs/design/0132).
//!
//! A real Mosquitto and the real relay (`dipper-relay run`, its own process), as the
//! `uplink` bench starts them, on `--database postgres` (the default: a PostgreSQL cluster of
//! the run's own, [`postgres`], made and dropped by it, so that killing it harms nothing
//! else) or `sqlite` (a file of its own); its objects (the boxes' snapshots) in a real S3
//! server of the run's own ([`s3`], s3s-fs; `--objects disk`: files in its folder); the
//! broker's address it hands the boxes at activation a TCP proxy's ([`proxy`]), which only
//! the real boxes use (the relay and the simulated boxes connect to the broker directly);
//! one tenant, a person enrolled from `.cache/faces/obama.jpg`. Then:
//! - `--boxes` simulated boxes (`searches::boxes`: raw MQTT v5 clients in this process,
//!   each activated through the API, answering `createSearch` and `ping` at once, reporting
//!   `--matches` matches a search with their snapshots, telemetry every `--telemetry-ms`);
//! - `--real-boxes` real box daemons (`uplink::outage_box`: `dipper run`, a simulated camera,
//!   a day of synthetic faces in its index), activated through their own API; with
//!   `--faults fill-disk`, the first on a small disk of its own ([`tmpfs`]);
//! - for `--seconds`: `--searches` searches running at once ([`searches`]), each of
//!   `--boxes-per-search` simulated boxes (every tenth also of a real box), each started
//!   again a little after it ends; operators reading and writing through the API
//!   ([`operators`]); a `ping` to a box every second, timed (the RPC acknowledgement);
//!   and the `--faults` asked for ([`faults`]), one after another, the searches going on
//!   past `--seconds` while faults are at work; a second tenant's isolation checked after
//!   each ([`tenants`]).
//!
//! Then every search of the tenant is awaited to its end and its results read through the
//! API: results delivered (listed) and duplicated (the same box's match listed twice)
//! against results produced (what the simulated boxes sent, and the matches the real boxes
//! stored in their own databases), by search and box, in all and over each fault's window.
//! One JSON line; the exit status is non-zero unless every search ended done (each part
//! `done` or with its reason), every result produced was delivered once and no tenant saw
//! another's data.

mod cpu;
mod faults;
mod operators;
mod postgres;
mod proxy;
mod real;
mod report;
mod s3;
mod searches;
mod tenants;
mod tmpfs;

use std::time::{Duration, Instant};

use crate::BoxError;
use crate::searches::boxes::{Behaviour, SearchBoxes};
use crate::uplink::broker::Broker;
use crate::uplink::fleet::activate;
use crate::uplink::relay::{RelayOptions, RelayProcess};
use crate::uplink::site::Site;

#[derive(Debug, clap::Args)]
pub(crate) struct FleetArgs {
    /// The relay's database: a PostgreSQL cluster of the run's own (made with Debian's
    /// `pg_createcluster`, as root), or a SQLite file of its own.
    #[arg(long, value_enum, default_value_t = Database::Postgres)]
    database: Database,
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
    /// Faults injected during the load, comma-separated (`kill-box`, `kill-relay`,
    /// `kill-broker`, `kill-postgres`, `stop-s3`, `cut-network`, `fill-disk`).
    #[arg(long, value_delimiter = ',')]
    faults: Vec<faults::FaultKind>,
    /// How long the `stop-s3`, `cut-network` and `fill-disk` faults last.
    #[arg(long, default_value_t = 60)]
    fault_seconds: u64,
    /// Where the relay keeps its objects (the boxes' snapshots): a real S3 server of the
    /// run's own (s3s-fs), or files in the relay's folder.
    #[arg(long, value_enum, default_value_t = Objects::S3)]
    objects: Objects,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Where the relay keeps its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Objects {
    S3,
    Disk,
}

/// The size of the first real box's own disk for `fill-disk`, MiB: room for its data
/// directory (a few MiB) and the filler.
const FILLED_DISK_MIB: u64 = 256;

/// The relay's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Database {
    Postgres,
    Sqlite,
}

/// Every tenth search also asks a real box.
const REAL_EVERY: usize = 10;
/// The RPC acknowledgement is sampled this often.
const PING_EVERY: Duration = Duration::from_secs(1);

pub(crate) async fn run(args: FleetArgs) -> Result<(), BoxError> {
    check(&args)?;
    let asked = |fault| args.faults.contains(&fault);
    let cluster = match args.database {
        Database::Postgres => Some(tokio::task::spawn_blocking(postgres::Cluster::create).await??),
        Database::Sqlite => None,
    };
    let broker = Broker::start()?;
    let s3 = match args.objects {
        Objects::S3 => Some(std::sync::Mutex::new(s3::S3Store::start()?)),
        Objects::Disk => None,
    };
    let proxy = proxy::Proxy::start(broker.port).await?;
    let options = RelayOptions {
        s3: match &s3 {
            Some(store) => Some(store.lock().map_err(|_| "poisoned")?.bucket()),
            None => None,
        },
        boxes_broker_url: Some(proxy.url()),
    };
    let url = cluster.as_ref().map(postgres::Cluster::url);
    let relay = RelayProcess::start_with(&broker, url.as_deref(), &options).await?;
    let site = Site::start(&relay).await?;
    let person = enrol(&site).await?;
    let jpeg = crate::searches::snapshot_jpeg()?;
    let (identities, sim) = connect_boxes(&site, &broker, &args, &jpeg).await?;
    let own_disk = asked(faults::FaultKind::FillDisk).then_some(FILLED_DISK_MIB);
    let real = real::RealBoxes::start(&site, args.real_boxes, own_disk).await?;
    tracing::info!(
        real_boxes = args.real_boxes,
        "fleet: the real boxes are online"
    );
    let isolation =
        tenants::Isolation::start(&relay, &broker, &site, &person, &identities, &jpeg).await?;
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
        cluster: cluster.as_ref(),
        isolation: &isolation,
        s3: s3.as_ref(),
        proxy: &proxy,
    };
    let measured = load.run(&plan, &identities).await?;
    let counted = searches::count(&site, &measured.searches, &isolation.own_searches()).await?;
    isolation.check("end").await;
    let isolated = isolation.checked().await;
    let produced = produced(&sim, &real)?;
    let republished = sim
        .sent
        .republished
        .load(std::sync::atomic::Ordering::Relaxed);
    drop(sim);
    let report = report::Report::new(&args, &relay, measured, counted, produced, republished)?
        .with_isolation(isolated);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        report.print_summary();
    }
    report.verdict()
}

/// The arguments' combinations that cannot run.
fn check(args: &FleetArgs) -> Result<(), BoxError> {
    if args.boxes == 0 || args.searches == 0 || args.boxes_per_search == 0 {
        return Err("--boxes, --searches and --boxes-per-search must be at least 1".into());
    }
    if args.operators < 2 {
        return Err("--operators must be at least 2 (one reads, one writes)".into());
    }
    let asked = |fault| args.faults.contains(&fault);
    if asked(faults::FaultKind::KillPostgres) && args.database != Database::Postgres {
        return Err("--faults kill-postgres needs --database postgres".into());
    }
    if asked(faults::FaultKind::StopS3) && args.objects != Objects::S3 {
        return Err("--faults stop-s3 needs --objects s3".into());
    }
    if args.fault_seconds == 0 {
        return Err("--fault-seconds must be at least 1".into());
    }
    Ok(())
}

/// The simulated boxes activated, connected (matching, sending telemetry) and seen online.
async fn connect_boxes(
    site: &Site,
    broker: &Broker,
    args: &FleetArgs,
    jpeg: &[u8],
) -> Result<(Vec<crate::uplink::site::Identity>, SearchBoxes), BoxError> {
    let started = Instant::now();
    let identities = activate(site, args.boxes).await?;
    let mut sim = SearchBoxes::connect(broker, &identities, jpeg.to_vec()).await?;
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
    Ok((identities, sim))
}

/// What the boxes produced, by search and box: the simulated boxes' acknowledged matches and
/// the real boxes' stored ones.
fn produced(sim: &SearchBoxes, real: &real::RealBoxes) -> Result<real::Produced, BoxError> {
    let mut by_search: std::collections::HashMap<_, _> = (sim.sent.by_search().into_iter())
        .map(|((search, device), n)| ((search.to_string(), device), n))
        .collect();
    by_search.extend(real.produced()?);
    Ok(real::Produced {
        by_search,
        real: real.devices(),
    })
}

/// Enrols the person the searches look for; their id.
async fn enrol(site: &Site) -> Result<String, BoxError> {
    site.enrol("Barack Obama", face("obama.jpg")?).await
}

/// The face photo `name` of the development cache (`.cache/faces`).
fn face(name: &str) -> Result<Vec<u8>, BoxError> {
    let path =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/faces")).join(name);
    std::fs::read(&path)
        .map_err(|e| format!("{}: {e} (run scripts/fetch-models)", path.display()).into())
}

/// The load's parts, for `--seconds`.
struct Load<'a> {
    args: &'a FleetArgs,
    site: &'a Site,
    relay: &'a RelayProcess,
    broker: &'a Broker,
    real: &'a real::RealBoxes,
    /// The run's own PostgreSQL, on `--database postgres`.
    cluster: Option<&'a postgres::Cluster>,
    /// Checked after each fault.
    isolation: &'a tenants::Isolation,
    /// The relay's S3 server, on `--objects s3`.
    s3: Option<&'a std::sync::Mutex<s3::S3Store>>,
    /// Between the real boxes and the broker.
    proxy: &'a proxy::Proxy,
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
        let faulting = !self.args.faults.is_empty();
        let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(faulting));
        let shape = searches::Shape {
            slots: self.args.searches,
            gap: Duration::from_secs(self.args.search_gap_seconds),
            until,
            busy: busy.clone(),
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
            async {
                let injected = self.faults(seconds, &plan.sim[0]).await;
                busy.store(false, std::sync::atomic::Ordering::Relaxed);
                injected
            },
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

    /// The faults asked for, one after another: the `i`th of `n` at `(i + 1) / (n + 1)` of
    /// the load, or once the one before it has recovered, whichever is later.
    /// The faults of the shared parts wait for a ping to reach `sim_device` and every real box.
    async fn faults(
        &self,
        seconds: Duration,
        sim_device: &str,
    ) -> Result<Vec<faults::Injected>, BoxError> {
        let began = Instant::now();
        let mut pinged = vec![sim_device.to_owned()];
        pinged.extend(self.real.devices());
        let n = u32::try_from(self.args.faults.len())?;
        let outage = Duration::from_secs(self.args.fault_seconds);
        let mut injected = Vec::new();
        for (i, fault) in (1..).zip(&self.args.faults) {
            tokio::time::sleep_until((began + seconds * i / (n + 1)).into()).await;
            tracing::info!(?fault, "fleet: a fault begins");
            injected.push(match fault {
                faults::FaultKind::KillBox => faults::kill_box(self.site, self.real).await?,
                faults::FaultKind::KillRelay => {
                    faults::kill_relay(self.site, self.relay, &pinged).await?
                }
                faults::FaultKind::KillBroker => {
                    faults::kill_broker(self.site, self.broker, self.real, &pinged).await?
                }
                faults::FaultKind::KillPostgres => {
                    faults::kill_postgres(self.site, self.relay, self.cluster, &pinged).await?
                }
                faults::FaultKind::StopS3 => {
                    let store = self.s3.ok_or("stop-s3 needs --objects s3")?;
                    let real = self.real.devices();
                    faults::stop_s3(self.site, store, outage, &real).await?
                }
                faults::FaultKind::CutNetwork => {
                    faults::cut_network(self.site, self.real, self.proxy, outage).await?
                }
                faults::FaultKind::FillDisk => {
                    faults::fill_disk(self.site, self.real, outage).await?
                }
            });
            self.isolation
                .check(injected[injected.len() - 1].fault)
                .await;
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
