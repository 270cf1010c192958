//! Faults injected during the load (issue 23, item 2), one at a time, each ended by the run
//! itself. So far `kill_box`: the first real box `kill -9`ed and started again on its data
//! directory (`uplink::outage_box`, as after a power cut), a third of the way through the
//! load, at a moment when its database shows a task not yet ended (so that a search is cut
//! in the middle). Its recovery lasts until the box says its uplink is connected again, the
//! tasks cut have ended on the box, and every search of the box running at the relay then has
//! ended there; what it lost or duplicated is counted with the run's results, for that box.

use std::time::{Duration, Instant};

use super::real::RealBoxes;
use crate::BoxError;
use crate::uplink::site::{Site, text};

/// The faults the run can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FaultKind {
    /// `kill -9` of a real box daemon, and its start again.
    KillBox,
}

/// How long the fault waits at most for a task to cut before it kills the box anyway.
const WAIT_FOR_TASK: Duration = Duration::from_secs(120);
/// How long a recovery may take at most.
const RECOVERY_LIMIT: Duration = Duration::from_secs(600);

/// What a fault measured during the load (its losses are counted after it).
#[derive(Debug)]
pub(super) struct Injected {
    pub(super) fault: &'static str,
    /// The box it hit.
    pub(super) device: String,
    pub(super) recovery_seconds: f64,
    /// The box's tasks (its searches) not yet ended when it was hit.
    pub(super) searches_hit: usize,
}

/// Waits `after`, then kills and restarts the first real box; its recovery.
pub(super) async fn kill_box(
    site: &Site,
    real: &RealBoxes,
    after: Duration,
) -> Result<Injected, BoxError> {
    let device = real
        .devices()
        .into_iter()
        .next()
        .ok_or("kill_box needs a real box (--real-boxes)")?;
    tokio::time::sleep(after).await;
    let waiting = Instant::now();
    let mut cut = real.unfinished_tasks(0)?;
    while cut.is_empty() && waiting.elapsed() < WAIT_FOR_TASK {
        tokio::time::sleep(Duration::from_millis(20)).await;
        cut = real.unfinished_tasks(0)?;
    }
    let killed = Instant::now();
    real.kill_and_restart(0).await?;
    tracing::info!(
        device,
        tasks = cut.len(),
        "fleet: a real box was killed and restarted"
    );
    while !real.connected(0).await? {
        give_up_after(killed, "the killed box's uplink to connect")?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    loop {
        let left = real.unfinished_tasks(0)?;
        if !cut.iter().any(|task| left.contains(task)) {
            break;
        }
        give_up_after(killed, "the killed box's tasks to end")?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hit = running_on(site, &device).await?;
    for id in &hit {
        while part_state(site, id, &device).await? == Running::Yes {
            give_up_after(killed, "the killed box's searches to end")?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let recovery_seconds = killed.elapsed().as_secs_f64();
    tracing::info!(device, recovery_seconds, "fleet: the killed box recovered");
    Ok(Injected {
        fault: "kill_box",
        device,
        recovery_seconds,
        searches_hit: cut.len(),
    })
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
