//! A fleet of simulated boxes: each registered and activated through the relay's API (so
//! each has its own broker identity and role, made by the relay as for a real box), then
//! connected as a raw rumqttc MQTT v5 client in this process that says `online` and sends
//! numbered telemetry: every `every` (each box starting at a random point of the first
//! period, so the fleet's samples are spread), or as fast as the client takes them (the
//! flood).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use protocol::status::{DeviceStatus, Presence};
use protocol::telemetry::Telemetry;
use protocol::topics::Topic;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, MqttOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::broker::Broker;
use super::site::{Identity, Site};
use crate::BoxError;

/// Activations in flight at once.
const PARALLEL_ACTIVATIONS: usize = 8;

/// What every box of the fleet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One telemetry sample every this long.
    Telemetry(Duration),
    /// Telemetry back to back, as fast as the client takes it.
    Flood,
}

/// Registers and activates `n` boxes through the API, a few at a time.
pub(crate) async fn activate(site: &Site, n: usize) -> Result<Vec<Identity>, BoxError> {
    futures::stream::iter(0..n)
        .map(|i| async move {
            let registered = site.register(&format!("fleet box {i}")).await?;
            site.activate(&registered).await
        })
        .buffer_unordered(PARALLEL_ACTIVATIONS)
        .try_collect()
        .await
}

/// The connected fleet; every box's tasks end when it is dropped.
pub(crate) struct Fleet {
    mode: watch::Sender<Mode>,
    tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    pub(crate) fn connect(broker: &Broker, identities: &[Identity], mode: Mode) -> Fleet {
        let (mode, watching) = watch::channel(mode);
        let mut tasks = Vec::with_capacity(identities.len() * 2);
        for identity in identities {
            let mut options = MqttOptions::new(&identity.device, "127.0.0.1", broker.port);
            options.set_credentials(&identity.device, &identity.credential);
            options.set_keep_alive(Duration::from_secs(60));
            // A slot per packet id in flight, u16::MAX unless told: 13 MB a box, 13 GB a fleet.
            options.set_outgoing_inflight_upper_limit(16);
            let (client, mut events) = AsyncClient::new(options, 16);
            tasks.push(tokio::spawn(async move {
                loop {
                    if let Err(error) = events.poll().await {
                        tracing::debug!(%error, "a fleet box lost its connection");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }));
            let sending = send(client, identity.clone(), watching.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(error) = sending.await {
                    tracing::warn!(%error, "a fleet box stopped sending");
                }
            }));
        }
        Fleet { mode, tasks }
    }

    pub(crate) fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// One box: `online`, then telemetry as `mode` says, until aborted.
async fn send(
    client: AsyncClient,
    identity: Identity,
    mut mode: watch::Receiver<Mode>,
) -> Result<(), BoxError> {
    let topics = &identity.topics;
    let online = DeviceStatus::new(Presence::Online).encode();
    client
        .publish(topics.topic(&Topic::Status), QoS::AtLeastOnce, true, online)
        .await?;
    let telemetry = topics.topic(&Topic::Telemetry);
    let mut seq = 0;
    let mut first = true;
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Telemetry(every) => {
                let wait = if first {
                    every.mul_f64(rand::random::<f64>())
                } else {
                    every
                };
                first = false;
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    changed = mode.changed() => { changed?; continue; }
                }
            }
            Mode::Flood => {}
        }
        seq += 1;
        client
            .publish(&telemetry, QoS::AtLeastOnce, false, telemetry_sample(seq))
            .await?;
    }
}

/// A telemetry sample as a box with two cameras and an empty outbox sends it.
pub(crate) fn telemetry_sample(seq: u64) -> Vec<u8> {
    protocol::encode(&Telemetry {
        v: protocol::PROTOCOL_VERSION,
        seq: Some(seq),
        ts_ms: jiff::Timestamp::now().as_millisecond(),
        uptime_s: seq,
        cameras_online: 2,
        cameras_total: 2,
        indexing_lag_s: Some(40),
        disk_free_bytes: 500_000_000_000,
        outbox_depth: 0,
        outbox_oldest_s: None,
        download_queue: 0,
        software_version: "bench".to_owned(),
        model_id: "dlib-resnet-v1".to_owned(),
    })
}
