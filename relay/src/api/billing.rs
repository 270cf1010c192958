//! Billing through the API (docs/design/0080-billing.md): a tenant's billing settings (its
//! time zone and which days of a box bill), which platform admins set and the tenant's admins
//! read, and its usage of a month as the meters hold it now.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{begin_as_tenant_admin, begin_existing};
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{Mode, now_ms};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::metering::{usage, zones};
use crate::state::AppState;
use crate::store::meters::{self as store, BillingSettings as StoredSettings};

/// Which days of a box bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceDayBasis {
    /// The days (in the tenant's zone) the box was seen online.
    SeenOnline,
    /// Every day from the box's registration to its decommissioning, inclusive.
    Registered,
}

impl DeviceDayBasis {
    fn as_str(self) -> &'static str {
        match self {
            DeviceDayBasis::SeenOnline => "seen_online",
            DeviceDayBasis::Registered => "registered",
        }
    }

    fn parse(text: &str) -> DeviceDayBasis {
        if text == "registered" {
            DeviceDayBasis::Registered
        } else {
            DeviceDayBasis::SeenOnline
        }
    }
}

/// A tenant's billing settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingSettings {
    /// The IANA time zone of the tenant's months and days. Default `Asia/Shanghai`.
    #[schema(example = "Asia/Shanghai")]
    pub time_zone: String,
    /// Default `seen_online`.
    pub device_day_basis: DeviceDayBasis,
    /// Days after its issue an invoice is due (0 to 365). Default 15.
    #[serde(default = "default_payment_days")]
    #[schema(minimum = 0, maximum = 365)]
    pub payment_days: u16,
    /// Days an invoice may stay unpaid past its due date before the tenant is `overdue`
    /// (warned), 0 to 365. Default 7.
    #[serde(default = "default_overdue_after_days")]
    #[schema(minimum = 0, maximum = 365)]
    pub overdue_after_days: u16,
    /// Days after that before the tenant is `suspended` (no new searches, no device
    /// changes), 0 to 365. Default 14.
    #[serde(default = "default_suspend_after_days")]
    #[schema(minimum = 0, maximum = 365)]
    pub suspend_after_days: u16,
    /// Minutes a box may be offline before the tenant's channels are told, 1 to 10080; 0
    /// never. Default 60.
    #[serde(default = "default_box_offline_minutes")]
    #[schema(minimum = 0, maximum = 10080)]
    pub box_offline_minutes: u16,
}

fn default_payment_days() -> u16 {
    15
}

fn default_overdue_after_days() -> u16 {
    7
}

fn default_suspend_after_days() -> u16 {
    14
}

fn default_box_offline_minutes() -> u16 {
    60
}

impl From<StoredSettings> for BillingSettings {
    fn from(stored: StoredSettings) -> Self {
        BillingSettings {
            device_day_basis: DeviceDayBasis::parse(&stored.device_day_basis),
            time_zone: stored.time_zone,
            payment_days: u16::try_from(stored.payment_days).unwrap_or(15),
            overdue_after_days: u16::try_from(stored.overdue_after_days).unwrap_or(7),
            suspend_after_days: u16::try_from(stored.suspend_after_days).unwrap_or(14),
            box_offline_minutes: u16::try_from(stored.box_offline_minutes).unwrap_or(60),
        }
    }
}

/// The tenant's billing settings (its admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/billing/settings", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, description = "The settings", body = BillingSettings)))]
pub async fn get_billing_settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Json<BillingSettings>, ApiError> {
    let (mut tx, tenant) = begin_as_tenant_admin(&state, &principal, tenant_id, Mode::Read).await?;
    let settings = store::settings(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(Json(settings.into()))
}

/// Sets the tenant's billing settings (platform admins). A new zone moves the days of usage
/// counted from now on; days already rolled up keep theirs.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/billing/settings", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    request_body = BillingSettings,
    responses((status = 200, description = "The settings as stored", body = BillingSettings)))]
pub async fn set_billing_settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<BillingSettings>,
) -> Result<Json<BillingSettings>, ApiError> {
    let target = format!("tenant:{tenant_id}");
    audited(&state.db, &principal, "billing.settings", &target, async {
        principal.tenant_for(tenant_id)?;
        principal.require_platform_admin()?;
        zones::zone(&request.time_zone)
            .map_err(|message| ApiError::invalid_field("time_zone", message))?;
        for (field, days) in [
            ("payment_days", request.payment_days),
            ("overdue_after_days", request.overdue_after_days),
            ("suspend_after_days", request.suspend_after_days),
        ] {
            if days > 365 {
                return Err(ApiError::invalid_field(field, "at most 365 days"));
            }
        }
        if request.box_offline_minutes > 10_080 {
            let message = "at most 10080 minutes (a week); 0 never";
            return Err(ApiError::invalid_field("box_offline_minutes", message));
        }
        let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
        let stored = StoredSettings {
            time_zone: request.time_zone.clone(),
            device_day_basis: request.device_day_basis.as_str().to_owned(),
            payment_days: i32::from(request.payment_days),
            overdue_after_days: i32::from(request.overdue_after_days),
            suspend_after_days: i32::from(request.suspend_after_days),
            box_offline_minutes: i32::from(request.box_offline_minutes),
        };
        store::set_settings(&mut tx, tenant, &stored, now_ms()).await?;
        audit::commit(tx, &principal, Some(tenant), "billing.settings", &target).await?;
        Ok(Json(request))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// The month, `YYYY-MM`, in the tenant's zone. Default: the current month.
    #[param(example = "2026-11")]
    pub month: Option<String>,
}

/// One meter's count on one day.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageCount {
    /// `device_days`, `traffic_bytes`, `api_calls`, `searches` or `camera_hours`.
    pub meter: String,
    /// The route class of API calls (`read`, `write`, `search`, `upload`, `device`), the
    /// kind of traffic (`mqtt`, `rpc`); empty when the meter has none.
    pub class: String,
    /// In the meter's unit: boxes, bytes, calls, searches, camera-seconds.
    pub quantity: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageDay {
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    pub counts: Vec<UsageCount>,
}

/// A tenant's usage of one month.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    pub month: String,
    pub time_zone: String,
    pub device_day_basis: DeviceDayBasis,
    /// Each meter's total over the month.
    pub totals: std::collections::BTreeMap<String, i64>,
    /// The days with usage, in order.
    pub days: Vec<UsageDay>,
}

/// The tenant's usage of a month so far, by day (its admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/usage", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), UsageQuery),
    responses((status = 200, description = "The usage", body = UsageReport)))]
pub async fn get_usage(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    principal.tenant_for(tenant_id)?;
    principal.require_tenant_role(Role::TenantAdmin)?;
    let month = query
        .month
        .as_deref()
        .map(|month| {
            month
                .parse::<billing::BillingMonth>()
                .map_err(|e| ApiError::invalid_field("month", e.to_string()))
        })
        .transpose()?;
    let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Read).await?;
    let month = match month {
        Some(month) => month,
        None => {
            let settings = store::settings(&mut tx, tenant).await?;
            let zone = zones::zone_or_default(&settings.time_zone);
            billing::BillingMonth::containing(jiff::Timestamp::now(), &zone)
                .map_err(|e| ApiError::invalid_field("month", e.to_string()))?
        }
    };
    let found = usage::month(&mut tx, tenant, month)
        .await
        .map_err(|e| match e {
            usage::UsageError::Db(e) => ApiError::from(e),
            usage::UsageError::Billing(e) => ApiError::invalid_field("month", e.to_string()),
        })?;
    tx.commit().await?;
    Ok(Json(UsageReport {
        month: month.to_string(),
        totals: found.totals(),
        time_zone: found.time_zone.clone(),
        device_day_basis: DeviceDayBasis::parse(&found.device_day_basis),
        days: found
            .days
            .iter()
            .map(|(date, counts)| UsageDay {
                date: date.to_string(),
                counts: counts
                    .iter()
                    .map(|((meter, class), quantity)| UsageCount {
                        meter: meter.clone(),
                        class: class.clone(),
                        quantity: *quantity,
                    })
                    .collect(),
            })
            .collect(),
    }))
}
