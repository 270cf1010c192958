//! Faults injected during the load (issue 23, item 2), one after another, each ended by the
//! run itself; one file a fault. Each starts at its planned moment of the load (spread evenly
//! over it, never before the fault before it has recovered), hits, ends the fault, and
//! measures its recovery: how long until the system is back to normal by itself (what
//! "normal" means is the fault's, written in its file). What each cost (results lost or
//! duplicated) is counted after the load, over the searches the fault's window touched
//! (`report::fault_cost`).
//!
//! - `kill_box` ([`kill_box`]): the first real box `kill -9`ed mid-task and started again.
//! - `kill_relay` ([`kill_relay`]): the relay process `kill -9`ed and started again.
//! - `kill_broker` ([`kill_broker`]): Mosquitto `kill -9`ed and started again.
//! - `kill_postgres` ([`kill_postgres`]): the run's own PostgreSQL `kill -9`ed and started
//!   again.
//!
//! - `stop_s3` ([`stop_s3`]): the relay's object store (s3s-fs) stopped for
//!   `--fault-seconds` and started again.
//! - `cut_network` ([`cut_network`]): the real boxes' connections to the broker (through
//!   the fleet's proxy) dropped and refused for `--fault-seconds`, then restored.
//! - `fill_disk` ([`fill_disk`]): the first real box's own disk filled to no free space for
//!   `--fault-seconds`, then freed.
//!
//! The kill faults of the relay's side hit every box at once (`Injected::device` is none); what they wait for to
//! call the system recovered is in [`system`].

mod cut_network;
mod fill_disk;
mod kill_box;
mod kill_broker;
mod kill_postgres;
mod kill_relay;
mod stop_s3;
mod system;

use std::time::{Duration, Instant};

use super::real::RealBoxes;
use crate::BoxError;
use crate::uplink::site::{Site, text};

pub(super) use cut_network::cut_network;
pub(super) use fill_disk::fill_disk;
pub(super) use kill_box::kill_box;
pub(super) use kill_broker::kill_broker;
pub(super) use kill_postgres::kill_postgres;
pub(super) use kill_relay::kill_relay;
pub(super) use stop_s3::stop_s3;

/// The faults the run can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FaultKind {
    /// `kill -9` of a real box daemon, and its start again.
    KillBox,
    /// `kill -9` of the relay process, and its start again.
    KillRelay,
    /// `kill -9` of Mosquitto, and its start again (persistence on).
    KillBroker,
    /// `kill -9` of the run's own PostgreSQL, and its start again (`--database postgres`).
    KillPostgres,
    /// The relay's S3 server stopped for `--fault-seconds`, and started again.
    StopS3,
    /// The real boxes' network to the broker cut for `--fault-seconds`, and restored.
    CutNetwork,
    /// The first real box's disk filled for `--fault-seconds`, and freed.
    FillDisk,
}

/// How long a fault waits at most for a task to cut before it hits anyway.
const WAIT_FOR_TASK: Duration = Duration::from_secs(120);
/// How long a recovery may take at most.
const RECOVERY_LIMIT: Duration = Duration::from_secs(600);

/// What a fault measured during the load (its losses are counted after it).
#[derive(Debug)]
pub(super) struct Injected {
    pub(super) fault: &'static str,
    /// The box it hit, when it hit one box (a fault of the relay's side hits every box).
    pub(super) device: Option<String>,
    /// When it hit, and when the system was back to normal.
    pub(super) hit: Instant,
    pub(super) recovered: Instant,
    /// The searches not yet ended when it hit (the box's tasks, for a box's fault).
    pub(super) searches_hit: usize,
}

impl Injected {
    /// The fault `fault` that hit at `hit` (the box `device`, when one), recovered now.
    fn recovered_now(
        fault: &'static str,
        device: Option<String>,
        hit: Instant,
        searches_hit: usize,
    ) -> Injected {
        let injected = Injected {
            fault,
            device,
            hit,
            recovered: Instant::now(),
            searches_hit,
        };
        let recovery_seconds = injected.recovery_seconds();
        tracing::info!(fault, recovery_seconds, "fleet: recovered");
        injected
    }

    pub(super) fn recovery_seconds(&self) -> f64 {
        (self.recovered - self.hit).as_secs_f64()
    }
}

fn give_up_after(since: Instant, what: &str) -> Result<(), BoxError> {
    if since.elapsed() > RECOVERY_LIMIT {
        return Err(format!("waited {RECOVERY_LIMIT:?} for {what}").into());
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Running {
    Yes,
    No,
}

/// Whether `device`'s part of search `id` has yet to end.
async fn part_state(site: &Site, id: &str, device: &str) -> Result<Running, BoxError> {
    let search = site.get_tenant(&format!("/searches/{id}")).await?;
    let parts = search["boxes"].as_array().ok_or("a search without boxes")?;
    let ended = ["done", "failed", "cancelled", "expired"];
    let running = parts
        .iter()
        .filter(|p| p["device_id"] == device)
        .any(|p| !ended.contains(&p["state"].as_str().unwrap_or("")));
    Ok(if running { Running::Yes } else { Running::No })
}

/// Waits until each of the real boxes `boxes` (all: `..`) says its uplink is connected.
async fn wait_connected(
    real: &RealBoxes,
    boxes: impl std::ops::RangeBounds<usize>,
    since: Instant,
) -> Result<(), BoxError> {
    let all = 0..real.devices().len();
    for n in all.filter(|n| boxes.contains(n)) {
        while !real.connected(n).await? {
            give_up_after(since, "the real boxes' uplinks to connect")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Waits until none of `tasks` is still unfinished on real box `n`.
async fn wait_tasks_ended(
    real: &RealBoxes,
    n: usize,
    tasks: &[String],
    since: Instant,
) -> Result<(), BoxError> {
    loop {
        let left = real.unfinished_tasks(n)?;
        if !tasks.iter().any(|task| left.contains(task)) {
            return Ok(());
        }
        give_up_after(since, "a real box's tasks to end")?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until each search's part of its box (`(search, device)`) has ended at the relay.
async fn wait_parts_ended(
    site: &Site,
    parts: &[(String, String)],
    since: Instant,
) -> Result<(), BoxError> {
    for (id, device) in parts {
        while part_state(site, id, device).await? == Running::Yes {
            give_up_after(since, "a real box's searches to end")?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// The running searches (the newest 500) whose part of `device` has yet to end.
async fn running_on(site: &Site, device: &str) -> Result<Vec<String>, BoxError> {
    let list = site.get_tenant("/searches?limit=500").await?;
    let mut hit = Vec::new();
    for summary in list["items"].as_array().into_iter().flatten() {
        if summary["state"] != "running" {
            continue;
        }
        let id = text(summary, "id")?;
        if part_state(site, &id, device).await? == Running::Yes {
            hit.push(id);
        }
    }
    Ok(hit)
}

/// Waits (at most [`WAIT_FOR_TASK`]) until real box `n`'s database shows a task not yet
/// ended, so that the fault cuts a search in the middle; those tasks (none if it waited in
/// vain: the fault hits anyway).
async fn wait_for_task(real: &RealBoxes, n: usize) -> Result<Vec<String>, BoxError> {
    let tasks = real.wait_for_unfinished_task(n, WAIT_FOR_TASK).await?;
    if tasks.is_empty() {
        tracing::warn!(
            "fleet: no real box task began within {WAIT_FOR_TASK:?}; the fault hits anyway"
        );
    }
    Ok(tasks)
}
