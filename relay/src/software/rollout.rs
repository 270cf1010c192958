//! Rollouts: one package to a tenant's boxes, in waves. The first wave's `softwareUpdate`
//! RPCs are queued when the rollout is made; each box then reports its update's state in its
//! client attributes ([`record`]); when every box of the wave is `healthy` the next wave is
//! queued, when one of them is `rolled_back` or `failed` the rollout halts, and after the
//! last wave it is `done` ([`advance`]). Every move is conditional on the state it leaves, so
//! two relay instances never both send a wave.
//!
//! The RPCs are persistent (a box away gets its update when it connects, for up to
//! [`RPC_WAITS_MS`]), and each wave's package URL is presigned when the wave is queued, for
//! as long as its RPCs may wait.

use std::time::Duration;

use uuid::Uuid;

use crate::db::{Db, DbError, Mode, Scope, Tx, now_ms};
use crate::objects::{ObjectError, ObjectKey, ObjectStore};
use crate::store::rpcs::{self, StoredRpc};
use crate::store::software::{self as store, StoredPackage, StoredRollout};
use protocol::software::{SignedPackage, SoftwareUpdate, UpdateReport};

/// How long an update waits for a box that is away: seven days, the longest an S3 URL may
/// be presigned for.
pub const RPC_WAITS_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long a box has to accept an update once it has it.
const RPC_TIMEOUT_MS: i64 = 60_000;
/// Who sends the waves after the first, as the RPCs name it.
const SYSTEM: &str = "system:software";

#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Objects(#[from] ObjectError),
}

impl From<sqlx::Error> for RolloutError {
    fn from(error: sqlx::Error) -> Self {
        RolloutError::Db(error.into())
    }
}

/// The RPCs queued for a wave, each with whether its box is online (to send at once).
pub type Queued = Vec<(StoredRpc, bool)>;

/// Queues wave `wave` of `rollout`: a `softwareUpdate` for each of its waiting boxes, with a
/// freshly presigned URL of the package, and marks them `sent`.
pub async fn queue_wave(
    tx: &mut Tx,
    objects: &ObjectStore,
    (rollout, package): (&StoredRollout, &StoredPackage),
    wave: i64,
    (actor, now): (&str, i64),
) -> Result<Queued, RolloutError> {
    let key = ObjectKey::software_package(package.id);
    let ttl = Duration::from_millis(RPC_WAITS_MS.unsigned_abs());
    let url = objects.presign_get(&key, ttl).await?.url;
    let params = SoftwareUpdate {
        rollout_id: rollout.id,
        package: SignedPackage {
            name: package.name.clone(),
            version: package.version.clone(),
            sha256: package.sha256.clone(),
            size: package.size.unsigned_abs(),
            signature: package.signature.clone(),
        },
        url,
        force: rollout.force,
        health_timeout_s: u32::try_from(rollout.health_timeout_s).unwrap_or(u32::MAX),
    };
    let params = serde_json::to_string(&params).unwrap_or_default();
    let shared = Uuid::new_v4();
    let ids = (rollout.tenant, rollout.id);
    let online = store::online_boxes(tx, ids).await?;
    let mut queued = Vec::new();
    for b in store::boxes(tx, ids).await? {
        if b.wave != wave || b.state != "waiting" {
            continue;
        }
        let rpc = StoredRpc::queued(
            (rollout.tenant, b.device),
            ("softwareUpdate", params.clone()),
            true,
            (RPC_TIMEOUT_MS, now.saturating_add(RPC_WAITS_MS)),
            actor,
            now,
        )
        .sharing_params(shared);
        rpcs::insert(tx, &rpc).await?;
        store::mark_sent(tx, ids, b.device, rpc.id, now).await?;
        let is_online = online.contains(&b.device);
        queued.push((rpc, is_online));
    }
    Ok(queued)
}

/// Applies a box's report of its update: its state in the rollout moves forward. The
/// rollout's id when the box reached a final state (the rollout may move on).
pub async fn record(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    report: &UpdateReport,
    now: i64,
) -> Result<Option<Uuid>, DbError> {
    let state = report.state.as_str();
    let reason = report.reason.as_deref();
    let ids = (tenant, report.rollout_id);
    let moved = store::move_box(tx, ids, device, (state, reason), now).await?;
    Ok((moved && report.state.is_final()).then_some(report.rollout_id))
}

/// A box answered its `softwareUpdate` with an error (it refused the update: a downgrade, no
/// trusted key, ...): its state in the rollout is `failed` with the box's words. The
/// rollout's id when that changed something.
pub async fn refused(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    request_id: i64,
    why: &str,
    now: i64,
) -> Result<Option<Uuid>, DbError> {
    let Some(rollout) = store::rollout_of_rpc(tx, (tenant, device), request_id).await? else {
        return Ok(None);
    };
    let moved = store::move_box(tx, (tenant, rollout), device, ("failed", Some(why)), now).await?;
    Ok(moved.then_some(rollout))
}

/// After a box of `rollout` reached a final state: halts the rollout when a box of the
/// current wave failed or rolled back, queues the next wave when every box of the current
/// one is healthy, ends it `done` after the last. The RPCs to send.
pub async fn advance(
    db: &Db,
    objects: &ObjectStore,
    (tenant, rollout): (Uuid, Uuid),
) -> Result<Queued, RolloutError> {
    let mut tx = db.begin(Scope::Tenant(tenant), Mode::Write).await?;
    let now = now_ms();
    let Some(stored) = store::rollout(&mut tx, tenant, rollout).await? else {
        return Ok(Vec::new());
    };
    if stored.state != "running" {
        return Ok(Vec::new());
    }
    let boxes = store::boxes(&mut tx, (tenant, rollout)).await?;
    let current: Vec<_> = boxes.iter().filter(|b| b.wave == stored.wave).collect();
    let mut queued = Vec::new();
    if current
        .iter()
        .any(|b| b.state == "failed" || b.state == "rolled_back")
    {
        if store::end(&mut tx, (tenant, rollout), "halted", now).await? {
            tracing::warn!(%tenant, %rollout, wave = stored.wave, "software rollout halted");
        }
    } else if current.iter().all(|b| b.state == "healthy") {
        let next = stored.wave + 1;
        if !boxes.iter().any(|b| b.wave == next) {
            if store::end(&mut tx, (tenant, rollout), "done", now).await? {
                tracing::info!(%tenant, %rollout, "software rollout done");
            }
        } else if store::advance(&mut tx, (tenant, rollout), stored.wave, next).await? {
            let package = store::package(&mut tx, stored.package).await?;
            let package = package.ok_or_else(|| DbError::Other(sqlx::Error::RowNotFound))?;
            let pair = (&stored, &package);
            queued = queue_wave(&mut tx, objects, pair, next, (SYSTEM, now)).await?;
            tracing::info!(%tenant, %rollout, wave = next, boxes = queued.len(), "software rollout wave sent");
        }
    }
    tx.commit().await?;
    Ok(queued)
}
