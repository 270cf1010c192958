//! Invoices and their lines. One invoice per tenant and month (a unique key), so a second
//! monthly run, or one after a crash, never makes another. An issued invoice's lines and
//! amounts are never updated.

use uuid::Uuid;

use super::{Columns, execute, fetch_all, fetch_optional, scalar};
use crate::db::{DbError, Tx};

/// An invoice as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvoice {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// YYYY-MM.
    pub period: String,
    pub number: String,
    pub currency: String,
    pub subtotal_minor: i64,
    pub total_minor: i64,
    pub status: String,
    pub time_zone: String,
    pub period_start: i64,
    pub period_end: i64,
    pub issued_at: i64,
    pub due_at: i64,
    pub paid_minor: i64,
    pub credited_minor: i64,
    pub status_changed_at: i64,
}

impl StoredInvoice {
    /// What is still owed: the total less credit notes and payments.
    pub fn balance_minor(&self) -> i64 {
        self.total_minor - self.credited_minor - self.paid_minor
    }
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    pub position: i32,
    pub key: String,
    pub description: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub units_per_price: i64,
    pub discount_basis_points: i32,
    pub amount_minor: i64,
}

macro_rules! returning {
    () => {
        "id, tenant_id, period, number, currency, subtotal_minor, total_minor, status, \
         time_zone, period_start, period_end, issued_at, due_at, paid_minor, credited_minor, \
         status_changed_at"
    };
}

macro_rules! select {
    () => {
        concat!("SELECT ", returning!(), " FROM invoices WHERE ")
    };
}

fn read(row: Columns<'_>) -> Result<StoredInvoice, DbError> {
    read_row! { row => StoredInvoice { id: id("id"), tenant_id: id("tenant_id"),
    period: text("period"), number: text("number"), currency: text("currency"),
    subtotal_minor: number("subtotal_minor"), total_minor: number("total_minor"),
    status: text("status"), time_zone: text("time_zone"), period_start: number("period_start"),
    period_end: number("period_end"), issued_at: number("issued_at"), due_at: number("due_at"),
    paid_minor: number("paid_minor"), credited_minor: number("credited_minor"),
    status_changed_at: number("status_changed_at") } }
}

fn read_line(row: Columns<'_>) -> Result<StoredLine, DbError> {
    read_row! { row => StoredLine { position: number("position"), key: text("line_key"),
    description: text("description"), quantity: number("quantity"),
    unit_price_minor: number("unit_price_minor"), units_per_price: number("units_per_price"),
    discount_basis_points: number("discount_basis_points"), amount_minor: number("amount_minor") } }
}

/// `tenant`'s invoice of `period`, if made.
pub async fn of_period(
    tx: &mut Tx,
    tenant: Uuid,
    period: &str,
) -> Result<Option<StoredInvoice>, DbError> {
    let sql = concat!(select!(), "tenant_id = $1 AND period = $2");
    fetch_optional(tx, sql, params![tenant, period], read).await
}

/// `tenant`'s invoice `id`, if any.
pub async fn find(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<Option<StoredInvoice>, DbError> {
    let sql = concat!(select!(), "tenant_id = $1 AND id = $2");
    fetch_optional(tx, sql, params![tenant, id], read).await
}

/// A page of `tenant`'s invoices, newest period first.
pub async fn list(
    tx: &mut Tx,
    tenant: Uuid,
    (limit, offset): (i64, i64),
) -> Result<Vec<StoredInvoice>, DbError> {
    let sql = concat!(
        select!(),
        "tenant_id = $1 ORDER BY period DESC LIMIT $2 OFFSET $3"
    );
    fetch_all(tx, sql, params![tenant, limit, offset], read).await
}

/// The lines of `tenant`'s invoice `id`, in order.
pub async fn lines(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<Vec<StoredLine>, DbError> {
    let sql = "SELECT position, line_key, description, quantity, unit_price_minor, \
               units_per_price, discount_basis_points, amount_minor FROM invoice_lines \
               WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY position";
    fetch_all(tx, sql, params![tenant, id], read_line).await
}

/// Stores an invoice and its lines; a second invoice of the tenant's period is a constraint
/// violation.
pub async fn insert(
    tx: &mut Tx,
    invoice: &StoredInvoice,
    lines: &[StoredLine],
) -> Result<(), DbError> {
    let sql = "INSERT INTO invoices (id, tenant_id, period, number, currency, subtotal_minor, \
               total_minor, status, time_zone, period_start, period_end, issued_at, due_at, \
               paid_minor, credited_minor, status_changed_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
    let params = params![
        invoice.id,
        invoice.tenant_id,
        invoice.period.as_str(),
        invoice.number.as_str(),
        invoice.currency.as_str(),
        invoice.subtotal_minor,
        invoice.total_minor,
        invoice.status.as_str(),
        invoice.time_zone.as_str(),
        invoice.period_start,
        invoice.period_end,
        invoice.issued_at,
        invoice.due_at,
        invoice.paid_minor,
        invoice.credited_minor,
        invoice.status_changed_at
    ];
    execute(tx, sql, params).await?;
    for line in lines {
        let sql = "INSERT INTO invoice_lines (invoice_id, tenant_id, position, line_key, \
                   description, quantity, unit_price_minor, units_per_price, \
                   discount_basis_points, amount_minor) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        let params = params![
            invoice.id,
            invoice.tenant_id,
            line.position,
            line.key.as_str(),
            line.description.as_str(),
            line.quantity,
            line.unit_price_minor,
            line.units_per_price,
            line.discount_basis_points,
            line.amount_minor
        ];
        execute(tx, sql, params).await?;
    }
    Ok(())
}

/// How many invoices `tenant` has for `period` (0 or 1, by the unique key).
pub async fn count_of_period(tx: &mut Tx, tenant: Uuid, period: &str) -> Result<i64, DbError> {
    let sql = "SELECT COUNT(*) FROM invoices WHERE tenant_id = $1 AND period = $2";
    Ok(scalar(tx, sql, params![tenant, period]).await?.unwrap_or(0))
}

/// What takes an amount off an invoice's balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    Payment,
    CreditNote,
}

/// The UPDATE taking `$1` off the balance through `$column`: only from an issued or overdue
/// invoice owing at least that much; `paid` (at `$2`) when the balance reaches 0.
macro_rules! settle {
    ($column:literal) => {
        concat!(
            "UPDATE invoices SET ",
            $column,
            " = ",
            $column,
            " + $1, \
             status = CASE WHEN total_minor - credited_minor - paid_minor - $1 <= 0 \
                 THEN 'paid' ELSE status END, \
             status_changed_at = CASE WHEN total_minor - credited_minor - paid_minor - $1 <= 0 \
                 THEN $2 ELSE status_changed_at END \
             WHERE tenant_id = $3 AND id = $4 AND status IN ('issued', 'overdue') \
             AND total_minor - credited_minor - paid_minor >= $1"
        )
    };
}

/// Takes `amount` off the balance of `tenant`'s invoice `id` as paid or credited, if it is
/// issued or overdue and owes at least that much; a balance reaching 0 makes it `paid`. False
/// when it does not (another payment got there first, or it is paid or void).
pub async fn settle(
    tx: &mut Tx,
    (tenant, id): (Uuid, Uuid),
    (settlement, amount): (Settlement, i64),
    now: i64,
) -> Result<bool, DbError> {
    let sql = match settlement {
        Settlement::Payment => settle!("paid_minor"),
        Settlement::CreditNote => settle!("credited_minor"),
    };
    Ok(execute(tx, sql, params![amount, now, tenant, id]).await? == 1)
}

/// Voids `tenant`'s invoice `id` if nothing was paid on it; false otherwise.
pub async fn void(tx: &mut Tx, (tenant, id): (Uuid, Uuid), now: i64) -> Result<bool, DbError> {
    let sql = "UPDATE invoices SET status = 'void', status_changed_at = $1 \
               WHERE tenant_id = $2 AND id = $3 AND status IN ('issued', 'overdue') \
               AND paid_minor = 0";
    Ok(execute(tx, sql, params![now, tenant, id]).await? == 1)
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPayment {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub amount_minor: i64,
    pub reference: String,
    /// YYYY-MM-DD.
    pub paid_on: String,
    pub recorded_by: String,
    pub created_at: i64,
}

fn read_payment(row: Columns<'_>) -> Result<StoredPayment, DbError> {
    read_row! { row => StoredPayment { id: id("id"), invoice_id: id("invoice_id"),
    amount_minor: number("amount_minor"), reference: text("reference"), paid_on: text("paid_on"),
    recorded_by: text("recorded_by"), created_at: number("created_at") } }
}

/// Stores a payment of `tenant`; the same reference twice on one invoice is a constraint
/// violation.
pub async fn insert_payment(
    tx: &mut Tx,
    tenant: Uuid,
    payment: &StoredPayment,
) -> Result<(), DbError> {
    let sql = "INSERT INTO payments (id, tenant_id, invoice_id, amount_minor, reference, \
               paid_on, recorded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let params = params![
        payment.id,
        tenant,
        payment.invoice_id,
        payment.amount_minor,
        payment.reference.as_str(),
        payment.paid_on.as_str(),
        payment.recorded_by.as_str(),
        payment.created_at
    ];
    execute(tx, sql, params).await?;
    Ok(())
}

/// The payments of `tenant`'s invoice `id`, oldest first.
pub async fn payments(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<Vec<StoredPayment>, DbError> {
    let sql = "SELECT id, invoice_id, amount_minor, reference, paid_on, recorded_by, created_at \
               FROM payments WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY created_at, id";
    fetch_all(tx, sql, params![tenant, id], read_payment).await
}

/// A credit note as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCreditNote {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub number: String,
    pub amount_minor: i64,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
}

fn read_credit(row: Columns<'_>) -> Result<StoredCreditNote, DbError> {
    read_row! { row => StoredCreditNote { id: id("id"), invoice_id: id("invoice_id"),
    number: text("number"), amount_minor: number("amount_minor"), reason: text("reason"),
    created_by: text("created_by"), created_at: number("created_at") } }
}

/// Stores a credit note of `tenant`.
pub async fn insert_credit_note(
    tx: &mut Tx,
    tenant: Uuid,
    note: &StoredCreditNote,
) -> Result<(), DbError> {
    let sql = "INSERT INTO credit_notes (id, tenant_id, invoice_id, number, amount_minor, \
               reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let params = params![
        note.id,
        tenant,
        note.invoice_id,
        note.number.as_str(),
        note.amount_minor,
        note.reason.as_str(),
        note.created_by.as_str(),
        note.created_at
    ];
    execute(tx, sql, params).await?;
    Ok(())
}

/// The credit notes of `tenant`'s invoice `id`, oldest first.
pub async fn credit_notes(
    tx: &mut Tx,
    tenant: Uuid,
    id: Uuid,
) -> Result<Vec<StoredCreditNote>, DbError> {
    let sql = "SELECT id, invoice_id, number, amount_minor, reason, created_by, created_at \
               FROM credit_notes WHERE tenant_id = $1 AND invoice_id = $2 \
               ORDER BY created_at, id";
    fetch_all(tx, sql, params![tenant, id], read_credit).await
}

/// How many credit notes `invoice` has (for the next one's number).
pub async fn count_credit_notes(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<i64, DbError> {
    let sql = "SELECT COUNT(*) FROM credit_notes WHERE tenant_id = $1 AND invoice_id = $2";
    Ok(scalar(tx, sql, params![tenant, id]).await?.unwrap_or(0))
}

/// The tenants with an invoice issued and unpaid whose due date passed by `as_of` (a
/// platform-scoped transaction), with those already overdue: the dunning check's candidates.
pub async fn tenants_past_due(tx: &mut Tx, as_of: i64) -> Result<Vec<Uuid>, DbError> {
    let sql = "SELECT DISTINCT tenant_id FROM invoices \
               WHERE (status = 'issued' AND due_at <= $1) OR status = 'overdue' \
               ORDER BY tenant_id";
    fetch_all(tx, sql, params![as_of], |row| row.id("tenant_id")).await
}

/// Marks `overdue` (at `now`) each issued invoice of `tenant` with a balance whose due date
/// is `after` (ms) or more before `as_of`; the invoices marked.
pub async fn mark_overdue(
    tx: &mut Tx,
    tenant: Uuid,
    (as_of, after): (i64, i64),
    now: i64,
) -> Result<Vec<StoredInvoice>, DbError> {
    let sql = concat!(
        "UPDATE invoices SET status = 'overdue', status_changed_at = $4 \
         WHERE tenant_id = $2 AND status = 'issued' AND due_at <= $1 - $3 \
         AND total_minor - credited_minor - paid_minor > 0 RETURNING ",
        returning!()
    );
    fetch_all(tx, sql, params![as_of, tenant, after, now], read).await
}

/// `tenant`'s overdue invoices, oldest due first.
pub async fn overdue(tx: &mut Tx, tenant: Uuid) -> Result<Vec<StoredInvoice>, DbError> {
    let sql = concat!(
        select!(),
        "tenant_id = $1 AND status = 'overdue' ORDER BY due_at, id"
    );
    fetch_all(tx, sql, params![tenant], read).await
}
