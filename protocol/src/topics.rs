//! MQTT topic names, in the layout of ThingsBoard's device MQTT API under a per-box prefix.
//!
//! | topic | direction | ThingsBoard equivalent |
//! |---|---|---|
//! | `{prefix}/telemetry` | box -> relay | `v1/devices/me/telemetry` |
//! | `{prefix}/attributes` | box -> relay (client attributes); relay -> box (shared) | `v1/devices/me/attributes` |
//! | `{prefix}/attributes/request/{id}` | box -> relay | `v1/devices/me/attributes/request/$id` |
//! | `{prefix}/attributes/response/{id}` | relay -> box | `v1/devices/me/attributes/response/$id` |
//! | `{prefix}/rpc/request/{id}` | relay -> box (server-side RPC) | `v1/devices/me/rpc/request/$id` |
//! | `{prefix}/rpc/response/{id}` | box -> relay | `v1/devices/me/rpc/response/$id` |
//! | `{prefix}/events` | box -> relay (outbox: search progress, matches) | none (a Dipper extension) |
//! | `{prefix}/status` | broker -> relay (last will), box -> relay (online) | none |
//! | `{prefix}/acks` | relay -> box (the outbox sequences it applied) | none (a Dipper extension) |
//! | `{prefix}/uploads` | relay -> box (where to upload a match's snapshots) | none (a Dipper extension) |
//!
//! The relay's prefix for a box is `dipper/{tenant}/{device}`; a box's broker identity may
//! publish and subscribe only below it. With the prefix `v1/devices/me` the topics are
//! ThingsBoard's own.

use uuid::Uuid;

/// The topics of one box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

/// What a topic under a box's prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    Telemetry,
    Attributes,
    AttributesRequest(u64),
    AttributesResponse(u64),
    RpcRequest(u64),
    RpcResponse(u64),
    Events,
    Status,
    Acks,
    Uploads,
}

/// ThingsBoard's prefix for "this device" on its device API.
pub const THINGSBOARD_PREFIX: &str = "v1/devices/me";

impl Topics {
    /// The topics of the box `device` of `tenant`, under `dipper/{tenant}/{device}`.
    pub fn for_box(tenant: Uuid, device: Uuid) -> Topics {
        Topics {
            prefix: format!("dipper/{tenant}/{device}"),
        }
    }

    /// Topics under any prefix (e.g. [`THINGSBOARD_PREFIX`]); a trailing `/` is dropped.
    pub fn with_prefix(prefix: &str) -> Topics {
        Topics {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The filter matching every topic of this box (`{prefix}/#`), for its broker ACL.
    pub fn all(&self) -> String {
        format!("{}/#", self.prefix)
    }

    pub fn topic(&self, topic: &Topic) -> String {
        let p = &self.prefix;
        match topic {
            Topic::Telemetry => format!("{p}/telemetry"),
            Topic::Attributes => format!("{p}/attributes"),
            Topic::AttributesRequest(id) => format!("{p}/attributes/request/{id}"),
            Topic::AttributesResponse(id) => format!("{p}/attributes/response/{id}"),
            Topic::RpcRequest(id) => format!("{p}/rpc/request/{id}"),
            Topic::RpcResponse(id) => format!("{p}/rpc/response/{id}"),
            Topic::Events => format!("{p}/events"),
            Topic::Status => format!("{p}/status"),
            Topic::Acks => format!("{p}/acks"),
            Topic::Uploads => format!("{p}/uploads"),
        }
    }

    /// The filter a box subscribes to for RPC requests (`{prefix}/rpc/request/+`).
    pub fn rpc_requests(&self) -> String {
        format!("{}/rpc/request/+", self.prefix)
    }

    /// What `topic` is, if it is one of this box's.
    pub fn parse(&self, topic: &str) -> Option<Topic> {
        let rest = topic.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        parse_suffix(rest)
    }
}

/// Splits a relay-side topic `dipper/{tenant}/{device}/...` into the box and what it is.
pub fn parse_box_topic(topic: &str) -> Option<(Uuid, Uuid, Topic)> {
    let mut parts = topic.splitn(4, '/');
    if parts.next()? != "dipper" {
        return None;
    }
    let tenant = Uuid::parse_str(parts.next()?).ok()?;
    let device = Uuid::parse_str(parts.next()?).ok()?;
    Some((tenant, device, parse_suffix(parts.next()?)?))
}

fn parse_suffix(rest: &str) -> Option<Topic> {
    let id = |s: &str| s.parse::<u64>().ok();
    Some(match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["telemetry"] => Topic::Telemetry,
        ["attributes"] => Topic::Attributes,
        ["attributes", "request", n] => Topic::AttributesRequest(id(n)?),
        ["attributes", "response", n] => Topic::AttributesResponse(id(n)?),
        ["rpc", "request", n] => Topic::RpcRequest(id(n)?),
        ["rpc", "response", n] => Topic::RpcResponse(id(n)?),
        ["events"] => Topic::Events,
        ["status"] => Topic::Status,
        ["acks"] => Topic::Acks,
        ["uploads"] => Topic::Uploads,
        _ => return None,
    })
}
