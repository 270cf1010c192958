//! Request extractors whose rejections are [`ApiError`]s naming the field at fault: a JSON
//! body (`ApiJson`), path parameters (`ApiPath`) and a query string (`ApiQuery`).
//!
//! Bodies are read whole (bounded by the router's body limit) and deserialized with
//! `serde_path_to_error`, so an unknown, missing or repeated field, a wrong type or a value a
//! type refuses comes back as 400 with the path of the field, never as a 500. The messages
//! are the relay's own ([`field_problem`]): what the field must be, never the parser's text
//! or the value the client sent.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// A JSON request body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json(req.headers())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection {
                BytesRejection::FailedToBufferBody(ref e)
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        ErrorCode::BodyTooLarge,
                        "the request body is larger than the relay accepts",
                    )
                }
                other => {
                    tracing::debug!(error = %other, "request body unreadable");
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::BadBody,
                        "the request body could not be read",
                    )
                }
            })?;
        // Every body of the API is an object; serde would also read a struct from an array
        // (`[null, null]` as its fields in order), which no client means.
        if bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b != b'{')
        {
            return Err(problem_error(
                ErrorCode::InvalidField,
                "",
                "must be a JSON object",
                "body",
            ));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// 415 unless the request says its body is JSON (`application/json` or `application/*+json`).
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/json")
                || (v.starts_with("application/") && v.ends_with("+json"))
        });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "the body must be JSON, sent with Content-Type: application/json",
        ))
    }
}

/// A body read whole up to `limit` bytes, for the routes whose bodies may exceed the
/// router's limit (a photo); 413 with `too_large` past it.
pub async fn body_up_to(
    body: axum::body::Body,
    limit: usize,
    too_large: impl FnOnce() -> String,
) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            too_large(),
        )
    })
}

/// Deserializes `bytes`, naming the field at fault on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_eof() {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedJson,
                "the body ends before its JSON is complete",
            );
        }
        if inner.is_syntax() || inner.is_io() {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedJson,
                format!(
                    "the body is not valid JSON (line {}, column {})",
                    inner.line(),
                    inner.column()
                ),
            );
        }
        let message = inner.to_string();
        // serde_json appends where it was; the path says it better.
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(text, _)| text);
        problem_error(ErrorCode::InvalidField, &path, message, "body")
    })
}

/// What was wrong with a field, in the relay's words: a code, a message and the name of the
/// field when serde's message names one (a missing, unknown or repeated field).
///
/// `message` is serde's text, whose forms are fixed by serde's `de::Error`; the value the
/// client sent, which some of them quote, is never carried over. Messages of the relay's own
/// checks (`api::types`) all start with "must" and are kept as they are.
pub fn field_problem(message: &str) -> (ErrorCode, String, Option<String>) {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('`'))
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_owned())
    };
    if let Some(name) = named("missing field ") {
        return (
            ErrorCode::MissingField,
            "this field is required".to_owned(),
            Some(name),
        );
    }
    if let Some(name) = named("duplicate field ") {
        return (
            ErrorCode::DuplicateField,
            "this field is given more than once".to_owned(),
            Some(name),
        );
    }
    if let Some(name) = named("unknown field ") {
        return (
            ErrorCode::UnknownField,
            "there is no such field".to_owned(),
            Some(name),
        );
    }
    if message.starts_with("must ") {
        return (ErrorCode::InvalidField, message.to_owned(), None);
    }
    if message.starts_with("unknown variant ") {
        // "unknown variant `x`, expected one of `a`, `b`": the accepted values are ours.
        let accepted = message
            .split_once(", expected ")
            .map(|(_, expected)| expected.trim_start_matches("one of "));
        let text = match accepted {
            Some(list) => format!("must be one of {}", list.replace('`', "")),
            None => "must be one of the values the document lists".to_owned(),
        };
        return (ErrorCode::InvalidField, text, None);
    }
    let expected = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.rsplit_once(", expected "))
        .map(|(_, expected)| expected);
    let text = match expected {
        _ if message.contains("UUID") => "must be a UUID",
        Some(e) if e.contains("UUID") || e.contains("uuid") => "must be a UUID",
        Some("a string" | "a borrowed string") => "must be a string",
        Some("a boolean") => "must be true or false",
        Some("u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize") => {
            "must be a whole number in range"
        }
        Some(e) if e.starts_with("struct ") || e == "a map" => "must be a JSON object",
        Some(e) if e.starts_with("a sequence") || e.starts_with("tuple") => "must be a JSON array",
        _ if message.starts_with("invalid length ") => "has the wrong number of items",
        _ if message.contains("digit") || message.contains("integer") => {
            "must be a whole number in range"
        }
        _ => "has a value this field does not accept",
    };
    (ErrorCode::InvalidField, text.to_owned(), None)
}

/// An [`ApiError`] for a field problem at `path` (`.` for the whole document).
fn problem_error(default: ErrorCode, path: &str, message: &str, whole: &str) -> ApiError {
    let (code, text, named) = field_problem(message);
    // A query keeps its one code; a body's is more precise when serde says more.
    let code = if code == ErrorCode::InvalidField || default == ErrorCode::InvalidQuery {
        default
    } else {
        code
    };
    let field = match (path, named) {
        ("." | "", Some(name)) => Some(name),
        (path, Some(name)) if !path.ends_with(&format!(".{name}")) && path != name => {
            Some(format!("{path}.{name}"))
        }
        ("." | "", None) => None,
        (path, _) => Some(path.to_owned()),
    };
    let text = match (&field, code) {
        (None, ErrorCode::InvalidField | ErrorCode::InvalidQuery) => {
            format!("the {whole} {text}")
        }
        _ => text,
    };
    let error = ApiError::new(StatusCode::BAD_REQUEST, code, text);
    match field {
        Some(field) => error.with_field(field),
        None => error,
    }
}

/// Path parameters; a malformed one (say, an id that is not a UUID) is a 400 naming it.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                use axum::extract::path::ErrorKind;
                let kind = e.into_kind();
                let (field, uuid) = match &kind {
                    ErrorKind::ParseErrorAtKey {
                        key, expected_type, ..
                    } => (Some(key.clone()), expected_type.contains("Uuid")),
                    ErrorKind::DeserializeError { key, message, .. } => {
                        (Some(key.clone()), message.contains("UUID"))
                    }
                    ErrorKind::InvalidUtf8InPathParam { key } => (Some(key.clone()), false),
                    _ => (None, false),
                };
                tracing::debug!(error = %kind, "path refused");
                let message = if uuid {
                    "must be a UUID"
                } else {
                    "has a value this path does not accept"
                };
                let error = ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidPath, message);
                Err(match field {
                    Some(field) => error.with_field(field),
                    None => error,
                })
            }
            Err(other) => {
                tracing::debug!(error = %other, "path refused");
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidPath,
                    "the path is not one this route accepts",
                ))
            }
        }
    }
}

/// A query string; a malformed parameter is a 400 naming it where serde says which.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                problem_error(ErrorCode::InvalidQuery, &path, &message, "query")
            })
    }
}

/// The client's IP address, for the audit log; `unknown` when served without connection
/// info (as in tests calling the router directly).
#[derive(Debug, Clone)]
pub struct RemoteAddr(pub String);

impl RemoteAddr {
    pub fn of(parts: &Parts) -> Self {
        RemoteAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RemoteAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RemoteAddr::of(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(serde_says: &str, code: ErrorCode, we_say: &str, field: Option<&str>) {
        let (actual_code, text, name) = field_problem(serde_says);
        assert_eq!(
            (actual_code, text.as_str(), name.as_deref()),
            (code, we_say, field),
            "{serde_says:?}"
        );
    }

    #[test]
    fn serde_messages_become_ours() {
        use ErrorCode::{DuplicateField, InvalidField, MissingField, UnknownField};
        check(
            "missing field `name`",
            MissingField,
            "this field is required",
            Some("name"),
        );
        check(
            "duplicate field `name`",
            DuplicateField,
            "this field is given more than once",
            Some("name"),
        );
        check(
            "unknown field `zz`, expected `name` or `area_id`",
            UnknownField,
            "there is no such field",
            Some("zz"),
        );
        check(
            "unknown variant `zz`, expected one of `viewer`, `operator`, `tenant_admin`",
            InvalidField,
            "must be one of viewer, operator, tenant_admin",
            None,
        );
        check(
            "invalid type: integer `7`, expected a string",
            InvalidField,
            "must be a string",
            None,
        );
        check(
            "invalid value: integer `-1`, expected u32",
            InvalidField,
            "must be a whole number in range",
            None,
        );
        check(
            "invalid type: sequence, expected struct RegisterDevice",
            InvalidField,
            "must be a JSON object",
            None,
        );
        check(
            "UUID parsing failed: invalid character: found `z` at 1",
            InvalidField,
            "must be a UUID",
            None,
        );
        check(
            "invalid digit found in string",
            InvalidField,
            "must be a whole number in range",
            None,
        );
        check(
            "must be 1 to 200 characters, got 0",
            InvalidField,
            "must be 1 to 200 characters, got 0",
            None,
        );
        check(
            "something no one foresaw: zz",
            InvalidField,
            "has a value this field does not accept",
            None,
        );
    }
}
