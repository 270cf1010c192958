//! Reading the audit log: a tenant's admins read their tenant's records, newest first.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::{Page, rfc3339};
use crate::auth::{Principal, Role};
use crate::db::{DbError, Mode, Scope, parse_id};
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    /// `user:<id>`, `oidc:<subject>` or `device:<id>`.
    pub actor: String,
    /// Such as `device.register`.
    pub action: String,
    pub target: String,
    pub remote_addr: String,
    /// `success`, or `refused: <error code>`.
    pub outcome: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditRecord>,
}

/// The tenant's audit records, newest first (tenant admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/audit", tag = "audit", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), Page),
    responses((status = 200, description = "Audit records", body = AuditList)))]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<AuditList>, ApiError> {
    let tenant = principal.tenant_for(tenant_id)?;
    principal.require_tenant_role(Role::TenantAdmin)?;
    let (limit, offset) = page.bounds()?;
    let mut tx = state.db.begin(Scope::Tenant(tenant), Mode::Read).await?;
    principal.require_tenant_exists(&mut tx, tenant).await?;
    let rows = sqlx::query(
        "SELECT id, tenant_id, actor, action, target, remote_addr, outcome, created_at FROM audit_log \
         WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(tenant.to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let items = rows
        .iter()
        .map(|row| {
            let get = |name: &str| row.try_get::<String, _>(name);
            let tenant: Option<String> = row.try_get("tenant_id")?;
            Ok(AuditRecord {
                id: parse_id(&get("id")?)?,
                tenant_id: tenant.as_deref().map(parse_id).transpose()?,
                actor: get("actor")?,
                action: get("action")?,
                target: get("target")?,
                remote_addr: get("remote_addr")?,
                outcome: get("outcome")?,
                created_at: rfc3339(row.try_get("created_at")?),
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok(Json(AuditList { items }))
}
