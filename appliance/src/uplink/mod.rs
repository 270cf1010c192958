//! The uplink: the box's link to the relay through the MQTT broker, and the outbox that
//! makes it lose nothing while the link is down.
//!
//! Contract:
//! - Everything the box owes the relay (RPC responses, search events, telemetry, client
//!   attributes) goes through the outbox ([`outbox`]), written in the same transaction as
//!   the state it reports where there is one, and is published from there in sequence
//!   order, at QoS 1, on the connection [`session`] keeps up. A row goes only when the
//!   relay acknowledges its `seq` on `{prefix}/acks`, after applying it (or on the
//!   broker's PUBACK with `uplink.acknowledged_by = "broker"`, [`flight`]); everything
//!   unacknowledged is published again after a reconnect, a restart, or
//!   `uplink.republish_after_ms` without an acknowledgement, so the relay may see a
//!   message twice (it applies each (box, seq) once) but never misses one, even when the
//!   broker acknowledged a message it then dropped.
//! - The identity comes from activation ([`activate`], stored sealed by [`identity`]) or
//!   `[uplink.manual]`; a box without one runs offline and its outbox still fills (within
//!   its quota).
//! - RPCs ([`rpc`]) are answered through the outbox; an expired one is answered `expired`
//!   and not run. `restart` is answered, the answer acknowledged (or 5 s passed), then the
//!   daemon stops cleanly and exits with [`RESTART_EXIT_CODE`] for its supervisor.
//! - Configuration set remotely ([`settings`]) is validated whole before anything is
//!   applied, and persisted with its answer in one transaction.
//! - The tenant's billing standing ([`standing`], `setStanding`) is kept in SQLite and in
//!   memory, the latest decision winning; while it is `suspended` the relay's new searches
//!   are refused (`tenant_suspended`) and the box's local work goes on.
//! - Snapshots of matches are uploaded to the object store with the relay's grants
//!   ([`uploads`]), kept in SQLite until done, whether the broker is reachable or not.

mod activate;
mod config;
mod flight;
mod identity;
mod outbox;
mod publisher;
mod report;
mod rpc;
mod searches;
mod session;
mod settings;
mod standing;
mod uploads;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub(crate) use activate::{ActivateError, ActivateRequest};
pub(crate) use config::{AcknowledgedBy, UplinkConfig};
pub(crate) use outbox::{Enqueued, Kind, Usage};
pub(crate) use settings::with_stored as with_stored_overrides;
pub(crate) use standing::TenantStanding;
pub(crate) use uploads::UploadStatus;

use crate::config::BoxConfig;
use crate::db::{Database, DbError, SqlResultExt};
use crate::engine::Engine;
use flight::Flight;
use identity::Identity;

/// The exit status with which the daemon asks its supervisor to start it again (systemd's
/// unit restarts on it); `restart` ends the daemon with it.
pub(crate) const RESTART_EXIT_CODE: u8 = 75;

/// What the uplink is built from.
#[derive(Debug)]
pub(crate) struct UplinkParts {
    pub(crate) db: Database,
    pub(crate) engine: Engine,
    pub(crate) config: BoxConfig,
    pub(crate) metrics: Option<PrometheusHandle>,
    pub(crate) started: Instant,
}

/// The uplink; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Uplink {
    shared: Arc<Shared>,
}

/// Whether the box is connected, since when, and why not.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct LinkState {
    /// `not_activated`, `connecting`, `connected` or `disconnected`.
    pub(crate) state: &'static str,
    /// When the link last went up or down, Unix ms.
    pub(crate) since_ms: Option<i64>,
    pub(crate) last_error: Option<String>,
    pub(crate) broker_url: Option<String>,
    pub(crate) topic_prefix: Option<String>,
    /// `activation (relay URL)` or `manual`.
    pub(crate) identity: Option<String>,
}

/// `dipper uplink status`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UplinkStatus {
    #[serde(flatten)]
    pub(crate) link: LinkState,
    pub(crate) outbox: Usage,
    pub(crate) outbox_oldest_seconds: Option<u64>,
    pub(crate) published: u64,
    pub(crate) acknowledged: u64,
    /// Snapshot uploads: grants waiting, and what was done since the start.
    pub(crate) uploads: UploadStatus,
    /// The tenant's billing standing: while `suspended`, cloud searches are refused.
    pub(crate) tenant: TenantStanding,
}

#[derive(Debug)]
struct Shared {
    db: Database,
    engine: Engine,
    config: RwLock<BoxConfig>,
    flight: Mutex<Flight>,
    /// Wakes the publisher: a message written, a PUBACK, a connect.
    wake: Notify,
    /// Rows let go, for the acknowledger to delete.
    acks: mpsc::UnboundedSender<publisher::LetGo>,
    /// Bumped after every batch of acknowledged rows is deleted.
    acked_batches: watch::Sender<u64>,
    link: Mutex<LinkState>,
    session: Mutex<Vec<JoinHandle<()>>>,
    restart: Mutex<Option<oneshot::Sender<()>>>,
    published: AtomicU64,
    acknowledged: AtomicU64,
    /// The box's HTTP client for the object store (snapshot uploads).
    http: reqwest::Client,
    uploads: uploads::Uploads,
    /// The tenant's standing in force, as stored in `tenant_standing` (read at start).
    standing: RwLock<TenantStanding>,
    metrics: Option<PrometheusHandle>,
    started: Instant,
    /// Software updates the relay sends (`softwareUpdate`).
    updater: crate::update::Updater,
}

impl Shared {
    fn config(&self) -> UplinkConfig {
        self.config.read().uplink.clone()
    }

    /// The rows `first..=last` may go (the relay, or the broker, acknowledged them).
    fn let_go(&self, first: u64, last: u64) {
        let _ = self.acks.send((first, last));
    }

    fn set_up(self: &Arc<Self>) {
        let mut link = self.link.lock();
        link.state = "connected";
        link.since_ms = Some(now_ms());
        drop(link);
        self.wake.notify_one();
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = report::send_attributes(&shared, serde_json::json!({})).await {
                tracing::warn!(error = %e, "uplink: cannot write the client attributes");
            }
        });
    }

    fn set_down(&self, reason: String) {
        let mut link = self.link.lock();
        if link.state == "connected" || link.since_ms.is_none() {
            link.since_ms = Some(now_ms());
        }
        link.state = "disconnected";
        link.last_error = Some(reason);
    }

    /// Writes a message in its own transaction and wakes the publisher.
    async fn enqueue(
        &self,
        kind: Kind,
        topic: String,
        payload: impl FnOnce(u64) -> Vec<u8> + Send + 'static,
    ) -> Result<Enqueued, DbError> {
        let quota = self.config().quota_bytes();
        let enqueued = self
            .db
            .write(move |tx| outbox::enqueue(tx, kind, &topic, quota, now_ms(), payload))
            .await?;
        self.wake.notify_one();
        Ok(enqueued)
    }

    /// Whether the tenant is suspended (the relay's new searches are refused).
    fn suspended(&self) -> bool {
        self.standing.read().suspended()
    }

    /// Keeps `decided` in memory unless a newer decision is there already; the standing
    /// before.
    fn keep_standing(&self, decided: TenantStanding) -> TenantStanding {
        let mut current = self.standing.write();
        let before = *current;
        if decided.supersedes(&before) {
            *current = decided;
        }
        before
    }

    async fn usage(&self) -> Result<Usage, DbError> {
        let quota = self.config().quota_bytes();
        self.db.read(move |conn| outbox::usage(conn, quota)).await
    }
}

impl Uplink {
    /// Starts the uplink: the outbox's acknowledger, telemetry, and the connection when the
    /// box has an identity. The receiver hears a `restart` RPC.
    pub(crate) async fn start(
        parts: UplinkParts,
    ) -> Result<(Uplink, oneshot::Receiver<()>), crate::BoxError> {
        let (acks, acks_rx) = mpsc::unbounded_channel();
        let (restart_tx, restart_rx) = oneshot::channel();
        let standing = parts.db.read(standing::stored).await?;
        let http = http_client()?;
        let updater = crate::update::Updater::new(&parts.config.data_dir, http.clone());
        let shared = Arc::new(Shared {
            db: parts.db,
            engine: parts.engine,
            config: RwLock::new(parts.config),
            flight: Mutex::new(Flight::default()),
            wake: Notify::new(),
            acks,
            acked_batches: watch::channel(0).0,
            link: Mutex::new(LinkState {
                state: "not_activated",
                ..LinkState::default()
            }),
            session: Mutex::new(Vec::new()),
            restart: Mutex::new(Some(restart_tx)),
            published: AtomicU64::new(0),
            acknowledged: AtomicU64::new(0),
            http,
            uploads: uploads::Uploads::default(),
            standing: RwLock::new(standing),
            metrics: parts.metrics,
            started: parts.started,
            updater,
        });
        tokio::spawn(publisher::acknowledge(Arc::clone(&shared), acks_rx));
        tokio::spawn(report::telemetry_loop(Arc::clone(&shared)));
        tokio::spawn(searches::watch_loop(Arc::clone(&shared)));
        tokio::spawn(uploads::run(Arc::clone(&shared)));
        tokio::spawn(report::update_watch(Arc::clone(&shared)));
        let uplink = Uplink { shared };
        let config = uplink.shared.config();
        if let Some(identity) = identity::load(&uplink.shared.db, &config).await? {
            uplink.connect(identity);
        }
        Ok((uplink, restart_rx))
    }

    /// Ends the current connection, if any, and keeps one up with `identity`.
    fn connect(&self, identity: Identity) {
        let shared = &self.shared;
        let mut tasks = shared.session.lock();
        for task in tasks.drain(..) {
            task.abort();
        }
        shared.flight.lock().disconnected();
        *shared.link.lock() = LinkState {
            state: "connecting",
            since_ms: Some(now_ms()),
            last_error: None,
            broker_url: Some(identity.broker_url.clone()),
            topic_prefix: Some(identity.topics.prefix().to_owned()),
            identity: Some(identity.source.clone()),
        };
        let (client, events) = match session::client(shared, &identity) {
            Ok(made) => made,
            Err(reason) => {
                tracing::error!(error = %reason, "uplink: cannot connect");
                shared.set_down(reason);
                return;
            }
        };
        let (incoming_tx, incoming_rx) = mpsc::channel(64);
        let topics = identity.topics.clone();
        tasks.push(tokio::spawn(session::run(
            Arc::clone(shared),
            identity,
            client.clone(),
            events,
            incoming_tx,
        )));
        tasks.push(tokio::spawn(publisher::publish(
            Arc::clone(shared),
            client,
            topics.clone(),
        )));
        tasks.push(tokio::spawn(rpc::handle_incoming(
            Arc::clone(shared),
            topics,
            incoming_rx,
        )));
    }

    /// Activates the box on a relay, stores its identity and connects with it.
    pub(crate) async fn activate(
        &self,
        request: ActivateRequest,
    ) -> Result<UplinkStatus, ActivateError> {
        let activated = activate::activate(&request).await?;
        let secrets = self.shared.db.secrets().clone();
        let stored = activated.clone();
        self.shared
            .db
            .write(move |tx| identity::store(tx, &secrets, &stored, now_ms()))
            .await
            .map_err(ActivateError::Store)?;
        let config = self.shared.config();
        if config.manual.is_some() {
            tracing::warn!("uplink: activated, but [uplink.manual] in box.toml is used instead");
        }
        match identity::load(&self.shared.db, &config)
            .await
            .map_err(ActivateError::Store)?
        {
            Some(identity) => self.connect(identity),
            None => tracing::error!("uplink: the stored identity did not read back"),
        }
        self.status().await.map_err(ActivateError::Store)
    }

    /// Connected or not, since when, the last error, the outbox's depth and age.
    pub(crate) async fn status(&self) -> Result<UplinkStatus, DbError> {
        let outbox = self.shared.usage().await?;
        Ok(UplinkStatus {
            link: self.shared.link.lock().clone(),
            outbox_oldest_seconds: outbox.oldest_seconds(now_ms()),
            outbox,
            published: self.shared.published.load(Ordering::Relaxed),
            acknowledged: self.shared.acknowledged.load(Ordering::Relaxed),
            uploads: self.shared.uploads.status(outbox.grants),
            tenant: *self.shared.standing.read(),
        })
    }

    /// Forgets the stored identity (the local page's de-provisioning) and the tenant's
    /// standing, and drops the connection. What the outbox holds stays: activated again, the
    /// box still sends it. A `[uplink.manual]` identity in `box.toml` is not the database's
    /// to forget.
    pub(crate) async fn deprovision(&self) -> Result<bool, DbError> {
        let had = self
            .shared
            .db
            .write(|tx| {
                standing::forget(tx)?;
                Ok(tx
                    .execute("DELETE FROM uplink_identity", [])
                    .purpose("forget the uplink identity")?
                    > 0)
            })
            .await?;
        *self.shared.standing.write() = TenantStanding::UNDECIDED;
        self.shutdown();
        self.shared.flight.lock().disconnected();
        let manual = self.shared.config().manual.is_some();
        *self.shared.link.lock() = LinkState {
            state: "not_activated",
            since_ms: Some(now_ms()),
            ..LinkState::default()
        };
        if manual {
            tracing::warn!(
                "uplink: de-provisioned, but [uplink.manual] in box.toml stays until it is removed"
            );
        }
        tracing::info!(had, "uplink: de-provisioned on the local page");
        Ok(had)
    }

    /// The configuration in force (box.toml with the stored overrides).
    pub(crate) fn box_config(&self) -> BoxConfig {
        self.shared.config.read().clone()
    }

    /// Sets configuration keys from the local page, under the same rules as the relay's
    /// `setConfig`: checked whole, stored, applied at the next start (the uplink's own live
    /// keys at once). Returns the keys that wait for a restart.
    pub(crate) async fn set_local_config(
        &self,
        values: std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<Vec<String>, String> {
        settings::set_local(&self.shared, values).await
    }

    /// Drops the connection (the broker publishes the last will: the box is offline).
    pub(crate) fn shutdown(&self) {
        for task in self.shared.session.lock().drain(..) {
            task.abort();
        }
    }
}

/// The HTTP client snapshots are uploaded with (each upload has its own timeout too).
fn http_client() -> Result<reqwest::Client, crate::BoxError> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("dipper/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("making the uplink's HTTP client: {e}"))?;
    Ok(client)
}

pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// An error and each of its causes, joined by ": " (for the relay's or the object store's
/// HTTP errors, whose causes say what failed: DNS, TLS, a refused connection).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
