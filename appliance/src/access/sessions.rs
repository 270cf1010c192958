//! Signed-in sessions. The cookie's value is 32 random bytes (base64url); the database keeps
//! only its SHA-256, so a copy of the database signs nobody in. A session lives
//! [`IDLE_MS`] after its last use and [`LONGEST_MS`] after it began, whichever is first.

use base64::Engine as _;
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::db::DbError;

/// A session ends this long after its last use.
pub(crate) const IDLE_MS: i64 = 12 * 3600 * 1000;
/// And this long after it began, used or not.
pub(crate) const LONGEST_MS: i64 = 7 * 24 * 3600 * 1000;
/// Its last use is written at most this often.
pub(super) const TOUCH_EVERY_MS: i64 = 60_000;
/// Sessions kept at most; the least recently used go first.
const MOST_SESSIONS: i64 = 50;

/// A session just made: the cookie's value (shown once) and its CSRF token.
#[derive(Clone)]
pub(crate) struct NewSession {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession").finish_non_exhaustive()
    }
}

/// A live session as stored.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) digest: Vec<u8>,
    pub(crate) csrf: String,
    pub(crate) created_at_ms: i64,
    pub(crate) last_seen_ms: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("created_at_ms", &self.created_at_ms)
            .field("last_seen_ms", &self.last_seen_ms)
            .finish_non_exhaustive()
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl NewSession {
    pub(crate) fn generate() -> NewSession {
        NewSession {
            cookie: random_token(),
            csrf: random_token(),
        }
    }
}

/// The stored form of a cookie's value.
pub(super) fn digest(cookie: &str) -> Vec<u8> {
    Sha256::digest(cookie.as_bytes()).to_vec()
}

pub(super) fn insert(conn: &Connection, session: &NewSession, now_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO sessions (digest, csrf, created_at_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?3)",
        rusqlite::params![digest(&session.cookie), session.csrf, now_ms],
    )?;
    Ok(())
}

pub(super) fn find(
    conn: &Connection,
    digest: &[u8],
    now_ms: i64,
) -> Result<Option<Session>, DbError> {
    Ok(conn
        .query_row(
            "SELECT digest, csrf, created_at_ms, last_seen_ms FROM sessions
             WHERE digest = ?1 AND last_seen_ms > ?2 AND created_at_ms > ?3",
            rusqlite::params![digest, now_ms - IDLE_MS, now_ms - LONGEST_MS],
            |r| {
                Ok(Session {
                    digest: r.get(0)?,
                    csrf: r.get(1)?,
                    created_at_ms: r.get(2)?,
                    last_seen_ms: r.get(3)?,
                })
            },
        )
        .optional()?)
}

pub(super) fn touch(conn: &Connection, digest: &[u8], now_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE sessions SET last_seen_ms = ?2 WHERE digest = ?1",
        rusqlite::params![digest, now_ms],
    )?;
    Ok(())
}

/// Drops ended sessions, and the least recently used beyond [`MOST_SESSIONS`] - 1 (room
/// for one more).
pub(super) fn prune(conn: &Connection, now_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM sessions WHERE last_seen_ms <= ?1 OR created_at_ms <= ?2",
        rusqlite::params![now_ms - IDLE_MS, now_ms - LONGEST_MS],
    )?;
    conn.execute(
        "DELETE FROM sessions WHERE digest NOT IN
             (SELECT digest FROM sessions ORDER BY last_seen_ms DESC LIMIT ?1)",
        [MOST_SESSIONS - 1],
    )?;
    Ok(())
}

pub(super) fn delete(conn: &Connection, digest: &[u8]) -> Result<(), DbError> {
    conn.execute("DELETE FROM sessions WHERE digest = ?1", [digest])?;
    Ok(())
}

pub(super) fn delete_all(conn: &Connection) -> Result<(), DbError> {
    conn.execute("DELETE FROM sessions", [])?;
    Ok(())
}
