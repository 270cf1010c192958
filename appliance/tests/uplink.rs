//! The box's uplink against a real Mosquitto (testkit), with a raw MQTT client playing the
//! relay: RPC round trips (ping, getDiagnostics, setConfig persisted across a restart, bad
//! payloads answered and the connection kept, unknown and expired requests), the outbox
//! across a broker outage and a `kill -9` (every message delivered, first arrivals in
//! sequence order), telemetry thinned at the outbox's quota, a wrong password refused
//! with a clear status, remote searches, and a suspended tenant's searches refused while
//! the box's local work goes on.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::Daemon;
use common::link::{BOX_PASSWORD, BOX_USER, Link, PREFIX, wait_status};
use protocol::rpc::{Method, Pong, RpcRequest, RpcResponse, SetConfig};
use protocol::search::SearchEvent;
use serde_json::{Value, json};
use testkit::Mqtt;

fn set_config(values: Value) -> Vec<u8> {
    let values: BTreeMap<String, Value> = serde_json::from_value(values).expect("a map");
    RpcRequest::new(Method::SetConfig(SetConfig { values })).encode()
}

fn error_code(response: &RpcResponse) -> &str {
    response.error.as_ref().map_or("", |e| e.code.as_str())
}

/// The next search event the box sends, checked to come after `last_seq` (then its seq).
async fn next_search_event(link: &mut Link, last_seq: &mut u64) -> SearchEvent {
    let payload = (link.relay)
        .next_on(&format!("{PREFIX}/events"))
        .await
        .expect("a search event");
    let event: SearchEvent = protocol::decode(&payload).expect("an event");
    assert!(event.seq > *last_seq, "events out of order");
    *last_seq = event.seq;
    event
}

/// An embedding of `dims` values, 1 at `axis` and 0 elsewhere.
fn unit_vector(dims: usize, axis: usize) -> Vec<f32> {
    let mut vector = vec![0.0; dims];
    vector[axis] = 1.0;
    vector
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcs_round_trip_through_the_broker_and_bad_ones_are_answered() {
    let mut link = Link::start().await;
    let (_dir, mut daemon) = link.start_box("");
    link.wait_online().await;

    let pong = link.call(1, &RpcRequest::new(Method::Ping).encode()).await;
    assert!(pong.seq.is_some(), "an outbox message carries its seq");
    let pong: Pong = pong.into_result().expect("pong");
    assert_eq!(pong.software_version, env!("CARGO_PKG_VERSION"));

    let diagnostics = link
        .call(2, &RpcRequest::new(Method::GetDiagnostics).encode())
        .await;
    let text = serde_json::to_string(&diagnostics).expect("json");
    assert!(
        !text.contains(BOX_PASSWORD),
        "diagnostics show the password: {text}"
    );
    let diagnostics = diagnostics.result.expect("a result");
    assert_eq!(diagnostics["uplink"]["state"], "connected", "{diagnostics}");
    assert_eq!(diagnostics["cameras"], json!([]));
    assert!(
        diagnostics["disk"]["free_bytes"].as_u64().is_some(),
        "{diagnostics}"
    );

    // setConfig: validated whole, applied, persisted across a restart.
    let set = link
        .call(
            3,
            &set_config(json!({"uplink.telemetry_interval_ms": 4321, "search.tasks_at_once": 3})),
        )
        .await;
    let set = set.result.expect("applied");
    assert_eq!(
        set["applied"],
        json!(["uplink.telemetry_interval_ms"]),
        "{set}"
    );
    assert_eq!(
        set["restart_required"],
        json!(["search.tasks_at_once"]),
        "{set}"
    );
    let bad = link
        .call(4, &set_config(json!({"search.tasks_at_once": 0})))
        .await;
    assert_eq!(error_code(&bad), "invalid_params");
    assert!(
        bad.error
            .as_ref()
            .is_some_and(|e| e.message.contains("tasks_at_once")),
        "{bad:?}"
    );
    let forbidden = link
        .call(5, &set_config(json!({"data_dir": "/tmp/elsewhere"})))
        .await;
    assert!(
        forbidden
            .error
            .as_ref()
            .is_some_and(|e| e.message.contains("cannot be set remotely")),
        "{forbidden:?}"
    );
    daemon.restart();
    link.wait_online().await;
    let after = link
        .call(6, &RpcRequest::new(Method::GetDiagnostics).encode())
        .await;
    let config = &after.result.expect("diagnostics")["config"];
    assert_eq!(config["uplink"]["telemetry_interval_ms"], 4321, "{config}");
    assert_eq!(config["search"]["tasks_at_once"], 3, "{config}");

    // Bad input: answered with the reason, and the connection stays up.
    let garbage = link.call(7, b"this is not json").await;
    assert_eq!(error_code(&garbage), "invalid_request");
    let unknown = link
        .call(8, br#"{"v":1,"method":"selfDestruct","params":{}}"#)
        .await;
    assert_eq!(error_code(&unknown), "unknown_method");
    let params = link
        .call(
            9,
            br#"{"v":1,"method":"cancelSearch","params":{"search_id":7}}"#,
        )
        .await;
    assert_eq!(error_code(&params), "invalid_params");
    let mut expired = RpcRequest::new(Method::Ping);
    expired.expires_at_ms = Some(1_000);
    assert_eq!(
        error_code(&link.call(10, &expired.encode()).await),
        "expired"
    );
    let newer = link.call(11, br#"{"v":99,"method":"ping"}"#).await;
    assert_eq!(error_code(&newer), "invalid_request");
    let still = link.call(12, &RpcRequest::new(Method::Ping).encode()).await;
    assert!(still.result.is_some(), "{still:?}");

    let cli = daemon.cli(&["uplink", "status", "--json"]);
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let status: Value = serde_json::from_slice(&cli.stdout).expect("json");
    assert_eq!(status["state"], "connected", "{status}");
    assert_eq!(status["topic_prefix"], PREFIX);
}

/// Every sequence the relay receives, in the order first seen, and the duplicates.
#[derive(Debug, Default)]
struct Received {
    first_seen: Vec<u64>,
    seen: BTreeSet<u64>,
    duplicates: u64,
}

impl Received {
    fn add(&mut self, payload: &[u8]) {
        if let Some(seq) = protocol::Sequenced::of(payload) {
            if self.seen.insert(seq) {
                self.first_seen.push(seq);
            } else {
                self.duplicates += 1;
            }
        }
    }

    fn has_all_up_to(&self, last: u64) -> bool {
        (1..=last).all(|s| self.seen.contains(&s))
    }

    async fn drain(&mut self, relay: &mut Mqtt, until: impl Fn(&Received) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !until(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: {} received, the newest {:?}",
                self.seen.len(),
                self.seen.last()
            );
            if let Some((_, payload)) = relay.next_message_within(Duration::from_millis(200)).await
            {
                self.add(&payload);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_delivers_everything_across_an_outage_and_a_kill_9() {
    let mut link = Link::start().await;
    let (_dir, mut daemon) = link.start_box("uplink.telemetry_interval_ms = 100");
    let mut received = Received::default();
    received
        .drain(
            &mut link.relay,
            |r| r.seen.len() >= 3,
            "telemetry while connected",
        )
        .await;

    link.broker.stop();
    let before_kill = wait_status(&daemon, "messages held offline", |s| {
        s["state"] == "disconnected" && s["outbox"]["messages"].as_u64() >= Some(20)
    })
    .await;
    daemon.kill9();
    daemon.restart();
    let held = before_kill["outbox"]["messages"].as_u64().unwrap_or(0);
    let before_resume = wait_status(&daemon, "more messages after the restart", |s| {
        s["outbox"]["messages"].as_u64() >= Some(held + 10)
    })
    .await;
    let last = before_resume["outbox"]["last_seq"]
        .as_u64()
        .expect("last_seq");

    link.broker.resume();
    received
        .drain(
            &mut link.relay,
            |r| r.has_all_up_to(last),
            "every message after the outage",
        )
        .await;
    let firsts = &received.first_seen;
    assert!(
        firsts.windows(2).all(|w| w[0] < w[1]),
        "first arrivals out of order: {firsts:?}"
    );
    eprintln!(
        "outage: {last} messages, all delivered; {} held at the kill, {} duplicates",
        held, received.duplicates
    );
    wait_status(&daemon, "the outbox drained", |s| {
        s["state"] == "connected" && s["outbox"]["messages"].as_u64() <= Some(5)
    })
    .await;
}

/// The broker's PUBACK does not let a message go: the relay's acknowledgement does. One the
/// relay does not acknowledge is published again (here after 300 ms) and kept until it is;
/// then the outbox empties. With `acknowledged_by = "broker"` the PUBACK is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_relay_does_not_acknowledge_is_published_again_until_it_does() {
    let mut link = Link::start_silent().await;
    // No telemetry while the test runs: the outbox holds the client attributes alone.
    let (dir, mut daemon) =
        link.start_box("uplink.republish_after_ms = 300\nuplink.telemetry_interval_ms = 600000");
    let mut received = Received::default();
    received
        .drain(
            &mut link.relay,
            |r| r.duplicates >= 2,
            "the unacknowledged messages published again",
        )
        .await;
    let kept = wait_status(&daemon, "the messages kept", |s| {
        s["state"] == "connected" && s["outbox"]["messages"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(kept["acknowledged"], 0, "{kept}");
    let metrics = daemon.api().metrics().await;
    assert!(
        metrics.contains("dipper_outbox_republished_total"),
        "{metrics}"
    );

    let seen: Vec<u64> = received.seen.iter().copied().collect();
    let acks = protocol::acks::Acks::of(seen.clone());
    link.relay
        .publish(&format!("{PREFIX}/acks"), &protocol::encode(&acks))
        .await;
    let drained = wait_status(&daemon, "the acknowledged messages let go", |s| {
        s["acknowledged"].as_u64() >= Some(seen.len() as u64)
    })
    .await;
    assert_eq!(drained["outbox"]["messages"], 0, "{drained}");
    // What does not read as an acknowledgement is dropped and the connection kept.
    link.relay
        .publish(&format!("{PREFIX}/acks"), br#"{"v":1,"ranges":[[9,2]]}"#)
        .await;
    let pong = link.call(1, &RpcRequest::new(Method::Ping).encode()).await;
    assert!(pong.error.is_none(), "{pong:?}");
    assert!(daemon.terminate(), "{}", daemon.log_text());

    // A broker without a relay behind it: its PUBACK is the acknowledgement.
    let config = link.box_config(
        BOX_PASSWORD,
        "uplink.acknowledged_by = \"broker\"\nuplink.telemetry_interval_ms = 600000",
    );
    let mut daemon = Daemon::start(dir.path(), &config);
    let pong = link.call(2, &RpcRequest::new(Method::Ping).encode()).await;
    assert!(pong.error.is_none(), "{pong:?}");
    wait_status(&daemon, "the outbox emptied on PUBACKs", |s| {
        s["state"] == "connected"
            && s["outbox"]["messages"] == 0
            && s["acknowledged"].as_u64() >= Some(2)
            && s["published"] == s["acknowledged"]
    })
    .await;
    assert!(daemon.terminate(), "{}", daemon.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_quota_telemetry_is_thinned_and_the_rest_delivered() {
    let mut link = Link::start().await;
    let (_dir, daemon) =
        link.start_box("uplink.telemetry_interval_ms = 100\nuplink.outbox_quota_kib = 16");
    let mut received = Received::default();
    received
        .drain(&mut link.relay, |r| r.seen.len() >= 2, "connected")
        .await;
    link.broker.stop();
    let quota = 16 * 1024;
    // Telemetry keeps coming; the outbox stays within its quota by thinning it.
    let thinned = wait_status(&daemon, "telemetry thinned", |s| {
        s["outbox"]["last_seq"].as_u64().unwrap_or(0)
            > s["outbox"]["messages"].as_u64().unwrap_or(0) + 80
    })
    .await;
    assert!(
        thinned["outbox"]["bytes"].as_u64() <= Some(quota),
        "{thinned}"
    );
    let metrics = daemon.api().metrics().await;
    assert!(metrics.contains("dipper_outbox_thinned_total"), "{metrics}");
    assert!(metrics.contains("dipper_outbox_depth"), "{metrics}");
    let last = thinned["outbox"]["last_seq"].as_u64().expect("last");
    let before = received.seen.len();
    link.broker.resume();
    // What was held arrives: a thinned subset of the outage's samples, in order, then the
    // samples written since.
    received
        .drain(
            &mut link.relay,
            |r| r.seen.last().is_some_and(|s| *s > last),
            "held",
        )
        .await;
    let outage = received.seen.range(..=last).count() - before;
    let gaps = (1..=last).filter(|s| !received.seen.contains(s)).count();
    assert!(outage > 0 && gaps > 0, "outage {outage}, gaps {gaps}");
    let firsts = &received.first_seen;
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "{firsts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_with_a_clear_status() {
    let link = Link::start().await;
    let (_dir, daemon) = common::start_box(&link.box_config("not-the-password", ""));
    let status = wait_status(&daemon, "refused", |s| s["last_error"].is_string()).await;
    assert_eq!(status["state"], "disconnected", "{status}");
    let error = status["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("refused the box's credential"), "{status}");
    let cli = daemon.cli(&["uplink", "status"]);
    let text = String::from_utf8_lossy(&cli.stdout);
    assert!(text.contains("refused the box's credential"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_the_configured_ca_and_restart_answers_then_exits_for_the_supervisor() {
    let mut link = Link::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "uplink.ca_file = {:?}\n[uplink.manual]\nbroker_url = {:?}\nusername = {BOX_USER:?}\npassword = {BOX_PASSWORD:?}\ntopic_prefix = {PREFIX:?}\n",
        link.broker.ca_path().display().to_string(),
        link.broker.tls_url()
    );
    let mut daemon = Daemon::start(dir.path(), &config);
    link.wait_online().await;
    let (_, status) = daemon.api().get("/uplink/status").await;
    assert_eq!(status["broker_url"], link.broker.tls_url(), "{status}");

    let answer = link
        .call(1, &RpcRequest::new(Method::Restart).encode())
        .await;
    let answer = answer.result.expect("answered before exiting");
    assert_eq!(answer["restarting"], true, "{answer}");
    let exit = daemon
        .wait_exit(Duration::from_secs(60))
        .expect("the daemon exits");
    assert_eq!(
        exit.code(),
        Some(i32::from(appliance::RESTART_EXIT_CODE)),
        "{exit}: {}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().contains("restart requested"),
        "{}",
        daemon.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_search_answers_with_its_task_and_sends_its_matches_and_end() {
    use protocol::search::{CreateSearch, SearchAccepted, SearchEventBody};
    let end = jiff::Timestamp::now();
    let sim = common::start_sim(vec![common::face_camera(
        "CAM-H264",
        end,
        &[(1435, "cam1_h264.ps")],
    )])
    .await;
    let (from, _) = sim.recording_span(0, 101, 1433).expect("span");
    let (_, to) = sim.recording_span(0, 101, 1436).expect("span");
    let mut link = Link::start().await;
    let (_dir, daemon, _) = link
        .start_box_with_gate("", &sim.device(0).base_url())
        .await;

    let search_id = uuid::Uuid::new_v4();
    let create = CreateSearch {
        search_id,
        embedding: common::embedding_of("obama.jpg"),
        from_ms: from.as_millisecond() + 1_000,
        to_ms: to.as_millisecond(),
        cameras: vec!["gate".to_owned()],
        max_distance: None,
        more_embeddings: Vec::new(),
    };
    let request = RpcRequest::new(Method::CreateSearch(create.clone())).encode();
    let accepted: SearchAccepted = link
        .call(1, &request)
        .await
        .into_result()
        .expect("accepted");
    // A retried request is the same search, not a second one.
    let again: SearchAccepted = link.call(2, &request).await.into_result().expect("again");
    assert_eq!(again, accepted);
    let mut unknown_camera = create.clone();
    unknown_camera.search_id = uuid::Uuid::new_v4();
    unknown_camera.cameras = vec!["nowhere".to_owned()];
    let refused = link
        .call(
            3,
            &RpcRequest::new(Method::CreateSearch(unknown_camera)).encode(),
        )
        .await;
    assert_eq!(error_code(&refused), "invalid_params", "{refused:?}");

    let (mut matches, mut progress, mut last_seq) = (0, 0, 0);
    let finished = loop {
        let event = next_search_event(&mut link, &mut last_seq).await;
        assert_eq!(event.search_id, search_id);
        match event.body {
            SearchEventBody::Match(m) => {
                assert_eq!(m.camera, "gate");
                matches += 1;
            }
            SearchEventBody::Progress(_) => progress += 1,
            SearchEventBody::Finished {
                state,
                camera_seconds,
                matches: counted,
                ..
            } => break (state, camera_seconds, counted),
            other => panic!("no upload grant was given, yet the box sent {other:?}"),
        }
    };
    // Done: its one camera over the whole span, which the relay bills as camera-hours, and
    // every match it sent counted.
    let span_seconds = u64::try_from((create.to_ms - create.from_ms) / 1_000).expect("span");
    assert!(span_seconds > 0);
    assert_eq!(
        finished,
        ("done".to_owned(), Some(span_seconds), Some(matches))
    );
    assert!(
        matches > 0 && progress > 0,
        "matches {matches}, progress {progress}"
    );
    let (_, task) = daemon
        .api()
        .get(&format!("/tasks/{}", accepted.task_id))
        .await;
    assert_eq!(task["matches"].as_u64(), Some(matches), "{task}");

    let cancel = protocol::rpc::CancelSearch {
        search_id: uuid::Uuid::new_v4(),
    };
    let missing = link
        .call(4, &RpcRequest::new(Method::CancelSearch(cancel)).encode())
        .await;
    assert_eq!(error_code(&missing), "not_found");
}

/// A remote search with many more matches than the watcher reads at one look (a page of
/// 200) sends every match once, in order, then its end: a day of one camera written straight
/// into the index (`appliance::synthetic`), every entry the searched face.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_search_with_pages_of_matches_sends_each_once_in_order() {
    use appliance::synthetic::{self, Face, Footage};
    use protocol::search::{CreateSearch, SearchEventBody, WireEmbedding};
    let end = jiff::Timestamp::now();
    let sim = common::start_sim(vec![common::face_camera("CAM-H264", end, &[])]).await;
    let mut link = Link::start().await;
    let (dir, mut daemon) = link.start_box("");
    daemon
        .api()
        .add_camera("gate", &sim.device(0).base_url())
        .await;
    assert!(daemon.terminate(), "{}", daemon.log_text());
    let index = pipeline::index::EmbeddingIndex::open(dir.path().join("index")).expect("index");
    let vector = unit_vector(index.dims(), 0);
    let footage = Footage {
        end_ms: end.as_millisecond(),
        days: 1,
        // About 700 entries, three and a half pages.
        faces_per_minute: 0.5,
        model: index.model().to_owned(),
        faces: vec![Face {
            vector: vector.clone(),
            face_box: [0.4, 0.3, 0.08, 0.12],
        }],
        known_share: 1.0,
    };
    drop(index);
    let filled = synthetic::fill(dir.path(), &footage).await.expect("fill");
    assert!(filled.entries > 600, "{} entries", filled.entries);
    daemon.start_again();
    link.wait_online().await;

    let create = CreateSearch {
        search_id: uuid::Uuid::new_v4(),
        embedding: WireEmbedding::new(&footage.model, &vector),
        from_ms: footage.end_ms - 86_400_000,
        to_ms: footage.end_ms,
        cameras: Vec::new(),
        max_distance: Some(0.5),
        more_embeddings: Vec::new(),
    };
    let request = RpcRequest::new(Method::CreateSearch(create.clone())).encode();
    link.call(1, &request)
        .await
        .into_result::<protocol::search::SearchAccepted>()
        .expect("accepted");

    let (mut matches, mut last_seq, mut last_match) = (BTreeSet::new(), 0, 0);
    let finished = loop {
        match next_search_event(&mut link, &mut last_seq).await.body {
            SearchEventBody::Match(m) => {
                assert!(m.match_id > last_match, "matches out of order");
                last_match = m.match_id;
                assert!(
                    matches.insert(m.match_id),
                    "match {} sent twice",
                    m.match_id
                );
            }
            SearchEventBody::Progress(_) => {}
            SearchEventBody::Finished {
                state,
                camera_seconds,
                ..
            } => break (state, camera_seconds),
            other => panic!("no upload grant was given, yet the box sent {other:?}"),
        }
    };
    // No cameras named is every camera: the one, over the whole day.
    assert_eq!(finished, ("done".to_owned(), Some(86_400)));
    assert_eq!(matches.len() as u64, filled.entries);
}

/// A search whose embeddings are of another model than the box's is answered
/// `model_mismatch` naming both models, and creates nothing: the same search with the box's
/// model is then a new one. Embeddings of two models in one search are `invalid_params`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_of_another_model_is_refused_as_model_mismatch_and_creates_nothing() {
    use protocol::search::{CreateSearch, SearchAccepted, WireEmbedding};
    let end = jiff::Timestamp::now();
    let sim = common::start_sim(vec![common::face_camera("CAM-H264", end, &[])]).await;
    let mut link = Link::start().await;
    let (_dir, daemon, _) = link
        .start_box_with_gate("", &sim.device(0).base_url())
        .await;

    let vector = unit_vector(128, 0);
    let now = end.as_millisecond();
    let theirs = CreateSearch {
        search_id: uuid::Uuid::new_v4(),
        embedding: WireEmbedding::new("arcface-r100", &vector),
        from_ms: now - 120_000,
        to_ms: now,
        cameras: Vec::new(),
        max_distance: None,
        more_embeddings: vec![WireEmbedding::new("arcface-r100", &vector)],
    };
    let call =
        |create: &CreateSearch| RpcRequest::new(Method::CreateSearch(create.clone())).encode();
    let refused = link.call(1, &call(&theirs)).await;
    assert_eq!(
        error_code(&refused),
        protocol::rpc::MODEL_MISMATCH,
        "{refused:?}"
    );
    let message = refused.error.map(|e| e.message).unwrap_or_default();
    assert!(
        message.contains("arcface-r100") && message.contains("dlib-resnet-v1"),
        "{message}"
    );
    let (code, tasks) = daemon.api().get("/tasks").await;
    assert_eq!((code, tasks), (200, json!([])), "nothing created");

    let mut mixed = theirs.clone();
    mixed.embedding = WireEmbedding::new("dlib-resnet-v1", &vector);
    let mixed_answer = link.call(2, &call(&mixed)).await;
    assert_eq!(
        error_code(&mixed_answer),
        "invalid_params",
        "{mixed_answer:?}"
    );

    // The same search id with the box's model: accepted, as a search never seen before.
    let mut ours = mixed;
    ours.more_embeddings = vec![WireEmbedding::new("dlib-resnet-v1", &unit_vector(128, 1))];
    let accepted: SearchAccepted = link
        .call(3, &call(&ours))
        .await
        .into_result()
        .expect("accepted");
    let (_, tasks) = daemon.api().get("/tasks").await;
    let ids: Vec<&str> = tasks
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, [accepted.task_id.as_str()]);
}

/// `setStanding`: while the tenant is suspended a new `createSearch` is answered
/// `tenant_suspended` and creates nothing, a retry of a search started before still gets its
/// task, and the local API still creates tasks; the status and diagnostics say so; an older
/// decision delivered late does not undo a newer one; the suspension outlives a restart;
/// `good` lets the relay's searches in again; a standing the protocol does not know is
/// `invalid_params`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_tenants_cloud_searches_are_refused_while_local_work_goes_on() {
    use protocol::rpc::{SetStanding, Standing, TENANT_SUSPENDED};
    use protocol::search::{CreateSearch, SearchAccepted, WireEmbedding};
    let end = jiff::Timestamp::now();
    let sim = common::start_sim(vec![common::face_camera("CAM-H264", end, &[])]).await;
    let mut link = Link::start().await;
    let (_dir, mut daemon, camera) = link
        .start_box_with_gate("", &sim.device(0).base_url())
        .await;

    let vector = unit_vector(128, 0);
    let now = end.as_millisecond();
    let search = |search_id| {
        let create = CreateSearch {
            search_id,
            embedding: WireEmbedding::new("dlib-resnet-v1", &vector),
            from_ms: now - 120_000,
            to_ms: now,
            cameras: Vec::new(),
            max_distance: None,
            more_embeddings: Vec::new(),
        };
        RpcRequest::new(Method::CreateSearch(create)).encode()
    };
    let set_standing = |standing, decided_at_ms| {
        let decision = SetStanding {
            standing,
            decided_at_ms,
        };
        RpcRequest::new(Method::SetStanding(decision)).encode()
    };
    let task_ids = |tasks: &Value| -> BTreeSet<String> {
        (tasks.as_array().expect("a list").iter())
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (before, new) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let started: SearchAccepted = link
        .call(1, &search(before))
        .await
        .into_result()
        .expect("accepted in good standing");

    let suspended = link
        .call(2, &set_standing(Standing::Suspended, 2_000))
        .await;
    assert_eq!(
        suspended.result,
        Some(json!({ "standing": "suspended", "applied": true })),
        "{suspended:?}"
    );
    let refused = link.call(3, &search(new)).await;
    assert_eq!(error_code(&refused), TENANT_SUSPENDED, "{refused:?}");
    let message = refused.error.map(|e| e.message).unwrap_or_default();
    assert!(
        message.contains("suspended") && message.contains("unpaid invoice"),
        "{message}"
    );
    // The search started before the suspension: a retry answers its task, as always.
    let retried: SearchAccepted = link
        .call(4, &search(before))
        .await
        .into_result()
        .expect("the known search's task");
    assert_eq!(retried, started);
    let (code, tasks) = daemon.api().get("/tasks").await;
    assert_eq!(code, 200, "{tasks}");
    assert_eq!(task_ids(&tasks), BTreeSet::from([started.task_id.clone()]));

    // Local work goes on: the local API creates a task.
    let (code, local) = daemon
        .api()
        .post(
            "/tasks",
            &json!({
                "from": jiff::Timestamp::from_millisecond(now - 120_000).expect("time").to_string(),
                "to": end.to_string(),
                "cameras": [camera],
                "embedding": { "model": "dlib-resnet-v1", "values": vector },
            }),
        )
        .await;
    assert_eq!(code, 201, "{local}");
    let local = local["id"].as_str().expect("a task id").to_owned();
    let finished = daemon
        .api()
        .wait_finished(&local, Duration::from_secs(60))
        .await;
    assert_eq!(finished["state"], "done", "{finished}");

    // Shown to the installer: the status (API and CLI) and the diagnostics.
    let (_, status) = daemon.api().get("/status").await;
    let tenant = &status["uplink"]["tenant"];
    assert_eq!(
        (
            &tenant["standing"],
            &tenant["cloud_searches"],
            &tenant["decided_at_ms"]
        ),
        (&json!("suspended"), &json!("refused"), &json!(2_000)),
        "{status}"
    );
    let cli = daemon.cli(&["uplink", "status"]);
    let text = String::from_utf8_lossy(&cli.stdout);
    assert!(
        text.contains("suspended") && text.contains("cloud searches refused"),
        "{text}"
    );
    let diagnostics = link
        .call(5, &RpcRequest::new(Method::GetDiagnostics).encode())
        .await
        .result
        .expect("diagnostics");
    assert_eq!(
        diagnostics["tenant"]["standing"], "suspended",
        "{diagnostics}"
    );

    // A restoration decided before the suspension, delivered late: answered, not applied.
    let late = link.call(6, &set_standing(Standing::Good, 1_000)).await;
    assert_eq!(
        late.result,
        Some(json!({ "standing": "suspended", "applied": false })),
        "{late:?}"
    );
    assert_eq!(
        error_code(&link.call(7, &search(new)).await),
        TENANT_SUSPENDED
    );
    let paused = link
        .call(
            8,
            br#"{"v":1,"method":"setStanding","params":{"standing":"paused","decided_at_ms":3000}}"#,
        )
        .await;
    assert_eq!(error_code(&paused), "invalid_params", "{paused:?}");

    // The suspension outlives a restart.
    daemon.restart();
    link.wait_online().await;
    assert_eq!(
        error_code(&link.call(9, &search(new)).await),
        TENANT_SUSPENDED
    );
    let status = wait_status(&daemon, "the tenant's standing after the restart", |s| {
        s["tenant"]["standing"] == "suspended"
    })
    .await;
    assert_eq!(status["tenant"]["decided_at_ms"], 2_000, "{status}");

    // Restored: the relay's searches are served again.
    let restored = link.call(10, &set_standing(Standing::Good, 3_000)).await;
    assert_eq!(
        restored.result,
        Some(json!({ "standing": "good", "applied": true })),
        "{restored:?}"
    );
    let accepted: SearchAccepted = link
        .call(11, &search(new))
        .await
        .into_result()
        .expect("accepted once restored");
    let (_, tasks) = daemon.api().get("/tasks").await;
    assert_eq!(
        task_ids(&tasks),
        BTreeSet::from([started.task_id, local, accepted.task_id])
    );
    let (_, status) = daemon.api().get("/uplink/status").await;
    assert_eq!(status["tenant"]["cloud_searches"], "served", "{status}");
}

/// `softwareUpdate` to a box that holds no software key (connected through `[uplink.manual]`,
/// never activated by a relay): refused `no_trusted_key` before anything is fetched; a
/// malformed one `invalid_params`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_without_the_relays_key_refuses_software_updates() {
    use protocol::software::{SignedPackage, SoftwareUpdate};
    let mut link = Link::start().await;
    let (_dir, _daemon) = link.start_box("");
    link.wait_online().await;
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let update = SoftwareUpdate {
        rollout_id: uuid::Uuid::new_v4(),
        package: SignedPackage::sign(&key, "dipper", "99.0.0", &"ab".repeat(32), 1000),
        url: "http://127.0.0.1:9/package.deb".to_owned(),
        force: false,
        health_timeout_s: 60,
    };
    let request = RpcRequest::new(Method::SoftwareUpdate(update)).encode();
    let refused = link.call(1, &request).await;
    assert_eq!(error_code(&refused), "no_trusted_key", "{refused:?}");
    let malformed = link
        .call(
            2,
            br#"{"v":1,"method":"softwareUpdate","params":{"url":"file:///etc/passwd"}}"#,
        )
        .await;
    assert_eq!(error_code(&malformed), "invalid_params", "{malformed:?}");
}
