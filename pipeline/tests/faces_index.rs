//! The face stages and the embedding index together, on the real photos
//! `scripts/fetch-models` puts in `.cache/faces`: faces "recorded" by cameras go into an
//! index through `analyse_frame`, and a different photo of one person finds exactly that
//! person's entries at the shipped threshold, by camera and time, before and after reopening.

use std::path::{Path, PathBuf};

use pipeline::faces::{
    BackendChoice, FaceConfig, FaceEngine, FacePick, MATCH_COSINE, RgbView, load_upright,
};
use pipeline::index::{EmbeddingIndex, EmbeddingRef, EntryMeta, Hit, Query};

fn photo(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.cache/faces")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-models",
        path.display()
    );
    path
}

/// (photo, camera, time in ms) of the footage.
const FOOTAGE: [(&str, u32, i64); 7] = [
    ("solvay_conference_1927.jpg", 1, 1_000),
    ("obama2.jpg", 2, 2_000),
    ("biden.jpg", 2, 3_000),
    ("obama3.jpg", 3, 4_000),
    ("astronaut.png", 3, 5_000),
    ("newton.png", 4, 6_000),
    ("gauss.png", 4, 7_000),
];

/// The photos whose entries hits belong to.
fn photos_of(hits: &[Hit]) -> Vec<&'static str> {
    hits.iter()
        .map(|hit| FOOTAGE[hit.meta.recording as usize].0)
        .collect()
}

/// Adds every face of the footage's photos to the index; returns how many.
fn index_footage(engine: &FaceEngine, index: &mut EmbeddingIndex) -> u64 {
    let mut accepted = 0;
    for (recording, (name, camera, time_ms)) in FOOTAGE.iter().enumerate() {
        let image = load_upright(&photo(name)).expect("photo decodes");
        let frame = RgbView::from_image(&image).expect("frame");
        let found = engine.analyse_frame(frame).expect("faces");
        assert!(!found.faces.is_empty(), "{name}: no usable face");
        for (i, face) in found.faces.iter().enumerate() {
            let meta = EntryMeta {
                recording: recording as u64,
                camera: *camera,
                time_ms: time_ms + i as i64,
                face_box: face.bbox.into(),
                crop: i as u64,
            };
            index
                .add(EmbeddingRef::from(&face.embedding), meta)
                .expect("add");
            accepted += 1;
        }
    }
    accepted
}

/// Under the box's backend (ONNX Runtime when its library is at hand).
#[test]
fn a_different_photo_finds_the_same_person_in_indexed_footage() {
    finds_the_same_person(FaceConfig::default());
}

#[test]
fn a_different_photo_finds_the_same_person_under_tract() {
    let mut config = FaceConfig::default();
    config.backend.choice = BackendChoice::Tract;
    finds_the_same_person(config);
}

fn finds_the_same_person(config: FaceConfig) {
    let engine = FaceEngine::new(config).expect("models load");
    let dir = tempfile::tempdir().expect("temp dir");
    let model = engine.embedding_model();
    let dims = model.dimensions().expect("an embedding model");
    let mut index = EmbeddingIndex::create(dir.path(), model.id(), dims).expect("index");
    let accepted = index_footage(&engine, &mut index);
    index.sync().expect("sync");
    assert!(accepted >= 26, "{accepted} faces indexed");

    let query = engine
        .query_from_photo(&photo("obama.jpg"), FacePick::Only)
        .expect("query photo");
    let query = EmbeddingRef::from(&query.embedding);
    let hits = index
        .search(&Query::at_least(query, MATCH_COSINE))
        .expect("search");
    let scores: Vec<f32> = hits.iter().map(|h| h.score).collect();
    assert_eq!(
        photos_of(&hits),
        ["obama3.jpg", "obama2.jpg"],
        "scores {scores:?}"
    );
    let best_other = index
        .search(&Query::top_k(query, 3))
        .expect("search")
        .into_iter()
        .map(|h| h.score)
        .nth(2)
        .expect("a third face");
    assert!(
        best_other < MATCH_COSINE,
        "the nearest other face scores {best_other}"
    );

    let on_camera_3 = index
        .search(&Query::at_least(query, MATCH_COSINE).cameras([3]))
        .expect("search");
    assert_eq!(photos_of(&on_camera_3), ["obama3.jpg"]);
    let before_obama3 = index
        .search(&Query::at_least(query, MATCH_COSINE).time_range(0..4_000))
        .expect("search");
    assert_eq!(photos_of(&before_obama3), ["obama2.jpg"]);

    let biden = engine
        .query_from_photo(&photo("biden.jpg"), FacePick::Only)
        .expect("query photo");
    let hits = index
        .search(&Query::at_least(
            EmbeddingRef::from(&biden.embedding),
            MATCH_COSINE,
        ))
        .expect("search");
    assert_eq!(photos_of(&hits), ["biden.jpg"]);

    drop(index);
    let reopened = EmbeddingIndex::open_for(dir.path(), model.id(), dims).expect("reopen");
    assert_eq!(reopened.len(), accepted);
    let again = reopened
        .search(&Query::at_least(query, MATCH_COSINE))
        .expect("search");
    assert_eq!(photos_of(&again), ["obama3.jpg", "obama2.jpg"]);
}
