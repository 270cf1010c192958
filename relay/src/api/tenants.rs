//! Tenants: created through the saga (`crate::saga`) by platform admins, edited, enabled,
//! disabled and deleted by them; readable by their own members.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::begin;
use super::types::{Name, Page};
use crate::audit::{self, audited};
use crate::auth::Principal;
use crate::db::{Mode, Scope, Tx};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::tenants as store;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    /// `enabled` or `disabled` (`creating` while its creation runs).
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
}

/// One step of a tenant's creation saga (`crate::saga`), run after the tenant's row.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreationStep {
    /// The step: `object_storage_prefix`, `broker_credentials`, `face_library` (and any
    /// the deployment adds).
    pub name: String,
    /// `done`: a creation answers only once every step is done (a failed step is undone with
    /// those before it, and the request fails naming it).
    pub state: String,
    /// How long the step took; absent when an earlier request with the same key ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// A tenant as its creation answers it: the tenant, and the saga's steps that made it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedTenant {
    #[serde(flatten)]
    pub tenant: Tenant,
    /// In the order they ran.
    pub steps: Vec<CreationStep>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantList {
    pub items: Vec<Tenant>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub name: Name,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub name: Option<Name>,
}

async fn fetch(tx: &mut Tx, tenant: Uuid) -> Result<Tenant, ApiError> {
    store::find(tx, tenant)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Every tenant for a platform admin; one's own tenant for anyone else.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    params(Page),
    responses((status = 200, description = "Tenants", body = TenantList)))]
pub async fn list_tenants(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<TenantList>, ApiError> {
    let (limit, offset) = page.bounds()?;
    let (scope, only) = match principal.tenant_id {
        Some(tenant) if !principal.platform_admin => (Scope::Tenant(tenant), Some(tenant)),
        _ => (Scope::Platform, None),
    };
    let mut tx = state.db.begin(scope, Mode::Read).await?;
    let items = store::list(&mut tx, only, (limit, offset)).await?;
    tx.commit().await?;
    Ok(Json(TenantList { items }))
}

/// Creates a tenant (platform admins) through the creation saga; the answer lists the saga's
/// steps. Idempotent per `Idempotency-Key`: a retry with the same key and body returns the
/// tenant the first request made, with 200.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 200, pattern = r"^[!-~]+$",
        description = "A client-chosen key, 1 to 200 printable ASCII characters, unique per creation")),
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created", body = CreatedTenant),
        (status = 200, description = "Made earlier by a request with the same key", body = CreatedTenant)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    audited(&state.db, &principal, "tenant.create", "tenants", async {
        principal.require_platform_admin()?;
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .filter(|k| !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    crate::error::ErrorCode::InvalidHeader,
                    "an Idempotency-Key header of 1 to 200 printable ASCII characters is required",
                )
                .with_field("Idempotency-Key")
            })?;
        let created = state
            .tenant_saga
            .create(&state.db, &principal, key, request.name.as_str())
            .await?;
        let (mut tx, _) = begin(&state, &principal, created.tenant_id, Mode::Read).await?;
        let tenant = fetch(&mut tx, created.tenant_id).await?;
        tx.commit().await?;
        let status = if created.new {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let steps = (created.steps.into_iter())
            .map(|step| CreationStep {
                name: step.name.to_owned(),
                state: "done".to_owned(),
                duration_ms: step.duration_ms,
            })
            .collect();
        Ok((status, Json(CreatedTenant { tenant, steps })))
    })
    .await
}

/// The tenant `tenant_id` in a write transaction, once the caller is found to be a
/// platform admin (404 first for no tenant).
async fn begin_change(
    state: &AppState,
    principal: &Principal,
    tenant_id: Uuid,
) -> Result<(Tx, Tenant), ApiError> {
    let (mut tx, tenant) = begin(state, principal, tenant_id, Mode::Write).await?;
    let found = fetch(&mut tx, tenant).await?;
    principal.require_platform_admin()?;
    Ok((tx, found))
}

/// One tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}", tag = "tenants", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, description = "The tenant", body = Tenant)))]
pub async fn get_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Json<Tenant>, ApiError> {
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    let found = fetch(&mut tx, tenant).await?;
    tx.commit().await?;
    if found.status == "creating" {
        return Err(ApiError::not_found());
    }
    Ok(Json(found))
}

/// Renames a tenant (platform admins).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}", tag = "tenants", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    request_body = UpdateTenant,
    responses((status = 200, description = "Updated", body = Tenant)))]
pub async fn update_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<UpdateTenant>,
) -> Result<Json<Tenant>, ApiError> {
    let name = request.name.as_ref().map(Name::as_str);
    change(&state, &principal, tenant_id, (name, None), "tenant.update").await
}

/// Renames or enables or disables a tenant: `(name, status)`, `None` keeping the value.
async fn change(
    state: &AppState,
    principal: &Principal,
    tenant_id: Uuid,
    (name, status): (Option<&str>, Option<&str>),
    action: &str,
) -> Result<Json<Tenant>, ApiError> {
    let target = tenant_id.to_string();
    audited(&state.db, principal, action, &target, async {
        let (mut tx, current) = begin_change(state, principal, tenant_id).await?;
        if status.is_some() && current.status == "creating" {
            return Err(ApiError::not_found());
        }
        if name.is_some() || status.is_some() {
            store::update(&mut tx, current.id, name, status).await?;
        }
        // The tenant's boxes follow it on the broker before the change commits, so a failure
        // leaves both as they were; enabling or disabling twice is harmless.
        if let (Some(status), Some(uplink)) = (status, &state.uplink) {
            let enabled = status == "enabled";
            let set = uplink.admin().set_tenant_enabled(current.id, enabled).await;
            set.map_err(|e| ApiError::broker(&e))?;
        }
        let updated = fetch(&mut tx, current.id).await?;
        audit::commit(tx, principal, Some(current.id), action, &target).await?;
        Ok(Json(updated))
    })
    .await
}

/// Enables a tenant (platform admins).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/enable", tag = "tenants", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, description = "Enabled", body = Tenant)))]
pub async fn enable_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Json<Tenant>, ApiError> {
    let status = (None, Some("enabled"));
    change(&state, &principal, tenant_id, status, "tenant.enable").await
}

/// Disables a tenant (platform admins): its users and boxes are refused until it is enabled;
/// with a broker, its boxes' identities are disabled there (and disconnected).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/disable", tag = "tenants", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, description = "Disabled", body = Tenant)))]
pub async fn disable_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Json<Tenant>, ApiError> {
    let status = (None, Some("disabled"));
    change(&state, &principal, tenant_id, status, "tenant.disable").await
}

/// Deletes a tenant and everything in it (platform admins), releasing its resources.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}", tag = "tenants", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let (action, target) = ("tenant.delete", tenant_id.to_string());
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
        fetch(&mut tx, tenant).await?;
        tx.commit().await?;
        principal.require_platform_admin()?;
        let saga = &state.tenant_saga;
        saga.undo(&state.db, tenant, saga.len()).await?;
        let tx = state.db.begin(Scope::Platform, Mode::Write).await?;
        audit::commit(tx, &principal, None, action, &target).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
