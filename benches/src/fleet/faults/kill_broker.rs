//! `kill_broker`: Mosquitto `kill -9`ed (what it took in since its last autosave is gone:
//! sessions, queued and retained messages) and started again on the same port and data
//! directory. Every client reconnects by itself: the relay, the real boxes (persistent
//! sessions, subscribing again on every connection) and the simulated ones (the same). Its
//! recovery lasts until every real box says its uplink is connected, a `ping` through the
//! API comes back from a simulated box and from every real box, and every search running at
//! the hit has ended.

use std::time::{Duration, Instant};

use super::system::{running_searches, wait_pinged, wait_searches_ended};
use super::{Injected, give_up_after};
use crate::BoxError;
use crate::fleet::real::RealBoxes;
use crate::uplink::broker::Broker;
use crate::uplink::site::Site;

/// Kills and restarts the broker; its recovery. `pinged`: the boxes a ping must reach.
pub(crate) async fn kill_broker(
    site: &Site,
    broker: &Broker,
    real: &RealBoxes,
    pinged: &[String],
) -> Result<Injected, BoxError> {
    let running = running_searches(site).await?;
    let killed = Instant::now();
    // Both wait on the process (a few ms): off the runtime's other tasks.
    tokio::task::block_in_place(|| {
        broker.kill()?;
        broker.resume()
    })?;
    tracing::info!(
        searches = running.len(),
        "fleet: the broker was killed and restarted"
    );
    for n in 0..real.devices().len() {
        while !real.connected(n).await? {
            give_up_after(killed, "the real boxes' uplinks to connect")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    wait_pinged(site, pinged, killed).await?;
    wait_searches_ended(site, &running, killed).await?;
    let recovered = Instant::now();
    let recovery_seconds = (recovered - killed).as_secs_f64();
    tracing::info!(recovery_seconds, "fleet: the broker recovered");
    Ok(Injected {
        fault: "kill_broker",
        device: None,
        hit: killed,
        recovered,
        searches_hit: running.len(),
    })
}
