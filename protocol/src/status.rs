//! A box's presence on `{prefix}/status`: `{"v":1,"state":"online"}` published (retained) by
//! the box when it connects, and `{"v":1,"state":"offline"}` as its last will, which the
//! broker publishes when the connection ends without a clean disconnect.
//!
//! Not sequenced: the last will is the broker's, not the outbox's, so neither carries `seq`.
//! A bare `online` or `offline` (no JSON) is read the same, for peers that publish the word.

use serde::{Deserialize, Serialize};

use crate::{PROTOCOL_VERSION, ProtocolError, default_version};

/// Whether the box is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Online,
    Offline,
}

/// One status message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    #[serde(default = "default_version")]
    pub v: u32,
    pub state: Presence,
    /// The box's software version, when it says (on connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
}

impl DeviceStatus {
    pub fn new(state: Presence) -> Self {
        DeviceStatus {
            v: PROTOCOL_VERSION,
            state,
            software_version: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::encode(self)
    }

    /// Reads a status: the JSON object, or the bare word `online` / `offline`.
    pub fn decode(payload: &[u8]) -> Result<DeviceStatus, ProtocolError> {
        match payload.trim_ascii() {
            b"online" => Ok(DeviceStatus::new(Presence::Online)),
            b"offline" => Ok(DeviceStatus::new(Presence::Offline)),
            _ => crate::decode(payload),
        }
    }
}
