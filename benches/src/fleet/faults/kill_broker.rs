//! `kill_broker`: Mosquitto `kill -9`ed (what it took in since its last autosave is gone:
//! sessions, queued and retained messages) and started again on the same port and data
//! directory. Every client reconnects by itself: the relay, the real boxes (persistent
//! sessions, subscribing again on every connection) and the simulated ones (the same). Its
//! recovery lasts until every real box says its uplink is connected, a `ping` through the
//! API comes back from a simulated box and from every real box, and every search running at
//! the hit has ended.

use std::time::Instant;

use super::system::{running_searches, wait_pinged, wait_searches_ended};
use super::{Injected, wait_connected};
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
    wait_connected(real, .., killed).await?;
    wait_pinged(site, pinged, killed).await?;
    wait_searches_ended(site, &running, killed).await?;
    Ok(Injected::recovered_now(
        "kill_broker",
        None,
        killed,
        running.len(),
    ))
}
