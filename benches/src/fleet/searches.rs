//! The fleet's searches: `slots` places, each starting a search through the API, reading it
//! every [`POLL`] until it has ended, pausing about `gap` and starting the next, until the
//! load's end, or later while faults are still at work (the searches still running then are
//! awaited up to `drain`). Every POST and GET is timed (the `searches` route class). Then
//! [`count`] reads every search of the tenant and all its results, by search and box.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::real::Span;
use crate::BoxError;
use crate::uplink::site::{Site, text};

/// How often a running search is read.
const POLL: Duration = Duration::from_secs(2);
/// How long a search the load never learnt of may still take to end once counting begins.
const UNKNOWN_DRAIN: Duration = Duration::from_secs(120);

/// What each slot searches.
pub(super) struct Plan {
    pub(super) person: String,
    /// The simulated boxes' device ids.
    pub(super) sim: Vec<String>,
    /// The real boxes.
    pub(super) real: Vec<Span>,
    pub(super) boxes_per_search: usize,
    /// Every this many slots also asks a real box.
    pub(super) real_every: usize,
}

impl Plan {
    /// The body of slot `slot`'s next search: its share of the simulated boxes (and a real
    /// box, for every `real_every`th slot), over the real box's span or the last hour.
    fn body(&self, slot: usize) -> Value {
        let n = self.sim.len();
        let k = self.boxes_per_search.min(n);
        let mut devices: Vec<&str> = (0..k)
            .map(|j| self.sim[(slot * k + j) % n].as_str())
            .collect();
        let now = jiff::Timestamp::now().as_millisecond();
        let mut span = (now - 3_600_000, now - 60_000);
        let mut max_distance = Value::Null;
        if !self.real.is_empty() && slot.is_multiple_of(self.real_every) {
            let real = &self.real[(slot / self.real_every) % self.real.len()];
            devices.push(&real.device);
            span = (real.from_ms, real.to_ms);
            // The real boxes' faces are random: every one of them in the span matches.
            max_distance = json!(1.99);
        }
        let time = |ms| jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string());
        let mut body = json!({
            "person_id": self.person,
            "from": time(span.0).unwrap_or_default(),
            "to": time(span.1).unwrap_or_default(),
            "devices": devices,
        });
        if !max_distance.is_null() {
            body["max_distance"] = max_distance;
        }
        body
    }
}

/// How the searches run.
pub(super) struct Shape {
    pub(super) slots: usize,
    pub(super) gap: Duration,
    pub(super) until: Instant,
    /// While true the searches go on past `until` (faults still to hit or to recover from:
    /// each fault cuts work in the middle).
    pub(super) busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(super) drain: Duration,
}

/// A search and how it ended: `done`, `cancelled`, or `unfinished` (still running when the
/// drain ended); when it was started and when it was last read (its end, as seen here).
#[derive(Debug, Clone)]
pub(super) struct Ended {
    pub(super) id: String,
    pub(super) state: String,
    pub(super) began: Instant,
    pub(super) ended: Instant,
}

/// What the slots did.
#[derive(Debug, Default)]
pub(super) struct Driven {
    pub(super) ended: Vec<Ended>,
    /// Every POST and GET of a search, ms, sorted.
    pub(super) samples_ms: Vec<f64>,
    /// Calls that failed, by kind.
    pub(super) errors: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
struct Shared {
    samples_ms: Mutex<Vec<f64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl Shared {
    fn sample(&self, since: Instant) {
        let ms = since.elapsed().as_secs_f64() * 1000.0;
        if let Ok(mut samples) = self.samples_ms.lock() {
            samples.push(ms);
        }
    }

    fn error(&self, kind: &'static str) {
        if let Ok(mut errors) = self.errors.lock() {
            *errors.entry(kind).or_default() += 1;
        }
    }
}

/// Runs every slot to the end of the load, and their last searches to their end.
pub(super) async fn drive(site: &Site, plan: &Plan, shape: &Shape) -> Result<Driven, BoxError> {
    let shared = Shared::default();
    let slots = (0..shape.slots).map(|slot| run_slot(site, plan, shape, &shared, slot));
    let ended: Vec<Ended> = futures::future::join_all(slots)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut samples_ms = shared.samples_ms.into_inner().map_err(|_| "poisoned")?;
    samples_ms.sort_by(f64::total_cmp);
    Ok(Driven {
        ended,
        samples_ms,
        errors: shared.errors.into_inner().map_err(|_| "poisoned")?,
    })
}

/// One slot: searches one after another until `shape.until` (and `shape.busy` is false).
async fn run_slot(
    site: &Site,
    plan: &Plan,
    shape: &Shape,
    shared: &Shared,
    slot: usize,
) -> Vec<Ended> {
    let mut ended = Vec::new();
    while Instant::now() < shape.until || shape.busy.load(std::sync::atomic::Ordering::Relaxed) {
        let sent = Instant::now();
        let id = match site.post_tenant("/searches", plan.body(slot)).await {
            Ok(search) => {
                shared.sample(sent);
                text(&search, "id")
            }
            Err(error) => Err(error),
        };
        let id = match id {
            Ok(id) => id,
            Err(error) => {
                tracing::warn!(%error, slot, "fleet: a search was not started");
                shared.error("api_searches");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let state = wait_ended(site, &id, shape, shared).await;
        let (began, ended_at) = (sent, Instant::now());
        ended.push(Ended {
            id,
            state,
            began,
            ended: ended_at,
        });
        let gap = shape.gap.mul_f64(0.5 + rand::random::<f64>());
        tokio::time::sleep(gap).await;
    }
    ended
}

/// Reads search `id` every [`POLL`] until it is no longer `running`; its state then, or
/// `unfinished` once the drain is over.
async fn wait_ended(site: &Site, id: &str, shape: &Shape, shared: &Shared) -> String {
    let deadline = shape.until.max(Instant::now()) + shape.drain;
    loop {
        tokio::time::sleep(POLL).await;
        let sent = Instant::now();
        match site.get_tenant(&format!("/searches/{id}")).await {
            Ok(search) => {
                shared.sample(sent);
                match search["state"].as_str() {
                    Some("running") => {}
                    Some(state) => return state.to_owned(),
                    None => shared.error("api_searches"),
                }
            }
            Err(error) => {
                tracing::warn!(%error, id, "fleet: a search could not be read");
                shared.error("api_searches");
            }
        }
        if Instant::now() > deadline {
            return "unfinished".to_owned();
        }
    }
}

/// What the relay's API shows of every search at the end.
#[derive(Debug, Default)]
pub(super) struct Counted {
    /// Results listed, over every search.
    pub(super) delivered: u64,
    /// Of those, listed again for the same search: the same box's match id, or the same
    /// box's camera at the same moment under another id (a match found again).
    pub(super) duplicated: u64,
    /// Searches read (every search of the tenant).
    pub(super) searches: usize,
    /// Results listed and duplicated by search and box.
    pub(super) by_search: HashMap<(String, String), Listing>,
    /// Searches `done`; and parts that ended otherwise than `done`, by their state, and of
    /// those the ones without a reason.
    pub(super) done: u64,
    pub(super) parts_not_done: BTreeMap<String, u64>,
    pub(super) parts_without_reason: u64,
    /// A search's `result_count` that is not what its pages list.
    pub(super) count_mismatches: u64,
    /// The tenant's searches the load never learnt of (a POST whose answer was lost to a
    /// fault, the search made all the same), each counted as the others.
    pub(super) unknown: Vec<String>,
}

/// One box's results in one search, as listed.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Listing {
    pub(super) delivered: u64,
    pub(super) duplicated: u64,
}

/// Reads every search of the tenant and all its results through the API: those the load
/// started, `others` (started by the run otherwise) and any it never learnt of.
pub(super) async fn count(
    site: &Site,
    driven: &Driven,
    others: &[String],
) -> Result<Counted, BoxError> {
    let mut counted = Counted::default();
    let mut known: HashSet<&str> = driven.ended.iter().map(|e| e.id.as_str()).collect();
    known.extend(others.iter().map(String::as_str));
    counted.unknown = every_search(site)
        .await?
        .into_iter()
        .filter(|id| !known.contains(id.as_str()))
        .collect();
    for id in &counted.unknown {
        wait_until_ended(site, id).await?;
    }
    let ids = (driven.ended.iter().map(|e| e.id.clone()))
        .chain(others.iter().cloned())
        .chain(counted.unknown.clone());
    for id in ids {
        count_search(site, &id, &mut counted).await?;
    }
    Ok(counted)
}

/// Waits until search `id`, one the load never read, is no longer `running` (or
/// [`UNKNOWN_DRAIN`] has passed: it is then counted as it is).
async fn wait_until_ended(site: &Site, id: &str) -> Result<(), BoxError> {
    let deadline = Instant::now() + UNKNOWN_DRAIN;
    while site.get_tenant(&format!("/searches/{id}")).await?["state"] == "running"
        && Instant::now() < deadline
    {
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Reads search `id` and its results into `counted`.
async fn count_search(site: &Site, id: &str, counted: &mut Counted) -> Result<(), BoxError> {
    let search = site.get_tenant(&format!("/searches/{id}")).await?;
    counted.searches += 1;
    if search["state"] == "done" {
        counted.done += 1;
    }
    for part in search["boxes"].as_array().into_iter().flatten() {
        let state = part["state"].as_str().unwrap_or("none");
        if state != "done" {
            *counted.parts_not_done.entry(state.to_owned()).or_default() += 1;
            if part["reason"].is_null() {
                counted.parts_without_reason += 1;
            }
        }
    }
    let results = all_results(site, id).await?;
    let (mut ids, mut moments) = (HashSet::new(), HashSet::new());
    for result in &results {
        let device = result.device.as_str();
        let again = !ids.insert((device, result.match_id))
            | !moments.insert((device, result.camera.as_str(), result.time.as_str()));
        let listing = (counted.by_search)
            .entry((id.to_owned(), device.to_owned()))
            .or_default();
        listing.delivered += 1;
        if again {
            listing.duplicated += 1;
            counted.duplicated += 1;
        }
    }
    counted.delivered += results.len() as u64;
    if search["result_count"].as_u64() != Some(results.len() as u64) {
        counted.count_mismatches += 1;
    }
    Ok(())
}

/// The ids of every search of the tenant, page after page.
async fn every_search(site: &Site) -> Result<Vec<String>, BoxError> {
    const PAGE: usize = 500;
    let mut ids = Vec::new();
    loop {
        let path = format!("/searches?limit={PAGE}&offset={}", ids.len());
        let page = site.get_tenant(&path).await?;
        let items = page["items"].as_array().ok_or("a list without items")?;
        for item in items {
            ids.push(text(item, "id")?);
        }
        if items.len() < PAGE {
            return Ok(ids);
        }
    }
}

/// A result as listed: which box's match, of which camera, when.
struct Listed {
    device: String,
    match_id: i64,
    camera: String,
    time: String,
}

/// Every result of search `id`, page after page.
async fn all_results(site: &Site, id: &str) -> Result<Vec<Listed>, BoxError> {
    result_items(site, id)
        .await?
        .iter()
        .map(|item| {
            Ok(Listed {
                device: text(item, "device_id")?,
                match_id: item["match_id"]
                    .as_i64()
                    .ok_or("a result without match_id")?,
                camera: text(item, "camera")?,
                time: text(item, "time")?,
            })
        })
        .collect()
}

/// Every result of search `id` as the API lists it, page after page.
pub(super) async fn result_items(site: &Site, id: &str) -> Result<Vec<Value>, BoxError> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/searches/{id}/results?limit=500");
        if let Some(after) = &after {
            path.push_str(&format!("&after={}", percent_encoded(after)));
        }
        let page = site.get_tenant(&path).await?;
        items.extend(page["items"].as_array().into_iter().flatten().cloned());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
}

/// `text` with every byte but unreserved URL characters percent-encoded, for a query.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{Plan, Span, percent_encoded};

    fn plan(real: usize) -> Plan {
        Plan {
            person: "p".to_owned(),
            sim: (0..25).map(|i| format!("sim{i}")).collect(),
            real: (0..real)
                .map(|i| Span {
                    device: format!("real{i}"),
                    from_ms: 1_000_000,
                    to_ms: 4_000_000,
                })
                .collect(),
            boxes_per_search: 10,
            real_every: 10,
        }
    }

    #[test]
    fn each_slot_asks_its_share_of_the_boxes_and_every_tenth_a_real_one() {
        let plan = plan(2);
        let first = plan.body(0);
        let devices = first["devices"].as_array().expect("devices");
        assert_eq!(devices.len(), 11);
        assert_eq!(devices[0], "sim0");
        assert_eq!(devices[10], "real0");
        assert_eq!(first["max_distance"], 1.99);
        assert_eq!(first["from"], "1970-01-01T00:16:40Z");
        let second = plan.body(1);
        let devices = second["devices"].as_array().expect("devices");
        assert_eq!(devices.len(), 10);
        // 25 boxes: the second slot's share wraps around to the first boxes.
        assert_eq!(devices[0], "sim10");
        assert!(second.get("max_distance").is_none());
        assert_eq!(plan.body(2)["devices"][9], "sim4");
        assert_eq!(plan.body(10)["devices"][10], "real1");
        assert_eq!(
            self::plan(0).body(0)["devices"].as_array().map(Vec::len),
            Some(10)
        );
    }

    #[test]
    fn a_cursor_is_percent_encoded_for_the_query() {
        assert_eq!(percent_encoded("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(percent_encoded("1+2/3=&x y"), "1%2B2%2F3%3D%26x%20y");
    }
}
