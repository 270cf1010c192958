//! `stop_s3`: the relay's object store (the fleet's s3s-fs) stopped for `--fault-seconds` and
//! started again on the same port and folder. Meanwhile the boxes' snapshot uploads fail:
//! each box tries its grant again until the store answers (a grant it cannot use any more it
//! answers with `snapshots_wanted`, and the relay grants again). Its recovery lasts until
//! the store is back, every search running at the stop or started during the outage has
//! ended, and every result of the simulated boxes in them lists its snapshots through the
//! API, each URL reading its object from the store. (The real boxes' synthetic matches have
//! no snapshot files: they never upload, outage or not.)

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::system::running_now;
use super::{Injected, give_up_after};
use crate::BoxError;
use crate::fleet::s3::S3Store;
use crate::fleet::searches::result_items;
use crate::uplink::site::{Site, text};

/// How often the searches running are listed during the outage.
const LIST_EVERY: Duration = Duration::from_secs(1);

/// Stops the object store for `outage` and starts it again; its recovery.
pub(crate) async fn stop_s3(
    site: &Site,
    store: &Mutex<S3Store>,
    outage: Duration,
    real_devices: &[String],
) -> Result<Injected, BoxError> {
    let mut hit_searches = running(site).await?;
    let stopped = Instant::now();
    lock(store)?.stop();
    tracing::info!(
        searches = hit_searches.len(),
        "fleet: the object store is stopped"
    );
    while stopped.elapsed() < outage {
        tokio::time::sleep(LIST_EVERY).await;
        hit_searches.extend(running(site).await?);
    }
    tokio::task::block_in_place(|| lock(store)?.resume())?;
    hit_searches.extend(running(site).await?);
    tracing::info!(
        searches = hit_searches.len(),
        "fleet: the object store is back"
    );
    let searches_hit = hit_searches.len();
    let mut waiting: Vec<String> = hit_searches.into_iter().collect();
    loop {
        let mut still = Vec::new();
        for id in waiting {
            if !snapshots_complete(site, &id, real_devices).await? {
                still.push(id);
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        give_up_after(
            stopped,
            "the searches of the store's outage to end with snapshots",
        )?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(Injected::recovered_now(
        "stop_s3",
        None,
        stopped,
        searches_hit,
    ))
}

fn lock(store: &Mutex<S3Store>) -> Result<std::sync::MutexGuard<'_, S3Store>, BoxError> {
    store
        .lock()
        .map_err(|_| "the object store's lock is poisoned".into())
}

/// The ids of the searches running now, as a set.
async fn running(site: &Site) -> Result<BTreeSet<String>, BoxError> {
    Ok(running_now(site).await?.into_iter().collect())
}

/// Whether search `id` has ended and every result of a simulated box in it lists snapshots
/// that the store serves.
async fn snapshots_complete(
    site: &Site,
    id: &str,
    real_devices: &[String],
) -> Result<bool, BoxError> {
    if site.get_tenant(&format!("/searches/{id}")).await?["state"] == "running" {
        return Ok(false);
    }
    let mut urls = Vec::new();
    for result in result_items(site, id).await? {
        if real_devices
            .iter()
            .any(|d| result["device_id"] == d.as_str())
        {
            continue;
        }
        let snapshots = &result["snapshots"];
        if snapshots.is_null() {
            return Ok(false);
        }
        urls.push(text(snapshots, "face_url")?);
        urls.push(text(snapshots, "frame_url")?);
    }
    let http = reqwest::Client::new();
    for url in urls {
        let answer = http.get(&url).send().await?;
        if !answer.status().is_success() {
            return Err(format!(
                "search {id}: a snapshot listed as uploaded is not in the store ({})",
                answer.status()
            )
            .into());
        }
    }
    Ok(true)
}
