//! Sign-in throttling: counted for the whole box, not per address (an attacker on the LAN
//! can change addresses). After [`FREE_FAILURES`] failures each attempt waits, doubling
//! from [`FIRST_WAIT_MS`] up to [`LONGEST_WAIT_MS`], counted from the last failure. The wait
//! is the only lock: it always ends, and `dipper admin reset-password` clears it.

use rusqlite::{Connection, OptionalExtension};

use crate::db::DbError;

/// Failures allowed before the first wait.
pub(crate) const FREE_FAILURES: u32 = 5;
pub(crate) const FIRST_WAIT_MS: i64 = 30_000;
pub(crate) const LONGEST_WAIT_MS: i64 = 15 * 60_000;

/// The failure count as stored: (failures, last failure in Unix ms).
pub(crate) type ThrottleState = Option<(u32, i64)>;

/// The waiting rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throttle {
    pub(crate) free_failures: u32,
    pub(crate) first_wait_ms: i64,
    pub(crate) longest_wait_ms: i64,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            free_failures: FREE_FAILURES,
            first_wait_ms: FIRST_WAIT_MS,
            longest_wait_ms: LONGEST_WAIT_MS,
        }
    }
}

impl Throttle {
    /// How long a sign-in must still wait at `now_ms`, if it must.
    pub(crate) fn wait_ms(&self, state: ThrottleState, now_ms: i64) -> Option<i64> {
        let (failures, last_ms) = state?;
        if failures < self.free_failures {
            return None;
        }
        let doublings = (failures - self.free_failures).min(20);
        let wait = self
            .first_wait_ms
            .saturating_mul(1i64 << doublings)
            .min(self.longest_wait_ms);
        let left = last_ms.saturating_add(wait).saturating_sub(now_ms);
        (left > 0).then_some(left)
    }
}

pub(super) fn load(conn: &Connection) -> Result<ThrottleState, DbError> {
    Ok(conn
        .query_row(
            "SELECT failures, last_failure_ms FROM login_throttle WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

pub(super) fn record_failure(conn: &Connection, now_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO login_throttle (id, failures, last_failure_ms) VALUES (1, 1, ?1)
         ON CONFLICT (id) DO UPDATE SET failures = failures + 1, last_failure_ms = excluded.last_failure_ms",
        [now_ms],
    )?;
    Ok(())
}

pub(super) fn reset(conn: &Connection) -> Result<(), DbError> {
    conn.execute("DELETE FROM login_throttle", [])?;
    Ok(())
}
