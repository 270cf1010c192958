//! Snapshot uploads: a remote search (two people's embeddings) run by the daemon over a
//! real Mosquitto, a raw MQTT client playing the relay that grants uploads on
//! `{prefix}/uploads`, and a server on 127.0.0.1 taking the PUTs as an object store does.
//! Both files of a match arrive byte-identical with their content type; a store answering
//! 503 is tried again and the files arrive once; an expired or refused grant asks for a
//! new one and is never tried again; a match whose files are gone is dropped; a grant for
//! a match the box does not have, or one that does not read, is refused; and grants
//! survive a `kill -9` mid-way and need the store only, not the broker.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::Daemon;
use common::link::{Link, PREFIX, wait_status};
use common::object_store::ObjectStore;
use protocol::rpc::{Method, RpcRequest};
use protocol::search::{CreateSearch, SearchAccepted, SearchEvent, SearchEventBody};
use protocol::uploads::{MAX_GRANTS, UploadGrant, UploadGrants};
use serde_json::Value;

/// A box that has run a remote search with matches, its link and an object store.
struct Site {
    link: Link,
    daemon: Daemon,
    store: ObjectStore,
    search_id: uuid::Uuid,
    task_id: String,
    /// The search's matches, as the box sent them.
    matches: Vec<i64>,
    _sim: isapi::sim::Simulator,
    _dir: tempfile::TempDir,
}

/// Quick retries and reconnects, and no telemetry while a test runs.
const CONFIG: &str = "uplink.upload_retry_min_ms = 50\nuplink.upload_retry_max_ms = 200
uplink.reconnect_max_ms = 2000\nuplink.telemetry_interval_ms = 600000";

impl Site {
    /// Runs a search for Obama and Biden (one recording showing both) to its end.
    async fn start() -> Site {
        let end = jiff::Timestamp::now();
        let camera = common::face_camera("CAM-H264", end, &[(1435, "cam1_h264.ps")]);
        let sim = common::start_sim(vec![camera]).await;
        let (from, _) = sim.recording_span(0, 101, 1434).expect("span");
        let (_, to) = sim.recording_span(0, 101, 1436).expect("span");
        let mut link = Link::start_without_echo().await;
        let (dir, daemon, _) = link
            .start_box_with_gate(CONFIG, &sim.device(0).base_url())
            .await;
        let search_id = uuid::Uuid::new_v4();
        let create = CreateSearch {
            search_id,
            embedding: common::embedding_of("obama.jpg"),
            more_embeddings: vec![common::embedding_of("biden.jpg")],
            from_ms: from.as_millisecond() + 1_000,
            to_ms: to.as_millisecond(),
            cameras: vec!["gate".to_owned()],
            max_distance: None,
        };
        let request = RpcRequest::new(Method::CreateSearch(create)).encode();
        let accepted: SearchAccepted = (link.call(1, &request).await)
            .into_result()
            .expect("accepted");
        let mut site = Site {
            link,
            daemon,
            store: ObjectStore::start().await,
            search_id,
            task_id: accepted.task_id,
            matches: Vec::new(),
            _sim: sim,
            _dir: dir,
        };
        site.matches = site.search_matches().await;
        site
    }

    /// The search's matches, read from its events until it ends.
    async fn search_matches(&mut self) -> Vec<i64> {
        let mut matches = Vec::new();
        loop {
            match self.next_event().await {
                SearchEventBody::Match(m) => matches.push(m.match_id),
                SearchEventBody::Finished { state, .. } => {
                    assert_eq!(state, "done");
                    return matches;
                }
                _ => {}
            }
        }
    }

    async fn next_event(&mut self) -> SearchEventBody {
        let events = format!("{PREFIX}/events");
        let payload = self.link.relay.next_on(&events).await.expect("an event");
        let event: SearchEvent = protocol::decode(&payload).expect("a search event");
        assert_eq!(event.search_id, self.search_id);
        event.body
    }

    /// The first `n` matches (the test needs that many).
    fn matches<const N: usize>(&self) -> [i64; N] {
        let first: Vec<i64> = self.matches.iter().copied().take(N).collect();
        first
            .try_into()
            .unwrap_or_else(|m| panic!("{N} matches wanted, the search found {m:?}"))
    }

    /// A grant for `match_id` to the store's `{key}-face.jpg` and `{key}-frame.jpg`,
    /// expiring `expires_in_ms` from now.
    fn grant(&self, match_id: i64, key: &str, expires_in_ms: i64) -> UploadGrant {
        UploadGrant {
            search_id: self.search_id,
            match_id,
            face_url: self.store.url(&format!("{key}-face.jpg")),
            frame_url: self.store.url(&format!("{key}-frame.jpg")),
            expires_at_ms: jiff::Timestamp::now().as_millisecond() + expires_in_ms,
        }
    }

    async fn publish(&mut self, payload: &[u8]) {
        let topic = format!("{PREFIX}/uploads");
        self.link.relay.publish(&topic, payload).await;
    }

    async fn grant_uploads(&mut self, grants: Vec<UploadGrant>) {
        self.publish(&UploadGrants::new(grants).encode()).await;
    }

    /// Publishes a message larger than the relay's test client takes (10 KiB), from a client
    /// of its own, as the relay (whose packets may be as large as the broker's) would.
    async fn publish_large(&self, payload: Vec<u8>) {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let port = self.link.broker.port();
        let mut options = MqttOptions::new("relay-large", "127.0.0.1", port);
        options.set_credentials("relay", "relay-pass");
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(options, 8);
        let topic = format!("{PREFIX}/uploads");
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish request");
        let acknowledged = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.poll().await.expect("connected") {
                    Event::Incoming(Packet::PubAck(_)) => return,
                    _ => continue,
                }
            }
        });
        acknowledged.await.expect("the broker took it");
        let _ = client.disconnect().await;
    }

    /// Reads events until each of `wanted` has come (others are skipped).
    async fn wait_events(&mut self, wanted: &[SearchEventBody]) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut missing: Vec<&SearchEventBody> = wanted.iter().collect();
        while !missing.is_empty() {
            assert!(Instant::now() < deadline, "still waiting for {missing:?}");
            let events = format!("{PREFIX}/events");
            let Some(payload) = self.link.relay.next_on(&events).await else {
                continue;
            };
            let event: SearchEvent = protocol::decode(&payload).expect("a search event");
            missing.retain(|w| **w != event.body);
        }
    }

    /// A snapshot of the match as the box serves it (`face.jpg` or `frame.jpg`).
    async fn local(&self, match_id: i64, file: &str) -> Vec<u8> {
        let path = format!("/matches/{match_id}/{file}");
        let (status, bytes) = self.daemon.api().bytes(&path).await;
        assert_eq!(status, 200, "{path}");
        bytes
    }

    /// The event saying both snapshots of `match_id` were uploaded, with their sizes as the
    /// box has them.
    async fn uploaded(&self, match_id: i64) -> SearchEventBody {
        let face = self.local(match_id, "face.jpg").await.len();
        let frame = self.local(match_id, "frame.jpg").await.len();
        SearchEventBody::SnapshotsUploaded {
            match_id,
            bytes: Some((face + frame) as u64),
        }
    }

    /// Asserts the store holds both snapshots of `match_id` under `key`, as the box has
    /// them, with the content type their URL is signed for.
    async fn assert_stored(&self, match_id: i64, key: &str) {
        for which in ["face", "frame"] {
            let name = format!("{key}-{which}.jpg");
            let object = self
                .store
                .object(&name)
                .unwrap_or_else(|| panic!("no {name}"));
            let local = self.local(match_id, &format!("{which}.jpg")).await;
            assert!(object.bytes == local, "{name} differs from the box's file");
            assert_eq!(object.content_type.as_deref(), Some("image/jpeg"), "{name}");
        }
    }
}

fn wanted(match_id: i64) -> SearchEventBody {
    SearchEventBody::SnapshotsWanted { match_id }
}

/// Asserts the daemon's `/metrics` has each of `lines`.
async fn assert_metrics(daemon: &Daemon, lines: &[&str]) {
    let metrics = daemon.api().metrics().await;
    for line in lines {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
}

fn uploads(status: &Value, key: &str) -> u64 {
    status["uploads"][key].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_arrive_whole_once_through_503s_and_bad_grants_are_refused() {
    let mut site = Site::start().await;
    let [first, second] = site.matches::<2>();

    // What does not read is dropped and counted, and the link stays up.
    site.publish(b"these are not grants").await;
    let too_many = vec![site.grant(first, "many", 60_000); MAX_GRANTS + 1];
    site.publish_large(UploadGrants::new(too_many).encode())
        .await;
    // Grants for a match the box does not have, or not for that search, are refused.
    let unknown = site.grant(999_999, "unknown", 60_000);
    let mut other_search = site.grant(first, "other", 60_000);
    other_search.search_id = uuid::Uuid::new_v4();
    let mut bad_url = site.grant(first, "bad-url", 60_000);
    bad_url.frame_url = "http://[::1".to_owned();
    site.grant_uploads(vec![unknown, other_search, bad_url])
        .await;

    // The store fails twice on the second match's face, then takes it.
    site.store.answer("second-face.jpg", 503, Some(2));
    let grants = vec![
        site.grant(first, "first", 60_000),
        site.grant(second, "second", 60_000),
    ];
    site.grant_uploads(grants).await;
    let both = [site.uploaded(first).await, site.uploaded(second).await];
    site.wait_events(&both).await;

    site.assert_stored(first, "first").await;
    site.assert_stored(second, "second").await;
    assert_eq!(site.store.answers("second-face.jpg"), [503, 503, 200]);
    for key in ["first-face.jpg", "first-frame.jpg", "second-frame.jpg"] {
        assert_eq!(site.store.answers(key), [200], "{key}: stored once");
    }
    let requested: BTreeSet<String> = site.store.requested().into_iter().collect();
    assert_eq!(
        requested.iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "first-face.jpg",
            "first-frame.jpg",
            "second-face.jpg",
            "second-frame.jpg"
        ],
        "nothing of the refused grants was tried"
    );

    let status = wait_status(&site.daemon, "the uploads counted", |s| {
        uploads(s, "uploaded") == 2 && uploads(s, "pending_grants") == 0
    })
    .await;
    assert_eq!(
        (
            uploads(&status, "retried"),
            uploads(&status, "refused_grants")
        ),
        (2, 3),
        "{status}"
    );
    let mut bytes = 0;
    for id in [first, second] {
        bytes += site.local(id, "face.jpg").await.len() + site.local(id, "frame.jpg").await.len();
    }
    assert_eq!(uploads(&status, "bytes"), bytes as u64, "{status}");
    assert_metrics(
        &site.daemon,
        &[
            "dipper_uplink_dropped_total{reason=\"invalid_grants\"} 1",
            "dipper_uplink_dropped_total{reason=\"oversized_grants\"} 1",
            "dipper_upload_grants_received_total{outcome=\"unknown_match\"} 2",
            "dipper_upload_grants_received_total{outcome=\"invalid_url\"} 1",
            "dipper_snapshot_uploads_total{outcome=\"uploaded\"} 2",
            "dipper_snapshot_uploads_total{outcome=\"store_unavailable\"} 2",
            &format!("dipper_snapshot_upload_bytes_total {bytes}"),
        ],
    )
    .await;
    let cli = site.daemon.cli(&["uplink", "status"]);
    let text = String::from_utf8_lossy(&cli.stdout);
    assert!(
        text.contains("0 grants pending; 2 matches uploaded"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_refused_grants_ask_again_and_gone_files_are_dropped() {
    let mut site = Site::start().await;
    let [expired, refused, gone] = site.matches::<3>();

    // Already expired when it comes: asked again without a try.
    site.grant_uploads(vec![site.grant(expired, "expired", -1_000)])
        .await;
    site.wait_events(&[wanted(expired)]).await;
    assert!(site.store.answers("expired-face.jpg").is_empty());
    assert!(site.store.answers("expired-frame.jpg").is_empty());

    // Refused by the store: asked again, and that grant is not tried again.
    site.store.answer("refused-face.jpg", 403, None);
    site.grant_uploads(vec![site.grant(refused, "refused", 60_000)])
        .await;
    site.wait_events(&[wanted(refused)]).await;
    // The relay's new grant for it works, and the refused URL saw its one try only.
    site.grant_uploads(vec![site.grant(refused, "granted-again", 60_000)])
        .await;
    let refused_uploaded = site.uploaded(refused).await;
    site.wait_events(&[refused_uploaded]).await;
    site.assert_stored(refused, "granted-again").await;
    assert_eq!(site.store.answers("refused-face.jpg"), [403]);
    assert!(site.store.answers("refused-frame.jpg").is_empty());

    // Retention removed the recording's snapshots: the grant is dropped, counted, no try.
    let (_, results) = (site.daemon.api())
        .get(&format!("/tasks/{}/results?limit=1000", site.task_id))
        .await;
    let recording = results["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .find(|m| m["id"].as_i64() == Some(gone))
        .and_then(|m| m["recording_id"].as_i64())
        .expect("the match's recording");
    let folder = site.daemon.data_dir.join(format!("snapshots/{recording}"));
    std::fs::remove_dir_all(&folder).expect("the recording's snapshots removed");
    site.grant_uploads(vec![site.grant(gone, "gone", 60_000)])
        .await;
    let status = wait_status(&site.daemon, "the grant with gone files dropped", |s| {
        uploads(s, "files_gone") == 1 && uploads(s, "pending_grants") == 0
    })
    .await;
    assert!(site.store.answers("gone-face.jpg").is_empty());
    assert_eq!(
        (
            uploads(&status, "asked_again"),
            uploads(&status, "uploaded")
        ),
        (2, 1),
        "{status}"
    );
    let lines = ["expired", "refused", "files_gone"]
        .map(|outcome| format!("dipper_snapshot_uploads_total{{outcome=\"{outcome}\"}} 1"));
    assert_metrics(&site.daemon, &lines.each_ref().map(String::as_str)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_survive_a_kill_mid_way_and_need_the_store_not_the_broker() {
    let mut site = Site::start().await;
    let [kept] = site.matches::<1>();
    site.store.answer("kept-frame.jpg", 503, None);
    site.grant_uploads(vec![site.grant(kept, "kept", 600_000)])
        .await;
    // The face is stored; the frame's tries fail.
    wait_status(&site.daemon, "the frame's upload failing", |s| {
        uploads(s, "retried") >= 1
    })
    .await;
    assert_eq!(site.store.answers("kept-face.jpg"), [200]);

    site.daemon.kill9();
    site.link.broker.stop();
    site.store.clear("kept-frame.jpg");
    site.daemon.start_again();
    let status = wait_status(&site.daemon, "the upload resumed offline", |s| {
        uploads(s, "uploaded") == 1 && uploads(s, "pending_grants") == 0
    })
    .await;
    assert_ne!(status["state"], "connected", "{status}");
    assert_eq!(
        site.store.answers("kept-face.jpg"),
        [200],
        "the face was not uploaded again"
    );
    assert_eq!(site.store.answers("kept-frame.jpg").last(), Some(&200));
    site.assert_stored(kept, "kept").await;

    // Back online, the relay hears of it, with both files' sizes (the face's uploaded
    // before the kill).
    site.link.broker.resume();
    let kept_uploaded = site.uploaded(kept).await;
    site.wait_events(&[kept_uploaded]).await;
}
