//! The relay's broker identities against a real Mosquitto (Debian's, with its dynamic
//! security plugin): a box reaches only its own prefix, a second box's credential cannot
//! reach the first's topics, wrong or revoked credentials are refused, a disabled tenant's
//! boxes are disconnected, and the relay's identity reaches every box, also through a
//! shared subscription.

mod harness;

use std::time::Duration;

use harness::{ADMIN_PASSWORD, ADMIN_USER, Mqtt, TestBroker};
use protocol::topics::{Topic, Topics};
use relay::broker::{BrokerAdmin, BrokerError, BrokerSettings};
use uuid::Uuid;

fn settings(broker: &TestBroker) -> BrokerSettings {
    BrokerSettings {
        url: broker.url(),
        admin_username: ADMIN_USER.to_owned(),
        admin_password: ADMIN_PASSWORD.to_owned(),
        command_timeout: Duration::from_secs(10),
        ca_pem: None,
    }
}

async fn admin(broker: &TestBroker) -> BrokerAdmin {
    BrokerAdmin::connect(&settings(broker))
        .await
        .unwrap_or_else(|e| panic!("admin connects: {e}"))
}

/// The relay's identity: a broker user with the relay role.
async fn relay_identity(broker: &TestBroker, admin: &BrokerAdmin) -> (String, String) {
    let (user, password) = ("relay-1".to_owned(), "relay-pass-1".to_owned());
    broker.create_plain_client(&user, &password);
    admin
        .ensure_relay_identity(&user)
        .await
        .unwrap_or_else(|e| panic!("relay role: {e}"));
    (user, password)
}

#[tokio::test]
async fn a_box_reaches_its_own_prefix_and_nothing_else() {
    let broker = TestBroker::start();
    let admin = admin(&broker).await;
    let (relay_user, relay_password) = relay_identity(&broker, &admin).await;
    let tenant = Uuid::new_v4();
    let (box_a, box_b) = (Uuid::new_v4(), Uuid::new_v4());
    admin
        .create_box(tenant, box_a, "cred-a")
        .await
        .expect("box a");
    admin
        .create_box(tenant, box_b, "cred-b")
        .await
        .expect("box b");
    let (topics_a, topics_b) = (
        Topics::for_box(tenant, box_a),
        Topics::for_box(tenant, box_b),
    );

    let mut relay = Mqtt::connect(&broker, "relay-1-a", &relay_user, &relay_password)
        .await
        .expect("relay connects");
    assert!(
        relay.subscribe("dipper/#").await,
        "the relay may subscribe to every box"
    );

    let mut a = Mqtt::connect(&broker, &box_a.to_string(), &box_a.to_string(), "cred-a")
        .await
        .expect("box a connects");
    // Its own topics: allowed. Another box's: the subscription is refused.
    assert!(a.subscribe(&topics_a.rpc_requests()).await);
    assert!(
        !a.subscribe(&topics_b.rpc_requests()).await,
        "box a subscribed to box b's RPCs"
    );
    assert!(
        !a.subscribe("dipper/#").await,
        "box a subscribed to everything"
    );
    assert!(!a.subscribe("$CONTROL/dynamic-security/#").await);
    // A publish outside its prefix is dropped by the broker: the relay, subscribed to
    // everything, receives box a's next (allowed) message and never the forbidden one
    // before it (one connection's messages arrive in order).
    a.publish(&topics_b.topic(&Topic::Telemetry), b"forged")
        .await;
    a.publish("dipper/elsewhere/telemetry", b"forged").await;
    a.publish(&topics_a.topic(&Topic::Telemetry), b"mine").await;
    let (topic, payload) = relay.next_message().await.expect("a message");
    assert_eq!(topic, topics_a.topic(&Topic::Telemetry));
    assert_eq!(payload, b"mine");

    // The relay reaches box a's RPC topic.
    relay
        .publish(
            &topics_a.topic(&Topic::RpcRequest(1)),
            b"{\"method\":\"ping\"}",
        )
        .await;
    let (topic, _) = a.next_message().await.expect("the RPC");
    assert_eq!(topic, topics_a.topic(&Topic::RpcRequest(1)));
}

#[tokio::test]
async fn wrong_revoked_and_borrowed_credentials_are_refused() {
    let broker = TestBroker::start();
    let admin = admin(&broker).await;
    let tenant = Uuid::new_v4();
    let device = Uuid::new_v4();
    admin
        .create_box(tenant, device, "right")
        .await
        .expect("box");
    let id = device.to_string();
    assert!(
        Mqtt::connect(&broker, &id, &id, "wrong").await.is_err(),
        "wrong password"
    );
    // The identity is bound to its client id: another client id with its password fails.
    assert!(
        Mqtt::connect(&broker, "someone-else", &id, "right")
            .await
            .is_err()
    );
    // Creating it again (a retried activation) sets the new credential.
    admin
        .create_box(tenant, device, "rotated")
        .await
        .expect("again");
    assert!(
        Mqtt::connect(&broker, &id, &id, "right").await.is_err(),
        "old credential"
    );
    let mut connected = Mqtt::connect(&broker, &id, &id, "rotated")
        .await
        .expect("new one");
    // Decommissioned: disconnected at once, and refused from then on.
    admin.delete_box(device).await.expect("delete");
    assert!(connected.wait_disconnected(Duration::from_secs(10)).await);
    assert!(Mqtt::connect(&broker, &id, &id, "rotated").await.is_err());
    admin
        .delete_box(device)
        .await
        .expect("deleting twice is fine");
}

#[tokio::test]
async fn a_disabled_tenant_s_boxes_are_disconnected_until_enabled() {
    let broker = TestBroker::start();
    let admin = admin(&broker).await;
    let (tenant, other) = (Uuid::new_v4(), Uuid::new_v4());
    let boxes = [Uuid::new_v4(), Uuid::new_v4()];
    for device in boxes {
        admin.create_box(tenant, device, "pw").await.expect("box");
    }
    let bystander = Uuid::new_v4();
    admin
        .create_box(other, bystander, "pw")
        .await
        .expect("other tenant's box");
    let mut listed = admin.tenant_boxes(tenant).await.expect("group");
    listed.sort();
    let mut expected = boxes.to_vec();
    expected.sort();
    assert_eq!(listed, expected);

    let mut connected = Vec::new();
    for device in boxes {
        let id = device.to_string();
        connected.push(
            Mqtt::connect(&broker, &id, &id, "pw")
                .await
                .expect("connects"),
        );
    }
    let id = bystander.to_string();
    let mut unaffected = Mqtt::connect(&broker, &id, &id, "pw")
        .await
        .expect("connects");
    admin
        .set_tenant_enabled(tenant, false)
        .await
        .expect("disable");
    for mqtt in &mut connected {
        assert!(mqtt.wait_disconnected(Duration::from_secs(10)).await);
    }
    for device in boxes {
        let id = device.to_string();
        assert!(
            Mqtt::connect(&broker, &id, &id, "pw").await.is_err(),
            "disabled"
        );
    }
    // The other tenant's box is still connected and working.
    assert!(
        unaffected
            .subscribe(&Topics::for_box(other, bystander).rpc_requests())
            .await
    );
    admin
        .set_tenant_enabled(tenant, true)
        .await
        .expect("enable");
    for device in boxes {
        let id = device.to_string();
        assert!(
            Mqtt::connect(&broker, &id, &id, "pw").await.is_ok(),
            "enabled again"
        );
    }
    admin.delete_tenant(tenant).await.expect("delete tenant");
    assert!(
        admin
            .tenant_boxes(tenant)
            .await
            .expect("no group")
            .is_empty()
    );
    let id = boxes[0].to_string();
    assert!(
        Mqtt::connect(&broker, &id, &id, "pw").await.is_err(),
        "deleted with its tenant"
    );
}

#[tokio::test]
async fn relays_share_the_boxes_traffic_through_a_shared_subscription() {
    let broker = TestBroker::start();
    let admin = admin(&broker).await;
    let (user, password) = relay_identity(&broker, &admin).await;
    let mut first = Mqtt::connect(&broker, "relay-a", &user, &password)
        .await
        .expect("a");
    let mut second = Mqtt::connect(&broker, "relay-b", &user, &password)
        .await
        .expect("b");
    assert!(first.subscribe("$share/relays/dipper/+/+/telemetry").await);
    assert!(second.subscribe("$share/relays/dipper/+/+/telemetry").await);
    let tenant = Uuid::new_v4();
    let device = Uuid::new_v4();
    admin.create_box(tenant, device, "pw").await.expect("box");
    let id = device.to_string();
    let mut a_box = Mqtt::connect(&broker, &id, &id, "pw").await.expect("box");
    let topic = Topics::for_box(tenant, device).topic(&Topic::Telemetry);
    for i in 0..20 {
        a_box.publish(&topic, format!("{i}").as_bytes()).await;
    }
    // Every message reaches exactly one of the two relays.
    let mut seen = Vec::new();
    let mut per_relay = [0, 0];
    while seen.len() < 20 {
        tokio::select! {
            Some((_, payload)) = first.next_message() => { seen.push(payload); per_relay[0] += 1; }
            Some((_, payload)) = second.next_message() => { seen.push(payload); per_relay[1] += 1; }
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 20, "each message once");
    assert!(
        per_relay[0] > 0 && per_relay[1] > 0,
        "both relays got some: {per_relay:?}"
    );
}

#[tokio::test]
async fn the_admin_connection_reports_what_is_wrong() {
    let broker = TestBroker::start();
    let mut wrong = settings(&broker);
    wrong.admin_password = "not-it".to_owned();
    let error = BrokerAdmin::connect(&wrong)
        .await
        .expect_err("wrong admin password");
    assert!(matches!(error, BrokerError::Connect { .. }), "{error}");
    let mut closed = settings(&broker);
    closed.url = format!("mqtt://127.0.0.1:{}", harness::free_port());
    let error = BrokerAdmin::connect(&closed)
        .await
        .expect_err("nothing listens");
    assert!(error.is_retryable(), "{error}");
    for url in [
        "http://127.0.0.1:1883",
        "mqtt://127.0.0.1",
        "mqtt://:1883",
        "mqtt://h:port",
    ] {
        let mut bad = settings(&broker);
        bad.url = url.to_owned();
        let error = BrokerAdmin::connect(&bad).await.expect_err(url);
        assert!(matches!(error, BrokerError::Url { .. }), "{url}: {error}");
    }
}

#[tokio::test]
async fn the_broker_is_reached_over_tls_with_the_ca_the_scripts_make() {
    let broker = TestBroker::start();
    let mut tls = settings(&broker);
    tls.url = broker.tls_url();
    tls.ca_pem = Some(broker.ca_pem());
    let admin = BrokerAdmin::connect(&tls)
        .await
        .unwrap_or_else(|e| panic!("mqtts with the test CA: {e}\n{}", broker.log()));
    admin
        .create_tenant(Uuid::new_v4())
        .await
        .expect("a command over TLS");
    // Another CA (or none: the system's roots) does not vouch for the broker.
    let other = tempfile::tempdir().expect("tempdir");
    let made =
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/broker/make-certs"))
            .arg(other.path())
            .output()
            .expect("make-certs");
    assert!(made.status.success());
    for ca in [
        Some(std::fs::read(other.path().join("ca.pem")).expect("ca")),
        None,
    ] {
        let mut wrong = tls.clone();
        wrong.ca_pem = ca;
        let error = BrokerAdmin::connect(&wrong)
            .await
            .expect_err("untrusted certificate");
        assert!(matches!(error, BrokerError::Connect { .. }), "{error}");
    }
}
