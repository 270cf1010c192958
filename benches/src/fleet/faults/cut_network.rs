//! `cut_network`: the real boxes' network to the broker cut (the fleet's proxy drops their
//! connections and refuses new ones) for `--fault-seconds`, at a moment when the first real
//! box's database shows a task not yet ended (so that a search is cut in the middle), then
//! restored. Meanwhile the boxes keep searching and their outboxes keep what they found.
//! Its recovery lasts until every real box says its uplink is connected again and every
//! search of theirs running at the relay at the cut, or asked of them during it, has ended
//! there.

use std::time::{Duration, Instant};

use super::{Injected, Running, give_up_after, part_state, running_on, wait_for_task};
use crate::BoxError;
use crate::fleet::proxy::Proxy;
use crate::fleet::real::RealBoxes;
use crate::uplink::site::Site;

/// Cuts the real boxes off the broker for `outage` and restores them; the recovery.
pub(crate) async fn cut_network(
    site: &Site,
    real: &RealBoxes,
    proxy: &Proxy,
    outage: Duration,
) -> Result<Injected, BoxError> {
    let devices = real.devices();
    if devices.is_empty() {
        return Err("cut_network needs a real box (--real-boxes)".into());
    }
    let tasks = wait_for_task(real, 0).await?;
    let cut = Instant::now();
    proxy.cut();
    let mut hit = Vec::new();
    for device in &devices {
        for id in running_on(site, device).await? {
            hit.push((id, device.clone()));
        }
    }
    tracing::info!(
        tasks = tasks.len(),
        searches = hit.len(),
        "fleet: the real boxes' network is cut"
    );
    tokio::time::sleep_until((cut + outage).into()).await;
    // The searches asked of the boxes while they were cut off must end too.
    for device in &devices {
        for id in running_on(site, device).await? {
            if !hit.iter().any(|(seen, on)| *seen == id && on == device) {
                hit.push((id, device.clone()));
            }
        }
    }
    proxy.restore();
    tracing::info!("fleet: the real boxes' network is restored");
    for n in 0..devices.len() {
        while !real.connected(n).await? {
            give_up_after(cut, "the real boxes' uplinks to connect again")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for (id, device) in &hit {
        while part_state(site, id, device).await? == Running::Yes {
            give_up_after(cut, "the cut boxes' searches to end")?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let recovered = Instant::now();
    let recovery_seconds = (recovered - cut).as_secs_f64();
    tracing::info!(recovery_seconds, "fleet: the cut boxes recovered");
    Ok(Injected {
        fault: "cut_network",
        device: None,
        hit: cut,
        recovered,
        searches_hit: hit.len(),
    })
}
