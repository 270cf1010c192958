//! `[uplink]` in `box.toml`: how the box reaches the relay's broker, how often it reports,
//! and how much disk its outbox may take. Every default is written on its field.
//!
//! The broker identity normally comes from activation (`dipper uplink activate`), stored
//! sealed in the database; `[uplink.manual]` gives one by hand instead (a broker set up
//! without a relay, or a ThingsBoard server with the prefix `v1/devices/me`) and wins when
//! set. Its password is a secret: never shown by diagnostics or the API.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct UplinkConfig {
    /// Telemetry every this many milliseconds. Default 30000 (30 s); at least 100.
    pub(crate) telemetry_interval_ms: u64,
    /// The most the outbox may hold, in KiB of payload; past it telemetry is thinned (every
    /// other sample dropped, oldest first) and new searches are refused. RPC results and
    /// search events are never dropped. Default 65536 (64 MiB); at least 16.
    pub(crate) outbox_quota_kib: u64,
    /// A CA certificate (PEM) for an `mqtts://` broker; default: the system's roots.
    pub(crate) ca_file: Option<PathBuf>,
    /// The first wait before reconnecting, in ms, doubled up to `reconnect_max_ms` (plus up
    /// to half again at random). Defaults 500 and 60000.
    pub(crate) reconnect_min_ms: u64,
    pub(crate) reconnect_max_ms: u64,
    /// How long the broker keeps the box's session (its subscriptions and the RPCs queued
    /// for it) while it is away, in seconds. Default 604800 (7 days).
    pub(crate) session_expiry_seconds: u32,
    /// MQTT keep-alive, in seconds. Default 30.
    pub(crate) keep_alive_seconds: u64,
    /// Messages published and not yet acknowledged by the broker at once. Default 64.
    pub(crate) in_flight: usize,
    /// Who must acknowledge a message before the outbox lets it go: `relay` (default: the
    /// relay's acknowledgement on `{prefix}/acks`, sent once it applied the message) or
    /// `broker` (the broker's PUBACK; for a broker with no Dipper relay behind it, such as
    /// ThingsBoard's). With `broker`, a broker that acknowledges what it never delivers
    /// (restarted without the relay's shared subscription, or past its queue limit) loses it.
    pub(crate) acknowledged_by: AcknowledgedBy,
    /// Messages published and not yet acknowledged by the relay at once: a box back from
    /// an outage replays at the relay's pace. Default 256.
    pub(crate) relay_window: usize,
    /// Messages the relay has not acknowledged this long after they were published are
    /// published again, from the oldest (the relay ignores what it applied before), in ms.
    /// Default 30000.
    pub(crate) republish_after_ms: u64,
    /// Snapshots uploaded at once (with the relay's upload grants). Default 4; 1..=32.
    pub(crate) uploads_at_once: usize,
    /// The first wait before an upload is tried again while the object store cannot be
    /// reached or answers 5xx, in ms, doubled with each failure up to
    /// `upload_retry_max_ms` (plus up to half again at random), until the grant expires.
    /// Defaults 1000 and 300000 (5 minutes).
    pub(crate) upload_retry_min_ms: u64,
    pub(crate) upload_retry_max_ms: u64,
    /// The longest one snapshot's upload may take, in seconds. Default 60; 1..=3600.
    pub(crate) upload_timeout_seconds: u64,
    /// A broker identity given by hand instead of activation.
    #[serde(skip_serializing)]
    pub(crate) manual: Option<ManualIdentity>,
}

impl Default for UplinkConfig {
    fn default() -> Self {
        UplinkConfig {
            telemetry_interval_ms: 30_000,
            outbox_quota_kib: 64 * 1024,
            ca_file: None,
            reconnect_min_ms: 500,
            reconnect_max_ms: 60_000,
            session_expiry_seconds: 7 * 24 * 3600,
            keep_alive_seconds: 30,
            in_flight: 64,
            acknowledged_by: AcknowledgedBy::Relay,
            relay_window: 256,
            republish_after_ms: 30_000,
            uploads_at_once: 4,
            upload_retry_min_ms: 1_000,
            upload_retry_max_ms: 300_000,
            upload_timeout_seconds: 60,
            manual: None,
        }
    }
}

/// `uplink.acknowledged_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AcknowledgedBy {
    Relay,
    Broker,
}

/// `[uplink.manual]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManualIdentity {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub(crate) broker_url: String,
    /// User name and client id.
    pub(crate) username: String,
    pub(crate) password: String,
    /// Topics go below it (`dipper/{tenant}/{device}`, or `v1/devices/me`).
    pub(crate) topic_prefix: String,
}

impl UplinkConfig {
    pub(crate) fn telemetry_interval(&self) -> Duration {
        Duration::from_millis(self.telemetry_interval_ms)
    }

    pub(crate) fn republish_after(&self) -> Duration {
        Duration::from_millis(self.republish_after_ms)
    }

    pub(crate) fn upload_timeout(&self) -> Duration {
        Duration::from_secs(self.upload_timeout_seconds)
    }

    pub(crate) fn quota_bytes(&self) -> u64 {
        self.outbox_quota_kib.saturating_mul(1024)
    }

    /// The key at fault and why.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.telemetry_interval_ms < 100 {
            return Err((
                "uplink.telemetry_interval_ms",
                "must be at least 100".into(),
            ));
        }
        if self.outbox_quota_kib < 16 {
            return Err(("uplink.outbox_quota_kib", "must be at least 16".into()));
        }
        if self.reconnect_min_ms == 0 || self.reconnect_max_ms < self.reconnect_min_ms {
            return Err((
                "uplink.reconnect_min_ms",
                "must be at least 1 and at most reconnect_max_ms".into(),
            ));
        }
        if self.session_expiry_seconds == 0 {
            return Err((
                "uplink.session_expiry_seconds",
                "must be above 0 (the broker keeps nothing for a session that expires at once)"
                    .into(),
            ));
        }
        if !(5..=3600).contains(&self.keep_alive_seconds) {
            return Err(("uplink.keep_alive_seconds", "must be 5..=3600".into()));
        }
        if !(1..=1024).contains(&self.in_flight) {
            return Err(("uplink.in_flight", "must be 1..=1024".into()));
        }
        if !(1..=protocol::acks::MAX_RANGES).contains(&self.relay_window) {
            return Err((
                "uplink.relay_window",
                format!("must be 1..={}", protocol::acks::MAX_RANGES),
            ));
        }
        if self.republish_after_ms < 100 {
            return Err(("uplink.republish_after_ms", "must be at least 100".into()));
        }
        if !(1..=32).contains(&self.uploads_at_once) {
            return Err(("uplink.uploads_at_once", "must be 1..=32".into()));
        }
        if self.upload_retry_min_ms == 0 || self.upload_retry_max_ms < self.upload_retry_min_ms {
            return Err((
                "uplink.upload_retry_min_ms",
                "must be at least 1 and at most upload_retry_max_ms".into(),
            ));
        }
        if !(1..=3600).contains(&self.upload_timeout_seconds) {
            return Err(("uplink.upload_timeout_seconds", "must be 1..=3600".into()));
        }
        if let Some(manual) = &self.manual {
            super::identity::BrokerAddress::parse(&manual.broker_url)
                .map_err(|reason| ("uplink.manual.broker_url", reason))?;
        }
        Ok(())
    }
}
