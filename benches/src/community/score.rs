//! Searching the indexed scene footage for every person, and scoring the matches against
//! the clips' manifest.

use std::{collections::HashSet, path::PathBuf};

use serde_json::{Value, json};

use super::{scenes, wait_finished};
use crate::{
    BoxError,
    daemon::{Daemon, get, photo_base64, post},
};

const MINUTE_MS: i64 = 60_000;

/// What the searches found.
#[derive(Debug, Default)]
pub(super) struct Searches {
    /// Appearances in the searched recordings, and those found.
    pub(super) appearances: u64,
    pub(super) found: u64,
    /// Matches on keyframes where the manifest does not show that person.
    pub(super) false_matches: u64,
}

impl Searches {
    pub(super) fn recall(&self) -> Option<f64> {
        (self.appearances > 0).then(|| self.found as f64 / self.appearances as f64)
    }
}

/// The footage every camera has indexed: `[from, to)` in Unix ms, when there is any.
async fn covered_by_all(
    http: &reqwest::Client,
    daemon: &Daemon,
) -> Result<Option<(i64, i64)>, BoxError> {
    let cameras = get(http, &format!("{}/cameras", daemon.base)).await?;
    let mut span: Option<(i64, i64)> = None;
    for camera in cameras.as_array().into_iter().flatten() {
        let tracks = camera["indexing"].as_array().cloned().unwrap_or_default();
        let Some(track) = tracks.first() else {
            return Ok(None);
        };
        let from = track["covered_from_ms"].as_i64().unwrap_or(0);
        let to = track["covered_to_ms"].as_i64().unwrap_or(0);
        span = Some(match span {
            None => (from, to),
            Some((a, b)) => (a.max(from), b.min(to)),
        });
    }
    Ok(span.filter(|(from, to)| from < to))
}

/// Every match of a task, all pages.
async fn matches(
    http: &reqwest::Client,
    daemon: &Daemon,
    id: &str,
) -> Result<Vec<Value>, BoxError> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let url = format!(
            "{}/tasks/{id}/results?after={after}&limit=1000",
            daemon.base
        );
        let page = get(http, &url).await?;
        let rows = page["matches"].as_array().cloned().unwrap_or_default();
        all.extend(rows);
        match page["next_after"].as_i64() {
            Some(next) if next != after => after = next,
            _ => return Ok(all),
        }
    }
}

/// One task per person over the footage every camera has indexed, scored.
pub(super) async fn search_every_person(
    http: &reqwest::Client,
    daemon: &Daemon,
    cameras: &[i64],
    manifest: &scenes::Manifest,
    queries: &[(String, PathBuf)],
) -> Result<Searches, BoxError> {
    let mut searches = Searches::default();
    let Some((from, to)) = covered_by_all(http, daemon).await? else {
        return Ok(searches);
    };
    // Recordings start on whole minutes; those starting in [from, to) are searched.
    let first =
        from.div_euclid(MINUTE_MS) * MINUTE_MS + if from % MINUTE_MS == 0 { 0 } else { MINUTE_MS };
    let recordings = ((to - first).max(0) + MINUTE_MS - 1) / MINUTE_MS;
    for (person, photo) in queries {
        let body = json!({
            "from": jiff::Timestamp::from_millisecond(from)?.to_string(),
            "to": jiff::Timestamp::from_millisecond(to)?.to_string(),
            "cameras": cameras, "priority": 0, "photo": photo_base64(photo)?,
        });
        let task = post(http, &format!("{}/tasks", daemon.base), &body).await?;
        let id = task["id"].as_str().ok_or("no task id")?.to_owned();
        let status = wait_finished(http, daemon, &id).await?;
        if status["state"] != "done" {
            return Err(format!("the search for {person} did not finish: {status}").into());
        }
        let found = matches(http, daemon, &id).await?;
        score(
            &mut searches,
            person,
            &found,
            cameras,
            manifest,
            recordings as u64,
        );
    }
    Ok(searches)
}

/// Adds one person's appearances, those found and the false matches.
fn score(
    searches: &mut Searches,
    person: &str,
    found: &[Value],
    cameras: &[i64],
    manifest: &scenes::Manifest,
    recordings: u64,
) {
    let clip_of = |n: usize| &manifest.clips[n % manifest.clips.len()];
    let appearances_in = |n: usize| {
        clip_of(n)
            .appearances
            .iter()
            .enumerate()
            .filter(|(_, a)| scenes::person(&a.photo) == person)
            .collect::<Vec<_>>()
    };
    let mut seen: HashSet<(usize, i64, usize)> = HashSet::new();
    for m in found {
        let camera = m["camera_id"].as_i64().unwrap_or(-1);
        let time = m["time_ms"].as_i64().unwrap_or(0);
        let Some(n) = cameras.iter().position(|&c| c == camera) else {
            searches.false_matches += 1;
            continue;
        };
        let minute = time.div_euclid(MINUTE_MS) * MINUTE_MS;
        let clip = clip_of(n);
        let keyframe = (((time - minute) as f64 / 1000.0) / clip.keyframe_every_s).round() as u32;
        let shows: Vec<usize> = appearances_in(n)
            .into_iter()
            .filter(|(_, a)| a.visible_keyframes.contains(&keyframe))
            .map(|(i, _)| i)
            .collect();
        if shows.is_empty() {
            searches.false_matches += 1;
        }
        seen.extend(shows.into_iter().map(|i| (n, minute, i)));
    }
    for n in 0..cameras.len() {
        let visible = appearances_in(n)
            .iter()
            .filter(|(_, a)| !a.visible_keyframes.is_empty())
            .count();
        searches.appearances += visible as u64 * recordings;
    }
    searches.found += seen.len() as u64;
}
