//! Moving a tenant's standing, with everything a move records: the audit record (actor
//! `system:dunning` for the check, the principal for a payment) with its reason, the event
//! (`tenant.overdue`, `tenant.suspended`, `tenant.restored`), the notices, and, when it
//! crosses `suspended`, a `setStanding` RPC queued for each of the tenant's active boxes.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit;
use crate::db::{DbError, Tx};
use crate::notify;
use crate::store::invoices::StoredInvoice;
use crate::store::rpcs::{self, StoredRpc};
use crate::store::standing::{self as store, StoredStanding};
use crate::store::{events, meters, tenants, uplink};
use protocol::rpc::{SetStanding, Standing};

/// How long a `setStanding` RPC waits for its box: the longest an RPC may (30 days); a box
/// away longer is reminded when it connects ([`remind_box`]).
const STANDING_RPC_WAITS_MS: i64 = 2_592_000_000;
/// How long a box has to answer it once sent.
const STANDING_RPC_TIMEOUT_MS: i64 = 60_000;

/// A tenant's standing, ranked: a check only moves a tenant up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Good,
    Overdue,
    Suspended,
}

impl Level {
    pub fn parse(text: &str) -> Level {
        match text {
            "overdue" => Level::Overdue,
            "suspended" => Level::Suspended,
            _ => Level::Good,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Good => "good",
            Level::Overdue => "overdue",
            Level::Suspended => "suspended",
        }
    }

    fn event(self) -> &'static str {
        match self {
            Level::Good => notify::TENANT_RESTORED,
            Level::Overdue => notify::TENANT_OVERDUE,
            Level::Suspended => notify::TENANT_SUSPENDED,
        }
    }
}

/// Who moved it, as the audit log names them.
#[derive(Debug, Clone, Copy)]
pub struct Mover<'a> {
    pub actor: &'a str,
    pub remote_addr: &'a str,
}

/// The dunning check.
pub const SYSTEM: Mover<'static> = Mover {
    actor: "system:dunning",
    remote_addr: "local",
};

/// A move made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Moved {
    pub tenant_id: Uuid,
    pub from: Level,
    pub to: Level,
    pub reason: String,
    /// The `setStanding` RPCs queued for the tenant's boxes, to send to those online.
    #[serde(skip)]
    pub rpcs: Vec<(StoredRpc, bool)>,
}

/// The facts of a move's notices: the overdue invoices, what they owe, and when the tenant
/// will be suspended.
pub fn facts(tenant_name: &str, overdue: &[StoredInvoice], suspend_at: Option<i64>) -> Value {
    let owed: i64 = overdue.iter().map(StoredInvoice::balance_minor).sum();
    json!({
        "tenant_name": tenant_name,
        "invoices": overdue.iter().map(|i| i.number.as_str()).collect::<Vec<_>>(),
        "owed_minor": owed,
        "currency": overdue.first().map(|i| i.currency.as_str()),
        "time_zone": overdue.first().map(|i| i.time_zone.as_str()),
        "suspend_at": suspend_at,
    })
}

/// Moves `tenant` from `from` to `to` for `reason` at `now`, in `tx`, recording it all.
pub async fn move_to(
    tx: &mut Tx,
    tenant: Uuid,
    (from, to): (Level, Level),
    (reason, facts): (&str, &Value),
    mover: Mover<'_>,
    now: i64,
) -> Result<Moved, DbError> {
    let stored = StoredStanding {
        standing: to.as_str().to_owned(),
        since: now,
        reason: reason.to_owned(),
    };
    store::set(tx, tenant, &stored).await?;
    let body = json!({ "tenant_id": tenant, "from": from.as_str(), "to": to.as_str(),
        "reason": reason });
    events::record(tx, Some(tenant), to.event(), &body.to_string(), now).await?;
    let target = format!("tenant:{tenant}");
    let entry = audit::Entry {
        tenant: Some(tenant),
        actor: mover.actor,
        remote_addr: mover.remote_addr,
        action: to.event(),
        target: &target,
        outcome: "success",
        detail: Some(reason),
    };
    audit::write(tx, entry).await?;
    notify::notify(tx, tenant, (to.event(), &now.to_string()), facts, now).await?;
    let crosses = (from == Level::Suspended) != (to == Level::Suspended);
    let rpcs = if crosses {
        let standing = if to == Level::Suspended {
            Standing::Suspended
        } else {
            Standing::Good
        };
        tell_boxes(tx, tenant, standing, (mover.actor, now)).await?
    } else {
        Vec::new()
    };
    tracing::info!(%tenant, from = from.as_str(), to = to.as_str(), reason, "tenant standing moved");
    Ok(Moved {
        tenant_id: tenant,
        from,
        to,
        reason: reason.to_owned(),
        rpcs,
    })
}

/// `setStanding`'s params: the decision made at `decided_at_ms` (the standing's `since`, so
/// the same decision always has the same params).
fn standing_params(standing: Standing, decided_at_ms: i64) -> String {
    serde_json::to_string(&SetStanding {
        standing,
        decided_at_ms,
    })
    .unwrap_or_default()
}

/// A `setStanding` RPC with `params` for `device`, queued.
fn standing_rpc(
    (tenant, device): (Uuid, Uuid),
    params: String,
    actor: &str,
    now: i64,
) -> StoredRpc {
    let waits = (
        STANDING_RPC_TIMEOUT_MS,
        now.saturating_add(STANDING_RPC_WAITS_MS),
    );
    StoredRpc::queued(
        (tenant, device),
        ("setStanding", params),
        true,
        waits,
        actor,
        now,
    )
}

/// Queues `setStanding` for each active box of `tenant`.
async fn tell_boxes(
    tx: &mut Tx,
    tenant: Uuid,
    standing: Standing,
    (actor, now): (&str, i64),
) -> Result<Vec<(StoredRpc, bool)>, DbError> {
    let params = standing_params(standing, now);
    let shared = Uuid::new_v4();
    let mut queued = Vec::new();
    for (device, online) in uplink::active_devices_of(tx, tenant).await? {
        let rpc = standing_rpc((tenant, device), params.clone(), actor, now).sharing_params(shared);
        rpcs::insert(tx, &rpc).await?;
        queued.push((rpc, online));
    }
    Ok(queued)
}

/// A box of `tenant` came online: queues the tenant's standing for it, unless it has it
/// already (answered) or it is on its way. This mends a decision the box missed (its RPC
/// timed out as the box dropped, or expired while it was away). A tenant never out of good
/// standing queues nothing. Whether one was queued; the uplink then sends what is queued.
pub async fn remind_box(
    tx: &mut Tx,
    (tenant, device): (Uuid, Uuid),
    now: i64,
) -> Result<bool, DbError> {
    let current = store::get(tx, tenant).await?;
    if current.since == 0 {
        return Ok(false);
    }
    let standing = if Level::parse(&current.standing) == Level::Suspended {
        Standing::Suspended
    } else {
        Standing::Good
    };
    let params = standing_params(standing, current.since);
    if rpcs::has_live_or_answered(tx, (tenant, device), ("setStanding", &params)).await? {
        return Ok(false);
    }
    let rpc = standing_rpc((tenant, device), params, SYSTEM.actor, now);
    rpcs::insert(tx, &rpc).await?;
    Ok(true)
}

/// Sends the `setStanding` RPCs of `moved` to the boxes online (the others get theirs
/// when they connect).
pub async fn tell_online(uplink: Option<&crate::uplink::Uplink>, moved: &[Moved]) {
    let Some(uplink) = uplink else {
        return;
    };
    for moved in moved.iter().filter(|m| !m.rpcs.is_empty()) {
        uplink.send_to_online(&moved.rpcs, "setStanding").await;
    }
}

/// 402 when `tenant` is suspended: what starts a search or changes a device asks first.
pub async fn refuse_if_suspended(tx: &mut Tx, tenant: Uuid) -> Result<(), crate::error::ApiError> {
    if store::is_suspended(tx, tenant).await? {
        return Err(crate::error::ApiError::tenant_suspended());
    }
    Ok(())
}

/// After a payment, a credit note or a void of `tenant`'s invoice: restores the tenant when
/// nothing of it is overdue any more; the move, if one was made.
pub async fn after_settlement(
    tx: &mut Tx,
    tenant: Uuid,
    (reason, mover): (&str, Mover<'_>),
    now: i64,
) -> Result<Option<Moved>, DbError> {
    let from = Level::parse(&store::get(tx, tenant).await?.standing);
    if from == Level::Good
        || !crate::store::invoices::overdue(tx, tenant)
            .await?
            .is_empty()
    {
        return Ok(None);
    }
    let name = tenant_name(tx, tenant).await?;
    let facts = json!({ "tenant_name": name });
    let moved = move_to(
        tx,
        tenant,
        (from, Level::Good),
        (reason, &facts),
        mover,
        now,
    )
    .await?;
    Ok(Some(moved))
}

/// The tenant's name for notices (its id when it has none).
pub async fn tenant_name(tx: &mut Tx, tenant: Uuid) -> Result<String, DbError> {
    Ok(tenants::find(tx, tenant)
        .await?
        .map_or_else(|| tenant.to_string(), |t| t.name))
}

/// The tenant's settings' days as ms.
pub(super) async fn thresholds(tx: &mut Tx, tenant: Uuid) -> Result<(i64, i64), DbError> {
    const DAY_MS: i64 = 86_400_000;
    let settings = meters::settings(tx, tenant).await?;
    Ok((
        i64::from(settings.overdue_after_days) * DAY_MS,
        i64::from(settings.suspend_after_days) * DAY_MS,
    ))
}
