//! The box of the acknowledgement measurement: a raw rumqttc MQTT v5 client with an
//! activated identity, answering every RPC at once with a numbered `ping` result (as the
//! box's outbox numbers its answers), so that what is timed is the path, not a box's work.

use std::time::Duration;

use protocol::rpc::{Pong, RpcResponse};
use protocol::status::{DeviceStatus, Presence};
use protocol::topics::Topic;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

use super::broker::Broker;
use super::site::Identity;
use crate::BoxError;

/// Connects the box and answers until the task is aborted.
pub(super) async fn answering_box(
    broker: &Broker,
    identity: &Identity,
) -> Result<tokio::task::JoinHandle<()>, BoxError> {
    let mut options = MqttOptions::new(&identity.device, "127.0.0.1", broker.port);
    options.set_credentials(&identity.device, &identity.credential);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_network_options(super::no_delay());
    let (client, mut events) = AsyncClient::new(options, 64);
    let topics = identity.topics.clone();
    client
        .subscribe(topics.rpc_requests(), QoS::AtLeastOnce)
        .await?;
    let online = DeviceStatus::new(Presence::Online).encode();
    client
        .publish(
            topics.topic(&Topic::Status),
            QoS::AtLeastOnce,
            false,
            online,
        )
        .await?;
    Ok(tokio::spawn(async move {
        let mut seq = 0;
        loop {
            let publish = match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => publish,
                Ok(_) => continue,
                Err(error) => {
                    tracing::warn!(%error, "the bench's box lost its connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let topic = String::from_utf8_lossy(&publish.topic);
            let Some(Topic::RpcRequest(id)) = topics.parse(&topic) else {
                continue;
            };
            seq += 1;
            let mut answer = RpcResponse::ok(&Pong {
                software_version: "bench".to_owned(),
            });
            answer.seq = Some(seq);
            let response = topics.topic(&Topic::RpcResponse(id));
            let _ = client.try_publish(response, QoS::AtLeastOnce, false, answer.encode());
        }
    }))
}
