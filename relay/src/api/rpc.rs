//! Server-side RPC to a box, in ThingsBoard's shape: `POST
//! /api/v1/tenants/{t}/devices/{d}/rpc` sends one (a two-way call that waits for the box's
//! answer up to its timeout, or a persistent one that is stored and delivered when the box
//! is online, unless it expired first); `GET .../rpc/{id}` reads one with its state.
//!
//! Operators of the device's area may call every method except `restart` and `setConfig`,
//! which need the tenant admin role. Another tenant's device answers 404. Every RPC is
//! audited (`device.rpc.{method}`, target `device:{id}`) in the transaction that stores it;
//! a refused one by [`audited`]. A relay without a broker answers 503 (`broker_unavailable`).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::begin;
use super::devices::find;
use super::types::rfc3339;
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{Mode, now_ms};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::store::rpcs::{self, StoredRpc};
use crate::store::uplink as presence;
use protocol::rpc::{Method, RpcRequest};

/// Default time a box has to answer, ms.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=600_000;
/// Default time a persistent RPC may wait for its box, ms (a day).
const DEFAULT_EXPIRATION_MS: u64 = 86_400_000;
const EXPIRATION_RANGE_MS: std::ops::RangeInclusive<u64> = 1..=2_592_000_000;

/// An RPC to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRpc {
    /// `ping`, `getDiagnostics`, `restart`, `setConfig`, `createSearch` or `cancelSearch`.
    #[schema(pattern = "^(ping|getDiagnostics|restart|setConfig|createSearch|cancelSearch)$")]
    pub method: String,
    /// The method's parameters; `{}` (the default) for those that take none.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub params: Option<Value>,
    /// How long the box has to answer once the request is sent, in ms. Default 10000.
    #[schema(minimum = 100, maximum = 600000)]
    pub timeout_ms: Option<u64>,
    /// Stored and delivered when the box is online (answered 202), instead of a call that
    /// waits for the answer (200). Default false.
    #[serde(default)]
    pub persistent: bool,
    /// A persistent RPC's time to wait for its box, in ms; not sent after. Default 86400000.
    #[schema(minimum = 1, maximum = 2592000000_u64)]
    pub expiration_ms: Option<u64>,
}

/// The box's error answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RpcFailure {
    pub code: String,
    pub message: String,
}

/// An RPC and where it stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rpc {
    pub id: Uuid,
    pub device_id: Uuid,
    pub method: String,
    #[schema(value_type = Object)]
    pub params: Value,
    pub persistent: bool,
    /// `queued`, `sent`, `delivered` (the broker has it), `successful`, `failed` (the box
    /// answered an error), `timeout` (no answer in time) or `expired` (never sent).
    pub state: String,
    pub timeout_ms: i64,
    /// Not sent after this.
    pub expires_at: String,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub completed_at: Option<String>,
    /// The box's result, when `successful`.
    #[schema(value_type = Option<Value>)]
    pub result: Option<Value>,
    /// The box's error, when `failed`.
    pub error: Option<RpcFailure>,
}

impl From<StoredRpc> for Rpc {
    fn from(rpc: StoredRpc) -> Self {
        let answer: Value = rpc
            .response
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Null);
        Rpc {
            id: rpc.id,
            device_id: rpc.device,
            method: rpc.method,
            params: serde_json::from_str(&rpc.params).unwrap_or(Value::Null),
            persistent: rpc.persistent,
            state: rpc.state,
            timeout_ms: rpc.timeout_ms,
            expires_at: rfc3339(rpc.expires_at),
            created_at: rfc3339(rpc.created_at),
            sent_at: rpc.sent_at.map(rfc3339),
            completed_at: rpc.completed_at.map(rfc3339),
            result: answer.get("result").cloned(),
            error: answer
                .get("error")
                .and_then(|e| serde_json::from_value(e.clone()).ok()),
        }
    }
}

/// The checked request: the method as the protocol reads it, its params, the times.
struct Checked {
    method: Method,
    name: String,
    params: Value,
    timeout_ms: i64,
    expiration_ms: i64,
}

fn check(request: &SendRpc) -> Result<Checked, ApiError> {
    let within = |field: &str, value: u64, range: &std::ops::RangeInclusive<u64>| {
        if range.contains(&value) {
            Ok(i64::try_from(value).unwrap_or(i64::MAX))
        } else {
            let (low, high) = (range.start(), range.end());
            Err(ApiError::invalid_field(
                field,
                format!("between {low} and {high}"),
            ))
        }
    };
    let timeout = request.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    let timeout_ms = within("timeout_ms", timeout, &TIMEOUT_RANGE_MS)?;
    let expiration = request.expiration_ms.unwrap_or(DEFAULT_EXPIRATION_MS);
    let expiration_ms = within("expiration_ms", expiration, &EXPIRATION_RANGE_MS)?;
    let params = request
        .params
        .clone()
        .unwrap_or_else(|| serde_json::json!({}));
    if !params.is_object() {
        return Err(ApiError::invalid_field("params", "must be an object"));
    }
    let raw = serde_json::json!({ "method": request.method, "params": params }).to_string();
    let method = match RpcRequest::decode(raw.as_bytes()) {
        // setStanding is the relay's own (the dunning check's), never an operator's;
        // softwareUpdate goes out only through a rollout (api/software.rs).
        Ok(Ok(RpcRequest {
            method: Method::Unknown(_) | Method::SetStanding(_) | Method::SoftwareUpdate(_),
            ..
        })) => {
            return Err(ApiError::invalid_field(
                "method",
                "no such method; one of ping, getDiagnostics, restart, setConfig, \
                 createSearch, cancelSearch",
            ));
        }
        Ok(Ok(request)) => request.method,
        Ok(Err(error)) => return Err(ApiError::invalid_field("params", error.message)),
        Err(error) => return Err(ApiError::invalid_field("params", error.to_string())),
    };
    Ok(Checked {
        method,
        name: request.method.clone(),
        params,
        timeout_ms,
        expiration_ms,
    })
}

/// Sends an RPC to a box (operators; `restart` and `setConfig` need the tenant admin).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/devices/{device_id}/rpc", tag = "devices", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("device_id" = Uuid, Path)),
    request_body = SendRpc,
    responses(
        (status = 200, description = "The box answered (state `successful` or `failed`)", body = Rpc),
        (status = 202, description = "Persistent: stored, and sent when the box is online", body = Rpc),
        (status = 504, description = "The box did not answer in time (`rpc_timeout`)", body = protocol::ErrorBody)))]
pub async fn send_rpc(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, device_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<SendRpc>,
) -> Result<(StatusCode, Json<Rpc>), ApiError> {
    let target = format!("device:{device_id}");
    let action = match check(&request) {
        Ok(checked) => format!("device.rpc.{}", checked.name),
        Err(_) => "device.rpc".to_owned(),
    };
    audited(&state.db, &principal, &action, &target, async {
        let (rpc, online) = store(&state, &principal, (tenant_id, device_id), &request).await?;
        let Some(uplink) = &state.uplink else {
            return Err(ApiError::no_broker());
        };
        if rpc.persistent {
            if online && let Err(error) = uplink.send(&rpc).await {
                tracing::warn!(%error, rpc = %rpc.id, "a persistent RPC stays queued");
            }
            let rpc = reread(&state, &rpc).await?;
            return Ok((StatusCode::ACCEPTED, Json(rpc)));
        }
        let mut wait = uplink.wait_for(rpc.device, rpc.request_id);
        if let Err(error) = uplink.send(&rpc).await {
            tracing::warn!(%error, "an RPC could not be sent");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::BrokerUnavailable,
                "the relay's broker connection is closing; retry",
            )
            .with_retry_after(1));
        }
        let within = Duration::from_millis(u64::try_from(rpc.timeout_ms).unwrap_or(0));
        let answered = wait.answered(within).await;
        let now = now_ms();
        // An answered call only reads its row: no wait for the database's writer, which the
        // boxes' reports keep busy.
        let mode = if answered { Mode::Read } else { Mode::Write };
        let mut tx = state
            .db
            .begin(crate::db::Scope::Tenant(rpc.tenant), mode)
            .await?;
        let timed_out = !answered && rpcs::end(&mut tx, rpc.tenant, rpc.id, "timeout", now).await?;
        let found = rpcs::find(&mut tx, (rpc.tenant, rpc.device), rpc.id).await?;
        tx.commit().await?;
        let found = found.ok_or_else(ApiError::not_found)?;
        if timed_out || found.state == "timeout" {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::RpcTimeout,
                format!(
                    "the box did not answer within {} ms; RPC {} is recorded as timed out",
                    rpc.timeout_ms, rpc.id
                ),
            ));
        }
        Ok((StatusCode::OK, Json(Rpc::from(found))))
    })
    .await
}

/// Checks the caller, the device and the request, and stores the RPC as queued with its
/// audit record; the RPC and whether the box is online.
async fn store(
    state: &AppState,
    principal: &Principal,
    (tenant_id, device_id): (Uuid, Uuid),
    request: &SendRpc,
) -> Result<(StoredRpc, bool), ApiError> {
    let (mut tx, tenant) = begin(state, principal, tenant_id, Mode::Write).await?;
    let device = find(&mut tx, tenant, device_id).await?;
    principal
        .require_area_role(&mut tx, tenant, device.area_id, Role::Operator)
        .await?;
    let checked = check(request)?;
    if matches!(checked.method, Method::Restart | Method::SetConfig(_)) {
        principal.require_tenant_role(Role::TenantAdmin)?;
    }
    // A suspended tenant starts no search and changes no box; it may still ping, read a
    // box's diagnostics and cancel a search.
    if matches!(
        checked.method,
        Method::Restart | Method::SetConfig(_) | Method::CreateSearch(_)
    ) {
        crate::dunning::standing::refuse_if_suspended(&mut tx, tenant).await?;
    }
    if device.status != "active" {
        return Err(ApiError::conflict(
            ErrorCode::DeviceNotActive,
            format!(
                "the device is {}; only an active box takes RPCs",
                device.status
            ),
        ));
    }
    if state.uplink.is_none() {
        return Err(ApiError::no_broker());
    }
    let online = presence::presence(&mut tx, (tenant, device_id))
        .await?
        .is_some_and(|p| p.online);
    if !online && !request.persistent {
        return Err(ApiError::conflict(
            ErrorCode::DeviceOffline,
            "the box is offline; send a persistent RPC to deliver it when it connects",
        ));
    }
    let now = now_ms();
    let expires_at = now.saturating_add(if request.persistent {
        checked.expiration_ms
    } else {
        checked.timeout_ms
    });
    let rpc = StoredRpc::queued(
        (tenant, device_id),
        (&checked.name, checked.params.to_string()),
        request.persistent,
        (checked.timeout_ms, expires_at),
        &principal.actor,
        now,
    );
    rpcs::insert(&mut tx, &rpc).await?;
    let action = format!("device.rpc.{}", checked.name);
    let target = format!("device:{device_id}");
    audit::commit(tx, principal, Some(tenant), &action, &target).await?;
    Ok((rpc, online))
}

async fn reread(state: &AppState, rpc: &StoredRpc) -> Result<Rpc, ApiError> {
    let mut tx = state
        .db
        .begin(crate::db::Scope::Tenant(rpc.tenant), Mode::Read)
        .await?;
    let found = rpcs::find(&mut tx, (rpc.tenant, rpc.device), rpc.id).await?;
    tx.commit().await?;
    found.map(Rpc::from).ok_or_else(ApiError::not_found)
}

/// One RPC with its state (viewers of the device's area).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/devices/{device_id}/rpc/{rpc_id}", tag = "devices", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("device_id" = Uuid, Path), ("rpc_id" = Uuid, Path)),
    responses((status = 200, description = "The RPC", body = Rpc)))]
pub async fn get_rpc(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, device_id, rpc_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<Json<Rpc>, ApiError> {
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    let device = find(&mut tx, tenant, device_id).await?;
    principal
        .require_area_role(&mut tx, tenant, device.area_id, Role::Viewer)
        .await?;
    let found = rpcs::find(&mut tx, (tenant, device_id), rpc_id).await?;
    tx.commit().await?;
    found
        .map(|rpc| Json(Rpc::from(rpc)))
        .ok_or_else(ApiError::not_found)
}
