//! Boxes played by raw MQTT clients (`testkit::Mqtt`) speaking the box's protocol, many
//! cheaper than box daemons: each activated through the relay's API (so its broker identity
//! is the relay's making), it says it is online, answers every RPC request at once with a
//! `ping` result, and sends numbered telemetry when told, counting every numbered message
//! (its outbox sequence, one counter for telemetry and answers, as the box's outbox has) and
//! its bytes. Unlike a box daemon it never publishes a message again: what it sent, the
//! relays must apply from what the broker delivers.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use protocol::status::{DeviceStatus, Presence};
use protocol::topics::{Topic, Topics};
use serde_json::json;
use testkit::{Mqtt, TestBroker};
use tokio::sync::watch;

/// What a simulated box has sent so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sent {
    /// Its last outbox sequence (1, 2, ... with no gap).
    pub(crate) last_seq: u64,
    /// The bytes of every numbered message (what the relay meters once each).
    pub(crate) bytes: u64,
    pub(crate) telemetry: u64,
    pub(crate) answers: u64,
}

/// A connected simulated box; its task ends when it is dropped.
pub(crate) struct SimBox {
    pub(crate) device_id: String,
    sent: Arc<Mutex<Sent>>,
    /// Telemetry samples still to send, and the period.
    telemetry: watch::Sender<(u64, Duration)>,
    task: tokio::task::JoinHandle<()>,
}

impl SimBox {
    /// Connects as the box `device_id` with the `credential` and topic `prefix` its
    /// activation answered, says it is online and answers RPCs until dropped.
    pub(crate) async fn connect(
        broker: &TestBroker,
        device_id: &str,
        credential: &str,
        prefix: &str,
    ) -> SimBox {
        let mut mqtt = Mqtt::connect(broker, device_id, device_id, credential)
            .await
            .expect("the box's broker identity");
        let topics = Topics::with_prefix(prefix);
        assert!(mqtt.subscribe(&topics.rpc_requests()).await, "{device_id}");
        let online = DeviceStatus::new(Presence::Online).encode();
        mqtt.publish(&topics.topic(&Topic::Status), &online).await;
        let sent = Arc::new(Mutex::new(Sent::default()));
        let (telemetry, plan) = watch::channel((0, Duration::from_secs(1)));
        let task = tokio::spawn(run(mqtt, topics, Arc::clone(&sent), plan));
        SimBox {
            device_id: device_id.to_owned(),
            sent,
            telemetry,
            task,
        }
    }

    /// Sends `count` telemetry samples, one every `every`.
    pub(crate) fn send_telemetry(&self, count: u64, every: Duration) {
        self.telemetry.send_replace((count, every));
    }

    pub(crate) fn sent(&self) -> Sent {
        *self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SimBox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    mut mqtt: Mqtt,
    topics: Topics,
    sent: Arc<Mutex<Sent>>,
    mut plan: watch::Receiver<(u64, Duration)>,
) {
    let (mut left, mut every) = (0, Duration::from_secs(1));
    loop {
        tokio::select! {
            message = mqtt.next_message_within(Duration::from_secs(3600)) => {
                let Some((topic, _)) = message else { return };
                let Some(Topic::RpcRequest(id)) = topics.parse(&topic) else { continue };
                // The sequence is taken as the answer is written, as the box's outbox does.
                let seq = next_seq(&sent);
                let answer = json!({
                    "v": protocol::PROTOCOL_VERSION, "seq": seq,
                    "result": { "software_version": "scale-test" },
                })
                .to_string();
                record(&sent, seq, answer.len(), false);
                mqtt.publish(&topics.topic(&Topic::RpcResponse(id)), answer.as_bytes()).await;
            }
            changed = plan.changed() => {
                if changed.is_err() { return }
                (left, every) = *plan.borrow_and_update();
            }
            () = tokio::time::sleep(every), if left > 0 => {
                left -= 1;
                let seq = next_seq(&sent);
                let sample = telemetry(seq);
                record(&sent, seq, sample.len(), true);
                mqtt.publish(&topics.topic(&Topic::Telemetry), sample.as_bytes()).await;
            }
        }
    }
}

fn next_seq(sent: &Mutex<Sent>) -> u64 {
    sent.lock().unwrap_or_else(PoisonError::into_inner).last_seq + 1
}

fn record(sent: &Mutex<Sent>, seq: u64, bytes: usize, telemetry: bool) {
    let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
    sent.last_seq = seq;
    sent.bytes += bytes as u64;
    if telemetry {
        sent.telemetry += 1;
    } else {
        sent.answers += 1;
    }
}

/// A telemetry sample numbered `seq`, as a box with an empty outbox sends it.
fn telemetry(seq: u64) -> String {
    json!({
        "v": protocol::PROTOCOL_VERSION,
        "seq": seq,
        "ts_ms": jiff::Timestamp::now().as_millisecond(),
        "uptime_s": seq,
        "cameras_online": 0,
        "cameras_total": 0,
        "disk_free_bytes": 500_000_000_000_u64,
        "outbox_depth": 0,
        "download_queue": 0,
        "software_version": "scale-test",
        "model_id": "dlib-resnet-v1",
    })
    .to_string()
}
