//! A box's activation on the relay: the one-time provisioning key exchanged for the box's
//! identity and the credential it authenticates with from then on.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /api/v1/devices/activate`, sent by the box (or an installer's page for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateDevice {
    pub device_id: Uuid,
    /// The one-time key the relay showed when the box was registered.
    pub provisioning_key: String,
}

/// What an activated box keeps: its identity and the credential it authenticates with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCredentials {
    pub device_id: Uuid,
    pub tenant_id: Uuid,
    /// Shown once; the relay keeps only its digest.
    pub credential: String,
    /// Where the box's uplink connects, when the relay has a broker (absent before the
    /// uplink exists, and from relays without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<BrokerEndpoint>,
    /// The relay's Ed25519 public key for software packages, base64
    /// ([`crate::software::encode_key`]): the only key the box trusts an update with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_key: Option<String>,
}

/// The broker a box connects to, with the identity the relay made for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrokerEndpoint {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// The box's broker user name; its password is the device credential.
    pub username: String,
    /// The topic prefix the box may publish and subscribe under ([`crate::topics::Topics`]).
    pub topic_prefix: String,
}
