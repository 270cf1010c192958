//! The relay's own secrets, shared by every instance (platform-scoped).

use super::{execute, required, scalar};
use crate::db::{DbError, Tx, now_ms};

/// The secret `name`, stored as `value` first if there is none yet (the first instance to
/// start chooses it; the others read it).
pub async fn get_or_insert(tx: &mut Tx, name: &str, value: String) -> Result<String, DbError> {
    let sql = "INSERT INTO relay_secrets (name, value, created_at) VALUES ($1, $2, $3) \
               ON CONFLICT (name) DO NOTHING";
    execute(tx, sql, params![name, value, now_ms()]).await?;
    let sql = "SELECT value FROM relay_secrets WHERE name = $1";
    required(scalar(tx, sql, params![name]).await?)
}
