//! The upload grants' SQL (`upload_grants`): stored when they arrive (only for a match of
//! the search they name), read when due, and changed by the uploader only while they are
//! the version it read, so a grant that a newer one replaced meanwhile is left to it.

use protocol::uploads::UploadGrant;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;

use crate::db::{DbError, SqlResultExt};
use crate::engine::Snapshot;

/// A grant as kept, with how far its uploads went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Grant {
    pub(super) key: GrantKey,
    pub(super) face_url: String,
    pub(super) frame_url: String,
    pub(super) expires_at_ms: i64,
    pub(super) face_uploaded: bool,
    pub(super) frame_uploaded: bool,
    /// Tries that found the store unreachable or failing, since the grant came.
    pub(super) attempts: u32,
}

/// One version of one (search, match)'s grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct GrantKey {
    pub(super) search_id: Uuid,
    pub(super) match_id: i64,
    pub(super) version: i64,
}

/// What became of a grant that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Received {
    /// Kept (new, or in place of the one before).
    Stored,
    /// The box has no such match for that search: refused.
    UnknownMatch,
}

/// Keeps `grant` when its match is one of its search's, in place of an earlier grant for
/// them (a snapshot keeps its uploaded mark only when its URL is the same).
pub(super) fn store(
    tx: &Transaction<'_>,
    grant: &UploadGrant,
    now_ms: i64,
) -> Result<Received, DbError> {
    let stored = tx
        .execute(
            "INSERT INTO upload_grants (search_id, match_id, face_url, frame_url, expires_at_ms,
                                        next_attempt_at_ms, received_at_ms)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?6
             WHERE EXISTS (SELECT 1 FROM matches m
                           JOIN remote_searches s ON s.task_id = m.task_id
                           WHERE m.id = ?2 AND s.search_id = ?1)
             ON CONFLICT (search_id, match_id) DO UPDATE SET
                 face_uploaded = face_uploaded AND face_url = excluded.face_url,
                 frame_uploaded = frame_uploaded AND frame_url = excluded.frame_url,
                 face_url = excluded.face_url,
                 frame_url = excluded.frame_url,
                 expires_at_ms = excluded.expires_at_ms,
                 version = version + 1,
                 attempts = 0,
                 next_attempt_at_ms = excluded.next_attempt_at_ms,
                 last_error = NULL,
                 received_at_ms = excluded.received_at_ms",
            params![
                grant.search_id.to_string(),
                grant.match_id,
                grant.face_url,
                grant.frame_url,
                grant.expires_at_ms,
                now_ms
            ],
        )
        .purpose("store an upload grant")?;
    Ok(if stored == 1 {
        Received::Stored
    } else {
        Received::UnknownMatch
    })
}

fn read_grant(row: &rusqlite::Row<'_>) -> rusqlite::Result<Grant> {
    let search: String = row.get(0)?;
    let search_id = Uuid::parse_str(&search).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Grant {
        key: GrantKey {
            search_id,
            match_id: row.get(1)?,
            version: row.get(2)?,
        },
        face_url: row.get(3)?,
        frame_url: row.get(4)?,
        expires_at_ms: row.get(5)?,
        face_uploaded: row.get(6)?,
        frame_uploaded: row.get(7)?,
        attempts: u32::try_from(row.get::<_, i64>(8)?).unwrap_or(u32::MAX),
    })
}

/// Up to `limit` grants due at `now_ms`, the longest waiting first.
pub(super) fn due(conn: &Connection, now_ms: i64, limit: usize) -> Result<Vec<Grant>, DbError> {
    let context = "read the upload grants due";
    let mut statement = conn
        .prepare_cached(
            "SELECT search_id, match_id, version, face_url, frame_url, expires_at_ms,
                    face_uploaded, frame_uploaded, attempts
             FROM upload_grants WHERE next_attempt_at_ms <= ?1
             ORDER BY next_attempt_at_ms, match_id LIMIT ?2",
        )
        .purpose(context)?;
    let rows = statement
        .query_map(params![now_ms, limit as i64], read_grant)
        .purpose(context)?;
    rows.collect::<Result<_, _>>().purpose(context)
}

/// When the next grant is due, if any is kept.
pub(super) fn next_due_ms(conn: &Connection) -> Result<Option<i64>, DbError> {
    conn.query_row(
        "SELECT min(next_attempt_at_ms) FROM upload_grants",
        [],
        |row| row.get::<_, Option<i64>>(0),
    )
    .optional()
    .map(Option::flatten)
    .purpose("read when the next upload is due")
}

/// Marks one snapshot of the grant uploaded; whether the grant was still that version.
pub(super) fn mark_uploaded(
    tx: &Transaction<'_>,
    key: &GrantKey,
    which: Snapshot,
) -> Result<bool, DbError> {
    let sql = match which {
        Snapshot::Face => {
            "UPDATE upload_grants SET face_uploaded = 1
             WHERE search_id = ?1 AND match_id = ?2 AND version = ?3"
        }
        Snapshot::Frame => {
            "UPDATE upload_grants SET frame_uploaded = 1
             WHERE search_id = ?1 AND match_id = ?2 AND version = ?3"
        }
    };
    let changed = tx
        .execute(sql, key_params(key))
        .purpose("mark a snapshot uploaded")?;
    Ok(changed == 1)
}

/// Puts the grant off until `at_ms`, one failed try more, with why.
pub(super) fn retry_at(
    tx: &Transaction<'_>,
    key: &GrantKey,
    at_ms: i64,
    error: &str,
) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            "UPDATE upload_grants SET attempts = attempts + 1, next_attempt_at_ms = ?4,
                    last_error = ?5
             WHERE search_id = ?1 AND match_id = ?2 AND version = ?3",
            params![
                key.search_id.to_string(),
                key.match_id,
                key.version,
                at_ms,
                error
            ],
        )
        .purpose("put an upload off")?;
    Ok(changed == 1)
}

/// Forgets the grant; whether it was still that version.
pub(super) fn forget(tx: &Transaction<'_>, key: &GrantKey) -> Result<bool, DbError> {
    let changed = tx
        .execute(
            "DELETE FROM upload_grants WHERE search_id = ?1 AND match_id = ?2 AND version = ?3",
            key_params(key),
        )
        .purpose("forget an upload grant")?;
    Ok(changed == 1)
}

fn key_params(key: &GrantKey) -> (String, i64, i64) {
    (key.search_id.to_string(), key.match_id, key.version)
}
