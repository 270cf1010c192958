//! `kill_postgres`: the run's own PostgreSQL cluster's postmaster `kill -9`ed and started
//! again on the same data directory (crash recovery replays its WAL). While it is down the
//! relay's calls that need the database fail (503 or 500, counted as errors by kind) and the
//! boxes' messages wait unacknowledged. Its recovery lasts until the relay's `/readyz`
//! answers, the API answers, a `ping` through the API comes back from a box, and every search
//! running at the hit has ended.

use std::time::Instant;

use super::Injected;
use super::system::{running_searches, wait_pinged, wait_relay_ready, wait_searches_ended};
use crate::BoxError;
use crate::fleet::postgres::Cluster;
use crate::uplink::relay::RelayProcess;
use crate::uplink::site::Site;

/// Kills and restarts the database; its recovery. `pinged`: the boxes a ping must reach.
pub(crate) async fn kill_postgres(
    site: &Site,
    relay: &RelayProcess,
    cluster: Option<&Cluster>,
    pinged: &[String],
) -> Result<Injected, BoxError> {
    let cluster = cluster.ok_or("kill-postgres needs --database postgres")?;
    let running = running_searches(site).await?;
    let killed = Instant::now();
    cluster.kill_and_restart().await?;
    tracing::info!(
        searches = running.len(),
        "fleet: PostgreSQL was killed and restarted"
    );
    wait_relay_ready(relay, site, killed).await?;
    wait_pinged(site, pinged, killed).await?;
    wait_searches_ended(site, &running, killed).await?;
    Ok(Injected::recovered_now(
        "kill_postgres",
        None,
        killed,
        running.len(),
    ))
}
