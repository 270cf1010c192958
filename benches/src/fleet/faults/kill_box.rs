//! `kill_box`: the first real box `kill -9`ed and started again on its data directory
//! (`uplink::outage_box`, as after a power cut), at a moment when its database shows a task
//! not yet ended (so that a search is cut in the middle). Its recovery lasts until the box
//! says its uplink is connected again, the tasks cut have ended on the box, and every search
//! of the box running at the relay then has ended there.

use std::time::Instant;

use super::{
    Injected, running_on, wait_connected, wait_for_task, wait_parts_ended, wait_tasks_ended,
};
use crate::BoxError;
use crate::fleet::real::RealBoxes;
use crate::uplink::site::Site;

/// Kills and restarts the first real box; its recovery.
pub(crate) async fn kill_box(site: &Site, real: &RealBoxes) -> Result<Injected, BoxError> {
    let device = real
        .devices()
        .into_iter()
        .next()
        .ok_or("kill_box needs a real box (--real-boxes)")?;
    let cut = wait_for_task(real, 0).await?;
    let killed = Instant::now();
    real.kill_and_restart(0).await?;
    tracing::info!(
        device,
        tasks = cut.len(),
        "fleet: a real box was killed and restarted"
    );
    wait_connected(real, 0..1, killed).await?;
    wait_tasks_ended(real, 0, &cut, killed).await?;
    let hit = running_on(site, &device).await?;
    let parts: Vec<_> = hit.into_iter().map(|id| (id, device.clone())).collect();
    wait_parts_ended(site, &parts, killed).await?;
    Ok(Injected::recovered_now(
        "kill_box",
        Some(device),
        killed,
        cut.len(),
    ))
}
