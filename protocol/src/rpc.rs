//! Remote procedure calls from the relay to a box: the request on
//! `{prefix}/rpc/request/{id}` (`{"v":1,"method":"ping","params":{}}`, as ThingsBoard's
//! server-side RPC), the response on `{prefix}/rpc/response/{id}` with either `result` or
//! `error`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::software::SoftwareUpdate;
use crate::{PROTOCOL_VERSION, ProtocolError, default_version, search::CreateSearch};

/// The methods a box answers, with their parameters. An unknown method is kept by name, so
/// the box can answer it with [`RpcError::unknown_method`].
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// Answers [`Pong`] at once: the round trip through broker and box.
    Ping,
    /// Versions, configuration without secrets, cameras, disk, last errors.
    GetDiagnostics,
    /// Restarts the daemon (through its supervisor).
    Restart,
    /// Changes configuration keys (validated, applied, persisted).
    SetConfig(SetConfig),
    /// Starts a search of the box's footage for a person; answered with its task id.
    CreateSearch(CreateSearch),
    /// Cancels a search started by [`Method::CreateSearch`].
    CancelSearch(CancelSearch),
    /// Tells the box its tenant's billing standing: while `suspended` it refuses
    /// [`Method::CreateSearch`] with [`TENANT_SUSPENDED`]; its local work goes on.
    SetStanding(SetStanding),
    /// Fetches, verifies and installs a signed package of the box's software; answered
    /// with [`crate::software::UpdateAccepted`] once it is accepted, the rest reported in
    /// the box's client attributes.
    SoftwareUpdate(SoftwareUpdate),
    /// A method this build does not know.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetConfig {
    /// Dotted keys of the box's configuration (`search.frame_width`) and their new values.
    pub values: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelSearch {
    pub search_id: Uuid,
}

/// A tenant's billing standing as a box needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Cloud searches are served (the tenant is in good standing or only overdue).
    Good,
    /// The tenant is suspended for an unpaid invoice: cloud searches are refused.
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStanding {
    pub standing: Standing,
    /// When the relay decided it (Unix ms): a box keeps the latest decision, so one
    /// delivered late never undoes a newer one.
    pub decided_at_ms: i64,
}

/// The answer to [`Method::Ping`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    pub software_version: String,
}

/// An RPC as it travels.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcRequest {
    pub method: Method,
    /// When the relay stops waiting (Unix ms); a box that gets the request later drops it.
    pub expires_at_ms: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct RawRequest {
    #[serde(default = "default_version")]
    v: u32,
    method: String,
    #[serde(default)]
    params: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<i64>,
}

impl RpcRequest {
    pub fn new(method: Method) -> Self {
        RpcRequest {
            method,
            expires_at_ms: None,
        }
    }

    /// The method's name on the wire (`createSearch`).
    pub fn method_name(&self) -> &str {
        match &self.method {
            Method::Ping => "ping",
            Method::GetDiagnostics => "getDiagnostics",
            Method::Restart => "restart",
            Method::SetConfig(_) => "setConfig",
            Method::CreateSearch(_) => "createSearch",
            Method::CancelSearch(_) => "cancelSearch",
            Method::SetStanding(_) => "setStanding",
            Method::SoftwareUpdate(_) => "softwareUpdate",
            Method::Unknown(name) => name,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let params = match &self.method {
            Method::SetConfig(p) => serde_json::to_value(p),
            Method::CreateSearch(p) => serde_json::to_value(p),
            Method::CancelSearch(p) => serde_json::to_value(p),
            Method::SetStanding(p) => serde_json::to_value(p),
            Method::SoftwareUpdate(p) => serde_json::to_value(p),
            Method::Ping | Method::GetDiagnostics | Method::Restart | Method::Unknown(_) => {
                Ok(Value::Object(serde_json::Map::new()))
            }
        }
        .unwrap_or(Value::Null);
        crate::encode(&RawRequest {
            v: PROTOCOL_VERSION,
            method: self.method_name().to_owned(),
            params,
            expires_at_ms: self.expires_at_ms,
        })
    }

    /// Reads a request. A payload that is not a request is an error; a known method with
    /// parameters that do not fit is [`RpcError`] `invalid_params` (to answer with); an
    /// unknown method is [`Method::Unknown`].
    pub fn decode(payload: &[u8]) -> Result<Result<RpcRequest, RpcError>, ProtocolError> {
        let raw: RawRequest = crate::decode(payload)?;
        let typed = match raw.method.as_str() {
            "ping" => Ok(Method::Ping),
            "getDiagnostics" => Ok(Method::GetDiagnostics),
            "restart" => Ok(Method::Restart),
            "setConfig" => typed_params(raw.params).map(Method::SetConfig),
            "createSearch" => typed_params(raw.params)
                .and_then(|p: CreateSearch| p.validated().map_err(RpcError::from))
                .map(Method::CreateSearch),
            "cancelSearch" => typed_params(raw.params).map(Method::CancelSearch),
            "setStanding" => typed_params(raw.params).map(Method::SetStanding),
            "softwareUpdate" => typed_params(raw.params)
                .and_then(|p: SoftwareUpdate| p.validated().map_err(RpcError::from))
                .map(Method::SoftwareUpdate),
            other => Ok(Method::Unknown(other.to_owned())),
        };
        Ok(typed.map(|method| RpcRequest {
            method,
            expires_at_ms: raw.expires_at_ms,
        }))
    }
}

fn typed_params<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, RpcError> {
    serde_json::from_value(params).map_err(|e| RpcError::new("invalid_params", e.to_string()))
}

/// A failed RPC, as the box answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcError {
    /// `unknown_method`, `invalid_params`, `model_mismatch`, `tenant_disabled`, `busy`,
    /// `internal`, ...
    pub code: String,
    pub message: String,
}

/// The code of a `createSearch` whose embedding is of another model than the box's:
/// embeddings of different models are never compared, on either side of the link.
pub const MODEL_MISMATCH: &str = "model_mismatch";

/// The code of a `createSearch` refused because the box's tenant is suspended.
pub const TENANT_SUSPENDED: &str = "tenant_suspended";

impl RpcError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        RpcError {
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub fn unknown_method(name: &str) -> Self {
        RpcError::new("unknown_method", format!("this box has no method {name:?}"))
    }
}

impl From<ProtocolError> for RpcError {
    fn from(e: ProtocolError) -> Self {
        RpcError::new("invalid_params", e.to_string())
    }
}

/// The answer to an RPC: `{"v":1,"result":...}` or `{"v":1,"error":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcResponse {
    #[serde(default = "default_version")]
    pub v: u32,
    /// The box's outbox sequence when the response went through its outbox (see
    /// [`crate::Sequenced`]); absent from peers without one (ThingsBoard devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

impl RpcResponse {
    pub fn ok(result: &impl Serialize) -> Self {
        RpcResponse {
            v: PROTOCOL_VERSION,
            seq: None,
            result: Some(serde_json::to_value(result).unwrap_or(Value::Null)),
            error: None,
        }
    }

    pub fn err(error: RpcError) -> Self {
        RpcResponse {
            v: PROTOCOL_VERSION,
            seq: None,
            result: None,
            error: Some(error),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::encode(self)
    }

    /// Reads a response; one with both or neither of `result` and `error` is malformed.
    pub fn decode(payload: &[u8]) -> Result<RpcResponse, ProtocolError> {
        let response: RpcResponse = crate::decode(payload)?;
        if response.result.is_some() == response.error.is_some() {
            return Err(ProtocolError::Malformed(
                "an RPC response has exactly one of result and error".to_owned(),
            ));
        }
        Ok(response)
    }

    /// The result as `T`, or the box's error.
    pub fn into_result<T: serde::de::DeserializeOwned>(self) -> Result<T, RpcError> {
        match (self.result, self.error) {
            (_, Some(error)) => Err(error),
            (Some(value), None) => serde_json::from_value(value)
                .map_err(|e| RpcError::new("invalid_result", e.to_string())),
            (None, None) => Err(RpcError::new("invalid_result", "no result")),
        }
    }
}
