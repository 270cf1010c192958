//! The error body both programs answer HTTP requests with, and this crate's own errors.

use serde::{Deserialize, Serialize};

/// The body of every error response of the box's and the relay's HTTP APIs:
/// `{"error": "not_found", "message": "...", "field": "from"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A stable machine-readable code, such as `not_found` or `invalid_field`.
    pub error: String,
    /// A sentence for a person; never a library's internals or the request's input.
    pub message: String,
    /// The request field, path or query parameter at fault, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorBody {
            error: code.to_owned(),
            message: message.into(),
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// A payload that is not a message of this protocol.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("payload of {bytes} bytes is over the {limit}-byte limit")]
    TooLarge { bytes: usize, limit: usize },
    #[error("protocol version {found} is newer than this program's {supported}")]
    Version { found: u32, supported: u32 },
    /// Not JSON, or not the message expected; the reason names the field and position.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A field with a value no message may carry (e.g. an embedding of the wrong length).
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl ProtocolError {
    pub(crate) fn json(e: serde_json::Error) -> Self {
        ProtocolError::Malformed(format!("{e} (line {}, column {})", e.line(), e.column()))
    }
}
