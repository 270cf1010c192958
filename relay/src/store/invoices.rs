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

macro_rules! select {
    () => {
        "SELECT id, tenant_id, period, number, currency, subtotal_minor, total_minor, status, \
         time_zone, period_start, period_end, issued_at, due_at FROM invoices WHERE "
    };
}

fn read(row: Columns<'_>) -> Result<StoredInvoice, DbError> {
    read_row! { row => StoredInvoice { id: id("id"), tenant_id: id("tenant_id"),
    period: text("period"), number: text("number"), currency: text("currency"),
    subtotal_minor: number("subtotal_minor"), total_minor: number("total_minor"),
    status: text("status"), time_zone: text("time_zone"), period_start: number("period_start"),
    period_end: number("period_end"), issued_at: number("issued_at"), due_at: number("due_at") } }
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
               total_minor, status, time_zone, period_start, period_end, issued_at, due_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
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
        invoice.due_at
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
