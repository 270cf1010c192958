//! The face stages: a keyframe's RGB pixels in, the faces worth searching for out, each with
//! its box, five landmarks, detector score, quality figures and an embedding that names
//! its model.
//!
//! 1. **Detection** ([`Detector`]): YuNet (2023mar) on the frame letterboxed to the
//!    detector's input, in one or more passes ([`DetectorConfig::pass_sides`]: a large frame
//!    gets a second, finer pass for small faces), score threshold, non-maximum suppression
//!    across passes; boxes and landmarks in frame pixels.
//! 2. **Quality gate, geometry** ([`QualityConfig`]): eye distance, score, yaw and roll from
//!    the landmarks. Faces failing here are not aligned.
//! 3. **Alignment** ([`align()`]): the least-squares similarity that puts the five
//!    landmarks where dlib's 150x150 face chips have them, and the bilinear warp.
//! 4. **Quality gate, sharpness**: Laplacian over grey-level spread in the middle of the
//!    face. A blurred face never reaches a search.
//! 5. **Embedding** ([`Embedder`]): dlib's ResNet, in batches; vectors L2-normalised and
//!    tagged with their [`ModelId`]. Comparing vectors of different models is an error.
//!
//! Every face the gate turns away is counted by reason ([`Rejections`]); accepted faces
//! carry their [`FaceQuality`]. [`FaceEngine`] wires the stages for the daemon
//! ([`FaceEngine::analyse_frame`]) and the CLI ([`FaceEngine::query_from_photo`]: a JPEG or
//! PNG, EXIF orientation honoured, one face chosen by [`FacePick`]).
//!
//! The networks run under tract or ONNX Runtime ([`Backend`], chosen by
//! [`FaceConfig::backend`]); everything around them is the same code for both.
//!
//! Frames are borrowed ([`RgbView`]: width, height, stride, bytes), never copied. Models
//! are loaded once; what they need per input size or batch size is built on first use
//! and shared: a `FaceEngine` is `Send + Sync`, and its calls run concurrently. All work is
//! synchronous and CPU-bound: call it from blocking threads.

mod align;
mod backend;
mod config;
mod detector;
mod embedder;
mod error;
mod frame;
mod geometry;
mod letterbox;
mod model_files;
mod photo;
mod quality;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use crate::photo::MAX_PHOTO_SIDE;
pub use align::{AlignedFace, CHIP_SIZE, align, chip_template, chip_to_frame};
pub use backend::Backend;
#[cfg(feature = "onnxruntime")]
pub use backend::library::{
    LIBRARY_ENV as ONNXRUNTIME_LIBRARY_ENV, LIBRARY_FILE as ONNXRUNTIME_LIBRARY_FILE,
};
pub use config::{
    BackendChoice, BackendConfig, DetectorConfig, EmbedderConfig, FaceConfig, QualityConfig,
};
pub use detector::{Detection, Detector};
pub use embedder::{Embedder, Embedding, MATCH_COSINE, MATCH_DISTANCE};
pub use error::{FaceError, FoundFace, Stage};
pub use frame::RgbView;
pub use geometry::{BoundingBox, Landmarks, Point, Similarity, non_max_suppression};
pub use letterbox::Letterbox;
pub use model_files::ModelId;
pub use photo::{FacePick, decode_upright, load_upright};
pub use quality::{FaceQuality, Rejection, Rejections};

/// A face that passed the gate, embedded.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRecord {
    /// In frame pixels.
    pub bbox: BoundingBox,
    pub landmarks: Landmarks,
    pub score: f32,
    pub quality: FaceQuality,
    pub embedding: Embedding,
}

/// What [`FaceEngine::analyse_frame`] found in one frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameFaces {
    /// The faces that passed the gate, best detector score first.
    pub faces: Vec<FaceRecord>,
    /// The faces the gate turned away, by reason.
    pub rejections: Rejections,
}

/// The query a photo yields.
#[derive(Debug, Clone)]
pub struct QueryFace {
    pub embedding: Embedding,
    /// The chosen face, refined, in the upright photo's pixels.
    pub detection: Detection,
    pub quality: FaceQuality,
    /// The aligned chip, to show the operator what is searched for.
    pub aligned: AlignedFace,
    /// How many faces the photo holds.
    pub faces_found: usize,
}

/// The face stages with their models loaded.
#[derive(Debug)]
pub struct FaceEngine {
    detector: Detector,
    embedder: Embedder,
    config: FaceConfig,
}

impl FaceEngine {
    /// Checks the settings, settles the runtime ([`FaceConfig::backend`]) and loads both
    /// models from [`FaceConfig::models`].
    pub fn new(config: FaceConfig) -> Result<FaceEngine, FaceError> {
        config.validate()?;
        let backend = backend::select(&config.backend, &config.models)?;
        let detector = Detector::load(&config.models, backend, config.detector.clone())?;
        let embedder = Embedder::load(&config.models, backend, config.embedder.batch_size)?;
        Ok(FaceEngine {
            detector,
            embedder,
            config,
        })
    }

    pub fn config(&self) -> &FaceConfig {
        &self.config
    }

    /// The runtime both models run under.
    pub fn backend(&self) -> Backend {
        self.detector.backend()
    }

    /// The model every embedding of this engine carries.
    pub fn embedding_model(&self) -> ModelId {
        self.embedder.model()
    }

    /// Every face the detector finds, best score first, ungated.
    pub fn detect(&self, frame: RgbView<'_>) -> Result<Vec<Detection>, FaceError> {
        self.detector.detect(frame)
    }

    /// The face's 150x150 chip; `None` when its landmarks are degenerate (all at one point).
    pub fn align(&self, frame: RgbView<'_>, detection: &Detection) -> Option<AlignedFace> {
        align(frame, &detection.landmarks)
    }

    /// The gate's figures for a detected face, and its verdict.
    pub fn assess(
        &self,
        frame: RgbView<'_>,
        detection: &Detection,
        aligned: &AlignedFace,
    ) -> (FaceQuality, Result<(), Rejection>) {
        let mut quality = quality::measure_geometry(detection.score, &detection.landmarks);
        quality.sharpness = quality::sharpness(frame, aligned);
        (quality, self.config.quality.check(&quality))
    }

    /// One embedding per chip, in order, in batches of [`EmbedderConfig::batch_size`].
    pub fn embed_batch(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, FaceError> {
        self.embedder.embed(faces)
    }

    /// Detects, gates, aligns and embeds every face of a frame.
    pub fn analyse_frame(&self, frame: RgbView<'_>) -> Result<FrameFaces, FaceError> {
        let detections = self.detector.detect(frame)?;
        self.analyse_detections(frame, detections)
    }

    /// [`FaceEngine::analyse_frame`] for the faces inside `areas` of the frame alone (the
    /// regions a motion gate found changed; [`Detector::detect_in`]). A face found in two
    /// overlapping areas counts once.
    pub fn analyse_areas(
        &self,
        frame: RgbView<'_>,
        areas: &[BoundingBox],
    ) -> Result<FrameFaces, FaceError> {
        let mut found = Vec::new();
        for area in areas {
            found.extend(self.detector.detect_in(frame, area)?);
        }
        if areas.len() > 1 {
            found = detector::suppress(found, self.detector.config());
        }
        self.analyse_detections(frame, found)
    }

    /// Gates, aligns and embeds the detected faces of a frame.
    fn analyse_detections(
        &self,
        frame: RgbView<'_>,
        detections: Vec<Detection>,
    ) -> Result<FrameFaces, FaceError> {
        let mut rejections = Rejections::default();
        let mut accepted: Vec<(Detection, FaceQuality, AlignedFace)> = Vec::new();
        for detection in detections {
            let mut quality = quality::measure_geometry(detection.score, &detection.landmarks);
            if let Err(reason) = self.config.quality.check_geometry(&quality) {
                rejections.record(reason);
                continue;
            }
            let Some(aligned) = align(frame, &detection.landmarks) else {
                rejections.record(Rejection::TooSmall);
                continue;
            };
            quality.sharpness = quality::sharpness(frame, &aligned);
            if let Err(reason) = self.config.quality.check(&quality) {
                rejections.record(reason);
                continue;
            }
            accepted.push((detection, quality, aligned));
        }
        let chips: Vec<&AlignedFace> = accepted.iter().map(|(_, _, chip)| chip).collect();
        let embeddings = self.embedder.embed(&chips)?;
        let faces = accepted
            .into_iter()
            .zip(embeddings)
            .map(|((detection, quality, _), embedding)| FaceRecord {
                bbox: detection.bbox,
                landmarks: detection.landmarks,
                score: detection.score,
                quality,
                embedding,
            })
            .collect();
        Ok(FrameFaces { faces, rejections })
    }

    /// The embedding of the face `pick` chooses in the photo at `path` (JPEG or PNG, any
    /// size, turned upright by its EXIF orientation), its landmarks refined by a second
    /// detection close up ([`Detector::refine`]). Errors name the photo: no face,
    /// several faces when one was expected (listing them with boxes and scores), or a chosen
    /// face the quality gate turns away.
    pub fn query_from_photo(&self, path: &Path, pick: FacePick) -> Result<QueryFace, FaceError> {
        self.query_from_image(&load_upright(path)?, path, pick)
    }

    /// [`FaceEngine::query_from_photo`] for a photo's bytes (JPEG or PNG), e.g. as a request
    /// carried them; errors call the photo `name`.
    pub fn query_from_photo_bytes(
        &self,
        photo: &[u8],
        name: &Path,
        pick: FacePick,
    ) -> Result<QueryFace, FaceError> {
        self.query_from_image(&decode_upright(photo, name)?, name, pick)
    }

    /// The query face of an upright photo. A photo that the face fills (an ID photo, a face
    /// cut out of a document) is found by YuNet with a low score, or not at all, because the
    /// face touches its borders; such a photo is searched again with a plain border around
    /// it ([`photo::padded`]) and the face reported in the photo's own pixels.
    fn query_from_image(
        &self,
        image: &image::RgbImage,
        path: &Path,
        pick: FacePick,
    ) -> Result<QueryFace, FaceError> {
        let first = self.query_in(image, path, pick);
        let padding_may_help = match &first {
            Err(FaceError::NoFace { .. }) => true,
            Err(FaceError::QueryRejected { reason, .. }) => *reason == Rejection::LowScore,
            _ => false,
        };
        if !padding_may_help {
            return first;
        }
        let (padded, border) = photo::padded(image);
        match self.query_in(&padded, path, pick) {
            Ok(mut query) => {
                photo::unpad(&mut query.detection, border, image.dimensions());
                Ok(query)
            }
            // The first answer says what is wrong with the photo as the operator gave it.
            Err(_) => first,
        }
    }

    fn query_in(
        &self,
        image: &image::RgbImage,
        path: &Path,
        pick: FacePick,
    ) -> Result<QueryFace, FaceError> {
        let frame = RgbView::from_image(image)?;
        let detections = self.detector.detect(frame)?;
        let chosen = photo::pick_face(path, &detections, pick)?;
        let detection = self.detector.refine(frame, &detections[chosen])?;
        let rejected = |reason, quality| FaceError::QueryRejected {
            path: path.to_owned(),
            bbox: detection.bbox,
            reason,
            quality,
        };
        let Some(aligned) = align(frame, &detection.landmarks) else {
            let quality = quality::measure_geometry(detection.score, &detection.landmarks);
            return Err(rejected(Rejection::TooSmall, quality));
        };
        let (quality, verdict) = self.assess(frame, &detection, &aligned);
        verdict.map_err(|reason| rejected(reason, quality))?;
        let embedding =
            self.embedder
                .embed(&[&aligned])?
                .pop()
                .ok_or_else(|| FaceError::Inference {
                    stage: Stage::Embedding,
                    model: self.embedder.model(),
                    path: path.to_owned(),
                    detail: "no embedding returned".into(),
                })?;
        Ok(QueryFace {
            embedding,
            detection,
            quality,
            aligned,
            faces_found: detections.len(),
        })
    }
}
