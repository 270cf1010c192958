//! A raw MQTT connection (rumqttc, MQTT 3.1.1) that plays a box or a relay in a test: it
//! connects, subscribes, publishes at QoS 1 and hands every message it receives to the
//! test, in order.
//!
//! A [`Mqtt::persistent`] connection keeps its session on the broker (clean session off)
//! and reconnects by itself after the broker goes away, so messages published while it was
//! cut off reach it when it is back, as the relay's own client does. One made
//! [`Mqtt::acknowledging`] also acknowledges every numbered message it receives on the box's
//! `{prefix}/acks`, as the relay does once it applied one, so the box's outbox lets it go.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use tokio::sync::mpsc;

use crate::broker::TestBroker;

/// An MQTT connection as a box or a relay makes it.
#[derive(Debug)]
pub struct Mqtt {
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<(String, Vec<u8>)>,
    subacks: mpsc::UnboundedReceiver<Vec<SubscribeReasonCode>>,
    closed: mpsc::UnboundedReceiver<ConnectionError>,
    acknowledging: Arc<AtomicBool>,
}

impl Mqtt {
    /// Connects with a clean session; `Err` with the broker's refusal. The connection is
    /// not retried once it ends (a test asks why with [`Mqtt::wait_disconnected`]).
    pub async fn connect(
        broker: &TestBroker,
        client_id: &str,
        user: &str,
        password: &str,
    ) -> Result<Mqtt, String> {
        Mqtt::open(broker, (client_id, user, password), false).await
    }

    /// Connects with a session the broker keeps, and reconnects whenever the connection
    /// ends, for as long as the `Mqtt` lives.
    pub async fn persistent(
        broker: &TestBroker,
        client_id: &str,
        user: &str,
        password: &str,
    ) -> Result<Mqtt, String> {
        Mqtt::open(broker, (client_id, user, password), true).await
    }

    async fn open(
        broker: &TestBroker,
        (client_id, user, password): (&str, &str, &str),
        persistent: bool,
    ) -> Result<Mqtt, String> {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", broker.port());
        options.set_credentials(user, password);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_clean_session(!persistent);
        let (client, mut events) = AsyncClient::new(options, 1024);
        let connected = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await
        .map_err(|_| "no ConnAck".to_owned())?;
        connected?;
        let (message_tx, messages) = mpsc::unbounded_channel();
        let (suback_tx, subacks) = mpsc::unbounded_channel();
        let (closed_tx, closed) = mpsc::unbounded_channel();
        let acknowledging = Arc::new(AtomicBool::new(false));
        let (acks, acker) = (Arc::clone(&acknowledging), client.clone());
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if acks.load(Ordering::Relaxed) {
                            acknowledge(&acker, &p.topic, &p.payload);
                        }
                        if message_tx
                            .send((p.topic.clone(), p.payload.to_vec()))
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let _ = suback_tx.send(ack.return_codes);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let gone = closed_tx.send(e).is_err() || message_tx.is_closed();
                        if !persistent || gone {
                            return;
                        }
                        // The broker is away: try again shortly (rumqttc reconnects on poll).
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(Mqtt {
            client,
            messages,
            subacks,
            closed,
            acknowledging,
        })
    }

    /// From now on, acknowledges every numbered message it receives as the relay does.
    pub fn acknowledging(self) -> Mqtt {
        self.acknowledging.store(true, Ordering::Relaxed);
        self
    }

    /// Subscribes at QoS 1; whether the broker granted it.
    pub async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe request");
        let codes = tokio::time::timeout(Duration::from_secs(10), self.subacks.recv())
            .await
            .expect("a SubAck")
            .expect("connection open");
        codes
            .iter()
            .all(|code| matches!(code, SubscribeReasonCode::Success(_)))
    }

    /// Publishes at QoS 1 (not retained).
    pub async fn publish(&mut self, topic: &str, payload: &[u8]) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .await
            .expect("publish request");
    }

    /// The next message received, within 10 s.
    pub async fn next_message(&mut self) -> Option<(String, Vec<u8>)> {
        self.next_message_within(Duration::from_secs(10)).await
    }

    /// The next message received, within `timeout`.
    pub async fn next_message_within(&mut self, timeout: Duration) -> Option<(String, Vec<u8>)> {
        tokio::time::timeout(timeout, self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next message on `topic` within 10 s, skipping others.
    pub async fn next_on(&mut self, topic: &str) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (t, payload) = self.next_message_within(left).await?;
            if t == topic {
                return Some(payload);
            }
        }
    }

    /// Whether the broker closed the connection within `timeout`.
    pub async fn wait_disconnected(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.closed.recv())
            .await
            .is_ok()
    }
}

/// Acknowledges a box's numbered message on `dipper/{tenant}/{device}/acks` (the prefix is
/// the topic's first three levels), at QoS 0 and without waiting: a lost one is published
/// again by the box.
fn acknowledge(client: &AsyncClient, topic: &str, payload: &[u8]) {
    let Some(seq) = protocol::Sequenced::of(payload) else {
        return;
    };
    let levels: Vec<&str> = topic.splitn(4, '/').collect();
    if levels.len() < 4 || levels[3] == "acks" {
        return;
    }
    let acks = protocol::acks::Acks::of(vec![seq]);
    let topic = format!("{}/acks", levels[..3].join("/"));
    let _ = client.try_publish(topic, QoS::AtMostOnce, false, protocol::encode(&acks));
}
