//! A tenant's users and their role grants, managed by the tenant's admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::{Email, Name, Page, Password, rfc3339};
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{DbError, Mode, Scope, Tx, now_ms, parse_id};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

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

macro_rules! columns {
    () => {
        "id, tenant_id, email, display_name, status, created_at, updated_at"
    };
}

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, DbError> {
    let get = |name: &str| row.try_get::<String, _>(name);
    Ok(User {
        id: parse_id(&get("id")?)?,
        tenant_id: parse_id(&get("tenant_id")?)?,
        email: get("email")?,
        display_name: get("display_name")?,
        status: get("status")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

fn grant_from_row(row: &sqlx::any::AnyRow) -> Result<RoleGrant, DbError> {
    let get = |name: &str| row.try_get::<String, _>(name);
    let area: Option<String> = row.try_get("area_id")?;
    Ok(RoleGrant {
        id: parse_id(&get("id")?)?,
        user_id: parse_id(&get("user_id")?)?,
        role: Role::parse(&get("role")?).unwrap_or(Role::Viewer),
        area_id: area.as_deref().map(parse_id).transpose()?,
        created_at: rfc3339(row.try_get("created_at")?),
    })
}

async fn find(tx: &mut Tx, tenant: Uuid, user: Uuid) -> Result<User, ApiError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM users WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.to_string())
    .bind(user.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(ApiError::not_found)?;
    Ok(user_from_row(&row)?)
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
    let tenant = principal.tenant_for(tenant_id)?;
    principal.require_tenant_role(Role::TenantAdmin)?;
    let (limit, offset) = page.bounds()?;
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
    principal.require_tenant_exists(&mut tx, tenant).await?;
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM users WHERE tenant_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
    ))
    .bind(tenant.to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let items = rows.iter().map(user_from_row).collect::<Result<_, _>>()?;
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
    audited(
        &state.db,
        &principal,
        "user.create",
        &tenant_id.to_string(),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            principal.require_tenant_role(Role::TenantAdmin)?;
            {
                // The tenant must exist (a platform admin may name any id).
                let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
                let found: Option<String> =
                    sqlx::query_scalar("SELECT status FROM tenants WHERE id = $1")
                        .bind(tenant.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                tx.commit().await?;
                if found.is_none() {
                    return Err(ApiError::not_found());
                }
            }
            let hash = state
                .passwords
                .hash(request.password.into_inner())
                .await
                .map_err(|e| ApiError::internal(&e))?;
            let id = Uuid::new_v4();
            let display_name = request.display_name.as_ref().map_or_else(
                || request.email.as_str().to_owned(),
                |n| n.as_str().to_owned(),
            );
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            sqlx::query(
            "INSERT INTO users (id, tenant_id, email, display_name, password_hash, platform_admin, \
             status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, 'active', $6, $6)",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(request.email.as_str())
        .bind(&display_name)
        .bind(&hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(|e| match DbError::from_sqlx(e) {
            // Only this tenant's users count: another tenant's e-mail is another account.
            DbError::Constraint(_) => ApiError::conflict(
                crate::error::ErrorCode::EmailTaken,
                "this tenant already has a user with this email",
            )
            .with_field("email"),
            other => other.into(),
        })?;
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "user.create",
                &format!("user:{id}"),
            )
            .await?;
            let user = find(&mut tx, tenant, id).await?;
            tx.commit().await?;
            Ok((StatusCode::CREATED, Json(user)))
        },
    )
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
    let tenant = principal.tenant_for(tenant_id)?;
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
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
    audited(&state.db, &principal, "user.update", &format!("user:{user_id}"), async {
        let tenant = principal.tenant_for(tenant_id)?;
        {
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
            find(&mut tx, tenant, user_id).await?;
            tx.commit().await?;
        }
        principal.require_tenant_role(Role::TenantAdmin)?;
        let hash = match request.password {
            Some(password) => Some(
                state
                    .passwords
                    .hash(password.into_inner())
                    .await
                    .map_err(|e| ApiError::internal(&e))?,
            ),
            None => None,
        };
        let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
        let status = request.status.map(|s| match s {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        });
        sqlx::query(
            "UPDATE users SET display_name = COALESCE($1, display_name), status = COALESCE($2, status), \
             password_hash = COALESCE($3, password_hash), updated_at = $4 WHERE tenant_id = $5 AND id = $6",
        )
        .bind(request.display_name.as_ref().map(|n| n.as_str().to_owned()))
        .bind(status)
        .bind(hash.clone())
        .bind(now_ms())
        .bind(tenant.to_string())
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await?;
        if status == Some("disabled") || hash.is_some() {
            // Every session ends, and its access tokens with it at their next request.
            crate::auth::sessions::revoke_all_of_user(&mut tx, tenant, user_id).await?;
        }
        audit::record(&mut tx, &principal, Some(tenant), "user.update", &format!("user:{user_id}")).await?;
        let user = find(&mut tx, tenant, user_id).await?;
        tx.commit().await?;
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
    audited(
        &state.db,
        &principal,
        "user.delete",
        &format!("user:{user_id}"),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            find(&mut tx, tenant, user_id).await?;
            principal.require_tenant_role(Role::TenantAdmin)?;
            sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "user.delete",
                &format!("user:{user_id}"),
            )
            .await?;
            tx.commit().await?;
            Ok(StatusCode::NO_CONTENT)
        },
    )
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
    let tenant = principal.tenant_for(tenant_id)?;
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
    find(&mut tx, tenant, user_id).await?;
    principal.require_tenant_role(Role::TenantAdmin)?;
    let rows = sqlx::query(
        "SELECT id, user_id, role, area_id, created_at FROM role_grants \
         WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id",
    )
    .bind(tenant.to_string())
    .bind(user_id.to_string())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let items = rows.iter().map(grant_from_row).collect::<Result<_, _>>()?;
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
    audited(
        &state.db,
        &principal,
        "grant.create",
        &format!("user:{user_id}"),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            find(&mut tx, tenant, user_id).await?;
            principal.require_tenant_role(Role::TenantAdmin)?;
            if let Some(area) = request.area_id {
                super::areas::referenced(&mut tx, tenant, area, "area_id").await?;
            }
            let id = Uuid::new_v4();
            sqlx::query(
                "INSERT INTO role_grants (id, tenant_id, user_id, role, area_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id.to_string())
            .bind(tenant.to_string())
            .bind(user_id.to_string())
            .bind(request.role.as_str())
            .bind(request.area_id.map(|a| a.to_string()))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "grant.create",
                &format!("grant:{id}"),
            )
            .await?;
            let row = sqlx::query(
                "SELECT id, user_id, role, area_id, created_at FROM role_grants WHERE id = $1",
            )
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
            let grant = grant_from_row(&row)?;
            tx.commit().await?;
            Ok((StatusCode::CREATED, Json(grant)))
        },
    )
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
    audited(
        &state.db,
        &principal,
        "grant.delete",
        &format!("grant:{grant_id}"),
        async {
            let tenant = principal.tenant_for(tenant_id)?;
            let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            let exists: Option<String> = sqlx::query_scalar(
                "SELECT id FROM role_grants WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
            )
            .bind(tenant.to_string())
            .bind(user_id.to_string())
            .bind(grant_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                return Err(ApiError::not_found());
            }
            principal.require_tenant_role(Role::TenantAdmin)?;
            sqlx::query("DELETE FROM role_grants WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(grant_id.to_string())
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                &principal,
                Some(tenant),
                "grant.delete",
                &format!("grant:{grant_id}"),
            )
            .await?;
            tx.commit().await?;
            Ok(StatusCode::NO_CONTENT)
        },
    )
    .await
}
