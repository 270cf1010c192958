//! The models the face stages run, from the `models` crate's registry: [`ModelId`].

use models::ModelFile;

/// A registered model. Every [`Embedding`](super::Embedding) carries the id of the model
/// that made it, and vectors of different models are never compared. Two ids are equal when
/// their registry ids are.
#[derive(Clone, Copy)]
pub struct ModelId(&'static ModelFile);

impl ModelId {
    /// YuNet 2023mar, the face detector.
    pub const DETECTOR: ModelId = ModelId(models::DETECTOR.model);
    /// dlib's ResNet v1, the face embedder.
    pub const EMBEDDER: ModelId = ModelId(models::EMBEDDER.model);

    /// The registered model with this id (e.g. read back from storage).
    pub fn from_id(id: &str) -> Option<ModelId> {
        ModelFile::by_id(id).map(ModelId)
    }

    /// The registry's stable id, e.g. `dlib-resnet-v1`.
    pub fn id(self) -> &'static str {
        self.0.id
    }

    /// The registry entry (file name, size, sha256, licence).
    pub fn file(self) -> &'static ModelFile {
        self.0
    }

    /// The length of the model's embeddings; `None` for a model that makes none.
    pub fn dimensions(self) -> Option<usize> {
        (self == ModelId::EMBEDDER).then_some(models::EMBEDDER.dims)
    }
}

impl PartialEq for ModelId {
    fn eq(&self, other: &ModelId) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ModelId {}

impl std::hash::Hash for ModelId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl std::fmt::Debug for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModelId({})", self.0.id)
    }
}

impl std::fmt::Display for ModelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.id)
    }
}
