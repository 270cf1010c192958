//! `DELETE /api/v1/tenants/{t}/searches/{id}`: cancels a running search on every box whose
//! part has not ended. A box that has not been sent the search yet keeps it from ever being
//! sent (its queued createSearch RPC expires); every other box gets a persistent
//! `cancelSearch` RPC, at once when online, else when it connects. Every part that had not
//! ended is `cancelled` and the search too, in one transaction with the audit record.
//! Cancelling again, or a search that has ended, changes nothing and answers the search.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use uuid::Uuid;

use super::{Search, view, visible};
use crate::api::begin;
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{Mode, Tx, now_ms};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::store::rpcs::{self, StoredRpc};
use crate::store::searches::{self as store, ENDED, StoredPart};
use crate::store::uplink::presence;

/// How long a box has to answer cancelSearch once sent, ms.
const CANCEL_TIMEOUT_MS: i64 = 60_000;
/// The least time a cancelSearch waits for a box that is away, ms (it waits at least until
/// the box's part would have expired anyway).
const CANCEL_MIN_WAIT_MS: i64 = 3_600_000;

/// Cancels a search on every box (operators of every box in it); idempotent.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/searches/{search_id}", tag = "searches", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("search_id" = Uuid, Path)),
    responses((status = 200, description = "Cancelled (or it had ended): the search", body = Search)))]
pub async fn cancel_search(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, search_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Search>, ApiError> {
    let target = format!("search:{search_id}");
    audited(&state.db, &principal, "search.cancel", &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        let search = visible(&mut tx, &principal, tenant, search_id).await?;
        let parts = store::parts(&mut tx, tenant, search_id).await?;
        operates_every_box(&mut tx, &principal, tenant, &parts).await?;
        let now = now_ms();
        let mut cancels = Vec::new();
        if store::cancel(&mut tx, (tenant, search_id), now).await? {
            let search = (tenant, search_id);
            cancels = cancel_parts(&mut tx, &principal, search, &parts, now).await?;
        }
        audit::record(&mut tx, &principal, Some(tenant), "search.cancel", &target).await?;
        let now_stored = store::find(&mut tx, tenant, search.id).await?;
        let answer = view(&mut tx, now_stored.ok_or_else(ApiError::not_found)?).await?;
        tx.commit().await?;
        if let Some(uplink) = &state.uplink {
            uplink.send_to_online(&cancels, "cancelSearch").await;
            uplink.search_changed(search_id);
        }
        Ok(Json(answer))
    })
    .await
}

/// 403 unless the caller is an operator of the area of every box in the search.
async fn operates_every_box(
    tx: &mut Tx,
    principal: &Principal,
    tenant: Uuid,
    parts: &[StoredPart],
) -> Result<(), ApiError> {
    let areas: BTreeSet<Uuid> = parts.iter().map(|p| p.area).collect();
    for area in areas {
        principal
            .require_area_role(tx, tenant, area, Role::Operator)
            .await?;
    }
    Ok(())
}

/// Cancels every part that has not ended: a queued createSearch is expired instead of sent;
/// a box that may have it gets a cancelSearch. Those RPCs, each with whether its box is
/// online.
async fn cancel_parts(
    tx: &mut Tx,
    principal: &Principal,
    (tenant, search): (Uuid, Uuid),
    parts: &[StoredPart],
    now: i64,
) -> Result<Vec<(StoredRpc, bool)>, ApiError> {
    let mut cancels = Vec::new();
    let params = serde_json::json!({ "search_id": search }).to_string();
    for part in parts.iter().filter(|p| !ENDED.contains(&p.state.as_str())) {
        let ids = (tenant, search, part.device);
        if part.state == "queued" && rpcs::expire_queued(tx, tenant, part.rpc, now).await? {
            store::cancel_part(tx, ids, None, now).await?;
            continue;
        }
        let expires_at = part.deadline_at.max(now.saturating_add(CANCEL_MIN_WAIT_MS));
        let call = ("cancelSearch", params.clone());
        let timing = (CANCEL_TIMEOUT_MS, expires_at);
        let box_ids = (tenant, part.device);
        let rpc = StoredRpc::queued(box_ids, call, true, timing, &principal.actor, now);
        rpcs::insert(tx, &rpc).await?;
        if !store::cancel_part(tx, ids, Some(rpc.id), now).await? {
            // It ended meanwhile: nothing to cancel on the box.
            rpcs::expire_queued(tx, tenant, rpc.id, now).await?;
            continue;
        }
        let online = presence(tx, box_ids).await?.is_some_and(|p| p.online);
        cancels.push((rpc, online));
    }
    Ok(cancels)
}
