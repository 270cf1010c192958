//! The real boxes of the fleet: each the daemon (`dipper run`) with a simulated camera and a
//! day of synthetic faces already in its index (`uplink::outage_box`), activated on the
//! relay through its own API. What a real box produced is read from its own database: the
//! matches its searches stored (every search it ran in this run is one of the fleet's).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::BoxError;
use crate::uplink::outage_box::OutageBox;
use crate::uplink::site::Site;

/// Faces in each real box's day: about 20 in the hour a search of it spans.
const ENTRIES: u64 = 500;
/// A search of a real box spans this much of its indexed day, ending a minute before its end.
const SPAN_MS: i64 = 3_600_000;

/// The running real boxes (each taken out of its place while it is killed and restarted).
pub(super) struct RealBoxes {
    boxes: tokio::sync::Mutex<Vec<Option<OutageBox>>>,
    spans: Vec<Span>,
    /// Each box's data directory (the same after a restart).
    dirs: Vec<PathBuf>,
}

/// A real box to search: its device id and the span of its footage to search, Unix ms.
#[derive(Debug, Clone)]
pub(super) struct Span {
    pub(super) device: String,
    pub(super) from_ms: i64,
    pub(super) to_ms: i64,
}

/// Results produced: by the simulated boxes in all, and by each real box.
#[derive(Debug)]
pub(super) struct Produced {
    pub(super) sim: u64,
    pub(super) real: Vec<(String, u64)>,
}

impl Produced {
    pub(super) fn total(&self) -> u64 {
        self.sim + self.real.iter().map(|(_, n)| n).sum::<u64>()
    }
}

impl RealBoxes {
    /// Starts, fills and activates `n` real boxes, one after another.
    pub(super) async fn start(site: &Site, n: usize) -> Result<RealBoxes, BoxError> {
        let mut boxes = Vec::with_capacity(n);
        for i in 0..n {
            let registered = site.register(&format!("real box {i}")).await?;
            boxes.push(OutageBox::start(site, &registered, ENTRIES).await?);
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
        })
    }

    pub(super) fn spans(&self) -> Vec<Span> {
        self.spans.clone()
    }

    pub(super) fn devices(&self) -> Vec<String> {
        self.spans.iter().map(|s| s.device.clone()).collect()
    }

    /// Each box's matches stored so far, by device.
    pub(super) fn produced(&self) -> Result<Vec<(String, u64)>, BoxError> {
        (self.spans.iter().zip(&self.dirs))
            .map(|(span, dir)| Ok((span.device.clone(), stored_matches(dir)?)))
            .collect()
    }

    /// The ids of box `n`'s tasks not yet ended (`queued` or `running`), from its database.
    pub(super) fn unfinished_tasks(&self, n: usize) -> Result<Vec<String>, BoxError> {
        let dir = self.dirs.get(n).ok_or("no such real box")?;
        let connection = open(dir)?;
        let mut statement =
            connection.prepare("SELECT id FROM tasks WHERE state IN ('queued', 'running')")?;
        let ids = statement
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
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

/// The matches a box's database holds (read-only; WAL lets it be read while the daemon
/// writes).
fn stored_matches(dir: &Path) -> Result<u64, BoxError> {
    let connection = open(dir)?;
    let n: i64 = connection.query_row("SELECT count(*) FROM matches", [], |row| row.get(0))?;
    Ok(u64::try_from(n)?)
}

/// The box database in `dir`, read-only.
fn open(dir: &Path) -> Result<rusqlite::Connection, BoxError> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let connection = rusqlite::Connection::open_with_flags(dir.join("box.db"), flags)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    Ok(connection)
}
