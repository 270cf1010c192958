//! The box's local HTTP API, under `/api/v1`: cameras, tasks (create, list, status, cancel,
//! results), snapshots, health, the uplink (activate, status), the local page's session,
//! status and settings; Prometheus metrics at `/metrics`. The CLI and the local page use it.
//!
//! Every route of `/api/v1` (and `/metrics`) is registered through `utoipa_axum` from its
//! handler's `#[utoipa::path]`, so a route cannot exist without its entry in the OpenAPI
//! document served at `GET /api/v1/openapi.json` ([`openapi`]); the gate's rules
//! (`gate.rs`) are written into that document too (who may call each operation, its 401 and
//! 403), and `appliance/tests/authorization.rs` calls every operation as every kind of
//! caller against the table `appliance/tests/authorization.tsv`.
//!
//! Request bodies are parsed by hand from bytes so that every malformed body gets the API's
//! JSON error naming the field, not a framework's plain-text rejection. Routes (open: no
//! sign-in needed; every other one needs the local token or a session):
//!
//! ```text
//! GET    /api/v1/health                   (open)
//! GET    /api/v1/openapi.json             (open: this API's document)
//! GET    /api/v1/session                  (open)  POST /api/v1/session (open: sign in)
//! DELETE /api/v1/session                  POST /api/v1/session/setup (open: first boot)
//! PUT    /api/v1/session/password
//! GET    /api/v1/cameras                  POST /api/v1/cameras
//! POST   /api/v1/cameras/probe
//! GET    /api/v1/cameras/{id}             DELETE /api/v1/cameras/{id}
//! PATCH  /api/v1/cameras/{id}             GET /api/v1/cameras/{id}/snapshot.jpg
//! POST   /api/v1/cameras/{id}/test        PUT /api/v1/cameras/{id}/password
//! GET    /api/v1/tasks?state=&limit=&before=
//! POST   /api/v1/tasks                    (201, answers at once with the id)
//! GET    /api/v1/tasks/{id}               POST /api/v1/tasks/{id}/cancel
//! GET    /api/v1/tasks/{id}/results?after=&limit=
//! GET    /api/v1/matches/{id}/face.jpg    GET /api/v1/matches/{id}/frame.jpg
//! POST   /api/v1/uplink/activate          GET /api/v1/uplink/status
//! POST   /api/v1/uplink/deprovision
//! POST   /api/v1/faces
//! GET    /api/v1/status                   GET /api/v1/status/events
//! GET    /api/v1/settings                 PUT /api/v1/settings
//! GET    /api/v1/diagnostics
//! GET    /metrics                         (open, outside the gate)
//! ```
//!
//! `/` and `/assets/{name}` serve the local page's files (`web.rs`); they are not API
//! routes and not in the document.

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

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::{Router, extract::DefaultBodyLimit, middleware, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa_axum::{router::OpenApiRouter, routes};

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

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Dipper box",
        description = "The local API of a Dipper box: cameras, searches (tasks) and their \
            matches, the uplink to the relay, the local page's session, status and settings.",
        version = "1"
    ),
    components(schemas(protocol::ErrorBody))
)]
struct ApiDoc;

/// Every route under `/api/v1` (paths relative to it), each from its handler's
/// `#[utoipa::path]`.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::openapi_json))
        .routes(routes!(session::show, session::sign_in, session::sign_out))
        .routes(routes!(session::setup))
        .routes(routes!(session::change_password))
        .routes(routes!(cameras::list, cameras::add))
        .routes(routes!(cameras::probe))
        .routes(routes!(cameras::show, cameras::delete, cameras::update))
        .routes(routes!(cameras::snapshot))
        .routes(routes!(cameras::test))
        .routes(routes!(cameras::password))
        .routes(routes!(tasks::list, tasks::create))
        .routes(routes!(tasks::show))
        .routes(routes!(tasks::cancel))
        .routes(routes!(tasks::results))
        .routes(routes!(tasks::snapshot))
        .routes(routes!(uplink::activate))
        .routes(routes!(uplink::status))
        .routes(routes!(uplink::deprovision))
        .routes(routes!(faces::faces))
        .routes(routes!(status::show))
        .routes(routes!(status::events))
        .routes(routes!(settings::show, settings::change))
        .routes(routes!(settings::diagnostics))
}

/// `api` under `/api/v1`, beside `/metrics` (outside the gate).
fn with_root(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api)
        .routes(routes!(health::metrics))
}

/// The OpenAPI document of every route, with the gate's rules written in.
pub(crate) fn openapi() -> Arc<OpenApiDoc> {
    static DOC: OnceLock<Arc<OpenApiDoc>> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = with_root(api_routes()).split_for_parts().1;
        gate::document(&mut doc);
        Arc::new(doc)
    })
    .clone()
}

pub(crate) fn router(state: AppState) -> Router {
    let api = api_routes()
        .fallback(|| async { ApiError::not_found("no such API route") })
        .route_layer(middleware::from_fn_with_state(state.clone(), gate::gate));
    let (routes, _) = with_root(api).split_for_parts();
    routes
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
