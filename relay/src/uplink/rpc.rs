//! Sending server-side RPCs: a stored `queued` RPC is moved to `sent` (only by the one
//! caller that wins the conditional update) and published on
//! `dipper/{tenant}/{device}/rpc/request/{request_id}` with `expires_at_ms`, the earlier of
//! its expiry and its answer deadline, and the same as the MQTT v5 message expiry interval:
//! the broker drops it once expired and hands the box the time left, so a box whose clock
//! is wrong neither refuses a live request nor runs a dead one. Queued RPCs go
//! out when their box says it is online, oldest first; the sweeper expires those that waited
//! too long and times out those left unanswered (and, in the same transaction, expires the
//! searches' parts that went with them), and every ten minutes forgets the places of
//! telemetry and attributes older than two days. The resender sends the RPCs still queued
//! for boxes online `STRANDED_AFTER_MS` after they were stored: their send after the
//! commit was cut (the relay killed, its database gone for a moment), and their box, already
//! online, would not come online again to get them. A search's createSearch RPC moves its
//! part to `sent` in the transaction that marks it sent.

use std::sync::Arc;
use std::time::Duration;

use protocol::rpc::RpcRequest;
use protocol::topics::{Topic, Topics};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::json;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use super::{Inner, Uplink};
use crate::db::{DbError, Mode, Scope, now_ms};
use crate::store::rpcs::{self, StoredRpc};
use crate::store::searches;
use crate::store::uplink as store;

/// How often the sweeper looks for expired and unanswered RPCs.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// How long an RPC queued for a box online waits before the resender sends it (the API's
/// own send follows its commit by milliseconds; sending twice is harmless, as only one
/// sender wins `queued` -> `sent`).
const STRANDED_AFTER_MS: i64 = 5_000;
/// How often the resender looks, and how many RPCs it sends at most each time.
const RESEND_EVERY: Duration = Duration::from_secs(2);
const RESEND_AT_MOST: i64 = 500;

/// How long the places of telemetry and client attributes are kept
/// ([`store::forget_old_reports`]), and how often older ones are forgotten.
const REPORTS_KEPT_MS: i64 = 2 * 24 * 3_600_000;
const FORGET_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The client's connection task has ended (the relay is stopping).
    #[error("the relay's connection to the broker is closed")]
    Closed,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for SendError {
    fn from(error: sqlx::Error) -> Self {
        SendError::Db(error.into())
    }
}

/// A registered wait for one RPC's answer; dropping it forgets the wait.
#[derive(Debug)]
pub struct RpcWait {
    inner: Arc<Inner>,
    key: (Uuid, i64),
    answered: oneshot::Receiver<()>,
}

impl RpcWait {
    /// Whether an answer arrived at this instance within `within`.
    pub async fn answered(&mut self, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, &mut self.answered).await,
            Ok(Ok(()))
        )
    }
}

impl Drop for RpcWait {
    fn drop(&mut self) {
        self.inner.lock_waiters().remove(&self.key);
    }
}

impl Uplink {
    /// Registers a wait for the answer to `request_id` of `device`: register before
    /// sending, so a quick answer is not missed.
    pub fn wait_for(&self, device: Uuid, request_id: i64) -> RpcWait {
        let (tx, answered) = oneshot::channel();
        let key = (device, request_id);
        self.inner.lock_waiters().insert(key, tx);
        RpcWait {
            inner: Arc::clone(&self.inner),
            key,
            answered,
        }
    }

    /// Sends a stored RPC if it is still queued; true if this call sent it.
    pub async fn send(&self, rpc: &StoredRpc) -> Result<bool, SendError> {
        Ok(send_all(&self.inner, &[rpc]).await? == 1)
    }

    /// Sends the stored RPCs of one tenant that are still queued, in order, marking them
    /// sent in one transaction; how many this call sent.
    pub async fn send_all(&self, rpcs: &[&StoredRpc]) -> Result<usize, SendError> {
        send_all(&self.inner, rpcs).await
    }

    /// Sends those of the RPCs just stored whose box was online (each paired with whether
    /// it was); the others, and any the broker connection did not take, stay queued until
    /// their box connects. `what` names them in the log.
    pub async fn send_to_online(&self, rpcs: &[(StoredRpc, bool)], what: &str) {
        let online: Vec<&StoredRpc> = rpcs
            .iter()
            .filter(|(_, online)| *online)
            .map(|(rpc, _)| rpc)
            .collect();
        if let Err(error) = send_all(&self.inner, &online).await {
            tracing::warn!(%error, what, "RPCs not sent stay queued until their boxes connect");
        }
    }
}

/// The MQTT v5 message expiry of a request due at `expires_at_ms`, in whole seconds
/// rounded up (at least 1: 0 would not expire it at all).
fn expiry_seconds(expires_at_ms: i64, now_ms: i64) -> u32 {
    let left_ms = expires_at_ms.saturating_sub(now_ms).max(1);
    u32::try_from(left_ms.saturating_add(999) / 1000).unwrap_or(u32::MAX)
}

/// The request as it travels, with the protocol's own encoding.
fn wire_payload(rpc: &StoredRpc, expires_at_ms: i64) -> Option<Vec<u8>> {
    let params: serde_json::Value = serde_json::from_str(&rpc.params).ok()?;
    let raw = json!({ "method": rpc.method, "params": params }).to_string();
    let mut request = RpcRequest::decode(raw.as_bytes()).ok()?.ok()?;
    request.expires_at_ms = Some(expires_at_ms);
    Some(request.encode())
}

/// One RPC this instance marked sent, ready to publish.
struct Ready<'a> {
    rpc: &'a StoredRpc,
    payload: Vec<u8>,
    /// The earlier of its expiry and its answer deadline, Unix ms.
    due_ms: i64,
}

/// Sends the stored RPCs (all of one tenant) that are still queued, in order: one
/// transaction marks them all sent (expiring those past their time, failing those that no
/// longer read as requests), then each is published. How many this call sent; when the
/// broker connection closes part way, the RPCs not published go back to `queued`.
pub(super) async fn send_all(inner: &Inner, batch: &[&StoredRpc]) -> Result<usize, SendError> {
    let Some(first) = batch.first() else {
        return Ok(0);
    };
    let tenant = first.tenant;
    debug_assert!(batch.iter().all(|rpc| rpc.tenant == tenant));
    let now = now_ms();
    let mut ready = Vec::with_capacity(batch.len());
    let mut changed = Vec::new();
    let mut tx = inner.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
    for &rpc in batch {
        if rpc.expires_at <= now {
            rpcs::end(&mut tx, tenant, rpc.id, "expired", now).await?;
            continue;
        }
        let answer_by = now.saturating_add(rpc.timeout_ms);
        let due_ms = rpc.expires_at.min(answer_by);
        let Some(payload) = wire_payload(rpc, due_ms) else {
            tracing::error!(rpc = %rpc.id, "a stored RPC no longer reads as a request; failed");
            rpcs::end(&mut tx, tenant, rpc.id, "failed", now).await?;
            continue;
        };
        // Another caller sent it first.
        if !rpcs::mark_sent(&mut tx, tenant, rpc.id, (now, answer_by)).await? {
            continue;
        }
        changed.extend(searches::mark_sent(&mut tx, tenant, rpc.id, now).await?);
        ready.push(Ready {
            rpc,
            payload,
            due_ms,
        });
    }
    tx.commit().await?;
    changed.dedup();
    for search in changed {
        let _ = inner.search_changes.send(search);
    }
    let published = publish_all(inner, &ready, now).await;
    if published < ready.len() {
        let mut tx = inner.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
        for unsent in &ready[published..] {
            rpcs::unsend(&mut tx, tenant, unsent.rpc.id).await?;
            searches::mark_unsent(&mut tx, tenant, unsent.rpc.id, now_ms()).await?;
        }
        tx.commit().await?;
        return Err(SendError::Closed);
    }
    Ok(published)
}

/// Publishes the RPCs in order, each paired with its broker acknowledgement by the
/// tracker; how many the client took before its connection closed.
async fn publish_all(inner: &Inner, ready: &[Ready<'_>], now: i64) -> usize {
    let _order = inner.publishing.lock().await;
    for (
        n,
        Ready {
            rpc,
            payload,
            due_ms,
        },
    ) in ready.iter().enumerate()
    {
        let topic = Topics::for_box(rpc.tenant, rpc.device).topic(&Topic::RpcRequest(
            u64::try_from(rpc.request_id).unwrap_or_default(),
        ));
        inner
            .lock_tracker()
            .handed((rpc.tenant, rpc.device, rpc.request_id));
        let properties = PublishProperties {
            message_expiry_interval: Some(expiry_seconds(*due_ms, now)),
            ..PublishProperties::default()
        };
        let published = inner
            .client
            .publish_with_properties(topic, QoS::AtLeastOnce, false, payload.clone(), properties)
            .await;
        if published.is_err() {
            inner.lock_tracker().withdrawn();
            return n;
        }
    }
    ready.len()
}

/// Sends what waits for a box that came online, oldest first.
pub(super) async fn flush(inner: &Inner, tenant: Uuid, device: Uuid) {
    let queued = async {
        let mut tx = inner.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
        let queued = rpcs::queued(&mut tx, (tenant, device)).await?;
        tx.commit().await?;
        Ok::<_, DbError>(queued)
    };
    let queued = match queued.await {
        Ok(queued) => queued,
        Err(error) => {
            tracing::warn!(%device, %error, "could not read the RPCs queued for a box");
            return;
        }
    };
    let queued: Vec<&StoredRpc> = queued.iter().collect();
    if let Err(error) = send_all(inner, &queued).await {
        tracing::warn!(%device, %error, "could not send the RPCs queued for a box");
    }
}

pub(super) fn spawn_sweeper(inner: Arc<Inner>, mut stopped: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut forgot: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                () = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            if let Err(error) = sweep(&inner).await {
                tracing::warn!(%error, "RPC sweep failed; trying again");
            }
            if forgot.is_none_or(|at| at.elapsed() >= FORGET_EVERY) {
                forgot = Some(std::time::Instant::now());
                if let Err(error) = forget_old_reports(&inner).await {
                    tracing::warn!(%error, "could not forget old report places; trying later");
                }
            }
        }
    });
}

/// The resender: its own task, as a send waits while the broker connection is down.
pub(super) fn spawn_resender(inner: Arc<Inner>, mut stopped: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                () = tokio::time::sleep(RESEND_EVERY) => {}
            }
            match send_stranded(&inner).await {
                Ok(0) => {}
                Ok(sent) => tracing::info!(sent, "RPCs whose send was cut were sent"),
                Err(error) => tracing::debug!(%error, "RPCs whose send was cut wait; trying again"),
            }
        }
    });
}

/// Sends the RPCs queued for boxes online for longer than [`STRANDED_AFTER_MS`], tenant by
/// tenant, each box's oldest first; how many this call sent.
async fn send_stranded(inner: &Inner) -> Result<usize, SendError> {
    let mut tx = inner.db.begin(Scope::Platform, Mode::Read).await?;
    let before = now_ms() - STRANDED_AFTER_MS;
    let stranded = rpcs::stranded(&mut tx, before, RESEND_AT_MOST).await?;
    tx.commit().await?;
    let mut sent = 0;
    for batch in stranded.chunk_by(|a, b| a.tenant == b.tenant) {
        let batch: Vec<&StoredRpc> = batch.iter().collect();
        sent += send_all(inner, &batch).await?;
    }
    Ok(sent)
}

async fn forget_old_reports(inner: &Inner) -> Result<(), DbError> {
    let mut tx = inner.db.begin(Scope::Platform, Mode::Write).await?;
    let forgotten = store::forget_old_reports(&mut tx, now_ms() - REPORTS_KEPT_MS).await?;
    tx.commit().await?;
    if forgotten > 0 {
        tracing::info!(
            forgotten,
            "forgot the places of old telemetry and attributes"
        );
    }
    Ok(())
}

async fn sweep(inner: &Inner) -> Result<(), DbError> {
    let now = now_ms();
    let mut tx = inner.db.begin(Scope::Platform, Mode::Write).await?;
    let (expired, timed_out) = rpcs::sweep(&mut tx, now).await?;
    // In the same transaction: a search's part ends with its RPC.
    let searches_changed = super::searches::sweep(&mut tx, now).await?;
    let online = store::count_online(&mut tx).await?;
    tx.commit().await?;
    if searches_changed {
        let _ = inner.search_changes.send(Uuid::nil());
    }
    super::metrics::boxes_online(online);
    if expired + timed_out > 0 {
        tracing::debug!(expired, timed_out, "RPCs ended by the sweeper");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::expiry_seconds;

    #[test]
    fn a_requests_expiry_is_whole_seconds_rounded_up_and_never_zero() {
        assert_eq!(expiry_seconds(10_000, 0), 10);
        assert_eq!(expiry_seconds(10_001, 0), 11);
        assert_eq!(expiry_seconds(500, 0), 1);
        assert_eq!(
            expiry_seconds(0, 5_000),
            1,
            "already due: the least there is"
        );
        assert_eq!(expiry_seconds(i64::MAX, 0), u32::MAX);
    }
}
