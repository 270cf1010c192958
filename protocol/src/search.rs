//! A remote search: the relay's `createSearch` RPC (the target's embedding with its model,
//! never the photo), and what the box sends back through its outbox: progress, matches and
//! the end, each numbered so that the relay applies every one exactly once.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{PROTOCOL_VERSION, ProtocolError, default_version};

/// The parameters of `createSearch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateSearch {
    /// The relay's search; the box answers with its own task id and reports under this one.
    pub search_id: Uuid,
    pub embedding: WireEmbedding,
    /// The span searched, Unix ms, `from_ms < to_ms`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// The box's cameras by name; empty means every camera.
    #[serde(default)]
    pub cameras: Vec<String>,
    /// Largest distance that counts as a match; the box's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_distance: Option<f32>,
    /// More embeddings of the same person (other photos in the face library), of the same
    /// model as `embedding`: a face matches when it is near any of them, and its distance
    /// is the best. At most [`MAX_EMBEDDINGS`] in all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_embeddings: Vec<WireEmbedding>,
}

/// The most embeddings one search carries (`embedding` and `more_embeddings` together).
pub const MAX_EMBEDDINGS: usize = 32;

impl CreateSearch {
    /// Checks what serde cannot: the span's order, the distance, the embedding's bytes.
    pub fn validated(self) -> Result<CreateSearch, ProtocolError> {
        if self.from_ms >= self.to_ms {
            return Err(ProtocolError::Invalid {
                field: "to_ms",
                reason: format!(
                    "the span ends ({}) before it starts ({})",
                    self.to_ms, self.from_ms
                ),
            });
        }
        if let Some(d) = self.max_distance
            && !(d.is_finite() && d > 0.0 && d <= 2.0)
        {
            return Err(ProtocolError::Invalid {
                field: "max_distance",
                reason: format!("{d} is not in (0, 2]"),
            });
        }
        let first = self.embedding.vector()?;
        if self.more_embeddings.len() + 1 > MAX_EMBEDDINGS {
            return Err(ProtocolError::Invalid {
                field: "more_embeddings",
                reason: format!(
                    "{} embeddings; at most {MAX_EMBEDDINGS} in all",
                    self.more_embeddings.len() + 1
                ),
            });
        }
        for more in &self.more_embeddings {
            if more.model != self.embedding.model || more.vector()?.len() != first.len() {
                return Err(ProtocolError::Invalid {
                    field: "more_embeddings",
                    reason: format!(
                        "an embedding of {} ({} values) beside one of {} ({} values): \
                         a search's embeddings are of one model",
                        more.model,
                        more.vector()?.len(),
                        self.embedding.model,
                        first.len()
                    ),
                });
            }
        }
        Ok(self)
    }

    /// Every embedding of the search, `embedding` first.
    pub fn embeddings(&self) -> impl Iterator<Item = &WireEmbedding> {
        std::iter::once(&self.embedding).chain(&self.more_embeddings)
    }
}

/// The answer to `createSearch`: the box's task for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchAccepted {
    pub task_id: String,
}

/// An embedding on the wire: its model's id and its vector as little-endian `f32`s in
/// base64 (exact, and a third the size of a JSON number list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WireEmbedding {
    /// The embedding model's registry id (`dlib-resnet-v1`); vectors of different models
    /// are never compared.
    pub model: String,
    pub vector: String,
}

impl WireEmbedding {
    pub fn new(model: &str, vector: &[f32]) -> WireEmbedding {
        let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
        WireEmbedding {
            model: model.to_owned(),
            vector: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// The vector; refused when it is not whole `f32`s, is empty, or holds a non-finite value.
    pub fn vector(&self) -> Result<Vec<f32>, ProtocolError> {
        let invalid = |reason: String| ProtocolError::Invalid {
            field: "embedding.vector",
            reason,
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.vector)
            .map_err(|e| invalid(format!("not base64: {e}")))?;
        if bytes.is_empty() || bytes.len() % 4 != 0 || bytes.len() > 16 * 1024 {
            return Err(invalid(format!(
                "{} bytes is not a vector of f32",
                bytes.len()
            )));
        }
        let vector: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if vector.iter().any(|v| !v.is_finite()) {
            return Err(invalid("holds a value that is not finite".to_owned()));
        }
        Ok(vector)
    }
}

/// One message of the box's outbox about a search, on `{prefix}/events`. `seq` is the box's
/// outbox sequence: strictly increasing per box, never reused, so the relay keeps the
/// highest applied and drops anything at or below it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchEvent {
    #[serde(default = "default_version")]
    pub v: u32,
    pub seq: u64,
    pub search_id: Uuid,
    #[serde(flatten)]
    pub body: SearchEventBody,
}

impl SearchEvent {
    pub fn new(seq: u64, search_id: Uuid, body: SearchEventBody) -> Self {
        SearchEvent {
            v: PROTOCOL_VERSION,
            seq,
            search_id,
            body,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SearchEventBody {
    Progress(SearchProgress),
    Match(SearchMatch),
    /// Both snapshots of a match (face crop and frame) were uploaded with the relay's
    /// [`crate::uploads::UploadGrant`]: the relay may hand out URLs to read them.
    SnapshotsUploaded {
        match_id: i64,
        /// The two files' sizes together, which the relay meters as the tenant's snapshot
        /// traffic; absent from boxes that predate it (nothing is metered then).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
    },
    /// A match's upload grant expired (or the store refused it) before its snapshots were
    /// uploaded: the relay answers with a new grant on `{prefix}/uploads`.
    SnapshotsWanted {
        match_id: i64,
    },
    /// The search ended: `done`, `failed` (with the reason) or `cancelled`.
    Finished {
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// The footage searched, in camera-seconds: the cameras searched times the span, all
        /// of it when `done`, else the share of the recordings processed. The relay meters it
        /// as the tenant's camera-hours; absent from boxes that predate it (nothing is
        /// metered then).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        camera_seconds: Option<u64>,
        /// How many matches the box found in all, each sent as a `Match` event before this
        /// one. Relays sharing a box's messages may apply them out of order: the relay ends
        /// the part once it holds this many results. Absent from boxes that predate it (the
        /// part then ends with this event).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        matches: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchProgress {
    pub recordings_total: u64,
    pub recordings_done: u64,
    pub recordings_failed: u64,
    pub matches: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<u64>,
}

/// A face of the target seen in the box's footage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchMatch {
    /// The box's own id of the match (unique on the box).
    pub match_id: i64,
    /// When the face was seen, Unix ms.
    pub time_ms: i64,
    pub camera: String,
    pub distance: f32,
    /// The face in the frame: x, y, width, height in pixels.
    pub face_box: [f32; 4],
}
