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
use sqlx::Row as _;
use utoipa::ToSchema;
use uuid::Uuid;

use super::areas::{referenced, visibility};
use super::types::{Name, Page, Secret, rfc3339};
use crate::audit::{self, audited};
use crate::auth::tokens::{new_secret, secret_digest};
use crate::auth::{Principal, Role};
use crate::db::{DbError, Mode, Scope, Tx, now_ms, parse_id};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, RemoteAddr};
use crate::state::AppState;
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
    pub created_at: String,
    pub updated_at: String,
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

macro_rules! columns {
    () => {
        "id, tenant_id, area_id, name, group_name, status, activated_at, \
                       last_seen_at, software_version, created_at, updated_at"
    };
}

fn device_from_row(row: &sqlx::any::AnyRow) -> Result<Device, DbError> {
    let get = |name: &str| row.try_get::<String, _>(name);
    let time = |name: &str| row.try_get::<Option<i64>, _>(name).map(|t| t.map(rfc3339));
    Ok(Device {
        id: parse_id(&get("id")?)?,
        tenant_id: parse_id(&get("tenant_id")?)?,
        area_id: parse_id(&get("area_id")?)?,
        name: get("name")?,
        group: row.try_get("group_name")?,
        status: get("status")?,
        activated_at: time("activated_at")?,
        last_seen_at: time("last_seen_at")?,
        software_version: row.try_get("software_version")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

async fn find(tx: &mut Tx, tenant: Uuid, device: Uuid) -> Result<Device, ApiError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM devices WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.to_string())
    .bind(device.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(ApiError::not_found)?;
    Ok(device_from_row(&row)?)
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
    sqlx::query(
        "UPDATE devices SET provisioning_key_hash = $1, provisioning_expires_at = $2, updated_at = $3 \
         WHERE tenant_id = $4 AND id = $5",
    )
    .bind(secret_digest(&key))
    .bind(expires)
    .bind(now_ms())
    .bind(tenant.to_string())
    .bind(device.to_string())
    .execute(&mut **tx)
    .await?;
    Ok((key, expires))
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
    let tenant = principal.tenant_for(tenant_id)?;
    let (limit, offset) = page.bounds()?;
    let (user, all) = visibility(&principal);
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
    principal.require_tenant_exists(&mut tx, tenant).await?;
    let rows = sqlx::query(concat!(visible_areas!(), " SELECT ", columns!(), " FROM devices WHERE tenant_id = $1 \
         AND ($3 = 1 OR area_id IN (SELECT id FROM visible)) ORDER BY created_at, id LIMIT $4 OFFSET $5"))
    .bind(tenant.to_string())
    .bind(user)
    .bind(all)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let items = rows.iter().map(device_from_row).collect::<Result<_, _>>()?;
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
    audited(&state.db, &principal, "device.register", &tenant_id.to_string(), async {
        let tenant = principal.tenant_for(tenant_id)?;
        let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
        principal.require_tenant_exists(&mut tx, tenant).await?;
        referenced(&mut tx, tenant, request.area_id, "area_id").await?;
        principal
            .require_area_role(&mut tx, tenant, request.area_id, Role::Operator)
            .await
            .map_err(|e| if e.status() == StatusCode::NOT_FOUND {
                ApiError::invalid_field("area_id", "no such area")
            } else {
                e
            })?;
        let id = Uuid::new_v4();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO devices (id, tenant_id, area_id, name, group_name, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'registered', $6, $6)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(request.area_id.to_string())
        .bind(request.name.as_str())
        .bind(request.group.as_ref().map(|g| g.as_str().to_owned()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let (key, expires) = new_provisioning_key(&state, &mut tx, tenant, id).await?;
        audit::record(&mut tx, &principal, Some(tenant), "device.register", &format!("device:{id}")).await?;
        let device = find(&mut tx, tenant, id).await?;
        tx.commit().await?;
        Ok((
            StatusCode::CREATED,
            Json(ProvisionedDevice {
                device,
                provisioning_key: key,
                provisioning_expires_at: rfc3339(expires),
            }),
        ))
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
    let tenant = principal.tenant_for(tenant_id)?;
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
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
    principal: Principal,
) -> Result<Json<Device>, ApiError> {
    let (device_id, tenant) = principal.require_device()?;
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
    audited(
        &state.db,
        &principal,
        "device.update",
        &format!("device:{device_id}"),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            let device = find(&mut tx, tenant, device_id).await?;
            principal
                .require_area_role(&mut tx, tenant, device.area_id, Role::Operator)
                .await?;
            if let Some(area) = request.area_id {
                referenced(&mut tx, tenant, area, "area_id").await?;
                principal
                    .require_area_role(&mut tx, tenant, area, Role::Operator)
                    .await
                    .map_err(|e| {
                        if e.status() == StatusCode::NOT_FOUND {
                            ApiError::invalid_field("area_id", "no such area")
                        } else {
                            e
                        }
                    })?;
            }
            sqlx::query(
            "UPDATE devices SET name = COALESCE($1, name), group_name = COALESCE($2, group_name), \
             area_id = COALESCE($3, area_id), updated_at = $4 WHERE tenant_id = $5 AND id = $6",
        )
        .bind(request.name.as_ref().map(|n| n.as_str().to_owned()))
        .bind(request.group.as_ref().map(|g| g.as_str().to_owned()))
        .bind(request.area_id.map(|a| a.to_string()))
        .bind(now_ms())
        .bind(tenant.to_string())
        .bind(device_id.to_string())
        .execute(&mut *tx)
        .await?;
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "device.update",
                &format!("device:{device_id}"),
            )
            .await?;
            let device = find(&mut tx, tenant, device_id).await?;
            tx.commit().await?;
            Ok(Json(device))
        },
    )
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
    audited(
        &state.db,
        &principal,
        "device.provisioning_key",
        &format!("device:{device_id}"),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            let device = find(&mut tx, tenant, device_id).await?;
            principal
                .require_area_role(&mut tx, tenant, device.area_id, Role::Operator)
                .await?;
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
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "device.provisioning_key",
                &format!("device:{device_id}"),
            )
            .await?;
            let device = find(&mut tx, tenant, device_id).await?;
            tx.commit().await?;
            Ok(Json(ProvisionedDevice {
                device,
                provisioning_key: key,
                provisioning_expires_at: rfc3339(expires),
            }))
        },
    )
    .await
}

/// Decommissions a device (operators): its key and credential stop working for good.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/devices/{device_id}/decommission", tag = "devices", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("device_id" = Uuid, Path)),
    responses((status = 200, description = "Decommissioned", body = Device)))]
pub async fn decommission_device(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, device_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Device>, ApiError> {
    audited(
        &state.db,
        &principal,
        "device.decommission",
        &format!("device:{device_id}"),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            let device = find(&mut tx, tenant, device_id).await?;
            principal
                .require_area_role(&mut tx, tenant, device.area_id, Role::Operator)
                .await?;
            sqlx::query(
                "UPDATE devices SET status = 'decommissioned', provisioning_key_hash = NULL, \
             provisioning_expires_at = NULL, credential_hash = NULL, updated_at = $1 \
             WHERE tenant_id = $2 AND id = $3",
            )
            .bind(now_ms())
            .bind(tenant.to_string())
            .bind(device_id.to_string())
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "device.decommission",
                &format!("device:{device_id}"),
            )
            .await?;
            let device = find(&mut tx, tenant, device_id).await?;
            tx.commit().await?;
            Ok(Json(device))
        },
    )
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
    let digest = secret_digest(key.as_str());
    let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
    let row = sqlx::query(
        "SELECT d.id, d.tenant_id, d.status, d.provisioning_expires_at, t.status AS tenant_status \
         FROM devices d JOIN tenants t ON t.id = d.tenant_id WHERE d.provisioning_key_hash = $1",
    )
    .bind(&digest)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(bad_key)?;
    let id: String = row.try_get("id")?;
    let tenant = parse_id(&row.try_get::<String, _>("tenant_id")?)?;
    let status: String = row.try_get("status")?;
    let expires: Option<i64> = row.try_get("provisioning_expires_at")?;
    let tenant_status: String = row.try_get("tenant_status")?;
    if id != request.device_id.to_string()
        || status != "registered"
        || expires.is_none_or(|e| e <= now_ms())
    {
        return Err(bad_key());
    }
    if tenant_status != "enabled" {
        return Err(ApiError::tenant_disabled());
    }
    let credential = new_secret();
    let now = now_ms();
    sqlx::query(
        "UPDATE devices SET status = 'active', provisioning_key_hash = NULL, provisioning_expires_at = NULL, \
         credential_hash = $1, activated_at = $2, updated_at = $2 WHERE id = $3 AND status = 'registered'",
    )
    .bind(secret_digest(&credential))
    .bind(now)
    .bind(&id)
    .execute(&mut *tx)
    .await?;
    audit::write(
        &mut tx,
        audit::Entry {
            tenant: Some(tenant),
            actor: &format!("device:{id}"),
            remote_addr: &remote_addr,
            action: "device.activate",
            target: &format!("device:{id}"),
            outcome: "success",
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(DeviceCredentials {
        device_id: request.device_id,
        tenant_id: tenant,
        credential,
        broker: None,
    }))
}
