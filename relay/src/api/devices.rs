//! Devices (boxes): registered under a tenant and an area with a one-time provisioning key,
//! activated by the box presenting that key (it receives its credential, shown once),
//! renamed, grouped, moved, decommissioned. `last_seen_at` and `software_version` are filled
//! by the uplink.
//!
//! Keys and credentials are stored as SHA-256 digests. Activation is the one device route
//! without a bearer token: the key is the proof, and a disabled tenant's box is refused.
//! An activated box then calls its own routes (`GET /api/v1/devices/me`) with
//! `Authorization: Device <device_id>:<credential>` ([`crate::auth::device`]).
//! Its attempts are limited per client address and per device id (`limits.activate_*`), so
//! a key cannot be guessed at speed from one address or many.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::areas::referenced;
use super::types::{Name, Page, Secret, rfc3339};
use super::{begin, begin_existing, list_visible_page};
use crate::audit::{self, audited};
use crate::auth::tokens::{new_secret, secret_digest};
use crate::auth::{CallingBox, Principal, Role};
use crate::db::{DbError, Mode, Scope, Tx, now_ms};
use crate::dunning::standing::refuse_if_suspended;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, RemoteAddr};
use crate::state::AppState;
use crate::store::devices as store;
use protocol::activation::{ActivateDevice, DeviceCredentials};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub area_id: Uuid,
    pub name: String,
    pub group: Option<String>,
    /// `registered` (waiting for activation), `active` or `decommissioned`.
    pub status: String,
    pub activated_at: Option<String>,
    /// Last contact through the uplink.
    pub last_seen_at: Option<String>,
    /// The box's software version, as it last reported.
    pub software_version: Option<String>,
    /// Whether the box is connected, as its status and telemetry last said.
    pub online: bool,
    /// The box's latest telemetry sample, as the uplink last received it; none before the
    /// first.
    #[serde(default)]
    pub telemetry: Option<DeviceTelemetry>,
    pub created_at: String,
    pub updated_at: String,
}

/// What a box's latest telemetry sample said (`protocol::telemetry::Telemetry`): the
/// console's box list shows its indexing lag and outbox depth.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceTelemetry {
    /// When the relay received it.
    pub received_at: String,
    /// When the box took it (the box's clock).
    pub taken_at: String,
    pub uptime_s: u64,
    pub cameras_online: u32,
    pub cameras_total: u32,
    /// How far the worst camera's indexing is behind, when known.
    pub indexing_lag_s: Option<u64>,
    pub disk_free_bytes: u64,
    /// Messages waiting in the box's outbox, and the age of the oldest.
    pub outbox_depth: u64,
    pub outbox_oldest_s: Option<u64>,
    pub download_queue: u64,
    /// The face model the box indexes with.
    pub model_id: String,
}

impl DeviceTelemetry {
    /// The summary of a stored sample (JSON as received) taken in at `received_at` (Unix
    /// ms); none when it does not read as a sample.
    pub(crate) fn from_stored(sample: &str, received_at: i64) -> Option<Self> {
        let t: protocol::telemetry::Telemetry = serde_json::from_str(sample).ok()?;
        Some(DeviceTelemetry {
            received_at: rfc3339(received_at),
            taken_at: rfc3339(t.ts_ms),
            uptime_s: t.uptime_s,
            cameras_online: t.cameras_online,
            cameras_total: t.cameras_total,
            indexing_lag_s: t.indexing_lag_s,
            disk_free_bytes: t.disk_free_bytes,
            outbox_depth: t.outbox_depth,
            outbox_oldest_s: t.outbox_oldest_s,
            download_queue: t.download_queue,
            model_id: t.model_id,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceList {
    pub items: Vec<Device>,
}

/// A device with its new one-time provisioning key, shown only in this response.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProvisionedDevice {
    pub device: Device,
    pub provisioning_key: String,
    pub provisioning_expires_at: String,
    /// The three things the box's local page needs, as one string to paste there:
    /// `dipper://activate?relay={objects.public_url}&device_id={id}&key={key}`.
    pub activation: String,
    /// `activation` as a QR code, an SVG document (for the installer's phone or the box's
    /// camera); the console shows it as an image.
    pub activation_qr_svg: String,
}

impl ProvisionedDevice {
    fn new(relay: &str, device: Device, key: String, expires: i64) -> Self {
        let activation = activation_string(relay, device.id, &key);
        ProvisionedDevice {
            activation_qr_svg: qr_svg(&activation),
            activation,
            device,
            provisioning_key: key,
            provisioning_expires_at: rfc3339(expires),
        }
    }
}

/// `text` as a QR code in SVG, black on white with its quiet zone, 4 px a module at least.
fn qr_svg(text: &str) -> String {
    use qrcode::render::svg;
    // Medium error correction: the string is short (under 200 bytes), so the code stays
    // small enough to read from a screen at arm's length.
    match qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        // Only a text longer than a QR code holds (about 2 KB) fails; an activation
        // string never is.
        Err(error) => {
            tracing::warn!(%error, "no QR code for an activation string");
            String::new()
        }
    }
}

/// The activation string of `device` with `key` on the relay at `relay`.
fn activation_string(relay: &str, device: Uuid, key: &str) -> String {
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "dipper://activate?relay={}&device_id={device}&key={}",
        encode(relay),
        encode(key)
    )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub name: Name,
    pub area_id: Uuid,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub group: Option<Name>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDevice {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub name: Option<Name>,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub group: Option<Name>,
    /// Moves the device to another area (operator role needed on both).
    pub area_id: Option<Uuid>,
}

// The OpenAPI schema of `ActivateDevice` (the box's message, in `protocol`), with the bounds
// the relay checks after deserialising it (`Secret::checked`).
#[derive(ToSchema)]
#[schema(as = ActivateDevice)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ActivateDeviceSchema {
    device_id: Uuid,
    #[schema(value_type = String, min_length = 1, max_length = 1024)]
    provisioning_key: String,
}

pub(super) async fn find(tx: &mut Tx, tenant: Uuid, device: Uuid) -> Result<Device, ApiError> {
    crate::store::find::<Device>(tx, tenant, device)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A fresh provisioning key for `device`, stored as its digest; returns the key and expiry.
async fn new_provisioning_key(
    state: &AppState,
    tx: &mut Tx,
    tenant: Uuid,
    device: Uuid,
) -> Result<(String, i64), DbError> {
    let key = new_secret();
    let ttl = i64::try_from(state.config.auth.provisioning_key_seconds).unwrap_or(i64::MAX / 4000);
    let expires = now_ms() + ttl * 1000;
    store::set_provisioning_key(tx, tenant, device, &secret_digest(&key), expires).await?;
    Ok((key, expires))
}

/// 422 naming `area_id` unless the caller is an operator of `area`, which must exist.
async fn operated_area(
    principal: &Principal,
    tx: &mut Tx,
    tenant: Uuid,
    area: Uuid,
) -> Result<(), ApiError> {
    referenced(tx, tenant, area, "area_id").await?;
    principal
        .require_area_role(tx, tenant, area, Role::Operator)
        .await
        .map_err(|e| {
            if e.status() == StatusCode::NOT_FOUND {
                ApiError::invalid_field("area_id", "no such area")
            } else {
                e
            }
        })
}

/// The start of an operator's change to one device: the device, found in the caller's
/// tenant, in a write transaction, once the caller's operator role on its area is checked.
async fn begin_change(
    state: &AppState,
    principal: &Principal,
    (tenant_id, device_id): (Uuid, Uuid),
) -> Result<(Tx, Uuid, Device), ApiError> {
    let (mut tx, tenant) = begin(state, principal, tenant_id, Mode::Write).await?;
    let device = find(&mut tx, tenant, device_id).await?;
    principal
        .require_area_role(&mut tx, tenant, device.area_id, Role::Operator)
        .await?;
    refuse_if_suspended(&mut tx, tenant).await?;
    Ok((tx, tenant, device))
}

/// The end of it: the audit record of `action`, the device as it is now, the commit.
async fn finish_change(
    mut tx: Tx,
    principal: &Principal,
    tenant: Uuid,
    device: Uuid,
    action: &str,
) -> Result<Device, ApiError> {
    let found = find(&mut tx, tenant, device).await?;
    let target = format!("device:{device}");
    audit::commit(tx, principal, Some(tenant), action, &target).await?;
    Ok(found)
}

/// Devices in the areas the caller sees.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/devices", tag = "devices", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), Page),
    responses((status = 200, description = "Devices", body = DeviceList)))]
pub async fn list_devices(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<DeviceList>, ApiError> {
    let items = list_visible_page((&state, &principal), tenant_id, &page).await?;
    Ok(Json(DeviceList { items }))
}

/// Registers a box under an area (operators of that area) and issues its provisioning key.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/devices", tag = "devices", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    request_body = RegisterDevice,
    responses((status = 201, description = "Registered", body = ProvisionedDevice)))]
pub async fn register_device(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<RegisterDevice>,
) -> Result<(StatusCode, Json<ProvisionedDevice>), ApiError> {
    let (action, target) = ("device.register", tenant_id.to_string());
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
        operated_area(&principal, &mut tx, tenant, request.area_id).await?;
        refuse_if_suspended(&mut tx, tenant).await?;
        let id = Uuid::new_v4();
        let device = store::NewDevice {
            id,
            area: request.area_id,
            name: request.name.as_str(),
            group: request.group.as_ref().map(Name::as_str),
        };
        store::insert(&mut tx, tenant, device).await?;
        let (key, expires) = new_provisioning_key(&state, &mut tx, tenant, id).await?;
        let device = finish_change(tx, &principal, tenant, id, action).await?;
        let relay = state.config.objects.public_url(state.config.server.listen);
        let provisioned = ProvisionedDevice::new(&relay, device, key, expires);
        Ok((StatusCode::CREATED, Json(provisioned)))
    })
    .await
}

/// One device.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/devices/{device_id}", tag = "devices", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("device_id" = Uuid, Path)),
    responses((status = 200, description = "The device", body = Device)))]
pub async fn get_device(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, device_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Device>, ApiError> {
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    let device = find(&mut tx, tenant, device_id).await?;
    principal
        .require_area_role(&mut tx, tenant, device.area_id, Role::Viewer)
        .await?;
    tx.commit().await?;
    Ok(Json(device))
}

/// The calling box itself: its id, tenant, area and state. Only a box may call it, with
/// `Authorization: Device <device_id>:<credential>`.
#[utoipa::path(get, path = "/api/v1/devices/me", tag = "devices", security(("device" = [])),
    responses((status = 200, description = "The calling box", body = Device)))]
pub async fn device_me(
    State(state): State<AppState>,
    caller: CallingBox,
) -> Result<Json<Device>, ApiError> {
    let (device_id, tenant) = (caller.device_id, caller.tenant_id);
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
    let device = find(&mut tx, tenant, device_id).await?;
    tx.commit().await?;
    Ok(Json(device))
}

/// Renames, regroups or moves a device (operators).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/devices/{device_id}", tag = "devices", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("device_id" = Uuid, Path)),
    request_body = UpdateDevice,
    responses((status = 200, description = "Updated", body = Device)))]
pub async fn update_device(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, device_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<UpdateDevice>,
) -> Result<Json<Device>, ApiError> {
    let (action, target) = ("device.update", format!("device:{device_id}"));
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant, _) = begin_change(&state, &principal, (tenant_id, device_id)).await?;
        if let Some(area) = request.area_id {
            operated_area(&principal, &mut tx, tenant, area).await?;
        }
        let change = store::DeviceChange {
            name: request.name.as_ref().map(Name::as_str),
            group: request.group.as_ref().map(Name::as_str),
            area: request.area_id,
        };
        store::update(&mut tx, tenant, device_id, change).await?;
        let device = finish_change(tx, &principal, tenant, device_id, action).await?;
        Ok(Json(device))
    })
    .await
}

/// Issues a new provisioning key for a box not yet activated (operators); the old key stops
/// working.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/devices/{device_id}/provisioning-key", tag = "devices", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("device_id" = Uuid, Path)),
    responses((status = 200, description = "New key", body = ProvisionedDevice)))]
pub async fn issue_provisioning_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, device_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<ProvisionedDevice>, ApiError> {
    let (action, target) = ("device.provisioning_key", format!("device:{device_id}"));
    audited(&state.db, &principal, action, &target, async {
        let ids = (tenant_id, device_id);
        let (mut tx, tenant, device) = begin_change(&state, &principal, ids).await?;
        if device.status != "registered" {
            return Err(ApiError::conflict(
                crate::error::ErrorCode::DeviceNotRegistered,
                format!(
                    "the device is {}; only a device awaiting activation gets a key",
                    device.status
                ),
            ));
        }
        let (key, expires) = new_provisioning_key(&state, &mut tx, tenant, device_id).await?;
        let device = finish_change(tx, &principal, tenant, device_id, action).await?;
        let relay = state.config.objects.public_url(state.config.server.listen);
        Ok(Json(ProvisionedDevice::new(&relay, device, key, expires)))
    })
    .await
}

/// Decommissions a device (operators): its key and credential stop working for good, and
/// its broker identity is deleted (the broker disconnects it).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/devices/{device_id}/decommission", tag = "devices", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("device_id" = Uuid, Path)),
    responses((status = 200, description = "Decommissioned", body = Device)))]
pub async fn decommission_device(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, device_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Device>, ApiError> {
    let (action, target) = ("device.decommission", format!("device:{device_id}"));
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant, _) = begin_change(&state, &principal, (tenant_id, device_id)).await?;
        store::decommission(&mut tx, tenant, device_id).await?;
        // Revoked on the broker before the commit, so a decommissioned box is never left
        // connected; deleting a missing identity succeeds, so a retry is safe.
        if let Some(uplink) = &state.uplink {
            let deleted = uplink.admin().delete_box(device_id).await;
            deleted.map_err(|e| ApiError::broker(&e))?;
        }
        let device = finish_change(tx, &principal, tenant, device_id, action).await?;
        Ok(Json(device))
    })
    .await
}

fn bad_key() -> ApiError {
    ApiError::unauthorized(
        crate::error::ErrorCode::ProvisioningKeyInvalid,
        "unknown, used or expired provisioning key",
    )
}

/// A box activates itself with its one-time provisioning key and receives its credential.
#[utoipa::path(post, path = "/api/v1/devices/activate", tag = "devices",
    request_body = ActivateDeviceSchema,
    responses((status = 200, description = "Activated", body = DeviceCredentials)))]
pub async fn activate_device(
    State(state): State<AppState>,
    RemoteAddr(remote_addr): RemoteAddr,
    ApiJson(request): ApiJson<ActivateDevice>,
) -> Result<Json<DeviceCredentials>, ApiError> {
    let key = Secret::checked("provisioning_key", request.provisioning_key)?;
    state
        .limits
        .check_activation(&remote_addr, request.device_id)?;
    let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
    let found = store::by_provisioning_key(&mut tx, &secret_digest(key.as_str()))
        .await?
        .ok_or_else(bad_key)?;
    if found.id != request.device_id
        || found.status != "registered"
        || found.provisioning_expires_at.is_none_or(|e| e <= now_ms())
    {
        return Err(bad_key());
    }
    if found.tenant_status != "enabled" {
        return Err(ApiError::tenant_disabled());
    }
    refuse_if_suspended(&mut tx, found.tenant).await?;
    let (id, tenant) = (found.id, found.tenant);
    let credential = new_secret();
    store::activate(&mut tx, id, &secret_digest(&credential)).await?;
    let actor = format!("device:{id}");
    let who = (actor.as_str(), remote_addr.as_str());
    audit::own(&mut tx, who, Some(tenant), "device.activate", "success").await?;
    // The broker identity before the commit: if the broker fails, the key is not spent and
    // the box tries again; if the commit fails, the next attempt replaces the identity.
    let broker = match &state.uplink {
        Some(uplink) => {
            let created = uplink.admin().create_box(tenant, id, &credential).await;
            created.map_err(|e| ApiError::broker(&e))?;
            Some(uplink.endpoint(tenant, id))
        }
        None => None,
    };
    tx.commit().await?;
    Ok(Json(DeviceCredentials {
        device_id: request.device_id,
        tenant_id: tenant,
        credential,
        broker,
        software_key: Some(state.software.public_key()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_activation_string_carries_the_three_fields_url_encoded() {
        let device = Uuid::from_u128(0x1234);
        let text = activation_string("https://relay.example:8443/base", device, "k+/=y z");
        assert_eq!(
            text,
            format!(
                "dipper://activate?relay=https%3A%2F%2Frelay%2Eexample%3A8443%2Fbase\
                 &device_id={device}&key=k%2B%2F%3Dy%20z"
            )
        );
    }

    #[test]
    fn the_qr_code_is_a_standalone_svg_document() {
        let svg = qr_svg("dipper://activate?relay=http%3A%2F%2F127%2E0%2E0%2E1&device_id=x&key=y");
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
    }
}
