//! Where a tenant's notices go (`notification_channels`) and the outbox of notices to send
//! (`notifications`): a notice is written in the transaction of the change it reports, once
//! per channel and event (a unique key), and sent by whichever relay instance claims it.

use uuid::Uuid;

use super::{Columns, execute, fetch_all, fetch_optional};
use crate::db::{DbError, Tx};

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChannel {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `email`, `feishu` or `sms`.
    pub kind: String,
    /// The address, the webhook's URL or the phone number.
    pub target: String,
    /// The Feishu bot's signing secret.
    pub secret: Option<String>,
    /// `zh` or `en`.
    pub language: String,
    /// The events it takes, `,a,b,`.
    pub events: String,
    pub created_by: String,
    pub created_at: i64,
}

fn read_channel(row: Columns<'_>) -> Result<StoredChannel, DbError> {
    read_row! { row => StoredChannel { id: id("id"), tenant_id: id("tenant_id"),
    kind: text("kind"), target: text("target"), secret: optional_text("secret"),
    language: text("language"), events: text("events"), created_by: text("created_by"),
    created_at: number("created_at") } }
}

macro_rules! channel_columns {
    () => {
        "id, tenant_id, kind, target, secret, language, events, created_by, created_at"
    };
}

pub async fn insert_channel(tx: &mut Tx, channel: &StoredChannel) -> Result<(), DbError> {
    let sql = concat!(
        "INSERT INTO notification_channels (",
        channel_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    let c = channel;
    let params = params![
        c.id,
        c.tenant_id,
        c.kind.as_str(),
        c.target.as_str(),
        c.secret.as_deref(),
        c.language.as_str(),
        c.events.as_str(),
        c.created_by.as_str(),
        c.created_at
    ];
    execute(tx, sql, params).await?;
    Ok(())
}

/// `tenant`'s channels, oldest first.
pub async fn channels(tx: &mut Tx, tenant: Uuid) -> Result<Vec<StoredChannel>, DbError> {
    let sql = concat!(
        "SELECT ",
        channel_columns!(),
        " FROM notification_channels WHERE tenant_id = $1 ORDER BY created_at, id"
    );
    fetch_all(tx, sql, params![tenant], read_channel).await
}

/// `tenant`'s channel `id`, if any.
pub async fn channel(
    tx: &mut Tx,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<StoredChannel>, DbError> {
    let sql = concat!(
        "SELECT ",
        channel_columns!(),
        " FROM notification_channels WHERE tenant_id = $1 AND id = $2"
    );
    fetch_optional(tx, sql, params![tenant, id], read_channel).await
}

/// Deletes `tenant`'s channel `id` and its notices; whether there was one.
pub async fn delete_channel(tx: &mut Tx, tenant: Uuid, id: Uuid) -> Result<bool, DbError> {
    let sql = "DELETE FROM notifications WHERE tenant_id = $1 AND channel_id = $2";
    execute(tx, sql, params![tenant, id]).await?;
    let sql = "DELETE FROM notification_channels WHERE tenant_id = $1 AND id = $2";
    Ok(execute(tx, sql, params![tenant, id]).await? == 1)
}

/// Writes a notice of `event` (made one by `key`) with its JSON `facts` for each channel of
/// `tenant` that takes the event, due at once; a notice already written is left as it is.
/// How many were written.
pub async fn enqueue(
    tx: &mut Tx,
    tenant: Uuid,
    (event, key): (&str, &str),
    facts: &str,
    now: i64,
) -> Result<u64, DbError> {
    let mut written = 0;
    let pattern = format!("%,{event},%");
    let sql = "SELECT id FROM notification_channels WHERE tenant_id = $1 AND events LIKE $2 \
               ORDER BY created_at, id";
    let channels = fetch_all(tx, sql, params![tenant, pattern], |row| row.id("id")).await?;
    for channel in channels {
        let sql = "INSERT INTO notifications (id, tenant_id, channel_id, event, event_key, \
                   facts, status, next_attempt_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) \
                   ON CONFLICT (channel_id, event_key) DO NOTHING";
        let params = params![Uuid::new_v4(), tenant, channel, event, key, facts, now];
        written += execute(tx, sql, params).await?;
    }
    Ok(written)
}

/// A notice as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotice {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub channel_id: Uuid,
    pub event: String,
    pub event_key: String,
    pub facts: String,
    /// `pending`, `sent` or `failed` (given up after the last attempt).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

fn read_notice(row: Columns<'_>) -> Result<StoredNotice, DbError> {
    read_row! { row => StoredNotice { id: id("id"), tenant_id: id("tenant_id"),
    channel_id: id("channel_id"), event: text("event"), event_key: text("event_key"),
    facts: text("facts"), status: text("status"), attempts: number("attempts"),
    next_attempt_at: number("next_attempt_at"), last_error: optional_text("last_error"),
    created_at: number("created_at"), sent_at: number("sent_at") } }
}

macro_rules! notice_columns {
    () => {
        "SELECT id, tenant_id, channel_id, event, event_key, facts, status, attempts, \
         next_attempt_at, last_error, created_at, sent_at FROM notifications WHERE "
    };
}

/// A page of `tenant`'s notices, newest first; only those of `status` when given.
pub async fn list(
    tx: &mut Tx,
    tenant: Uuid,
    status: Option<&str>,
    (limit, offset): (i64, i64),
) -> Result<Vec<StoredNotice>, DbError> {
    let sql = concat!(
        notice_columns!(),
        "tenant_id = $1 AND ($2 IS NULL OR status = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
    );
    fetch_all(tx, sql, params![tenant, status, limit, offset], read_notice).await
}

/// Up to `limit` notices due at `now` and not claimed (a platform-scoped transaction),
/// oldest first.
pub async fn due(tx: &mut Tx, now: i64, limit: i64) -> Result<Vec<StoredNotice>, DbError> {
    let sql = concat!(
        notice_columns!(),
        "status = 'pending' AND next_attempt_at <= $1 AND claimed_until <= $1 \
         ORDER BY next_attempt_at, id LIMIT $2"
    );
    fetch_all(tx, sql, params![now, limit], read_notice).await
}

/// Claims notice `id` until `until` for one attempt; false when another sender has it.
pub async fn claim(tx: &mut Tx, id: Uuid, (now, until): (i64, i64)) -> Result<bool, DbError> {
    let sql = "UPDATE notifications SET claimed_until = $1, attempts = attempts + 1 \
               WHERE id = $2 AND status = 'pending' AND next_attempt_at <= $3 \
               AND claimed_until <= $3";
    Ok(execute(tx, sql, params![until, id, now]).await? == 1)
}

/// Notice `id` was delivered at `now`.
pub async fn mark_sent(tx: &mut Tx, id: Uuid, now: i64) -> Result<(), DbError> {
    let sql = "UPDATE notifications SET status = 'sent', sent_at = $1, claimed_until = 0, \
               last_error = NULL WHERE id = $2";
    execute(tx, sql, params![now, id]).await?;
    Ok(())
}

/// Notice `id` failed with `error`: tried again at `retry_at`, or given up (`failed`) when
/// there is none.
pub async fn mark_failed(
    tx: &mut Tx,
    id: Uuid,
    error: &str,
    retry_at: Option<i64>,
) -> Result<(), DbError> {
    let sql = "UPDATE notifications SET status = CASE WHEN $1 < 0 THEN 'failed' ELSE status END, \
               next_attempt_at = CASE WHEN $1 < 0 THEN next_attempt_at ELSE $1 END, \
               claimed_until = 0, last_error = $2 WHERE id = $3";
    execute(tx, sql, params![retry_at.unwrap_or(-1), error, id]).await?;
    Ok(())
}
