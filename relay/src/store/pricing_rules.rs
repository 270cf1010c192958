//! A tenant's pricing rule versions: each a `billing::PricingRule` stored as JSON under its
//! local `effective_from` date (unique per tenant).

use uuid::Uuid;

use super::{Columns, execute, fetch_all};
use crate::db::{DbError, Tx};

/// One stored version.
#[derive(Debug, Clone)]
pub struct StoredRule {
    pub id: Uuid,
    /// YYYY-MM-DD.
    pub effective_from: String,
    /// The rule as JSON.
    pub rule: String,
    pub created_by: String,
    pub created_at: i64,
}

fn read(row: Columns<'_>) -> Result<StoredRule, DbError> {
    Ok(StoredRule {
        id: row.id("id")?,
        effective_from: row.text("effective_from")?,
        rule: row.text("rule")?,
        created_by: row.text("created_by")?,
        created_at: row.number("created_at")?,
    })
}

/// Every version of `tenant`'s rule, oldest first.
pub async fn list(tx: &mut Tx, tenant: Uuid) -> Result<Vec<StoredRule>, DbError> {
    let sql = "SELECT id, effective_from, rule, created_by, created_at FROM pricing_rules \
               WHERE tenant_id = $1 ORDER BY effective_from";
    fetch_all(tx, sql, params![tenant], read).await
}

/// Stores a version; a second one on the same date is a constraint violation.
pub async fn insert(tx: &mut Tx, tenant: Uuid, rule: &StoredRule) -> Result<(), DbError> {
    let sql = "INSERT INTO pricing_rules \
               (id, tenant_id, effective_from, rule, created_by, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6)";
    let params = params![
        rule.id,
        tenant,
        rule.effective_from.as_str(),
        rule.rule.as_str(),
        rule.created_by.as_str(),
        rule.created_at
    ];
    execute(tx, sql, params).await?;
    Ok(())
}
