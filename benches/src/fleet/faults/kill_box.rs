//! `kill_box`: the first real box `kill -9`ed and started again on its data directory
//! (`uplink::outage_box`, as after a power cut), at a moment when its database shows a task
//! not yet ended (so that a search is cut in the middle). Its recovery lasts until the box
//! says its uplink is connected again, the tasks cut have ended on the box, and every search
//! of the box running at the relay then has ended there.

use std::time::Instant;

use super::{Injected, Running, WAIT_FOR_TASK, give_up_after, part_state, running_on};
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
    let waiting = Instant::now();
    let mut cut = real.unfinished_tasks(0)?;
    while cut.is_empty() && waiting.elapsed() < WAIT_FOR_TASK {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
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
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    loop {
        let left = real.unfinished_tasks(0)?;
        if !cut.iter().any(|task| left.contains(task)) {
            break;
        }
        give_up_after(killed, "the killed box's tasks to end")?;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let hit = running_on(site, &device).await?;
    for id in &hit {
        while part_state(site, id, &device).await? == Running::Yes {
            give_up_after(killed, "the killed box's searches to end")?;
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    let recovered = Instant::now();
    let recovery_seconds = (recovered - killed).as_secs_f64();
    tracing::info!(device, recovery_seconds, "fleet: the killed box recovered");
    Ok(Injected {
        fault: "kill_box",
        device: Some(device),
        hit: killed,
        recovered,
        searches_hit: cut.len(),
    })
}
