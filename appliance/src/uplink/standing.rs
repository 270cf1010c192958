//! The tenant's billing standing as the relay last decided it (`setStanding`): kept in
//! `tenant_standing` and in memory, shown in the uplink's status and in `getDiagnostics`.
//!
//! Contract: the latest decision wins. A `setStanding` whose `decided_at_ms` is older than
//! the stored one changes nothing and is answered `{"standing": <the one in force>,
//! "applied": false}`, so a late delivery never undoes a newer decision; one as new or newer
//! is stored in the transaction that writes its answer (`"applied": true`) to the outbox.
//! Until the relay first says, the tenant counts as in good standing. While it is
//! `suspended`, the relay's new searches are refused with `tenant_suspended`
//! ([`super::searches`]); the box's local work (the local API's tasks, background indexing,
//! downloads, telemetry, searches already running) goes on.

use std::sync::Arc;

use protocol::rpc::{RpcError, SetStanding, Standing};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::json;

use super::{Kind, Shared, now_ms, outbox, rpc};
use crate::db::{DbError, DbErrorKind, SqlResultExt};

/// The standing in force, as the status and diagnostics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct TenantStanding {
    /// `good` or `suspended`.
    pub(crate) standing: Standing,
    /// `served` or `refused`: what the box does with the relay's new searches.
    pub(crate) cloud_searches: &'static str,
    /// When the relay decided it (Unix ms); null until the relay first says.
    pub(crate) decided_at_ms: Option<i64>,
    /// When the box stored it (Unix ms).
    pub(crate) received_at_ms: Option<i64>,
}

impl TenantStanding {
    /// Before the relay ever said: in good standing.
    pub(crate) const UNDECIDED: TenantStanding = TenantStanding {
        standing: Standing::Good,
        cloud_searches: "served",
        decided_at_ms: None,
        received_at_ms: None,
    };

    fn decided(standing: Standing, decided_at_ms: i64, received_at_ms: i64) -> TenantStanding {
        TenantStanding {
            standing,
            cloud_searches: match standing {
                Standing::Good => "served",
                Standing::Suspended => "refused",
            },
            decided_at_ms: Some(decided_at_ms),
            received_at_ms: Some(received_at_ms),
        }
    }

    pub(crate) fn suspended(&self) -> bool {
        self.standing == Standing::Suspended
    }

    /// Whether `self` is a decision at least as new as `other` (the one to keep).
    pub(super) fn supersedes(&self, other: &TenantStanding) -> bool {
        self.decided_at_ms >= other.decided_at_ms
    }
}

/// What a `setStanding` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decided {
    /// The standing stored after it.
    pub(super) in_force: TenantStanding,
    /// False when the stored decision was newer and was kept.
    pub(super) applied: bool,
}

fn as_text(standing: Standing) -> &'static str {
    match standing {
        Standing::Good => "good",
        Standing::Suspended => "suspended",
    }
}

/// The standing stored; [`TenantStanding::UNDECIDED`] when the relay never said.
pub(super) fn stored(conn: &Connection) -> Result<TenantStanding, DbError> {
    let context = "read the tenant's standing";
    let row: Option<(String, i64, i64)> = conn
        .query_row(
            "SELECT standing, decided_at_ms, received_at_ms FROM tenant_standing WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .purpose(context)?;
    let Some((text, decided_at_ms, received_at_ms)) = row else {
        return Ok(TenantStanding::UNDECIDED);
    };
    let standing = match text.as_str() {
        "good" => Standing::Good,
        "suspended" => Standing::Suspended,
        other => {
            return Err(DbError::new(
                DbErrorKind::Corrupt,
                format!("{context}: {other:?} is not a standing"),
            ));
        }
    };
    Ok(TenantStanding::decided(
        standing,
        decided_at_ms,
        received_at_ms,
    ))
}

/// Forgets the stored standing, in the caller's transaction: a de-provisioned box belongs to
/// no tenant, and the next one it is activated for starts in good standing.
pub(super) fn forget(tx: &Transaction<'_>) -> Result<(), DbError> {
    tx.execute("DELETE FROM tenant_standing", [])
        .purpose("forget the tenant's standing")?;
    Ok(())
}

/// Stores `decision` unless the stored one is newer, and writes the answer to request `id`
/// to the outbox, in the caller's transaction.
pub(super) fn decide_and_answer(
    tx: &Transaction<'_>,
    id: u64,
    decision: &SetStanding,
    quota: u64,
    now: i64,
) -> Result<Decided, DbError> {
    let changed = tx
        .execute(
            "INSERT INTO tenant_standing (id, standing, decided_at_ms, received_at_ms)
             VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET standing = excluded.standing,
                 decided_at_ms = excluded.decided_at_ms, received_at_ms = excluded.received_at_ms
             WHERE excluded.decided_at_ms >= tenant_standing.decided_at_ms",
            params![as_text(decision.standing), decision.decided_at_ms, now],
        )
        .purpose("store the tenant's standing")?;
    let decided = Decided {
        in_force: stored(tx)?,
        applied: changed > 0,
    };
    let answer = json!({ "standing": decided.in_force.standing, "applied": decided.applied });
    let topic = format!("rpc/response/{id}");
    let payload = rpc::response_payload(Ok(answer));
    outbox::enqueue(tx, Kind::RpcResponse, &topic, quota, now, payload)?;
    Ok(decided)
}

/// `setStanding`: stores the decision (unless a newer one is stored) with its answer, then
/// keeps it in memory for `createSearch`.
pub(super) async fn set(shared: &Arc<Shared>, id: u64, decision: SetStanding) {
    let quota = shared.config().quota_bytes();
    let asked = decision.clone();
    let written = shared
        .db
        .write(move |tx| decide_and_answer(tx, id, &asked, quota, now_ms()))
        .await;
    let decided = match written {
        Ok(decided) => decided,
        Err(e) => {
            tracing::error!(error = %e, "uplink: cannot store the tenant's standing");
            let error = RpcError::new("internal", format!("not stored: {e}"));
            rpc::respond(shared, id, Err(error)).await;
            return;
        }
    };
    shared.wake.notify_one();
    if !decided.applied {
        tracing::info!(
            asked = as_text(decision.standing),
            asked_decided_at_ms = decision.decided_at_ms,
            in_force = as_text(decided.in_force.standing),
            in_force_decided_at_ms = decided.in_force.decided_at_ms,
            "uplink: an older standing decision arrived late; the newer one is kept"
        );
        return;
    }
    let before = shared.keep_standing(decided.in_force);
    if before.standing == decided.in_force.standing {
        return;
    }
    match decided.in_force.standing {
        Standing::Suspended => tracing::warn!(
            decided_at_ms = decision.decided_at_ms,
            "uplink: the tenant is suspended for an unpaid invoice; the relay's new searches \
             are refused, local work goes on"
        ),
        Standing::Good => tracing::info!(
            decided_at_ms = decision.decided_at_ms,
            "uplink: the tenant is in good standing again; the relay's searches are served"
        ),
    }
}
