//! A box activated through the relay: it connects to the broker the relay names, the relay
//! shows it online with its software version and telemetry, and `ping`, `getDiagnostics`
//! and `setConfig` made on the relay's API are answered by the box (a bad configuration
//! refused with its reason), each in the tenant's audit log.

use serde_json::{Value, json};
use testkit::eventually;

use crate::site::{Site, WAIT};

/// The version `dipper --version` prints: what the box reports.
fn box_version() -> String {
    let output = std::process::Command::new(testkit::binary("dipper"))
        .arg("--version")
        .output()
        .expect("dipper --version");
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split_whitespace().nth(1).expect("a version");
    version.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_activated_through_the_relay_answers_calls_made_on_its_api() {
    let site = Site::start().await;
    let a_box = site.activated_box("Box at the gate", "").await;
    let device = a_box.device_id.as_str();
    let version = box_version();

    let (_, status) = a_box.daemon.api().get("/uplink/status").await;
    assert_eq!(status["state"], "connected", "{status}");
    assert_eq!(status["broker_url"], site.broker.url(), "{status}");
    eventually("the relay stores the box's telemetry", WAIT, || async {
        site.telemetry(device).is_some() && site.device(device).await["software_version"] == version
    })
    .await;
    let shown = site.device(device).await;
    assert_eq!(shown["status"], "active", "{shown}");
    assert!(shown["last_seen_at"].is_string(), "{shown}");
    let telemetry = site.telemetry(device).expect("telemetry");
    assert_eq!(telemetry["software_version"], version, "{telemetry}");
    assert_eq!(telemetry["cameras_total"], 0, "{telemetry}");
    assert!(
        telemetry["disk_free_bytes"].as_u64() > Some(0),
        "{telemetry}"
    );

    let pong = site.call(device, "ping", json!({})).await;
    assert_eq!(pong["state"], "successful", "{pong}");
    assert_eq!(pong["result"]["software_version"], version, "{pong}");

    let diagnostics = site.call(device, "getDiagnostics", json!({})).await;
    assert_eq!(diagnostics["state"], "successful", "{diagnostics}");
    let result = &diagnostics["result"];
    assert_eq!(result["software_version"], version, "{result}");
    assert_eq!(result["uplink"]["state"], "connected", "{result}");
    assert_eq!(result["cameras"], json!([]), "{result}");

    let values = json!({ "values": { "uplink.telemetry_interval_ms": 4321 } });
    let set = site.call(device, "setConfig", values).await;
    assert_eq!(set["state"], "successful", "{set}");
    assert_eq!(
        set["result"]["applied"],
        json!(["uplink.telemetry_interval_ms"]),
        "{set}"
    );
    let bad = json!({ "values": { "search.tasks_at_once": 0 } });
    let refused = site.call(device, "setConfig", bad).await;
    assert_eq!(refused["state"], "failed", "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_params", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("tasks_at_once"), "{refused}");
    let after = site.call(device, "getDiagnostics", json!({})).await;
    let config = &after["result"]["config"];
    assert_eq!(config["uplink"]["telemetry_interval_ms"], 4321, "{config}");
    assert_eq!(
        config["search"]["tasks_at_once"],
        Value::from(default_tasks(&diagnostics))
    );

    // Every call is audited on the relay, against the box.
    let audit = format!("/api/v1/tenants/{}/audit", site.tenant.id);
    let (status, audit) = site.relay.get(&audit, &site.tenant.admin_token).await;
    assert_eq!(status, 200, "{audit}");
    let target = format!("device:{device}");
    let calls = |action: &str| {
        audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|r| r["action"] == action && r["target"] == target)
            .count()
    };
    assert_eq!(calls("device.rpc.ping"), 1, "{audit}");
    assert_eq!(calls("device.rpc.getDiagnostics"), 2, "{audit}");
    assert_eq!(calls("device.rpc.setConfig"), 2, "{audit}");

    // Each answer came through the box's outbox: numbered, applied once.
    let answers = site.applied(device);
    let answers = answers.iter().filter(|(_, kind, _)| kind == "rpc_response");
    assert_eq!(answers.count(), 5);
}

/// `search.tasks_at_once` before the refused change: unchanged by it.
fn default_tasks(diagnostics: &Value) -> u64 {
    diagnostics["result"]["config"]["search"]["tasks_at_once"]
        .as_u64()
        .expect("search.tasks_at_once in the diagnostics")
}
