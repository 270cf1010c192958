//! The disk object store's own URLs: `GET` and `PUT /objects/{key}?method=&expires=
//! &signature=`, signed by the relay (`objects/signing.rs`). No bearer token: the signature
//! is the authority, good for one key, one method and, for a write, the content type the
//! key's extension says, until it expires.
//!
//! Answers: 200 with the object and its content type on a read, 201 on a write; 403
//! `url_refused` for a URL altered, signed for something else or expired; 404 for an object
//! that is not there, and for every request when the store is S3 (whose own URLs are used
//! then); 413 above `[objects] max_object_bytes` (this route's own limit); 415 for a body
//! sent with another content type than the signed one, or that is not an image of it. Every
//! answer is counted in `dipper_relay_objects_total{op, outcome}`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::Deserialize;

use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiPath, ApiQuery};
use crate::objects::metrics::count;
use crate::objects::{ContentType, ObjectKey, UrlMethod};
use crate::state::AppState;

/// The fields of a signed URL.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SignedUrl {
    /// The method the URL was signed for.
    #[param(inline)]
    pub method: UrlMethod,
    /// Unix seconds after which the URL is refused.
    #[param(minimum = 0)]
    pub expires: u64,
    /// HMAC-SHA256 (base64url) of the method, key, expiry and, for `PUT`, content type.
    pub signature: String,
}

/// Reads an object with a URL the relay signed.
#[utoipa::path(get, path = "/objects/{*key}", tag = "objects",
    params(("key" = String, Path, description = "The object's key, `{tenant}/...`",
        max_length = 512, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(/[A-Za-z0-9._-]+)+\.(jpg|png|deb)$"), SignedUrl),
    responses(
        (status = 200, description = "The object", content(("image/jpeg"), ("image/png"))),
        (status = 403, description = "The URL is refused (`url_refused`): altered, signed for \
            another key or method, or expired", body = protocol::ErrorBody),
        (status = 404, description = "No such object, or the store is not the relay's disk",
            body = protocol::ErrorBody)))]
pub async fn get_object(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    url: Result<ApiQuery<SignedUrl>, ApiError>,
) -> Result<Response, ApiError> {
    let key = authorized(&state, UrlMethod::Get, &key, url, "get")?;
    match state.objects.get(&key).await {
        Ok(Some(object)) => {
            count("get", "ok");
            let headers = [
                (header::CONTENT_TYPE, object.content_type.as_str()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ];
            Ok((headers, object.bytes).into_response())
        }
        Ok(None) => {
            count("get", "not_found");
            Err(ApiError::not_found())
        }
        Err(error) => {
            count("get", "error");
            Err(error.into())
        }
    }
}

/// Writes an object with a URL the relay signed, sent with the content type it was signed
/// for.
#[utoipa::path(put, path = "/objects/{*key}", tag = "objects",
    params(("key" = String, Path, description = "The object's key, `{tenant}/...`",
        max_length = 512, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(/[A-Za-z0-9._-]+)+\.(jpg|png|deb)$"), SignedUrl),
    request_body(description = "The image, as the URL's content type",
        content(("image/jpeg"), ("image/png"))),
    responses(
        (status = 201, description = "Stored"),
        (status = 403, description = "The URL is refused (`url_refused`): altered, signed for \
            another key, method or content type, or expired", body = protocol::ErrorBody),
        (status = 404, description = "The store is not the relay's disk", body = protocol::ErrorBody),
        (status = 413, description = "Larger than `[objects] max_object_bytes`", body = protocol::ErrorBody),
        (status = 415, description = "Not the content type the URL was signed for, or not an \
            image of it", body = protocol::ErrorBody)))]
pub async fn put_object(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    url: Result<ApiQuery<SignedUrl>, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let key = authorized(&state, UrlMethod::Put, &key, url, "put")?;
    let content_type = key.content_type();
    if let Err(error) = check_content_type(&headers, content_type) {
        count("put", "wrong_content_type");
        return Err(error);
    }
    let bytes = match read_body(&headers, body, state.config.objects.max_object_bytes).await {
        Ok(bytes) => bytes,
        Err(error) => {
            count(
                "put",
                if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "bad_body"
                },
            );
            return Err(error);
        }
    };
    if !is_image_of(&bytes, content_type) {
        count("put", "wrong_content_type");
        return Err(unsupported(format!(
            "the body is not a {content_type} image"
        )));
    }
    match state.objects.put(&key, bytes, content_type).await {
        Ok(()) => {
            count("put", "ok");
            Ok(StatusCode::CREATED)
        }
        Err(error) => {
            count("put", "error");
            Err(error.into())
        }
    }
}

/// The key of a request the URL allows: 404 unless the store is the disk, 400 for a key or
/// query that cannot be one of ours, 403 for a URL refused.
fn authorized(
    state: &AppState,
    method: UrlMethod,
    key: &str,
    url: Result<ApiQuery<SignedUrl>, ApiError>,
    op: &'static str,
) -> Result<ObjectKey, ApiError> {
    let Some(disk) = state.objects.disk() else {
        count(op, "not_disk");
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "this relay keeps objects in S3; use the URLs it hands out",
        ));
    };
    let checked = ObjectKey::parse(key)
        .map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidPath,
                error.to_string(),
            )
            .with_field("key")
        })
        .and_then(|key| Ok((key, url?.0)));
    let (key, url) = checked.inspect_err(|_| count(op, "bad_request"))?;
    disk.authorize(method, &key, (url.method, url.expires, &url.signature))
        .map_err(|refusal| {
            count(op, refusal.label());
            ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::UrlRefused,
                refusal.message(),
            )
        })?;
    Ok(key)
}

fn unsupported(message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::UnsupportedMediaType,
        message,
    )
}

/// 415 unless the request says `Content-Type: {expected}`.
fn check_content_type(headers: &HeaderMap, expected: ContentType) -> Result<(), ApiError> {
    let sent = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| ContentType::parse(text).ok());
    if sent == Some(expected) {
        Ok(())
    } else {
        Err(unsupported(format!(
            "this URL writes {expected}: send the body with Content-Type: {expected}"
        )))
    }
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::BodyTooLarge,
        format!("the object is larger than the {max} bytes the relay accepts"),
    )
}

/// The body, at most `max` bytes: a larger declared length is refused before reading.
async fn read_body(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value: &HeaderValue| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return Err(too_large(max));
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(too_large(max)),
        Err(error) => {
            tracing::debug!(%error, "object body unreadable");
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadBody,
                "the request body could not be read",
            ))
        }
    }
}

/// Whether `bytes` start as an image of `content_type` does (JPEG's SOI marker, PNG's
/// signature).
fn is_image_of(bytes: &[u8], content_type: ContentType) -> bool {
    match content_type {
        ContentType::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        ContentType::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        ContentType::Deb => bytes.starts_with(b"!<arch>\n"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_states_the_key_pattern() {
        let doc = serde_json::to_value(&*super::super::openapi()).expect("document");
        for method in ["get", "put"] {
            let parameters = doc["paths"]["/objects/{key}"][method]["parameters"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} /objects/{{key}} in the document"));
            let key = parameters
                .iter()
                .find(|p| p["name"] == "key")
                .expect("the key parameter");
            assert_eq!(key["schema"]["pattern"], crate::objects::KEY_PATTERN);
            assert_eq!(key["schema"]["maxLength"], crate::objects::MAX_KEY_BYTES);
        }
    }
}
