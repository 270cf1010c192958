//! Settling invoices (platform admins): payments recorded against an invoice (no payment
//! gateway: an amount, the payer's reference, the date paid; partial payments add up),
//! credit notes that correct an issued invoice without editing it, and voiding an invoice
//! nothing was paid on. Each takes the balance down by a conditional update, so two at once
//! never take it below 0; the invoice is `paid` when it reaches 0. Each is audited and
//! recorded in `relay_events`; a payment is noticed to the tenant's channels; and when
//! nothing of the tenant is overdue any more it is restored in the same transaction
//! (`crate::dunning`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::begin_existing;
use super::invoices::{Invoice, invoice_of};
use super::types::rfc3339;
use crate::audit::{self, audited};
use crate::auth::Principal;
use crate::db::{DbError, Mode, Tx, now_ms};
use crate::dunning::standing::{self, Mover};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::notify;
use crate::state::AppState;
use crate::store::events;
use crate::store::invoices::{self, Settlement, StoredCreditNote, StoredInvoice, StoredPayment};

/// A payment received.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub id: Uuid,
    pub amount_minor: i64,
    /// The payer's reference (a bank transfer's, a receipt's).
    pub reference: String,
    /// `YYYY-MM-DD`.
    pub paid_on: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

impl From<StoredPayment> for Payment {
    fn from(stored: StoredPayment) -> Self {
        Payment {
            id: stored.id,
            amount_minor: stored.amount_minor,
            reference: stored.reference,
            paid_on: stored.paid_on,
            recorded_by: stored.recorded_by,
            recorded_at: rfc3339(stored.created_at),
        }
    }
}

/// A correction of an issued invoice.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditNote {
    pub id: Uuid,
    /// The invoice's number, `-CN` and the note's number on it.
    pub number: String,
    pub amount_minor: i64,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<StoredCreditNote> for CreditNote {
    fn from(stored: StoredCreditNote) -> Self {
        CreditNote {
            id: stored.id,
            number: stored.number,
            amount_minor: stored.amount_minor,
            reason: stored.reason,
            created_by: stored.created_by,
            created_at: rfc3339(stored.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPayment {
    /// In the invoice's currency's minor units; at most the balance.
    #[schema(minimum = 1)]
    pub amount_minor: i64,
    /// The payer's reference, unique per invoice (1 to 200 characters).
    pub reference: String,
    /// `YYYY-MM-DD`.
    #[schema(example = "2026-12-10")]
    pub paid_on: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCreditNote {
    /// In the invoice's currency's minor units; at most the balance.
    #[schema(minimum = 1)]
    pub amount_minor: i64,
    /// Why (1 to 500 characters).
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentRecorded {
    pub payment: Payment,
    pub invoice: Invoice,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditNoteIssued {
    pub credit_note: CreditNote,
    pub invoice: Invoice,
}

fn text_field(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.chars().any(char::is_control)
    {
        let message = format!("1 to {max} characters, no control characters");
        return Err(ApiError::invalid_field(field, message));
    }
    Ok(trimmed.to_owned())
}

fn positive(amount: i64) -> Result<i64, ApiError> {
    if amount <= 0 {
        return Err(ApiError::invalid_field(
            "amount_minor",
            "must be at least 1",
        ));
    }
    Ok(amount)
}

/// The invoice, or 404 (looked up before the caller's role, so that another tenant's id and
/// a missing one answer alike); refused with 409 unless it is issued or overdue.
async fn open_invoice(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<StoredInvoice, ApiError> {
    let invoice = invoices::find(tx, tenant, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !matches!(invoice.status.as_str(), "issued" | "overdue") {
        let message = format!("the invoice is {}", invoice.status);
        return Err(ApiError::conflict(ErrorCode::Conflict, message));
    }
    Ok(invoice)
}

fn over_balance(invoice: &StoredInvoice) -> ApiError {
    let message = format!(
        "more than the balance of {} {} minor units",
        invoice.balance_minor(),
        invoice.currency
    );
    ApiError::invalid_field("amount_minor", message)
}

/// Ends a change of an invoice: its event recorded, the tenant restored if nothing of it is
/// overdue any more, the invoice read again, the audit record written and the transaction
/// committed, then the boxes online told of a restoration; the invoice as it now is.
async fn finish(
    state: &AppState,
    mut tx: Tx,
    (tenant, invoice_id): (Uuid, Uuid),
    (kind, body): (&str, serde_json::Value),
    (principal, action, target): (&Principal, &str, &str),
    now: i64,
) -> Result<Invoice, ApiError> {
    events::record(&mut tx, Some(tenant), kind, &body.to_string(), now).await?;
    let updated = invoices::find(&mut tx, tenant, invoice_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mover = Mover {
        actor: &principal.actor,
        remote_addr: &principal.remote_addr,
    };
    let reason = format!("{action} on invoice {}", updated.number);
    let restored = standing::after_settlement(&mut tx, tenant, (&reason, mover), now).await?;
    audit::commit(tx, principal, Some(tenant), action, target).await?;
    if let Some(restored) = restored {
        standing::tell_online(state.uplink.as_ref(), &[restored]).await;
    }
    Ok(invoice_of(updated, Vec::new()))
}

/// Records a payment against an invoice (platform admins).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/invoices/{invoice_id}/payments", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("invoice_id" = Uuid, Path)),
    request_body = RecordPayment,
    responses((status = 201, description = "Recorded", body = PaymentRecorded)))]
pub async fn record_payment(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, invoice_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<RecordPayment>,
) -> Result<(StatusCode, Json<PaymentRecorded>), ApiError> {
    let target = format!("invoice:{invoice_id}");
    audited(&state.db, &principal, "billing.payment", &target, async {
        let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
        let invoice = open_invoice(&mut tx, tenant, invoice_id).await?;
        principal.require_platform_admin()?;
        let amount = positive(request.amount_minor)?;
        let reference = text_field("reference", &request.reference, 200)?;
        let paid_on: jiff::civil::Date = request.paid_on.parse().map_err(|_| {
            ApiError::invalid_field("paid_on", "a date as YYYY-MM-DD, e.g. 2026-12-10")
        })?;
        let now = now_ms();
        let settled = (Settlement::Payment, amount);
        if !invoices::settle(&mut tx, (tenant, invoice_id), settled, now).await? {
            return Err(over_balance(&invoice));
        }
        let payment = StoredPayment {
            id: Uuid::new_v4(),
            invoice_id,
            amount_minor: amount,
            reference,
            paid_on: paid_on.to_string(),
            recorded_by: principal.actor.clone(),
            created_at: now,
        };
        invoices::insert_payment(&mut tx, tenant, &payment)
            .await
            .map_err(|e| match e {
                DbError::Constraint(_) => ApiError::conflict(
                    ErrorCode::Conflict,
                    "a payment with this reference is already recorded on this invoice",
                ),
                e => e.into(),
            })?;
        let body = serde_json::json!({"invoice_id": invoice_id, "number": invoice.number,
            "amount_minor": amount, "currency": invoice.currency, "reference": payment.reference});
        let facts = serde_json::json!({
            "tenant_name": standing::tenant_name(&mut tx, tenant).await?,
            "number": invoice.number,
            "amount_minor": amount,
            "balance_minor": invoice.balance_minor() - amount,
            "currency": invoice.currency,
            "reference": payment.reference,
        });
        let key = payment.id.to_string();
        notify::notify(
            &mut tx,
            tenant,
            (notify::PAYMENT_RECEIVED, &key),
            &facts,
            now,
        )
        .await?;
        let event = ("billing.payment_received", body);
        let done = (&principal, "billing.payment", target.as_str());
        let invoice = finish(&state, tx, (tenant, invoice_id), event, done, now).await?;
        let payment = payment.into();
        Ok((
            StatusCode::CREATED,
            Json(PaymentRecorded { payment, invoice }),
        ))
    })
    .await
}

/// Issues a credit note on an invoice (platform admins): the correction of an issued
/// invoice, whose lines never change.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/invoices/{invoice_id}/credit-notes", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("invoice_id" = Uuid, Path)),
    request_body = IssueCreditNote,
    responses((status = 201, description = "Issued", body = CreditNoteIssued)))]
pub async fn issue_credit_note(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, invoice_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<IssueCreditNote>,
) -> Result<(StatusCode, Json<CreditNoteIssued>), ApiError> {
    let target = format!("invoice:{invoice_id}");
    audited(
        &state.db,
        &principal,
        "billing.credit_note",
        &target,
        async {
            let (mut tx, tenant) =
                begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
            let invoice = open_invoice(&mut tx, tenant, invoice_id).await?;
            principal.require_platform_admin()?;
            let amount = positive(request.amount_minor)?;
            let reason = text_field("reason", &request.reason, 500)?;
            let now = now_ms();
            let settled = (Settlement::CreditNote, amount);
            if !invoices::settle(&mut tx, (tenant, invoice_id), settled, now).await? {
                return Err(over_balance(&invoice));
            }
            let count = invoices::count_credit_notes(&mut tx, tenant, invoice_id).await?;
            let note = StoredCreditNote {
                id: Uuid::new_v4(),
                invoice_id,
                number: format!("{}-CN{}", invoice.number, count + 1),
                amount_minor: amount,
                reason,
                created_by: principal.actor.clone(),
                created_at: now,
            };
            invoices::insert_credit_note(&mut tx, tenant, &note).await?;
            let body = serde_json::json!({"invoice_id": invoice_id, "number": note.number,
            "amount_minor": amount, "currency": invoice.currency});
            let event = ("billing.credit_note", body);
            let done = (&principal, "billing.credit_note", target.as_str());
            let invoice = finish(&state, tx, (tenant, invoice_id), event, done, now).await?;
            let credit_note = note.into();
            Ok((
                StatusCode::CREATED,
                Json(CreditNoteIssued {
                    credit_note,
                    invoice,
                }),
            ))
        },
    )
    .await
}

/// Voids an invoice nothing was paid on (platform admins); 409 otherwise.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/invoices/{invoice_id}/void", tag = "billing", security(("bearer" = [])),
    params(("tenant_id" = Uuid, Path), ("invoice_id" = Uuid, Path)),
    responses((status = 200, description = "Voided", body = Invoice)))]
pub async fn void_invoice(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant_id, invoice_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<Invoice>, ApiError> {
    let target = format!("invoice:{invoice_id}");
    audited(&state.db, &principal, "billing.void", &target, async {
        let (mut tx, tenant) = begin_existing(&state, &principal, tenant_id, Mode::Write).await?;
        let invoice = open_invoice(&mut tx, tenant, invoice_id).await?;
        principal.require_platform_admin()?;
        let now = now_ms();
        if !invoices::void(&mut tx, (tenant, invoice_id), now).await? {
            let message = "payments were recorded on it: issue a credit note instead";
            return Err(ApiError::conflict(ErrorCode::Conflict, message));
        }
        let body = serde_json::json!({"invoice_id": invoice_id, "number": invoice.number});
        let event = ("billing.voided", body);
        let done = (&principal, "billing.void", target.as_str());
        Ok(Json(
            finish(&state, tx, (tenant, invoice_id), event, done, now).await?,
        ))
    })
    .await
}
