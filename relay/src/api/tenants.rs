//! Tenants: created through the saga (`crate::saga`) by platform admins, edited, enabled,
//! disabled and deleted by them; readable by their own members.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::{Name, Page, rfc3339};
use crate::audit::{self, audited};
use crate::auth::Principal;
use crate::db::{DbError, Mode, Scope, Tx, now_ms, parse_id};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

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

macro_rules! columns {
    () => {
        "id, name, status, created_at, updated_at"
    };
}

fn tenant_from_row(row: &sqlx::any::AnyRow) -> Result<Tenant, DbError> {
    let get = |name: &str| row.try_get::<String, _>(name);
    Ok(Tenant {
        id: parse_id(&get("id")?)?,
        name: get("name")?,
        status: get("status")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

async fn fetch(tx: &mut Tx, tenant: Uuid) -> Result<Tenant, ApiError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM tenants WHERE id = $1"
    ))
    .bind(tenant.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(ApiError::not_found)?;
    Ok(tenant_from_row(&row)?)
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
    let (scope, filter) = match principal.tenant_id {
        Some(tenant) if !principal.platform_admin => {
            (Scope::Tenant(tenant), Some(tenant.to_string()))
        }
        _ => (Scope::Platform, None),
    };
    let mut tx = state.db.begin(scope, Mode::Read).await?;
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM tenants WHERE ($1 IS NULL OR id = $1) AND status <> 'creating' \
         ORDER BY created_at, id LIMIT $2 OFFSET $3"
    ))
    .bind(filter)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let items = rows.iter().map(tenant_from_row).collect::<Result<_, _>>()?;
    Ok(Json(TenantList { items }))
}

/// Creates a tenant (platform admins). Idempotent per `Idempotency-Key`: a retry with the
/// same key and body returns the tenant the first request made, with 200.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 200, pattern = r"^[!-~]+$",
        description = "A client-chosen key, 1 to 200 printable ASCII characters, unique per creation")),
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created", body = Tenant),
        (status = 200, description = "Made earlier by a request with the same key", body = Tenant)))]
pub async fn create_tenant(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
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
        let mut tx = state
            .db
            .begin(Scope::Tenant(created.tenant_id), Mode::Read)
            .await?;
        let tenant = fetch(&mut tx, created.tenant_id).await?;
        tx.commit().await?;
        let status = if created.new {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((status, Json(tenant)))
    })
    .await
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
    let tenant = principal.tenant_for(tenant_id)?;
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
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
    audited(
        &state.db,
        &principal,
        "tenant.update",
        &tenant_id.to_string(),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            fetch(&mut tx, tenant).await?;
            principal.require_platform_admin()?;
            if let Some(name) = &request.name {
                sqlx::query("UPDATE tenants SET name = $1, updated_at = $2 WHERE id = $3")
                    .bind(name.as_str())
                    .bind(now_ms())
                    .bind(tenant.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "tenant.update",
                &tenant.to_string(),
            )
            .await?;
            let updated = fetch(&mut tx, tenant).await?;
            tx.commit().await?;
            Ok(Json(updated))
        },
    )
    .await
}

async fn set_status(
    state: &AppState,
    principal: &Principal,
    tenant_id: Uuid,
    status: &str,
    action: &str,
) -> Result<Json<Tenant>, ApiError> {
    audited(
        &state.db,
        principal,
        action,
        &tenant_id.to_string(),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            let current = fetch(&mut tx, tenant).await?;
            principal.require_platform_admin()?;
            if current.status == "creating" {
                return Err(ApiError::not_found());
            }
            sqlx::query("UPDATE tenants SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status)
                .bind(now_ms())
                .bind(tenant.to_string())
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                principal,
                Some(tenant),
                action,
                &tenant.to_string(),
            )
            .await?;
            let updated = fetch(&mut tx, tenant).await?;
            tx.commit().await?;
            Ok(Json(updated))
        },
    )
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
    set_status(&state, &principal, tenant_id, "enabled", "tenant.enable").await
}

/// Disables a tenant (platform admins): its users and boxes are refused until it is enabled.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/disable", tag = "tenants", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, description = "Disabled", body = Tenant)))]
pub async fn disable_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Json<Tenant>, ApiError> {
    set_status(&state, &principal, tenant_id, "disabled", "tenant.disable").await
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
    audited(
        &state.db,
        &principal,
        "tenant.delete",
        &tenant_id.to_string(),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
            fetch(&mut tx, tenant).await?;
            tx.commit().await?;
            principal.require_platform_admin()?;
            state
                .tenant_saga
                .undo(&state.db, tenant, state.tenant_saga.len())
                .await?;
            let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
            audit::record(
                &mut tx,
                &principal,
                None,
                "tenant.delete",
                &tenant.to_string(),
            )
            .await?;
            tx.commit().await?;
            Ok(StatusCode::NO_CONTENT)
        },
    )
    .await
}
