//! The face clips of `scripts/make-face-clips` through the keyframe extractor and the face
//! stages: every keyframe inside a face's interval (as `faces.json` gives it) has exactly
//! that face, where it was laid, through the quality gate; no other keyframe has a face; and
//! obama2's and obama3's faces match the query from obama.jpg while the others do not.

mod common;

use std::ops::ControlFlow;
use std::path::PathBuf;

use pipeline::faces::{BackendChoice, FaceConfig, FaceEngine, FacePick, MATCH_DISTANCE, RgbView};
use pipeline::keyframes::{ExtractConfig, extract};
use serde::Deserialize;

/// `faces.json`, as far as these tests read it.
#[derive(Debug, Deserialize)]
struct Manifest {
    clips: Vec<Clip>,
}

#[derive(Debug, Deserialize)]
struct Clip {
    file: String,
    seconds: u32,
    keyframe_every_s: u32,
    width: u32,
    height: u32,
    appearances: Vec<Appearance>,
}

/// A photo shown still at (x, y), `width` x `height` pixels, from `from_s` (inclusive) to
/// `to_s` (exclusive) seconds into the clip.
#[derive(Debug, Deserialize)]
struct Appearance {
    photo: String,
    from_s: f64,
    to_s: f64,
    x: f32,
    y: f32,
    width: f32,
    height: f32,
}

impl Appearance {
    fn shown_at(&self, seconds: f64) -> bool {
        (self.from_s..self.to_s).contains(&seconds)
    }

    fn holds(&self, x: f32, y: f32) -> bool {
        (self.x..self.x + self.width).contains(&x) && (self.y..self.y + self.height).contains(&y)
    }

    /// The photos of Barack Obama (the query photo is `obama.jpg`).
    fn is_obama(&self) -> bool {
        self.photo.starts_with("obama")
    }
}

fn clips_dir() -> PathBuf {
    common::clips_dir("faces")
}

fn manifest() -> Manifest {
    common::manifest("faces", "faces.json")
}

/// One accepted face of a keyframe: its box's centre and its distance to the query.
#[derive(Debug)]
struct Seen {
    centre: (f32, f32),
    distance: f32,
}

/// Per keyframe of `clip`: its time in seconds since the first keyframe, the faces the
/// detector found (ungated) and the faces that passed the gate.
fn faces_in(
    engine: &FaceEngine,
    query: &pipeline::faces::Embedding,
    clip: &Clip,
) -> Vec<(f64, usize, Vec<Seen>)> {
    let path = clips_dir().join(&clip.file);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let config = ExtractConfig {
        width: clip.width,
        height: clip.height,
        recording: clip.file.clone(),
        ..ExtractConfig::default()
    };
    let mut found = Vec::new();
    extract(file, &config, |keyframe| {
        let frame = RgbView::from_keyframe(&keyframe).expect("keyframe as a frame");
        let detected = engine.detect(frame).expect("detection").len();
        // The analysis detects again; without detections it would find nothing.
        let seen = if detected == 0 {
            Vec::new()
        } else {
            let faces = engine.analyse_frame(frame).expect("faces");
            faces
                .faces
                .iter()
                .map(|face| Seen {
                    centre: (face.bbox.centre().x, face.bbox.centre().y),
                    distance: face.embedding.distance(query).expect("same model"),
                })
                .collect()
        };
        found.push((keyframe.time.as_secs_f64(), detected, seen));
        ControlFlow::Continue(())
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    found
}

/// One clip's keyframes against its manifest entry: every appearance carried by three
/// keyframes or more, each face where the manifest puts it and matched only if it is the
/// target; the photos matched and not are collected.
fn check_clip<'a>(
    clip: &'a Clip,
    keyframes: &[(f64, usize, Vec<Seen>)],
    matched: &mut Vec<&'a str>,
    not_matched: &mut Vec<&'a str>,
) {
    assert_eq!(
        keyframes.len() as u32,
        clip.seconds / clip.keyframe_every_s,
        "{}: keyframes",
        clip.file
    );
    for appearance in &clip.appearances {
        let carrying = keyframes
            .iter()
            .filter(|(t, _, _)| appearance.shown_at(*t))
            .count();
        assert!(
            carrying >= 3,
            "{} {}: {carrying} keyframes",
            clip.file,
            appearance.photo
        );
    }
    for (t, detected, seen) in keyframes {
        let shown: Vec<&Appearance> = clip.appearances.iter().filter(|a| a.shown_at(*t)).collect();
        let at = format!("{} at {t:.2} s", clip.file);
        match shown.as_slice() {
            [] => {
                assert_eq!(*detected, 0, "{at}: detections without a face shown");
                assert!(
                    seen.is_empty(),
                    "{at}: faces without a face shown: {seen:?}"
                );
            }
            [appearance] => {
                assert_eq!(
                    seen.len(),
                    1,
                    "{at}: {} expected: {seen:?}",
                    appearance.photo
                );
                let face = &seen[0];
                assert!(
                    appearance.holds(face.centre.0, face.centre.1),
                    "{at}: face at {:?}, {appearance:?}",
                    face.centre
                );
                assert_eq!(
                    face.distance < MATCH_DISTANCE,
                    appearance.is_obama(),
                    "{at}: {} at distance {} from obama.jpg",
                    appearance.photo,
                    face.distance
                );
                if appearance.is_obama() {
                    matched.push(appearance.photo.as_str());
                } else {
                    not_matched.push(appearance.photo.as_str());
                }
            }
            several => panic!("{at}: the manifest overlaps faces: {several:?}"),
        }
    }
}

/// Under the box's backend (ONNX Runtime when its library is at hand).
#[test]
fn faces_of_the_manifest_are_found_in_their_keyframes_and_nowhere_else() {
    faces_of_the_manifest_are_found(FaceConfig::default());
}

#[test]
fn faces_of_the_manifest_are_found_under_tract() {
    let mut config = FaceConfig::default();
    config.backend.choice = BackendChoice::Tract;
    faces_of_the_manifest_are_found(config);
}

fn faces_of_the_manifest_are_found(config: FaceConfig) {
    let manifest = manifest();
    assert!(
        manifest.clips.iter().any(|c| c.appearances.is_empty()),
        "the manifest has a clip without faces"
    );
    let engine = FaceEngine::new(config).expect("models load");
    let query = engine
        .query_from_photo(&common::repo_cache("faces/obama.jpg"), FacePick::Only)
        .expect("query photo")
        .embedding;
    // A clip per thread (the engine is shared): the face stages dominate the test's time.
    let per_clip: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = manifest
            .clips
            .iter()
            .map(|clip| scope.spawn(|| faces_in(&engine, &query, clip)))
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().expect("clip thread"))
            .collect()
    });
    let (mut matched, mut not_matched) = (Vec::new(), Vec::new());
    for (clip, keyframes) in manifest.clips.iter().zip(per_clip) {
        check_clip(clip, &keyframes, &mut matched, &mut not_matched);
    }
    for photo in ["obama2.jpg", "obama3.jpg"] {
        assert!(matched.contains(&photo), "{photo} matched in no keyframe");
    }
    assert!(
        not_matched.contains(&"biden.jpg"),
        "biden.jpg was seen in no keyframe"
    );
}
