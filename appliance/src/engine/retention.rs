//! Retention: recordings older than `index.keep_days`, and the oldest ones while the index
//! and snapshots take more than `index.quota_mib`, are **retired**, whole recordings at a
//! time, oldest first.
//!
//! Retiring a recording is one SQLite transaction: its entry range and `indexed_at_ms` are
//! cleared (so, by the indexer's invariant, its entries in the embedding index are
//! leftovers that never match) and its track's coverage starts after it. Its snapshot
//! folder is removed after the commit and that is recorded; a crash in between leaves the
//! folder, which the next pass removes. Nothing in the embedding index is rewritten, so
//! retention cannot tear it; the dead entries' bytes are reclaimed only by compacting the
//! index, which is not built yet. A search over retired footage indexes it again.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use rusqlite::{Connection, params};
use tokio_util::sync::CancellationToken;

use crate::{
    config::IndexConfig,
    db::{Database, DbError},
    engine::{indexer::Indexer, store::now_ms},
};

/// Recordings retired per transaction.
const BATCH: usize = 200;
/// Pause between passes, and before the first (soon after a start: a box that was off for
/// days, or killed in the middle of a pass, has footage to retire at once).
const EVERY: Duration = Duration::from_secs(600);
const FIRST_AFTER: Duration = Duration::from_secs(2);
const DAY_MS: i64 = 24 * 3_600_000;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Retired {
    /// Recordings retired for their age, and for the quota.
    pub(crate) expired: u64,
    pub(crate) over_quota: u64,
    /// Snapshot folders removed (this pass's and those a crash left).
    pub(crate) snapshot_folders: u64,
}

/// A recording to retire.
#[derive(Debug, Clone, Copy)]
struct Expiring {
    id: i64,
    camera_id: i64,
    track: u32,
    end_ms: i64,
    /// Its entries in the index.
    entries: u64,
}

/// Retires what `config` no longer keeps, in passes until `shutdown`.
pub(crate) async fn run(
    db: Database,
    indexer: Indexer,
    data_dir: PathBuf,
    config: IndexConfig,
    shutdown: CancellationToken,
) {
    let mut pause = FIRST_AFTER;
    loop {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = shutdown.cancelled() => return,
        }
        pause = EVERY;
        match pass(&db, &indexer, &data_dir, &config).await {
            Ok(retired) if retired != Retired::default() => {
                tracing::info!(?retired, "retention retired old footage");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention pass failed; it is tried again"),
        }
    }
}

/// One pass: leftover snapshot folders, then expired recordings, then the quota.
pub(crate) async fn pass(
    db: &Database,
    indexer: &Indexer,
    data_dir: &Path,
    config: &IndexConfig,
) -> Result<Retired, DbError> {
    let mut retired = Retired {
        snapshot_folders: remove_snapshots(db, data_dir).await?.0,
        ..Retired::default()
    };
    let horizon = now_ms() - i64::from(config.keep_days) * DAY_MS;
    loop {
        let batch = db.read(move |c| Ok(oldest_indexed(c, horizon)?)).await?;
        if batch.is_empty() {
            break;
        }
        retired.expired += retire(db, batch).await?;
        retired.snapshot_folders += remove_snapshots(db, data_dir).await?.0;
    }
    if config.quota_mib > 0 {
        let quota = config.quota_mib.saturating_mul(1 << 20);
        // Measured once; each batch then takes off what it retired.
        let mut usage = Usage::measure(db, indexer, data_dir).await?;
        while usage.bytes() > quota {
            let batch = db.read(|c| Ok(oldest_indexed(c, i64::MAX)?)).await?;
            if batch.is_empty() {
                break;
            }
            let batch: Vec<Expiring> = batch.into_iter().take(BATCH / 10).collect();
            let entries: u64 = batch.iter().map(|r| r.entries).sum();
            retired.over_quota += retire(db, batch).await?;
            let (folders, bytes) = remove_snapshots(db, data_dir).await?;
            retired.snapshot_folders += folders;
            usage.live = usage.live.saturating_sub(entries);
            usage.snapshots = usage.snapshots.saturating_sub(bytes);
        }
    }
    metrics::counter!("dipper_recordings_retired_total", "reason" => "keep_days")
        .increment(retired.expired);
    metrics::counter!("dipper_recordings_retired_total", "reason" => "quota")
        .increment(retired.over_quota);
    Ok(retired)
}

/// Retires the recordings in one transaction; returns how many were.
async fn retire(db: &Database, batch: Vec<Expiring>) -> Result<u64, DbError> {
    db.write(move |tx| {
        let now = now_ms();
        let mut retired = 0;
        for recording in &batch {
            retired += tx.execute(
                "UPDATE recordings SET indexed_at_ms = NULL, first_entry = NULL,
                        end_entry = NULL, retired_at_ms = ?2, snapshots_removed_at_ms = NULL
                 WHERE id = ?1 AND indexed_at_ms IS NOT NULL",
                params![recording.id, now],
            )? as u64;
            // The track's coverage no longer claims the recording.
            tx.execute(
                "UPDATE index_coverage
                 SET covered_from_ms = min(max(covered_from_ms, ?3), covered_to_ms),
                     updated_at_ms = ?4
                 WHERE camera_id = ?1 AND track = ?2",
                params![recording.camera_id, recording.track, recording.end_ms, now],
            )?;
        }
        Ok(retired)
    })
    .await
}

/// The oldest indexed recordings ending before `before_ms`, oldest first.
fn oldest_indexed(conn: &Connection, before_ms: i64) -> rusqlite::Result<Vec<Expiring>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, camera_id, track, end_ms, end_entry - first_entry FROM recordings
         WHERE indexed_at_ms IS NOT NULL AND end_ms < ?1 ORDER BY end_ms, id LIMIT ?2",
    )?;
    let rows = statement.query_map(params![before_ms, BATCH as i64], |row| {
        Ok(Expiring {
            id: row.get(0)?,
            camera_id: row.get(1)?,
            track: row.get(2)?,
            end_ms: row.get(3)?,
            entries: row.get::<_, i64>(4)?.max(0).unsigned_abs(),
        })
    })?;
    rows.collect()
}

/// Removes the snapshot folders of retired recordings not yet removed: how many, and the
/// bytes they held.
async fn remove_snapshots(db: &Database, data_dir: &Path) -> Result<(u64, u64), DbError> {
    let ids: Vec<i64> = db
        .read(|c| {
            let mut statement = c.prepare_cached(
                "SELECT id FROM recordings
                 WHERE retired_at_ms IS NOT NULL AND snapshots_removed_at_ms IS NULL LIMIT 1000",
            )?;
            let ids = statement.query_map([], |row| row.get(0))?;
            Ok(ids.collect::<rusqlite::Result<_>>()?)
        })
        .await?;
    if ids.is_empty() {
        return Ok((0, 0));
    }
    let root = data_dir.join("snapshots");
    let (removed, bytes): (Vec<i64>, u64) = tokio::task::spawn_blocking(move || {
        let mut bytes = 0;
        let removed = ids
            .into_iter()
            .filter(|id| {
                let folder = root.join(id.to_string());
                let held = tree_bytes(&folder);
                match std::fs::remove_dir_all(&folder) {
                    Ok(()) => {
                        bytes += held;
                        true
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                    Err(e) => {
                        tracing::warn!(recording = id, error = %e, "cannot remove a retired recording's snapshots");
                        false
                    }
                }
            })
            .collect();
        (removed, bytes)
    })
    .await
    .unwrap_or_default();
    let count = removed.len() as u64;
    db.write(move |tx| {
        let now = now_ms();
        for id in &removed {
            tx.execute(
                "UPDATE recordings SET snapshots_removed_at_ms = ?2 WHERE id = ?1",
                params![id, now],
            )?;
        }
        Ok(())
    })
    .await?;
    Ok((count, bytes))
}

/// What the quota counts: the snapshots, and the live share of the embedding index's files.
/// (The entries of retired recordings stay in the index's files until it is compacted;
/// they are not counted, or a quota below them would retire everything.)
struct Usage {
    snapshots: u64,
    index: u64,
    /// Entries in the index, and those a recording still names.
    entries: u64,
    live: u64,
}

impl Usage {
    async fn measure(db: &Database, indexer: &Indexer, data_dir: &Path) -> Result<Usage, DbError> {
        let live: i64 = db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT coalesce(sum(end_entry - first_entry), 0) FROM recordings
                     WHERE indexed_at_ms IS NOT NULL",
                    [],
                    |row| row.get(0),
                )?)
            })
            .await?;
        let dirs = [data_dir.join("index"), data_dir.join("snapshots")];
        let [index, snapshots] = tokio::task::spawn_blocking(move || dirs.map(|d| tree_bytes(&d)))
            .await
            .unwrap_or([0, 0]);
        Ok(Usage {
            snapshots,
            index,
            entries: indexer.entries().max(1),
            live: live.max(0).unsigned_abs(),
        })
    }

    fn bytes(&self) -> u64 {
        let live_index = self.index as u128 * self.live as u128 / self.entries as u128;
        self.snapshots + live_index as u64
    }
}

/// Bytes of the files under `dir` (0 for a folder that is not there).
pub(crate) fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => tree_bytes(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
