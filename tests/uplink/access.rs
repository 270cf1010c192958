//! The broker keeps boxes apart, with two real boxes: the second box's credential (issued
//! by the relay at its activation) can neither subscribe to the first box's topics nor
//! publish under its prefix (the broker refuses; nothing reaches the relay as the first
//! box, which goes on answering), and once the second box is decommissioned the broker
//! refuses its credential, to its daemon and to anyone else.

use protocol::topics::{Topic, Topics};
use serde_json::{Value, json};
use testkit::{Daemon, Mqtt, eventually};

use crate::site::{BOX_CONFIG, Site, WAIT, wait_uplink};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_cannot_reach_another_ones_topics_and_a_decommissioned_one_is_refused() {
    let site = Site::start().await;
    let first = site.activated_box("Box at the gate", "").await;
    let first_topics = topics(&site, &first.device_id);

    // The second box, activated on the relay's API by hand and given its identity in
    // box.toml (`[uplink.manual]`), so the test holds the credential the relay issued.
    let second = site
        .relay
        .register_box(&site.tenant, "Box in the lobby")
        .await;
    let activation = json!({ "device_id": second.device_id, "provisioning_key": second.key });
    let answer = site
        .relay
        .post_ok("/api/v1/devices/activate", None, &activation)
        .await;
    let credential = answer["credential"]
        .as_str()
        .expect("credential")
        .to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut second_daemon = Daemon::start(dir.path(), &manual(&answer, BOX_CONFIG));
    site.wait_presence(&second.device_id, true).await;
    assert!(second_daemon.terminate(), "{}", second_daemon.log_text());

    let user = second.device_id.as_str();
    let mut intruder = Mqtt::connect(&site.broker, user, user, &credential)
        .await
        .expect("the second box's credential is good for its own identity");
    assert!(
        !intruder.subscribe(&first_topics.rpc_requests()).await,
        "the second box subscribed to the first box's RPCs"
    );
    assert!(!intruder.subscribe(&first_topics.all()).await);
    // Forged telemetry under the first box's prefix goes nowhere; the second box's own,
    // published after it on the same connection, arrives (so the forged one had its turn).
    let forged = telemetry(1_000_000, "forged");
    intruder
        .publish(&first_topics.topic(&Topic::Telemetry), &forged)
        .await;
    let own = telemetry(1_000_000, "own");
    let second_topics = topics(&site, user);
    intruder
        .publish(&second_topics.topic(&Topic::Telemetry), &own)
        .await;
    eventually("the second box's own telemetry applied", WAIT, || async {
        site.device(user).await["software_version"] == "own"
    })
    .await;
    assert_ne!(
        site.device(&first.device_id).await["software_version"],
        "forged"
    );
    let first_applied = site.applied(&first.device_id);
    assert!(
        first_applied.iter().all(|(seq, _, _)| *seq < 1_000_000),
        "a forged message was applied as the first box's"
    );
    let pong = site.call(&first.device_id, "ping", json!({})).await;
    assert_eq!(pong["state"], "successful", "{pong}");

    // Decommissioned: the broker refuses the credential, to the daemon and to a client.
    let path = format!("{}/decommission", site.device_path(user));
    site.relay
        .post_ok(&path, Some(site.tenant.admin_token.as_str()), &json!({}))
        .await;
    assert!(
        intruder.wait_disconnected(WAIT).await,
        "the decommissioned box stays connected"
    );
    let refused = Mqtt::connect(&site.broker, user, user, &credential).await;
    assert!(
        refused.is_err(),
        "a decommissioned box's credential is accepted"
    );
    second_daemon.start_again();
    let status = wait_uplink(&second_daemon, "the daemon refused", |s| {
        s["last_error"].is_string()
    })
    .await;
    let error = status["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("refused the box's credential"), "{status}");
    assert_ne!(status["state"], "connected", "{status}");
}

fn topics(site: &Site, device: &str) -> Topics {
    let tenant = uuid::Uuid::parse_str(&site.tenant.id).expect("tenant id");
    Topics::for_box(tenant, uuid::Uuid::parse_str(device).expect("device id"))
}

/// `box.toml` with the identity of an activation's answer.
fn manual(answer: &Value, extra: &str) -> String {
    let broker = &answer["broker"];
    format!(
        "{extra}\n[uplink.manual]\nbroker_url = {}\nusername = {}\npassword = {}\ntopic_prefix = {}\n",
        broker["url"], broker["username"], answer["credential"], broker["topic_prefix"]
    )
}

/// A telemetry sample numbered `seq`, reporting software `version`.
fn telemetry(seq: u64, version: &str) -> Vec<u8> {
    let sample = json!({
        "v": 1, "seq": seq, "ts_ms": jiff::Timestamp::now().as_millisecond(), "uptime_s": 1,
        "cameras_online": 0, "cameras_total": 0, "disk_free_bytes": 1, "outbox_depth": 0,
        "download_queue": 0, "software_version": version, "model_id": "none",
    });
    serde_json::to_vec(&sample).expect("json")
}
