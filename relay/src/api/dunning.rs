//! Dunning through the API (docs/design/0080-billing.md, "Dunning"): a tenant's standing with
//! what is overdue (its admins), and the dunning check run now (platform admins).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::begin_as_tenant_admin;
use super::types::rfc3339;
use crate::audit::{self, audited};
use crate::auth::Principal;
use crate::db::{Mode, Scope};
use crate::dunning::check::{self, CheckOptions};
use crate::dunning::standing;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::store::invoices;
use crate::store::standing as stored;

/// An invoice overdue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OverdueInvoice {
    pub id: Uuid,
    pub number: String,
    pub period: String,
    pub currency: String,
    /// What is still owed on it.
    pub balance_minor: i64,
    pub due_at: String,
}

/// A tenant's standing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantStanding {
    /// `good`; `overdue` (warned); `suspended` (no new searches, no device changes, its
    /// boxes refuse cloud searches).
    #[schema(pattern = "^(good|overdue|suspended)$")]
    pub standing: String,
    /// Since when; absent for a tenant never out of good standing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Why, as the audit log records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its overdue invoices, oldest due first: paying them all restores it.
    pub overdue: Vec<OverdueInvoice>,
}

/// The tenant's standing and what is overdue (its admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/billing/standing", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, description = "The standing", body = TenantStanding)))]
pub async fn get_standing(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Json<TenantStanding>, ApiError> {
    let (mut tx, tenant) = begin_as_tenant_admin(&state, &principal, tenant_id, Mode::Read).await?;
    let found = stored::get(&mut tx, tenant).await?;
    let overdue = invoices::overdue(&mut tx, tenant).await?;
    tx.commit().await?;
    let known = found.since > 0;
    Ok(Json(TenantStanding {
        standing: found.standing,
        since: known.then(|| rfc3339(found.since)),
        reason: known.then_some(found.reason),
        overdue: overdue
            .into_iter()
            .map(|invoice| OverdueInvoice {
                id: invoice.id,
                balance_minor: invoice.balance_minor(),
                number: invoice.number,
                period: invoice.period,
                currency: invoice.currency,
                due_at: rfc3339(invoice.due_at),
            })
            .collect(),
    }))
}

/// What to check. A JSON object only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    try_from = "serde_json::Map<String, serde_json::Value>",
    deny_unknown_fields
)]
pub struct StartDunning {
    /// One tenant only.
    pub tenant_id: Option<Uuid>,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for StartDunning {
    type Error = serde_json::Error;

    fn try_from(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            tenant_id: Option<Uuid>,
        }
        let fields: Fields = serde_json::from_value(serde_json::Value::Object(object))?;
        Ok(StartDunning {
            tenant_id: fields.tenant_id,
        })
    }
}

/// One tenant moved.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StandingMove {
    pub tenant_id: Uuid,
    #[schema(pattern = "^(good|overdue|suspended)$")]
    pub from: String,
    #[schema(pattern = "^(good|overdue|suspended)$")]
    pub to: String,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DunningReport {
    /// Tenants with an invoice past due that were looked at.
    pub tenants: u64,
    /// Invoices marked overdue now.
    pub invoices_overdue: u64,
    pub moved: Vec<StandingMove>,
}

/// Runs the dunning check now (platform admins), as the scheduler does: invoices unpaid past
/// their due date and the tenant's allowance are marked overdue, and tenants moved to
/// `overdue` or `suspended`, with their notices. A check never restores: payments do.
#[utoipa::path(post, path = "/api/v1/billing/dunning-runs", tag = "billing", security(("bearer" = [])),
    request_body = StartDunning,
    responses((status = 200, description = "What the check did", body = DunningReport)))]
pub async fn run_dunning(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<StartDunning>,
) -> Result<Json<DunningReport>, ApiError> {
    audited(&state.db, &principal, "billing.dunning", "billing", async {
        principal.require_platform_admin()?;
        if let Some(tenant) = request.tenant_id {
            super::require_made_tenant(&state, tenant).await?;
        }
        let options = CheckOptions {
            as_of: jiff::Timestamp::now(),
            tenant: request.tenant_id,
        };
        let summary = check::run(&state.db, options).await?;
        standing::tell_online(state.uplink.as_ref(), &summary.moved).await;
        let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
        audit::record(
            &mut tx,
            &principal,
            request.tenant_id,
            "billing.dunning",
            "billing",
        )
        .await?;
        tx.commit().await?;
        Ok(Json(DunningReport {
            tenants: summary.tenants,
            invoices_overdue: summary.invoices_overdue,
            moved: summary
                .moved
                .into_iter()
                .map(|moved| StandingMove {
                    tenant_id: moved.tenant_id,
                    from: moved.from.as_str().to_owned(),
                    to: moved.to.as_str().to_owned(),
                    reason: moved.reason,
                })
                .collect(),
        }))
    })
    .await
}
