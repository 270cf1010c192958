//! The broker restarted while the relay is away. Mosquitto 2.0.11 brings back a persistent
//! session's plain subscriptions after a restart but not its shared ones, so what the box
//! publishes after the restart and before the relay has subscribed again is acknowledged
//! by the broker (PUBACK) and delivered to no one. The box keeps every message until the
//! relay acknowledges it, and the relay, once subscribed, asks every box to publish again
//! what it holds: all arrive within seconds (not after the box's own 30 s wait), each
//! applied once.

use std::time::Duration;

use testkit::eventually;

use crate::site::{Site, WAIT, metric_sum, wait_uplink};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_box_sent_before_the_relay_was_back_from_a_broker_restart_still_arrives() {
    let mut site = Site::start().await;
    let a_box = site.activated_box("Box at the gate", "").await;
    let device = a_box.device_id.clone();
    eventually("telemetry at the relay", WAIT, || async {
        site.applied(&device).len() >= 3
    })
    .await;

    site.relay.stop();
    site.broker.stop();
    site.broker.resume();
    // The box is back on the restarted broker and publishes telemetry to no one.
    let before = wait_uplink(&a_box.daemon, "the box back on the broker", |s| {
        s["state"] == "connected"
    })
    .await;
    let published = before["published"].as_u64().unwrap_or(0);
    let sent_to_no_one = wait_uplink(&a_box.daemon, "telemetry sent to no one", |s| {
        s["published"].as_u64() >= Some(published + 5)
    })
    .await;
    let last_seq = sent_to_no_one["outbox"]["last_seq"]
        .as_u64()
        .expect("last_seq");
    assert!(
        sent_to_no_one["outbox"]["messages"].as_u64() >= Some(5),
        "the box let go of messages no relay applied: {sent_to_no_one}"
    );

    site.relay.start_again().await;
    // Well within the box's own wait before publishing again (30 s): the relay asked.
    site.wait_all_applied(&a_box, last_seq, Duration::from_secs(20))
        .await;
    let metrics = a_box.daemon.api().metrics().await;
    assert!(
        metric_sum(&metrics, "dipper_outbox_republished_total", &[]) > 0,
        "the messages went again: {metrics}"
    );
    wait_uplink(&a_box.daemon, "the outbox drained", |s| {
        s["outbox"]["messages"].as_u64() <= Some(2)
    })
    .await;
    eprintln!(
        "broker restart: {last_seq} messages, {} published to no one, all applied",
        sent_to_no_one["outbox"]["messages"]
    );
}
