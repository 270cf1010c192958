//! A tenant's users and their role grants, managed by the tenant's admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::{Email, Name, Page, Password};
use super::{begin, begin_list};
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{DbError, Mode, Tx};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::users as store;
use crate::store::{grants, sessions, tenants};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub display_name: String,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub items: Vec<User>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(value_type = String, min_length = 3, max_length = 254, pattern = r"^[^@\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0]+@[^@\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0]+$")]
    pub email: Email,
    #[schema(value_type = String, min_length = 12, max_length = 1024, pattern = r"^[^\u0000]+$")]
    pub password: Password,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub display_name: Option<Name>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\u0000-\u0020\u007F-\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$")]
    pub display_name: Option<Name>,
    pub status: Option<UserStatus>,
    #[schema(value_type = Option<String>, min_length = 12, max_length = 1024, pattern = r"^[^\u0000]+$")]
    pub password: Option<Password>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleGrant {
    pub id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    /// The area the role holds on (and below); none for the whole tenant.
    pub area_id: Option<Uuid>,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleGrantList {
    pub items: Vec<RoleGrant>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    pub role: Role,
    /// The area to grant on; none for the whole tenant.
    pub area_id: Option<Uuid>,
}

async fn find(tx: &mut Tx, tenant: Uuid, user: Uuid) -> Result<User, ApiError> {
    crate::store::find::<User>(tx, tenant, user)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The user `user`, once the caller is found to be a tenant admin (404 first for no user).
async fn administered(
    tx: &mut Tx,
    principal: &Principal,
    tenant: Uuid,
    user: Uuid,
) -> Result<User, ApiError> {
    let found = find(tx, tenant, user).await?;
    principal.require_tenant_role(Role::TenantAdmin)?;
    Ok(found)
}

async fn hash(state: &AppState, password: Password) -> Result<String, ApiError> {
    let hashed = state.passwords.hash(password.into_inner()).await;
    hashed.map_err(|e| ApiError::internal(&e))
}

/// The tenant's users (tenant admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/users", tag = "users", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), Page),
    responses((status = 200, description = "Users", body = UserList)))]
pub async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<UserList>, ApiError> {
    let caller = (&state, &principal);
    let admin = Some(Role::TenantAdmin);
    let (mut tx, tenant, bounds) = begin_list(caller, tenant_id, &page, admin).await?;
    let items = store::list(&mut tx, tenant, bounds).await?;
    tx.commit().await?;
    Ok(Json(UserList { items }))
}

/// Adds a user to the tenant (tenant admins). An e-mail is unique within its tenant only:
/// whether it is used in another tenant, or by a platform admin, changes nothing here
/// (docs/design/0001-user-identity.md).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/users", tag = "users", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    request_body = CreateUser,
    responses((status = 201, description = "Created", body = User)))]
pub async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let (action, target) = ("user.create", tenant_id.to_string());
    audited(&state.db, &principal, action, &target, async {
        principal.tenant_for(tenant_id)?;
        principal.require_tenant_role(Role::TenantAdmin)?;
        // The tenant must exist (a platform admin may name any id).
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
        let found = tenants::status(&mut tx, tenant).await?;
        tx.commit().await?;
        found.ok_or_else(ApiError::not_found)?;
        let hash = hash(&state, request.password).await?;
        let email = request.email.as_str();
        let name = request.display_name.as_ref().map_or(email, Name::as_str);
        let id = Uuid::new_v4();
        let (mut tx, _) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        let new = store::NewUser {
            id,
            tenant: Some(tenant),
            email,
            display_name: name,
            password_hash: &hash,
        };
        store::insert(&mut tx, new).await.map_err(|e| match e {
            // Only this tenant's users count: another tenant's e-mail is another account.
            DbError::Constraint(_) => ApiError::conflict(
                crate::error::ErrorCode::EmailTaken,
                "this tenant already has a user with this email",
            )
            .with_field("email"),
            other => other.into(),
        })?;
        let user = find(&mut tx, tenant, id).await?;
        audit::commit(tx, &principal, Some(tenant), action, &format!("user:{id}")).await?;
        Ok((StatusCode::CREATED, Json(user)))
    })
    .await
}

/// One user (tenant admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, description = "The user", body = User)))]
pub async fn get_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<User>, ApiError> {
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    let user = find(&mut tx, tenant, user_id).await?;
    tx.commit().await?;
    if principal.user_id != Some(user_id) {
        principal.require_tenant_role(Role::TenantAdmin)?;
    }
    Ok(Json(user))
}

/// Changes a user's display name, status or password (tenant admins). Disabling a user or
/// changing its password ends all its sessions: their access tokens are refused at once.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = UpdateUser,
    responses((status = 200, description = "Updated", body = User)))]
pub async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, user_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<UpdateUser>,
) -> Result<Json<User>, ApiError> {
    let (action, target) = ("user.update", format!("user:{user_id}"));
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
        administered(&mut tx, &principal, tenant, user_id).await?;
        tx.commit().await?;
        let hash = match request.password {
            Some(password) => Some(hash(&state, password).await?),
            None => None,
        };
        let status = request.status.map(|s| match s {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        });
        let change = store::UserChange {
            display_name: request.display_name.as_ref().map(Name::as_str),
            status,
            password_hash: hash.as_deref(),
        };
        let (mut tx, _) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        store::update(&mut tx, tenant, user_id, change).await?;
        if status == Some("disabled") || hash.is_some() {
            // Every session ends, and its access tokens with it at their next request.
            sessions::revoke_all_of_user(&mut tx, tenant, user_id).await?;
        }
        let user = find(&mut tx, tenant, user_id).await?;
        audit::commit(tx, &principal, Some(tenant), action, &target).await?;
        Ok(Json(user))
    })
    .await
}

/// Removes a user (tenant admins).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let (action, target) = ("user.delete", format!("user:{user_id}"));
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        administered(&mut tx, &principal, tenant, user_id).await?;
        store::delete(&mut tx, tenant, user_id).await?;
        audit::commit(tx, &principal, Some(tenant), action, &target).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// A user's role grants (tenant admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/users/{user_id}/grants", tag = "users", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, description = "Grants", body = RoleGrantList)))]
pub async fn list_grants(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<RoleGrantList>, ApiError> {
    let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Read).await?;
    administered(&mut tx, &principal, tenant, user_id).await?;
    let items = grants::of_user(&mut tx, tenant, user_id).await?;
    tx.commit().await?;
    Ok(Json(RoleGrantList { items }))
}

/// Grants a role on the tenant or an area (tenant admins).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/users/{user_id}/grants", tag = "users", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = CreateGrant,
    responses((status = 201, description = "Granted", body = RoleGrant)))]
pub async fn create_grant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, user_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<CreateGrant>,
) -> Result<(StatusCode, Json<RoleGrant>), ApiError> {
    let (action, target) = ("grant.create", format!("user:{user_id}"));
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        administered(&mut tx, &principal, tenant, user_id).await?;
        if let Some(area) = request.area_id {
            super::areas::referenced(&mut tx, tenant, area, "area_id").await?;
        }
        let id = Uuid::new_v4();
        grants::insert(
            &mut tx,
            tenant,
            (id, user_id),
            request.role,
            request.area_id,
        )
        .await?;
        let grant = crate::store::find::<RoleGrant>(&mut tx, tenant, id).await?;
        let grant = grant.ok_or_else(ApiError::not_found)?;
        audit::commit(tx, &principal, Some(tenant), action, &format!("grant:{id}")).await?;
        Ok((StatusCode::CREATED, Json(grant)))
    })
    .await
}

/// Revokes a grant (tenant admins).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/users/{user_id}/grants/{grant_id}", tag = "users", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path), ("grant_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked")))]
pub async fn delete_grant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, user_id, grant_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let (action, target) = ("grant.delete", format!("grant:{grant_id}"));
    audited(&state.db, &principal, action, &target, async {
        let (mut tx, tenant) = begin(&state, &principal, tenant_id, Mode::Write).await?;
        let found = crate::store::find::<RoleGrant>(&mut tx, tenant, grant_id).await?;
        if found.is_none_or(|g| g.user_id != user_id) {
            return Err(ApiError::not_found());
        }
        principal.require_tenant_role(Role::TenantAdmin)?;
        grants::delete(&mut tx, tenant, grant_id).await?;
        audit::commit(tx, &principal, Some(tenant), action, &target).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
