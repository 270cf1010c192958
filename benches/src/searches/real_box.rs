//! The result figure, with a real box: the daemon (`dipper run`) activated on the relay
//! through its own API, one simulated camera whose recordings show the enrolled person (the
//! face clips of `scripts/make-face-clips`), a search of that footage through the relay.
//!
//! Measured per match: from the moment the box stored it (its `matches` row first seen by
//! reading the box's database every [`BOX_POLL`]) to the moment the relay's
//! `GET .../searches/{id}/results` first shows it with snapshot URLs (read every
//! [`RELAY_POLL`]); each URL is then read back as a JPEG. The box's side is seen up to one
//! poll late (shortening the figure), the relay's up to one poll late (lengthening it).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use isapi::sim::{DeviceConfig, RecordingClip, SimConfig, Simulator};
use serde_json::{Value, json};

use crate::BoxError;
use crate::daemon::Daemon;
use crate::uplink::site::{Site, text};

const BOX_POLL: Duration = Duration::from_millis(10);
const RELAY_POLL: Duration = Duration::from_millis(20);
/// The camera's recordings (one minute each) searched, and the clip that shows the person.
const FIRST: usize = 1418;
const LAST: usize = 1437;
const CLIP: &str = "cam1_h264.ps";
const CAMERA: (&str, &str) = ("admin", "bench-pass");
const BOX_CONFIG: &str = "uplink.telemetry_interval_ms = 1000\nuplink.reconnect_max_ms = 1000\n";

/// What the real box's search measured.
#[derive(Debug, serde::Serialize)]
pub(super) struct ResultReport {
    /// Matches the box stored, and those the relay showed with working snapshot URLs.
    pub(super) box_matches: usize,
    pub(super) box_results_with_snapshots: usize,
    #[serde(skip)]
    pub(super) latencies: Vec<Duration>,
}

/// Runs the real box's search for `person` over recordings of which `with_face` show them.
pub(super) async fn run(
    site: &Site,
    person: &str,
    with_face: usize,
    within: Duration,
) -> Result<ResultReport, BoxError> {
    let end = jiff::Timestamp::now();
    let sim = Simulator::start(SimConfig::new(vec![camera(end, with_face)?])).await?;
    let (from, _) = sim
        .recording_span(0, 101, FIRST)
        .ok_or("no first recording")?;
    let (_, to) = sim
        .recording_span(0, 101, LAST)
        .ok_or("no last recording")?;
    let registered = site.register("Real box").await?;
    let daemon = Daemon::start(BOX_CONFIG).await?;
    daemon
        .add_camera("gate", &sim.device(0).base_url(), CAMERA)
        .await?;
    site.activate_box(&daemon, &registered).await?;
    let body = json!({
        "person_id": person,
        "from": (from + jiff::SignedDuration::from_secs(1)).to_string(),
        "to": to.to_string(),
        "devices": [registered.id],
    });
    let search = site.post_tenant("/searches", body).await?;
    let id = text(&search, "id")?;
    let watched = watch(site, &daemon, &id, within).await?;
    drop(sim);
    Ok(watched)
}

/// A camera with one-minute recordings ending at `end`, `with_face` of those searched
/// showing the person (spread over the span).
fn camera(end: jiff::Timestamp, with_face: usize) -> Result<DeviceConfig, BoxError> {
    let dir = isapi::sim::default_clips_dir().join("faces");
    if !dir.join(CLIP).is_file() {
        return Err(format!(
            "{} is missing: run scripts/make-clips",
            dir.join(CLIP).display()
        )
        .into());
    }
    let mut camera = DeviceConfig::camera(CAMERA.0, CAMERA.1);
    camera.serial = "BENCH-SEARCH-0".to_owned();
    camera.days = 1;
    camera.recording_minutes = 1;
    camera.end = Some(end);
    let span = (LAST - FIRST) as u64;
    let n = with_face.clamp(1, LAST - FIRST) as u64;
    camera.recording_clips = (0..n)
        .map(|i| RecordingClip {
            track: 101,
            index: FIRST as u64 + 1 + i * span / n,
            path: dir.join(CLIP),
        })
        .collect();
    Ok(camera)
}

/// Follows the box's matches and the relay's results until the search is done and every
/// match shows with snapshots.
async fn watch(
    site: &Site,
    daemon: &Daemon,
    id: &str,
    within: Duration,
) -> Result<ResultReport, BoxError> {
    let database = daemon.dir().join("box.db");
    let mut stored: BTreeMap<i64, Instant> = BTreeMap::new();
    let mut shown: BTreeMap<i64, (Instant, Value)> = BTreeMap::new();
    let started = Instant::now();
    let mut next_relay_read = Instant::now();
    loop {
        let now = Instant::now();
        for match_id in box_matches(&database)? {
            stored.entry(match_id).or_insert(now);
        }
        if now >= next_relay_read {
            next_relay_read = now + RELAY_POLL;
            let path = format!("/searches/{id}/results?limit=500");
            let page = site.get_tenant(&path).await?;
            for result in page["items"].as_array().into_iter().flatten() {
                if !result["snapshots"].is_null()
                    && let Some(match_id) = result["match_id"].as_i64()
                {
                    shown
                        .entry(match_id)
                        .or_insert((now, result["snapshots"].clone()));
                }
            }
            let search = site.get_tenant(&format!("/searches/{id}")).await?;
            if search["state"] == "done" && !stored.is_empty() && shown.len() >= stored.len() {
                return report(stored, shown).await;
            }
            if search["state"] != "running" && search["state"] != "done" {
                return Err(format!("the real box's search ended {search}").into());
            }
        }
        if started.elapsed() > within {
            return Err(format!(
                "after {within:?}: the box stored {} matches, the relay shows {} with snapshots",
                stored.len(),
                shown.len()
            )
            .into());
        }
        tokio::time::sleep(BOX_POLL).await;
    }
}

/// The latencies, once every shown snapshot URL read back as a JPEG.
async fn report(
    stored: BTreeMap<i64, Instant>,
    shown: BTreeMap<i64, (Instant, Value)>,
) -> Result<ResultReport, BoxError> {
    let mut latencies = Vec::with_capacity(shown.len());
    for (match_id, (at, snapshots)) in &shown {
        let found = stored
            .get(match_id)
            .ok_or_else(|| format!("the relay shows match {match_id}, the box has none"))?;
        for url in ["face_url", "frame_url"] {
            let url = snapshots[url].as_str().ok_or("no snapshot URL")?;
            let bytes = reqwest::get(url).await?.error_for_status()?.bytes().await?;
            image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
                .map_err(|e| format!("{url} is not a JPEG: {e}"))?;
        }
        latencies.push(at.saturating_duration_since(*found));
    }
    Ok(ResultReport {
        box_matches: stored.len(),
        box_results_with_snapshots: shown.len(),
        latencies,
    })
}

/// The ids of the matches the box has stored (its database, read-only; WAL lets it be read
/// while the daemon writes).
fn box_matches(database: &Path) -> Result<Vec<i64>, BoxError> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let connection = rusqlite::Connection::open_with_flags(database, flags)?;
    connection.busy_timeout(Duration::from_secs(1))?;
    let mut statement = connection.prepare("SELECT id FROM matches")?;
    let ids = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}
