//! The gate in front of `/api/v1`: decides who a request comes from ([`Caller`]) and
//! refuses what it may not do. The rules (docs/design/0070-local-page.md):
//!
//! - `Authorization: Bearer <local token>` (the CLI): allowed, no CSRF token needed. Any
//!   other `Authorization` header is refused, not ignored.
//! - A live session cookie: allowed; a changing request (not GET or HEAD) must also carry
//!   the session's `X-CSRF-Token`.
//! - Nothing: only the open routes (health, the API's OpenAPI document, the session's state,
//!   sign-in and the first boot's step); everything else answers 401 `setup_required` before
//!   the first password is set, `unauthenticated` after.
//!
//! The document is open because it says nothing about the box (the same for every box of a
//! version) and an installer's tool reads it before anyone signs in. [`document`] writes these
//! rules into it: each operation's security requirements and its 401 and 403.

use axum::http::StatusCode;
use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, OpenApi, PathItem, Ref, RefOr, ResponseBuilder, path::Operation,
};

use super::{ApiError, AppState};
use crate::access::{CSRF_HEADER, Caller, SESSION_COOKIE, constant_time_eq};

/// Routes anyone may call (paths inside `/api/v1`).
fn is_open(method: &Method, path: &str) -> bool {
    matches!(
        (method, path),
        (&Method::GET, "/health")
            | (&Method::GET, "/openapi.json")
            | (&Method::GET, "/session")
            | (&Method::POST, "/session")
            | (&Method::POST, "/session/setup")
    )
}

/// Whether a request of `method` changes something, so that a session must show its CSRF
/// token (unless the route is open).
fn is_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

/// Writes the gate's rules into the API's document: the security schemes; on every operation
/// of `/api/v1` its 401 (a wrong `Authorization` header is refused even on the open routes);
/// on every operation but the open ones the credentials it takes (the local token, or a
/// session, with its CSRF token when the request changes something) and, when it changes
/// something, the 403 of a session without that token.
pub(super) fn document(doc: &mut OpenApi) {
    add_security_schemes(doc);
    for (path, item) in &mut doc.paths.paths {
        let Some(inner) = path.strip_prefix("/api/v1") else {
            continue;
        };
        for (method, operation) in operations(item) {
            let open = is_open(&method, inner);
            let changing = is_changing(&method);
            add_error(operation, "401", if open { BAD_TOKEN } else { REFUSED });
            if open {
                continue;
            }
            let session = if changing {
                SecurityRequirement::new("session", NO_SCOPES).add("csrf", NO_SCOPES)
            } else {
                SecurityRequirement::new("session", NO_SCOPES)
            };
            operation.security = Some(vec![
                SecurityRequirement::new("local_token", NO_SCOPES),
                session,
            ]);
            if changing {
                add_error(operation, "403", CSRF_FAILED);
            }
        }
    }
}

const NO_SCOPES: [&str; 0] = [];

const BAD_TOKEN: &str = "An `Authorization` header without this box's local token (`bad_token`)";
const REFUSED: &str = "No credentials (`setup_required` before the first password is set, \
    `unauthenticated` after), an ended session, or an `Authorization` header without this \
    box's local token (`bad_token`)";
const CSRF_FAILED: &str = "A session's request without the session's `X-CSRF-Token` \
    (`csrf_failed`)";

/// Each operation of a path with its method.
fn operations(item: &mut PathItem) -> Vec<(Method, &mut Operation)> {
    [
        (Method::GET, &mut item.get),
        (Method::POST, &mut item.post),
        (Method::PUT, &mut item.put),
        (Method::PATCH, &mut item.patch),
        (Method::DELETE, &mut item.delete),
        (Method::HEAD, &mut item.head),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
    .collect()
}

/// Adds a response of `status` with the error body, or adds `description` to the one the
/// operation describes itself.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    let responses = &mut operation.responses.responses;
    if let Some(RefOr::T(own)) = responses.get_mut(status) {
        let mut rest = description.chars();
        let first = rest.next().map(|c| c.to_ascii_lowercase());
        own.description = format!(
            "{}; or {}{}",
            own.description,
            first.unwrap_or(' '),
            rest.as_str()
        );
        return;
    }
    let error = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    responses.insert(status.to_owned(), RefOr::T(error));
}

/// The local token (`Authorization: Bearer`), the session cookie and its CSRF header.
fn add_security_schemes(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "local_token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The box's local token, `<data_dir>/local-token` (the CLI, root on the box)",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE,
            "A signed-in session of the local page (`POST /api/v1/session`)",
        ))),
    );
    components.add_security_scheme(
        "csrf",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            CSRF_HEADER,
            "The session's CSRF token (from signing in, or `GET /api/v1/session`), on every \
             request that changes something",
        ))),
    );
}

/// The value of the session cookie, if the request has one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    web_common::cookies(headers, SESSION_COOKIE)
        .next()
        .map(|value| value.trim_matches('"'))
}

/// Who is calling, as far as the headers say: `Ok(None)` for nobody signed in.
pub(crate) async fn caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Caller>, ApiError> {
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        let token = authorization
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        return match token {
            Some(token) if state.access.is_local_token(token) => Ok(Some(Caller::Local)),
            _ => Err(ApiError::with(
                StatusCode::UNAUTHORIZED,
                "bad_token",
                "the Authorization header does not carry this box's local token",
                None,
            )),
        };
    }
    let Some(cookie) = session_cookie(headers) else {
        return Ok(None);
    };
    let session = state
        .access
        .session(cookie)
        .await
        .map_err(crate::engine::EngineError::from)?;
    Ok(session.map(Caller::Session))
}

pub(super) async fn gate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let open = is_open(&method, request.uri().path());
    let caller = match caller(&state, request.headers()).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    match &caller {
        Some(Caller::Local) => {}
        Some(Caller::Session(session)) => {
            if is_changing(&method) && !open {
                let presented = request
                    .headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !constant_time_eq(presented.as_bytes(), session.csrf.as_bytes()) {
                    return ApiError::with(
                        StatusCode::FORBIDDEN,
                        "csrf_failed",
                        "this request lacks the session's X-CSRF-Token; reload the page",
                        None,
                    )
                    .into_response();
                }
            }
        }
        None if open => {}
        None => {
            let set = match state.access.password_set().await {
                Ok(set) => set,
                Err(e) => {
                    return ApiError::from(crate::engine::EngineError::from(e)).into_response();
                }
            };
            return if set {
                ApiError::with(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "sign in first (the local page), or use the local token (the dipper CLI on the box)",
                    None,
                )
            } else {
                ApiError::with(
                    StatusCode::UNAUTHORIZED,
                    "setup_required",
                    "the box has no administrator password yet: set it on the local page first",
                    None,
                )
            }
            .into_response();
        }
    }
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    next.run(request).await
}
