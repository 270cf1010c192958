//! What the uplink counts: messages by topic and outcome, duplicates, and boxes online, both
//! through the `metrics` facade (`/metrics`) and in the instance's own counters, which tests
//! and the benchmark read without the process-wide recorder.

use std::sync::atomic::{AtomicU64, Ordering};

const MESSAGES: &str = "relay_uplink_messages_total";
const DUPLICATES: &str = "relay_uplink_duplicates_total";
const BOXES_ONLINE: &str = "relay_uplink_boxes_online";
const ACKNOWLEDGED: &str = "relay_uplink_acknowledged_total";
const GRANTS: &str = "relay_uplink_upload_grants_total";

/// What became of one message from a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Applied,
    /// Its (device, seq) was applied before.
    Duplicate,
    /// Not a topic of the layout, or one the relay does not take (its own requests).
    UnknownTopic,
    /// No such device in the topic's tenant (unknown, or another tenant's).
    UnknownDevice,
    /// The device is registered or decommissioned, not active.
    InactiveDevice,
    TooLarge,
    Malformed,
    /// Written by a newer protocol than this relay reads: kept by the box (not
    /// acknowledged) until a relay that reads it applies it.
    NewerVersion,
    /// The database failed (after retries); logged as an error.
    Failed,
}

impl Outcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::UnknownTopic => "unknown_topic",
            Outcome::UnknownDevice => "unknown_device",
            Outcome::InactiveDevice => "inactive_device",
            Outcome::TooLarge => "too_large",
            Outcome::Malformed => "malformed",
            Outcome::NewerVersion => "newer_version",
            Outcome::Failed => "failed",
        }
    }
}

/// A snapshot of one instance's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UplinkCounts {
    pub applied: u64,
    pub duplicates: u64,
    /// Dropped: unknown topic, device or tenant, inactive device, malformed or too large.
    pub dropped: u64,
    pub failed: u64,
    /// Times the connection was lost.
    pub disconnections: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counts {
    applied: AtomicU64,
    duplicates: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    disconnections: AtomicU64,
}

impl Counts {
    /// Counts one message of `topic` (`telemetry`, `status`, ...).
    pub(super) fn message(&self, topic: &'static str, outcome: Outcome) {
        metrics::counter!(MESSAGES, "topic" => topic, "outcome" => outcome.as_str()).increment(1);
        let counter = match outcome {
            Outcome::Applied => &self.applied,
            Outcome::Duplicate => {
                metrics::counter!(DUPLICATES, "topic" => topic).increment(1);
                &self.duplicates
            }
            Outcome::Failed => &self.failed,
            _ => &self.dropped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn disconnected(&self) {
        self.disconnections.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> UplinkCounts {
        UplinkCounts {
            applied: self.applied.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            disconnections: self.disconnections.load(Ordering::Relaxed),
        }
    }
}

/// Boxes online across the platform, as the database says.
pub(super) fn boxes_online(count: i64) {
    metrics::gauge!(BOXES_ONLINE).set(count as f64);
}

/// Results whose snapshots a box was granted upload URLs for.
pub(super) fn granted(count: u64) {
    metrics::counter!(GRANTS).increment(count);
}

/// Sequences acknowledged to boxes.
pub(super) fn acknowledged(count: u64) {
    metrics::counter!(ACKNOWLEDGED).increment(count);
}
