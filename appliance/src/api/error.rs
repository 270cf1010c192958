//! The API's errors: one JSON shape, `{"error": {"code": "...", "message": "..."}}`, with a
//! stable code per kind. Internals (SQL, paths) are logged, never sent.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::engine::EngineError;

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.into(),
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
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
        ApiError {
            status,
            code,
            message,
        }
    }
}
