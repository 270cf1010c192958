//! `/api/v1/tasks`: create (validated and stored, answered at once), list, status,
//! cancel, results; `/api/v1/matches/{id}/face.jpg|frame.jpg`: a match's snapshots.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde::Deserialize;

use super::{ApiError, AppState, parse_body};
use crate::engine::{TaskRequest, TaskState};

/// `POST /api/v1/tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTask {
    /// RFC 3339 instants, e.g. `2026-11-25T08:00:00+08:00`.
    from: String,
    to: String,
    /// Camera ids; empty or absent: every enabled camera.
    #[serde(default)]
    cameras: Vec<i64>,
    /// 0 (an operator is waiting) to 5 (backfill). Default 1.
    #[serde(default = "default_priority")]
    priority: u8,
    /// Default: the box's `search.match_distance`.
    #[serde(default)]
    match_distance: Option<f32>,
    /// The person's photo, JPEG or PNG, base64.
    #[serde(default)]
    photo: Option<String>,
    /// Or their face embedding.
    #[serde(default)]
    embedding: Option<EmbeddingBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddingBody {
    model: String,
    values: Vec<f32>,
}

fn default_priority() -> u8 {
    1
}

fn instant(field: &str, text: &str) -> Result<i64, ApiError> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| ApiError::invalid(format!("{field}: not an RFC 3339 time ({e})")))
}

pub(super) async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateTask = parse_body(&body)?;
    let photo = match &request.photo {
        Some(text) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|e| ApiError::invalid(format!("photo: not base64 ({e})")))?,
        ),
        None => None,
    };
    let id = state
        .engine
        .create_task(TaskRequest {
            from_ms: instant("from", &request.from)?,
            to_ms: instant("to", &request.to)?,
            cameras: request.cameras,
            priority: request.priority,
            match_distance: request.match_distance,
            photo,
            embedding: request.embedding.map(|e| (e.model, e.values)),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/tasks/{id}"))],
        Json(serde_json::json!({ "id": id, "state": "queued" })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    state: Option<String>,
    limit: Option<u32>,
    /// The last id of the previous page.
    before: Option<String>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let wanted = match &query.state {
        Some(s) => Some(TaskState::parse(s).ok_or_else(|| {
            ApiError::invalid(format!(
                "state: {s:?} is not one of queued, running, done, failed, cancelled"
            ))
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let tasks = state.engine.tasks(wanted, limit, query.before).await?;
    Ok(Json(tasks).into_response())
}

pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.engine.task_status(&id).await?).into_response())
}

pub(super) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.engine.cancel_task(&id).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResultsQuery {
    /// The last match id already seen.
    after: Option<i64>,
    limit: Option<u32>,
}

pub(super) async fn results(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ResultsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let mut matches = state
        .engine
        .matches(&id, query.after.unwrap_or(0), limit)
        .await?;
    // Snapshot paths as files on this box, for the CLI and on-site staff.
    let data_dir = state.engine.data_dir();
    for m in &mut matches {
        m.face_snapshot = data_dir.join(&m.face_snapshot).display().to_string();
        m.frame_snapshot = data_dir.join(&m.frame_snapshot).display().to_string();
    }
    let next_after = matches.last().map(|m| m.id);
    Ok(Json(serde_json::json!({ "matches": matches, "next_after": next_after })).into_response())
}

pub(super) async fn snapshot(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("no snapshot {file} for match {id}"));
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let found = state.engine.match_by_id(id).await?;
    let relative = match file.as_str() {
        "face.jpg" => found.face_snapshot,
        "frame.jpg" => found.frame_snapshot,
        _ => return Err(not_found()),
    };
    let bytes = tokio::fs::read(state.engine.data_dir().join(&relative))
        .await
        .map_err(|_| not_found())?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response())
}
