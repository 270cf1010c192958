//! The peer: a bare MQTT request and response through the same broker, two raw rumqttc
//! MQTT v5 clients (as the relay's identity), QoS 1 both ways like the RPC path, one round
//! trip at a time.

use std::time::{Duration, Instant};

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::mpsc;

use super::broker::Broker;
use super::relay::RELAY_USER;
use crate::BoxError;

const REQUEST: &str = "dipper/bench/request";
const RESPONSE: &str = "dipper/bench/response";

async fn connect(
    broker: &Broker,
    id: &str,
    filter: &str,
) -> Result<(AsyncClient, EventLoop), BoxError> {
    let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
    options.set_credentials(RELAY_USER.0, RELAY_USER.1);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_network_options(super::no_delay());
    let (client, mut events) = AsyncClient::new(options, 64);
    client.subscribe(filter, QoS::AtLeastOnce).await?;
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = events.poll().await? {
            return Ok((client, events));
        }
    }
}

/// `n` timed round trips: the asker publishes, the answerer echoes, the asker receives.
pub(crate) async fn round_trips(broker: &Broker, n: usize) -> Result<Vec<Duration>, BoxError> {
    let (answerer, mut answerer_events) = connect(broker, "bench-answerer", REQUEST).await?;
    let answering = tokio::spawn(async move {
        while let Ok(event) = answerer_events.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = event {
                let _ = answerer.try_publish(RESPONSE, QoS::AtLeastOnce, false, p.payload);
            }
        }
    });
    let (asker, mut asker_events) = connect(broker, "bench-asker", RESPONSE).await?;
    let (answers_tx, mut answers) = mpsc::unbounded_channel();
    let reading = tokio::spawn(async move {
        while let Ok(event) = asker_events.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = event {
                let _ = answers_tx.send(p.payload);
            }
        }
    });
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let payload = i.to_string().into_bytes();
        let started = Instant::now();
        asker
            .publish(REQUEST, QoS::AtLeastOnce, false, payload.clone())
            .await?;
        match tokio::time::timeout(Duration::from_secs(10), answers.recv()).await {
            Ok(Some(answer)) if answer[..] == payload[..] => samples.push(started.elapsed()),
            other => return Err(format!("round trip {i}: {other:?}").into()),
        }
    }
    answering.abort();
    reading.abort();
    Ok(samples)
}
