//! Acknowledgements to boxes: the outbox sequences this instance applied (or found applied
//! before), gathered per box and published every [`ACK_EVERY`] on the box's
//! `{prefix}/acks` as ranges ([`protocol::acks::Acks`]).
//!
//! After every subscription (the relay's start, a reconnection, the broker's restart) it also
//! tells every active box to publish again what it has not had acknowledged
//! ([`Acks::resend`]): Mosquitto 2.0.11 does not restore shared subscriptions over a
//! restart, so what a box sent before the relay was back reached no one.
//!
//! Contract: a sequence is noted only after the transaction that applied it committed (or
//! after a duplicate was found, or a message was dropped for good: malformed, too large, a
//! device not active), never for one that failed, which the box must send again. They go at
//! QoS 0: a lost acknowledgement costs the box one more delivery of messages the relay
//! ignores as duplicates, and keeps no RPC packet ids busy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use protocol::acks::Acks;
use protocol::topics::{Topic, Topics};
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::watch;
use uuid::Uuid;

use super::Inner;
use crate::db::{DbError, Mode, Scope};
use crate::store::uplink as store;

/// How long applied sequences gather before they are acknowledged.
pub(super) const ACK_EVERY: Duration = Duration::from_millis(50);

/// Sequences applied and not yet acknowledged, by (tenant, device).
#[derive(Debug, Default)]
pub(super) struct Unacknowledged(Mutex<HashMap<(Uuid, Uuid), Vec<u64>>>);

impl Unacknowledged {
    pub(super) fn note(&self, tenant: Uuid, device: Uuid, seq: u64) {
        let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        pending.entry((tenant, device)).or_default().push(seq);
    }

    fn take(&self) -> HashMap<(Uuid, Uuid), Vec<u64>> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Publishes what was noted every [`ACK_EVERY`] until the uplink stops.
pub(super) fn spawn_sender(inner: Arc<Inner>, mut stopped: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                () = tokio::time::sleep(ACK_EVERY) => {}
            }
            for ((tenant, device), seqs) in inner.unacknowledged.take() {
                let acks = Acks::of(seqs);
                let topic = Topics::for_box(tenant, device).topic(&Topic::Acks);
                let payload = protocol::encode(&acks);
                if inner
                    .client
                    .publish(topic, QoS::AtMostOnce, false, payload)
                    .await
                    .is_err()
                {
                    // The connection task has ended: the relay is stopping.
                    return;
                }
                super::metrics::acknowledged(acks.count());
            }
        }
    });
}

/// Asks every active box to publish again what it has not had acknowledged (QoS 0: a box
/// that is offline gets nothing, and publishes everything when it connects anyway).
pub(super) async fn ask_to_resend(inner: &Inner) {
    let devices = async {
        let mut tx = inner.db.begin(Scope::Platform, Mode::Read).await?;
        let devices = store::active_devices(&mut tx).await?;
        tx.commit().await?;
        Ok::<_, DbError>(devices)
    };
    let devices = match devices.await {
        Ok(devices) => devices,
        Err(error) => {
            tracing::warn!(%error, "could not list the boxes to ask for what they hold");
            return;
        }
    };
    let payload = protocol::encode(&Acks::resend());
    for (tenant, device) in &devices {
        let topic = Topics::for_box(*tenant, *device).topic(&Topic::Acks);
        if inner
            .client
            .publish(topic, QoS::AtMostOnce, false, payload.clone())
            .await
            .is_err()
        {
            return;
        }
    }
    tracing::info!(
        boxes = devices.len(),
        "asked the boxes to send again what is unacknowledged"
    );
}
