//! The relay's face embedder: an enrolled photo becomes the embedding a box searches for,
//! made by the same face stages and shipped models as the box (`pipeline::faces`, built
//! without FFmpeg or the downloader), quality gate included.
//!
//! Contract: the models are loaded on first use, not at start (a relay that never enrols a
//! face never pays for them), once, and a failure to load is kept and answered as 503
//! `embedder_unavailable` naming the reason until the relay restarts. Photos are embedded on
//! blocking threads, at most `faces.concurrency` at a time; a photo waits its turn rather
//! than slowing every other request. A refused photo says why in words an operator can act
//! on: not an image, no face, several faces, or a face the quality gate turns away.

mod refusal;

use std::path::Path;
use std::sync::Arc;

use pipeline::faces::{FaceConfig, FaceEngine, FacePick, ModelId};
use protocol::search::WireEmbedding;
use tokio::sync::{OnceCell, Semaphore};

pub use refusal::PhotoRefused;

use crate::config::FacesConfig;
use crate::error::ApiError;

/// One face enrolled from a photo.
#[derive(Debug, Clone)]
pub struct EnrolledFace {
    pub embedding: WireEmbedding,
    /// The face in the upright photo: x, y, width, height in pixels.
    pub face_box: [f32; 4],
    /// The detector's score, 0..1.
    pub score: f32,
}

/// The face stages, loaded on first use. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FaceEmbedder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: FacesConfig,
    engine: OnceCell<Result<Arc<FaceEngine>, String>>,
    permits: Semaphore,
}

impl FaceEmbedder {
    pub fn new(config: &FacesConfig) -> Self {
        FaceEmbedder {
            inner: Arc::new(Inner {
                permits: Semaphore::new(config.concurrency.max(1)),
                engine: OnceCell::new(),
                config: config.clone(),
            }),
        }
    }

    /// The model the library's embeddings are of (the registry's, known without loading).
    pub fn model(&self) -> &'static str {
        ModelId::EMBEDDER.id()
    }

    /// The embedding of the one face in `photo` (JPEG or PNG bytes).
    pub async fn enrol(&self, photo: Vec<u8>) -> Result<EnrolledFace, ApiError> {
        let engine = self.engine().await?;
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::internal_message("the face embedder was shut down"))?;
        let embedded = tokio::task::spawn_blocking(move || {
            engine.query_from_photo_bytes(&photo, Path::new("the photo"), FacePick::Only)
        })
        .await
        .map_err(|e| ApiError::internal_message(format!("embedding a photo panicked: {e}")))?;
        let query = embedded.map_err(|e| PhotoRefused::from(e).into_api_error())?;
        let bbox = query.detection.bbox;
        Ok(EnrolledFace {
            embedding: WireEmbedding::new(query.embedding.model().id(), query.embedding.vector()),
            face_box: [bbox.x, bbox.y, bbox.width, bbox.height],
            score: query.detection.score,
        })
    }

    async fn engine(&self) -> Result<Arc<FaceEngine>, ApiError> {
        let config = &self.inner.config;
        let loaded = self
            .inner
            .engine
            .get_or_init(|| async {
                let face_config = face_config(config);
                let loaded = tokio::task::spawn_blocking(move || FaceEngine::new(face_config))
                    .await
                    .map_err(|e| format!("loading the face models panicked: {e}"))
                    .and_then(|r| r.map_err(|e| e.to_string()));
                match &loaded {
                    Ok(engine) => tracing::info!(
                        backend = ?engine.backend(),
                        model = engine.embedding_model().id(),
                        "face embedder loaded"
                    ),
                    Err(reason) => tracing::error!(%reason, "the face embedder cannot load"),
                }
                loaded.map(Arc::new)
            })
            .await;
        // The reason (a model file's path, a library's words) is in the log, written once
        // when loading failed; the client is told where to look.
        loaded.clone().map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                crate::error::ErrorCode::EmbedderUnavailable,
                "the relay cannot embed faces: its face models did not load (the relay's log \
                 says why; see [faces] in its configuration)",
            )
        })
    }
}

fn face_config(config: &FacesConfig) -> FaceConfig {
    let mut face = FaceConfig::default();
    if let Some(dir) = &config.models_dir {
        face.models = models::SearchPath::new([dir.clone()]);
    }
    face.backend.choice = config.backend;
    face
}
