//! [`FaceError`]: why a face stage failed, naming the model file, the photo and the stage.

use std::path::{Path, PathBuf};

use super::geometry::BoundingBox;
use super::model_files::ModelId;
use super::quality::{FaceQuality, Rejection};

/// The stage a model failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Detection,
    Embedding,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Detection => "detection",
            Stage::Embedding => "embedding",
        })
    }
}

/// A face a query photo holds, as listed when the photo has several.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoundFace {
    pub bbox: BoundingBox,
    pub score: f32,
}

/// Why a face stage failed.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// A model file is missing or not the registered one (the message names the file, the
    /// directories searched and `scripts/fetch-models`).
    #[error(transparent)]
    ModelFile(#[from] models::Error),
    #[error("model {model} ({}) could not be loaded: {detail}", path.display())]
    ModelLoad {
        model: ModelId,
        path: PathBuf,
        detail: String,
    },
    /// The file loads but its inputs or outputs are not the ones the stage expects.
    #[error("model {model} ({}) has an unexpected interface: {detail}", path.display())]
    ModelInterface {
        model: ModelId,
        path: PathBuf,
        detail: String,
    },
    #[error("{stage} with model {model} ({}) failed: {detail}", path.display())]
    Inference {
        stage: Stage,
        model: ModelId,
        path: PathBuf,
        detail: String,
    },
    /// ONNX Runtime's library is missing, not a library, too old, or failed to start.
    #[error("ONNX Runtime library {}: {detail}", path.display())]
    OnnxRuntime { path: PathBuf, detail: String },
    #[error("invalid frame: {detail}")]
    InvalidFrame { detail: String },
    #[error("invalid face settings: {field}: {detail}")]
    InvalidConfig { field: &'static str, detail: String },
    #[error("photo {}: cannot be read", path.display())]
    Photo {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error("photo {}: no face found", path.display())]
    NoFace { path: PathBuf },
    #[error(
        "photo {}: {} faces found, pick one by index or the largest: {}",
        path.display(), faces.len(), list_faces(faces)
    )]
    SeveralFaces {
        path: PathBuf,
        faces: Vec<FoundFace>,
    },
    #[error(
        "photo {}: no face #{index}; {} found: {}",
        path.display(), faces.len(), list_faces(faces)
    )]
    NoSuchFace {
        path: PathBuf,
        index: usize,
        faces: Vec<FoundFace>,
    },
    /// The chosen face fails the quality gate (too small, blurred, turned away, ...).
    #[error("photo {}: the face at {bbox} is unusable: {reason} ({quality})", path.display())]
    QueryRejected {
        path: PathBuf,
        bbox: BoundingBox,
        reason: Rejection,
        quality: FaceQuality,
    },
    #[error("embeddings of different models cannot be compared: {left} vs {right}")]
    ModelMismatch { left: ModelId, right: ModelId },
    #[error("embedding of model {model} has {actual} dimensions, expected {expected}")]
    Dimensions {
        model: ModelId,
        expected: usize,
        actual: usize,
    },
}

impl FaceError {
    pub(super) fn interface(model: ModelId, path: &Path, detail: String) -> FaceError {
        FaceError::ModelInterface {
            model,
            path: path.to_owned(),
            detail,
        }
    }
}

fn list_faces(faces: &[FoundFace]) -> String {
    faces
        .iter()
        .enumerate()
        .map(|(i, face)| format!("#{i} {} score {:.2}", face.bbox, face.score))
        .collect::<Vec<_>>()
        .join(", ")
}
