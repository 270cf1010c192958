//! `dipper-bench`: Dipper's parts measured under realistic load, one subcommand each.
//!
//! `cameras` runs the downloader against simulated cameras in a separate process and
//! reports throughput, memory, exactness, a baseline client on the same work and the
//! first-byte latency of live downloads under a saturated queue. With `--json` a
//! subcommand prints exactly one JSON line on stdout; otherwise a short summary. Logs go to
//! stderr, filtered by `RUST_LOG` (default `info`).
//!
//! `keyframes` runs the keyframe extractor beside the ffmpeg CLI on the same clips.
//!
//! `gates` runs the keyframe extractor with the motion gates on and off over the scene clips.
//!
//! `index` runs the embedding index beside faiss `IndexFlatIP` on the same vectors.
//!
//! `tasks` runs the box daemon on 100,000 simulated recordings: task-creation latency, peak
//! memory and camera-hours searched per hour.
//!
//! `community` runs the box daemon indexing scene footage of a community's cameras in the
//! background: camera-hours indexed per hour, then recall and latency of searches over it.
//!
//! `uplink` runs a remote call through the relay's API, Mosquitto and a box beside a bare MQTT
//! request/response through the same broker.
//!
//! `searches` runs remote searches end to end: acknowledgement by simulated boxes beside the
//! bare broker round trip, a real box's results with snapshots, 100 searches at once.
//!
//! `capacity` measures what one relay instance carries (API calls, messages, boxes connected)
//! on SQLite or PostgreSQL, beside `/healthz` and the broker alone.
//!
//! `fleet` holds the whole system (boxes, broker, relay, API) under load for a bounded time
//! and counts every search result: produced, delivered, duplicated.
//!
//! `billing` runs the relay's monthly billing run over many tenants with a month of metered
//! usage: wall time and peak memory, and memory against a run over a tenth of the tenants.
//!
//! The hidden `sim-child` subcommand is the simulator process `cameras` starts (this same
//! binary, re-executed), so the memory `cameras` reports is the downloader's alone.

// The report on stdout is this binary's interface.
#![allow(clippy::print_stdout)]

mod billing_run;
mod cameras;
mod capacity;
mod community;
mod daemon;
mod faces;
mod figures;
mod fleet;
mod gates;
mod index;
mod keyframes;
mod proc;
mod python;
mod searches;
mod sim;
mod tasks;
mod uplink;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A boxed error with its context already in the message; logged once, in `main`.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Measurements of Dipper's parts under realistic load.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The downloader against N simulated cameras: throughput, peak memory, every byte
    /// verified, a baseline client on the same recordings, and live first-byte latency.
    Cameras(cameras::CamerasArgs),
    /// The keyframe extractor beside the ffmpeg CLI on 10-minute 1080p H.264 and H.265
    /// clips: keyframes per second, peak memory, all cores, and one long stream.
    Keyframes(keyframes::KeyframesArgs),
    /// The keyframe extractor with the motion gates on and off over the scene clips:
    /// keyframes total, decoded and sent to the detector, and footage extracted per second.
    Gates(gates::GatesArgs),
    /// The embedding index beside faiss IndexFlatIP on the same clustered vectors: top-k
    /// latency alone and in a batch, recall@10 against the exact answer, memory, load time.
    Index(index::IndexArgs),
    /// The face models under tract beside onnxruntime on the same inputs: faces embedded
    /// per second and detector frames per second, one thread and all cores.
    Faces(faces::FacesArgs),
    /// The box daemon on simulated cameras holding 100,000 recordings: task creation
    /// latency, peak memory during a task over all of them, camera-hours searched per hour.
    Tasks(tasks::TasksArgs),
    /// The box daemon indexing a community's simulated cameras (scene footage) in the
    /// background: camera-hours indexed per hour, create latency and memory meanwhile,
    /// then every person searched over the indexed footage and scored against the manifest.
    Community(community::CommunityArgs),
    /// A remote call's acknowledgement through relay API, broker and a box, beside a bare
    /// MQTT request/response through the same broker: p50/p99 and their ratio.
    Uplink(uplink::UplinkArgs),
    /// Remote search end to end: a search's acknowledgement by 1 and by 50 boxes beside the
    /// bare broker round trip, a real box's results with snapshots, and 100 searches at once
    /// over 50 boxes (relay CPU, memory, every result once).
    Searches(searches::SearchesArgs),
    /// What one relay instance carries: API calls a second (reads, writes, beside
    /// `/healthz`), telemetry messages a second with their acknowledgement wait (beside the
    /// broker alone), boxes connected at 30 s telemetry; on SQLite or PostgreSQL.
    Capacity(capacity::CapacityArgs),
    /// The relay's monthly billing run (`dipper-relay billing run`) over 10,000 tenants with
    /// 20 boxes each and a month of hourly meters: wall time, peak memory, every invoice
    /// checked, and memory against the same run over a tenth of the tenants.
    Billing(billing_run::BillingArgs),
    /// The whole system under load: 1,000 simulated boxes and 2 real ones, 100 searches at
    /// once for the run's length, operators on the API: results produced against delivered
    /// and duplicated, API and RPC latency, relay and broker CPU and memory, errors by kind.
    Fleet(fleet::FleetArgs),
    /// One extraction in its own process (what `keyframes` starts); prints one JSON line.
    #[command(hide = true)]
    KeyframesChild(keyframes::ChildArgs),
    /// The simulator process `cameras` starts; prints `device N URL` lines when ready and
    /// runs until its stdin closes or it gets SIGTERM.
    #[command(hide = true)]
    SimChild(sim::SimChildArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Cameras(_)
        | Command::Keyframes(_)
        | Command::Gates(_)
        | Command::Index(_)
        | Command::Faces(_)
        | Command::Tasks(_)
        | Command::Community(_)
        | Command::Uplink(_)
        | Command::Searches(_)
        | Command::Capacity(_)
        | Command::Billing(_)
        | Command::Fleet(_) => "info",
        Command::SimChild(_) | Command::KeyframesChild(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    let result = match cli.command {
        Command::Cameras(args) => cameras::run(args).await,
        Command::Keyframes(args) => keyframes::run(args).await,
        Command::Gates(args) => gates::run(args).await,
        Command::Index(args) => index::run(args).await,
        Command::Faces(args) => faces::run(args).await,
        Command::Tasks(args) => tasks::run(args).await,
        Command::Community(args) => community::run(args).await,
        Command::Uplink(args) => uplink::run(args).await,
        Command::Searches(args) => searches::run(args).await,
        Command::Capacity(args) => capacity::run(args).await,
        Command::Billing(args) => billing_run::run(args).await,
        Command::Fleet(args) => fleet::run(args).await,
        Command::KeyframesChild(args) => keyframes::run_child(args).await,
        Command::SimChild(args) => sim::run_child(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut chain = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!("{chain}");
            ExitCode::FAILURE
        }
    }
}
