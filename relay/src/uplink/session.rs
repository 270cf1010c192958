//! The connection's two tasks: the event loop (rumqttc reconnects inside `poll`; after each
//! connection it subscribes again) and the worker that applies each message in arrival order
//! and only then acknowledges it. The [`Tracker`] pairs each broker acknowledgement with the
//! RPC request it acknowledges.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet, Publish};
use rumqttc::v5::{Event, EventLoop};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::Inner;

/// The shared subscription's group: every relay instance is in it.
pub(super) const SHARE_GROUP: &str = "dipper-relay";

/// What the relay subscribes to: the boxes' reports shared among instances, RPC answers to
/// every instance.
fn filters() -> Vec<Filter> {
    let mut filters: Vec<Filter> = ["telemetry", "attributes", "events", "status"]
        .into_iter()
        .map(|leaf| {
            let path = format!("$share/{SHARE_GROUP}/dipper/+/+/{leaf}");
            Filter::new(path, QoS::AtLeastOnce)
        })
        .collect();
    filters.push(Filter::new("dipper/+/+/rpc/response/+", QoS::AtLeastOnce));
    filters
}

/// An RPC request the relay published: its box and id on the wire.
pub(super) type Sent = (Uuid, Uuid, i64);

/// Pairs broker acknowledgements with RPC requests. Every QoS 1 publish is recorded here in
/// the order it was handed to the client (under `Inner::publishing`), an RPC request with its
/// box and id, anything else (upload grants) as `None`; the event loop reports each new
/// packet id in that order, and a packet id already in flight is a retransmission.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    handed: VecDeque<Option<Sent>>,
    in_flight: HashMap<u16, Option<Sent>>,
}

impl Tracker {
    /// An RPC request handed to the client.
    pub(super) fn handed(&mut self, sent: Sent) {
        self.handed.push_back(Some(sent));
    }

    /// Another QoS 1 publish handed to the client: it takes a packet id too.
    pub(super) fn handed_other(&mut self) {
        self.handed.push_back(None);
    }

    /// The client took back a publish it could not queue.
    pub(super) fn withdrawn(&mut self) {
        self.handed.pop_back();
    }

    fn outgoing(&mut self, pkid: u16) {
        if pkid == 0 || self.in_flight.contains_key(&pkid) {
            return;
        }
        if let Some(sent) = self.handed.pop_front() {
            self.in_flight.insert(pkid, sent);
        }
    }

    /// The RPC request the broker acknowledged, if `pkid` was one.
    fn acknowledged(&mut self, pkid: u16) -> Option<Sent> {
        self.in_flight.remove(&pkid).flatten()
    }
}

/// Work for the worker, in the order the event loop saw it.
pub(super) enum Work {
    Message(Publish),
    Delivered(Sent),
}

/// Starts the event loop and the worker; the handle ends when the event loop does.
pub(super) fn spawn(
    inner: Arc<Inner>,
    events: EventLoop,
    subscribed: watch::Sender<bool>,
    stopped: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    // Unbounded, yet bounded in practice: the broker sends at most the receive maximum of
    // unacknowledged messages, and acknowledgements follow the worker.
    let (work_tx, work_rx) = mpsc::unbounded_channel();
    tokio::spawn(super::inbound::worker(Arc::clone(&inner), work_rx));
    tokio::spawn(drive(inner, events, work_tx, subscribed, stopped))
}

async fn drive(
    inner: Arc<Inner>,
    mut events: EventLoop,
    work: mpsc::UnboundedSender<Work>,
    subscribed: watch::Sender<bool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let event = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = Duration::from_millis(100);
                tracing::debug!(session_present = ack.session_present, "uplink connected");
                if inner.client.try_subscribe_many(filters()).is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                let _ = subscribed.send(true);
                // Not from the event loop: publishing waits for it to run.
                let inner = Arc::clone(&inner);
                tokio::spawn(async move { super::acks::ask_to_resend(&inner).await });
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if work.send(Work::Message(publish)).is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => inner.lock_tracker().outgoing(pkid),
            // `Uplink::stop` asked for it: read nothing more, so what the broker sends from
            // now on waits in the session for the next start.
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                let sent = inner.lock_tracker().acknowledged(ack.pkid);
                if let Some(sent) = sent
                    && work.send(Work::Delivered(sent)).is_err()
                {
                    return;
                }
            }
            Ok(_) => {}
            Err(rumqttc::v5::ConnectionError::RequestsDone) => return,
            Err(error) => {
                inner.counts.disconnected();
                tracing::warn!(%error, "uplink connection lost; reconnecting");
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::Tracker;

    #[test]
    fn acknowledgements_pair_with_rpcs_past_other_publishes() {
        let (tenant, device) = (Uuid::new_v4(), Uuid::new_v4());
        let mut tracker = Tracker::default();
        tracker.handed((tenant, device, 7));
        tracker.handed_other();
        tracker.handed((tenant, device, 8));
        for pkid in [1, 2, 1, 3] {
            // Packet id 1 again is a retransmission, not the next publish.
            tracker.outgoing(pkid);
        }
        assert_eq!(tracker.acknowledged(2), None, "the grant is no RPC");
        assert_eq!(tracker.acknowledged(3), Some((tenant, device, 8)));
        assert_eq!(tracker.acknowledged(1), Some((tenant, device, 7)));
        assert_eq!(tracker.acknowledged(1), None, "acknowledged once");
    }

    #[test]
    fn a_withdrawn_publish_takes_no_packet_id() {
        let (tenant, device) = (Uuid::new_v4(), Uuid::new_v4());
        let mut tracker = Tracker::default();
        tracker.handed((tenant, device, 7));
        tracker.handed_other();
        tracker.withdrawn();
        tracker.handed((tenant, device, 9));
        tracker.outgoing(1);
        tracker.outgoing(2);
        assert_eq!(tracker.acknowledged(2), Some((tenant, device, 9)));
    }
}
