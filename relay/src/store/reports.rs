//! The platform admins' reports (platform-scoped transactions): revenue by month and
//! currency, tenants by status and standing, the boxes each tenant was billed for.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::fetch_all;
use crate::db::{DbError, Tx};

/// One month's invoices in one currency, as the revenue report answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RevenueMonth {
    /// `YYYY-MM`, the invoices' period.
    pub month: String,
    pub currency: String,
    pub invoices: i64,
    /// Invoices' totals (void ones left out).
    pub invoiced_minor: i64,
    /// Taken off by credit notes.
    pub credited_minor: i64,
    /// Received.
    pub paid_minor: i64,
    /// Still owed on issued and overdue invoices.
    pub outstanding_minor: i64,
    /// Of which overdue.
    pub overdue_minor: i64,
}

/// The invoices (void ones left out) of the periods `from` to `to` (YYYY-MM, inclusive), by
/// period and currency.
pub async fn revenue(tx: &mut Tx, (from, to): (&str, &str)) -> Result<Vec<RevenueMonth>, DbError> {
    // PostgreSQL sums BIGINTs as NUMERIC: cast back.
    let sql = "SELECT period, currency, COUNT(*) AS invoices, \
               CAST(SUM(total_minor) AS BIGINT) AS invoiced, \
               CAST(SUM(credited_minor) AS BIGINT) AS credited, \
               CAST(SUM(paid_minor) AS BIGINT) AS paid, \
               CAST(SUM(CASE WHEN status IN ('issued', 'overdue') \
                   THEN total_minor - credited_minor - paid_minor ELSE 0 END) AS BIGINT) \
                   AS outstanding, \
               CAST(SUM(CASE WHEN status = 'overdue' \
                   THEN total_minor - credited_minor - paid_minor ELSE 0 END) AS BIGINT) \
                   AS overdue \
               FROM invoices WHERE status <> 'void' AND period >= $1 AND period <= $2 \
               GROUP BY period, currency ORDER BY period, currency";
    fetch_all(tx, sql, params![from, to], |row| {
        read_row! { row => RevenueMonth { month: text("period"), currency: text("currency"),
        invoices: number("invoices"), invoiced_minor: number("invoiced"),
        credited_minor: number("credited"), paid_minor: number("paid"),
        outstanding_minor: number("outstanding"), overdue_minor: number("overdue") } }
    })
    .await
}

/// How many made tenants have each status (`enabled`, `disabled`).
pub async fn tenants_by_status(tx: &mut Tx) -> Result<Vec<(String, i64)>, DbError> {
    let sql = "SELECT status, COUNT(*) AS tenants FROM tenants WHERE status <> 'creating' \
               GROUP BY status ORDER BY status";
    fetch_all(tx, sql, params![], |row| {
        Ok((row.text("status")?, row.number("tenants")?))
    })
    .await
}

/// The boxes of `tenant` seen online on a date from `first` to `last` (YYYY-MM-DD).
pub async fn devices_seen(
    tx: &mut Tx,
    tenant: Uuid,
    (first, last): (&str, &str),
) -> Result<i64, DbError> {
    let sql = "SELECT COUNT(DISTINCT device_id) AS devices FROM device_days \
               WHERE tenant_id = $1 AND local_date >= $2 AND local_date <= $3";
    let found = fetch_all(tx, sql, params![tenant, first, last], |row| {
        row.number::<i64>("devices")
    })
    .await?;
    Ok(found.into_iter().next().unwrap_or(0))
}
