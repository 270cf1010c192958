//! Areas: a tree of organisational units inside a tenant (community, building, floor...).
//! A role granted on an area holds on every area below it; a caller sees the areas under its
//! grants (all of them with a tenant-wide role), and another area of its tenant answers 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::{Name, Page, rfc3339};
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{DbError, Mode, Scope, Tx, now_ms, parse_id};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Area {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// None for a root area.
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AreaList {
    pub items: Vec<Area>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArea {
    #[schema(value_type = String, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub name: Name,
    /// The parent area; none for a root area (which needs a tenant-wide tenant admin).
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArea {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub name: Option<Name>,
}

macro_rules! columns {
    () => {
        "id, tenant_id, parent_id, name, created_at, updated_at"
    };
}

/// `$2` and `$3` of a query using [`VISIBLE_AREAS`].
pub fn visibility(principal: &Principal) -> (Option<String>, i32) {
    let all = i32::from(principal.visible_area_roots().is_none());
    (principal.user_id.map(|u| u.to_string()), all)
}

fn area_from_row(row: &sqlx::any::AnyRow) -> Result<Area, DbError> {
    let get = |name: &str| row.try_get::<String, _>(name);
    let parent: Option<String> = row.try_get("parent_id")?;
    Ok(Area {
        id: parse_id(&get("id")?)?,
        tenant_id: parse_id(&get("tenant_id")?)?,
        parent_id: parent.as_deref().map(parse_id).transpose()?,
        name: get("name")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// The area `area` of `tenant`, or none.
pub async fn find(tx: &mut Tx, tenant: Uuid, area: Uuid) -> Result<Option<Area>, DbError> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM areas WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.to_string())
    .bind(area.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .as_ref()
    .map(area_from_row)
    .transpose()
}

/// The area named in a request body: 422 naming `field` if it is not one of the tenant's.
pub async fn referenced(
    tx: &mut Tx,
    tenant: Uuid,
    area: Uuid,
    field: &str,
) -> Result<Area, ApiError> {
    find(tx, tenant, area)
        .await?
        .ok_or_else(|| ApiError::invalid_field(field, "no such area"))
}

/// Areas the caller sees.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/areas", tag = "areas", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), Page),
    responses((status = 200, description = "Areas", body = AreaList)))]
pub async fn list_areas(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<AreaList>, ApiError> {
    let tenant = principal.tenant_for(tenant_id)?;
    let (limit, offset) = page.bounds()?;
    let (user, all) = visibility(&principal);
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
    principal.require_tenant_exists(&mut tx, tenant).await?;
    let rows = sqlx::query(concat!(
        visible_areas!(),
        " SELECT ",
        columns!(),
        " FROM areas WHERE tenant_id = $1 \
         AND ($3 = 1 OR id IN (SELECT id FROM visible)) ORDER BY created_at, id LIMIT $4 OFFSET $5"
    ))
    .bind(tenant.to_string())
    .bind(user)
    .bind(all)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let items = rows.iter().map(area_from_row).collect::<Result<_, _>>()?;
    Ok(Json(AreaList { items }))
}

/// Creates an area under `parent_id`, or a root area.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/areas", tag = "areas", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    request_body = CreateArea,
    responses((status = 201, description = "Created", body = Area)))]
pub async fn create_area(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<CreateArea>,
) -> Result<(StatusCode, Json<Area>), ApiError> {
    audited(
        &state.db,
        &principal,
        "area.create",
        &tenant_id.to_string(),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            principal.require_tenant_exists(&mut tx, tenant).await?;
            match request.parent_id {
                Some(parent) => {
                    referenced(&mut tx, tenant, parent, "parent_id").await?;
                    principal
                        .require_area_role(&mut tx, tenant, parent, Role::TenantAdmin)
                        .await
                        .map_err(|e| {
                            if e.status() == StatusCode::NOT_FOUND {
                                ApiError::invalid_field("parent_id", "no such area")
                            } else {
                                e
                            }
                        })?;
                }
                None => principal.require_tenant_role(Role::TenantAdmin)?,
            }
            let id = Uuid::new_v4();
            let now = now_ms();
            sqlx::query(
                "INSERT INTO areas (id, tenant_id, parent_id, name, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(id.to_string())
            .bind(tenant.to_string())
            .bind(request.parent_id.map(|p| p.to_string()))
            .bind(request.name.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "area.create",
                &format!("area:{id}"),
            )
            .await?;
            let area = find(&mut tx, tenant, id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            tx.commit().await?;
            Ok((StatusCode::CREATED, Json(area)))
        },
    )
    .await
}

/// One area.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/areas/{area_id}", tag = "areas", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("area_id" = Uuid, Path)),
    responses((status = 200, description = "The area", body = Area)))]
pub async fn get_area(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, area_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Area>, ApiError> {
    let tenant = principal.tenant_for(tenant_id)?;
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
    let area = find(&mut tx, tenant, area_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    principal
        .require_area_role(&mut tx, tenant, area_id, Role::Viewer)
        .await?;
    tx.commit().await?;
    Ok(Json(area))
}

/// Renames an area.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/areas/{area_id}", tag = "areas", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("area_id" = Uuid, Path)),
    request_body = UpdateArea,
    responses((status = 200, description = "Updated", body = Area)))]
pub async fn update_area(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, area_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<UpdateArea>,
) -> Result<Json<Area>, ApiError> {
    audited(
        &state.db,
        &principal,
        "area.update",
        &format!("area:{area_id}"),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            find(&mut tx, tenant, area_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            principal
                .require_area_role(&mut tx, tenant, area_id, Role::TenantAdmin)
                .await?;
            if let Some(name) = &request.name {
                sqlx::query(
                    "UPDATE areas SET name = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4",
                )
                .bind(name.as_str())
                .bind(now_ms())
                .bind(tenant.to_string())
                .bind(area_id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "area.update",
                &format!("area:{area_id}"),
            )
            .await?;
            let area = find(&mut tx, tenant, area_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            tx.commit().await?;
            Ok(Json(area))
        },
    )
    .await
}

/// Deletes an empty area (no child areas, no devices).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/areas/{area_id}", tag = "areas", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("area_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_area(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, area_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    audited(
        &state.db,
        &principal,
        "area.delete",
        &format!("area:{area_id}"),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            find(&mut tx, tenant, area_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            principal
                .require_area_role(&mut tx, tenant, area_id, Role::TenantAdmin)
                .await?;
            let in_use: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM areas WHERE tenant_id = $1 AND parent_id = $2) \
             + (SELECT COUNT(*) FROM devices WHERE tenant_id = $1 AND area_id = $2)",
            )
            .bind(tenant.to_string())
            .bind(area_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
            if in_use > 0 {
                return Err(ApiError::conflict(
                    crate::error::ErrorCode::AreaNotEmpty,
                    "the area still has child areas or devices; move or delete them first",
                ));
            }
            sqlx::query("DELETE FROM areas WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(area_id.to_string())
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "area.delete",
                &format!("area:{area_id}"),
            )
            .await?;
            tx.commit().await?;
            Ok(StatusCode::NO_CONTENT)
        },
    )
    .await
}
