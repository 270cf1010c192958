//! Reports for platform admins, from the invoices and the meters' rollups: revenue by month,
//! tenants by status and standing, and each tenant's usage and boxes billed in a month.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use billing::BillingMonth;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::{Mode, Scope};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::metering::{usage, zones};
use crate::state::AppState;
pub use crate::store::reports::RevenueMonth;
use crate::store::{meters, reports, standing, tenants};

fn month(field: &str, text: &str) -> Result<BillingMonth, ApiError> {
    text.parse::<BillingMonth>()
        .map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RevenueQuery {
    /// The first month, `YYYY-MM`. Default: twelve months before `to`.
    #[param(example = "2026-01")]
    pub from: Option<String>,
    /// The last month, `YYYY-MM`. Default: the current month (UTC).
    #[param(example = "2026-12")]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevenueReport {
    pub from: String,
    pub to: String,
    /// By month, then currency.
    pub months: Vec<RevenueMonth>,
}

/// Revenue by month (platform admins).
#[utoipa::path(get, path = "/api/v1/reports/revenue", tag = "reports", security(("bearer" = [])),
    params(RevenueQuery),
    responses((status = 200, description = "Revenue by month and currency", body = RevenueReport)))]
pub async fn revenue(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<RevenueQuery>,
) -> Result<Json<RevenueReport>, ApiError> {
    principal.require_platform_admin()?;
    let to = match &query.to {
        Some(text) => month("to", text)?,
        None => BillingMonth::containing(jiff::Timestamp::now(), &jiff::tz::TimeZone::UTC)
            .map_err(|e| ApiError::invalid_field("to", e.to_string()))?,
    };
    let from = match &query.from {
        Some(text) => month("from", text)?,
        None => {
            let mut from = to;
            for _ in 0..11 {
                from = from.previous().unwrap_or(from);
            }
            from
        }
    };
    if from > to {
        return Err(ApiError::invalid_field("from", "must not be after `to`"));
    }
    let (from, to) = (from.to_string(), to.to_string());
    let mut tx = state.db.begin(Scope::Platform, Mode::Read).await?;
    let months = reports::revenue(&mut tx, (&from, &to)).await?;
    tx.commit().await?;
    Ok(Json(RevenueReport { from, to, months }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantsReport {
    /// Tenants by status: `enabled`, `disabled`.
    pub by_status: BTreeMap<String, i64>,
    /// Tenants by billing standing: `good`, `overdue`, `suspended`.
    pub by_standing: BTreeMap<String, i64>,
}

/// Tenants by status and standing (platform admins).
#[utoipa::path(get, path = "/api/v1/reports/tenants", tag = "reports", security(("bearer" = [])),
    responses((status = 200, description = "Tenants by state", body = TenantsReport)))]
pub async fn tenants_by_state(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<TenantsReport>, ApiError> {
    principal.require_platform_admin()?;
    let mut tx = state.db.begin(Scope::Platform, Mode::Read).await?;
    let by_status = reports::tenants_by_status(&mut tx).await?;
    let by_standing = standing::count_by_standing(&mut tx).await?;
    tx.commit().await?;
    let mut standing: BTreeMap<String, i64> = ["good", "overdue", "suspended"]
        .iter()
        .map(|s| ((*s).to_owned(), 0))
        .collect();
    standing.extend(by_standing);
    Ok(Json(TenantsReport {
        by_status: by_status.into_iter().collect(),
        by_standing: standing,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageReportQuery {
    /// The month, `YYYY-MM`, in each tenant's zone.
    #[param(example = "2026-11")]
    pub month: String,
    /// At most this many tenants (1 to 200). Default 100.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The page after this tenant id (tenants in id order).
    pub after: Option<Uuid>,
}

/// One tenant's usage of the month.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantUsage {
    pub tenant_id: Uuid,
    pub name: String,
    pub time_zone: String,
    /// The boxes billed: seen online on a day of the month, or registered during it, as
    /// the tenant's basis says.
    pub devices_billed: i64,
    /// Each meter's total: `device_days`, `traffic_bytes`, `api_calls`, `searches`,
    /// `camera_hours` (in camera-seconds).
    pub totals: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageByTenant {
    pub month: String,
    pub items: Vec<TenantUsage>,
    /// The next page's `after`, when there may be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<Uuid>,
}

/// Usage and boxes billed per tenant in a month (platform admins), a page of tenants at a
/// time.
#[utoipa::path(get, path = "/api/v1/reports/usage", tag = "reports", security(("bearer" = [])),
    params(UsageReportQuery),
    responses((status = 200, description = "Usage per tenant", body = UsageByTenant)))]
pub async fn usage_by_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<UsageReportQuery>,
) -> Result<Json<UsageByTenant>, ApiError> {
    principal.require_platform_admin()?;
    let month = month("month", &query.month)?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid_query("limit", "limit must be 1 to 200"));
    }
    let mut tx = state.db.begin(Scope::Platform, Mode::Read).await?;
    let page = tenants::ids_after(&mut tx, query.after, i64::from(limit)).await?;
    let (first, last) = (month.first_day().to_string(), month.last_day().to_string());
    let mut items = Vec::with_capacity(page.len());
    for tenant in &page {
        let name = tenants::find(&mut tx, *tenant)
            .await?
            .map_or_else(String::new, |t| t.name);
        let used = match usage::month(&mut tx, *tenant, month).await {
            Ok(used) => used,
            Err(usage::UsageError::Db(e)) => return Err(e.into()),
            Err(usage::UsageError::Billing(e)) => {
                return Err(ApiError::invalid_field("month", e.to_string()));
            }
        };
        let devices_billed = if used.device_day_basis == "registered" {
            let zone = zones::zone_or_default(&used.time_zone);
            match (month.start(&zone), month.end(&zone)) {
                (Ok(start), Ok(end)) => {
                    let span = (start.as_millisecond(), end.as_millisecond());
                    i64::try_from(meters::registrations(&mut tx, *tenant, span).await?.len())
                        .unwrap_or(i64::MAX)
                }
                _ => 0,
            }
        } else {
            reports::devices_seen(&mut tx, *tenant, (&first, &last)).await?
        };
        items.push(TenantUsage {
            tenant_id: *tenant,
            name,
            time_zone: used.time_zone.clone(),
            devices_billed,
            totals: used.totals(),
        });
    }
    tx.commit().await?;
    let full = page.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    Ok(Json(UsageByTenant {
        month: month.to_string(),
        next_after: if full { page.last().copied() } else { None },
        items,
    }))
}
