//! The capacity run's fleet: simulated boxes (raw rumqttc MQTT v5 clients in this process,
//! each with the broker identity its activation through the relay's API made) that say they
//! are online, send numbered telemetry at a pace the run sets, and time each sample from its
//! publish to the relay's acknowledgement of its `seq` on the box's `{prefix}/acks` (what a
//! box waits for before it lets a message go). The same boxes can instead flood a topic the
//! relay does not read (`{prefix}/bench`), for the peer: the broker's own rate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use protocol::acks::Acks;
use protocol::status::{DeviceStatus, Presence};
use protocol::topics::Topic;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::uplink::broker::Broker;
use crate::uplink::fleet::telemetry_sample;
use crate::uplink::site::Identity;

/// What every box of the fleet does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Pace {
    /// Nothing (connected, online).
    Quiet,
    /// One telemetry sample every this long, the first at a random point of the period.
    Every(Duration),
    /// Telemetry back to back, as fast as the client takes it.
    Flood,
    /// Back to back on `{prefix}/bench`, which no relay reads: the broker alone.
    FloodPeer,
}

/// What the fleet measured since it was last taken.
#[derive(Debug, Default)]
pub(super) struct Taken {
    /// Each acknowledged sample's wait, ms.
    pub(super) ack_ms: Vec<f64>,
    /// Samples published.
    pub(super) sent: u64,
}

#[derive(Debug, Default)]
struct Shared {
    ack_ms: Mutex<Vec<f64>>,
    sent: AtomicU64,
}

/// The connected fleet; every box's tasks end when it is dropped.
pub(super) struct Fleet {
    pace: watch::Sender<Pace>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    pub(super) boxes: usize,
}

impl Fleet {
    pub(super) fn new() -> Fleet {
        Fleet {
            pace: watch::channel(Pace::Quiet).0,
            shared: Arc::default(),
            tasks: Vec::new(),
            boxes: 0,
        }
    }

    /// Connects `identities` too, at the fleet's current pace.
    pub(super) fn connect(&mut self, broker: &Broker, identities: &[Identity]) {
        for identity in identities {
            let mut options = MqttOptions::new(&identity.device, "127.0.0.1", broker.port);
            options.set_credentials(&identity.device, &identity.credential);
            options.set_keep_alive(Duration::from_secs(60));
            // A slot per packet id in flight, u16::MAX unless told: 13 MB a box.
            options.set_outgoing_inflight_upper_limit(16);
            let (client, mut events) = AsyncClient::new(options, 16);
            let sent_at: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
            let acks_topic = identity.topics.topic(&Topic::Acks);
            let (shared, waiting) = (Arc::clone(&self.shared), Arc::clone(&sent_at));
            let subscriber = client.clone();
            self.tasks.push(tokio::spawn(async move {
                loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = subscriber.try_subscribe(&acks_topic, QoS::AtMostOnce);
                        }
                        Ok(Event::Incoming(Packet::Publish(publish))) => {
                            if let Ok(acks) = Acks::decode(&publish.payload) {
                                acknowledged(&shared, &waiting, &acks);
                            }
                        }
                        Ok(_) => {}
                        Err(error) => {
                            tracing::debug!(%error, "a fleet box lost its connection");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }));
            let sending = send(
                client,
                identity.clone(),
                self.pace.subscribe(),
                (Arc::clone(&self.shared), sent_at),
            );
            self.tasks.push(tokio::spawn(async move {
                if let Err(error) = sending.await {
                    tracing::warn!(%error, "a fleet box stopped sending");
                }
            }));
        }
        self.boxes += identities.len();
    }

    pub(super) fn set(&self, pace: Pace) {
        self.pace.send_replace(pace);
    }

    /// What was measured since the last call.
    pub(super) fn take(&self) -> Taken {
        let ack_ms = std::mem::take(
            &mut *self
                .shared
                .ack_ms
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        Taken {
            ack_ms,
            sent: self.shared.sent.swap(0, Ordering::Relaxed),
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Records the wait of every sample `acks` acknowledges that this box is still timing.
fn acknowledged(shared: &Shared, sent_at: &Mutex<HashMap<u64, Instant>>, acks: &Acks) {
    let now = Instant::now();
    let mut waits = Vec::new();
    {
        let mut sent_at = sent_at.lock().unwrap_or_else(PoisonError::into_inner);
        for &(first, last) in &acks.ranges {
            for seq in first..=last {
                if let Some(at) = sent_at.remove(&seq) {
                    waits.push(now.duration_since(at).as_secs_f64() * 1000.0);
                }
            }
        }
    }
    if !waits.is_empty() {
        (shared.ack_ms.lock().unwrap_or_else(PoisonError::into_inner)).extend(waits);
    }
}

/// One box: `online`, then as `pace` says, until aborted.
async fn send(
    client: AsyncClient,
    identity: Identity,
    mut pace: watch::Receiver<Pace>,
    (shared, sent_at): (Arc<Shared>, Arc<Mutex<HashMap<u64, Instant>>>),
) -> Result<(), crate::BoxError> {
    let topics = &identity.topics;
    let online = DeviceStatus::new(Presence::Online).encode();
    client
        .publish(topics.topic(&Topic::Status), QoS::AtLeastOnce, true, online)
        .await?;
    let telemetry = topics.topic(&Topic::Telemetry);
    let peer = format!("{}/bench", topics.prefix());
    let mut seq = 0;
    let mut first = true;
    loop {
        let current = *pace.borrow_and_update();
        let topic = match current {
            Pace::Quiet => {
                pace.changed().await?;
                first = true;
                continue;
            }
            Pace::Every(every) => {
                let wait = if first {
                    every.mul_f64(rand::random::<f64>())
                } else {
                    every
                };
                first = false;
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    changed = pace.changed() => { changed?; first = true; continue; }
                }
                &telemetry
            }
            Pace::Flood => &telemetry,
            Pace::FloodPeer => &peer,
        };
        seq += 1;
        if current != Pace::FloodPeer {
            (sent_at.lock().unwrap_or_else(PoisonError::into_inner)).insert(seq, Instant::now());
        }
        client
            .publish(topic, QoS::AtLeastOnce, false, telemetry_sample(seq))
            .await?;
        shared.sent.fetch_add(1, Ordering::Relaxed);
    }
}
