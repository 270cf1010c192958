//! The relay's side of the boxes' MQTT link: one MQTT v5 client per relay instance, with a
//! persistent session, that records what boxes report and carries server-side RPCs to them.
//!
//! Contract:
//! - One connection per instance, client id stable across restarts (`broker.client_id`),
//!   `clean_start(false)` and a session expiry above 0, so what the broker queued for the
//!   relay while it was away (QoS 1) arrives when it returns. Messages are acknowledged
//!   (manual acks) only after they are applied to the database, so a relay that dies midway
//!   gets them again.
//! - Telemetry, attributes, events and status come through the shared subscription
//!   `$share/dipper-relay/...`: relays sharing the broker split them. RPC responses come to
//!   every instance (a plain subscription), so the instance whose API call waits for one
//!   wakes at once; storing it is conditional on the RPC's state, so it applies once.
//! - Every message with an outbox `seq` is applied once per (device, seq): the place is a
//!   unique key taken in the transaction that applies the message, not a high-water mark.
//!   Once applied (or found applied before, or dropped for good) its `seq` is acknowledged
//!   to the box on `{prefix}/acks` (`acks.rs`); the box keeps the message until then, so
//!   what a broker acknowledged but never delivered (a shared subscription it forgot in a
//!   restart, a queue past its limit) is sent again. A message that failed is not
//!   acknowledged.
//! - A message from an unknown tenant/device pair, another tenant's device, a box not active,
//!   or a malformed, oversized or unknown-topic payload is dropped with its reason logged
//!   and counted ([`UplinkCounts`], `relay_uplink_messages_total{topic,outcome}`); the
//!   connection stays up.
//! - RPCs (`rpc.rs`) move through ThingsBoard's states: `queued` (stored), `sent`
//!   (published), `delivered` (the broker acknowledged it), `successful`/`failed` (the box
//!   answered), `timeout` (no answer in time), `expired` (never sent before its expiry).
//!   Each move is conditional on the state it leaves, so instances never both move one. An
//!   RPC left `queued` for a box online (its send cut by a crash) is sent a few seconds
//!   later by the resender.
//! - A box's answer to a search's `createSearch` and its search events move its part of the
//!   search (`searches.rs`) in the same transaction as the message's (device, seq) place.

mod acks;
mod grants;
mod inbound;
mod metrics;
mod options;
mod rollouts;
mod rpc;
mod searches;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rumqttc::v5::AsyncClient;
use tokio::sync::{broadcast, oneshot, watch};
use uuid::Uuid;

use crate::broker::{BrokerAdmin, BrokerError};
use crate::config::BrokerConfig;
use crate::db::Db;
use crate::objects::ObjectStore;
use protocol::activation::BrokerEndpoint;
use protocol::topics::Topics;

pub use metrics::UplinkCounts;
pub use rpc::{RpcWait, SendError};

/// Why the uplink could not start.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("reading broker.ca_file {path}: {source}")]
    CaFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("the relay's MQTT connection to {url} did not subscribe within {} s", after.as_secs())]
    NotSubscribed { url: String, after: Duration },
}

/// Search changes an event stream may fall behind by before it reads the database anyway.
const SEARCH_CHANGES: usize = 1024;

/// How long [`Uplink::stop`] waits for the disconnection to go out.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Local waiters for RPC answers, by (device, request id).
type Waiters = Mutex<HashMap<(Uuid, i64), oneshot::Sender<()>>>;

/// A running uplink. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct Uplink {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    admin: BrokerAdmin,
    /// The URL handed to boxes at activation.
    box_url: String,
    client: AsyncClient,
    db: Db,
    waiters: Waiters,
    /// Publishes in the order they were handed to the client, so each broker acknowledgement
    /// finds its RPC ([`session::Tracker`]).
    publishing: tokio::sync::Mutex<()>,
    tracker: Mutex<session::Tracker>,
    counts: metrics::Counts,
    /// Sequences applied and not yet acknowledged to their boxes ([`acks`]).
    unacknowledged: acks::Unacknowledged,
    /// The searches this instance changed, for its event streams ([`searches`]).
    search_changes: broadcast::Sender<Uuid>,
    /// Where boxes upload snapshots ([`grants`]), and how long their URLs live.
    objects: ObjectStore,
    objects_put_ttl: Duration,
    /// Wakes the granter: a result was stored, or a box asked for a grant again.
    grants_wanted: tokio::sync::Notify,
    stop: watch::Sender<bool>,
    /// The event loop's task, awaited by [`Uplink::stop`].
    session: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Uplink {
    /// Connects the administrator and the relay's own client, makes sure the relay's broker
    /// identity exists, and returns once the relay is subscribed.
    pub async fn start(
        config: &BrokerConfig,
        db: Db,
        (objects, objects_put_ttl): (ObjectStore, Duration),
    ) -> Result<Uplink, UplinkError> {
        let ca_pem = match &config.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|source| UplinkError::CaFile {
                path: path.display().to_string(),
                source,
            })?),
            None => None,
        };
        let relay_url = config
            .relay_url
            .clone()
            .unwrap_or_else(|| config.url.clone());
        let timeout = Duration::from_secs(config.command_timeout_seconds);
        let admin = BrokerAdmin::connect(&crate::broker::BrokerSettings {
            url: relay_url.clone(),
            admin_username: config.admin_username.clone(),
            admin_password: config.admin_password.clone(),
            command_timeout: timeout,
            ca_pem: ca_pem.clone(),
        })
        .await?;
        admin
            .ensure_relay_client(&config.username, &config.password)
            .await?;
        let mqtt = options::mqtt_options(config, &relay_url, ca_pem)?;
        let (client, events) = AsyncClient::new(mqtt, options::REQUEST_CAPACITY);
        let (stop, stopped) = watch::channel(false);
        let inner = Arc::new(Inner {
            admin,
            box_url: config.url.clone(),
            client,
            db,
            waiters: Mutex::default(),
            publishing: tokio::sync::Mutex::new(()),
            tracker: Mutex::default(),
            counts: metrics::Counts::default(),
            unacknowledged: acks::Unacknowledged::default(),
            search_changes: broadcast::channel(SEARCH_CHANGES).0,
            objects,
            objects_put_ttl,
            grants_wanted: tokio::sync::Notify::new(),
            stop,
            session: Mutex::new(None),
        });
        let (subscribed_tx, mut subscribed) = watch::channel(false);
        let task = session::spawn(Arc::clone(&inner), events, subscribed_tx, stopped.clone());
        *inner.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        rpc::spawn_sweeper(Arc::clone(&inner), stopped.clone());
        rpc::spawn_resender(Arc::clone(&inner), stopped.clone());
        grants::spawn(Arc::clone(&inner), stopped.clone());
        acks::spawn_sender(Arc::clone(&inner), stopped);
        let ready = tokio::time::timeout(timeout, subscribed.wait_for(|s| *s)).await;
        if !matches!(ready, Ok(Ok(_))) {
            let _ = inner.stop.send(true);
            return Err(UplinkError::NotSubscribed {
                url: relay_url,
                after: timeout,
            });
        }
        Ok(Uplink { inner })
    }

    /// The broker's administrator, for box identities.
    pub fn admin(&self) -> &BrokerAdmin {
        &self.inner.admin
    }

    /// Where the box `device` of `tenant` connects, and as whom.
    pub fn endpoint(&self, tenant: Uuid, device: Uuid) -> BrokerEndpoint {
        BrokerEndpoint {
            url: self.inner.box_url.clone(),
            username: device.to_string(),
            topic_prefix: Topics::for_box(tenant, device).prefix().to_owned(),
        }
    }

    /// What this instance has received and done since it started.
    pub fn counts(&self) -> UplinkCounts {
        self.inner.counts.snapshot()
    }

    /// Disconnects cleanly (the broker keeps the session) and stops the background tasks;
    /// returns once the connection reads nothing more (at most the command timeout).
    pub async fn stop(&self) {
        let _ = self.inner.client.disconnect().await;
        let task = self
            .inner
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(STOP_WAIT, task).await;
        }
        let _ = self.inner.stop.send(true);
    }
}

impl Inner {
    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, i64), oneshot::Sender<()>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_tracker(&self) -> std::sync::MutexGuard<'_, session::Tracker> {
        self.tracker.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
