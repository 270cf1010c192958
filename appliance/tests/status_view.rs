//! The local page's status, camera edits, settings and diagnostics through the API, against
//! a real daemon and a simulated camera: the camera shows online once checked, the live
//! stream sends the same view, a disabled camera is no longer checked, the settings are
//! checked and kept, and the diagnostics bundle holds no secret.

mod common;

use std::time::Duration;

use common::{PASSWORD, USER, start_sim};
use futures::StreamExt as _;
use isapi::sim::DeviceConfig;
use serde_json::{Value, json};
use testkit::eventually;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_edits_settings_and_a_bundle_without_secrets() {
    let mut camera = DeviceConfig::camera(USER, PASSWORD);
    camera.days = 1;
    let sim = start_sim(vec![camera]).await;
    let (_dir, daemon) = common::start_box("");
    let api = daemon.api();
    let id = api.add_camera("gate", &sim.device(0).base_url()).await;

    // Checked at once after it is added, and shown online.
    eventually("the camera online", Duration::from_secs(30), || async {
        let (_, status) = api.get("/status").await;
        status["cameras"][0]["online"] == true
    })
    .await;
    let (status, view) = api.get("/status").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["cameras"][0]["name"], "gate");
    assert_eq!(view["uplink"]["state"], "not_activated");
    assert!(
        view["disk"]["total_bytes"].as_u64().expect("disk") > 0,
        "{view}"
    );
    assert!(
        view["models"]["face"].as_str().expect("model").len() > 2,
        "{view}"
    );
    assert!(view["time_zone"].is_string(), "{view}");

    // The live stream's first event is the same view.
    let token = std::fs::read_to_string(daemon.token_file()).expect("token");
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/status/events", daemon.base))
        .bearer_auth(token.trim())
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/event-stream")
    );
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let event = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if let Some(start) = text.find("event: status\ndata: ")
                && let Some(end) = text[start..].find("\n\n")
            {
                let data = &text[start + "event: status\ndata: ".len()..start + end];
                return serde_json::from_str::<Value>(data).expect("JSON");
            }
        }
        panic!("the stream ended: {text}");
    })
    .await
    .expect("a status event");
    assert_eq!(event["cameras"][0]["name"], "gate", "{event}");

    // Renamed and disabled: no longer checked (online unknown); bad edits are refused.
    let (status, changed) = api
        .patch(
            &format!("/cameras/{id}"),
            &json!({"name": "front gate", "enabled": false}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (&changed["name"], &changed["enabled"]),
        (&json!("front gate"), &json!(false))
    );
    let (status, body) = api
        .patch(&format!("/cameras/{id}"), &json!({"name": "  "}))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("name")),
        "{body}"
    );
    let (status, body) = api
        .patch(&format!("/cameras/{id}"), &json!({"tracks": []}))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("tracks")),
        "{body}"
    );
    let (status, _) = api.patch("/cameras/999", &json!({"enabled": true})).await;
    assert_eq!(status, 404);
    eventually(
        "the disabled camera unchecked",
        Duration::from_secs(30),
        || async {
            let (_, status) = api.get("/status").await;
            status["cameras"][0]["online"].is_null() && status["cameras"][0]["enabled"] == false
        },
    )
    .await;

    // Settings: checked whole (the key named), kept, applied at the next start.
    let (status, settings) = api.get("/settings").await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["restart_needed"], false);
    let (status, body) = api
        .put("/settings", &json!({"frame": {"width": 0, "height": 360}}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("frame_width"),
        "{body}"
    );
    let (status, body) = api.put("/settings", &json!({"colour": "blue"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, settings) = api
        .put("/settings", &json!({"retention": {"keep_days": 14, "quota_mib": 2048}, "disk": {"min_free_mib": 512}}))
        .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["retention"]["keep_days"], 14);
    assert_eq!(settings["disk"]["min_free_mib"], 512);
    assert_eq!(settings["restart_needed"], true);

    // The diagnostics bundle: versions, configuration, status, log; no password anywhere.
    let (status, bundle) = api.bytes("/diagnostics").await;
    assert_eq!(status, 200);
    let text = String::from_utf8(bundle).expect("UTF-8");
    let bundle: Value = serde_json::from_str(&text).expect("JSON");
    assert!(bundle["versions"]["dipper"].is_string(), "{bundle}");
    assert_eq!(bundle["config"]["index"]["keep_days"], 14, "{bundle}");
    assert!(
        !bundle["log"].as_array().expect("log").is_empty(),
        "{bundle}"
    );
    assert!(
        !text.contains(PASSWORD),
        "the camera's password is in the bundle"
    );
    assert!(
        !text.contains(token.trim()),
        "the local token is in the bundle"
    );

    // Deleted: gone from the list and the status.
    let (status, _) = api.delete(&format!("/cameras/{id}")).await;
    assert_eq!(status, 204);
    let (_, view) = api.get("/status").await;
    assert_eq!(view["cameras"], json!([]), "{view}");
    sim.shutdown().await;
}
