//! From the outbox to the broker and back: the publisher hands waiting rows to the client
//! in sequence order, at most `uplink.in_flight` unacknowledged by the broker and
//! `uplink.relay_window` not yet let go at once; the acknowledger deletes the rows let go
//! (by the relay's acknowledgement, or the broker's PUBACK with `acknowledged_by =
//! "broker"`), a batch per transaction.
//!
//! Contract: a row is published again on every new connection (the cursor starts over at
//! each connect), and again on the same connection when it stays unacknowledged for
//! `uplink.republish_after_ms`; it is deleted only when let go. A batch read for an
//! earlier connection is never published on a later one.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use protocol::topics::Topics;
use rumqttc::v5::{AsyncClient, mqttbytes::QoS};
use tokio::sync::mpsc;

use super::{Shared, outbox};

/// Rows let go: `first..=last`.
pub(super) type LetGo = (u64, u64);

/// Publishes the outbox for as long as the session lives.
pub(super) async fn publish(shared: Arc<Shared>, client: AsyncClient, topics: Topics) {
    let config = shared.config();
    let window = match config.acknowledged_by {
        super::AcknowledgedBy::Relay => config.relay_window,
        super::AcknowledgedBy::Broker => config.in_flight,
    };
    let republish_after = config.republish_after();
    loop {
        let waiting = shared.wake.notified();
        let (connected, generation, cursor, room, oldest) = {
            let mut flight = shared.flight.lock();
            if flight.rewind_if_stale(Instant::now(), republish_after) {
                publishing_again("not_acknowledged_in_time");
            }
            (
                flight.connected,
                flight.generation,
                flight.cursor,
                flight.room(config.in_flight, window),
                flight.oldest_unconfirmed(),
            )
        };
        // Woken by a write, an acknowledgement or a connect; or when the oldest row
        // published has waited long enough to go again.
        let wait = async {
            match oldest {
                Some(oldest) => {
                    let due = tokio::time::Instant::from_std(oldest + republish_after);
                    let _ = tokio::time::timeout_at(due, waiting).await;
                }
                None => waiting.await,
            }
        };
        if !connected || room == 0 {
            wait.await;
            continue;
        }
        let rows = match shared
            .db
            .read(move |conn| outbox::pending(conn, cursor, room))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "uplink: cannot read the outbox");
                wait.await;
                continue;
            }
        };
        if rows.is_empty() {
            wait.await;
            continue;
        }
        let mut flight = shared.flight.lock();
        if !flight.connected || flight.generation != generation {
            continue;
        }
        let now = Instant::now();
        for row in rows {
            let topic = format!("{}/{}", topics.prefix(), row.topic);
            match client.try_publish(topic, QoS::AtLeastOnce, false, row.payload) {
                Ok(()) => {
                    flight.sent(Some(row.seq), now);
                    shared.published.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("dipper_outbox_published_total").increment(1);
                }
                // The client's queue is full: the rest waits for the next wake.
                Err(_) => break,
            }
        }
    }
}

/// Counts and logs that everything unacknowledged is published again, and why.
pub(super) fn publishing_again(reason: &'static str) {
    metrics::counter!("dipper_outbox_republished_total", "reason" => reason).increment(1);
    tracing::info!(
        reason,
        "uplink: publishing the unacknowledged messages again"
    );
}

/// Deletes the rows let go, a batch per transaction, until the uplink is dropped.
pub(super) async fn acknowledge(shared: Arc<Shared>, mut acks: mpsc::UnboundedReceiver<LetGo>) {
    let mut batch = Vec::with_capacity(256);
    while acks.recv_many(&mut batch, 256).await > 0 {
        let ranges = std::mem::take(&mut batch);
        let stored = ranges.clone();
        match shared
            .db
            .write(move |tx| outbox::acknowledged(tx, &stored))
            .await
        {
            Ok(deleted) => {
                shared.acknowledged.fetch_add(deleted, Ordering::Relaxed);
                metrics::counter!("dipper_outbox_acked_total").increment(deleted);
                let mut flight = shared.flight.lock();
                for (first, last) in ranges {
                    flight.confirmed(first, last);
                }
            }
            // Kept, and still unconfirmed: published again (a duplicate, never a loss).
            Err(e) => tracing::warn!(error = %e, "uplink: cannot delete acknowledged messages"),
        }
        shared.acked_batches.send_modify(|n| *n += 1);
        shared.wake.notify_one();
    }
}
