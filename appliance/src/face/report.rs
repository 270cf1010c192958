//! The JSON shapes `dipper face` prints, shared by its commands.

use pipeline::faces::{BoundingBox, Detection, FaceQuality, QueryFace};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub(super) struct BoxJson {
    x: f32,
    y: f32,
    width: f32,
    height: f32,
}

impl From<BoundingBox> for BoxJson {
    fn from(b: BoundingBox) -> BoxJson {
        BoxJson {
            x: round1(b.x),
            y: round1(b.y),
            width: round1(b.width),
            height: round1(b.height),
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct QualityJson {
    score: f32,
    inter_ocular_px: f32,
    yaw_degrees: f32,
    roll_degrees: f32,
    /// `null` when the face was turned away before its sharpness was measured.
    sharpness: Option<f32>,
}

impl From<FaceQuality> for QualityJson {
    fn from(q: FaceQuality) -> QualityJson {
        QualityJson {
            score: round3(q.score),
            inter_ocular_px: round1(q.inter_ocular),
            yaw_degrees: round1(q.yaw_degrees),
            roll_degrees: round1(q.roll_degrees),
            sharpness: q.sharpness.is_finite().then(|| round3(q.sharpness)),
        }
    }
}

/// The face a query photo yielded.
#[derive(Debug, Serialize)]
pub(super) struct ChosenFaceJson {
    pub(super) photo: String,
    #[serde(rename = "box")]
    pub(super) bbox: BoxJson,
    pub(super) score: f32,
    pub(super) quality: QualityJson,
    pub(super) faces_found: usize,
}

impl ChosenFaceJson {
    pub(super) fn new(photo: &std::path::Path, face: &QueryFace) -> ChosenFaceJson {
        ChosenFaceJson {
            photo: photo.display().to_string(),
            bbox: face.detection.bbox.into(),
            score: round3(face.detection.score),
            quality: face.quality.into(),
            faces_found: face.faces_found,
        }
    }
}

pub(super) fn landmarks(detection: &Detection) -> Vec<[f32; 2]> {
    detection
        .landmarks
        .0
        .iter()
        .map(|p| [round1(p.x), round1(p.y)])
        .collect()
}

pub(super) fn round1(x: f32) -> f32 {
    (x * 10.0).round() / 10.0
}

pub(super) fn round3(x: f32) -> f32 {
    (x * 1000.0).round() / 1000.0
}
