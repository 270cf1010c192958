//! The index's vocabulary: embeddings with their model, entries and their metadata,
//! queries (top-k, threshold, filters) and hits.

use std::ops::Range;

use super::error::IndexError;

/// The longest model id an index stores, in bytes.
pub const MAX_MODEL_ID_LEN: usize = 64;

/// The largest vector dimension an index takes. Integer dot products of int8 codes stay
/// exact in `f32` up to this length (1024 × 127 × 127 < 2^24), which the batch kernel uses.
pub const MAX_DIMS: usize = 1024;

/// A vector and the model that made it. The model id is a stable name (e.g.
/// `"dlib-resnet-v1"`, the face stages' `ModelId::name()`); an index takes vectors of its own
/// model only. The vector need not be normalised: the index normalises it (scores are
/// cosines).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbeddingRef<'a> {
    pub model: &'a str,
    pub values: &'a [f32],
}

impl<'a> EmbeddingRef<'a> {
    pub fn new(model: &'a str, values: &'a [f32]) -> EmbeddingRef<'a> {
        EmbeddingRef { model, values }
    }
}

/// An entry's number: 0 for the first entry added, then 1, 2, ... with no gaps, stable for the
/// life of the index. The daemon keys its SQLite rows on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(pub u64);

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "entry {}", self.0)
    }
}

/// Where a face is in its keyframe, in pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// What an entry says about its face besides the vector. Ids are the caller's (the daemon
/// maps them to rows of its own tables); the index only filters on `camera` and `time_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EntryMeta {
    /// The recording the face was found in.
    pub recording: u64,
    /// The camera that recorded it.
    pub camera: u32,
    /// When the keyframe was taken, Unix milliseconds.
    pub time_ms: i64,
    /// The face in the keyframe.
    pub face_box: FaceBox,
    /// The stored crop of the face (a reference the caller resolves).
    pub crop: u64,
}

/// A new entry: its vector and metadata.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewEntry<'a> {
    pub embedding: EmbeddingRef<'a>,
    pub meta: EntryMeta,
}

/// One result of a search: the entry, its exact cosine with the query (computed from the
/// stored `f32` vectors) and its metadata.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: EntryId,
    pub score: f32,
    pub meta: EntryMeta,
}

/// Which entries a search considers: a set of cameras and a time range, both optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Sorted, without duplicates.
    cameras: Option<Vec<u32>>,
    time: Option<Range<i64>>,
}

impl Filter {
    /// Entries from any of `cameras` only (an empty set matches nothing).
    pub fn cameras(mut self, cameras: impl IntoIterator<Item = u32>) -> Filter {
        let mut cameras: Vec<u32> = cameras.into_iter().collect();
        cameras.sort_unstable();
        cameras.dedup();
        self.cameras = Some(cameras);
        self
    }

    /// Entries whose `time_ms` is in `range` (start included, end excluded) only.
    pub fn time_range(mut self, range: Range<i64>) -> Filter {
        self.time = Some(range);
        self
    }

    /// True when the filter lets everything through.
    pub fn is_empty(&self) -> bool {
        self.cameras.is_none() && self.time.is_none()
    }

    /// Whether an entry of `camera` at `time_ms` passes.
    #[inline]
    pub fn accepts(&self, camera: u32, time_ms: i64) -> bool {
        if let Some(range) = &self.time
            && !range.contains(&time_ms)
        {
            return false;
        }
        match &self.cameras {
            None => true,
            Some(cameras) if cameras.len() <= 8 => cameras.contains(&camera),
            Some(cameras) => cameras.binary_search(&camera).is_ok(),
        }
    }

    /// Whether some time in `min..=max` passes the time range (false lets a scan skip a
    /// stretch of entries whose times all lie in `min..=max`).
    #[inline]
    pub(super) fn may_accept_times(&self, min: i64, max: i64) -> bool {
        match &self.time {
            None => true,
            Some(range) => min < range.end && max >= range.start && !range.is_empty(),
        }
    }

    /// True when no entry can pass (an empty camera set or an empty time range).
    pub(super) fn rejects_all(&self) -> bool {
        self.cameras.as_ref().is_some_and(Vec::is_empty)
            || self.time.as_ref().is_some_and(Range::is_empty)
    }
}

/// A search: the best `k` entries, every entry at or above a score, or the best `k` at or
/// above a score; over the entries a [`Filter`] lets through.
#[derive(Debug, Clone, PartialEq)]
pub struct Query<'a> {
    pub(super) embedding: EmbeddingRef<'a>,
    pub(super) top_k: Option<usize>,
    pub(super) min_score: Option<f32>,
    pub(super) filter: Filter,
}

impl<'a> Query<'a> {
    /// The `k` entries most similar to `embedding`, best first.
    pub fn top_k(embedding: EmbeddingRef<'a>, k: usize) -> Query<'a> {
        Query {
            embedding,
            top_k: Some(k),
            min_score: None,
            filter: Filter::default(),
        }
    }

    /// Every entry whose cosine with `embedding` is at least `min_score`, best first.
    pub fn at_least(embedding: EmbeddingRef<'a>, min_score: f32) -> Query<'a> {
        Query {
            embedding,
            top_k: None,
            min_score: Some(min_score),
            filter: Filter::default(),
        }
    }

    /// Also require a cosine of at least `min_score` (with [`Query::top_k`]: the best `k`
    /// of those).
    pub fn min_score(mut self, min_score: f32) -> Query<'a> {
        self.min_score = Some(min_score);
        self
    }

    /// Only entries the filter lets through.
    pub fn filter(mut self, filter: Filter) -> Query<'a> {
        self.filter = filter;
        self
    }

    /// Only entries from these cameras.
    pub fn cameras(mut self, cameras: impl IntoIterator<Item = u32>) -> Query<'a> {
        self.filter = self.filter.cameras(cameras);
        self
    }

    /// Only entries whose time is in `range` (Unix milliseconds, end excluded).
    pub fn time_range(mut self, range: Range<i64>) -> Query<'a> {
        self.filter = self.filter.time_range(range);
        self
    }

    pub fn embedding(&self) -> EmbeddingRef<'a> {
        self.embedding
    }

    pub(super) fn validate(&self) -> Result<(), IndexError> {
        match (self.top_k, self.min_score) {
            (None, None) => Err(IndexError::InvalidQuery {
                reason: "neither k nor a minimum score".to_owned(),
            }),
            (_, Some(score)) if !score.is_finite() => Err(IndexError::InvalidQuery {
                reason: format!("minimum score {score} is not finite"),
            }),
            _ => Ok(()),
        }
    }
}

/// Checks a model id for storage.
pub(super) fn validate_model_id(id: &str) -> Result<(), IndexError> {
    let reason = if id.is_empty() {
        "empty"
    } else if id.len() > MAX_MODEL_ID_LEN {
        "longer than 64 bytes"
    } else if !id.bytes().all(|b| b.is_ascii_graphic()) {
        "not printable ASCII without spaces"
    } else {
        return Ok(());
    };
    Err(IndexError::InvalidModelId {
        id: id.to_owned(),
        reason,
    })
}

/// Checks a vector dimension.
pub(super) fn validate_dims(dims: usize) -> Result<(), IndexError> {
    if (1..=MAX_DIMS).contains(&dims) {
        Ok(())
    } else {
        Err(IndexError::InvalidDimension {
            dims,
            max: MAX_DIMS,
        })
    }
}
