//! `POST /api/v1/uplink/activate`, `GET /api/v1/uplink/status` and
//! `POST /api/v1/uplink/deprovision`: the box's link to the relay, for the installer's page
//! and `dipper uplink`.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{ApiError, AppState, parse_body};
use crate::uplink::{ActivateError, ActivateRequest};

/// Activates the box on a relay and connects: `{"relay", "device_id", "key"}`; answers the
/// uplink's status.
#[utoipa::path(post, path = "/uplink/activate", tag = "uplink",
    request_body(content = Object, content_type = "application/json",
        description = "`{relay, device_id, key}`: the relay's URL, the box's id there and the \
            one-time provisioning key the relay showed"),
    responses((status = 200, description = "Activated: the uplink's status", body = Object),
        (status = 400, description = "A malformed body or relay URL", body = protocol::ErrorBody),
        (status = 422, description = "The relay refused the key", body = protocol::ErrorBody),
        (status = 502, description = "The relay could not be reached or answered wrongly",
            body = protocol::ErrorBody)))]
pub(super) async fn activate(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: ActivateRequest = parse_body(&body)?;
    match state.uplink.activate(request).await {
        Ok(status) => Ok(Json(status).into_response()),
        Err(error) => Err(api_error(&error)),
    }
}

fn api_error(error: &ActivateError) -> ApiError {
    let (status, field) = match error {
        ActivateError::BadRelayUrl(_) => (StatusCode::BAD_REQUEST, Some("relay")),
        ActivateError::WrongKey => (StatusCode::UNPROCESSABLE_ENTITY, Some("key")),
        ActivateError::Store(_) => {
            tracing::error!(error = %error, "uplink: activation not stored");
            (StatusCode::INTERNAL_SERVER_ERROR, None)
        }
        _ => (StatusCode::BAD_GATEWAY, None),
    };
    ApiError::with(status, error.code(), error.to_string(), field)
}

/// Connected or not, since when, the last error, the outbox's depth and oldest age.
#[utoipa::path(get, path = "/uplink/status", tag = "uplink",
    responses((status = 200, description = "The uplink's status", body = Object)))]
pub(super) async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status = state
        .uplink
        .status()
        .await
        .map_err(crate::engine::EngineError::from)?;
    Ok(Json(status).into_response())
}

/// Forgets the box's identity and drops the connection: 204 (also when there was none).
#[utoipa::path(post, path = "/uplink/deprovision", tag = "uplink",
    responses((status = 204, description = "The identity is forgotten")))]
pub(super) async fn deprovision(State(state): State<AppState>) -> Result<Response, ApiError> {
    state
        .uplink
        .deprovision()
        .await
        .map_err(crate::engine::EngineError::from)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
