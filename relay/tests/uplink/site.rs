//! A site for the uplink's tests: a Mosquitto, a relay (or two) configured with it over a
//! populated world, and [`TestBox`], a raw rumqttc MQTT v5 client playing a box (last will
//! on its status topic, RPC requests received, reports published under its prefix).

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use protocol::acks::Acks;
use protocol::rpc::{RpcRequest, RpcResponse};
use protocol::status::{DeviceStatus, Presence};
use protocol::telemetry::Telemetry;
use protocol::topics::{Topic, Topics};
use relay::config::{BrokerConfig, Config};
use reqwest::{Method, StatusCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::harness::{Backend, TestRelay, expect};
use crate::world::World;
use testkit::{ADMIN_PASSWORD, ADMIN_USER, TestBroker};

pub(crate) const RELAY_USER: &str = "dipper-relay";
pub(crate) const RELAY_PASSWORD: &str = "relay-broker-password";

/// The `[broker]` of a relay instance named `client_id`.
pub(crate) fn broker_config(broker: &TestBroker, client_id: &str) -> BrokerConfig {
    BrokerConfig {
        url: broker.url(),
        relay_url: None,
        admin_username: ADMIN_USER.to_owned(),
        admin_password: ADMIN_PASSWORD.to_owned(),
        username: RELAY_USER.to_owned(),
        password: RELAY_PASSWORD.to_owned(),
        client_id: Some(client_id.to_owned()),
        ca_file: None,
        command_timeout_seconds: 10,
        session_expiry_seconds: 600,
    }
}

pub(crate) fn with_broker(broker: &TestBroker, client_id: &str) -> impl FnOnce(&mut Config) {
    let config = broker_config(broker, client_id);
    move |c: &mut Config| c.broker = Some(config)
}

/// A broker and a populated world whose relay uses it. Fields drop in order: the world
/// (relay, then database) before the broker.
pub(crate) struct Site {
    pub(crate) world: World,
    pub(crate) broker: TestBroker,
}

impl Site {
    pub(crate) async fn new(backend: Backend) -> Site {
        let broker = TestBroker::start();
        let world = World::configured(backend, with_broker(&broker, "relay-a")).await;
        Site { world, broker }
    }

    /// A second relay instance on the same database and broker.
    pub(crate) async fn another_relay(&self, client_id: &str) -> TestRelay {
        TestRelay::start_with(self.world.db(), with_broker(&self.broker, client_id), None).await
    }

    pub(crate) fn relay(&self) -> &TestRelay {
        &self.world.relay
    }

    /// Activates tenant A's box; its id, tenant and the activation's answer.
    pub(crate) async fn activate_a(&self) -> (Uuid, Uuid, Value) {
        let a = &self.world.a;
        let answer = activate(self.relay(), &a.device, &a.provisioning_key).await;
        (uuid(&a.device), uuid(&a.id), answer)
    }

    /// Activates tenant A's box and connects it, online.
    pub(crate) async fn box_a_online(&self) -> TestBox {
        let (device, tenant, answer) = self.activate_a().await;
        let credential = answer["credential"].as_str().expect("credential");
        self.online_box((tenant, device), credential).await
    }

    /// Connects tenant A's box and says it is online; returns once the relay knows.
    pub(crate) async fn online_box(
        &self,
        (tenant, device): (Uuid, Uuid),
        credential: &str,
    ) -> TestBox {
        let a_box = TestBox::connect(&self.broker, (tenant, device), credential)
            .await
            .expect("box connects");
        a_box.online().await;
        let path = self.device_path(&self.world.a.id, &self.world.a.device);
        let token = self.world.a.admin_token.clone();
        let relay = self.relay();
        eventually("the relay sees the box online", || async {
            relay.expect_get(&path, &token, StatusCode::OK).await["online"] == true
        })
        .await;
        a_box
    }

    pub(crate) fn device_path(&self, tenant: &str, device: &str) -> String {
        format!("/api/v1/tenants/{tenant}/devices/{device}")
    }
}

pub(crate) async fn activate(relay: &TestRelay, device: &str, key: &str) -> Value {
    let body = json!({"device_id": device, "provisioning_key": key});
    let path = (Method::POST, "/api/v1/devices/activate");
    relay
        .expect_call(path, None, Some(body), StatusCode::OK)
        .await
}

pub(crate) fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).expect("a uuid")
}

/// Polls `condition` until it holds, for at most 15 s.
pub(crate) async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A box's MQTT connection, as the appliance makes it.
pub(crate) struct TestBox {
    pub(crate) topics: Topics,
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    subacks: mpsc::UnboundedReceiver<Vec<SubscribeReasonCode>>,
    closed: mpsc::UnboundedReceiver<String>,
    task: tokio::task::JoinHandle<()>,
    seq: u64,
}

impl TestBox {
    /// Connects with its last will set, and subscribes to its RPC requests.
    pub(crate) async fn connect(
        broker: &TestBroker,
        (tenant, device): (Uuid, Uuid),
        credential: &str,
    ) -> Result<TestBox, String> {
        let topics = Topics::for_box(tenant, device);
        Self::connect_as(broker, topics, &device.to_string(), credential).await
    }

    /// Connects as `user` (also the client id) with `topics` as its own.
    pub(crate) async fn connect_as(
        broker: &TestBroker,
        topics: Topics,
        user: &str,
        password: &str,
    ) -> Result<TestBox, String> {
        let mut options = MqttOptions::new(user, "127.0.0.1", broker.port());
        options.set_credentials(user, password);
        options.set_keep_alive(Duration::from_secs(5));
        let will = DeviceStatus::new(Presence::Offline).encode();
        let will_topic = topics.topic(&Topic::Status);
        options.set_last_will(LastWill::new(
            will_topic,
            will,
            QoS::AtLeastOnce,
            false,
            None,
        ));
        let (client, mut events) = AsyncClient::new(options, 64);
        // One task reads the connection from the start: what it sees goes to the channel
        // of its kind; the first error ends it (the test asks why).
        let (message_tx, messages) = mpsc::unbounded_channel();
        let (suback_tx, subacks) = mpsc::unbounded_channel();
        let (closed_tx, mut closed) = mpsc::unbounded_channel();
        let (connack_tx, connack) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut connack_tx = Some(connack_tx);
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(tx) = connack_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let topic = String::from_utf8_lossy(&p.topic).into_owned();
                        let _ = message_tx.send((topic, p.payload.to_vec()));
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let _ = suback_tx.send(ack.return_codes);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = closed_tx.send(e.to_string());
                        return;
                    }
                }
            }
        });
        tokio::select! {
            accepted = connack => accepted.map_err(|_| "connection ended".to_owned())?,
            refused = closed.recv() => return Err(refused.unwrap_or_default()),
            () = tokio::time::sleep(Duration::from_secs(10)) => return Err("no ConnAck".to_owned()),
        }
        let mut a_box = TestBox {
            topics,
            client,
            messages,
            subacks,
            closed,
            task,
            seq: 0,
        };
        let filter = a_box.topics.rpc_requests();
        if !a_box.subscribe(&filter).await {
            return Err("subscription to its RPC requests refused".to_owned());
        }
        Ok(a_box)
    }

    /// Subscribes at QoS 1; whether the broker granted it.
    pub(crate) async fn subscribe(&mut self, filter: &str) -> bool {
        let requested = self.client.subscribe(filter, QoS::AtLeastOnce).await;
        let answer = tokio::time::timeout(Duration::from_secs(10), self.subacks.recv()).await;
        match (requested, answer) {
            (Ok(()), Ok(Some(codes))) => codes
                .iter()
                .all(|c| matches!(c, SubscribeReasonCode::Success(_))),
            other => panic!("no SubAck for {filter}: {other:?}"),
        }
    }

    /// The next outbox sequence.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) async fn publish_to(&self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("publish request");
    }

    pub(crate) async fn publish(&self, topic: Topic, payload: Vec<u8>) {
        self.publish_to(&self.topics.topic(&topic), payload).await;
    }

    pub(crate) async fn online(&self) {
        let mut status = DeviceStatus::new(Presence::Online);
        status.software_version = Some("1.2.3".to_owned());
        self.publish(Topic::Status, status.encode()).await;
    }

    /// A telemetry sample with sequence `seq`.
    pub(crate) fn telemetry(seq: u64, version: &str) -> Vec<u8> {
        protocol::encode(&Telemetry {
            v: 1,
            seq: Some(seq),
            ts_ms: 1_764_000_000_000,
            uptime_s: 60,
            cameras_online: 3,
            cameras_total: 4,
            indexing_lag_s: None,
            disk_free_bytes: 1 << 30,
            outbox_depth: 0,
            outbox_oldest_s: None,
            download_queue: 0,
            software_version: version.to_owned(),
            model_id: "dlib-resnet-v1".to_owned(),
        })
    }

    /// The next RPC request, within 10 s: its id on the wire and the request.
    pub(crate) async fn next_rpc(&mut self) -> (u64, RpcRequest) {
        let (topic, payload) = tokio::time::timeout(Duration::from_secs(10), self.messages.recv())
            .await
            .expect("an RPC request within 10 s")
            .expect("connection open");
        let Some(Topic::RpcRequest(id)) = self.topics.parse(&topic) else {
            panic!("not an RPC request: {topic}");
        };
        let request = RpcRequest::decode(&payload)
            .expect("a request")
            .expect("a known method");
        (id, request)
    }

    /// Answers RPC `id` through the outbox (with the next sequence).
    pub(crate) async fn answer(&mut self, id: u64, mut response: RpcResponse) {
        response.seq = Some(self.next_seq());
        self.publish(Topic::RpcResponse(id), response.encode())
            .await;
    }

    /// The sequences the relay acknowledged on the box's `acks` topic, read until `enough`
    /// holds (within 10 s); other messages are set aside.
    pub(crate) async fn acknowledged(
        &mut self,
        enough: impl Fn(&BTreeSet<u64>) -> bool,
    ) -> BTreeSet<u64> {
        let topic = self.topics.topic(&Topic::Acks);
        let mut acked = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !enough(&acked) {
            let message = tokio::time::timeout_at(deadline, self.messages.recv()).await;
            let Ok(Some((on, payload))) = message else {
                panic!("acknowledged so far: {acked:?}");
            };
            if on == topic {
                let acks = Acks::decode(&payload).expect("an acknowledgement");
                acked.extend(acks.ranges.iter().flat_map(|&(first, last)| first..=last));
            }
        }
        acked
    }

    /// The next message on `topic` within 10 s; other messages are set aside.
    pub(crate) async fn next_on(&mut self, topic: &Topic) -> Vec<u8> {
        let topic = self.topics.topic(topic);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let message = tokio::time::timeout_at(deadline, self.messages.recv()).await;
            let Ok(Some((on, payload))) = message else {
                panic!("no message on {topic} within 10 s");
            };
            if on == topic {
                return payload;
            }
        }
    }

    /// Whether the broker closed the connection within 10 s.
    pub(crate) async fn closed_by_broker(&mut self) -> bool {
        tokio::time::timeout(Duration::from_secs(10), self.closed.recv())
            .await
            .is_ok()
    }

    /// The connection dropped without a DISCONNECT (a power cut): the broker publishes the
    /// box's last will.
    pub(crate) fn cut(self) {
        self.task.abort();
    }
}

/// Tenant A's admin's GET of `path`, asserting 200.
pub(crate) async fn get_ok(site: &Site, path: &str) -> Value {
    let token = &site.world.a.admin_token;
    expect(site.relay().get(path, token).await, StatusCode::OK)
}
