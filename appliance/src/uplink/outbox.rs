//! The outbox: every message the box owes the relay, in SQLite (`outbox`), numbered by the
//! box's sequence and kept until the broker acknowledges it.
//!
//! Contract:
//! - [`enqueue`] runs inside the caller's write transaction, so a message and the state it
//!   reports commit together or not at all. Its `seq` is the row's AUTOINCREMENT key:
//!   strictly increasing, never reused (also after every row is gone, and across restarts),
//!   and written into the payload itself.
//! - A row is deleted only by [`acknowledged`], once it is let go: the relay acknowledged
//!   its `seq` (`{prefix}/acks`), or with `uplink.acknowledged_by = "broker"` the broker's
//!   PUBACK for it. Until then it is published again after every reconnect and restart,
//!   oldest first.
//! - The quota bounds the payload bytes, together with the snapshot upload grants kept
//!   until their uploads end (their URLs' bytes, `outbox_usage.grant_bytes`). Over it,
//!   telemetry is thinned (every other telemetry sample deleted, oldest first, until the
//!   new message fits); a new telemetry sample that still does not fit is dropped. RPC
//!   responses, attributes, search events and grants are never dropped: they are stored
//!   over the quota, and the caller refuses new work while [`Usage::over`] says so.

use rusqlite::{Connection, Transaction, params};

use crate::db::{DbError, SqlResultExt};

/// What a message is; telemetry alone may be thinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Telemetry,
    Attributes,
    RpcResponse,
    SearchEvent,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Telemetry => "telemetry",
            Kind::Attributes => "attributes",
            Kind::RpcResponse => "rpc_response",
            Kind::SearchEvent => "search_event",
        }
    }
}

/// What became of a message given to [`enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// Stored with this sequence; `thinned` older telemetry samples were deleted for room.
    Stored { seq: u64, thinned: u64 },
    /// A telemetry sample with no room even after thinning: not stored.
    Dropped,
}

/// One row waiting for its PUBACK.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) seq: u64,
    /// Below the box's prefix (`telemetry`, `rpc/response/7`).
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
}

/// The outbox's size and age.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Usage {
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    /// Snapshot upload grants kept until their uploads end, and their URLs' bytes, which
    /// count against the same quota.
    pub(crate) grants: u64,
    pub(crate) grant_bytes: u64,
    /// When the oldest waiting message was written, Unix ms.
    pub(crate) oldest_ms: Option<i64>,
    /// The last sequence ever given (0 before the first message).
    pub(crate) last_seq: u64,
    pub(crate) quota_bytes: u64,
}

impl Usage {
    pub(crate) fn over(&self) -> bool {
        self.bytes + self.grant_bytes >= self.quota_bytes
    }

    /// The oldest message's age at `now_ms`, in seconds.
    pub(crate) fn oldest_seconds(&self, now_ms: i64) -> Option<u64> {
        self.oldest_ms
            .map(|t| u64::try_from(now_ms.saturating_sub(t) / 1000).unwrap_or(0))
    }
}

/// Writes a message (made by `payload` from its sequence) in the caller's transaction.
pub(crate) fn enqueue(
    tx: &Transaction<'_>,
    kind: Kind,
    topic: &str,
    quota_bytes: u64,
    now_ms: i64,
    payload: impl FnOnce(u64) -> Vec<u8>,
) -> Result<Enqueued, DbError> {
    let context = "write a message to the outbox";
    tx.execute(
        "INSERT INTO outbox (kind, topic, payload, created_at_ms) VALUES (?1, ?2, x'', ?3)",
        params![kind.as_str(), topic, now_ms],
    )
    .purpose(context)?;
    let seq = u64::try_from(tx.last_insert_rowid()).unwrap_or(0);
    let bytes = payload(seq);
    tx.execute(
        "UPDATE outbox SET payload = ?1 WHERE seq = ?2",
        params![bytes, seq as i64],
    )
    .purpose(context)?;
    let thinned = make_room(tx, quota_bytes, Some(seq))?;
    if kind == Kind::Telemetry && used_bytes(tx)? > quota_bytes {
        tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq as i64])
            .purpose(context)?;
        metrics::counter!("dipper_outbox_dropped_total", "kind" => kind.as_str()).increment(1);
        return Ok(Enqueued::Dropped);
    }
    metrics::counter!("dipper_outbox_written_total", "kind" => kind.as_str()).increment(1);
    Ok(Enqueued::Stored { seq, thinned })
}

/// Thins telemetry (but the sample `keep`) while the outbox, with the upload grants it
/// accounts for, is over `quota_bytes`; how many samples went.
pub(crate) fn make_room(
    tx: &Transaction<'_>,
    quota_bytes: u64,
    keep: Option<u64>,
) -> Result<u64, DbError> {
    let mut thinned = 0;
    while used_bytes(tx)? > quota_bytes {
        let gone = thin_telemetry(tx, keep.unwrap_or(0))?;
        if gone == 0 {
            break;
        }
        thinned += gone;
    }
    if thinned > 0 {
        metrics::counter!("dipper_outbox_thinned_total").increment(thinned);
    }
    Ok(thinned)
}

/// The payload bytes waiting, and the upload grants' (counted against the same quota).
fn used_bytes(tx: &Transaction<'_>) -> Result<u64, DbError> {
    tx.query_row(
        "SELECT bytes + grant_bytes FROM outbox_usage WHERE id = 1",
        [],
        |row| row.get::<_, i64>(0),
    )
    .purpose("read the outbox's size")
    .map(|b| u64::try_from(b).unwrap_or(0))
}

/// Deletes every other telemetry sample but `keep` (the 1st, 3rd, ... oldest); how many.
fn thin_telemetry(tx: &Transaction<'_>, keep: u64) -> Result<u64, DbError> {
    let deleted = tx
        .execute(
            "DELETE FROM outbox WHERE seq IN (
                 SELECT seq FROM (
                     SELECT seq, row_number() OVER (ORDER BY seq) AS n
                     FROM outbox WHERE kind = 'telemetry' AND seq <> ?1)
                 WHERE n % 2 = 1)",
            [keep as i64],
        )
        .purpose("thin the outbox's telemetry")?;
    Ok(deleted as u64)
}

/// Up to `limit` waiting messages after `after`, oldest first.
pub(crate) fn pending(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<Pending>, DbError> {
    let context = "read the outbox";
    let mut statement = conn
        .prepare_cached(
            "SELECT seq, topic, payload FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .purpose(context)?;
    let rows = statement
        .query_map(params![after as i64, limit as i64], |row| {
            Ok(Pending {
                seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                topic: row.get(1)?,
                payload: row.get(2)?,
            })
        })
        .purpose(context)?;
    rows.collect::<Result<_, _>>().purpose(context)
}

/// Deletes the messages let go, `first..=last` each; how many there were.
pub(crate) fn acknowledged(tx: &Transaction<'_>, ranges: &[(u64, u64)]) -> Result<u64, DbError> {
    let context = "delete acknowledged messages";
    let mut statement = tx
        .prepare_cached("DELETE FROM outbox WHERE seq BETWEEN ?1 AND ?2")
        .purpose(context)?;
    let mut deleted = 0;
    for (first, last) in ranges {
        let (first, last) = (clamp(*first), clamp(*last));
        deleted += statement.execute([first, last]).purpose(context)? as u64;
    }
    Ok(deleted)
}

/// A sequence as SQLite stores it (one past its range names nothing stored).
fn clamp(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// The outbox's size and the age of its oldest message.
pub(crate) fn usage(conn: &Connection, quota_bytes: u64) -> Result<Usage, DbError> {
    let context = "read the outbox's size";
    let (messages, bytes, grants, grant_bytes) = conn
        .query_row(
            "SELECT messages, bytes, grants, grant_bytes FROM outbox_usage WHERE id = 1",
            [],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            },
        )
        .purpose(context)?;
    let oldest_ms = conn
        .query_row(
            "SELECT created_at_ms FROM outbox ORDER BY seq LIMIT 1",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .purpose(context)?;
    let last_seq = conn
        .query_row(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)",
            [],
            |row| row.get::<_, i64>(0),
        )
        .purpose(context)?;
    Ok(Usage {
        last_seq: u64::try_from(last_seq).unwrap_or(0),
        messages: u64::try_from(messages).unwrap_or(0),
        bytes: u64::try_from(bytes).unwrap_or(0),
        grants: u64::try_from(grants).unwrap_or(0),
        grant_bytes: u64::try_from(grant_bytes).unwrap_or(0),
        oldest_ms,
        quota_bytes,
    })
}
