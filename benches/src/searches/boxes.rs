//! The simulated boxes of the search bench: each a raw rumqttc MQTT v5 client with its own
//! identity, activated through the relay's API (`uplink::fleet::activate`). A box answers
//! `createSearch` at once with a task id (a numbered RPC answer, as a box's outbox numbers
//! it), then reports the search as a real box does ([`super::reporting`]): progress, its
//! matches and the end, each a numbered `SearchEvent` published again until the relay
//! acknowledges it on `{prefix}/acks`; for each upload grant on `{prefix}/uploads` it PUTs
//! two small JPEGs to the granted URLs and sends `SnapshotsUploaded`. A `ping` is answered
//! at once too; and the boxes may send telemetry as a box does
//! ([`SearchBoxes::send_telemetry`], numbered with the same `seq` as all a box sends).
//! As a box, each keeps a persistent session and, on every connection, subscribes again and
//! says `online` (so that a broker killed and started again finds them as they were); a
//! `createSearch` delivered twice is answered with the same task and searched once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use protocol::acks::Acks;
use protocol::rpc::{Method, Pong, RpcError, RpcRequest, RpcResponse};
use protocol::search::SearchAccepted;
use protocol::status::{DeviceStatus, Presence};
use protocol::topics::Topic;
use protocol::uploads::UploadGrants;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::reporting;
use crate::BoxError;
use crate::uplink::broker::Broker;
use crate::uplink::site::Identity;

/// What every box does with the searches it gets from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Behaviour {
    /// Accept, then report nothing until this is false again (so that a part stays
    /// `accepted` long enough to be read).
    pub(crate) hold: bool,
    /// Matches each search finds on each box.
    pub(crate) matches: u32,
}

/// What all the boxes sent, counted once per match.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    pub(crate) matches: AtomicU64,
    pub(crate) snapshots_uploaded: AtomicU64,
    /// Upload grants received (a grant sent twice counts twice).
    pub(super) grants_received: AtomicU64,
    /// Events published again because their acknowledgement was late.
    pub(crate) republished: AtomicU64,
    pub(crate) searches_finished: AtomicU64,
    /// Matches acknowledged, by search and box (the fleet's count of each fault's cost).
    by_search: std::sync::Mutex<std::collections::HashMap<(uuid::Uuid, String), u64>>,
}

impl Sent {
    /// One match of `search` by `device` acknowledged.
    pub(super) fn matched(&self, search: uuid::Uuid, device: &str) {
        self.matches.fetch_add(1, Ordering::Relaxed);
        let mut by_search = self.by_search.lock().unwrap_or_else(|e| e.into_inner());
        *by_search.entry((search, device.to_owned())).or_default() += 1;
    }

    /// The matches acknowledged so far, by search and box.
    pub(crate) fn by_search(&self) -> std::collections::HashMap<(uuid::Uuid, String), u64> {
        self.by_search
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One box's state shared by its tasks.
pub(super) struct BoxState {
    pub(super) client: AsyncClient,
    pub(super) identity: Identity,
    seq: AtomicU64,
    next_match: AtomicI64,
    /// Every sequence the relay acknowledged.
    pub(super) acked: watch::Sender<BTreeSet<u64>>,
    pub(super) behaviour: watch::Receiver<Behaviour>,
    pub(super) sent: Arc<Sent>,
    pub(super) http: reqwest::Client,
    pub(super) jpeg: Arc<Vec<u8>>,
    /// Matches whose snapshots are uploaded (a grant may come twice).
    pub(super) uploaded: std::sync::Mutex<BTreeSet<(uuid::Uuid, i64)>>,
    /// Each search accepted and its task: a `createSearch` delivered again (after a broker's
    /// restart) is answered with the same task and not searched twice, as a box does.
    accepted: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, String>>,
}

impl BoxState {
    pub(super) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(super) fn next_match(&self) -> i64 {
        self.next_match.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The connected boxes; their tasks end when this is dropped.
pub(crate) struct SearchBoxes {
    behaviour: watch::Sender<Behaviour>,
    pub(crate) sent: Arc<Sent>,
    jpeg: Arc<Vec<u8>>,
    states: Vec<Arc<BoxState>>,
    tasks: Vec<JoinHandle<()>>,
}

impl SearchBoxes {
    pub(crate) async fn connect(
        broker: &Broker,
        identities: &[Identity],
        jpeg: Vec<u8>,
    ) -> Result<SearchBoxes, BoxError> {
        let initial = Behaviour {
            hold: true,
            matches: 0,
        };
        let (behaviour, watching) = watch::channel(initial);
        let sent = Arc::new(Sent::default());
        let (http, jpeg) = (reqwest::Client::new(), Arc::new(jpeg));
        let mut tasks = Vec::with_capacity(identities.len());
        let mut states = Vec::with_capacity(identities.len());
        for identity in identities {
            let (client, events) = connect(broker, identity).await?;
            let state = Arc::new(BoxState {
                client,
                identity: identity.clone(),
                seq: AtomicU64::new(0),
                next_match: AtomicI64::new(0),
                acked: watch::channel(BTreeSet::new()).0,
                behaviour: watching.clone(),
                sent: sent.clone(),
                http: http.clone(),
                jpeg: jpeg.clone(),
                uploaded: std::sync::Mutex::new(BTreeSet::new()),
                accepted: std::sync::Mutex::default(),
            });
            states.push(state.clone());
            tasks.push(read_messages(state, events));
        }
        Ok(SearchBoxes {
            behaviour,
            sent,
            jpeg,
            states,
            tasks,
        })
    }

    /// Has every box send a telemetry sample every `every` from now on, the first at a
    /// random point of the first period (so that the fleet's samples are spread).
    pub(crate) fn send_telemetry(&mut self, every: Duration) {
        for state in &self.states {
            let state = state.clone();
            self.tasks.push(tokio::spawn(async move {
                tokio::time::sleep(every.mul_f64(rand::random::<f64>())).await;
                let topic = state.identity.topics.topic(&Topic::Telemetry);
                loop {
                    let sample = crate::uplink::fleet::telemetry_sample(state.next_seq());
                    if let Err(error) = state
                        .client
                        .publish(&topic, QoS::AtLeastOnce, false, sample)
                        .await
                    {
                        tracing::warn!(%error, "a simulated box stopped sending telemetry");
                        return;
                    }
                    tokio::time::sleep(every).await;
                }
            }));
        }
    }

    /// The JPEG every box uploads as both snapshots.
    pub(super) fn jpeg(&self) -> &Arc<Vec<u8>> {
        &self.jpeg
    }

    pub(crate) fn set(&self, behaviour: Behaviour) {
        self.behaviour.send_replace(behaviour);
    }
}

impl Drop for SearchBoxes {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The box's client (connecting once its events are polled: [`on_connected`] subscribes).
async fn connect(
    broker: &Broker,
    identity: &Identity,
) -> Result<(AsyncClient, EventLoop), BoxError> {
    let mut options = MqttOptions::new(&identity.device, "127.0.0.1", broker.port);
    options.set_credentials(&identity.device, &identity.credential);
    options.set_keep_alive(Duration::from_secs(60));
    // As a box: a session the broker keeps (and queues for) while the box is away.
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(3600));
    options.set_network_options(crate::uplink::no_delay());
    options.set_outgoing_inflight_upper_limit(64);
    // As the box's session: a message of upload grants (up to 256) is far above rumqttc's
    // 10 KiB default, which would drop the connection at every delivery.
    let max_packet = u32::try_from(protocol::MAX_PAYLOAD_BYTES + 1024)?;
    options.set_max_packet_size(Some(max_packet));
    Ok(AsyncClient::new(options, 256))
}

/// On every connection, as a box does (a broker killed keeps only the sessions it saved):
/// subscribed to its RPCs, acknowledgements and grants, and `online` said again.
fn on_connected(state: &BoxState) -> Result<(), BoxError> {
    let topics = &state.identity.topics;
    let client = &state.client;
    client.try_subscribe(topics.rpc_requests(), QoS::AtLeastOnce)?;
    for topic in [Topic::Acks, Topic::Uploads] {
        client.try_subscribe(topics.topic(&topic), QoS::AtLeastOnce)?;
    }
    let online = DeviceStatus::new(Presence::Online).encode();
    client.try_publish(topics.topic(&Topic::Status), QoS::AtLeastOnce, true, online)?;
    Ok(())
}

/// Spawns the task that reads the box's incoming messages and acts on each.
fn read_messages(state: Arc<BoxState>, mut events: EventLoop) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Err(error) = on_connected(&state) {
                        tracing::warn!(%error, "a simulated box could not subscribe");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                    if let Err(error) = on_message(&state, &topic, &publish.payload) {
                        tracing::warn!(%error, topic, "a simulated box refused a message");
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "a simulated box lost its connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// One incoming message: an RPC answered, acknowledgements noted, grants used.
fn on_message(state: &Arc<BoxState>, topic: &str, payload: &[u8]) -> Result<(), BoxError> {
    match state.identity.topics.parse(topic) {
        Some(Topic::RpcRequest(id)) => answer(state, id, payload),
        Some(Topic::Acks) => {
            let acks: Acks = protocol::decode(payload)?;
            state.acked.send_modify(|acked| {
                for (first, last) in acks.ranges {
                    acked.extend(first..=last);
                }
            });
            Ok(())
        }
        Some(Topic::Uploads) => {
            let grants = UploadGrants::decode(payload)?.grants;
            let received = grants.len() as u64;
            state
                .sent
                .grants_received
                .fetch_add(received, Ordering::Relaxed);
            for grant in grants {
                tokio::spawn(reporting::upload(state.clone(), grant));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Answers an RPC at once: `createSearch` with a new task (then reports it), anything else
/// as unknown.
fn answer(state: &Arc<BoxState>, id: u64, payload: &[u8]) -> Result<(), BoxError> {
    let mut response = match RpcRequest::decode(payload)? {
        Ok(RpcRequest {
            method: Method::CreateSearch(search),
            ..
        }) => {
            let mut accepted = state.accepted.lock().unwrap_or_else(|e| e.into_inner());
            let task_id = match accepted.get(&search.search_id) {
                Some(task_id) => task_id.clone(),
                None => {
                    let task_id = uuid::Uuid::new_v4().to_string();
                    accepted.insert(search.search_id, task_id.clone());
                    let behaviour = *state.behaviour.borrow();
                    tokio::spawn(reporting::report(state.clone(), search, behaviour.matches));
                    task_id
                }
            };
            RpcResponse::ok(&SearchAccepted { task_id })
        }
        Ok(RpcRequest {
            method: Method::Ping,
            ..
        }) => RpcResponse::ok(&Pong {
            software_version: "bench".to_owned(),
        }),
        Ok(other) => RpcResponse::err(RpcError::unknown_method(other.method_name())),
        Err(error) => RpcResponse::err(error),
    };
    response.seq = Some(state.next_seq());
    let topic = state.identity.topics.topic(&Topic::RpcResponse(id));
    state
        .client
        .try_publish(topic, QoS::AtLeastOnce, false, response.encode())?;
    Ok(())
}
