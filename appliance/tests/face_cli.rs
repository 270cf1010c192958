//! `dipper face detect|embed|compare` on the real photos `scripts/fetch-models` puts in
//! `.cache/faces`, run as the installer runs them: the built binary, its stdout and exit
//! status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

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

fn dipper(args: &[&str], photos: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dipper"))
        .args(args)
        .args(photos)
        .output()
        .expect("the dipper binary runs")
}

/// Runs a command that must succeed with `--json` and parses its one document.
fn json(args: &[&str], photos: &[&Path]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let output = dipper(&args, photos);
    assert!(
        output.status.success(),
        "dipper {args:?} {photos:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert_eq!(stdout.lines().count(), 1, "one JSON line, got {stdout}");
    serde_json::from_str(&stdout).expect("valid JSON")
}

/// Runs a command that must fail, and returns its stderr.
fn failure(args: &[&str], photos: &[&Path]) -> String {
    let output = dipper(args, photos);
    assert!(
        !output.status.success(),
        "dipper {args:?} {photos:?} should fail, printed {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.stdout.is_empty(), "nothing on stdout when failing");
    String::from_utf8(output.stderr).expect("UTF-8 errors")
}

#[test]
fn detect_lists_the_group_photos_faces_with_landmarks_and_verdicts() {
    let report = json(&["face", "detect"], &[&photo("solvay_conference_1927.jpg")]);
    assert_eq!(report["width"], 3000);
    let faces = report["faces"].as_array().expect("faces");
    assert!(faces.len() >= 24, "{} faces of about 29", faces.len());
    for (i, face) in faces.iter().enumerate() {
        assert_eq!(face["index"], i);
        assert_eq!(face["landmarks"].as_array().map(Vec::len), Some(5));
        let width = face["box"]["width"].as_f64().expect("box width");
        assert!(
            (40.0..200.0).contains(&width),
            "face {i} is {width} px wide"
        );
    }
    let usable = faces.iter().filter(|f| f["rejected"].is_null()).count();
    assert!(usable >= 20, "{usable} usable faces");
}

#[test]
fn embed_prints_a_unit_vector_and_its_model() {
    let report = json(&["face", "embed"], &[&photo("obama.jpg")]);
    assert_eq!(report["model"], "dlib-resnet-v1");
    assert_eq!(report["dimensions"], 128);
    let vector: Vec<f64> = report["vector"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect();
    assert_eq!(vector.len(), 128);
    let norm = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    assert_eq!(report["face"]["faces_found"], 1);
}

#[test]
fn compare_calls_the_same_person_the_same_and_others_different() {
    let same = json(
        &["face", "compare"],
        &[&photo("obama.jpg"), &photo("obama2.jpg")],
    );
    assert_eq!(same["same_person"], true, "{same}");
    let other = json(
        &["face", "compare"],
        &[&photo("obama.jpg"), &photo("biden.jpg")],
    );
    assert_eq!(other["same_person"], false, "{other}");
    let threshold = same["threshold"].as_f64().expect("threshold");
    assert!(same["distance"].as_f64().expect("distance") <= threshold);
    assert!(other["distance"].as_f64().expect("distance") > threshold);
}

#[test]
fn a_photo_of_several_faces_needs_a_pick() {
    let group = photo("solvay_conference_1927.jpg");
    let error = failure(&["face", "embed"], &[&group]);
    assert!(error.contains("faces found, pick one"), "{error}");
    assert!(error.contains("#0 "), "the faces are listed: {error}");
    let largest = json(&["face", "embed", "--pick", "largest"], &[&group]);
    assert_eq!(largest["dimensions"], 128);
    let third = json(&["face", "embed", "--pick", "2"], &[&group]);
    assert_ne!(largest["vector"], third["vector"]);
    let error = failure(&["face", "embed", "--pick", "999"], &[&group]);
    assert!(error.contains("no face #999"), "{error}");
    let error = failure(&["face", "embed", "--pick", "tallest"], &[&group]);
    assert!(error.contains("`tallest` is not a face"), "{error}");
}

#[test]
fn bad_photos_get_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blank = dir.path().join("wall.png");
    image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]))
        .save(&blank)
        .expect("write a blank photo");
    let error = failure(&["face", "embed"], &[&blank]);
    assert!(error.contains("no face found"), "{error}");
    assert!(error.contains("wall.png"), "{error}");

    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, "not a photo").expect("write");
    let error = failure(&["face", "detect"], &[&text]);
    assert!(
        error.contains("notes.jpg") && error.contains("cannot be read"),
        "{error}"
    );

    let missing = dir.path().join("missing.jpg");
    let error = failure(&["face", "compare"], &[&photo("obama.jpg"), &missing]);
    assert!(error.contains("missing.jpg"), "{error}");
}

#[test]
fn missing_models_name_the_command_that_fetches_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let models = dir.path().to_str().expect("UTF-8 path");
    let error = failure(
        &["face", "detect", "--models", models],
        &[&photo("astronaut.png")],
    );
    assert!(error.contains("scripts/fetch-models"), "{error}");
}
