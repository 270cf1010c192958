//! `kill_relay`: the relay process `kill -9`ed and started again at once on the same port,
//! configuration and database (as its supervisor does after a crash). While it is down the
//! API's clients see refused connections (counted as errors by kind) and the boxes' messages
//! wait in the broker (the relay's session is a persistent one). Its recovery lasts until
//! `/readyz` answers, the API answers, a `ping` through the API comes back from a box, and
//! every search running at the hit has ended.

use std::time::Instant;

use super::Injected;
use super::system::{running_searches, wait_pinged, wait_relay_ready, wait_searches_ended};
use crate::BoxError;
use crate::uplink::relay::RelayProcess;
use crate::uplink::site::Site;

/// Kills and restarts the relay; its recovery. `pinged`: the boxes a ping must reach.
pub(crate) async fn kill_relay(
    site: &Site,
    relay: &RelayProcess,
    pinged: &[String],
) -> Result<Injected, BoxError> {
    let running = running_searches(site).await?;
    let killed = Instant::now();
    relay.kill_and_restart().await?;
    tracing::info!(
        searches = running.len(),
        "fleet: the relay was killed and restarted"
    );
    wait_relay_ready(relay, site, killed).await?;
    wait_pinged(site, pinged, killed).await?;
    wait_searches_ended(site, &running, killed).await?;
    Ok(Injected::recovered_now(
        "kill_relay",
        None,
        killed,
        running.len(),
    ))
}
