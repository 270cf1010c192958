//! What background indexing stores: each camera track's coverage (the span of footage whose
//! recordings are all known and indexed, or failed with a reason) and its counters.
//!
//! Coverage only grows after the recordings it adds are stored as indexed or failed, in
//! the same transaction, so after a crash it never claims a recording that is not.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::engine::store::{FoundRecording, PendingRecording};

/// One camera track's background indexing, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Coverage {
    pub(crate) camera_id: i64,
    pub(crate) track: u32,
    /// Every recording starting in `[covered_from_ms, covered_to_ms)` is indexed or failed.
    pub(crate) covered_from_ms: i64,
    pub(crate) covered_to_ms: i64,
    /// Recordings found in the window being indexed and not yet done.
    pub(crate) recordings_waiting: u64,
    /// Recordings background indexing has indexed and failed, all time.
    pub(crate) recordings_indexed: u64,
    pub(crate) recordings_failed: u64,
    /// Why this track is not progressing, while it is not (camera offline, disk full, the
    /// motion gate falling back ...).
    pub(crate) problem: Option<String>,
    pub(crate) updated_at_ms: i64,
}

impl Coverage {
    /// Seconds between the newest footage indexed and `now_ms`.
    pub(crate) fn lag_seconds(&self, now_ms: i64) -> f64 {
        (now_ms - self.covered_to_ms).max(0) as f64 / 1000.0
    }
}

const COLUMNS: &str = "camera_id, track, covered_from_ms, covered_to_ms, recordings_waiting, \
                       recordings_indexed, recordings_failed, problem, updated_at_ms";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Coverage> {
    let count = |i| row.get::<_, i64>(i).map(|n| n.max(0).unsigned_abs());
    Ok(Coverage {
        camera_id: row.get(0)?,
        track: row.get(1)?,
        covered_from_ms: row.get(2)?,
        covered_to_ms: row.get(3)?,
        recordings_waiting: count(4)?,
        recordings_indexed: count(5)?,
        recordings_failed: count(6)?,
        problem: row.get(7)?,
        updated_at_ms: row.get(8)?,
    })
}

/// Every track's coverage, by camera and track.
pub(crate) fn all(conn: &Connection) -> rusqlite::Result<Vec<Coverage>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM index_coverage ORDER BY camera_id, track"
    ))?;
    let rows = statement.query_map([], from_row)?;
    rows.collect()
}

/// A camera's tracks' coverage.
pub(crate) fn of_camera(conn: &Connection, camera: i64) -> rusqlite::Result<Vec<Coverage>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM index_coverage WHERE camera_id = ?1 ORDER BY track"
    ))?;
    let rows = statement.query_map([camera], from_row)?;
    rows.collect()
}

pub(crate) fn of_track(
    conn: &Connection,
    camera: i64,
    track: u32,
) -> rusqlite::Result<Option<Coverage>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM index_coverage WHERE camera_id = ?1 AND track = ?2"),
        params![camera, track],
        from_row,
    )
    .optional()
}

/// The track's coverage, made empty at `now_ms` the first time (nothing indexed yet).
pub(crate) fn ensure(
    conn: &Connection,
    camera: i64,
    track: u32,
    now_ms: i64,
) -> rusqlite::Result<Coverage> {
    conn.execute(
        "INSERT OR IGNORE INTO index_coverage
             (camera_id, track, covered_from_ms, covered_to_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?3, ?3)",
        params![camera, track, now_ms],
    )?;
    of_track(conn, camera, track)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// Stores the recordings a window's search found (each once, whoever found it first) and
/// returns those not yet indexed or failed, with how many there are as `recordings_waiting`.
pub(crate) fn store_found(
    conn: &Connection,
    camera: i64,
    track: u32,
    found: &[FoundRecording],
    now_ms: i64,
) -> rusqlite::Result<Vec<PendingRecording>> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO recordings (camera_id, track, playback_uri, start_ms, end_ms, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (camera_id, playback_uri) DO UPDATE SET size = coalesce(size, excluded.size)
         RETURNING id, indexed_at_ms IS NULL AND index_error IS NULL",
    )?;
    let mut waiting = Vec::new();
    for (seq, recording) in found.iter().enumerate() {
        let (id, todo): (i64, bool) = upsert.query_row(
            params![
                camera,
                track,
                recording.playback_uri,
                recording.start_ms,
                recording.end_ms,
                recording.size.and_then(|s| i64::try_from(s).ok())
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        if todo {
            waiting.push(PendingRecording {
                recording_id: id,
                camera_id: camera,
                track,
                playback_uri: recording.playback_uri.clone(),
                start_ms: recording.start_ms,
                end_ms: recording.end_ms,
                seq: seq as i64,
            });
        }
    }
    conn.execute(
        "UPDATE index_coverage SET recordings_waiting = ?3, updated_at_ms = ?4
         WHERE camera_id = ?1 AND track = ?2",
        params![camera, track, waiting.len() as i64, now_ms],
    )?;
    Ok(waiting)
}

/// One recording of the window done by background indexing: indexed (`error` None; the
/// indexer has already recorded its entries) or failed for good with `error`.
pub(crate) fn recording_done(
    conn: &Connection,
    camera: i64,
    track: u32,
    recording: i64,
    error: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    if let Some(error) = error {
        conn.execute(
            "UPDATE recordings SET index_error = ?2 WHERE id = ?1 AND indexed_at_ms IS NULL",
            params![recording, error],
        )?;
    }
    let (indexed, failed) = if error.is_some() { (0, 1) } else { (1, 0) };
    conn.execute(
        "UPDATE index_coverage SET recordings_waiting = max(recordings_waiting - 1, 0),
             recordings_indexed = recordings_indexed + ?3,
             recordings_failed = recordings_failed + ?4, problem = NULL, updated_at_ms = ?5
         WHERE camera_id = ?1 AND track = ?2",
        params![camera, track, indexed, failed, now_ms],
    )?;
    Ok(())
}

/// Grows the track's coverage to include `[from_ms, to_ms)`, whose recordings are all done.
/// The count of recordings waiting is left to [`recording_done`]: a window grows the
/// coverage while older recordings of it are still being indexed.
pub(crate) fn extend(
    conn: &Connection,
    camera: i64,
    track: u32,
    span: std::ops::Range<i64>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE index_coverage SET covered_from_ms = min(covered_from_ms, ?3),
             covered_to_ms = max(covered_to_ms, ?4), problem = NULL,
             updated_at_ms = ?5
         WHERE camera_id = ?1 AND track = ?2 AND ?3 <= covered_to_ms AND ?4 >= covered_from_ms",
        params![camera, track, span.start, span.end, now_ms],
    )?;
    Ok(())
}

/// Says why the track is not progressing (`None`: it is again).
pub(crate) fn set_problem(
    conn: &Connection,
    camera: i64,
    track: u32,
    problem: Option<&str>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE index_coverage SET problem = ?3, updated_at_ms = ?4
         WHERE camera_id = ?1 AND track = ?2",
        params![camera, track, problem, now_ms],
    )?;
    Ok(())
}
