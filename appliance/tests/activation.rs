//! Activation against a real `dipper-relay` (its binary, on SQLite, without a broker): a
//! wrong key, an unreachable relay and a relay without a broker each refused with their
//! own code and a sentence to act on, through the API and the CLI, and nothing stored.
//! (Connecting with an identity is covered by `uplink.rs`, with one given in box.toml, and
//! activating through a relay with a broker by the end-to-end tests, `tests/uplink/`.)

mod common;

use serde_json::json;
use testkit::Relay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_errors_name_what_to_do_and_store_nothing() {
    let relay = Relay::start().await;
    let tenant = relay.tenant().await;
    let registered = relay.register_box(&tenant, "Box 1").await;
    let (device, key) = (registered.device_id, registered.key);
    let (_dir, daemon) = common::start_box("");
    let api = daemon.api();
    let activate =
        |relay_url: &str, key: &str| json!({ "relay": relay_url, "device_id": device, "key": key });

    let (status, wrong) = api
        .post("/uplink/activate", &activate(&relay.base, "not-the-key"))
        .await;
    assert_eq!(
        (status, wrong["error"].as_str()),
        (422, Some("wrong_key")),
        "{wrong}"
    );
    assert_eq!(wrong["field"], "key");

    let nowhere = format!("http://127.0.0.1:{}", testkit::free_port());
    let (status, down) = api
        .post("/uplink/activate", &activate(&nowhere, &key))
        .await;
    assert_eq!(
        (status, down["error"].as_str()),
        (502, Some("relay_unreachable")),
        "{down}"
    );
    assert!(
        down["message"]
            .as_str()
            .is_some_and(|m| m.contains(&nowhere)),
        "{down}"
    );

    let (status, bad) = api
        .post("/uplink/activate", &activate("ftp://relay", &key))
        .await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (400, Some("relay")),
        "{bad}"
    );

    let activate_cli = |key: &str| {
        daemon.cli(&[
            "uplink",
            "activate",
            "--relay",
            &relay.base,
            "--device-id",
            &device,
            "--key",
            key,
        ])
    };
    // The right key on a relay that has no broker to give.
    let cli = activate_cli(&key);
    assert!(!cli.status.success());
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(stderr.contains("no MQTT broker"), "{stderr}");
    assert!(!stderr.contains(&key), "the key is echoed: {stderr}");

    // A key may begin with `-` (the relay's keys are base64url): it is a key, not an option.
    let cli = activate_cli("-Fnot-the-key");
    assert!(!cli.status.success());
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
    assert!(stderr.contains("key"), "the relay's refusal: {stderr}");

    let (_, status) = api.get("/uplink/status").await;
    assert_eq!(status["state"], "not_activated", "{status}");
}
