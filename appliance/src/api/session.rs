//! `/api/v1/session`: the first boot's password, signing in and out, changing the password.
//! Bodies must be JSON (`content-type: application/json`), which a form on another site
//! cannot send, so signing in cannot be forged either.

use axum::{
    Extension, Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, AppState, parse_body};
use crate::access::{AccessError, Caller, NewSession, SESSION_COOKIE, sessions_max_age_seconds};

#[derive(Serialize, ToSchema)]
pub(super) struct SessionState {
    password_set: bool,
    signed_in: bool,
    /// The token every changing request of this session must carry as `X-CSRF-Token`.
    csrf: Option<String>,
}

/// Whether a password is set and whether the caller is signed in (with its CSRF token).
#[utoipa::path(get, path = "/session", tag = "session",
    responses((status = 200, description = "The caller's session", body = SessionState)))]
pub(super) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let password_set = state
        .access
        .password_set()
        .await
        .map_err(crate::engine::EngineError::from)?;
    let caller = super::gate::caller(&state, &headers).await.ok().flatten();
    let (signed_in, csrf) = match caller {
        Some(Caller::Session(session)) => (true, Some(session.csrf)),
        Some(Caller::Local) => (true, None),
        None => (false, None),
    };
    Ok(Json(SessionState {
        password_set,
        signed_in,
        csrf,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordBody {
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeBody {
    current: String,
    new: String,
}

/// A new session's CSRF token; the session itself is in the `Set-Cookie` cookie.
#[derive(Serialize, ToSchema)]
pub(super) struct SignedIn {
    csrf: String,
}

/// The first boot's step: 201 and signed in; 409 once a password is set.
#[utoipa::path(post, path = "/session/setup", tag = "session",
    request_body(content = PasswordBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The password is set and the caller signed in",
            body = SignedIn),
        (status = 400, description = "A malformed body", body = protocol::ErrorBody),
        (status = 409, description = "A password is already set (`already_set`)",
            body = protocol::ErrorBody),
        (status = 415, description = "The body is not JSON", body = protocol::ErrorBody),
        (status = 422, description = "The password is too weak (`weak_password`)",
            body = protocol::ErrorBody)))]
pub(super) async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let access = &state.access;
    let first = async |password| access.set_first_password(password).await;
    let response = open_session(&headers, &body, StatusCode::CREATED, first).await?;
    tracing::info!("local page: the administrator password was set (first boot)");
    Ok(response)
}

/// Signs in with the password: a new session.
#[utoipa::path(post, path = "/session", tag = "session",
    request_body(content = PasswordBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = SignedIn),
        (status = 400, description = "A malformed body", body = protocol::ErrorBody),
        (status = 401, description = "A wrong password (`wrong_password`), or none is set \
            yet (`setup_required`)", body = protocol::ErrorBody),
        (status = 415, description = "The body is not JSON", body = protocol::ErrorBody),
        (status = 429, description = "Too many failed sign-ins (`locked`); see Retry-After",
            body = protocol::ErrorBody)))]
pub(super) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let access = &state.access;
    let sign_in = async |password| access.sign_in(password).await;
    open_session(&headers, &body, StatusCode::OK, sign_in).await
}

/// Opens a session with the password of a `{"password": …}` body: `status`, signed in.
async fn open_session(
    headers: &HeaderMap,
    body: &[u8],
    status: StatusCode,
    open: impl AsyncFnOnce(String) -> Result<NewSession, AccessError>,
) -> Result<Response, ApiError> {
    let body: PasswordBody = json_body(headers, body)?;
    let session = open(body.password).await.map_err(access_error)?;
    Ok(signed_in(status, headers, &session))
}

/// Signs out: ends the caller's session (nothing to end for the local token).
#[utoipa::path(delete, path = "/session", tag = "session",
    responses((status = 204, description = "Signed out; the cookie is cleared")))]
pub(super) async fn sign_out(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(Extension(Caller::Session(session))) = caller {
        state
            .access
            .sign_out(&session)
            .await
            .map_err(crate::engine::EngineError::from)?;
    }
    Ok(signed_out(&headers))
}

/// 204; every session ends, this one too.
#[utoipa::path(put, path = "/session/password", tag = "session",
    request_body(content = ChangeBody, content_type = "application/json"),
    responses(
        (status = 204, description = "Changed; every session ended"),
        (status = 400, description = "A malformed body", body = protocol::ErrorBody),
        (status = 403, description = "The current password is not right (`wrong_password`)",
            body = protocol::ErrorBody),
        (status = 415, description = "The body is not JSON", body = protocol::ErrorBody),
        (status = 422, description = "The new password is too weak (`weak_password`)",
            body = protocol::ErrorBody),
        (status = 429, description = "Too many failed sign-ins (`locked`); see Retry-After",
            body = protocol::ErrorBody)))]
pub(super) async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ChangeBody = json_body(&headers, &body)?;
    state
        .access
        .change_password(body.current, body.new)
        .await
        .map_err(|e| match e {
            AccessError::WrongPassword => ApiError::with(
                StatusCode::FORBIDDEN,
                "wrong_password",
                "the current password is not right",
                Some("current"),
            ),
            AccessError::Weak(why) => ApiError::with(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                format!("the new password is too weak: {why}"),
                Some("new"),
            ),
            other => access_error(other),
        })?;
    tracing::info!("local page: the administrator password was changed; every session ended");
    Ok(signed_out(&headers))
}

/// 204 with the session cookie cleared.
fn signed_out(headers: &HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie_header(headers, "", 0));
    response
}

/// A JSON body (refused unless sent as JSON), parsed.
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    require_json(headers)?;
    parse_body(body)
}

fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::with(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON (content-type: application/json)",
            None,
        ))
    }
}

fn signed_in(status: StatusCode, headers: &HeaderMap, session: &NewSession) -> Response {
    let body = SignedIn {
        csrf: session.csrf.clone(),
    };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie_header(headers, &session.cookie, sessions_max_age_seconds()),
    );
    response
}

/// The session cookie: HttpOnly, SameSite=Strict, Path=/, and Secure when the page was
/// reached over HTTPS (a TLS proxy in front says so; a false claim only hides the cookie
/// from plain HTTP, so it cannot weaken anything).
fn cookie_header(request: &HeaderMap, value: &str, max_age: u64) -> HeaderValue {
    let https = request
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
        || request
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("https://"));
    let secure = if https { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a cookie of base64url characters")
}

fn access_error(error: AccessError) -> ApiError {
    match error {
        AccessError::AlreadySet => ApiError::with(
            StatusCode::CONFLICT,
            "already_set",
            "the administrator password is already set; sign in instead",
            None,
        ),
        AccessError::NotSet => ApiError::with(
            StatusCode::UNAUTHORIZED,
            "setup_required",
            "the box has no administrator password yet: set it first",
            None,
        ),
        AccessError::Weak(why) => ApiError::with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            format!("the password is too weak: {why}"),
            Some("password"),
        ),
        AccessError::WrongPassword => ApiError::with(
            StatusCode::UNAUTHORIZED,
            "wrong_password",
            "wrong password",
            Some("password"),
        ),
        AccessError::Throttled {
            retry_after_seconds,
        } => ApiError::with(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            format!("too many failed sign-ins: try again in {retry_after_seconds} s"),
            None,
        )
        .retry_after(retry_after_seconds),
        AccessError::Db(e) => crate::engine::EngineError::from(e).into(),
        AccessError::Hash(why) => {
            tracing::error!(error = %why, "local page: password hashing failed");
            ApiError::with(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the password could not be checked",
                None,
            )
        }
    }
}
