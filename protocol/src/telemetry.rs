//! What a box reports about itself: telemetry every 30 s on `{prefix}/telemetry`, client
//! attributes on connect and on change, and the shared attributes the relay sets as its
//! configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::default_version;

/// One telemetry sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Telemetry {
    #[serde(default = "default_version")]
    pub v: u32,
    /// The box's outbox sequence ([`crate::Sequenced`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// When it was taken, Unix ms (the box's clock).
    pub ts_ms: i64,
    pub uptime_s: u64,
    pub cameras_online: u32,
    pub cameras_total: u32,
    /// How far the worst camera's indexing is behind now, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexing_lag_s: Option<u64>,
    pub disk_free_bytes: u64,
    /// Messages waiting in the outbox, and the age of the oldest.
    pub outbox_depth: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_oldest_s: Option<u64>,
    pub download_queue: u64,
    pub software_version: String,
    pub model_id: String,
}

/// Client attributes: what the box is, sent on connect and when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAttributes {
    #[serde(default = "default_version")]
    pub v: u32,
    /// The box's outbox sequence ([`crate::Sequenced`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    pub software_version: String,
    pub model_id: String,
    pub protocol_version: u32,
    /// The box's latest software update, from its `softwareUpdate` to its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_update: Option<crate::software::UpdateReport>,
}

/// Shared attributes: configuration the relay sets for a box, by dotted key. The box
/// validates each, applies what is valid and reports what it refused, with the reason.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SharedAttributes {
    #[serde(flatten)]
    pub values: BTreeMap<String, Value>,
}
