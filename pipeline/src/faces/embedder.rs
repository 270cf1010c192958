//! [`Embedder`]: dlib's ResNet face descriptor on aligned chips, in batches, and
//! [`Embedding`]: an L2-normalised vector that always carries the id of its model.
//!
//! The ONNX file's interface is fixed: input `input`, float32 `[N, 3, 150, 150]`, R, G, B
//! planes, 0..255 (the model normalises inside); output `descriptor`, float32 `[N, 128]`,
//! raw (dlib's own vectors, compared by dlib at a Euclidean distance of 0.6). Vectors are
//! L2-normalised here, so the Euclidean distance `d` and the cosine similarity `c` say the
//! same thing (`d^2 = 2 - 2c`); [`MATCH_DISTANCE`] is the threshold on `d`.

use models::{EMBEDDER, SearchPath};

use super::align::{AlignedFace, CHIP_SIZE};
use super::backend::{Backend, Network, NetworkError};
use super::error::{FaceError, Stage};
use super::model_files::ModelId;

const MODEL: ModelId = ModelId::EMBEDDER;

/// Two faces whose normalised embeddings are at most this Euclidean distance apart are
/// taken to be the same person (cosine similarity at least `1 - 0.37^2 / 2 = 0.93`).
///
/// Chosen from the test photos, queried as [`FaceEngine::query_from_photo`] does
/// (`faces::tests::distances_between_the_test_portraits` prints the table): the three
/// photos of Obama are 0.25 to 0.31 apart; different people at least 0.435 (the painted
/// Newton and Gauss; Obama and Biden 0.56 to 0.60; the others 0.51 to 0.67). 0.37 is the
/// middle of that gap. dlib's own threshold, 0.6 on raw descriptors (1.23 to 1.46 long
/// here), would be about 0.44 on normalised ones and call Newton Gauss. Low-quality faces
/// crowd together: the small, soft, grey faces of the 1927 group photo come as close as
/// 0.28 to each other, so the quality gate, not the threshold, keeps such faces out.
///
/// [`FaceEngine::query_from_photo`]: super::FaceEngine::query_from_photo
pub const MATCH_DISTANCE: f32 = 0.37;

/// [`MATCH_DISTANCE`] as a cosine similarity, the score the embedding index ranks by:
/// `1 - MATCH_DISTANCE^2 / 2`.
pub const MATCH_COSINE: f32 = 1.0 - MATCH_DISTANCE * MATCH_DISTANCE / 2.0;

/// A face's descriptor, L2-normalised, with the model that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    model: ModelId,
    vector: Vec<f32>,
}

impl Embedding {
    /// A descriptor of `model`, normalised to unit length here (so already-normalised
    /// vectors, e.g. from storage, come back unchanged). Refused when its length is not the
    /// model's, or it is all zeros or not finite.
    pub fn new(model: ModelId, mut vector: Vec<f32>) -> Result<Embedding, FaceError> {
        let expected = model.dimensions().unwrap_or(0);
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        if vector.len() != expected || !(norm.is_finite() && norm > 0.0) {
            return Err(FaceError::Dimensions {
                model,
                expected,
                actual: if norm.is_finite() && norm > 0.0 {
                    vector.len()
                } else {
                    0
                },
            });
        }
        for v in &mut vector {
            *v /= norm;
        }
        Ok(Embedding { model, vector })
    }

    pub fn model(&self) -> ModelId {
        self.model
    }

    /// The unit-length vector.
    pub fn vector(&self) -> &[f32] {
        &self.vector
    }

    /// Euclidean distance, 0..2. An error when the models differ.
    pub fn distance(&self, other: &Embedding) -> Result<f32, FaceError> {
        self.same_model(other)?;
        Ok(self
            .vector
            .iter()
            .zip(&other.vector)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt())
    }

    /// Cosine similarity, -1..1. An error when the models differ.
    pub fn cosine_similarity(&self, other: &Embedding) -> Result<f32, FaceError> {
        self.same_model(other)?;
        Ok(self
            .vector
            .iter()
            .zip(&other.vector)
            .map(|(a, b)| a * b)
            .sum())
    }

    /// Whether the two faces are taken to be the same person ([`MATCH_DISTANCE`]).
    pub fn matches(&self, other: &Embedding) -> Result<bool, FaceError> {
        Ok(self.distance(other)? <= MATCH_DISTANCE)
    }

    fn same_model(&self, other: &Embedding) -> Result<(), FaceError> {
        if self.model == other.model && self.vector.len() == other.vector.len() {
            Ok(())
        } else {
            Err(FaceError::ModelMismatch {
                left: self.model,
                right: other.model,
            })
        }
    }
}

/// dlib's ResNet under its backend, what each batch size needs built on first use and
/// shared. `Send + Sync`.
#[derive(Debug)]
pub struct Embedder {
    network: Network,
    batch_size: usize,
}

impl Embedder {
    /// Reads the model from the first directory of `search` holding it, checked against the
    /// registry, and readies it under `backend` (its output named as the interface says);
    /// what one face needs is built here, so a broken file fails now.
    pub fn load(
        search: &SearchPath,
        backend: Backend,
        batch_size: usize,
    ) -> Result<Embedder, FaceError> {
        let network = Network::load(backend, MODEL, search, &[EMBEDDER.output_name])?;
        let embedder = Embedder {
            network,
            batch_size: batch_size.max(1),
        };
        embedder.check_interface()?;
        let side = CHIP_SIZE as usize;
        embedder
            .network
            .prepare([1, 3, side, side])
            .map_err(|e| embedder.network_error(e))?;
        Ok(embedder)
    }

    /// The runtime the network runs under.
    pub fn backend(&self) -> Backend {
        self.network.backend()
    }

    pub fn model(&self) -> ModelId {
        MODEL
    }

    /// One embedding per face, in order, run in batches of at most the configured size.
    pub fn embed(&self, faces: &[&AlignedFace]) -> Result<Vec<Embedding>, FaceError> {
        let mut embeddings = Vec::with_capacity(faces.len());
        for batch in faces.chunks(self.batch_size) {
            self.embed_one_batch(batch, &mut embeddings)?;
        }
        Ok(embeddings)
    }

    fn embed_one_batch(
        &self,
        faces: &[&AlignedFace],
        embeddings: &mut Vec<Embedding>,
    ) -> Result<(), FaceError> {
        let n = faces.len();
        let side = CHIP_SIZE as usize;
        let plane = side * side;
        let shape = [n, 3, side, side];
        let mut planes = vec![0.0f32; shape.iter().product()];
        for (face, planes) in faces.iter().zip(planes.chunks_exact_mut(3 * plane)) {
            let (red, rest) = planes.split_at_mut(plane);
            let (green, blue) = rest.split_at_mut(plane);
            for (i, rgb) in face.pixels().chunks_exact(3).enumerate() {
                red[i] = f32::from(rgb[0]);
                green[i] = f32::from(rgb[1]);
                blue[i] = f32::from(rgb[2]);
            }
        }
        let outputs = self
            .network
            .run(planes, shape)
            .map_err(|e| self.network_error(e))?;
        let descriptors = outputs.first().map_or(&[][..], Vec::as_slice);
        let dimensions = MODEL.dimensions().unwrap_or(0);
        if descriptors.len() != n * dimensions {
            return Err(self.interface_error(format!(
                "{} has {} values for {n} faces, expected {dimensions} each",
                EMBEDDER.output_name,
                descriptors.len()
            )));
        }
        for descriptor in descriptors.chunks_exact(dimensions) {
            embeddings.push(Embedding::new(MODEL, descriptor.to_vec())?);
        }
        Ok(())
    }

    /// The interface `models::EMBEDDER` names matches the chips this crate cuts. (The
    /// network checked the output's name when it loaded; the input is the model's only one.)
    fn check_interface(&self) -> Result<(), FaceError> {
        if EMBEDDER.input_size != CHIP_SIZE as usize {
            return Err(self.interface_error(format!(
                "input size {}, but chips are {CHIP_SIZE} pixels",
                EMBEDDER.input_size
            )));
        }
        Ok(())
    }

    fn network_error(&self, error: NetworkError) -> FaceError {
        error.into_face_error(Stage::Embedding, MODEL, &self.network)
    }

    fn interface_error(&self, detail: String) -> FaceError {
        FaceError::interface(MODEL, self.network.path(), detail)
    }
}

#[cfg(feature = "index")]
impl<'a> From<&'a Embedding> for crate::index::EmbeddingRef<'a> {
    /// The embedding as the index takes it: its model's registry id and its vector.
    fn from(embedding: &'a Embedding) -> crate::index::EmbeddingRef<'a> {
        crate::index::EmbeddingRef::new(embedding.model.id(), &embedding.vector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(index: usize, value: f32) -> Vec<f32> {
        let mut vector = vec![0.0; 128];
        vector[index] = value;
        vector
    }

    #[test]
    fn embeddings_are_normalised_and_compared() {
        let a = Embedding::new(MODEL, unit(0, 3.0)).expect("valid");
        let b = Embedding::new(MODEL, unit(1, 0.5)).expect("valid");
        assert_eq!(a.vector()[0], 1.0);
        assert!((a.distance(&b).expect("same model") - 2f32.sqrt()).abs() < 1e-6);
        assert_eq!(a.cosine_similarity(&b).expect("same model"), 0.0);
        assert_eq!(a.distance(&a).expect("same model"), 0.0);
        assert!(a.matches(&a).expect("same model"));
        assert!(!a.matches(&b).expect("same model"));
    }

    #[test]
    fn bad_vectors_are_refused() {
        let check = |vector: Vec<f32>| {
            let error = Embedding::new(MODEL, vector).expect_err("refused");
            assert!(matches!(error, FaceError::Dimensions { .. }), "{error}");
        };
        check(vec![1.0; 127]);
        check(vec![0.0; 128]);
        check(unit(3, f32::NAN));
        check(vec![1.0; 4]);
    }

    #[test]
    fn embeddings_of_different_models_are_not_compared() {
        let dlib = Embedding::new(MODEL, unit(0, 1.0)).expect("valid");
        // Only the detector is another model today; a vector claiming to come from it
        // cannot even be made, so build one the way storage code could go wrong.
        let other = Embedding {
            model: ModelId::DETECTOR,
            vector: unit(0, 1.0),
        };
        for result in [
            dlib.distance(&other),
            other.distance(&dlib),
            dlib.cosine_similarity(&other),
        ] {
            let error = result.expect_err("different models");
            assert!(
                matches!(error, FaceError::ModelMismatch { left: _, right: _ }),
                "{error}"
            );
            assert!(error.to_string().contains("different models"), "{error}");
        }
        assert!(dlib.matches(&other).is_err());
    }
}
