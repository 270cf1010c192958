//! `POST /api/v1/faces`: the faces of a photo as the box sees them, before a search: each
//! with the quality gate's verdict (and its reason when refused), a crop to show, and the
//! embedding of each usable face, which the page sends back as the task's `embedding`.
//! `best` is the usable face with the largest box.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use pipeline::faces::{FaceError, Rejection};
use serde_json::{Value, json};

use super::{ApiError, AppState, parse_body};
use crate::engine::indexer::PhotoError;

/// The largest photo taken, decoded (as a task's).
const MAX_PHOTO_BYTES: usize = 20 * 1024 * 1024;

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PhotoBody {
    /// JPEG or PNG, base64.
    photo: String,
}

fn reason_code(reason: Rejection) -> &'static str {
    match reason {
        Rejection::TooSmall => "too_small",
        Rejection::LowScore => "low_score",
        Rejection::Turned => "turned",
        Rejection::Blurred => "blurred",
    }
}

/// The faces of a photo, each judged, with the embeddings of the usable ones.
#[utoipa::path(post, path = "/faces", tag = "tasks",
    request_body(content = PhotoBody, content_type = "application/json"),
    responses((status = 200, description = "`{faces, best}`", body = Object),
        (status = 400, description = "A malformed body, or the photo is not base64",
            body = protocol::ErrorBody),
        (status = 413, description = "The photo is larger than 20 MiB",
            body = protocol::ErrorBody),
        (status = 422, description = "Not a JPEG or PNG photo (`not_an_image`)",
            body = protocol::ErrorBody)))]
pub(super) async fn faces(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: PhotoBody = parse_body(&body)?;
    if request.photo.len() > MAX_PHOTO_BYTES / 3 * 4 + 4 {
        return Err(ApiError::with(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the photo is larger than {} MiB", MAX_PHOTO_BYTES >> 20),
            Some("photo"),
        ));
    }
    let photo = base64::engine::general_purpose::STANDARD
        .decode(request.photo.trim())
        .map_err(|e| {
            ApiError::with(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("photo: not base64 ({e})"),
                Some("photo"),
            )
        })?;
    let found = state
        .engine
        .faces_in_photo(photo)
        .await
        .map_err(|e| match e {
            PhotoError::Faces(FaceError::Photo { .. }) => ApiError::with(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_an_image",
                "the file is not a JPEG or PNG photo the box can read",
                Some("photo"),
            ),
            other => {
                tracing::error!(error = %other, "faces of a photo");
                ApiError::with(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the photo could not be analysed; see the box's log",
                    None,
                )
            }
        })?;
    let best = found
        .iter()
        .enumerate()
        .filter(|(_, f)| f.rejection.is_none())
        .max_by(|a, b| {
            (a.1.bbox.width * a.1.bbox.height).total_cmp(&(b.1.bbox.width * b.1.bbox.height))
        })
        .map(|(i, _)| i);
    let faces: Vec<Value> = found
        .into_iter()
        .map(|face| {
            json!({
                "box": {
                    "x": face.bbox.x, "y": face.bbox.y,
                    "width": face.bbox.width, "height": face.bbox.height,
                },
                "usable": face.rejection.is_none(),
                "reason": face.rejection.map(|r| r.to_string()),
                "reason_code": face.rejection.map(reason_code),
                "crop": format!(
                    "data:image/jpeg;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(&face.crop_jpeg)
                ),
                "embedding": face.embedding.map(|e| json!({
                    "model": e.model().to_string(),
                    "values": e.vector(),
                })),
            })
        })
        .collect();
    Ok(Json(json!({ "faces": faces, "best": best })).into_response())
}
