//! The outage: a real box daemon's outbox filled with a remote search's events while the
//! broker is stopped, the box `kill -9`ed halfway through and started again, then the
//! broker started: every message the box owed applied at the relay exactly once, in order
//! per search, how fast, and the box's memory meanwhile.
//!
//! What the box owed is read from its own database (`outbox`) once the search has ended and
//! its events are all written; what the relay applied, from the relay's (`uplink_messages`,
//! one row per (box, seq)) and its duplicate counter.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use protocol::search::{SearchEvent, SearchEventBody};
use rusqlite::{Connection, OpenFlags};

use super::broker::Broker;
use super::outage_box::OutageBox;
use super::relay::RelayProcess;
use super::site::Site;
use crate::BoxError;

/// Give up when the relay applies nothing new for this long.
const STALLED: Duration = Duration::from_secs(120);

#[derive(Debug, Default, serde::Serialize)]
pub(super) struct OutageReport {
    /// Faces in the searched day (one match each).
    pub(super) outage_entries: u64,
    /// Messages the box owed when the broker came back (its outbox).
    pub(super) outage_messages: u64,
    /// Of those, applied at the relay (each (box, seq) is applied at most once).
    pub(super) outage_applied: u64,
    pub(super) outage_duplicates: u64,
    /// The search's events at the relay in sequence order had rising match ids and ended
    /// with the end.
    pub(super) outage_in_order: bool,
    /// Messages in the outbox when the box was killed.
    pub(super) outage_killed_at: u64,
    /// From the broker's start to the last message applied.
    pub(super) replay_seconds: f64,
    pub(super) replay_per_second: f64,
    /// The box's highest resident set (VmRSS, read every 50 ms) during the replay.
    pub(super) replay_peak_rss_mb: f64,
}

pub(super) async fn run(
    broker: &mut Broker,
    relay: &RelayProcess,
    site: &Site,
    entries: u64,
) -> Result<OutageReport, BoxError> {
    let registered = site.register("outage box").await?;
    let mut outage_box = OutageBox::start(site, &registered, entries).await?;
    let mut report = OutageReport {
        outage_entries: outage_box.entries,
        ..OutageReport::default()
    };
    let http = reqwest::Client::new();
    let duplicates = relay.messages(&http, None, "duplicate").await?;
    outage_box.create_search(site).await?;
    broker.stop()?;
    tracing::info!(entries, "outage: the broker is stopped, the search runs");
    report.outage_killed_at = wait_outbox(&outage_box, entries / 2).await?;
    outage_box = outage_box.killed_and_restarted().await?;
    tracing::info!(
        killed_at = report.outage_killed_at,
        "outage: the box was killed and restarted"
    );
    wait_search_written(outage_box.daemon.dir()).await?;
    let owed = owed(outage_box.daemon.dir())?;
    report.outage_messages = owed.len() as u64;
    let (done, watching) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(peak_rss(outage_box.daemon.pid()?, watching));
    let started_ms = jiff::Timestamp::now().as_millisecond();
    broker.resume()?;
    tracing::info!(
        owed = report.outage_messages,
        "outage: the broker is back, replaying"
    );
    let device = outage_box.device.clone();
    let (applied, last_ms) = wait_applied(relay.database(), &device, &owed).await?;
    done.send_replace(true);
    report.replay_peak_rss_mb = sampler.await?;
    report.outage_applied = applied;
    report.outage_duplicates = relay.messages(&http, None, "duplicate").await? - duplicates;
    report.outage_in_order = in_order(relay.database(), &device, outage_box.search_id())?;
    report.replay_seconds = (last_ms - started_ms).max(1) as f64 / 1000.0;
    report.replay_per_second = applied as f64 / report.replay_seconds;
    Ok(report)
}

/// Waits until the box's outbox holds `n` messages (or its search has written its end);
/// how many it holds.
async fn wait_outbox(outage_box: &OutageBox, n: u64) -> Result<u64, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status = outage_box.uplink_status().await?;
        let messages = status["outbox"]["messages"].as_u64().unwrap_or(0);
        if messages >= n || search_written(outage_box.daemon.dir())? {
            return Ok(messages);
        }
        if Instant::now() > deadline {
            return Err(format!("the outbox holds {messages} messages after 10 minutes").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn open(path: &Path) -> Result<Connection, BoxError> {
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    Ok(connection)
}

/// Whether the box has written its remote search's end to the outbox.
fn search_written(dir: &Path) -> Result<bool, BoxError> {
    let box_db = open(&dir.join("box.db"))?;
    let open_searches: i64 = box_db.query_row(
        "SELECT COUNT(*) FROM remote_searches WHERE finished = 0",
        [],
        |r| r.get(0),
    )?;
    Ok(open_searches == 0)
}

async fn wait_search_written(dir: &Path) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !search_written(dir)? {
        if Instant::now() > deadline {
            return Err("the restarted box did not finish its search within 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The sequences in the box's outbox.
fn owed(dir: &Path) -> Result<Vec<i64>, BoxError> {
    let box_db = open(&dir.join("box.db"))?;
    let mut statement = box_db.prepare("SELECT seq FROM outbox ORDER BY seq")?;
    let seqs = statement.query_map([], |r| r.get(0))?;
    Ok(seqs.collect::<Result<_, _>>()?)
}

/// Polls the relay's database until every owed sequence is applied (or nothing new is for
/// [`STALLED`]): how many are, and when the last was received (Unix ms).
async fn wait_applied(relay_db: &Path, device: &str, owed: &[i64]) -> Result<(u64, i64), BoxError> {
    let (Some(&first), Some(&last)) = (owed.first(), owed.last()) else {
        return Ok((0, jiff::Timestamp::now().as_millisecond()));
    };
    let owed: HashSet<i64> = owed.iter().copied().collect();
    let count = |connection: &Connection| -> Result<(u64, i64), BoxError> {
        let mut statement = connection.prepare_cached(
            "SELECT seq, received_at FROM uplink_messages
             WHERE device_id = ?1 AND seq BETWEEN ?2 AND ?3",
        )?;
        let rows = statement.query_map(rusqlite::params![device, first, last], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        let (mut applied, mut last_ms) = (0, 0);
        for row in rows {
            let (seq, received) = row?;
            if owed.contains(&seq) {
                applied += 1;
                last_ms = last_ms.max(received);
            }
        }
        Ok((applied, last_ms))
    };
    let connection = open(relay_db)?;
    let (mut seen, mut progress) = (0, Instant::now());
    loop {
        let (applied, last_ms) = count(&connection)?;
        if applied == owed.len() as u64 {
            return Ok((applied, last_ms));
        }
        if applied > seen {
            (seen, progress) = (applied, Instant::now());
        } else if progress.elapsed() > STALLED {
            tracing::error!(applied, owed = owed.len(), "outage: the replay stalled");
            return Ok((applied, last_ms));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether the search's events, in sequence order, have rising match ids and end with the
/// end.
fn in_order(relay_db: &Path, device: &str, search: uuid::Uuid) -> Result<bool, BoxError> {
    let connection = open(relay_db)?;
    let mut statement = connection.prepare(
        "SELECT body FROM uplink_messages WHERE device_id = ?1 AND kind = 'event' ORDER BY seq",
    )?;
    let bodies = statement.query_map([device], |r| r.get::<_, Option<String>>(0))?;
    let (mut last_match, mut ended, mut ordered) = (i64::MIN, false, true);
    for body in bodies {
        let Some(body) = body? else { continue };
        let event: SearchEvent = protocol::decode(body.as_bytes())?;
        if event.search_id != search {
            continue;
        }
        ordered &= !ended;
        match event.body {
            SearchEventBody::Match(m) => {
                ordered &= m.match_id > last_match;
                last_match = m.match_id;
            }
            SearchEventBody::Finished { .. } => ended = true,
            // Progress, and snapshot events, which do not order matches.
            _ => {}
        }
    }
    Ok(ordered && ended)
}

/// The highest VmRSS of `pid`, in MB, read every 50 ms until `done`.
async fn peak_rss(pid: u32, mut done: tokio::sync::watch::Receiver<bool>) -> f64 {
    let mut peak = 0.0f64;
    loop {
        if let Some(mb) = crate::proc::rss_mb(Some(pid)) {
            peak = peak.max(mb);
        }
        tokio::select! {
            _ = done.wait_for(|&done| done) => return peak,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}
