//! Box software rollouts through the relay, with raw MQTT clients playing two boxes: a
//! package uploaded (read by Debian's dpkg-deb, signed with the key boxes get at
//! activation), bad uploads refused, a rollout in waves of one (the second box is sent its
//! update only once the first reports healthy), a box refusing its update halts the rollout,
//! and who may see what.

use protocol::rpc::{Method, RpcResponse};
use protocol::software::{SignedPackage, UpdateReport, UpdateState};
use protocol::telemetry::ClientAttributes;
use protocol::topics::Topic;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::harness::Backend;
use crate::on_both_backends;
use crate::site::{Site, TestBox, activate, eventually, uuid};

async fn upload(
    site: &Site,
    token: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> (StatusCode, Value) {
    let response = site
        .relay()
        .raw(reqwest::Method::POST, "/api/v1/software/packages")
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("upload sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Registers and activates a second box of tenant A and connects it.
async fn second_box(site: &Site) -> (Uuid, TestBox) {
    let a = &site.world.a;
    let path = format!("/api/v1/tenants/{}/devices", a.id);
    let body = json!({"name": "Box 2", "area_id": a.floor});
    let device = site.relay().created(&path, &a.admin_token, body).await;
    let id = device["device"]["id"].as_str().expect("id").to_owned();
    let key = device["provisioning_key"].as_str().expect("key");
    let answer = activate(site.relay(), &id, key).await;
    let credential = answer["credential"].as_str().expect("credential");
    let tenant = uuid(&a.id);
    let device = uuid(&id);
    let the_box = TestBox::connect(&site.broker, (tenant, device), credential)
        .await
        .expect("box connects");
    the_box.online().await;
    (device, the_box)
}

/// The box reports its update in its client attributes.
async fn report(the_box: &mut TestBox, rollout: Uuid, version: &str, state: UpdateState) {
    let seq = the_box.next_seq();
    let attributes = ClientAttributes {
        v: 1,
        seq: Some(seq),
        software_version: version.to_owned(),
        model_id: "dlib-resnet-v1".to_owned(),
        protocol_version: 1,
        software_update: Some(UpdateReport {
            rollout_id: rollout,
            version: version.to_owned(),
            state,
            reason: None,
            at_ms: 1,
        }),
    };
    the_box
        .publish(Topic::Attributes, protocol::encode(&attributes))
        .await;
}

async fn an_update_goes_out_in_waves_and_halts_when_a_box_refuses(backend: Backend) {
    let site = Site::new(backend).await;
    let (relay, a, root) = (site.relay(), &site.world.a, site.world.root_token.clone());
    let scratch = tempfile::tempdir().expect("scratch");
    let deb = "application/vnd.debian.binary-package";

    // Bad uploads first: not a package, another package, not a platform admin.
    let (status, body) = upload(&site, &root, b"!<arch>\nnot really".to_vec(), deb).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "package", "{body}");
    let relay_package = testkit::deb::build(scratch.path(), "dipper-relay", "0.2.0");
    let (status, body) = upload(&site, &root, relay_package, deb).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("dipper-relay"),
        "{body}"
    );
    let package = testkit::deb::build(scratch.path(), "dipper", "0.2.0+g1234567");
    let (status, _) = upload(&site, &a.admin_token, package.clone(), deb).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = upload(&site, &root, package.clone(), "image/png").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // The package, signed with the key boxes receive at activation.
    let (status, stored) = upload(&site, &root, package.clone(), deb).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["version"], "0.2.0+g1234567");
    let digest: String = Sha256::digest(&package)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stored["sha256"], digest.as_str());
    let (status, _) = upload(&site, &root, package.clone(), deb).await;
    assert_eq!(status, StatusCode::CONFLICT, "one package per version");
    let listed = relay
        .expect_get("/api/v1/software/packages", &root, StatusCode::OK)
        .await;
    let key = protocol::software::decode_key(listed["public_key"].as_str().expect("key"))
        .expect("a public key");
    let signed: SignedPackage = serde_json::from_value(json!({
        "name": stored["name"], "version": stored["version"], "sha256": stored["sha256"],
        "size": stored["size"], "signature": stored["signature"],
    }))
    .expect("a signed package");
    signed.verify(&key).expect("the relay's signature verifies");

    let (device_1, _, activation) = site.activate_a().await;
    assert_eq!(
        activation["software_key"], listed["public_key"],
        "{activation}"
    );
    let credential = activation["credential"].as_str().expect("credential");
    let mut box_1 = site.online_box((uuid(&a.id), device_1), credential).await;
    let (device_2, mut box_2) = second_box(&site).await;

    // Not for operators: the RPC goes out only through a rollout.
    let rpc = format!("/api/v1/tenants/{}/devices/{}/rpc", a.id, a.device);
    let forged = json!({"method": "softwareUpdate", "params": {}});
    let (status, _) = relay.post(&rpc, &a.admin_token, forged).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let rollouts = format!("/api/v1/tenants/{}/software/rollouts", a.id);
    let start = json!({"package_id": stored["id"], "device_ids": [device_1, device_2],
        "wave_size": 1, "health_timeout_s": 60});
    let (status, _) = relay.post(&rollouts, &a.admin_token, start.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a tenant admin does not push software"
    );
    let other = json!({"package_id": stored["id"], "device_ids": [site.world.b.device]});
    let (status, body) = relay.post(&rollouts, &root, other).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another tenant's box: {body}"
    );
    let rollout = relay.created(&rollouts, &root, start.clone()).await;
    let rollout_id = uuid(rollout["id"].as_str().expect("id"));
    let states: Vec<(&str, i64)> = rollout["boxes"]
        .as_array()
        .expect("boxes")
        .iter()
        .map(|b| {
            (
                b["state"].as_str().unwrap_or_default(),
                b["wave"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(states, [("sent", 0), ("waiting", 1)], "{rollout}");
    let (status, _) = relay.post(&rollouts, &root, start).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a box takes one update at a time"
    );

    // The first box gets its update: the signed package and a URL of its bytes.
    let (id, request) = box_1.next_rpc().await;
    let Method::SoftwareUpdate(update) = request.method else {
        panic!("expected softwareUpdate, got {request:?}");
    };
    assert_eq!(update.rollout_id, rollout_id);
    assert_eq!(update.package, signed);
    assert_eq!(update.health_timeout_s, 60);
    let fetched = reqwest::get(&update.url).await.expect("package URL");
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(
        fetched.bytes().await.expect("bytes").as_ref(),
        package.as_slice()
    );
    let accepted = json!({"rollout_id": rollout_id, "from_version": "1.2.3"});
    box_1.answer(id, RpcResponse::ok(&accepted)).await;
    report(
        &mut box_1,
        rollout_id,
        "0.2.0+g1234567",
        UpdateState::Staged,
    )
    .await;

    let path = format!("{rollouts}/{rollout_id}");
    eventually("the first box's report is applied", || async {
        let read = relay.expect_get(&path, &root, StatusCode::OK).await;
        read["boxes"][0]["state"] == "staged"
    })
    .await;
    // Healthy: the second wave goes out.
    report(
        &mut box_1,
        rollout_id,
        "0.2.0+g1234567",
        UpdateState::Healthy,
    )
    .await;
    let (id, request) = box_2.next_rpc().await;
    assert!(
        matches!(request.method, Method::SoftwareUpdate(_)),
        "{request:?}"
    );
    let refusal = protocol::rpc::RpcError::new("downgrade", "0.3.0 runs here; not forced");
    box_2.answer(id, RpcResponse::err(refusal)).await;
    eventually("the rollout halts", || async {
        relay.expect_get(&path, &root, StatusCode::OK).await["state"] == "halted"
    })
    .await;
    let read = relay
        .expect_get(&path, &a.admin_token, StatusCode::OK)
        .await;
    assert_eq!(read["boxes"][0]["state"], "healthy", "{read}");
    assert_eq!(
        read["boxes"][0]["software_version"], "0.2.0+g1234567",
        "{read}"
    );
    assert_eq!(read["boxes"][1]["state"], "failed", "{read}");
    let reason = read["boxes"][1]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("downgrade:"), "{read}");

    // Who sees it: the tenant's admin yes, its viewer no, another tenant not at all.
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;
    let (status, _) = relay.get(&path, &viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let b_path = format!(
        "/api/v1/tenants/{}/software/rollouts/{rollout_id}",
        site.world.b.id
    );
    let (status, _) = relay.get(&b_path, &site.world.b.admin_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = relay.get(&path, &site.world.b.admin_token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let listed = relay
        .expect_get(&rollouts, &a.admin_token, StatusCode::OK)
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

on_both_backends!(an_update_goes_out_in_waves_and_halts_when_a_box_refuses);
