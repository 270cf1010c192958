//! `/api/v1/cameras`: add (checked against the device), list, show, delete, test.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{ApiError, AppState, parse_body};
use crate::{
    db::Camera,
    engine::{Coverage, Engine, GateView, NewCameraRequest},
};

/// A camera with its tracks' background indexing and its motion gates.
#[derive(serde::Serialize)]
struct CameraView {
    #[serde(flatten)]
    camera: Camera,
    indexing: Vec<TrackIndexing>,
    /// How its motion gates stand; null when gating is off.
    motion_gate: Option<GateView>,
}

/// A track's background indexing, with its lag behind now.
#[derive(serde::Serialize)]
struct TrackIndexing {
    #[serde(flatten)]
    coverage: Coverage,
    /// Seconds between now and the newest footage indexed.
    lag_seconds: f64,
}

async fn view(
    engine: &Engine,
    camera: Camera,
    coverage: &[Coverage],
) -> Result<CameraView, ApiError> {
    let now = jiff::Timestamp::now().as_millisecond();
    let indexing = coverage
        .iter()
        .filter(|c| c.camera_id == camera.id)
        .map(|c| TrackIndexing {
            lag_seconds: c.lag_seconds(now),
            coverage: c.clone(),
        })
        .collect();
    let motion_gate = engine.gate_view(camera.id).await?;
    Ok(CameraView {
        camera,
        indexing,
        motion_gate,
    })
}

pub(super) async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let cameras = state
        .engine
        .db()
        .cameras()
        .await
        .map_err(crate::engine::EngineError::from)?;
    let coverage = state.engine.coverage(None).await?;
    let mut views = Vec::with_capacity(cameras.len());
    for camera in cameras {
        views.push(view(&state.engine, camera, &coverage).await?);
    }
    Ok(Json(views).into_response())
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
        Some(camera) => {
            let coverage = state.engine.coverage(Some(id)).await?;
            Ok(Json(view(&state.engine, camera, &coverage).await?).into_response())
        }
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
