//! The gate in front of `/api/v1`: decides who a request comes from ([`Caller`]) and
//! refuses what it may not do. The rules (docs/design/0070-local-page.md):
//!
//! - `Authorization: Bearer <local token>` (the CLI): allowed, no CSRF token needed. Any
//!   other `Authorization` header is refused, not ignored.
//! - A live session cookie: allowed; a changing request (not GET or HEAD) must also carry
//!   the session's `X-CSRF-Token`.
//! - Nothing: only the open routes (health, the session's state, sign-in and the first
//!   boot's step); everything else answers 401 `setup_required` before the first password is
//!   set, `unauthenticated` after.

use axum::http::StatusCode;
use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{ApiError, AppState};
use crate::access::{CSRF_HEADER, Caller, SESSION_COOKIE, constant_time_eq};

/// Routes anyone may call (paths inside `/api/v1`).
fn is_open(method: &Method, path: &str) -> bool {
    matches!(
        (method, path),
        (&Method::GET, "/health")
            | (&Method::GET, "/session")
            | (&Method::POST, "/session")
            | (&Method::POST, "/session/setup")
    )
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
            let safe = matches!(method, Method::GET | Method::HEAD);
            if !safe && !open {
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
