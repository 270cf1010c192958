//! A tenant's standing (`good`, `overdue`, `suspended`): no row is `good`.

use uuid::Uuid;

use super::{execute, fetch_all, fetch_optional};
use crate::db::{DbError, Tx};

/// A tenant's standing as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStanding {
    pub standing: String,
    /// When it took this standing (Unix ms); 0 for a tenant never out of good standing.
    pub since: i64,
    pub reason: String,
}

impl Default for StoredStanding {
    fn default() -> Self {
        StoredStanding {
            standing: "good".to_owned(),
            since: 0,
            reason: String::new(),
        }
    }
}

/// The standing of `tenant`.
pub async fn get(tx: &mut Tx, tenant: Uuid) -> Result<StoredStanding, DbError> {
    let sql = "SELECT standing, since, reason FROM tenant_standing WHERE tenant_id = $1";
    let found = fetch_optional(tx, sql, params![tenant], |row| {
        read_row! { row => StoredStanding { standing: text("standing"), since: number("since"),
        reason: text("reason") } }
    })
    .await?;
    Ok(found.unwrap_or_default())
}

/// Whether `tenant` is suspended.
pub async fn is_suspended(tx: &mut Tx, tenant: Uuid) -> Result<bool, DbError> {
    Ok(get(tx, tenant).await?.standing == "suspended")
}

/// Sets the standing of `tenant`.
pub async fn set(tx: &mut Tx, tenant: Uuid, standing: &StoredStanding) -> Result<(), DbError> {
    let sql = "INSERT INTO tenant_standing (tenant_id, standing, since, reason) \
               VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
               standing = excluded.standing, since = excluded.since, reason = excluded.reason";
    let params = params![
        tenant,
        standing.standing.as_str(),
        standing.since,
        standing.reason.as_str()
    ];
    execute(tx, sql, params).await?;
    Ok(())
}

/// How many made tenants (not `creating`) are in each standing (a platform-scoped
/// transaction), by standing.
pub async fn count_by_standing(tx: &mut Tx) -> Result<Vec<(String, i64)>, DbError> {
    let sql = "SELECT COALESCE(s.standing, 'good') AS standing, COUNT(*) AS tenants \
               FROM tenants t LEFT JOIN tenant_standing s ON s.tenant_id = t.id \
               WHERE t.status <> 'creating' GROUP BY COALESCE(s.standing, 'good') \
               ORDER BY standing";
    fetch_all(tx, sql, params![], |row| {
        Ok((row.text("standing")?, row.number("tenants")?))
    })
    .await
}
