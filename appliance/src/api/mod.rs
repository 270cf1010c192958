//! The box's local HTTP API, under `/api/v1`: cameras, tasks (create, list, status, cancel,
//! results), snapshots, health, the uplink (activate, status); Prometheus metrics at `/metrics`. The CLI uses it, and so
//! will the local web page.
//!
//! Request bodies are parsed by hand from bytes so that every malformed body gets the API's
//! JSON error naming the field, not a framework's plain-text rejection. Routes:
//!
//! ```text
//! GET    /api/v1/health
//! GET    /api/v1/cameras                  POST /api/v1/cameras
//! GET    /api/v1/cameras/{id}             DELETE /api/v1/cameras/{id}
//! POST   /api/v1/cameras/{id}/test       PUT /api/v1/cameras/{id}/password
//! GET    /api/v1/tasks?state=&limit=&before=
//! POST   /api/v1/tasks                    (201, answers at once with the id)
//! GET    /api/v1/tasks/{id}               POST /api/v1/tasks/{id}/cancel
//! GET    /api/v1/tasks/{id}/results?after=&limit=
//! GET    /api/v1/matches/{id}/face.jpg    GET /api/v1/matches/{id}/frame.jpg
//! POST   /api/v1/uplink/activate          GET /api/v1/uplink/status
//! GET    /metrics
//! ```

mod cameras;
mod error;
mod faces;
mod gate;
mod health;
mod session;
mod settings;
mod status;
mod tasks;
mod uplink;
mod web;

use std::time::Instant;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, post, put},
};
use metrics_exporter_prometheus::PrometheusHandle;

pub(crate) use error::ApiError;

use crate::access::Access;
use crate::engine::Engine;
use crate::uplink::Uplink;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) access: Access,
    pub(crate) engine: Engine,
    /// Whether each camera answers, for the status view.
    pub(crate) watch: crate::status::CameraWatch,
    /// A setting was changed that waits for the next start.
    pub(crate) restart_needed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(crate) uplink: Uplink,
    pub(crate) metrics: Option<PrometheusHandle>,
    pub(crate) started: Instant,
}

/// Bodies larger than this are refused (a photo of up to 20 MiB, base64).
const BODY_LIMIT: usize = 28 * 1024 * 1024;

pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(health::health))
        .route(
            "/session",
            get(session::show)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route("/session/setup", post(session::setup))
        .route("/session/password", put(session::change_password))
        .route("/cameras", get(cameras::list).post(cameras::add))
        .route("/cameras/probe", post(cameras::probe))
        .route(
            "/cameras/{id}",
            get(cameras::show)
                .delete(cameras::delete)
                .patch(cameras::update),
        )
        .route("/cameras/{id}/snapshot.jpg", get(cameras::snapshot))
        .route("/cameras/{id}/test", post(cameras::test))
        .route("/cameras/{id}/password", put(cameras::password))
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/{id}", get(tasks::show))
        .route("/tasks/{id}/cancel", post(tasks::cancel))
        .route("/tasks/{id}/results", get(tasks::results))
        .route("/matches/{id}/{file}", get(tasks::snapshot))
        .route("/uplink/activate", post(uplink::activate))
        .route("/uplink/status", get(uplink::status))
        .route("/uplink/deprovision", post(uplink::deprovision))
        .route("/faces", post(faces::faces))
        .route("/status", get(status::show))
        .route("/status/events", get(status::events))
        .route("/settings", get(settings::show).put(settings::change))
        .route("/diagnostics", get(settings::diagnostics))
        .fallback(|| async { ApiError::not_found("no such API route") })
        .route_layer(middleware::from_fn_with_state(state.clone(), gate::gate));
    Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(health::metrics))
        .route("/", get(web::index))
        .route("/assets/{*name}", get(web::file))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::map_response(too_large_as_json))
        .layer(middleware::from_fn(web::security_headers))
        .with_state(state)
}

/// The body limit's refusal (axum's plain text) as the API's JSON error.
async fn too_large_as_json(response: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != axum::http::StatusCode::PAYLOAD_TOO_LARGE || json {
        return response;
    }
    ApiError::with(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the request body is larger than {} MiB", BODY_LIMIT >> 20),
        None,
    )
    .into_response()
}

/// Parses a JSON body; the error names the field and the problem.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::invalid("the request needs a JSON body"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::invalid(format!("body: {inner}"))
        } else {
            ApiError::invalid(format!("{path}: {inner}"))
        }
    })
}
