//! What the faults of the system's shared parts (the relay, the broker, the database) wait
//! for to call it recovered: the relay ready, the API answering, a two-way call reaching a
//! box, and every search that was running at the hit ended.

use std::time::{Duration, Instant};

use super::{WAIT_FOR_TASK, give_up_after};
use crate::BoxError;
use crate::uplink::relay::RelayProcess;
use crate::uplink::site::{Site, text};

/// How often a recovery's condition is looked at again.
const AGAIN: Duration = Duration::from_millis(250);

/// The ids of the searches running now (the newest 500), once there is one (so that the
/// fault cuts searches in the middle), or none after [`WAIT_FOR_TASK`].
pub(super) async fn running_searches(site: &Site) -> Result<Vec<String>, BoxError> {
    let waiting = Instant::now();
    loop {
        let running = running_now(site).await?;
        if !running.is_empty() || waiting.elapsed() > WAIT_FOR_TASK {
            return Ok(running);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids of the searches running now (the newest 500).
pub(super) async fn running_now(site: &Site) -> Result<Vec<String>, BoxError> {
    let list = site.get_tenant("/searches?limit=500").await?;
    let items = list["items"]
        .as_array()
        .ok_or("a search list without items")?;
    items
        .iter()
        .filter(|s| s["state"] == "running")
        .map(|s| text(s, "id"))
        .collect()
}

/// Waits until the relay's `/readyz` answers 2xx and the API answers a read.
pub(super) async fn wait_relay_ready(
    relay: &RelayProcess,
    site: &Site,
    since: Instant,
) -> Result<(), BoxError> {
    let http = reqwest::Client::new();
    while !relay.ready(&http).await {
        give_up_after(since, "the relay to be ready")?;
        tokio::time::sleep(AGAIN).await;
    }
    while let Err(error) = site.get_tenant("/searches?limit=1").await {
        tracing::info!(%error, "fleet: the API does not answer yet");
        give_up_after(since, "the API to answer")?;
        tokio::time::sleep(AGAIN).await;
    }
    Ok(())
}

/// Waits until a `ping` to each of `devices` through the API comes back answered.
pub(super) async fn wait_pinged(
    site: &Site,
    devices: &[String],
    since: Instant,
) -> Result<(), BoxError> {
    for device in devices {
        while let Err(error) = site.pings(device, 1).await {
            tracing::info!(%error, device, "fleet: a box does not answer a ping yet");
            give_up_after(since, "a ping to be answered")?;
            tokio::time::sleep(AGAIN).await;
        }
    }
    Ok(())
}

/// Waits until none of the searches `ids` is running any more (read errors, while the
/// system is still recovering, are waited out too).
pub(super) async fn wait_searches_ended(
    site: &Site,
    ids: &[String],
    since: Instant,
) -> Result<(), BoxError> {
    for id in ids {
        loop {
            match site.get_tenant(&format!("/searches/{id}")).await {
                Ok(search) if search["state"] != "running" => break,
                Ok(_) => {}
                Err(error) => tracing::info!(%error, id, "fleet: a search cannot be read yet"),
            }
            give_up_after(since, "the searches running at the hit to end")?;
            tokio::time::sleep(AGAIN).await;
        }
    }
    Ok(())
}
