//! `cut_network`: the real boxes' network to the broker cut (the fleet's proxy drops their
//! connections and refuses new ones) for `--fault-seconds`, at a moment when the first real
//! box's database shows a task not yet ended (so that a search is cut in the middle), then
//! restored. Meanwhile the boxes keep searching and their outboxes keep what they found.
//! Its recovery lasts until every real box says its uplink is connected again and every
//! search of theirs running at the relay at the cut, or asked of them during it, has ended
//! there.

use std::time::{Duration, Instant};

use super::{Injected, running_on, wait_connected, wait_for_task, wait_parts_ended};
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
    wait_connected(real, .., cut).await?;
    wait_parts_ended(site, &hit, cut).await?;
    Ok(Injected::recovered_now("cut_network", None, cut, hit.len()))
}
