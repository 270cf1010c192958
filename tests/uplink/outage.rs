//! The outage test: a remote search (a persistent `createSearch` made on the relay's API)
//! runs on the box over footage showing the target; once its first event reached the relay
//! the box's uplink is cut (broker and relay stay up), the box goes on searching offline,
//! is `kill -9`ed and restarted while cut off, and finishes; then the link comes back. Every message the box
//! numbered arrives at the relay exactly once (no gap, each (box, seq) applied once), the
//! search's events in the order the box wrote them, its matches the box's own, and the
//! relay's counters agree with what it stored.

use std::collections::BTreeSet;
use std::time::Duration;

use protocol::search::{CreateSearch, SearchEvent, SearchEventBody};
use serde_json::json;
use testkit::eventually;
use testkit::faces::{embedding_of, face_camera, start_sim};

use crate::site::{Site, WAIT, metric_sum, wait_uplink};

/// The camera's recordings searched (one minute each) and those showing the target.
const FIRST: usize = 1418;
const LAST: usize = 1437;
const WITH_FACES: [u64; 4] = [1420, 1425, 1430, 1435];

/// The topics whose messages carry an outbox `seq` (a box's status does not).
const NUMBERED: [&str; 4] = ["telemetry", "attributes", "events", "rpc_response"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_search_reaches_the_relay_once_and_in_order_across_an_outage_and_a_kill_9() {
    let end = jiff::Timestamp::now();
    let clips: Vec<(u64, &str)> = WITH_FACES.iter().map(|&i| (i, "cam1_h264.ps")).collect();
    let sim = start_sim(vec![face_camera("CAM-H264", end, &clips)]).await;
    let (from, _) = sim.recording_span(0, 101, FIRST).expect("span");
    let (_, to) = sim.recording_span(0, 101, LAST).expect("span");
    let (site, mut link) = Site::with_link().await;
    let mut a_box = site.activated_box("Box at the gate", "").await;
    let device = a_box.device_id.clone();
    let camera = sim.device(0).base_url();
    a_box.daemon.api().add_camera("gate", &camera).await;

    let search_id = uuid::Uuid::new_v4();
    let create = CreateSearch {
        search_id,
        embedding: embedding_of("obama.jpg"),
        from_ms: from.as_millisecond() + 1_000,
        to_ms: to.as_millisecond(),
        cameras: vec!["gate".to_owned()],
        max_distance: None,
        more_embeddings: Vec::new(),
    };
    let body = json!({ "method": "createSearch", "params": create, "persistent": true });
    let (status, rpc) = site.rpc(&device, body).await;
    assert_eq!(status, 202, "{rpc}");
    let accepted = site
        .wait_rpc(&device, rpc["id"].as_str().expect("id"), "successful")
        .await;
    let task = accepted["result"]["task_id"].as_str().expect("task_id");

    let events = |site: &Site| search_events(site, &device, search_id);
    eventually("the search's first event at the relay", WAIT, || async {
        !events(&site).is_empty()
    })
    .await;
    link.cut();
    let applied_before = site.applied(&device).iter().map(|m| m.0).max();
    let held = wait_uplink(&a_box.daemon, "messages held offline", |s| {
        s["state"] == "disconnected" && s["outbox"]["messages"].as_u64() >= Some(5)
    })
    .await;
    a_box.daemon.kill9();
    a_box.daemon.start_again();
    // The restarted daemon listens on a new port.
    let api = a_box.daemon.api();
    let finished = api.wait_finished(task, Duration::from_secs(120)).await;
    assert_eq!(finished["state"], "done", "{finished}");
    let matches = api.matches(task).await;
    let box_matches: BTreeSet<i64> = matches.iter().filter_map(|m| m["id"].as_i64()).collect();
    assert!(
        !box_matches.is_empty(),
        "the box found the target: {finished}"
    );
    let offline = wait_uplink(&a_box.daemon, "the box still cut off", |s| {
        s["state"] != "connected"
    })
    .await;
    let offline_seq = offline["outbox"]["last_seq"].as_u64().expect("last_seq");

    link.restore().await;
    // The box's watcher writes the search's last events up to half a second after the task
    // ends: the search is over at the relay once its end is there.
    eventually("the search's end at the relay", WAIT, || async {
        events(&site)
            .last()
            .is_some_and(|e| matches!(e.body, SearchEventBody::Finished { .. }))
    })
    .await;
    let newest = site.applied(&device).iter().map(|m| m.0).max().unwrap_or(0);
    let last_seq = offline_seq.max(newest);
    site.wait_all_applied(&a_box, last_seq, WAIT).await;
    wait_uplink(&a_box.daemon, "the outbox drained", |s| {
        s["state"] == "connected" && s["outbox"]["messages"].as_u64() <= Some(2)
    })
    .await;
    assert!(a_box.daemon.terminate(), "{}", a_box.daemon.log_text());

    // No gap: the relay holds every seq from 1 to the newest it has, each once (its key).
    let applied = site.applied(&device);
    let seqs: Vec<u64> = applied.iter().map(|m| m.0).collect();
    let newest = seqs.iter().copied().max().expect("messages");
    let distinct: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), seqs.len(), "a seq applied twice");
    assert_eq!(
        distinct,
        (1..=newest).collect(),
        "a gap in what the relay applied"
    );

    // The search's events: in the box's order, its matches exactly, its end last, and some
    // written during the outage.
    let events = events(&site);
    assert!(
        events.windows(2).all(|w| w[0].seq < w[1].seq),
        "the search's events applied out of order: {:?}",
        events.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    let relay_matches: Vec<i64> = events
        .iter()
        .filter_map(|e| match &e.body {
            SearchEventBody::Match(m) => Some(m.match_id),
            _ => None,
        })
        .collect();
    assert_eq!(relay_matches.len(), box_matches.len(), "{relay_matches:?}");
    assert_eq!(
        relay_matches.iter().copied().collect::<BTreeSet<_>>(),
        box_matches
    );
    let end = events.last().expect("events");
    assert!(
        matches!(&end.body, SearchEventBody::Finished { state, .. } if state == "done"),
        "{end:?}"
    );
    assert!(
        Some(end.seq) > applied_before,
        "the search ended before the outage"
    );
    let done: Vec<u64> = events
        .iter()
        .filter_map(|e| match &e.body {
            SearchEventBody::Progress(p) => Some(p.recordings_done),
            _ => None,
        })
        .collect();
    assert!(
        done.windows(2).all(|w| w[0] <= w[1]),
        "progress went back: {done:?}"
    );
    eprintln!(
        "outage: {} messages held at the kill, {last_seq} numbered by the search's end, {} events, {} matches",
        held["outbox"]["messages"],
        events.len(),
        relay_matches.len()
    );

    // The relay's counters agree with what it stored: every numbered message applied is a
    // row, every other delivery of one counted as a duplicate, none failed.
    eventually("the relay's counters match its rows", WAIT, || async {
        let metrics = site.relay.metrics().await;
        let rows = site.applied(&device).len() as u64;
        let applied: u64 = NUMBERED
            .iter()
            .map(|t| {
                let topic = format!("topic=\"{t}\"");
                metric_sum(
                    &metrics,
                    "relay_uplink_messages_total",
                    &[topic.as_str(), "outcome=\"applied\""],
                )
            })
            .sum();
        applied == rows
    })
    .await;
    let metrics = site.relay.metrics().await;
    let duplicates = metric_sum(&metrics, "relay_uplink_duplicates_total", &[]);
    let counted = metric_sum(
        &metrics,
        "relay_uplink_messages_total",
        &["outcome=\"duplicate\""],
    );
    assert_eq!(duplicates, counted, "{metrics}");
    let failed = metric_sum(
        &metrics,
        "relay_uplink_messages_total",
        &["outcome=\"failed\""],
    );
    assert_eq!(failed, 0, "{metrics}");
    eprintln!("outage: {duplicates} duplicate deliveries ignored by the relay");
}

/// The search's events as the relay applied them, in that order.
fn search_events(site: &Site, device: &str, search: uuid::Uuid) -> Vec<SearchEvent> {
    site.applied(device)
        .into_iter()
        .filter(|(_, kind, _)| kind == "event")
        .filter_map(|(_, _, body)| body)
        .map(|body| protocol::decode::<SearchEvent>(body.as_bytes()).expect("an event"))
        .filter(|event| event.search_id == search)
        .collect()
}
