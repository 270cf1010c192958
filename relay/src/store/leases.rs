//! Leases on periodic jobs: which relay instance runs one, until when. Taking a lease is one
//! conditional upsert, so two instances never both hold it.

use super::execute;
use crate::db::{DbError, Tx};

/// Takes or renews the lease `name` for `holder` until `until` (ms): true when `holder`
/// holds it now (it was free, expired by `now`, or already its own).
pub async fn take(
    tx: &mut Tx,
    name: &str,
    holder: &str,
    (now, until): (i64, i64),
) -> Result<bool, DbError> {
    let sql = "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
               ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
               expires_at = excluded.expires_at \
               WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= $4";
    Ok(execute(tx, sql, params![name, holder, until, now]).await? == 1)
}
