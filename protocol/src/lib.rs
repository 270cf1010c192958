//! The wire format the box (`appliance`) and the relay share, so neither can drift: the
//! box's activation, the MQTT topics, RPC requests and responses with typed methods,
//! telemetry, client and shared attributes, the events a search sends back, a box's
//! presence (online, or its last will), and the one error body both programs answer HTTP
//! requests with.
//!
//! Contract:
//! - serde types only: no sockets, no files, no clocks. Both binaries depend on this crate.
//! - Every message carries a version ([`PROTOCOL_VERSION`] in `v`). A reader accepts its
//!   own version and older ones; a newer message is refused with
//!   [`ProtocolError::Version`], never half-read.
//! - Unknown fields are tolerated (a newer peer may add some); an unknown RPC method is
//!   read as [`rpc::Method::Unknown`] and answered with [`rpc::RpcError::unknown_method`].
//! - A box's outbox message is done when the relay acknowledges its `seq` on
//!   `{prefix}/acks` ([`acks`]), after applying it: not on the broker's PUBACK.
//! - Payloads are bounded ([`MAX_PAYLOAD_BYTES`]) before they are parsed.
//! - The topic layout follows ThingsBoard's device MQTT API under a per-box prefix
//!   ([`topics::Topics`]); with the prefix `v1/devices/me` a box speaks to a ThingsBoard
//!   server unchanged (see `docs/design/0010-wire-protocol.md` for which parts are covered).

pub mod acks;
pub mod activation;
pub mod error;
pub mod rpc;
pub mod search;
pub mod software;
pub mod status;
pub mod telemetry;
pub mod topics;
pub mod uploads;

#[cfg(test)]
mod tests;

pub use error::{ErrorBody, ProtocolError};

/// The version this build writes, and the newest it reads.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest payload either side accepts on any topic (a `createSearch` with its
/// embedding is about 1 KiB; a result page a few KiB).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

fn default_version() -> u32 {
    PROTOCOL_VERSION
}

/// The outbox sequence of any message a box publishes, read without knowing its topic.
///
/// Every message the box sends from its outbox (telemetry, client attributes, RPC
/// responses, search events) carries `seq`: one counter per box across all topics,
/// strictly increasing and never reused, also across restarts. The relay applies each
/// (box, seq) once, so a replayed or duplicated delivery takes effect once. Messages
/// without it (the broker's last will, a ThingsBoard device's payloads) are not
/// deduplicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct Sequenced {
    #[serde(default)]
    pub seq: Option<u64>,
}

impl Sequenced {
    /// The `seq` of a payload, `None` when it has none or is not a JSON object.
    pub fn of(payload: &[u8]) -> Option<u64> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return None;
        }
        serde_json::from_slice::<Sequenced>(payload)
            .ok()
            .and_then(|s| s.seq)
    }
}

/// Reads a JSON payload of this protocol: bounded in size, its version checked first.
pub fn decode<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, ProtocolError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(ProtocolError::TooLarge {
            bytes: payload.len(),
            limit: MAX_PAYLOAD_BYTES,
        });
    }
    #[derive(serde::Deserialize)]
    struct Versioned {
        #[serde(default = "default_version")]
        v: u32,
    }
    let versioned: Versioned = serde_json::from_slice(payload).map_err(ProtocolError::json)?;
    if versioned.v > PROTOCOL_VERSION {
        return Err(ProtocolError::Version {
            found: versioned.v,
            supported: PROTOCOL_VERSION,
        });
    }
    serde_json::from_slice(payload).map_err(ProtocolError::json)
}

/// Writes a message of this protocol as JSON.
pub fn encode<T: serde::Serialize>(message: &T) -> Vec<u8> {
    // Serialising these plain types cannot fail (no maps with non-string keys, no
    // non-finite floats reach here: embeddings are base64).
    serde_json::to_vec(message).unwrap_or_default()
}
