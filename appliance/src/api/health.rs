//! `GET /api/v1/health` and `GET /metrics`.

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
