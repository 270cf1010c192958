//! One broker connection, supervised: MQTT v5 with a persistent session (`clean_start`
//! off, a session expiry above 0), QoS 1, a last will marking the box offline on
//! `{prefix}/status` and `online` published (retained) on every connect, the RPC,
//! shared-attribute, upload-grant (and acknowledgement) subscriptions, and reconnection
//! with exponential backoff and jitter.
//!
//! Contract: this task owns the event loop. It records every publish's packet id and every
//! PUBACK in the connection's [`Flight`](super::flight::Flight), lets the outbox delete a
//! row on its PUBACK only with `uplink.acknowledged_by = "broker"` (otherwise the relay's
//! acknowledgement does, through the handler), incoming messages to the handler, and the link's state (up
//! since, last error) to [`Shared`]. rumqttc keeps its state in memory and drops what it
//! queued when the broker has no session, so nothing here is trusted to deliver: after a
//! disconnect its queue is emptied and the outbox publishes again.

use std::time::Duration;

use rumqttc::v5::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions,
    mqttbytes::{
        QoS,
        v5::{ConnectReturnCode, Filter, LastWill, Packet, PubAckReason},
    },
};
use rumqttc::{Outgoing, Transport};
use tokio::sync::mpsc;

use super::{Shared, identity::Identity};
use protocol::topics::Topic;

/// A message from the broker for the handler.
#[derive(Debug)]
pub(super) struct Incoming {
    pub(super) topic: String,
    pub(super) payload: Vec<u8>,
    /// The seconds it had left before it expires (MQTT v5 message expiry), when its sender
    /// set one: the broker delivers nothing expired, whatever the box's clock says.
    pub(super) expires_in_seconds: Option<u32>,
}

/// Builds the client for `identity` (TLS with the configured CA for `mqtts://`).
pub(super) fn client(
    shared: &Shared,
    identity: &Identity,
) -> Result<(AsyncClient, EventLoop), String> {
    let config = shared.config();
    let mut options = MqttOptions::new(
        identity.username.clone(),
        identity.broker.host.clone(),
        identity.broker.port,
    );
    options.set_credentials(identity.username.clone(), identity.password.clone());
    options.set_keep_alive(Duration::from_secs(config.keep_alive_seconds));
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(config.session_expiry_seconds));
    options.set_max_packet_size(Some(protocol::MAX_PAYLOAD_BYTES as u32 + 1024));
    // rumqttc keeps a slot per packet id it may have in flight, u16::MAX of them (13 MB)
    // unless told: the publisher never has more than `in_flight` out, plus the status.
    options
        .set_outgoing_inflight_upper_limit(u16::try_from(config.in_flight + 8).unwrap_or(u16::MAX));
    let will = LastWill::new(
        identity.topics.topic(&Topic::Status),
        status_payload("offline"),
        QoS::AtLeastOnce,
        true,
        None,
    );
    options.set_last_will(will);
    if identity.broker.tls {
        let transport = match &config.ca_file {
            Some(path) => {
                let ca = std::fs::read(path)
                    .map_err(|e| format!("uplink.ca_file {}: {e}", path.display()))?;
                Transport::tls(ca, None, None)
            }
            None => Transport::tls_with_default_config(),
        };
        options.set_transport(transport);
    }
    Ok(AsyncClient::new(options, config.in_flight * 2 + 16))
}

/// `{"v":1,"state":"online"|"offline","software_version":...}` on `{prefix}/status`, the
/// shape of the relay's `protocol::status::DeviceStatus`.
fn status_payload(state: &str) -> Vec<u8> {
    protocol::encode(&serde_json::json!({
        "v": protocol::PROTOCOL_VERSION,
        "state": state,
        "software_version": env!("CARGO_PKG_VERSION"),
    }))
}

/// Polls the event loop for as long as the session lives.
pub(super) async fn run(
    shared: std::sync::Arc<Shared>,
    identity: Identity,
    client: AsyncClient,
    mut events: EventLoop,
    incoming: mpsc::Sender<Incoming>,
) {
    let config = shared.config();
    let mut backoff = Backoff::new(config.reconnect_min_ms, config.reconnect_max_ms);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                connected(&shared, &identity, &client, ack.session_present);
            }
            Ok(event) => {
                if !handle(&shared, event, &incoming, config.acknowledged_by).await {
                    return;
                }
            }
            Err(e) => {
                // What the old connection left: its events first (numbers and PUBACKs
                // still belong to its flight), then its queue, emptied under the lock so
                // that no publish of it is sent on the next connection.
                let left: Vec<Event> = events.state.events.drain(..).collect();
                for event in left {
                    if !handle(&shared, event, &incoming, config.acknowledged_by).await {
                        return;
                    }
                }
                {
                    let mut flight = shared.flight.lock();
                    events.clean();
                    events.pending.clear();
                    flight.disconnected();
                }
                let reason = describe(&e);
                let wait = backoff.next();
                tracing::warn!(error = %reason, retry_in_ms = wait.as_millis() as u64, "uplink: not connected");
                shared.set_down(reason);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// One event of the connection; `false` once nobody handles incoming messages any more.
async fn handle(
    shared: &Shared,
    event: Event,
    incoming: &mpsc::Sender<Incoming>,
    acknowledged_by: super::AcknowledgedBy,
) -> bool {
    match event {
        Event::Incoming(Packet::Publish(p)) => {
            let message = Incoming {
                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                payload: p.payload.to_vec(),
                expires_in_seconds: p.properties.and_then(|p| p.message_expiry_interval),
            };
            // Bounded: a flood waits here, and the broker holds the rest.
            return incoming.send(message).await.is_ok();
        }
        Event::Incoming(Packet::PubAck(ack)) => {
            let seq = shared.flight.lock().acknowledged(ack.pkid);
            match (seq, ack.reason) {
                (None, _) => {}
                // With the relay acknowledging, the broker's PUBACK only frees a slot.
                (Some(seq), PubAckReason::Success | PubAckReason::NoMatchingSubscribers) => {
                    if acknowledged_by == super::AcknowledgedBy::Broker {
                        shared.let_go(seq, seq);
                    }
                }
                // Kept: published again after the next reconnect.
                (Some(seq), reason) => {
                    tracing::warn!(seq, ?reason, "uplink: the broker refused a message")
                }
            }
        }
        Event::Outgoing(Outgoing::Publish(packet)) => shared.flight.lock().numbered(packet),
        _ => {}
    }
    true
}

fn connected(
    shared: &std::sync::Arc<Shared>,
    identity: &Identity,
    client: &AsyncClient,
    session: bool,
) {
    let topics = &identity.topics;
    // The box's own client attributes come back on the same topic: `nolocal` keeps them out.
    let mut attributes = Filter::new(topics.topic(&Topic::Attributes), QoS::AtLeastOnce);
    attributes.nolocal = true;
    let rpc = Filter::new(topics.rpc_requests(), QoS::AtLeastOnce);
    let uploads = Filter::new(topics.topic(&Topic::Uploads), QoS::AtLeastOnce);
    let mut filters = vec![rpc, attributes, uploads];
    if shared.config().acknowledged_by == super::AcknowledgedBy::Relay {
        filters.push(Filter::new(topics.topic(&Topic::Acks), QoS::AtLeastOnce));
    }
    {
        let mut flight = shared.flight.lock();
        flight.connected();
        let subscribed = client.try_subscribe_many(filters);
        let online = client.try_publish(
            topics.topic(&Topic::Status),
            QoS::AtLeastOnce,
            true,
            status_payload("online"),
        );
        if online.is_ok() {
            flight.sent(None, std::time::Instant::now());
        }
        if let Err(e) = subscribed.and(online) {
            tracing::warn!(error = %e, "uplink: the client's queue refused a request");
        }
    }
    tracing::info!(broker = %identity.broker_url, session_present = session, "uplink: connected");
    shared.set_up();
}

/// The reason a connection ended or was refused, as an operator reads it.
fn describe(error: &ConnectionError) -> String {
    match error {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => "the broker refused the box's credential (wrong or revoked): activate the box again"
            .to_owned(),
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the box: {code:?}"),
        ConnectionError::Io(e) => format!("cannot reach the broker: {e}"),
        other => format!("the connection to the broker failed: {other}"),
    }
}

/// Exponential backoff with jitter: `min`, doubling to `max`, each wait plus up to half of
/// it at random, so boxes cut off together do not return together.
#[derive(Debug)]
pub(super) struct Backoff {
    min_ms: u64,
    max_ms: u64,
    next_ms: u64,
}

impl Backoff {
    pub(super) fn new(min_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            min_ms,
            max_ms,
            next_ms: min_ms,
        }
    }

    pub(super) fn reset(&mut self) {
        self.next_ms = self.min_ms;
    }

    pub(super) fn next(&mut self) -> Duration {
        let base = self.next_ms;
        self.next_ms = (self.next_ms.saturating_mul(2)).min(self.max_ms);
        let jitter = rand::random_range(0..=base / 2);
        Duration::from_millis(base + jitter)
    }
}
