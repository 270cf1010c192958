//! The messages between the MQTT client and the broker for one connection: which outbox
//! row each packet id carries, so a PUBACK finds the row it acknowledges, and which rows
//! wait for the relay's acknowledgement.
//!
//! Contract: rumqttc numbers a publish only when its event loop sends it
//! (`Outgoing::Publish(pkid)`, in the order publishes were handed to it), so every publish
//! is recorded here in that order, under the one lock that also says whether the
//! connection is up. When it goes down, the client's own queue and in-flight state are
//! cleared under the same lock, so no publish of an old connection can be taken for one of
//! the next; the outbox publishes everything unacknowledged again after the reconnect.
//! Rows the relay has not acknowledged within `uplink.republish_after_ms` of their publish
//! are published again on the same connection ([`Flight::rewind_if_stale`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

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
    /// Outbox messages published on this connection and not yet acknowledged by the broker.
    pub(super) in_flight: usize,
    /// Outbox messages published on this connection and not yet let go (acknowledged by
    /// the relay, or by the broker when it is the one that acknowledges), with when.
    unconfirmed: BTreeMap<u64, Instant>,
    /// The highest sequence published on this connection (since its last rewind).
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
        self.unconfirmed.clear();
        self.cursor = 0;
    }

    /// How many more rows may be published now: within `in_flight` for the broker and
    /// `window` for whoever lets rows go.
    pub(super) fn room(&self, in_flight: usize, window: usize) -> usize {
        in_flight
            .saturating_sub(self.in_flight)
            .min(window.saturating_sub(self.unconfirmed.len()))
    }

    /// A publish handed to the client.
    pub(super) fn sent(&mut self, seq: Option<u64>, now: Instant) {
        self.sent.push_back(seq);
        if let Some(seq) = seq {
            self.in_flight += 1;
            self.unconfirmed.insert(seq, now);
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

    /// The rows `first..=last` were let go.
    pub(super) fn confirmed(&mut self, first: u64, last: u64) {
        if first == last {
            self.unconfirmed.remove(&first);
        } else {
            self.unconfirmed
                .retain(|seq, _| !(first..=last).contains(seq));
        }
    }

    /// When the oldest row still unconfirmed was published.
    pub(super) fn oldest_unconfirmed(&self) -> Option<Instant> {
        self.unconfirmed.values().min().copied()
    }

    /// Publishes everything unconfirmed again, from the oldest, if some row has waited
    /// `after` or longer; whether it did.
    pub(super) fn rewind_if_stale(&mut self, now: Instant, after: Duration) -> bool {
        let stale = self
            .oldest_unconfirmed()
            .is_some_and(|oldest| now.duration_since(oldest) >= after);
        stale && self.rewind()
    }

    /// Publishes everything unconfirmed again, from the oldest (the relay asked); whether
    /// there was anything.
    pub(super) fn rewind(&mut self) -> bool {
        if self.unconfirmed.is_empty() {
            return false;
        }
        self.unconfirmed.clear();
        self.cursor = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_wait_for_confirmation_and_stale_ones_go_again_from_the_oldest() {
        let start = Instant::now();
        let mut flight = Flight::default();
        flight.connected();
        for seq in 1..=4 {
            flight.sent(Some(seq), start);
            flight.numbered(seq as u16);
        }
        assert_eq!(flight.room(64, 6), 2, "the window holds the unconfirmed");
        assert_eq!(flight.acknowledged(1), Some(1));
        assert_eq!(flight.room(64, 6), 2, "a PUBACK alone frees no room");
        flight.confirmed(1, 2);
        assert_eq!(flight.room(64, 6), 4);
        assert_eq!(flight.room(2, 6), 0, "three still in flight at the broker");

        let later = start + Duration::from_secs(5);
        flight.sent(Some(5), later);
        assert!(!flight.rewind_if_stale(later, Duration::from_secs(10)));
        assert_eq!(flight.cursor, 5);
        assert!(flight.rewind_if_stale(start + Duration::from_secs(10), Duration::from_secs(10)));
        assert_eq!(flight.cursor, 0, "published again from the oldest");
        assert_eq!(flight.oldest_unconfirmed(), None);
        assert!(
            !flight.rewind(),
            "nothing unconfirmed: nothing to publish again"
        );
        flight.sent(Some(5), later);
        assert!(flight.rewind(), "the relay asked");
        assert_eq!(flight.cursor, 0);
        flight.sent(Some(6), later);
        flight.disconnected();
        assert_eq!(
            (flight.cursor, flight.room(64, 6)),
            (0, 6),
            "a new connection starts over"
        );
    }
}
