//! `/api/v1/cameras`: add (checked against the device), list, show, change, delete, test,
//! a new password, a device tried before it is added, the latest keyframe.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{ApiError, AppState, parse_body};
use crate::{
    db::{Camera, CameraChange},
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

/// Every stored camera, as the database holds it.
pub(super) async fn stored(state: &AppState) -> Result<Vec<Camera>, ApiError> {
    let cameras = state.engine.db().cameras().await;
    Ok(cameras.map_err(crate::engine::EngineError::from)?)
}

/// Every camera, with its tracks' background indexing and its motion gates.
#[utoipa::path(get, path = "/cameras", tag = "cameras",
    responses((status = 200, description = "The cameras", body = [Object])))]
pub(super) async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let cameras = stored(&state).await?;
    let coverage = state.engine.coverage(None).await?;
    let mut views = Vec::with_capacity(cameras.len());
    for camera in cameras {
        views.push(view(&state.engine, camera, &coverage).await?);
    }
    Ok(Json(views).into_response())
}

/// Adds a camera after checking it against the device.
#[utoipa::path(post, path = "/cameras", tag = "cameras",
    request_body(content = Object, content_type = "application/json",
        description = "`{name, url, username, password, tracks?}`: `url` is the camera's or \
            NVR's `http://host:port`; `tracks` default to every enabled main-stream track"),
    responses(
        (status = 201, description = "Added", body = Object),
        (status = 400, description = "A malformed or refused field", body = protocol::ErrorBody),
        (status = 409, description = "A camera of that name is on the box",
            body = protocol::ErrorBody),
        (status = 502, description = "The device did not answer as it should \
            (`camera_unreachable`)", body = protocol::ErrorBody)))]
pub(super) async fn add(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: NewCameraRequest = parse_body(&body)?;
    let camera = state.engine.cameras().add_camera(request).await?;
    state.watch.check_now();
    Ok((StatusCode::CREATED, Json(camera)).into_response())
}

fn camera_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("camera {id} not found")))
}

/// One camera, with its tracks' background indexing and its motion gates.
#[utoipa::path(get, path = "/cameras/{id}", tag = "cameras",
    params(("id" = i64, Path, description = "The camera's id")),
    responses((status = 200, description = "The camera", body = Object),
        (status = 404, description = "No such camera", body = protocol::ErrorBody)))]
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

/// Deletes a camera, its index entries and its snapshots.
#[utoipa::path(delete, path = "/cameras/{id}", tag = "cameras",
    params(("id" = i64, Path, description = "The camera's id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such camera", body = protocol::ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .engine
        .cameras()
        .delete_camera(camera_id(&id)?)
        .await?;
    if let Ok(id) = camera_id(&id) {
        state.engine.forget_latest_frame(id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewPassword {
    password: String,
}

/// Checked against the device before it is stored.
#[utoipa::path(put, path = "/cameras/{id}/password", tag = "cameras",
    params(("id" = i64, Path, description = "The camera's id")),
    request_body(content = NewPassword, content_type = "application/json"),
    responses((status = 204, description = "Checked and stored"),
        (status = 400, description = "A malformed body, or the device refused the password",
            body = protocol::ErrorBody),
        (status = 404, description = "No such camera", body = protocol::ErrorBody),
        (status = 502, description = "The device did not answer (`camera_unreachable`)",
            body = protocol::ErrorBody)))]
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

/// Checks the camera against its device now.
#[utoipa::path(post, path = "/cameras/{id}/test", tag = "cameras",
    params(("id" = i64, Path, description = "The camera's id")),
    responses((status = 200, description = "What the check found", body = Object),
        (status = 404, description = "No such camera", body = protocol::ErrorBody)))]
pub(super) async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let check = state.engine.cameras().check_camera(camera_id(&id)?).await?;
    Ok(Json(check).into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ProbeRequest {
    url: String,
    username: String,
    password: String,
}

/// Tries a device before it is added: always 200, `{"ok": true, ...}` with what it is, or
/// `{"ok": false, "problem": ..., "message": ...}`.
#[utoipa::path(post, path = "/cameras/probe", tag = "cameras",
    request_body(content = ProbeRequest, content_type = "application/json"),
    responses((status = 200, description = "What the device is, or what is wrong with it",
        body = Object),
        (status = 400, description = "A malformed body", body = protocol::ErrorBody)))]
pub(super) async fn probe(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: ProbeRequest = parse_body(&body)?;
    let answer = state
        .engine
        .cameras()
        .probe(request.url.trim(), &request.username, &request.password)
        .await;
    Ok(Json(answer.to_json()).into_response())
}

/// Changes a camera's name, whether it is searched, or its tracks.
#[utoipa::path(patch, path = "/cameras/{id}", tag = "cameras",
    params(("id" = i64, Path, description = "The camera's id")),
    request_body(content = Object, content_type = "application/json",
        description = "`{name?, enabled?, tracks?}`"),
    responses((status = 200, description = "The changed camera", body = Object),
        (status = 400, description = "A malformed or refused field", body = protocol::ErrorBody),
        (status = 409, description = "Another camera has that name", body = protocol::ErrorBody),
        (status = 404, description = "No such camera", body = protocol::ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = camera_id(&id)?;
    let change: CameraChange = parse_body(&body)?;
    let camera = state.engine.cameras().update_camera(id, change).await?;
    state.watch.check_now();
    Ok(Json(camera).into_response())
}

/// The camera's latest keyframe the box decoded (JPEG); 404 before the first.
#[utoipa::path(get, path = "/cameras/{id}/snapshot.jpg", tag = "cameras",
    params(("id" = i64, Path, description = "The camera's id")),
    responses((status = 200, description = "The keyframe; `X-Keyframe-Time` says when it was \
            recorded", content(("image/jpeg"))),
        (status = 404, description = "No such camera, or no keyframe decoded yet",
            body = protocol::ErrorBody)))]
pub(super) async fn snapshot(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = camera_id(&id)?;
    let frame = state
        .engine
        .latest_frame(id)
        .ok_or_else(|| ApiError::not_found(format!("camera {id}: no keyframe decoded yet")))?;
    let time = jiff::Timestamp::from_millisecond(frame.time_ms)
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/jpeg".to_owned()),
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
            (axum::http::HeaderName::from_static("x-keyframe-time"), time),
        ],
        frame.jpeg.as_ref().clone(),
    )
        .into_response())
}
