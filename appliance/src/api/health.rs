//! `GET /api/v1/health`, `GET /api/v1/openapi.json` and `GET /metrics`.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::AppState;
use crate::engine::DiskStatus;

#[derive(Debug, Serialize)]
pub(crate) struct Health {
    /// `ok`, or `degraded` with the reasons in `problems`.
    status: &'static str,
    problems: Vec<&'static str>,
    version: &'static str,
    uptime_seconds: u64,
    disk: DiskStatus,
    /// Recordings waiting for disk space before they download or write anything.
    waiting_for_space: u64,
    database: &'static str,
    tasks_running: usize,
    index_entries: u64,
}

/// The box's health: disk, database, tasks running, the index's size.
#[utoipa::path(get, path = "/health", tag = "box",
    responses((status = 200, body = Object,
        description = "The box's health: `ok`, or `degraded` with its problems (still 200, so \
            a probe can read why)")))]
pub(super) async fn health(State(state): State<AppState>) -> Response {
    let engine = &state.engine;
    let disk = engine.disk().status();
    let database = match engine
        .db()
        .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await
    {
        Ok(_) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "health: database check failed");
            "unavailable"
        }
    };
    let mut problems = Vec::new();
    if disk.full {
        problems.push("disk_full");
    }
    if database != "ok" {
        problems.push("database_unavailable");
    }
    let health = Health {
        status: if problems.is_empty() {
            "ok"
        } else {
            "degraded"
        },
        problems,
        version: crate::update::running_version(),
        uptime_seconds: state.started.elapsed().as_secs(),
        disk,
        waiting_for_space: engine.disk().waiting(),
        database,
        tasks_running: engine.running_tasks(),
        index_entries: engine.index_entries(),
    };
    // Degraded is still an answer: 200, so a probe can read why.
    Json(health).into_response()
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "box",
    responses((status = 200, description = "The OpenAPI 3 document", body = Object)))]
pub(super) async fn openapi_json() -> Response {
    let doc = super::openapi();
    Json(&*doc).into_response()
}

/// Prometheus metrics, open to the LAN (counts only).
#[utoipa::path(get, path = "/metrics", tag = "box",
    responses(
        (status = 200, description = "Prometheus metrics (text exposition format)",
            body = String, content_type = "text/plain"),
        (status = 404, description = "Metrics are not enabled in this process",
            body = String, content_type = "text/plain")))]
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "metrics are not enabled in this process",
        )
            .into_response(),
    }
}
