//! Request extractors whose rejections are [`ApiError`]s naming the field at fault: a JSON
//! body (`ApiJson`), path parameters (`ApiPath`) and a query string (`ApiQuery`).
//!
//! Bodies are read whole (bounded by the router's body limit) and deserialized with
//! `serde_path_to_error`, so an unknown field, a wrong type or a value a type refuses comes
//! back as 400 with the path of the field, never as a 500.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

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
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection {
                BytesRejection::FailedToBufferBody(ref e)
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "the request body is larger than the relay accepts",
                    )
                }
                other => ApiError::new(StatusCode::BAD_REQUEST, "bad_body", other.body_text()),
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes`, naming the field at fault on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            "malformed_json"
        } else {
            "invalid_field"
        };
        let error = ApiError::new(StatusCode::BAD_REQUEST, code, inner.to_string());
        if path == "." || code == "malformed_json" {
            error
        } else {
            error.with_field(path)
        }
    })
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
                let kind = e.into_kind();
                let field = match &kind {
                    axum::extract::path::ErrorKind::ParseErrorAtKey { key, .. }
                    | axum::extract::path::ErrorKind::InvalidUtf8InPathParam { key }
                    | axum::extract::path::ErrorKind::DeserializeError { key, .. } => {
                        Some(key.clone())
                    }
                    _ => None,
                };
                let error =
                    ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", kind.to_string());
                Err(match field {
                    Some(field) => error.with_field(field),
                    None => error,
                })
            }
            Err(other) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                other.body_text(),
            )),
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
                let error = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    error.into_inner().to_string(),
                );
                if path == "." {
                    error
                } else {
                    error.with_field(path)
                }
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
