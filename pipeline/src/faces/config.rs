//! [`FaceConfig`]: the models' directory, the runtime the models run under, the detector's
//! passes and thresholds, the quality gate and the embedder's batch size. Every default is
//! written on its field.

use std::path::PathBuf;

use models::SearchPath;

use super::error::FaceError;

/// How the face stages run.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceConfig {
    /// Where the model files are looked for; each is checked against the `models`
    /// registry (size, sha256) before it is parsed. Default: [`SearchPath::from_env`]
    /// (`$DIPPER_MODELS_DIR`, the workspace's `.cache/models` filled by
    /// `scripts/fetch-models`, then the installed package's directory).
    pub models: SearchPath,
    pub backend: BackendConfig,
    pub detector: DetectorConfig,
    pub quality: QualityConfig,
    pub embedder: EmbedderConfig,
}

impl Default for FaceConfig {
    fn default() -> FaceConfig {
        FaceConfig {
            models: SearchPath::from_env(),
            backend: BackendConfig::default(),
            detector: DetectorConfig::default(),
            quality: QualityConfig::default(),
            embedder: EmbedderConfig::default(),
        }
    }
}

impl FaceConfig {
    /// Every setting in range, or the first one that is not.
    pub fn validate(&self) -> Result<(), FaceError> {
        self.detector.validate()?;
        self.quality.validate()?;
        self.embedder.validate()
    }
}

/// Which runtime runs the models' networks (the stages around them are the same).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BackendConfig {
    /// Default: [`BackendChoice::Auto`].
    pub choice: BackendChoice,
    /// ONNX Runtime's shared library. Default: `None`: `$DIPPER_ONNXRUNTIME_LIB`, else
    /// `libonnxruntime.so` in the first directory of [`FaceConfig::models`] holding one
    /// (`scripts/fetch-models` copies it into `.cache/models` from the PyPI `onnxruntime`
    /// wheel).
    pub onnxruntime_library: Option<PathBuf>,
}

/// The runtime choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// ONNX Runtime when the build has the `onnxruntime` feature and its library loads;
    /// otherwise tract, with a warning that names the library's path and the reason.
    #[default]
    Auto,
    /// tract; ONNX Runtime's library is never looked for.
    Tract,
    /// ONNX Runtime, or the engine refuses to start with an error naming the library.
    OnnxRuntime,
}

impl std::str::FromStr for BackendChoice {
    type Err = FaceError;

    /// `auto`, `tract` or `onnxruntime`.
    fn from_str(value: &str) -> Result<BackendChoice, FaceError> {
        match value {
            "auto" => Ok(BackendChoice::Auto),
            "tract" => Ok(BackendChoice::Tract),
            "onnxruntime" => Ok(BackendChoice::OnnxRuntime),
            other => Err(FaceError::InvalidConfig {
                field: "backend",
                detail: format!("{other:?} is not auto, tract or onnxruntime"),
            }),
        }
    }
}

/// The detector's passes and thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// The long side of the detector's input for each pass, in pixels: multiples of 32,
    /// ascending, at most 4096. Each pass sees the whole frame scaled (aspect kept) so its
    /// long side is this, the short side padded up to a multiple of 32. The first pass
    /// always runs (enlarging small frames); see
    /// [`DetectorConfig::further_pass_min_shrink`] for the others, which never enlarge the
    /// frame beyond its own size. A pass at a new input size builds a model plan once
    /// (about 0.1 s) and keeps it. Default: `[640, 1280]` (YuNet finds faces down to about
    /// 10 input pixels wide, so the 640 pass of a 1920x1080 frame misses faces under about
    /// 30 frame pixels; the 1280 pass finds them down to 15, at four times the cost).
    pub pass_sides: Vec<u32>,
    /// A pass after the first runs only when the frame's long side is at least this many
    /// times the previous pass's side, i.e. when that pass shrank the frame enough to lose
    /// small faces. Default: 1.5 (a 640x360 keyframe gets one pass, 1920x1080 two).
    pub further_pass_min_shrink: f32,
    /// The least detector score (`sqrt(class * objectness)`, 0..1) of a face. Default: 0.7
    /// (OpenCV's demo uses 0.9, which loses turned and partly hidden faces in a crowd: the
    /// 29 faces of the 1927 group photo score 0.88 to 0.95, and the only false detection
    /// in it, a dark suit, 0.61).
    pub score_threshold: f32,
    /// Non-maximum suppression: of two boxes overlapping by more than this intersection
    /// over union, the lower-scoring one is dropped (also across passes). Default: 0.3
    /// (OpenCV's).
    pub nms_iou: f32,
    /// The most faces kept per frame, best scores first. Default: 200.
    pub max_faces: usize,
}

impl Default for DetectorConfig {
    fn default() -> DetectorConfig {
        DetectorConfig {
            pass_sides: vec![640, 1280],
            further_pass_min_shrink: 1.5,
            score_threshold: 0.7,
            nms_iou: 0.3,
            max_faces: 200,
        }
    }
}

impl DetectorConfig {
    pub(super) fn validate(&self) -> Result<(), FaceError> {
        let invalid = |field, detail: String| Err(FaceError::InvalidConfig { field, detail });
        if self.pass_sides.is_empty() {
            return invalid("detector.pass_sides", "at least one pass is needed".into());
        }
        for &side in &self.pass_sides {
            if side == 0 || side % 32 != 0 || side > 4096 {
                return invalid(
                    "detector.pass_sides",
                    format!("{side} is not a multiple of 32 in 32..=4096"),
                );
            }
        }
        if self.pass_sides.windows(2).any(|w| w[0] >= w[1]) {
            return invalid(
                "detector.pass_sides",
                format!("{:?} is not ascending", self.pass_sides),
            );
        }
        if self.further_pass_min_shrink.is_nan() || self.further_pass_min_shrink < 1.0 {
            return invalid(
                "detector.further_pass_min_shrink",
                format!("{} is under 1", self.further_pass_min_shrink),
            );
        }
        if !(self.score_threshold > 0.0 && self.score_threshold < 1.0) {
            return invalid(
                "detector.score_threshold",
                format!("{} is not in (0, 1)", self.score_threshold),
            );
        }
        if !(self.nms_iou > 0.0 && self.nms_iou <= 1.0) {
            return invalid(
                "detector.nms_iou",
                format!("{} is not in (0, 1]", self.nms_iou),
            );
        }
        if self.max_faces == 0 {
            return invalid("detector.max_faces", "must be at least 1".into());
        }
        Ok(())
    }
}

/// Which detected faces are good enough to embed and search with. A face failing several
/// checks is counted under the first, in this order: size, score, pose, blur.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityConfig {
    /// The least distance between the eye centres, in frame pixels. Default: 20 (the face is
    /// then about 50 pixels wide; the embedder's 150-pixel crop puts the eyes 53 pixels
    /// apart, so smaller faces are enlarged more than 2.6 times and their descriptors are
    /// mostly guesswork).
    pub min_inter_ocular: f32,
    /// The least detector score. Default: 0.8 (above the detector's own threshold: faces
    /// scoring 0.7 to 0.8 are found and counted, but are mostly partial or smeared).
    pub min_score: f32,
    /// The most yaw (head turned left or right), in degrees, estimated from how far the nose
    /// tip sits off the line between the eyes' and the mouth's midpoints. Default: 40.
    pub max_yaw_degrees: f32,
    /// The most roll (head tilted to a shoulder), in degrees, from the eye line. Alignment
    /// undoes roll, but landmarks of strongly tilted faces are unreliable. Default: 40.
    pub max_roll_degrees: f32,
    /// The least sharpness: the standard deviation of the Laplacian over that of the grey
    /// levels, in the middle of the aligned crop taken at the face's own resolution (at most
    /// the embedder's 150 pixels), so small faces are not called blurred for being small and
    /// the figure does not depend on contrast. Default: 0.18. Measured on the test photos:
    /// sharp portraits 0.53 to 0.89, engraved Newton 0.29, the soft faces of the 1927 group
    /// photo 0.15 to 0.34; through a Gaussian blur of sigma 3 the large portraits fall to
    /// 0.14 to 0.18 and the 512-pixel astronaut already at sigma 1.5 to 0.17, where its
    /// embedding has moved 0.27 from the sharp one's (most of the match threshold).
    pub min_sharpness: f32,
}

impl Default for QualityConfig {
    fn default() -> QualityConfig {
        QualityConfig {
            min_inter_ocular: 20.0,
            min_score: 0.8,
            max_yaw_degrees: 40.0,
            max_roll_degrees: 40.0,
            min_sharpness: 0.18,
        }
    }
}

impl QualityConfig {
    fn validate(&self) -> Result<(), FaceError> {
        let checks: [(&'static str, f32, bool); 5] = [
            (
                "quality.min_inter_ocular",
                self.min_inter_ocular,
                self.min_inter_ocular >= 0.0,
            ),
            (
                "quality.min_score",
                self.min_score,
                (0.0..=1.0).contains(&self.min_score),
            ),
            (
                "quality.max_yaw_degrees",
                self.max_yaw_degrees,
                (0.0..=90.0).contains(&self.max_yaw_degrees),
            ),
            (
                "quality.max_roll_degrees",
                self.max_roll_degrees,
                (0.0..=180.0).contains(&self.max_roll_degrees),
            ),
            (
                "quality.min_sharpness",
                self.min_sharpness,
                self.min_sharpness >= 0.0,
            ),
        ];
        for (field, value, ok) in checks {
            if !ok {
                return Err(FaceError::InvalidConfig {
                    field,
                    detail: format!("{value} is out of range"),
                });
            }
        }
        Ok(())
    }
}

/// How faces are embedded.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedderConfig {
    /// Faces per model run (1..=64); a partial last batch runs at its own size (a plan per
    /// batch size, built once, about 0.2 s). Default: 1: tract runs this model fastest one
    /// face at a time (measured, dev profile with dependencies at opt-level 2, one core:
    /// 16 ms a face alone, 19 ms a face in batches of 2 to 8, 23 ms in batches of 16);
    /// spread faces over threads instead. The box's ONNX Runtime figures are for this setting
    /// too (docs/design/0028-face-inference-backend.md).
    pub batch_size: usize,
}

impl Default for EmbedderConfig {
    fn default() -> EmbedderConfig {
        EmbedderConfig { batch_size: 1 }
    }
}

impl EmbedderConfig {
    fn validate(&self) -> Result<(), FaceError> {
        if !(1..=64).contains(&self.batch_size) {
            return Err(FaceError::InvalidConfig {
                field: "embedder.batch_size",
                detail: format!("{} is not in 1..=64", self.batch_size),
            });
        }
        Ok(())
    }
}
