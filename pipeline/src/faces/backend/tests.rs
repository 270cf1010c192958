//! Both backends on the real models and photos: the same faces, landmarks and embeddings;
//! and how a missing or broken ONNX Runtime library is reported.

use std::path::Path;

use super::super::tests::{backends, engine, one_pass, photo, photo_path, temp_dir, under};
use super::super::*;

/// The 1927 group photo's faces and the portraits' embeddings agree between the backends
/// to float rounding: tract is the one checked against face-api's reference
/// (`models/tests/embedder_matches_face_api.rs`), so ONNX Runtime is checked through it.
#[test]
fn the_backends_find_and_embed_the_same_faces() {
    let engines: Vec<FaceEngine> = backends()
        .into_iter()
        .map(|choice| engine(under(choice, FaceConfig::default())))
        .collect();
    let [reference, others @ ..] = engines.as_slice() else {
        panic!("no backend");
    };
    let group = photo("solvay_conference_1927.jpg");
    let frame = RgbView::from_image(&group).expect("frame");
    let expected = reference.detect(frame).expect("detect");
    assert!(expected.len() >= 28, "{} faces", expected.len());
    for other in others {
        let found = other.detect(frame).expect("detect");
        assert_eq!(found.len(), expected.len(), "under {}", other.backend());
        for (a, b) in expected.iter().zip(&found) {
            assert!(a.bbox.iou(&b.bbox) > 0.99, "{a:?} vs {b:?}");
            assert!((a.score - b.score).abs() < 1e-3, "{a:?} vs {b:?}");
            for (p, q) in a.landmarks.0.iter().zip(&b.landmarks.0) {
                assert!(
                    (p.x - q.x).abs() < 0.1 && (p.y - q.y).abs() < 0.1,
                    "{a:?} vs {b:?}"
                );
            }
        }
    }
    let names = [
        "obama.jpg",
        "biden.jpg",
        "astronaut.png",
        "newton.png",
        "gauss.png",
    ];
    let single_pass = one_pass();
    let query = |engine: &FaceEngine, name: &str| {
        engine
            .query_from_photo(&photo_path(name), FacePick::Only)
            .unwrap_or_else(|e| panic!("{name} under {}: {e}", engine.backend()))
    };
    for name in names {
        let tract_query = query(
            &engine(under(BackendChoice::Tract, single_pass.clone())),
            name,
        );
        for other in others {
            // The same chip, so only the network differs.
            let other_embedding = other
                .embed_batch(&[&tract_query.aligned])
                .expect("embed")
                .remove(0);
            let largest = tract_query
                .embedding
                .vector()
                .iter()
                .zip(other_embedding.vector())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                largest < 1e-4,
                "{name} under {}: {largest}",
                other.backend()
            );
        }
    }
}

#[cfg(feature = "onnxruntime")]
fn onnxruntime_at(choice: BackendChoice, library: &Path) -> Result<FaceEngine, FaceError> {
    let mut config = under(choice, one_pass());
    config.backend.onnxruntime_library = Some(library.to_owned());
    FaceEngine::new(config)
}

/// A library that is missing or not a library: required, the engine refuses to start
/// with an error naming the path; `auto`, it runs under tract.
#[cfg(feature = "onnxruntime")]
#[test]
fn a_bad_onnxruntime_library_is_named_or_replaced_by_tract() {
    let dir = temp_dir();
    let missing = dir.path().join("libonnxruntime.so");
    let text = dir.path().join("not-a-library.so");
    std::fs::write(&text, "not a library").expect("write");
    for (library, reason) in [
        (&missing, "cannot be read"),
        (&text, "is not a shared library"),
    ] {
        let error = onnxruntime_at(BackendChoice::OnnxRuntime, library).expect_err("refused");
        let message = error.to_string();
        assert!(matches!(error, FaceError::OnnxRuntime { .. }), "{message}");
        assert!(
            message.contains(&library.display().to_string()),
            "{message}"
        );
        assert!(message.contains(reason), "{message}");
        let engine = onnxruntime_at(BackendChoice::Auto, library).expect("tract instead");
        assert_eq!(engine.backend(), Backend::Tract);
    }
}
