//! Persistent calls for a box that is away: made on the relay's API while the daemon is
//! stopped, one is delivered and answered when the box comes back; one that expired first
//! is never sent, so the box never runs it.

use serde_json::{Value, json};

use crate::site::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_call_waits_for_its_box_and_an_expired_one_is_never_run() {
    let site = Site::start().await;
    let mut a_box = site.activated_box("Box at the gate", "").await;
    let device = a_box.device_id.clone();
    assert!(a_box.daemon.terminate(), "{}", a_box.daemon.log_text());
    site.wait_presence(&device, false).await;

    let two_way = json!({ "method": "ping" });
    let (status, offline) = site.rpc(&device, two_way).await;
    assert_eq!(
        (status, offline["error"].as_str()),
        (409, Some("device_offline"))
    );

    let waits = json!({ "method": "ping", "persistent": true, "expiration_ms": 600_000 });
    let (status, waiting) = site.rpc(&device, waits).await;
    assert_eq!(status, 202, "{waiting}");
    let waiting = id(&waiting);
    let expires = json!({ "method": "getDiagnostics", "persistent": true, "expiration_ms": 1 });
    let (status, expiring) = site.rpc(&device, expires).await;
    assert_eq!(status, 202, "{expiring}");
    let expiring = id(&expiring);
    let expired = site.wait_rpc(&device, &expiring, "expired").await;
    assert_eq!(site.rpc_state(&device, &waiting).await["state"], "queued");

    a_box.daemon.start_again();
    let answered = site.wait_rpc(&device, &waiting, "successful").await;
    assert!(
        answered["result"]["software_version"].is_string(),
        "{answered}"
    );
    assert!(answered["sent_at"].is_string(), "{answered}");

    // The expired call was never sent and never answered: the box's only answer is the
    // ping's, and the call is as it was when it expired.
    let after = site.rpc_state(&device, &expiring).await;
    assert_eq!(after, expired);
    assert_eq!(after["sent_at"], Value::Null, "{after}");
    assert_eq!(after["result"], Value::Null, "{after}");
    let answers = site.applied(&device);
    let answers = answers.iter().filter(|(_, kind, _)| kind == "rpc_response");
    assert_eq!(answers.count(), 1);
}

fn id(rpc: &Value) -> String {
    rpc["id"].as_str().expect("the RPC's id").to_owned()
}
