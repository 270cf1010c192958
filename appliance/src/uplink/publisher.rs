//! From the outbox to the broker and back: the publisher hands waiting rows to the client
//! in sequence order, at most `uplink.in_flight` unacknowledged at once; the acknowledger
//! deletes the rows the broker acknowledged, a batch per transaction.
//!
//! Contract: a row is published again on every new connection (the cursor starts over at
//! each connect), and deleted only by a PUBACK of this connection's publish of it. A batch
//! read for an earlier connection is never published on a later one.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use protocol::topics::Topics;
use rumqttc::v5::{AsyncClient, mqttbytes::QoS};
use tokio::sync::mpsc;

use super::{Shared, outbox};

/// Publishes the outbox for as long as the session lives.
pub(super) async fn publish(shared: Arc<Shared>, client: AsyncClient, topics: Topics) {
    let window = shared.config().in_flight;
    loop {
        let waiting = shared.wake.notified();
        let (generation, cursor, room) = {
            let flight = shared.flight.lock();
            (
                flight.generation,
                flight.cursor,
                window.saturating_sub(flight.in_flight),
            )
        };
        let connected = shared.flight.lock().connected;
        if !connected || room == 0 {
            waiting.await;
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
                waiting.await;
                continue;
            }
        };
        if rows.is_empty() {
            waiting.await;
            continue;
        }
        let mut flight = shared.flight.lock();
        if !flight.connected || flight.generation != generation {
            continue;
        }
        for row in rows {
            let topic = format!("{}/{}", topics.prefix(), row.topic);
            match client.try_publish(topic, QoS::AtLeastOnce, false, row.payload) {
                Ok(()) => {
                    flight.sent(Some(row.seq));
                    shared.published.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("dipper_outbox_published_total").increment(1);
                }
                // The client's queue is full: the rest waits for the next wake.
                Err(_) => break,
            }
        }
    }
}

/// Deletes acknowledged rows, a batch per transaction, until the uplink is dropped.
pub(super) async fn acknowledge(shared: Arc<Shared>, mut acks: mpsc::UnboundedReceiver<u64>) {
    let mut batch = Vec::with_capacity(256);
    while acks.recv_many(&mut batch, 256).await > 0 {
        let seqs = std::mem::take(&mut batch);
        let count = seqs.len() as u64;
        match shared
            .db
            .write(move |tx| outbox::acknowledged(tx, &seqs))
            .await
        {
            Ok(()) => {
                shared.acknowledged.fetch_add(count, Ordering::Relaxed);
                metrics::counter!("dipper_outbox_acked_total").increment(count);
            }
            // Kept: published again after the next reconnect (a duplicate, never a loss).
            Err(e) => tracing::warn!(error = %e, "uplink: cannot delete acknowledged messages"),
        }
        shared.acked_batches.send_modify(|n| *n += 1);
        shared.wake.notify_one();
    }
}
