//! The real boxes of the fleet: each the daemon (`dipper run`) with a simulated camera and a
//! day of synthetic faces already in its index (`uplink::outage_box`), activated on the
//! relay through its own API. What a real box produced is read from its own database: the
//! matches its searches stored (every search it ran in this run is one of the fleet's).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::tmpfs::Tmpfs;
use crate::BoxError;
use crate::uplink::outage_box::OutageBox;
use crate::uplink::site::Site;

/// Faces in each real box's day: about 20 in the hour a search of it spans.
const ENTRIES: u64 = 500;
/// A box's tasks not yet ended, from its database.
const UNFINISHED_TASKS: &str = "SELECT id FROM tasks WHERE state IN ('queued', 'running')";
/// A search of a real box spans this much of its indexed day, ending a minute before its end.
const SPAN_MS: i64 = 3_600_000;

/// The running real boxes (each taken out of its place while it is killed and restarted).
pub(super) struct RealBoxes {
    boxes: tokio::sync::Mutex<Vec<Option<OutageBox>>>,
    spans: Vec<Span>,
    /// Each box's data directory (the same after a restart).
    dirs: Vec<PathBuf>,
    /// The first box's own small disk, when asked for (unmounted after the boxes stopped).
    disk: Option<Tmpfs>,
}

/// A real box to search: its device id and the span of its footage to search, Unix ms.
#[derive(Debug, Clone)]
pub(super) struct Span {
    pub(super) device: String,
    pub(super) from_ms: i64,
    pub(super) to_ms: i64,
}

/// Results produced, by search and box: what the simulated boxes sent and had acknowledged,
/// and the matches the real boxes stored for each search.
#[derive(Debug, Default)]
pub(super) struct Produced {
    pub(super) by_search: HashMap<(String, String), u64>,
    /// The real boxes' device ids.
    pub(super) real: Vec<String>,
}

impl Produced {
    pub(super) fn total(&self) -> u64 {
        self.by_search.values().sum()
    }

    /// Of the total, the real boxes'.
    pub(super) fn real_total(&self) -> u64 {
        (self.by_search.iter())
            .filter(|((_, device), _)| self.real.contains(device))
            .map(|(_, n)| n)
            .sum()
    }
}

impl RealBoxes {
    /// Starts, fills and activates `n` real boxes, one after another; the first on a disk of
    /// its own of `first_disk_mib` MiB when given (a tmpfs: [`Tmpfs`]).
    pub(super) async fn start(
        site: &Site,
        n: usize,
        first_disk_mib: Option<u64>,
    ) -> Result<RealBoxes, BoxError> {
        let mut boxes = Vec::with_capacity(n);
        let mut disk = None;
        for i in 0..n {
            let registered = site.register(&format!("real box {i}")).await?;
            let dir = match first_disk_mib {
                Some(mib) if i == 0 => {
                    let (mounted, dir) = Tmpfs::mount(mib)?;
                    disk = Some(mounted);
                    dir
                }
                _ => tempfile::tempdir()?,
            };
            boxes.push(OutageBox::start_in(site, &registered, ENTRIES, dir).await?);
        }
        let spans = boxes
            .iter()
            .map(|b| Span {
                device: b.device.clone(),
                from_ms: b.footage_end_ms() - SPAN_MS,
                to_ms: b.footage_end_ms() - 60_000,
            })
            .collect();
        let dirs = boxes.iter().map(|b| b.daemon.dir().to_owned()).collect();
        Ok(RealBoxes {
            boxes: tokio::sync::Mutex::new(boxes.into_iter().map(Some).collect()),
            spans,
            dirs,
            disk,
        })
    }

    /// The first box's own disk, if it has one.
    pub(super) fn disk(&self) -> Option<&Tmpfs> {
        self.disk.as_ref()
    }

    /// `GET /api/v1/health` of box `n`.
    pub(super) async fn health(&self, n: usize) -> Result<serde_json::Value, BoxError> {
        let boxes = self.boxes.lock().await;
        let real = boxes.get(n).and_then(Option::as_ref);
        let real = real.ok_or("the real box is not running")?;
        let url = format!("{}/health", real.daemon.base);
        crate::daemon::get(&real.daemon.http(), &url).await
    }

    pub(super) fn spans(&self) -> Vec<Span> {
        self.spans.clone()
    }

    pub(super) fn devices(&self) -> Vec<String> {
        self.spans.iter().map(|s| s.device.clone()).collect()
    }

    /// Each box's matches stored so far, by search and device.
    pub(super) fn produced(&self) -> Result<HashMap<(String, String), u64>, BoxError> {
        let mut produced = HashMap::new();
        for (span, dir) in self.spans.iter().zip(&self.dirs) {
            for (search, n) in stored_matches(dir)? {
                produced.insert((search, span.device.clone()), n);
            }
        }
        Ok(produced)
    }

    /// The ids of box `n`'s tasks not yet ended (`queued` or `running`), from its database.
    pub(super) fn unfinished_tasks(&self, n: usize) -> Result<Vec<String>, BoxError> {
        let dir = self.dirs.get(n).ok_or("no such real box")?;
        let connection = open(dir)?;
        let mut statement = connection.prepare(UNFINISHED_TASKS)?;
        let ids = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    /// Waits at most `within` until box `n`'s database shows a task not yet ended, reading it
    /// every millisecond or so on one connection (a real box's search of its indexed hour
    /// lasts a few milliseconds); those tasks, none if it waited in vain.
    pub(super) async fn wait_for_unfinished_task(
        &self,
        n: usize,
        within: Duration,
    ) -> Result<Vec<String>, BoxError> {
        let dir = self.dirs.get(n).ok_or("no such real box")?.clone();
        let watching = tokio::task::spawn_blocking(move || {
            let connection = open(&dir)?;
            let mut statement = connection.prepare(UNFINISHED_TASKS)?;
            let since = std::time::Instant::now();
            loop {
                let ids = statement
                    .query_map([], |row| row.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                if !ids.is_empty() || since.elapsed() > within {
                    return Ok::<_, BoxError>(ids);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        watching.await?
    }

    /// `kill -9` of box `n` and its start again on the same data directory.
    pub(super) async fn kill_and_restart(&self, n: usize) -> Result<(), BoxError> {
        let mut boxes = self.boxes.lock().await;
        let place = boxes.get_mut(n).ok_or("no such real box")?;
        let killed = place.take().ok_or("the real box is not running")?;
        *place = Some(killed.killed_and_restarted().await?);
        Ok(())
    }

    /// Whether box `n` says its uplink is connected.
    pub(super) async fn connected(&self, n: usize) -> Result<bool, BoxError> {
        let boxes = self.boxes.lock().await;
        let real = boxes.get(n).and_then(Option::as_ref);
        let real = real.ok_or("the real box is not running")?;
        Ok(real.uplink_status().await?["state"] == "connected")
    }
}

/// The matches a box's database holds, by the relay's search they were found for (every
/// task of a fleet's real box is a remote search's). Read-only; WAL lets it be read while the
/// daemon writes.
fn stored_matches(dir: &Path) -> Result<Vec<(String, u64)>, BoxError> {
    let connection = open(dir)?;
    let mut statement = connection.prepare(
        "SELECT r.search_id, count(*) FROM matches m JOIN remote_searches r \
         ON r.task_id = m.task_id GROUP BY r.search_id",
    )?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get::<_, i64>(1)?)))?;
    rows.map(|row| {
        let (search, n) = row?;
        Ok((search, u64::try_from(n)?))
    })
    .collect()
}

/// The box database in `dir`, read-only.
fn open(dir: &Path) -> Result<rusqlite::Connection, BoxError> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let connection = rusqlite::Connection::open_with_flags(dir.join("box.db"), flags)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    Ok(connection)
}
