//! Upload grants: where a box puts a match's snapshots. For each result whose snapshots are
//! not yet uploaded, the relay sends the box (when online) two presigned PUT URLs on
//! `{prefix}/uploads` ([`protocol::uploads`]), one per object key
//! (`{tenant}/snapshots/{device}/{date}/{search}/{match}-face.jpg`, `-frame.jpg`), valid for
//! `objects.put_url_seconds`.
//!
//! Contract: a result is granted when it is stored (this instance is woken at once), again
//! when the box asks (`SnapshotsWanted`: its grant expired or the store refused it), and again
//! when a grant went unanswered for as long as its URLs lived (a grant lost with a relay that
//! stopped between its commit and its publish, or a box that lost it); at most
//! [`MAX_GRANTS`] times, after which the result keeps no snapshots (a box whose files are
//! gone never uploads). The box never holds store credentials: a URL writes one key, with
//! `image/jpeg`, until it expires.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::topics::{Topic, Topics};
use protocol::uploads::{MAX_GRANTS as GRANTS_PER_MESSAGE, UploadGrant, UploadGrants};
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::watch;
use uuid::Uuid;

use super::Inner;
use crate::db::{DbError, Mode, Scope, now_ms};
use crate::objects::{ContentType, ObjectError, ObjectKey};
use crate::store::searches::{self as store, PendingSnapshots};

/// How often pending results are looked at when nothing woke the granter.
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// Results granted per look.
const PER_LOOK: i64 = 512;
/// Grants a result is sent at most.
pub(crate) const MAX_GRANTS: i64 = 5;

/// Runs the granter until `stopped`.
pub(super) fn spawn(inner: Arc<Inner>, mut stopped: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = inner.grants_wanted.notified() => {}
                () = tokio::time::sleep(LOOK_EVERY) => {}
                _ = stopped.changed() => return,
            }
            // A full look means more may wait: look again at once.
            loop {
                match grant_pending(&inner).await {
                    Ok(granted) if granted >= PER_LOOK as usize => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "uplink: cannot send upload grants");
                        break;
                    }
                }
            }
        }
    });
}

#[derive(Debug, thiserror::Error)]
enum GrantError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("presigning: {0}")]
    Objects(#[from] ObjectError),
}

impl From<sqlx::Error> for GrantError {
    fn from(error: sqlx::Error) -> Self {
        GrantError::Db(error.into())
    }
}

/// Grants what waits, box by box; how many results were granted.
async fn grant_pending(inner: &Inner) -> Result<usize, GrantError> {
    let now = now_ms();
    let lifetime = i64::try_from(inner.objects_put_ttl.as_millis()).unwrap_or(i64::MAX);
    let mut tx = inner.db.begin(Scope::Platform, Mode::Read).await?;
    let pending = store::pending_snapshots(&mut tx, now - lifetime, MAX_GRANTS, PER_LOOK).await?;
    tx.commit().await?;
    let count = pending.len();
    let mut by_box: BTreeMap<(Uuid, Uuid), Vec<PendingSnapshots>> = BTreeMap::new();
    for result in pending {
        by_box
            .entry((result.tenant, result.device))
            .or_default()
            .push(result);
    }
    for ((tenant, device), results) in by_box {
        for chunk in results.chunks(GRANTS_PER_MESSAGE) {
            let mut grants = Vec::with_capacity(chunk.len());
            for result in chunk {
                grants.push(grant(inner, result).await?);
            }
            let topic = Topics::for_box(tenant, device).topic(&Topic::Uploads);
            let payload = UploadGrants::new(grants).encode();
            let sent = {
                // In the tracker's order, as every QoS 1 publish (`session::Tracker`).
                let _order = inner.publishing.lock().await;
                inner.lock_tracker().handed_other();
                let sent = inner
                    .client
                    .publish(topic, QoS::AtLeastOnce, false, payload)
                    .await;
                if sent.is_err() {
                    inner.lock_tracker().withdrawn();
                }
                sent
            };
            if let Err(error) = sent {
                tracing::warn!(%device, %error, "uplink: cannot publish upload grants");
                continue;
            }
            let mut tx = inner.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            for result in chunk {
                store::granted(&mut tx, result, now).await?;
            }
            tx.commit().await?;
            super::metrics::granted(chunk.len() as u64);
        }
    }
    Ok(count)
}

/// The two presigned PUTs of one result.
async fn grant(inner: &Inner, result: &PendingSnapshots) -> Result<UploadGrant, ObjectError> {
    let ttl = inner.objects_put_ttl;
    let r = result;
    let (face, frame) = ObjectKey::snapshots(r.tenant, r.device, r.time_ms, r.search, r.match_id)?;
    let face = inner
        .objects
        .presign_put(&face, ttl, ContentType::Jpeg)
        .await?;
    let frame = inner
        .objects
        .presign_put(&frame, ttl, ContentType::Jpeg)
        .await?;
    Ok(UploadGrant {
        search_id: result.search,
        match_id: result.match_id,
        face_url: face.url,
        frame_url: frame.url,
        expires_at_ms: face.expires_at_ms.min(frame.expires_at_ms),
    })
}
