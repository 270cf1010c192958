//! A box whose clock is wrong, and then jumps: two hours fast (a box without network time),
//! then an hour slow. Calls through the relay are answered all along (their expiry is the
//! broker's MQTT v5 message expiry, not a comparison of the two clocks), and the box's
//! messages keep arriving in sequence, none lost, none twice: the outbox numbers them and
//! times its republishing by the monotonic clock. The daemon runs with libfaketime
//! preloaded (Debian's `faketime`), the wall clock read from a file the test rewrites.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::json;
use testkit::eventually;

use crate::site::{Site, WAIT, wait_uplink};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Sets the box's wall clock `offset` from the true one (libfaketime's `+7200`, `-3600`).
fn set_clock(file: &Path, offset: &str) {
    std::fs::write(file, offset).expect("the clock file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_answered_and_nothing_is_lost_when_the_boxs_clock_is_wrong_and_jumps() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} missing: scripts/test installs Debian's faketime"
    );
    let clock_dir = tempfile::tempdir().expect("tempdir");
    let clock = clock_dir.path().join("faketime");
    set_clock(&clock, "+7200");
    let clock_path = clock.display().to_string();
    let env = [
        ("LD_PRELOAD", LIBFAKETIME),
        ("FAKETIME_TIMESTAMP_FILE", clock_path.as_str()),
        // Read the file at every call, so the jump takes effect at once.
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    let site = Site::start().await;
    let a_box = site.activated_box_with("Box fast", "", &env).await;
    let device = a_box.device_id.clone();

    let pong = site.call(&device, "ping", json!({})).await;
    assert!(pong["result"]["software_version"].is_string(), "{pong}");
    let diagnostics = site.call(&device, "getDiagnostics", json!({})).await;
    assert!(diagnostics["result"].is_object(), "{diagnostics}");

    let (_, box_time) = a_box.daemon.api().get("/uplink/status").await;
    eventually("telemetry from the fast box", WAIT, || async {
        site.telemetry(&device).is_some()
    })
    .await;
    let telemetry = site.telemetry(&device).expect("telemetry");
    let skew_ms =
        telemetry["ts_ms"].as_i64().unwrap_or(0) - jiff::Timestamp::now().as_millisecond();
    assert!(
        (7_000_000..7_400_000).contains(&skew_ms),
        "the box's clock is two hours fast: {skew_ms} ms ({box_time})"
    );

    // The clock jumps back three hours while the box runs.
    let before_jump = site.applied(&device).iter().map(|m| m.0).max().unwrap_or(0);
    set_clock(&clock, "-3600");
    eventually("telemetry after the jump", WAIT, || async {
        site.applied(&device).iter().map(|m| m.0).max().unwrap_or(0) >= before_jump + 5
    })
    .await;
    let pong = site.call(&device, "ping", json!({})).await;
    assert!(pong["result"]["software_version"].is_string(), "{pong}");
    let telemetry = site.telemetry(&device).expect("telemetry");
    let skew_ms =
        telemetry["ts_ms"].as_i64().unwrap_or(0) - jiff::Timestamp::now().as_millisecond();
    assert!(
        (-3_800_000..-3_400_000).contains(&skew_ms),
        "the box's clock is an hour slow: {skew_ms} ms"
    );

    // Every message the box numbered so far reached the relay once: no gap across the jump.
    let last = wait_uplink(&a_box.daemon, "the outbox drained", |s| {
        s["outbox"]["messages"].as_u64() <= Some(2)
    })
    .await["outbox"]["last_seq"]
        .as_u64()
        .expect("last_seq");
    eventually("every message at the relay", WAIT, || async {
        let seqs: BTreeSet<u64> = site.applied(&device).iter().map(|m| m.0).collect();
        (1..=last).all(|s| seqs.contains(&s))
    })
    .await;
}
