//! The API's errors in the one shape the box and the relay share
//! ([`protocol::ErrorBody`]): `{"error": "code", "message": "...", "field": "from"}`, a stable
//! code per kind and the request field at fault where there is one. Internals (SQL, paths)
//! are logged, never sent.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use protocol::ErrorBody;

use crate::engine::EngineError;

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<&'static str>,
    /// Seconds to wait before trying again: `Retry-After` and `retry_after_seconds`.
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// Any status and code (the uplink's errors choose theirs).
    pub(crate) fn with(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        field: Option<&'static str>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field,
            retry_after: None,
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
}

impl ApiError {
    /// Says when to try again (a 429's wait).
    pub(crate) fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = ErrorBody::new(self.code, self.message);
        body.field = self.field.map(str::to_owned);
        let Some(seconds) = self.retry_after else {
            return (self.status, Json(body)).into_response();
        };
        let mut value = serde_json::to_value(&body).unwrap_or_default();
        value["retry_after_seconds"] = seconds.into();
        (
            self.status,
            [(axum::http::header::RETRY_AFTER, seconds.to_string())],
            Json(value),
        )
            .into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        let (status, code, message) = match &error {
            EngineError::Invalid { .. } => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                error.to_string(),
            ),
            EngineError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found", error.to_string()),
            EngineError::Conflict(_) => (StatusCode::CONFLICT, "conflict", error.to_string()),
            EngineError::Camera(_) => (
                StatusCode::BAD_GATEWAY,
                "camera_unreachable",
                error.to_string(),
            ),
            EngineError::Db(e) if e.is_disk_full() => (
                StatusCode::INSUFFICIENT_STORAGE,
                "disk_full",
                "the box's disk is full".to_owned(),
            ),
            EngineError::Db(e) if *e.kind() == crate::db::DbErrorKind::NotFound => {
                (StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            EngineError::Db(e) if *e.kind() == crate::db::DbErrorKind::Conflict => {
                (StatusCode::CONFLICT, "conflict", e.to_string())
            }
            EngineError::Db(_) | EngineError::Index(_) | EngineError::Threads { .. } => {
                tracing::error!(error = %error, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the box's log".to_owned(),
                )
            }
        };
        let field = match &error {
            EngineError::Invalid { field, .. } => Some(*field),
            _ => None,
        };
        ApiError {
            status,
            code,
            message,
            field,
            retry_after: None,
        }
    }
}
