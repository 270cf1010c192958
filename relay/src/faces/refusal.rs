//! Why a photo cannot be enrolled (or searched with), in the API's words.

use axum::http::StatusCode;
use pipeline::faces::FaceError;

use crate::error::{ApiError, ErrorCode};

/// A photo the face stages turned away, or a failure of the stages themselves.
#[derive(Debug)]
pub enum PhotoRefused {
    /// Not a JPEG or PNG the decoder reads.
    NotAnImage,
    NoFace,
    /// Several faces, with their boxes: a library photo shows one person.
    SeveralFaces(String),
    /// The face is too small, blurred, turned away...: the gate's reason.
    Unusable(String),
    /// The stages failed (a model, the runtime): not the photo's fault.
    Failed(String),
}

impl From<FaceError> for PhotoRefused {
    fn from(error: FaceError) -> Self {
        match error {
            FaceError::Photo { .. } => PhotoRefused::NotAnImage,
            FaceError::NoFace { .. } => PhotoRefused::NoFace,
            FaceError::SeveralFaces { faces, .. } => PhotoRefused::SeveralFaces(
                faces
                    .iter()
                    .map(|f| format!("{} (score {:.2})", f.bbox, f.score))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            FaceError::QueryRejected { reason, .. } => PhotoRefused::Unusable(reason.to_string()),
            other => PhotoRefused::Failed(other.to_string()),
        }
    }
}

impl PhotoRefused {
    pub fn into_api_error(self) -> ApiError {
        let unprocessable = |code, message: String| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_field("photo")
        };
        match self {
            PhotoRefused::NotAnImage => unprocessable(
                ErrorCode::NotAnImage,
                "the photo is not a JPEG or PNG image that can be read".to_owned(),
            ),
            PhotoRefused::NoFace => unprocessable(
                ErrorCode::NoFace,
                "no face was found in the photo; use a photo where the face is clear and \
                 faces the camera"
                    .to_owned(),
            ),
            PhotoRefused::SeveralFaces(faces) => unprocessable(
                ErrorCode::SeveralFaces,
                format!("the photo shows several faces ({faces}); crop it to the one person"),
            ),
            PhotoRefused::Unusable(reason) => unprocessable(
                ErrorCode::FaceUnusable,
                format!("the face in the photo cannot be used: {reason}"),
            ),
            PhotoRefused::Failed(detail) => {
                ApiError::internal_message(format!("the face stages failed: {detail}"))
            }
        }
    }
}
