//! Reading the audit log: a tenant's admins read their tenant's records, newest first.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::begin_list;
use super::types::Page;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::audit as store;

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
    /// Why, when the action alone does not say (the invoice a tenant was suspended for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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
    let caller = (&state, &principal);
    let admin = Some(Role::TenantAdmin);
    let (mut tx, tenant, bounds) = begin_list(caller, tenant_id, &page, admin).await?;
    let items = store::list(&mut tx, tenant, bounds).await?;
    tx.commit().await?;
    Ok(Json(AuditList { items }))
}
