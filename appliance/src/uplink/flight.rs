//! The messages between the MQTT client and the broker for one connection: which outbox
//! row each packet id carries, so a PUBACK deletes exactly the row it acknowledges.
//!
//! Contract: rumqttc numbers a publish only when its event loop sends it
//! (`Outgoing::Publish(pkid)`, in the order publishes were handed to it), so every publish
//! is recorded here in that order, under the one lock that also says whether the
//! connection is up. When it goes down, the client's own queue and in-flight state are
//! cleared under the same lock, so no publish of an old connection can be taken for one of
//! the next; the outbox publishes everything unacknowledged again after the reconnect.

use std::collections::{HashMap, VecDeque};

/// The flight of one connection (reset at each connect and disconnect).
#[derive(Debug, Default)]
pub(super) struct Flight {
    pub(super) connected: bool,
    /// Bumped at every connect: a batch read for an older connection is not published.
    pub(super) generation: u64,
    /// Publishes handed to the client, waiting for their packet id: the outbox sequence,
    /// or `None` for a message outside the outbox (the `online` status).
    sent: VecDeque<Option<u64>>,
    by_packet: HashMap<u16, Option<u64>>,
    /// Outbox messages published on this connection and not yet acknowledged.
    pub(super) in_flight: usize,
    /// The highest sequence published on this connection.
    pub(super) cursor: u64,
}

impl Flight {
    /// A new connection: nothing in flight, the outbox from its start.
    pub(super) fn connected(&mut self) {
        self.reset();
        self.connected = true;
        self.generation += 1;
    }

    pub(super) fn disconnected(&mut self) {
        self.reset();
        self.connected = false;
    }

    fn reset(&mut self) {
        self.sent.clear();
        self.by_packet.clear();
        self.in_flight = 0;
        self.cursor = 0;
    }

    /// A publish handed to the client.
    pub(super) fn sent(&mut self, seq: Option<u64>) {
        self.sent.push_back(seq);
        if let Some(seq) = seq {
            self.in_flight += 1;
            self.cursor = self.cursor.max(seq);
        }
    }

    /// The client numbered the next publish.
    pub(super) fn numbered(&mut self, packet: u16) {
        if let Some(seq) = self.sent.pop_front() {
            self.by_packet.insert(packet, seq);
        }
    }

    /// The broker acknowledged `packet`: the outbox sequence it carried, if any.
    pub(super) fn acknowledged(&mut self, packet: u16) -> Option<u64> {
        let seq = self.by_packet.remove(&packet).flatten();
        if seq.is_some() {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        seq
    }
}
