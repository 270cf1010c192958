//! What creating a task takes, as the API and the uplink's `createSearch` receive it, and
//! the one place it is checked: [`TaskRequest::validate`] turns the wire form (RFC 3339
//! times, a base64 photo, or one or more embeddings of one person naming their model) into
//! a [`ValidTask`] or an error naming the field. Only the cameras are checked later,
//! against the stored ones.

use base64::Engine as _;
use pipeline::faces::{Embedding, ModelId};
use serde::{Deserialize, Serialize};

use crate::engine::error::EngineError;

/// The largest photo a task takes.
const MAX_PHOTO_BYTES: usize = 20 * 1024 * 1024;

/// The most embeddings one task looks for (`embedding` and `more_embeddings`), as many as a
/// remote search carries.
pub(crate) const MAX_EMBEDDINGS: usize = protocol::search::MAX_EMBEDDINGS;

/// `POST /api/v1/tasks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskRequest {
    /// RFC 3339 instants, e.g. `2026-11-25T08:00:00+08:00`.
    pub(crate) from: String,
    pub(crate) to: String,
    /// Camera ids; empty or absent: every enabled camera.
    #[serde(default)]
    pub(crate) cameras: Vec<i64>,
    /// 0 (an operator is waiting) to 5 (backfill). Default 1.
    #[serde(default = "default_priority")]
    pub(crate) priority: u8,
    /// Default: the box's `search.match_distance`.
    #[serde(default)]
    pub(crate) match_distance: Option<f32>,
    /// The person's photo, JPEG or PNG, base64; embedded when the task starts.
    #[serde(default)]
    pub(crate) photo: Option<String>,
    /// Or their face embedding, as the face stages make it.
    #[serde(default)]
    pub(crate) embedding: Option<EmbeddingBody>,
    /// More embeddings of the same person (other photos of them), with `embedding`: a face
    /// matches when it is near any of them. At most [`MAX_EMBEDDINGS`] in all.
    #[serde(default)]
    pub(crate) more_embeddings: Vec<EmbeddingBody>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmbeddingBody {
    pub(crate) model: String,
    pub(crate) values: Vec<f32>,
}

fn default_priority() -> u8 {
    1
}

/// Who a task looks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// A photo's bytes (JPEG or PNG), embedded when the task starts.
    Photo(Vec<u8>),
    /// One or more embeddings of one person, of the box's model, never empty: a face
    /// matches when it is within the distance of any, and its distance is the best.
    Embeddings(Vec<Embedding>),
}

/// What a task searches, how urgently and how strictly; stored with it and shown as is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TaskParams {
    /// The footage searched: recordings from `from_ms` to `to_ms`, Unix milliseconds.
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
    /// Empty in a request: every enabled camera; stored resolved.
    pub(crate) cameras: Vec<i64>,
    /// 0 (an operator is waiting) to 5 (backfill): the downloads' priority too.
    pub(crate) priority: u8,
    /// Faces at most this far from the target match.
    pub(crate) match_distance: f32,
}

/// A checked request; only its cameras are still to be resolved.
#[derive(Debug, Clone)]
pub(crate) struct ValidTask {
    pub(crate) params: TaskParams,
    pub(crate) target: Target,
}

impl TaskRequest {
    /// Checks every field; `default_distance` is the box's, `model` the one it embeds with.
    pub(crate) fn validate(
        self,
        default_distance: f32,
        model: ModelId,
    ) -> Result<ValidTask, EngineError> {
        let from_ms = instant("from", &self.from)?;
        let to_ms = instant("to", &self.to)?;
        if to_ms <= from_ms {
            return Err(EngineError::invalid("to", "must be after from"));
        }
        if self.priority > 5 {
            return Err(EngineError::invalid(
                "priority",
                "must be 0 (most urgent) to 5",
            ));
        }
        let match_distance = self.match_distance.unwrap_or(default_distance);
        if !(match_distance > 0.0 && match_distance < 2.0) {
            return Err(EngineError::invalid(
                "match_distance",
                "must be between 0 and 2",
            ));
        }
        let target = target(self.photo, self.embedding, self.more_embeddings, model)?;
        let params = TaskParams {
            from_ms,
            to_ms,
            cameras: self.cameras,
            priority: self.priority,
            match_distance,
        };
        Ok(ValidTask { params, target })
    }
}

/// The photo, or the embeddings (`embedding` first), checked.
fn target(
    photo: Option<String>,
    embedding: Option<EmbeddingBody>,
    more: Vec<EmbeddingBody>,
    model: ModelId,
) -> Result<Target, EngineError> {
    match (photo, embedding) {
        (None, None) => Err(EngineError::invalid(
            "photo",
            "a photo or an embedding is required",
        )),
        (Some(_), Some(_)) => Err(EngineError::invalid(
            "photo",
            "give a photo or an embedding, not both",
        )),
        (Some(_), None) if !more.is_empty() => Err(EngineError::invalid(
            "more_embeddings",
            "more embeddings go with an embedding, not with a photo",
        )),
        (Some(photo), None) => Ok(Target::Photo(photo_bytes(&photo)?)),
        (None, Some(first)) => {
            if more.len() + 1 > MAX_EMBEDDINGS {
                return Err(EngineError::invalid(
                    "more_embeddings",
                    format!(
                        "{} embeddings; at most {MAX_EMBEDDINGS} in all",
                        more.len() + 1
                    ),
                ));
            }
            let mut embeddings = vec![first.validate(model, FIRST)?];
            for body in more {
                embeddings.push(body.validate(model, MORE)?);
            }
            Ok(Target::Embeddings(embeddings))
        }
    }
}

/// The fields an error names for the first embedding and for the others: model, values.
const FIRST: (&str, &str) = ("embedding.model", "embedding.values");
const MORE: (&str, &str) = ("more_embeddings.model", "more_embeddings.values");

impl EmbeddingBody {
    /// The embedding, when it is of `model` with that model's length; `fields` name its
    /// model and values in an error.
    fn validate(
        self,
        model: ModelId,
        (model_field, values_field): (&'static str, &'static str),
    ) -> Result<Embedding, EngineError> {
        if self.model != model.id() {
            return Err(EngineError::invalid(
                model_field,
                format!("this box embeds with {}, not {}", model.id(), self.model),
            ));
        }
        let dimensions = model.dimensions().unwrap_or(128);
        let wrong = || {
            EngineError::invalid(
                values_field,
                format!("expected {dimensions} finite numbers"),
            )
        };
        if self.values.len() != dimensions || self.values.iter().any(|v| !v.is_finite()) {
            return Err(wrong());
        }
        Embedding::new(model, self.values).map_err(|_| wrong())
    }
}

fn instant(field: &'static str, text: &str) -> Result<i64, EngineError> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| EngineError::invalid(field, format!("not an RFC 3339 time ({e})")))
}

fn photo_bytes(base64_text: &str) -> Result<Vec<u8>, EngineError> {
    let photo = base64::engine::general_purpose::STANDARD
        .decode(base64_text.as_bytes())
        .map_err(|e| EngineError::invalid("photo", format!("not base64 ({e})")))?;
    if photo.len() > MAX_PHOTO_BYTES {
        return Err(EngineError::invalid("photo", "larger than 20 MiB"));
    }
    if !(photo.starts_with(&[0xFF, 0xD8, 0xFF]) || photo.starts_with(b"\x89PNG")) {
        return Err(EngineError::invalid("photo", "not a JPEG or PNG file"));
    }
    Ok(photo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> TaskRequest {
        TaskRequest {
            from: "2026-11-25T08:00:00+08:00".to_owned(),
            to: "2026-11-25T09:00:00+08:00".to_owned(),
            cameras: vec![1],
            priority: 1,
            match_distance: None,
            photo: Some(base64::engine::general_purpose::STANDARD.encode(b"\x89PNG....")),
            embedding: None,
            more_embeddings: Vec::new(),
        }
    }

    /// A unit vector of the box's model along dimension `axis`.
    fn body(axis: usize) -> EmbeddingBody {
        let mut values = vec![0.0; 128];
        values[axis] = 1.0;
        EmbeddingBody {
            model: ModelId::EMBEDDER.id().to_owned(),
            values,
        }
    }

    /// Checks that `change` makes the request invalid in `field`.
    fn check_invalid(change: impl FnOnce(&mut TaskRequest), field: &str) {
        let mut request = request();
        change(&mut request);
        match request.validate(0.6, ModelId::EMBEDDER) {
            Err(EngineError::Invalid { field: actual, .. }) => assert_eq!(actual, field),
            other => panic!("expected an error in {field}, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_is_valid_with_the_default_distance() {
        let task = request().validate(0.6, ModelId::EMBEDDER).expect("valid");
        assert_eq!(task.params.to_ms - task.params.from_ms, 3_600_000);
        assert_eq!(task.params.match_distance, 0.6);
        assert!(matches!(task.target, Target::Photo(ref bytes) if bytes.starts_with(b"\x89PNG")));
    }

    #[test]
    fn each_bad_field_is_named() {
        check_invalid(|r| r.from = "yesterday".to_owned(), "from");
        check_invalid(|r| r.to = "2026-11-25T07:00:00+08:00".to_owned(), "to");
        check_invalid(|r| r.priority = 9, "priority");
        check_invalid(|r| r.match_distance = Some(5.0), "match_distance");
        check_invalid(|r| r.photo = Some("%%%".to_owned()), "photo");
        check_invalid(|r| r.photo = None, "photo");
        let other_model = EmbeddingBody {
            model: "other-model".to_owned(),
            values: vec![0.0],
        };
        check_invalid(|r| r.embedding = Some(other_model.clone()), "photo");
        check_invalid(
            |r| {
                r.photo = None;
                r.embedding = Some(other_model);
            },
            "embedding.model",
        );
        check_invalid(
            |r| {
                r.photo = None;
                r.embedding = Some(EmbeddingBody {
                    model: ModelId::EMBEDDER.id().to_owned(),
                    values: vec![f32::NAN; 128],
                });
            },
            "embedding.values",
        );
        check_invalid(|r| r.more_embeddings = vec![body(1)], "more_embeddings");
        let with_more = |more: Vec<EmbeddingBody>| {
            move |r: &mut TaskRequest| {
                r.photo = None;
                r.embedding = Some(body(0));
                r.more_embeddings = more;
            }
        };
        check_invalid(with_more(vec![body(1); MAX_EMBEDDINGS]), "more_embeddings");
        let mut other = body(1);
        other.model = "other-model".to_owned();
        check_invalid(with_more(vec![body(1), other]), "more_embeddings.model");
        let mut short = body(1);
        short.values.truncate(64);
        check_invalid(with_more(vec![short]), "more_embeddings.values");
    }

    #[test]
    fn several_embeddings_are_kept_in_order() {
        let mut request = request();
        request.photo = None;
        request.embedding = Some(body(0));
        request.more_embeddings = (1..MAX_EMBEDDINGS).map(body).collect();
        let task = request.validate(0.6, ModelId::EMBEDDER).expect("valid");
        let Target::Embeddings(embeddings) = task.target else {
            panic!("embeddings");
        };
        assert_eq!(embeddings.len(), MAX_EMBEDDINGS);
        for (axis, embedding) in embeddings.iter().enumerate() {
            assert_eq!(embedding.vector()[axis], 1.0, "embedding {axis}");
        }
    }

    #[test]
    fn an_embedding_keeps_its_model() {
        let mut request = request();
        request.photo = None;
        let mut values = vec![0.0; 128];
        values[0] = 2.0;
        request.embedding = Some(EmbeddingBody {
            model: ModelId::EMBEDDER.id().to_owned(),
            values,
        });
        let task = request.validate(0.6, ModelId::EMBEDDER).expect("valid");
        let Target::Embeddings(embeddings) = task.target else {
            panic!("an embedding");
        };
        let [embedding] = embeddings.as_slice() else {
            panic!("one embedding: {embeddings:?}");
        };
        assert_eq!(embedding.model(), ModelId::EMBEDDER);
        assert_eq!(embedding.vector()[0], 1.0, "normalised");
    }
}
