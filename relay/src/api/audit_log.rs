//! Reading the audit log: a tenant's admins read their tenant's records, newest first,
//! filtered by actor, action and a time range.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
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

/// Which records to list, and the page.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this actor's records (`user:<id>`, `device:<id>`, ...), exactly.
    #[param(max_length = 300)]
    pub actor: Option<String>,
    /// Only this action (`device.register`), or the actions under it (`device` matches
    /// `device.register` and `device.rpc.restart`).
    #[param(max_length = 200)]
    pub action: Option<String>,
    /// Only records at or after this time (RFC 3339 with its offset).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// Only records before this time (RFC 3339 with its offset).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
    /// At most this many items (1 to 500). Default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Skip this many items first. Default 0.
    #[param(minimum = 0, maximum = 1000000)]
    pub offset: Option<u32>,
}

/// A time filter as Unix ms; 400 naming `field` when it is not RFC 3339.
fn time_filter(field: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(|t| {
        t.parse::<jiff::Timestamp>()
            .map(|at| at.as_millisecond())
            .map_err(|_| {
                let message = "must be an RFC 3339 time with its offset";
                ApiError::invalid_query(field, message)
            })
    })
    .transpose()
}

/// A text filter: none when empty; 400 naming `field` when longer than `max` characters.
fn text_filter<'a>(
    field: &str,
    text: Option<&'a str>,
    max: usize,
) -> Result<Option<&'a str>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() > max => Err(ApiError::invalid_query(
            field,
            format!("at most {max} characters"),
        )),
        other => Ok(other),
    }
}

/// The tenant's audit records, newest first (tenant admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/audit", tag = "audit", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), AuditQuery),
    responses((status = 200, description = "Audit records", body = AuditList)))]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let filter = store::Filter {
        actor: text_filter("actor", query.actor.as_deref(), 300)?,
        action: text_filter("action", query.action.as_deref(), 200)?,
        since: time_filter("since", query.since.as_deref())?,
        until: time_filter("until", query.until.as_deref())?,
    };
    let page = Page {
        limit: query.limit,
        offset: query.offset,
    };
    let caller = (&state, &principal);
    let admin = Some(Role::TenantAdmin);
    let (mut tx, tenant, bounds) = begin_list(caller, tenant_id, &page, admin).await?;
    let items = store::list(&mut tx, tenant, filter, bounds).await?;
    tx.commit().await?;
    Ok(Json(AuditList { items }))
}
