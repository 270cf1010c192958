//! The monthly run: for each tenant (or one), its month closed into an invoice priced by
//! `billing::price_month` from its pricing rules and its metered usage, in one transaction
//! per tenant that also records the `billing.generated` event and the `invoice.issued`
//! notices.
//!
//! At most one invoice per tenant and month: an invoice already made is found and left as it
//! is (so running again, or after a crash half-way, yields the same invoices), and two runs at
//! once are kept apart by the table's unique key (the loser finds the winner's invoice).
//! Usage on dates before a tenant's first rule is not billed; a tenant with no rule in effect
//! in the month gets no invoice. A month is closed only once it ended in the tenant's zone
//! (a dry run may price one still running). Tenants are read a page at a time and each
//! outcome handed to the caller as it is made, so memory does not grow with the number of
//! tenants.

use billing::{BillingMonth, InvoiceDraft, PricingRule};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use uuid::Uuid;

use crate::db::{Db, DbError, Mode, Scope};
use crate::metering::{usage, zones};
use crate::store::invoices::{StoredInvoice, StoredLine};
use crate::store::{events, invoices, meters, pricing_rules};

/// What to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// The month to close; `None`: each tenant's previous month in its zone.
    pub month: Option<BillingMonth>,
    /// One tenant only.
    pub tenant: Option<Uuid>,
    /// Price without storing anything.
    pub dry_run: bool,
}

/// What happened to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An invoice was made now.
    Issued,
    /// A dry run priced the month.
    Priced,
    /// The month already had its invoice.
    Existing,
    /// No pricing rule is in effect in the month.
    NoRule,
    /// The month has not ended in the tenant's zone.
    NotEnded,
    /// Pricing failed (the reason says why); nothing stored.
    Failed,
}

/// One tenant's outcome, as the CLI prints it and the API answers it.
#[derive(Debug, Clone, Serialize)]
pub struct TenantOutcome {
    pub tenant_id: Uuid,
    /// YYYY-MM.
    pub period: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_minor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl TenantOutcome {
    fn new(tenant_id: Uuid, period: BillingMonth, outcome: Outcome) -> Self {
        TenantOutcome {
            tenant_id,
            period: period.to_string(),
            outcome,
            invoice_id: None,
            number: None,
            total_minor: None,
            currency: None,
            reason: None,
        }
    }

    fn of_invoice(invoice: &StoredInvoice, outcome: Outcome) -> Self {
        TenantOutcome {
            tenant_id: invoice.tenant_id,
            period: invoice.period.clone(),
            outcome,
            invoice_id: Some(invoice.id),
            number: Some(invoice.number.clone()),
            total_minor: Some(invoice.total_minor),
            currency: Some(invoice.currency.clone()),
            reason: None,
        }
    }

    fn failed(tenant_id: Uuid, period: BillingMonth, reason: String) -> Self {
        TenantOutcome {
            reason: Some(reason),
            ..TenantOutcome::new(tenant_id, period, Outcome::Failed)
        }
    }
}

/// How many tenants had each outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub tenants: u64,
    pub issued: u64,
    pub priced: u64,
    pub existing: u64,
    pub no_rule: u64,
    pub not_ended: u64,
    pub failed: u64,
}

impl RunSummary {
    fn count(&mut self, outcome: Outcome) {
        self.tenants += 1;
        *match outcome {
            Outcome::Issued => &mut self.issued,
            Outcome::Priced => &mut self.priced,
            Outcome::Existing => &mut self.existing,
            Outcome::NoRule => &mut self.no_rule,
            Outcome::NotEnded => &mut self.not_ended,
            Outcome::Failed => &mut self.failed,
        } += 1;
    }
}

/// Tenants read per page.
const PAGE: i64 = 500;

/// Runs `options` as of `now`, handing each tenant's outcome to `each` as it is made.
pub async fn run(
    db: &Db,
    options: RunOptions,
    now: Timestamp,
    mut each: impl FnMut(&TenantOutcome),
) -> Result<RunSummary, DbError> {
    let mut summary = RunSummary::default();
    let mut after: Option<Uuid> = None;
    loop {
        let page = match options.tenant {
            Some(tenant) if after.is_none() => vec![tenant],
            Some(_) => Vec::new(),
            None => {
                let mut tx = db.begin(Scope::Platform, Mode::Read).await?;
                let page = crate::store::tenants::ids_after(&mut tx, after, PAGE).await?;
                tx.commit().await?;
                page
            }
        };
        let Some(&last) = page.last() else {
            break;
        };
        for tenant in page {
            let outcome = close(db, tenant, options, now).await?;
            summary.count(outcome.outcome);
            each(&outcome);
        }
        after = Some(last);
    }
    Ok(summary)
}

/// Closes `tenant`'s month; a database failure other than the unique key ends the run.
async fn close(
    db: &Db,
    tenant: Uuid,
    options: RunOptions,
    now: Timestamp,
) -> Result<TenantOutcome, DbError> {
    let mut tx = db.begin(Scope::Tenant(tenant), Mode::Write).await?;
    let settings = meters::settings(&mut tx, tenant).await?;
    let zone = zones::zone_or_default(&settings.time_zone);
    let month = match month_to_close(options.month, now, &zone) {
        Ok(month) => month,
        Err(reason) => {
            let month = BillingMonth::new(1970, 1).expect("a valid month");
            return Ok(TenantOutcome::failed(tenant, month, reason));
        }
    };
    if let Some(invoice) = invoices::of_period(&mut tx, tenant, &month.to_string()).await? {
        return Ok(TenantOutcome::of_invoice(&invoice, Outcome::Existing));
    }
    let priced = match price(&mut tx, tenant, month, &zone, now, options.dry_run).await? {
        Ok(priced) => priced,
        Err(outcome) => return Ok(outcome),
    };
    let invoice = priced.invoice(tenant, &settings, now);
    if options.dry_run {
        tx.rollback().await?;
        return Ok(TenantOutcome::of_invoice(&invoice, Outcome::Priced));
    }
    match store(tx, &invoice, &priced.draft).await {
        Ok(()) => Ok(TenantOutcome::of_invoice(&invoice, Outcome::Issued)),
        // Another run made this month's invoice meanwhile: it stands.
        Err(DbError::Constraint(_)) => winner_of(db, tenant, month).await,
        Err(e) => Err(e),
    }
}

/// The month `asked`, or by default the one before `now`'s in `zone`; the reason it
/// cannot be known otherwise.
fn month_to_close(
    asked: Option<BillingMonth>,
    now: Timestamp,
    zone: &TimeZone,
) -> Result<BillingMonth, String> {
    match asked {
        Some(month) => Ok(month),
        None => BillingMonth::containing(now, zone)
            .and_then(BillingMonth::previous)
            .map_err(|e| e.to_string()),
    }
}

/// A month priced: the draft and the month's bounds in the tenant's zone.
struct Priced {
    draft: InvoiceDraft,
    month: BillingMonth,
    start: Timestamp,
    end: Timestamp,
}

impl Priced {
    /// The invoice issued at `now` for this month, due after the tenant's payment days.
    fn invoice(
        &self,
        tenant: Uuid,
        settings: &meters::BillingSettings,
        now: Timestamp,
    ) -> StoredInvoice {
        let payment = jiff::SignedDuration::from_hours(24 * i64::from(settings.payment_days));
        let issued_at = now.as_millisecond();
        StoredInvoice {
            id: Uuid::new_v4(),
            tenant_id: tenant,
            period: self.month.to_string(),
            number: number(tenant, self.month),
            currency: self.draft.currency.code().to_owned(),
            subtotal_minor: self.draft.subtotal.minor,
            total_minor: self.draft.total.minor,
            status: "issued".to_owned(),
            time_zone: settings.time_zone.clone(),
            period_start: self.start.as_millisecond(),
            period_end: self.end.as_millisecond(),
            issued_at,
            due_at: issued_at.saturating_add(payment.as_millis().try_into().unwrap_or(i64::MAX)),
            paid_minor: 0,
            credited_minor: 0,
            status_changed_at: issued_at,
        }
    }
}

/// Prices `tenant`'s `month` from its rules and usage, or the outcome that says why not
/// (not ended unless `dry_run`, no rule, a rule or the usage not priceable).
async fn price(
    tx: &mut crate::db::Tx,
    tenant: Uuid,
    month: BillingMonth,
    zone: &TimeZone,
    now: Timestamp,
    dry_run: bool,
) -> Result<Result<Priced, TenantOutcome>, DbError> {
    let failed = |reason: String| Ok(Err(TenantOutcome::failed(tenant, month, reason)));
    let (start, end) = match (month.start(zone), month.end(zone)) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(e), _) | (_, Err(e)) => return failed(e.to_string()),
    };
    if end > now && !dry_run {
        return Ok(Err(TenantOutcome::new(tenant, month, Outcome::NotEnded)));
    }
    let rules = match read_rules(tx, tenant).await? {
        Ok(rules) => rules,
        Err(reason) => return failed(reason),
    };
    let Some(first) = rules.first().map(|r| r.effective_from) else {
        return Ok(Err(TenantOutcome::new(tenant, month, Outcome::NoRule)));
    };
    if first > month.last_day() {
        return Ok(Err(TenantOutcome::new(tenant, month, Outcome::NoRule)));
    }
    let draft = match usage::month(tx, tenant, month).await {
        Ok(used) => used
            .for_pricing(Some(first))
            .and_then(|usage| billing::price_month(month, zone, &rules, &usage)),
        Err(usage::UsageError::Db(e)) => return Err(e),
        Err(usage::UsageError::Billing(e)) => Err(e),
    };
    match draft {
        Ok(draft) => Ok(Ok(Priced {
            draft,
            month,
            start,
            end,
        })),
        Err(e) => failed(e.to_string()),
    }
}

/// Stores `invoice` with its lines, the `billing.generated` event and the
/// `invoice.issued` notices, and commits.
async fn store(
    mut tx: crate::db::Tx,
    invoice: &StoredInvoice,
    draft: &InvoiceDraft,
) -> Result<(), DbError> {
    let tenant = invoice.tenant_id;
    invoices::insert(&mut tx, invoice, &lines(draft)).await?;
    let body = serde_json::json!({
        "invoice_id": invoice.id,
        "number": invoice.number,
        "period": invoice.period,
        "total_minor": invoice.total_minor,
        "currency": invoice.currency,
    });
    let issued_at = invoice.issued_at;
    events::record(
        &mut tx,
        Some(tenant),
        "billing.generated",
        &body.to_string(),
        issued_at,
    )
    .await?;
    let facts = serde_json::json!({
        "tenant_name": crate::dunning::standing::tenant_name(&mut tx, tenant).await?,
        "number": invoice.number,
        "period": invoice.period,
        "total_minor": invoice.total_minor,
        "currency": invoice.currency,
        "due_at": invoice.due_at,
        "time_zone": invoice.time_zone,
    });
    let event = (crate::notify::INVOICE_ISSUED, invoice.id.to_string());
    crate::notify::notify(&mut tx, tenant, (event.0, &event.1), &facts, issued_at).await?;
    tx.commit().await?;
    Ok(())
}

/// The invoice another run stored for `tenant`'s `month` while this one tried.
async fn winner_of(db: &Db, tenant: Uuid, month: BillingMonth) -> Result<TenantOutcome, DbError> {
    let mut tx = db.begin(Scope::Tenant(tenant), Mode::Read).await?;
    let found = invoices::of_period(&mut tx, tenant, &month.to_string()).await?;
    tx.commit().await?;
    Ok(match found {
        Some(invoice) => TenantOutcome::of_invoice(&invoice, Outcome::Existing),
        None => TenantOutcome::failed(tenant, month, "refused by a constraint".to_owned()),
    })
}

/// `tenant`'s rule versions, oldest first, or why one cannot be read.
async fn read_rules(
    tx: &mut crate::db::Tx,
    tenant: Uuid,
) -> Result<Result<Vec<PricingRule>, String>, DbError> {
    let mut rules = Vec::new();
    for stored in pricing_rules::list(tx, tenant).await? {
        match serde_json::from_str::<PricingRule>(&stored.rule) {
            Ok(rule) => rules.push(rule),
            Err(e) => {
                let date = stored.effective_from;
                return Ok(Err(format!(
                    "the pricing rule from {date} cannot be read: {e}"
                )));
            }
        }
    }
    Ok(Ok(rules))
}

/// The invoice's number: the period and the whole tenant id, unique as the pair is (a
/// shortened id could collide between tenants).
fn number(tenant: Uuid, month: BillingMonth) -> String {
    let simple = tenant.simple().to_string().to_uppercase();
    format!("INV-{:04}{:02}-{simple}", month.year(), month.month())
}

fn lines(draft: &InvoiceDraft) -> Vec<StoredLine> {
    draft
        .lines
        .iter()
        .enumerate()
        .map(|(position, line)| StoredLine {
            position: i32::try_from(position).unwrap_or(i32::MAX),
            key: line.key.clone(),
            description: line.description.clone(),
            quantity: i64::try_from(line.quantity).unwrap_or(i64::MAX),
            unit_price_minor: line.unit_price.minor,
            units_per_price: i64::try_from(line.units_per_price).unwrap_or(i64::MAX),
            discount_basis_points: i32::try_from(line.discount_basis_points).unwrap_or(i32::MAX),
            amount_minor: line.amount.minor,
        })
        .collect()
}
