//! The load figure: `searches` searches started at once over every box of the area, each box
//! finding `matches` matches in each and uploading their snapshots; the relay's cores and
//! resident memory meanwhile, and then, at the relay, every search `done` with exactly the
//! results the boxes sent, each with snapshots a URL reads back.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use super::ack::wait_state;
use super::boxes::{Behaviour, SearchBoxes};
use crate::BoxError;
use crate::uplink::relay::RelayProcess;
use crate::uplink::site::{Site, text};

/// What the load measured.
#[derive(Debug, serde::Serialize)]
pub(super) struct LoadReport {
    pub(super) load_searches: usize,
    pub(super) load_boxes: usize,
    pub(super) load_seconds: f64,
    pub(super) relay_cores: f64,
    pub(super) relay_rss_mb_before: f64,
    pub(super) relay_rss_mb_peak: f64,
    pub(super) results_sent: u64,
    pub(super) results_at_relay: u64,
    pub(super) results_with_snapshots: u64,
    pub(super) results_delivered_once: bool,
    pub(super) events_republished: u64,
}

pub(super) struct Load<'a> {
    pub(super) site: &'a Site,
    pub(super) relay: &'a RelayProcess,
    pub(super) boxes: &'a SearchBoxes,
    pub(super) body: &'a Value,
    pub(super) n_boxes: usize,
    pub(super) searches: usize,
    pub(super) matches: u32,
    pub(super) within: Duration,
}

impl Load<'_> {
    pub(super) async fn run(&self) -> Result<LoadReport, BoxError> {
        self.boxes.set(Behaviour {
            hold: false,
            matches: self.matches,
        });
        let sent = &self.boxes.sent;
        let matches_before = sent.matches.load(Ordering::Relaxed);
        let republished_before = sent.republished.load(Ordering::Relaxed);
        let rss_before = self.relay.rss_kib()? * 1024.0 / 1e6;
        let pid = self.relay.pid()?;
        let cpu_before = crate::proc::cpu_seconds(Some(pid)).ok_or("no CPU time of the relay")?;
        let started = Instant::now();
        let ids: Vec<String> = futures::stream::iter(0..self.searches)
            .map(|_| async {
                let search = self
                    .site
                    .post_tenant("/searches", self.body.clone())
                    .await?;
                text(&search, "id")
            })
            .buffer_unordered(self.searches)
            .try_collect()
            .await?;
        let want = (self.searches * self.n_boxes) as u64;
        self.wait_boxes(want, started).await?;
        let seconds = started.elapsed().as_secs_f64();
        let cpu_after = crate::proc::cpu_seconds(Some(pid)).ok_or("no CPU time of the relay")?;
        // VmHWM: the relay's peak since it started (the load is its busiest time).
        let peak = crate::proc::peak_rss_mb(Some(pid)).ok_or("no VmHWM of the relay")?;
        let results_sent = sent.matches.load(Ordering::Relaxed) - matches_before;
        let (at_relay, with_snapshots) = self.count_at_relay(&ids).await?;
        Ok(LoadReport {
            load_searches: self.searches,
            load_boxes: self.n_boxes,
            load_seconds: seconds,
            relay_cores: (cpu_after - cpu_before) / seconds,
            relay_rss_mb_before: rss_before,
            relay_rss_mb_peak: peak,
            results_sent,
            results_at_relay: at_relay,
            results_with_snapshots: with_snapshots,
            results_delivered_once: at_relay == results_sent && with_snapshots == results_sent,
            events_republished: sent.republished.load(Ordering::Relaxed) - republished_before,
        })
    }

    /// Waits until the boxes finished `parts` parts more and every match's snapshots were
    /// acknowledged (what the boxes know; the relay is checked after).
    async fn wait_boxes(&self, parts: u64, started: Instant) -> Result<(), BoxError> {
        let sent = &self.boxes.sent;
        let finished_from = sent.searches_finished.load(Ordering::Relaxed);
        let uploaded_from = sent.snapshots_uploaded.load(Ordering::Relaxed);
        let matches = parts * u64::from(self.matches);
        loop {
            let finished = sent.searches_finished.load(Ordering::Relaxed) - finished_from;
            let uploaded = sent.snapshots_uploaded.load(Ordering::Relaxed) - uploaded_from;
            if finished >= parts && uploaded >= matches {
                return Ok(());
            }
            if started.elapsed() > self.within {
                let granted = sent.grants_received.load(Ordering::Relaxed);
                return Err(format!(
                    "after {:?}: {finished} of {parts} parts finished, {uploaded} of {matches} \
                     matches' snapshots uploaded ({granted} grants received since the boxes \
                     connected)",
                    self.within
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every search done at the relay; its results counted, those with snapshots too, and
    /// one snapshot URL of each search read back.
    async fn count_at_relay(&self, ids: &[String]) -> Result<(u64, u64), BoxError> {
        let (mut results, mut with_snapshots) = (0, 0);
        for id in ids {
            let search = wait_state(self.site, id, "done").await?;
            let path = format!("/searches/{id}/results?limit=500");
            let page = self.site.get_tenant(&path).await?;
            if !page["next"].is_null() {
                return Err(format!("search {id} has more than 500 results").into());
            }
            let items = page["items"].as_array().ok_or("results without items")?;
            let counted = search["result_count"].as_u64().ok_or("no result_count")?;
            if counted != items.len() as u64 {
                return Err(format!(
                    "search {id}: result_count {counted}, {} listed",
                    items.len()
                )
                .into());
            }
            results += counted;
            let snapshots: Vec<&Value> = items
                .iter()
                .map(|r| &r["snapshots"])
                .filter(|s| !s.is_null())
                .collect();
            with_snapshots += snapshots.len() as u64;
            if let Some(first) = snapshots.first() {
                self.read_back(first).await?;
            }
        }
        Ok((results, with_snapshots))
    }

    /// GETs a result's face snapshot by its URL: the JPEG the box uploaded.
    async fn read_back(&self, snapshots: &Value) -> Result<(), BoxError> {
        let url = snapshots["face_url"].as_str().ok_or("no face_url")?;
        let bytes = reqwest::get(url).await?.error_for_status()?.bytes().await?;
        if bytes.as_ref() != self.boxes.jpeg().as_slice() {
            return Err(format!("{url} reads {} bytes, not the box's JPEG", bytes.len()).into());
        }
        Ok(())
    }
}
