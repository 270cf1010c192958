//! Pricing rules, invoices and the monthly run through the API (docs/design/0080-billing.md).
//! Platform admins set a tenant's rules and run months; a tenant's admins read its rules and
//! invoices. A rule version applies from its date, never to a month already invoiced, and
//! never to a month before the current one.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use billing::{BillingMonth, Charge, Currency, Meter, PricingRule, Tier};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::types::{Page, rfc3339};
use super::{begin_as_tenant_admin, begin_existing, begin_list};
use crate::audit::{self, audited};
use crate::auth::{Principal, Role};
use crate::db::{DbError, Mode, Scope, now_ms};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::invoicing::{self, RunOptions, RunSummary, TenantOutcome};
use crate::metering::zones;
use crate::state::AppState;
use crate::store::invoices::{StoredInvoice, StoredLine};
use crate::store::{invoices, meters, pricing_rules};

/// One graduated volume discount.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierBody {
    /// The monthly position, in metered units, from which the discount applies.
    pub from_quantity: u64,
    /// 2000 is 20 % off; at most 10000.
    pub discount_basis_points: u32,
}

/// The price of one meter.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeBody {
    /// Minor units (fen) per pricing unit: per device-day, per GB (10^9 bytes), per 1,000
    /// API calls, per search, per camera-hour.
    pub unit_price_minor: i64,
    /// Metered units per month free of charge. Default 0.
    #[serde(default)]
    pub free_allowance: u64,
    /// Thresholds strictly ascending, discounts not decreasing. Default none.
    #[serde(default)]
    pub tiers: Vec<TierBody>,
}

/// A pricing rule version, in effect from its date until the next version's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PricingRuleBody {
    /// `YYYY-MM-DD`, a date of the tenant's zone.
    #[schema(example = "2026-12-01")]
    pub effective_from: String,
    /// ISO 4217 (CNY, USD, EUR, HKD, SGD, GBP, JPY, KRW).
    #[schema(example = "CNY")]
    pub currency: String,
    /// By meter: `device_days`, `traffic_bytes`, `api_calls`, `searches`, `camera_hours`.
    pub charges: BTreeMap<String, ChargeBody>,
    /// The least a whole month costs, in minor units, prorated by the days the version is in
    /// effect. Default 0.
    #[serde(default)]
    pub minimum_monthly_minor: i64,
}

/// A stored version: the rule as given (defaults written out), who set it and when.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoredPricingRule {
    pub id: Uuid,
    pub effective_from: String,
    pub currency: String,
    pub charges: BTreeMap<String, ChargeBody>,
    pub minimum_monthly_minor: i64,
    /// As the audit log names them.
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PricingRuleList {
    /// Oldest first.
    pub items: Vec<StoredPricingRule>,
}

impl PricingRuleBody {
    /// The rule as `billing` reads it, each refusal naming its field.
    fn checked(&self) -> Result<PricingRule, ApiError> {
        let effective_from = self.effective_from.parse().map_err(|_| {
            ApiError::invalid_field("effective_from", "a date as YYYY-MM-DD, e.g. 2026-12-01")
        })?;
        let currency = Currency::new(&self.currency)
            .map_err(|e| ApiError::invalid_field("currency", e.to_string()))?;
        let mut charges = BTreeMap::new();
        for (name, charge) in &self.charges {
            let meter: Meter = name.parse().map_err(|_| {
                ApiError::invalid_field(
                    &format!("charges.{name}"),
                    "not a meter: device_days, traffic_bytes, api_calls, searches or camera_hours",
                )
            })?;
            let tiers = (charge.tiers.iter())
                .map(|t| Tier {
                    from_quantity: t.from_quantity,
                    discount_basis_points: t.discount_basis_points,
                })
                .collect();
            charges.insert(
                meter,
                Charge {
                    unit_price_minor: charge.unit_price_minor,
                    free_allowance: charge.free_allowance,
                    tiers,
                },
            );
        }
        let rule = PricingRule {
            effective_from,
            currency,
            charges,
            minimum_monthly_minor: self.minimum_monthly_minor,
        };
        rule.validate().map_err(|e| match &e {
            billing::BillingError::InvalidRule { field, .. } => {
                ApiError::invalid_field(field, e.to_string())
            }
            _ => ApiError::invalid_field("charges", e.to_string()),
        })?;
        Ok(rule)
    }
}

fn body_of(rule: &PricingRule) -> PricingRuleBody {
    PricingRuleBody {
        effective_from: rule.effective_from.to_string(),
        currency: rule.currency.code().to_owned(),
        charges: (rule.charges.iter())
            .map(|(meter, charge)| {
                let tiers = (charge.tiers.iter())
                    .map(|t| TierBody {
                        from_quantity: t.from_quantity,
                        discount_basis_points: t.discount_basis_points,
                    })
                    .collect();
                let body = ChargeBody {
                    unit_price_minor: charge.unit_price_minor,
                    free_allowance: charge.free_allowance,
                    tiers,
                };
                (meter.name().to_owned(), body)
            })
            .collect(),
        minimum_monthly_minor: rule.minimum_monthly_minor,
    }
}

fn stored_of(stored: pricing_rules::StoredRule) -> Result<StoredPricingRule, ApiError> {
    let rule: PricingRule = serde_json::from_str(&stored.rule).map_err(|e| {
        let message = format!(
            "the stored rule from {} is unreadable: {e}",
            stored.effective_from
        );
        ApiError::internal_message(message)
    })?;
    let body = body_of(&rule);
    Ok(StoredPricingRule {
        id: stored.id,
        effective_from: body.effective_from,
        currency: body.currency,
        charges: body.charges,
        minimum_monthly_minor: body.minimum_monthly_minor,
        created_by: stored.created_by,
        created_at: rfc3339(stored.created_at),
    })
}

/// The tenant's pricing rule versions, oldest first (its admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/pricing-rules", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, description = "The versions", body = PricingRuleList)))]
pub async fn list_pricing_rules(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
) -> Result<Json<PricingRuleList>, ApiError> {
    let (mut tx, tenant) = begin_as_tenant_admin(&state, &principal, tenant_id, Mode::Read).await?;
    let stored = pricing_rules::list(&mut tx, tenant).await?;
    tx.commit().await?;
    let items = stored
        .into_iter()
        .map(stored_of)
        .collect::<Result<_, _>>()?;
    Ok(Json(PricingRuleList { items }))
}

/// Adds a pricing rule version (platform admins). It applies from its date: a date in a
/// month already invoiced, or before the current month of the tenant's zone, is refused, as
/// is a second version on one date or a currency change other than on the 1st.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/pricing-rules", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path)),
    request_body = PricingRuleBody,
    responses((status = 201, description = "Stored", body = StoredPricingRule)))]
pub async fn create_pricing_rule(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<PricingRuleBody>,
) -> Result<(StatusCode, Json<StoredPricingRule>), ApiError> {
    let target = format!("tenant:{tenant_id}");
    audited(&state.db, &principal, "billing.rule", &target, async {
        principal.tenant_for(tenant_id)?;
        principal.require_platform_admin()?;
        let rule = request.checked()?;
        let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
        let settings = meters::settings(&mut tx, tenant).await?;
        let zone = zones::zone_or_default(&settings.time_zone);
        let month = BillingMonth::of_date(rule.effective_from)
            .map_err(|e| ApiError::invalid_field("effective_from", e.to_string()))?;
        let current = BillingMonth::containing(jiff::Timestamp::now(), &zone)
            .map_err(ApiError::internal_message)?;
        if month < current {
            let message = format!(
                "a rule applies from its date on, never backwards: {} is before this month \
                 ({current}) in the tenant's zone",
                rule.effective_from
            );
            return Err(ApiError::invalid_field("effective_from", message));
        }
        if invoices::of_period(&mut tx, tenant, &month.to_string())
            .await?
            .is_some()
        {
            let message = format!("{month} is already invoiced; correct it with a credit note");
            return Err(ApiError::conflict(ErrorCode::Conflict, message));
        }
        let mut versions: Vec<PricingRule> = Vec::new();
        for stored in pricing_rules::list(&mut tx, tenant).await? {
            let Ok(version) = serde_json::from_str(&stored.rule) else {
                continue;
            };
            versions.push(version);
        }
        versions.push(rule.clone());
        versions.sort_by_key(|r| r.effective_from);
        billing::validate_versions(&versions).map_err(|e| match e {
            billing::BillingError::DuplicateRule { .. } => {
                ApiError::conflict(ErrorCode::Conflict, e.to_string())
            }
            e => ApiError::invalid_field("currency", e.to_string()),
        })?;
        let json = serde_json::to_string(&rule).map_err(ApiError::internal_message)?;
        let stored = pricing_rules::StoredRule {
            id: Uuid::new_v4(),
            effective_from: rule.effective_from.to_string(),
            rule: json,
            created_by: principal.actor.clone(),
            created_at: now_ms(),
        };
        pricing_rules::insert(&mut tx, tenant, &stored).await?;
        audit::commit(tx, &principal, Some(tenant), "billing.rule", &target).await?;
        Ok((StatusCode::CREATED, Json(stored_of(stored)?)))
    })
    .await
}

/// An invoice line.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLineBody {
    /// Stable across runs: `{meter}/{version date}/{band}`, or `minimum`.
    pub key: String,
    pub description: String,
    /// In the meter's metered unit.
    pub quantity: i64,
    /// Minor units per pricing unit.
    pub unit_price_minor: i64,
    /// Metered units per pricing unit (10^9 for bytes priced per GB).
    pub units_per_price: i64,
    pub discount_basis_points: i32,
    pub amount_minor: i64,
}

/// An invoice.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `YYYY-MM` of the tenant's zone.
    pub period: String,
    pub number: String,
    pub currency: String,
    pub subtotal_minor: i64,
    /// The sum of the lines' amounts.
    pub total_minor: i64,
    /// `issued`, `paid`, `overdue` or `void`.
    pub status: String,
    pub time_zone: String,
    pub period_start: String,
    pub period_end: String,
    pub issued_at: String,
    pub due_at: String,
    /// Paid so far.
    pub paid_minor: i64,
    /// Taken off by credit notes.
    pub credited_minor: i64,
    /// Still owed: total less credit notes and payments.
    pub balance_minor: i64,
    /// Given when one invoice is read; empty in lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<InvoiceLineBody>,
    /// Given when one invoice is read; empty in lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<super::payments::Payment>,
    /// Given when one invoice is read; empty in lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credit_notes: Vec<super::payments::CreditNote>,
}

pub(crate) fn invoice_of(stored: StoredInvoice, lines: Vec<StoredLine>) -> Invoice {
    Invoice {
        paid_minor: stored.paid_minor,
        credited_minor: stored.credited_minor,
        balance_minor: stored.balance_minor(),
        payments: Vec::new(),
        credit_notes: Vec::new(),
        id: stored.id,
        tenant_id: stored.tenant_id,
        period: stored.period,
        number: stored.number,
        currency: stored.currency,
        subtotal_minor: stored.subtotal_minor,
        total_minor: stored.total_minor,
        status: stored.status,
        time_zone: stored.time_zone,
        period_start: rfc3339(stored.period_start),
        period_end: rfc3339(stored.period_end),
        issued_at: rfc3339(stored.issued_at),
        due_at: rfc3339(stored.due_at),
        lines: lines
            .into_iter()
            .map(|l| InvoiceLineBody {
                key: l.key,
                description: l.description,
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                units_per_price: l.units_per_price,
                discount_basis_points: l.discount_basis_points,
                amount_minor: l.amount_minor,
            })
            .collect(),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvoiceList {
    /// Newest period first.
    pub items: Vec<Invoice>,
}

/// The tenant's invoices, newest first (its admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/invoices", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), Page),
    responses((status = 200, description = "The invoices", body = InvoiceList)))]
pub async fn list_invoices(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant_id): ApiPath<Uuid>,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<InvoiceList>, ApiError> {
    let caller = (&state, &principal);
    let admin = Some(Role::TenantAdmin);
    let (mut tx, tenant, bounds) = begin_list(caller, tenant_id, &page, admin).await?;
    let stored = invoices::list(&mut tx, tenant, bounds).await?;
    tx.commit().await?;
    let items = stored
        .into_iter()
        .map(|s| invoice_of(s, Vec::new()))
        .collect();
    Ok(Json(InvoiceList { items }))
}

/// One invoice with its lines (the tenant's admins).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/invoices/{invoice_id}", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("invoice_id" = Uuid, Path)),
    responses((status = 200, description = "The invoice", body = Invoice)))]
pub async fn get_invoice(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, invoice_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Invoice>, ApiError> {
    let (mut tx, tenant) = begin_as_tenant_admin(&state, &principal, tenant_id, Mode::Read).await?;
    let stored = invoices::find(&mut tx, tenant, invoice_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let lines = invoices::lines(&mut tx, tenant, invoice_id).await?;
    let payments = invoices::payments(&mut tx, tenant, invoice_id).await?;
    let credit_notes = invoices::credit_notes(&mut tx, tenant, invoice_id).await?;
    tx.commit().await?;
    let mut invoice = invoice_of(stored, lines);
    invoice.payments = payments.into_iter().map(Into::into).collect();
    invoice.credit_notes = credit_notes.into_iter().map(Into::into).collect();
    Ok(Json(invoice))
}

/// What to run. A JSON object only (every field being optional, serde would also read an
/// array as the fields in order).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(
    try_from = "serde_json::Map<String, serde_json::Value>",
    deny_unknown_fields
)]
pub struct StartRun {
    /// `YYYY-MM`, a month of each tenant's zone. Default: each tenant's previous month.
    #[schema(example = "2026-11")]
    pub month: Option<String>,
    /// One tenant only.
    pub tenant_id: Option<Uuid>,
    /// Price without storing anything. Default false.
    #[serde(default)]
    pub dry_run: bool,
}

/// [`StartRun`]'s fields, read from an object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRunFields {
    month: Option<String>,
    tenant_id: Option<Uuid>,
    #[serde(default)]
    dry_run: bool,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for StartRun {
    type Error = serde_json::Error;

    fn try_from(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        let fields: StartRunFields = serde_json::from_value(serde_json::Value::Object(object))?;
        Ok(StartRun {
            month: fields.month,
            tenant_id: fields.tenant_id,
            dry_run: fields.dry_run,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunReport {
    #[schema(value_type = Object)]
    pub summary: RunSummary,
    /// One per tenant.
    #[schema(value_type = Vec<Object>)]
    pub outcomes: Vec<TenantOutcome>,
}

/// Runs the month's invoicing now (platform admins): as the monthly run does, for every
/// tenant or one. Tenants already invoiced for the month are left as they are.
#[utoipa::path(post, path = "/api/v1/billing/runs", tag = "billing", security(("bearer" = [])),
    request_body = StartRun,
    responses((status = 200, description = "What the run did", body = RunReport)))]
pub async fn run_billing(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<StartRun>,
) -> Result<Json<RunReport>, ApiError> {
    audited(&state.db, &principal, "billing.run", "billing", async {
        principal.require_platform_admin()?;
        let month = (request.month.as_deref())
            .map(|m| {
                m.parse::<BillingMonth>()
                    .map_err(|e| ApiError::invalid_field("month", e.to_string()))
            })
            .transpose()?;
        if let Some(tenant) = request.tenant_id {
            super::require_made_tenant(&state, tenant).await?;
        }
        let options = RunOptions {
            month,
            tenant: request.tenant_id,
            dry_run: request.dry_run,
        };
        let mut outcomes = Vec::new();
        let summary = invoicing::run(&state.db, options, jiff::Timestamp::now(), |outcome| {
            outcomes.push(outcome.clone());
        })
        .await
        .map_err(|e: DbError| ApiError::from(e))?;
        let mut tx = state.db.begin(Scope::Platform, Mode::Write).await?;
        let target = format!("billing:{}", request.month.as_deref().unwrap_or("previous"));
        audit::record(
            &mut tx,
            &principal,
            request.tenant_id,
            "billing.run",
            &target,
        )
        .await?;
        tx.commit().await?;
        Ok(Json(RunReport { summary, outcomes }))
    })
    .await
}
