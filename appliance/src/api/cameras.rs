//! `/api/v1/cameras`: add (checked against the device), list, show, delete, test.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{ApiError, AppState, parse_body};
use crate::engine::NewCameraRequest;

pub(super) async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let cameras = state
        .engine
        .db()
        .cameras()
        .await
        .map_err(crate::engine::EngineError::from)?;
    Ok(Json(cameras).into_response())
}

pub(super) async fn add(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: NewCameraRequest = parse_body(&body)?;
    let camera = state.engine.cameras().add_camera(request).await?;
    Ok((StatusCode::CREATED, Json(camera)).into_response())
}

fn camera_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("camera {id} not found")))
}

pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = camera_id(&id)?;
    match state
        .engine
        .db()
        .camera(id)
        .await
        .map_err(crate::engine::EngineError::from)?
    {
        Some(camera) => Ok(Json(camera).into_response()),
        None => Err(ApiError::not_found(format!("camera {id} not found"))),
    }
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .engine
        .cameras()
        .delete_camera(camera_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewPassword {
    password: String,
}

/// Checked against the device before it is stored.
pub(super) async fn password(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = camera_id(&id)?;
    let request: NewPassword = parse_body(&body)?;
    state
        .engine
        .cameras()
        .set_camera_password(id, &request.password)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let check = state.engine.cameras().check_camera(camera_id(&id)?).await?;
    Ok(Json(check).into_response())
}
