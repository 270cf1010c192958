//! `fill_disk`: the first real box's disk (a tmpfs of its own: [`crate::fleet::tmpfs`])
//! filled by a file up to no free space at all, at a moment when its database shows a task
//! not yet ended, held so for `--fault-seconds`, and the file deleted. The box must notice
//! (its health says the disk is full) while the disk is full; its recovery lasts until its
//! health says the disk has room again, its uplink is connected, the tasks running at the
//! fill or begun while the disk was full have ended on the box, and every search of the box
//! running at the relay then has ended there.

use std::time::{Duration, Instant};

use super::{
    Injected, running_on, wait_connected, wait_for_task, wait_parts_ended, wait_tasks_ended,
};
use crate::BoxError;
use crate::fleet::real::RealBoxes;
use crate::fleet::tmpfs;
use crate::uplink::site::Site;

/// The file that fills the disk.
const FILLER: &str = "fleet-fill-disk";

/// Fills the first real box's disk for `outage`, then frees it; the recovery.
pub(crate) async fn fill_disk(
    site: &Site,
    real: &RealBoxes,
    outage: Duration,
) -> Result<Injected, BoxError> {
    let disk = real
        .disk()
        .ok_or("fill_disk needs the first real box on a disk of its own")?;
    let device = real.devices().into_iter().next().ok_or("no real box")?;
    let dir = disk.dir().to_owned();
    let mut tasks = wait_for_task(real, 0).await?;
    let filled_at = Instant::now();
    let mut searches = running_on(site, &device).await?;
    let filling = dir.clone();
    let bytes = tokio::task::spawn_blocking(move || tmpfs::fill(&filling, FILLER)).await??;
    tracing::info!(
        device,
        bytes,
        free = tmpfs::free_bytes(&dir)?,
        tasks = tasks.len(),
        "fleet: a real box's disk is full"
    );
    let noticed = wait_for_full(real, true, filled_at, outage).await;
    tokio::time::sleep_until((filled_at + outage).into()).await;
    // What began while the disk was full must end too.
    tasks.extend(real.unfinished_tasks(0)?);
    searches.extend(running_on(site, &device).await?);
    tasks.sort();
    tasks.dedup();
    searches.sort();
    searches.dedup();
    std::fs::remove_file(dir.join(FILLER))?;
    noticed?;
    tracing::info!(device, "fleet: a real box's disk has room again");
    wait_for_full(real, false, filled_at, super::RECOVERY_LIMIT).await?;
    wait_connected(real, 0..1, filled_at).await?;
    wait_tasks_ended(real, 0, &tasks, filled_at).await?;
    let parts: Vec<_> = (searches.iter())
        .map(|id| (id.clone(), device.clone()))
        .collect();
    wait_parts_ended(site, &parts, filled_at).await?;
    Ok(Injected::recovered_now(
        "fill_disk",
        Some(device),
        filled_at,
        searches.len(),
    ))
}

/// Waits until the first real box's health says its disk is `full` (or not), at most
/// `within` after `since`.
async fn wait_for_full(
    real: &RealBoxes,
    full: bool,
    since: Instant,
    within: Duration,
) -> Result<(), BoxError> {
    loop {
        let health = real.health(0).await?;
        if health["disk"]["full"] == full {
            return Ok(());
        }
        if since.elapsed() > within {
            let said = if full { "full" } else { "not full" };
            return Err(
                format!("the real box's health never said its disk was {said}: {health}").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
