//! What the box says about itself: telemetry every `uplink.telemetry_interval_ms` (written
//! to the outbox whether or not the link is up, thinned first when the outbox is full),
//! client attributes on every connect, the outbox's gauges in `/metrics`, and the
//! `getDiagnostics` answer (versions, configuration without secrets, cameras, disk, the
//! tenant's standing, last errors).
//!
//! Contract: a figure the box cannot read is left out (telemetry's optional fields) or
//! logged, never made up.

use std::sync::Arc;

use protocol::telemetry::{ClientAttributes, Telemetry};
use serde_json::{Value, json};

use super::{Kind, Shared, now_ms};
use crate::db::DbError;

/// Writes a telemetry sample every interval, and keeps the outbox's gauges current.
pub(super) async fn telemetry_loop(shared: Arc<Shared>) {
    let mut next = tokio::time::Instant::now() + shared.config().telemetry_interval();
    let mut gauges = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                if let Err(e) = send_telemetry(&shared).await {
                    tracing::warn!(error = %e, "uplink: cannot write telemetry");
                }
                // Read again each time: `setConfig` may change it.
                next = tokio::time::Instant::now() + shared.config().telemetry_interval();
            }
            _ = gauges.tick() => update_gauges(&shared).await,
        }
    }
}

async fn update_gauges(shared: &Shared) {
    if let Ok(usage) = shared.usage().await {
        metrics::gauge!("dipper_outbox_depth").set(usage.messages as f64);
        metrics::gauge!("dipper_outbox_bytes").set(usage.bytes as f64);
        let oldest = usage.oldest_seconds(now_ms()).unwrap_or(0);
        metrics::gauge!("dipper_outbox_oldest_seconds").set(oldest as f64);
        metrics::gauge!("dipper_upload_grants_pending").set(usage.grants as f64);
        let connected = shared.flight.lock().connected;
        metrics::gauge!("dipper_uplink_connected").set(if connected { 1.0 } else { 0.0 });
    }
}

async fn send_telemetry(shared: &Shared) -> Result<(), DbError> {
    let sample = sample(shared).await?;
    let enqueued = shared
        .enqueue(Kind::Telemetry, "telemetry".to_owned(), move |seq| {
            protocol::encode(&Telemetry {
                seq: Some(seq),
                ..sample
            })
        })
        .await?;
    if enqueued == super::Enqueued::Dropped {
        tracing::warn!("uplink: the outbox is full; a telemetry sample was dropped");
    }
    Ok(())
}

/// One sample, without its sequence.
async fn sample(shared: &Shared) -> Result<Telemetry, DbError> {
    let engine = &shared.engine;
    let cameras = shared.db.cameras().await?;
    let coverage = engine.coverage(None).await.unwrap_or_default();
    let now = now_ms();
    let enabled: Vec<_> = cameras.iter().filter(|c| c.enabled).collect();
    // Online: enabled, and none of its tracks has a standing problem.
    let online = enabled
        .iter()
        .filter(|c| {
            !coverage
                .iter()
                .any(|t| t.camera_id == c.id && t.problem.is_some())
        })
        .count();
    let lag = coverage
        .iter()
        .map(|t| t.lag_seconds(now))
        .fold(None, |worst: Option<f64>, lag| {
            Some(worst.map_or(lag, |w| w.max(lag)))
        });
    let usage = shared.usage().await?;
    Ok(Telemetry {
        v: protocol::PROTOCOL_VERSION,
        seq: None,
        ts_ms: now,
        uptime_s: shared.started.elapsed().as_secs(),
        cameras_online: online as u32,
        cameras_total: enabled.len() as u32,
        indexing_lag_s: lag.map(|l| l.max(0.0) as u64),
        disk_free_bytes: engine.disk().status().free_bytes,
        outbox_depth: usage.messages,
        outbox_oldest_s: usage.oldest_seconds(now),
        download_queue: download_queue(shared),
        software_version: crate::update::running_version().to_owned(),
        model_id: models::DLIB_RESNET_V1.id.to_owned(),
    })
}

/// Downloads queued at every priority, as the downloader reports them in `/metrics`.
fn download_queue(shared: &Shared) -> u64 {
    let Some(metrics) = &shared.metrics else {
        return 0;
    };
    let name = pipeline::downloader::metrics::QUEUE_DEPTH;
    metrics
        .render()
        .lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Writes the client attributes (on connect, and when they change), with `extra` fields
/// (the outcome of shared attributes; readers of `ClientAttributes` ignore what they do
/// not know).
pub(super) async fn send_attributes(shared: &Shared, extra: Value) -> Result<(), DbError> {
    let software_update = crate::update::read_state(&shared.config.read().data_dir);
    shared
        .enqueue(Kind::Attributes, "attributes".to_owned(), move |seq| {
            let attributes = ClientAttributes {
                v: protocol::PROTOCOL_VERSION,
                seq: Some(seq),
                software_version: crate::update::running_version().to_owned(),
                model_id: models::DLIB_RESNET_V1.id.to_owned(),
                protocol_version: protocol::PROTOCOL_VERSION,
                software_update,
            };
            let mut value = serde_json::to_value(&attributes).unwrap_or(Value::Null);
            if let (Some(fields), Value::Object(extra)) = (value.as_object_mut(), extra) {
                fields.extend(extra);
            }
            protocol::encode(&value)
        })
        .await
        .map(|_| ())
}

/// `getDiagnostics`: versions, configuration without secrets, cameras, disk, the uplink and
/// the tenant's standing, last errors.
pub(super) async fn diagnostics(shared: &Shared) -> Value {
    let config = shared.config.read().clone();
    let cameras = match shared.db.cameras().await {
        Ok(cameras) => json!(cameras),
        Err(e) => json!({ "error": e.to_string() }),
    };
    let coverage = shared.engine.coverage(None).await.unwrap_or_default();
    let problems: Vec<Value> = coverage
        .iter()
        .filter_map(|t| {
            let problem = t.problem.as_ref()?;
            Some(json!({ "camera_id": t.camera_id, "track": t.track, "problem": problem }))
        })
        .collect();
    let link = shared.link.lock().clone();
    let tenant = *shared.standing.read();
    let outbox = shared.usage().await.ok();
    json!({
        "software_version": crate::update::running_version(),
        "protocol_version": protocol::PROTOCOL_VERSION,
        "model_id": models::DLIB_RESNET_V1.id,
        "uptime_s": shared.started.elapsed().as_secs(),
        // `[uplink.manual]` (its password) is never serialised.
        "config": config,
        "cameras": cameras,
        "disk": shared.engine.disk().status(),
        "tasks_running": shared.engine.running_tasks(),
        "index_entries": shared.engine.index_entries(),
        "uplink": link,
        // `standing: suspended` (`cloud_searches: refused`) while the tenant is suspended.
        "tenant": tenant,
        "outbox": outbox,
        "last_errors": problems,
    })
}

/// Reports the software update's state (`updates/state.json`) whenever it changes: the
/// daemon's own steps and the installer's, which may be decided while this daemon is being
/// replaced (the one that follows reports them).
pub(super) async fn update_watch(shared: Arc<Shared>) {
    let data_dir = shared.config.read().data_dir.clone();
    let mut last = crate::update::read_state(&data_dir);
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        ticks.tick().await;
        let now = crate::update::read_state(&data_dir);
        if now == last {
            continue;
        }
        match send_attributes(&shared, json!({})).await {
            Ok(()) => last = now,
            Err(e) => tracing::warn!(error = %e, "uplink: cannot write the client attributes"),
        }
    }
}
