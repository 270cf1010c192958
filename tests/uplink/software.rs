//! A software update through the relay to a real box: the relay signs an uploaded package
//! with the key the box received at activation, the box checks the update's signature with
//! that key, and, having no installer yet (docs/design/0110), answers `unsupported`, which
//! halts the rollout with the box's words. (A box without the key answers `no_trusted_key`:
//! appliance/tests/uplink.rs; a signature that does not verify: protocol's tests.)

use serde_json::{Value, json};
use testkit::eventually;

use crate::site::{Site, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_checks_an_update_with_the_key_it_got_at_activation() {
    let site = Site::start().await;
    let a_box = site.activated_box("Box at the gate", "").await;
    let root = site.relay.login(None, testkit::relay::ROOT).await;
    let scratch = tempfile::tempdir().expect("scratch");
    let package = testkit::deb::build(scratch.path(), "dipper", "99.0.0");
    let uploaded = reqwest::Client::new()
        .post(format!("{}/api/v1/software/packages", site.relay.base))
        .bearer_auth(&root)
        .header("content-type", "application/vnd.debian.binary-package")
        .body(package)
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), 201);
    let uploaded: Value = uploaded.json().await.expect("a package");

    let rollouts = format!("/api/v1/tenants/{}/software/rollouts", site.tenant.id);
    let start = json!({"package_id": uploaded["id"], "device_ids": [a_box.device_id]});
    let rollout = site.relay.post_ok(&rollouts, Some(&root), &start).await;
    let path = format!("{rollouts}/{}", rollout["id"].as_str().expect("id"));
    eventually("the rollout halts on the box's answer", WAIT, || async {
        site.relay.get(&path, &root).await.1["state"] == "halted"
    })
    .await;
    let (_, read) = site.relay.get(&path, &root).await;
    let the_box = &read["boxes"][0];
    assert_eq!(the_box["state"], "failed", "{read}");
    // `unsupported`, not `no_trusted_key` nor `bad_signature`: the box holds the relay's key
    // from its activation and the signature verified with it.
    let reason = the_box["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("unsupported:"), "{read}");
}
