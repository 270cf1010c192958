//! Areas: a tree of organisational units inside a tenant (community, building, floor...).
//! A role granted on an area holds on every area below it; a caller sees the areas under its
//! grants (all of them with a tenant-wide role), and another area of its tenant answers 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::{Name, Page};
use super::{begin, begin_existing, list_visible_page};
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{Mode, Tx};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::Visibility;
use crate::store::areas as store;

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
    /// Moves the area (with everything below it) under this area, or to the root for
    /// `null`; left where it is when absent. Needs the tenant admin role on the area and on
    /// its new parent (on the whole tenant for the root); an area cannot move below itself.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub parent_id: Option<Option<Uuid>>,
}

/// A field that is present, `null` included: `Some(None)` for `null`, `None` when absent
/// (with `#[serde(default)]`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Which areas the caller sees, for the store's lists.
pub fn visibility(principal: &Principal) -> Visibility {
    let all = i32::from(principal.visible_area_roots().is_none());
    (principal.user_id.map(|u| u.to_string()), all)
}

/// The area named in a request body: 422 naming `field` if it is not one of the tenant's.
pub async fn referenced(
    tx: &mut Tx,
    tenant: Uuid,
    area: Uuid,
    field: &str,
) -> Result<Area, ApiError> {
    crate::store::find::<Area>(tx, tenant, area)
        .await?
        .ok_or_else(|| ApiError::invalid_field(field, "no such area"))
}

/// The area `area`, once the caller holds `role` on it (404 for an area it does not see).
async fn with_role(
    tx: &mut Tx,
    principal: &Principal,
    (tenant, area): (Uuid, Uuid),
    role: Role,
) -> Result<Area, ApiError> {
    let found = crate::store::find::<Area>(tx, tenant, area).await?;
    let found = found.ok_or_else(ApiError::not_found)?;
    principal.require_area_role(tx, tenant, area, role).await?;
    Ok(found)
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
    let items = list_visible_page((&state, &principal), tenant_id, &page).await?;
    Ok(Json(AreaList { items }))
}

/// 422 naming `parent_id` unless the caller is a tenant admin of `parent` (of the whole
/// tenant for a root area).
async fn check_parent(
    tx: &mut Tx,
    principal: &Principal,
    tenant: Uuid,
    parent: Option<Uuid>,
) -> Result<(), ApiError> {
    let Some(parent) = parent else {
        return principal.require_tenant_role(Role::TenantAdmin);
    };
    referenced(tx, tenant, parent, "parent_id").await?;
    let held = principal.require_area_role(tx, tenant, parent, Role::TenantAdmin);
    held.await.map_err(|e| {
        if e.status() == StatusCode::NOT_FOUND {
            ApiError::invalid_field("parent_id", "no such area")
        } else {
            e
        }
    })
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
    let (action, target) = ("area.create", tenant_id.to_string());
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
        check_parent(&mut tx, &principal, tenant, request.parent_id).await?;
        let id = Uuid::new_v4();
        let name = request.name.as_str();
        store::insert(&mut tx, tenant, (id, request.parent_id), name).await?;
        let area = crate::store::find::<Area>(&mut tx, tenant, id).await?;
        let area = area.ok_or_else(ApiError::not_found)?;
        audit::commit(tx, &principal, Some(tenant), action, &format!("area:{id}")).await?;
        Ok((StatusCode::CREATED, Json(area)))
    })
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
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    let area = with_role(&mut tx, &principal, (tenant, area_id), Role::Viewer).await?;
    tx.commit().await?;
    Ok(Json(area))
}

/// Renames an area, or moves it under another (or to the root).
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
    let (action, target) = ("area.update", format!("area:{area_id}"));
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        let ids = (tenant, area_id);
        let mut area = with_role(&mut tx, &principal, ids, Role::TenantAdmin).await?;
        if let Some(name) = &request.name {
            store::rename(&mut tx, tenant, area_id, name.as_str()).await?;
        }
        if let Some(parent) = request.parent_id {
            check_parent(&mut tx, &principal, tenant, parent).await?;
            if let Some(parent) = parent
                && store::path_to_root(&mut tx, tenant, parent)
                    .await?
                    .contains(&area_id)
            {
                let message = "an area cannot move under itself or an area below it";
                return Err(ApiError::invalid_field("parent_id", message));
            }
            store::set_parent(&mut tx, tenant, area_id, parent).await?;
        }
        if request.name.is_some() || request.parent_id.is_some() {
            area = crate::store::find::<Area>(&mut tx, tenant, area_id)
                .await?
                .unwrap_or(area);
        }
        audit::commit(tx, &principal, Some(tenant), action, &target).await?;
        Ok(Json(area))
    })
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
    let (action, target) = ("area.delete", format!("area:{area_id}"));
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        with_role(&mut tx, &principal, (tenant, area_id), Role::TenantAdmin).await?;
        if store::in_use(&mut tx, tenant, area_id).await? {
            return Err(ApiError::conflict(
                crate::error::ErrorCode::AreaNotEmpty,
                "the area still has child areas or devices; move or delete them first",
            ));
        }
        store::delete(&mut tx, tenant, area_id).await?;
        audit::commit(tx, &principal, Some(tenant), action, &target).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
