//! Broker identities follow the relay: activation makes one that reaches only its box's
//! prefix (a second real box's credential cannot publish under the first's), disabling the
//! tenant disconnects its boxes until it is enabled, decommissioning revokes it.

use protocol::topics::{Topic, Topics};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Backend, id};
use crate::on_both_backends;
use crate::site::{Site, TestBox, activate, eventually, get_ok, uuid};

async fn activation_makes_an_identity_that_reaches_only_its_prefix(backend: Backend) {
    let site = Site::new(backend).await;
    let (relay, a) = (site.relay(), &site.world.a);
    let (device, tenant, answer) = site.activate_a().await;
    let broker = &answer["broker"];
    assert_eq!(broker["url"], site.broker.url());
    assert_eq!(broker["username"], device.to_string());
    assert_eq!(
        broker["topic_prefix"],
        Topics::for_box(tenant, device).prefix()
    );
    let credential = answer["credential"].as_str().expect("credential");
    let first = TestBox::connect(&site.broker, (tenant, device), credential)
        .await
        .expect("the activated box connects");

    // A second box of the same tenant, activated for real.
    let body = json!({"name": "Box 2", "area_id": a.floor});
    let path = format!("/api/v1/tenants/{}/devices", a.id);
    let second = relay.created(&path, &a.admin_token, body).await;
    let second_id = id(&second["device"]);
    let key = second["provisioning_key"].as_str().expect("key");
    let second_answer = activate(relay, &second_id, key).await;
    let second_credential = second_answer["credential"].as_str().expect("credential");
    let mut second_box =
        TestBox::connect(&site.broker, (tenant, uuid(&second_id)), second_credential)
            .await
            .expect("the second box connects");
    assert!(
        !second_box.subscribe(&first.topics.rpc_requests()).await,
        "the second box subscribed to the first's RPCs"
    );
    // Forged telemetry under the first box's prefix is dropped by the broker; the second
    // box's own, published after it on the same connection, arrives.
    let forged = TestBox::telemetry(1, "forged");
    second_box
        .publish_to(&first.topics.topic(&Topic::Telemetry), forged)
        .await;
    let own = TestBox::telemetry(1, "9.9.9");
    second_box.publish(Topic::Telemetry, own).await;
    let second_path = site.device_path(&a.id, &second_id);
    eventually("the second box's own telemetry is applied", || async {
        get_ok(&site, &second_path).await["software_version"] == "9.9.9"
    })
    .await;
    let first_path = site.device_path(&a.id, &a.device);
    let first_seen = get_ok(&site, &first_path).await;
    assert_eq!(first_seen["software_version"], serde_json::Value::Null);
    assert_eq!(first_seen["online"], false);

    // The first box's telemetry is applied as its own.
    first
        .publish(Topic::Telemetry, TestBox::telemetry(1, "1.0.0"))
        .await;
    eventually("the first box's telemetry is applied", || async {
        let seen = get_ok(&site, &first_path).await;
        seen["software_version"] == "1.0.0" && seen["online"] == true
    })
    .await;

    tenant_and_decommission_reach_the_broker(&site, first, credential).await;
}

/// Disabling the tenant disconnects its boxes until it is enabled; decommissioning
/// disconnects the box and refuses it from then on.
async fn tenant_and_decommission_reach_the_broker(
    site: &Site,
    mut first: TestBox,
    credential: &str,
) {
    let (relay, a) = (site.relay(), &site.world.a);
    let (tenant, device) = (uuid(&a.id), uuid(&a.device));
    let first_path = site.device_path(&a.id, &a.device);
    // Disabling the tenant disconnects its boxes until it is enabled.
    let root = &site.world.root_token;
    let tenant_path = format!("/api/v1/tenants/{}", a.id);
    let disable = format!("{tenant_path}/disable");
    relay
        .expect_post(&disable, root, json!({}), StatusCode::OK)
        .await;
    assert!(first.closed_by_broker().await, "disabled, still connected");
    assert!(
        TestBox::connect(&site.broker, (tenant, device), credential)
            .await
            .is_err(),
        "a disabled tenant's box connected"
    );
    let enable = format!("{tenant_path}/enable");
    relay
        .expect_post(&enable, root, json!({}), StatusCode::OK)
        .await;
    let mut again = TestBox::connect(&site.broker, (tenant, device), credential)
        .await
        .expect("enabled again");

    // Decommissioned: disconnected at once and refused from then on.
    let decommission = format!("{first_path}/decommission");
    relay
        .expect_post(&decommission, &a.admin_token, json!({}), StatusCode::OK)
        .await;
    assert!(
        again.closed_by_broker().await,
        "decommissioned, still connected"
    );
    let refused = TestBox::connect(&site.broker, (tenant, device), credential).await;
    assert!(refused.is_err(), "a decommissioned box connected");
    let audit = site.world.audit(a).await;
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "device.decommission" && r["outcome"] == "success"),
        "{audit:?}"
    );
}

on_both_backends!(activation_makes_an_identity_that_reaches_only_its_prefix);
