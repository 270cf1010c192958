//! Server-side RPC through the API, the broker and a box: a two-way call answered, refused
//! for an offline box, another tenant, a viewer and a bad method; a timeout; a persistent
//! RPC queued while the box is offline and delivered when it comes online, one that expired
//! first never sent; a persistent RPC answered while its relay was down; and one stored for
//! a box online whose send was cut (the relay or its database gone between the commit and
//! the send), sent by the resender.

use protocol::rpc::{Method, Pong, RpcError, RpcResponse};
use reqwest::StatusCode;
use serde_json::{Value, json};

use relay::db::{Mode, Scope};
use relay::store::rpcs::{self, StoredRpc};

use crate::harness::{Backend, TestRelay, expect};
use crate::on_both_backends;
use crate::site::{Site, eventually};

fn rpc_path(site: &Site) -> String {
    let a = &site.world.a;
    format!("{}/rpc", site.device_path(&a.id, &a.device))
}

async fn rpc_state(site: &Site, relay: &TestRelay, rpc: &Value) -> Value {
    let path = format!("{}/{}", rpc_path(site), rpc["id"].as_str().expect("id"));
    let token = &site.world.a.admin_token;
    expect(relay.get(&path, token).await, StatusCode::OK)
}

async fn a_call_goes_to_the_box_and_back(backend: Backend) {
    let site = Site::new(backend).await;
    let (relay, a) = (site.relay(), &site.world.a);
    let path = rpc_path(&site);
    let token = a.admin_token.as_str();
    // Activated but never connected: offline, and said so.
    let (device, tenant, answer) = site.activate_a().await;
    let credential = answer["credential"].as_str().expect("credential");
    let ping = json!({"method": "ping"});
    let offline = relay
        .expect_post(&path, token, ping.clone(), StatusCode::CONFLICT)
        .await;
    assert_eq!(offline["error"], "device_offline");
    let mut a_box = site.online_box((tenant, device), credential).await;

    // The box answers what it gets, through its outbox.
    let answering = tokio::spawn(async move {
        let (id, request) = a_box.next_rpc().await;
        assert_eq!(request.method, Method::Ping);
        let expires = request.expires_at_ms.expect("expires_at_ms travels");
        assert!(expires > jiff::Timestamp::now().as_millisecond());
        let pong = Pong {
            software_version: "1.2.3".to_owned(),
        };
        a_box.answer(id, RpcResponse::ok(&pong)).await;
        a_box
    });
    let answered = relay
        .expect_post(&path, token, ping.clone(), StatusCode::OK)
        .await;
    assert_eq!(answered["state"], "successful", "{answered}");
    assert_eq!(answered["result"]["software_version"], "1.2.3");
    assert_eq!(
        rpc_state(&site, relay, &answered).await["state"],
        "successful"
    );
    let a_box = answering.await.expect("the box answered");
    a_late_answer_changes_nothing(&site, a_box).await;
    refusals_and_the_audit_log(&site, &answered).await;
}

/// A call unanswered in time is 504 and stays timed out when the box answers late; an error
/// answer is a failed call with the box's error.
async fn a_late_answer_changes_nothing(site: &Site, mut a_box: crate::site::TestBox) {
    let (relay, path) = (site.relay(), rpc_path(site));
    let token = site.world.a.admin_token.as_str();
    // No answer: 504 after its timeout, and stored as timed out.
    let slow = json!({"method": "ping", "timeout_ms": 300});
    let timed_out = relay
        .expect_post(&path, token, slow, StatusCode::GATEWAY_TIMEOUT)
        .await;
    assert_eq!(timed_out["error"], "rpc_timeout");
    let message = timed_out["message"].as_str().expect("message");
    let timed_out_id = message
        .split_whitespace()
        .find_map(|word| uuid::Uuid::parse_str(word).ok())
        .expect("the message names the RPC");
    let (late_id, _) = a_box.next_rpc().await;
    // A late answer changes nothing: the next call's answer, sent after it on the same
    // connection, is applied after it.
    let pong = Pong {
        software_version: "late".to_owned(),
    };
    a_box.answer(late_id, RpcResponse::ok(&pong)).await;

    // An error answer is a failed RPC, with the box's error.
    let failing = tokio::spawn(async move {
        let (id, _) = a_box.next_rpc().await;
        let error = RpcError::new("busy", "three searches running");
        a_box.answer(id, RpcResponse::err(error)).await;
        a_box
    });
    let diagnostics = json!({"method": "getDiagnostics"});
    let failed = relay
        .expect_post(&path, token, diagnostics, StatusCode::OK)
        .await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["error"]["code"], "busy");
    failing.await.expect("the box answered");
    let late = rpc_state(site, relay, &json!({ "id": timed_out_id })).await;
    assert_eq!(late["state"], "timeout", "{late}");
    assert_eq!(late["result"], Value::Null);
}

/// Refused: a bad method or params (422), a viewer (403), another tenant's device (404 both
/// ways); and every call in the audit log, refused ones too.
async fn refusals_and_the_audit_log(site: &Site, answered: &Value) {
    let (relay, a, b) = (site.relay(), &site.world.a, &site.world.b);
    let (path, token) = (rpc_path(site), a.admin_token.as_str());
    let ping = json!({"method": "ping"});
    let bad_method = json!({"method": "formatDisk"});
    let refused = relay
        .expect_post(&path, token, bad_method, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert_eq!(refused["field"], "method");
    let bad_params = json!({"method": "setConfig", "params": {"values": 3}});
    let refused = relay
        .expect_post(&path, token, bad_params, StatusCode::UNPROCESSABLE_ENTITY)
        .await;
    assert_eq!(refused["field"], "params");
    let viewer = relay.token(Some(&a.id), &a.viewer_email).await;
    relay
        .expect_post(&path, &viewer, ping.clone(), StatusCode::FORBIDDEN)
        .await;
    relay
        .expect_post(&path, &b.admin_token, ping.clone(), StatusCode::NOT_FOUND)
        .await;
    let cross = format!("/api/v1/tenants/{}/devices/{}/rpc", b.id, a.device);
    relay
        .expect_post(&cross, &b.admin_token, ping.clone(), StatusCode::NOT_FOUND)
        .await;
    let read = format!("{path}/{}", answered["id"].as_str().expect("id"));
    relay
        .expect_get(&read, &b.admin_token, StatusCode::NOT_FOUND)
        .await;
    let read_cross = format!("{cross}/{}", answered["id"].as_str().expect("id"));
    relay
        .expect_get(&read_cross, &b.admin_token, StatusCode::NOT_FOUND)
        .await;

    // Every RPC is in the audit log, refused ones too.
    let audit = site.world.audit(a).await;
    let count = |action: &str, outcome: &str| {
        audit
            .iter()
            .filter(|r| {
                r["action"] == action
                    && r["outcome"]
                        .as_str()
                        .is_some_and(|o| o.starts_with(outcome))
            })
            .count()
    };
    assert_eq!(count("device.rpc.ping", "success"), 2, "{audit:#?}");
    assert_eq!(count("device.rpc.ping", "refused: rpc_timeout"), 1);
    assert_eq!(count("device.rpc.getDiagnostics", "success"), 1);
    assert_eq!(count("device.rpc.ping", "refused: device_offline"), 1);
    assert_eq!(count("device.rpc.ping", "refused: forbidden"), 1);
    assert_eq!(count("device.rpc", "refused: invalid_field"), 2);
}

async fn a_persistent_rpc_waits_for_its_box_unless_it_expires(backend: Backend) {
    let site = Site::new(backend).await;
    let (relay, a) = (site.relay(), &site.world.a);
    let (path, token) = (rpc_path(&site), a.admin_token.as_str());
    let (device, tenant, answer) = site.activate_a().await;
    let credential = answer["credential"].as_str().expect("credential");
    // Queued while the box is offline: one that expires first, then one that waits.
    let stale = json!({"method": "ping", "persistent": true, "expiration_ms": 200});
    let stale = relay
        .expect_post(&path, token, stale, StatusCode::ACCEPTED)
        .await;
    assert_eq!(stale["state"], "queued");
    let waiting = json!({"method": "getDiagnostics", "persistent": true});
    let waiting = relay
        .expect_post(&path, token, waiting, StatusCode::ACCEPTED)
        .await;
    assert_eq!(waiting["state"], "queued");
    eventually("the first one expires", || async {
        rpc_state(&site, relay, &stale).await["state"] == "expired"
    })
    .await;

    // Online: the waiting one is the first request the box gets (the expired one, queued
    // before it, would have come first).
    let mut a_box = site.online_box((tenant, device), credential).await;
    let (id, request) = a_box.next_rpc().await;
    assert_eq!(request.method, Method::GetDiagnostics);
    assert!(request.expires_at_ms.is_some());
    // Unanswered yet: the broker has it.
    eventually("the broker acknowledges it", || async {
        rpc_state(&site, relay, &waiting).await["state"] == "delivered"
    })
    .await;
    a_box
        .answer(
            id,
            RpcResponse::ok(&json!({"versions": {"dipper": "1.2.3"}})),
        )
        .await;
    eventually("the answer is stored", || async {
        rpc_state(&site, relay, &waiting).await["state"] == "successful"
    })
    .await;
    let done = rpc_state(&site, relay, &waiting).await;
    assert_eq!(done["result"]["versions"]["dipper"], "1.2.3");
    assert_eq!(rpc_state(&site, relay, &stale).await["state"], "expired");

    // Sent at once to a box online; its timeout ends it when unanswered.
    let quick = json!({"method": "ping", "persistent": true, "timeout_ms": 300});
    let quick = relay
        .expect_post(&path, token, quick, StatusCode::ACCEPTED)
        .await;
    assert_ne!(quick["state"], "queued", "{quick}");
    a_box.next_rpc().await;
    eventually("the unanswered one times out", || async {
        rpc_state(&site, relay, &quick).await["state"] == "timeout"
    })
    .await;
}

async fn a_persistent_rpc_survives_a_relay_restart(backend: Backend) {
    let site = Site::new(backend).await;
    let (relay, a) = (site.relay(), &site.world.a);
    let (path, token) = (rpc_path(&site), a.admin_token.as_str());
    let mut a_box = site.box_a_online().await;
    let persistent = json!({"method": "ping", "persistent": true, "timeout_ms": 60000});
    let rpc = relay
        .expect_post(&path, token, persistent, StatusCode::ACCEPTED)
        .await;
    let (id, _) = a_box.next_rpc().await;
    // The relay stops (its session stays on the broker); the box answers meanwhile.
    let uplink = relay.state.uplink.clone().expect("an uplink");
    uplink.stop().await;
    let pong = Pong {
        software_version: "1.2.3".to_owned(),
    };
    a_box.answer(id, RpcResponse::ok(&pong)).await;
    // A relay with the same client id takes the session back, and the queued answer.
    let restarted = site.another_relay("relay-a").await;
    eventually(
        "the answer given while the relay was down is stored",
        || async { rpc_state(&site, &restarted, &rpc).await["state"] == "successful" },
    )
    .await;
    let stored = rpc_state(&site, &restarted, &rpc).await;
    assert_eq!(stored["result"]["software_version"], "1.2.3");
}

/// An RPC stored for a box already online but never sent (as when the relay is killed, or
/// its database goes away, between the API's commit and its send): the box, online all
/// along, would never come online again to get it; the resender sends it a few seconds
/// later, once.
async fn an_rpc_whose_send_was_cut_goes_out_by_itself(backend: Backend) {
    let site = Site::new(backend).await;
    let relay = site.relay();
    let (device, tenant, answer) = site.activate_a().await;
    let credential = answer["credential"].as_str().expect("credential");
    let mut a_box = site.online_box((tenant, device), credential).await;
    let now = relay::db::now_ms();
    let stored = StoredRpc::queued(
        (tenant, device),
        ("ping", "{}".to_owned()),
        true,
        (60_000, now + 3_600_000),
        "test",
        // Stored a while ago: the API's own send would have followed at once.
        now - 10_000,
    );
    let mut tx = (relay.state.db)
        .begin(Scope::Tenant(tenant), Mode::Write)
        .await
        .expect("tx");
    rpcs::insert(&mut tx, &stored).await.expect("insert");
    tx.commit().await.expect("commit");

    let (id, request) = a_box.next_rpc().await;
    assert_eq!(id, u64::try_from(stored.request_id).expect("a wire id"));
    assert_eq!(request.method, Method::Ping);
    let rpc = json!({"id": stored.id.to_string()});
    eventually("the broker acknowledges it", || async {
        rpc_state(&site, relay, &rpc).await["state"] == "delivered"
    })
    .await;
    let pong = Pong {
        software_version: "1.2.3".to_owned(),
    };
    a_box.answer(id, RpcResponse::ok(&pong)).await;
    eventually("the answer is stored", || async {
        rpc_state(&site, relay, &rpc).await["state"] == "successful"
    })
    .await;
}

on_both_backends!(
    a_call_goes_to_the_box_and_back,
    a_persistent_rpc_waits_for_its_box_unless_it_expires,
    a_persistent_rpc_survives_a_relay_restart,
    an_rpc_whose_send_was_cut_goes_out_by_itself,
);
