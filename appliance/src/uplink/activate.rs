//! Activation: the box presents its device id and one-time provisioning key to the relay
//! (`POST /api/v1/devices/activate`) and receives its credential and broker.
//!
//! Contract: each way it can fail is its own error with a sentence an installer can act
//! on (wrong or used key, relay unreachable, a relay without a broker, a disabled tenant);
//! the key and the credential never appear in an error or a log.

use protocol::ErrorBody;
use protocol::activation::{ActivateDevice, DeviceCredentials};
use serde::Deserialize;
use uuid::Uuid;

use super::error_chain;
use super::identity::{Activated, BrokerAddress};
use crate::db::DbError;

/// `dipper uplink activate` and `POST /api/v1/uplink/activate`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivateRequest {
    /// The relay, `https://relay.example` (`http://` for a relay on this machine).
    pub(crate) relay: String,
    pub(crate) device_id: Uuid,
    /// The one-time provisioning key the relay showed when the box was registered.
    pub(crate) key: String,
}

impl std::fmt::Debug for ActivateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivateRequest")
            .field("relay", &self.relay)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ActivateError {
    #[error("relay {0:?}: expected http:// or https:// followed by a host")]
    BadRelayUrl(String),
    #[error("the relay at {relay} cannot be reached: {reason}")]
    Unreachable { relay: String, reason: String },
    #[error(
        "the relay refused the device id and key (wrong, already used or expired): ask the \
         relay's operator for a new provisioning key"
    )]
    WrongKey,
    #[error("the relay refused the activation: {0}")]
    Refused(String),
    #[error(
        "the relay activated the box but has no MQTT broker to give it; the uplink cannot \
         connect until the relay is configured with one (then activate again with a new key)"
    )]
    NoBroker,
    #[error("the relay's broker {url:?} cannot be used: {reason}")]
    BadBroker { url: String, reason: String },
    #[error("the relay's answer is not an activation: {0}")]
    BadAnswer(String),
    #[error("storing the box's identity: {0}")]
    Store(DbError),
}

impl ActivateError {
    /// A stable code for the API's error body.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ActivateError::BadRelayUrl(_) => "invalid_request",
            ActivateError::Unreachable { .. } => "relay_unreachable",
            ActivateError::WrongKey => "wrong_key",
            ActivateError::Refused(_) => "refused",
            ActivateError::NoBroker => "relay_without_broker",
            ActivateError::BadBroker { .. } | ActivateError::BadAnswer(_) => "bad_relay_answer",
            ActivateError::Store(_) => "internal",
        }
    }
}

/// Calls the relay; the identity to store.
pub(crate) async fn activate(request: &ActivateRequest) -> Result<Activated, ActivateError> {
    let relay = request.relay.trim_end_matches('/').to_owned();
    let host = relay
        .strip_prefix("https://")
        .or_else(|| relay.strip_prefix("http://"));
    if host.is_none_or(|h| h.is_empty()) {
        return Err(ActivateError::BadRelayUrl(request.relay.clone()));
    }
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| ActivateError::Unreachable {
            relay: relay.clone(),
            reason: e.to_string(),
        })?;
    let body = ActivateDevice {
        device_id: request.device_id,
        provisioning_key: request.key.clone(),
    };
    let unreachable = |e: reqwest::Error| ActivateError::Unreachable {
        relay: relay.clone(),
        reason: error_chain(&e),
    };
    let response = http
        .post(format!("{relay}/api/v1/devices/activate"))
        .json(&body)
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(refusal(status, &bytes));
    }
    let credentials: DeviceCredentials =
        serde_json::from_slice(&bytes).map_err(|e| ActivateError::BadAnswer(e.to_string()))?;
    let broker = credentials.broker.clone().ok_or(ActivateError::NoBroker)?;
    BrokerAddress::parse(&broker.url).map_err(|reason| ActivateError::BadBroker {
        url: broker.url.clone(),
        reason,
    })?;
    Ok(Activated {
        relay_url: relay,
        credentials,
        broker,
    })
}

fn refusal(status: reqwest::StatusCode, bytes: &[u8]) -> ActivateError {
    let body: Option<ErrorBody> = serde_json::from_slice(bytes).ok();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return ActivateError::WrongKey;
    }
    let message = body.map_or_else(
        || format!("HTTP {status}"),
        |b| format!("{} ({})", b.message, b.error),
    );
    ActivateError::Refused(message)
}
