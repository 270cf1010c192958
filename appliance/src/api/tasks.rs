//! `/api/v1/tasks`: create (validated and stored, answered at once), list, status,
//! cancel, results; `/api/v1/matches/{id}/face.jpg|frame.jpg`: a match's snapshots.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState, parse_body};
use crate::engine::{MatchRow, Snapshot, TaskRequest, TaskState};

/// `POST /api/v1/tasks`: the body is a [`TaskRequest`], checked by the engine.
#[utoipa::path(post, path = "/tasks", tag = "tasks",
    request_body(content = Object, content_type = "application/json",
        description = "`{from, to, cameras?, priority?, match_distance?, photo?, embedding?, \
            more_embeddings?}`: RFC 3339 instants, camera ids (none: every enabled camera), \
            0 (an operator waits) to 5, and the person as a photo (JPEG or PNG, base64) or \
            face embeddings"),
    responses(
        (status = 201, description = "Stored and queued: `{id, state}`; `Location` names it",
            body = Object),
        (status = 400, description = "A malformed or refused field (a camera not on the box \
            among them)", body = protocol::ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: TaskRequest = parse_body(&body)?;
    let id = state.engine.create_task(request).await?;
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

/// The tasks, newest first, a page at a time.
#[utoipa::path(get, path = "/tasks", tag = "tasks",
    params(
        ("state" = Option<String>, Query,
            description = "Only tasks in this state: queued, running, done, failed, cancelled"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 500, default 50)"),
        ("before" = Option<String>, Query, description = "The last id of the previous page")),
    responses((status = 200, description = "The tasks", body = [Object]),
        (status = 400, description = "A malformed query", body = protocol::ErrorBody)))]
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

/// A task's state, counters and progress.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    responses((status = 200, description = "The task", body = Object),
        (status = 404, description = "No such task", body = protocol::ErrorBody)))]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.engine.task_status(&id).await?).into_response())
}

/// Cancels a queued or running task (again: the same answer).
#[utoipa::path(post, path = "/tasks/{id}/cancel", tag = "tasks",
    params(("id" = String, Path, description = "The task's id")),
    responses((status = 200, description = "Cancelled: the task", body = Object),
        (status = 404, description = "No such task", body = protocol::ErrorBody),
        (status = 409, description = "The task is already done or failed",
            body = protocol::ErrorBody)))]
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

/// A task's matches in the order found, a page at a time, with their snapshots' URLs.
#[utoipa::path(get, path = "/tasks/{id}/results", tag = "tasks",
    params(("id" = String, Path, description = "The task's id"),
        ("after" = Option<i64>, Query, description = "The last match id already seen"),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 100)")),
    responses((status = 200, description = "`{matches, next_after}`", body = Object),
        (status = 400, description = "A malformed query", body = protocol::ErrorBody),
        (status = 404, description = "No such task", body = protocol::ErrorBody)))]
pub(super) async fn results(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<ResultsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let matches = state
        .engine
        .matches(&id, query.after.unwrap_or(0), limit)
        .await?;
    let next_after = matches.last().map(|m| m.id);
    let matches: Vec<MatchWithSnapshots> = matches.into_iter().map(with_snapshots).collect();
    Ok(Json(serde_json::json!({ "matches": matches, "next_after": next_after })).into_response())
}

/// A match as the API shows it: its snapshots as URLs on this API.
#[derive(Debug, Serialize)]
struct MatchWithSnapshots {
    #[serde(flatten)]
    found: MatchRow,
    face_snapshot: String,
    frame_snapshot: String,
}

fn with_snapshots(found: MatchRow) -> MatchWithSnapshots {
    MatchWithSnapshots {
        face_snapshot: format!("/api/v1/matches/{}/face.jpg", found.id),
        frame_snapshot: format!("/api/v1/matches/{}/frame.jpg", found.id),
        found,
    }
}

/// A match's snapshot: the face (`face.jpg`) or the whole keyframe (`frame.jpg`).
#[utoipa::path(get, path = "/matches/{id}/{file}", tag = "tasks",
    params(("id" = i64, Path, description = "The match's id"),
        ("file" = String, Path, description = "`face.jpg` or `frame.jpg`")),
    responses((status = 200, description = "The snapshot", content(("image/jpeg"))),
        (status = 404, description = "No such match or file", body = protocol::ErrorBody)))]
pub(super) async fn snapshot(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("no snapshot {file} for match {id}"));
    let match_id: i64 = id.parse().map_err(|_| not_found())?;
    let which = match file.as_str() {
        "face.jpg" => Snapshot::Face,
        "frame.jpg" => Snapshot::Frame,
        _ => return Err(not_found()),
    };
    let path = state.engine.snapshot_path(match_id, which).await?;
    let bytes = tokio::fs::read(path).await.map_err(|_| not_found())?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response())
}
