//! The face stages on real photos (`.cache/faces`) with the real models (`.cache/models`),
//! both fetched by `scripts/fetch-models`: astronaut.png (scikit-image), obama*.jpg and
//! biden.jpg (face_recognition's tests), newton.png, gauss.png and the 1927 Solvay
//! conference group photo (scrfd's sdist).

use std::path::{Path, PathBuf};

use image::{DynamicImage, RgbImage};

use super::*;

fn faces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".cache")
        .join("faces")
}

/// A test photo's path; fails (never skips) when it is missing.
pub(super) fn photo_path(name: &str) -> PathBuf {
    let path = faces_dir().join(name);
    assert!(
        path.is_file(),
        "test photo {} is missing: run scripts/fetch-models",
        path.display()
    );
    path
}

/// A test photo, decoded upright.
pub(super) fn photo(name: &str) -> RgbImage {
    load_upright(&photo_path(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// Settings for photos whose faces are large: the first pass finds them, and skipping the
/// finer pass keeps the tests quick.
pub(super) fn one_pass() -> FaceConfig {
    FaceConfig {
        detector: DetectorConfig {
            pass_sides: vec![640],
            ..DetectorConfig::default()
        },
        ..FaceConfig::default()
    }
}

/// Every backend this build has; ONNX Runtime must load (its library from
/// `scripts/fetch-models`), never silently replaced by tract.
pub(super) fn backends() -> Vec<BackendChoice> {
    let mut choices = vec![BackendChoice::Tract];
    if cfg!(feature = "onnxruntime") {
        choices.push(BackendChoice::OnnxRuntime);
    }
    choices
}

pub(super) fn under(choice: BackendChoice, mut config: FaceConfig) -> FaceConfig {
    config.backend.choice = choice;
    config
}

pub(super) fn engine(config: FaceConfig) -> FaceEngine {
    FaceEngine::new(config).unwrap_or_else(|e| panic!("{e}"))
}

fn detector(config: DetectorConfig) -> Detector {
    Detector::load(&models::SearchPath::from_env(), Backend::Tract, config)
        .unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

#[test]
fn astronaut_has_one_plausible_face() {
    let image = photo("astronaut.png");
    let frame = RgbView::from_image(&image).expect("valid");
    let started = std::time::Instant::now();
    let faces = detector(DetectorConfig::default())
        .detect(frame)
        .expect("detects");
    eprintln!(
        "astronaut.png 512x512: detection in {:?}",
        started.elapsed()
    );
    assert_eq!(faces.len(), 1, "{faces:?}");
    let face = faces[0];
    eprintln!("{face:?}");
    // The face is about 90x110 pixels with its top-left corner near (180, 65).
    let expected = BoundingBox {
        x: 180.0,
        y: 65.0,
        width: 90.0,
        height: 110.0,
    };
    assert!(face.bbox.iou(&expected) > 0.8, "{}", face.bbox);
    assert!(face.score > 0.9, "score {}", face.score);
    let l = face.landmarks;
    for point in l.0 {
        assert!(
            point.x > face.bbox.x
                && point.x < face.bbox.right()
                && point.y > face.bbox.y
                && point.y < face.bbox.bottom(),
            "{point:?} outside {}",
            face.bbox
        );
    }
    assert!(
        l.right_eye().x < l.left_eye().x,
        "the person's right eye is on the image's left"
    );
    assert!(l.mouth_right().x < l.mouth_left().x);
    assert!(l.right_eye().y < l.nose().y && l.left_eye().y < l.nose().y);
    assert!(l.nose().y < l.mouth_right().y && l.nose().y < l.mouth_left().y);
    assert!(
        (35.0..55.0).contains(&l.inter_ocular()),
        "{}",
        l.inter_ocular()
    );

    // Alignment round trip: the chip's transform takes the real landmarks to within a few
    // chip pixels of the template (a real face is not the mean face).
    let aligned = align(frame, &l).expect("aligned");
    let to_chip = aligned.to_frame().inverse().expect("invertible");
    for (name, (point, target)) in ["right eye", "left eye", "nose", "mouth right", "mouth left"]
        .iter()
        .zip(l.0.iter().zip(chip_template().0))
    {
        let distance = to_chip.apply(*point).distance(target);
        assert!(
            distance < 5.0,
            "{name} lands {distance:.1} chip pixels off the template"
        );
    }
}

#[test]
fn refining_a_face_seen_shrunk_moves_its_landmarks_where_a_fine_pass_puts_them() {
    // Biden's face is 380 pixels tall in a 2204-pixel photo: 110 in the 640 pass, whose
    // landmarks are off by several percent of the face; the 1280 pass sees it at 220.
    let image = photo("biden.jpg");
    let frame = RgbView::from_image(&image).expect("valid");
    let coarse_detector = detector(one_pass().detector);
    let coarse = coarse_detector.detect(frame).expect("detects");
    let fine = detector(DetectorConfig {
        pass_sides: vec![1280],
        ..DetectorConfig::default()
    })
    .detect(frame)
    .expect("detects");
    assert_eq!((coarse.len(), fine.len()), (1, 1));
    let refined = coarse_detector.refine(frame, &coarse[0]).expect("refines");
    let off = |face: &Detection| {
        face.landmarks
            .0
            .iter()
            .zip(fine[0].landmarks.0)
            .map(|(a, b)| a.distance(b))
            .fold(0.0f32, f32::max)
    };
    eprintln!(
        "landmarks off the 1280 pass's by up to {:.1} px in the 640 pass, {:.1} refined",
        off(&coarse[0]),
        off(&refined)
    );
    assert!(refined.bbox.iou(&coarse[0].bbox) > 0.7);
    assert!(off(&refined) < off(&coarse[0]) / 2.0);
}

#[test]
fn a_strided_view_sees_the_same_faces() {
    let image = photo("astronaut.png");
    let (width, height) = image.dimensions();
    let stride = width as usize * 3 + 64;
    let mut padded = vec![0xAAu8; stride * height as usize];
    for (y, row) in image.as_raw().chunks_exact(width as usize * 3).enumerate() {
        padded[y * stride..y * stride + row.len()].copy_from_slice(row);
    }
    let detector = detector(DetectorConfig::default());
    let packed = detector
        .detect(RgbView::from_image(&image).expect("valid"))
        .expect("detects");
    let strided = detector
        .detect(RgbView::new(width, height, stride, &padded).expect("valid"))
        .expect("detects");
    assert_eq!(packed, strided);
}

#[test]
fn group_photo_faces_are_found_and_gated() {
    // The 1927 Solvay conference: 29 people in three rows, faces 75 to 95 pixels wide in a
    // 3000x2171 grey scan.
    let image = photo("solvay_conference_1927.jpg");
    let frame = RgbView::from_image(&image).expect("valid");
    let single = detector(one_pass().detector)
        .detect(frame)
        .expect("detects");
    let engine = engine(FaceConfig::default());
    let started = std::time::Instant::now();
    let detections = engine.detect(frame).expect("detects");
    let detection_time = started.elapsed();
    let started = std::time::Instant::now();
    let analysed = engine.analyse_frame(frame).expect("analyses");
    eprintln!(
        "solvay_conference_1927.jpg 3000x2171: {} faces with the 640 pass alone, {} with the \
         640 and 1280 passes ({detection_time:?}); analysed in {:?}: {} accepted, {:?}",
        single.len(),
        detections.len(),
        started.elapsed(),
        analysed.faces.len(),
        analysed.rejections
    );
    assert!(
        (24..=31).contains(&detections.len()),
        "{} faces found of 29",
        detections.len()
    );
    assert_eq!(
        analysed.faces.len() as u64 + analysed.rejections.total(),
        detections.len() as u64,
        "every detected face is accepted or counted as rejected"
    );
    assert!(
        analysed.faces.len() >= 20,
        "{} accepted",
        analysed.faces.len()
    );
    for face in &analysed.faces {
        assert_eq!(face.embedding.model(), ModelId::EMBEDDER);
        assert_eq!(engine.config().quality.check(&face.quality), Ok(()));
    }
}

/// Every pair of the test portraits under each backend: the three photos of Obama match,
/// nobody else matches anybody, and the gap between the farthest same-person pair and the
/// nearest different pair is as wide as the one [`MATCH_DISTANCE`] was chosen in (0.312 and
/// 0.435 under tract).
#[test]
fn distances_between_the_test_portraits() {
    for choice in backends() {
        let engine = engine(under(choice, one_pass()));
        assert_eq!(
            engine.backend().name(),
            format!("{choice:?}").to_lowercase()
        );
        let (farthest_same, nearest_different) = portrait_distances(&engine);
        eprintln!(
            "{}: farthest same person {farthest_same:.3}, nearest different {nearest_different:.3}",
            engine.backend()
        );
        assert!(
            farthest_same <= 0.32 && nearest_different >= 0.43,
            "{}: {farthest_same:.3} vs {nearest_different:.3}",
            engine.backend()
        );
    }
}

/// The farthest same-person and nearest different-person distances of the portraits;
/// fails on a pair that [`MATCH_DISTANCE`] calls wrong.
fn portrait_distances(engine: &FaceEngine) -> (f32, f32) {
    let names = [
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "biden.jpg",
        "astronaut.png",
        "newton.png",
        "gauss.png",
    ];
    let queries: Vec<QueryFace> = names
        .iter()
        .map(|name| {
            let started = std::time::Instant::now();
            let query = engine
                .query_from_photo(&photo_path(name), FacePick::Only)
                .unwrap_or_else(|e| panic!("{e}"));
            eprintln!("{name}: {} ({:?})", query.quality, started.elapsed());
            query
        })
        .collect();
    let mut table = String::new();
    let mut failures = Vec::new();
    let (mut farthest_same, mut nearest_different) = (0f32, f32::INFINITY);
    for (i, (a, query_a)) in names.iter().zip(&queries).enumerate() {
        for (b, query_b) in names.iter().zip(&queries).skip(i + 1) {
            let distance = query_a
                .embedding
                .distance(&query_b.embedding)
                .expect("same model");
            let same_person = a.starts_with("obama") && b.starts_with("obama");
            if same_person {
                farthest_same = farthest_same.max(distance);
            } else {
                nearest_different = nearest_different.min(distance);
            }
            let matched = query_a
                .embedding
                .matches(&query_b.embedding)
                .expect("same model");
            table.push_str(&format!(
                "{a:>14} {b:>14} {distance:.3} {}\n",
                if same_person { "same" } else { "different" }
            ));
            if matched != same_person {
                failures.push(format!("{a} vs {b}: {distance:.3}"));
            }
        }
    }
    eprintln!(
        "distances under {} (match at <= {MATCH_DISTANCE}):\n{table}",
        engine.backend()
    );
    assert!(
        failures.is_empty(),
        "wrong at {MATCH_DISTANCE} under {}: {failures:?}\n{table}",
        engine.backend()
    );
    (farthest_same, nearest_different)
}

#[test]
fn a_blurred_face_is_rejected_as_blurred() {
    let engine = engine(one_pass());
    let dir = temp_dir();
    for (name, sigma) in [("obama.jpg", 3.0), ("astronaut.png", 2.0)] {
        let sharp = photo(name);
        let blurred = DynamicImage::ImageRgb8(sharp.clone())
            .blur(sigma)
            .into_rgb8();

        let analysed = engine
            .analyse_frame(RgbView::from_image(&sharp).expect("valid"))
            .expect("analyses");
        assert_eq!(analysed.faces.len(), 1, "{name}: {analysed:?}");
        assert_eq!(analysed.rejections, Rejections::default());
        let sharpness = analysed.faces[0].quality.sharpness;

        let analysed = engine
            .analyse_frame(RgbView::from_image(&blurred).expect("valid"))
            .expect("analyses");
        assert!(analysed.faces.is_empty(), "{name} blurred: {analysed:?}");
        assert_eq!(
            analysed.rejections,
            Rejections {
                blurred: 1,
                ..Rejections::default()
            },
            "{name} blurred by sigma {sigma}"
        );

        // The same blurred photo as a query is refused, naming the reason.
        let path = dir.path().join(format!("blurred-{name}.png"));
        blurred.save(&path).expect("saved");
        let error = engine
            .query_from_photo(&path, FacePick::Only)
            .expect_err("blurred query");
        eprintln!("{name}: sharp {sharpness:.2}; {error}");
        assert!(
            matches!(
                error,
                FaceError::QueryRejected {
                    reason: Rejection::Blurred,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("blurred"), "{error}");
    }
}

/// `jpeg` with an EXIF APP1 segment holding only an orientation tag, placed after the
/// SOI marker and a JFIF APP0 segment if there is one.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II*\0"); // little-endian TIFF header
    tiff.extend_from_slice(&8u32.to_le_bytes()); // first IFD right after it
    tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_le_bytes()); // one value
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    let mut segment = vec![0xFF, 0xE1];
    let length = u16::try_from(2 + 6 + tiff.len()).expect("small");
    segment.extend_from_slice(&length.to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);

    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
    let mut at = 2;
    if jpeg[2..4] == [0xFF, 0xE0] {
        at += 2 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    }
    let mut out = jpeg[..at].to_vec();
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[at..]);
    out
}

#[test]
fn exif_orientation_is_honoured() {
    let engine = engine(one_pass());
    let upright = engine
        .query_from_photo(&photo_path("astronaut.png"), FacePick::Only)
        .unwrap_or_else(|e| panic!("{e}"));
    let image = photo("astronaut.png");
    let dir = temp_dir();
    // (EXIF orientation, how the pixels are stored so that the tag turns them upright)
    type Store = fn(&RgbImage) -> RgbImage;
    let cases: [(u16, Store); 3] = [
        (3, image::imageops::rotate180),
        (6, image::imageops::rotate270),
        (8, image::imageops::rotate90),
    ];
    for (orientation, store) in cases {
        let stored = store(&image);
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&stored)
            .expect("encodes");
        let path = dir
            .path()
            .join(format!("astronaut-orientation-{orientation}.jpg"));
        std::fs::write(&path, with_exif_orientation(&jpeg, orientation)).expect("written");

        // Decoded as stored, the photo lies on its side or head down...
        let raw = image::open(&path).expect("decodes").into_rgb8();
        assert_eq!(raw.dimensions(), stored.dimensions());
        // ...and upright with the tag applied.
        let loaded = load_upright(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.dimensions(), image.dimensions());
        let query = engine
            .query_from_photo(&path, FacePick::Only)
            .unwrap_or_else(|e| panic!("orientation {orientation}: {e}"));
        let l = query.detection.landmarks;
        assert!(
            l.right_eye().x < l.left_eye().x && l.left_eye().y < l.mouth_left().y,
            "orientation {orientation}: face not upright: {l:?}"
        );
        assert!(
            query.detection.bbox.iou(&upright.detection.bbox) > 0.8,
            "orientation {orientation}: {} vs {}",
            query.detection.bbox,
            upright.detection.bbox
        );
        let distance = query
            .embedding
            .distance(&upright.embedding)
            .expect("same model");
        eprintln!("orientation {orientation}: distance to the PNG's {distance:.3}");
        assert!(distance < 0.15, "orientation {orientation}: {distance}");
    }
}

#[test]
fn query_photos_with_no_face_or_several() {
    let engine = engine(one_pass());
    let solvay = photo("solvay_conference_1927.jpg");
    let dir = temp_dir();

    // The wall above the group: no face.
    let wall = dir.path().join("wall.png");
    image::imageops::crop_imm(&solvay, 0, 0, 800, 600)
        .to_image()
        .save(&wall)
        .expect("saved");
    let error = engine
        .query_from_photo(&wall, FacePick::Only)
        .expect_err("no face");
    assert!(matches!(error, FaceError::NoFace { .. }), "{error}");
    assert!(error.to_string().contains("wall.png"), "{error}");
    assert!(matches!(
        engine.query_from_photo(&wall, FacePick::Largest),
        Err(FaceError::NoFace { .. })
    ));

    // A corner of the front rows: several faces, listed with boxes and scores.
    let group = dir.path().join("group.png");
    image::imageops::crop_imm(&solvay, 680, 820, 500, 460)
        .to_image()
        .save(&group)
        .expect("saved");
    let detections = engine
        .detect(RgbView::from_image(&load_upright(&group).expect("loads")).expect("valid"))
        .expect("detects");
    assert!(detections.len() >= 3, "{detections:?}");
    let error = engine
        .query_from_photo(&group, FacePick::Only)
        .expect_err("several faces");
    eprintln!("{error}");
    let FaceError::SeveralFaces { faces, .. } = &error else {
        panic!("expected SeveralFaces, got {error}");
    };
    assert_eq!(faces.len(), detections.len());
    let message = error.to_string();
    assert!(
        message.contains(&format!("{} faces found", faces.len())),
        "{message}"
    );
    assert!(
        message.contains("#0 ") && message.contains("score 0."),
        "{message}"
    );

    // The chosen face comes back refined: the same face, its box a little different.
    let largest = engine
        .query_from_photo(&group, FacePick::Largest)
        .unwrap_or_else(|e| panic!("{e}"));
    let largest_detection = detections
        .iter()
        .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
        .expect("faces");
    assert!(largest.detection.bbox.iou(&largest_detection.bbox) > 0.7);
    assert_eq!(largest.faces_found, detections.len());

    let second = engine
        .query_from_photo(&group, FacePick::Index(1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(second.detection.bbox.iou(&detections[1].bbox) > 0.7);

    let error = engine
        .query_from_photo(&group, FacePick::Index(99))
        .expect_err("no face #99");
    assert!(
        matches!(error, FaceError::NoSuchFace { index: 99, .. }),
        "{error}"
    );

    // An unreadable photo names its path.
    let error = engine
        .query_from_photo(&dir.path().join("missing.jpg"), FacePick::Only)
        .expect_err("missing photo");
    assert!(matches!(error, FaceError::Photo { .. }), "{error}");
    assert!(error.to_string().contains("missing.jpg"), "{error}");
}

#[test]
fn embeddings_of_other_models_are_refused() {
    let engine = engine(one_pass());
    let query = engine
        .query_from_photo(&photo_path("astronaut.png"), FacePick::Only)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(query.embedding.model(), engine.embedding_model());
    assert_eq!(ModelId::from_id("dlib-resnet-v1"), Some(ModelId::EMBEDDER));
    // A stored vector re-read under the wrong model id is refused up front...
    let error = Embedding::new(ModelId::DETECTOR, query.embedding.vector().to_vec())
        .expect_err("the detector makes no embeddings");
    assert!(matches!(error, FaceError::Dimensions { .. }), "{error}");
    // ...and a vector kept under the right one compares as before.
    let copy = Embedding::new(ModelId::EMBEDDER, query.embedding.vector().to_vec()).expect("valid");
    assert!(copy.distance(&query.embedding).expect("same model") < 1e-6);
}

#[test]
fn missing_models_are_named_with_the_fetch_command() {
    let empty = temp_dir();
    let config = FaceConfig {
        models: models::SearchPath::new([empty.path().to_owned()]),
        ..FaceConfig::default()
    };
    let error = FaceEngine::new(config).expect_err("no models");
    let message = error.to_string();
    assert!(matches!(error, FaceError::ModelFile(_)), "{message}");
    assert!(message.contains("scripts/fetch-models"), "{message}");
    assert!(
        message.contains("face_detection_yunet_2023mar.onnx"),
        "{message}"
    );
}

#[test]
fn bad_settings_are_refused_with_their_key() {
    let check = |change: fn(&mut FaceConfig), field: &str| {
        let mut config = FaceConfig::default();
        change(&mut config);
        let error = FaceEngine::new(config).expect_err("refused");
        assert!(
            matches!(&error, FaceError::InvalidConfig { field: f, .. } if *f == field),
            "{error}"
        );
    };
    check(|c| c.detector.pass_sides = vec![], "detector.pass_sides");
    check(|c| c.detector.pass_sides = vec![600], "detector.pass_sides");
    check(
        |c| c.detector.pass_sides = vec![1280, 640],
        "detector.pass_sides",
    );
    check(
        |c| c.detector.score_threshold = 1.5,
        "detector.score_threshold",
    );
    check(|c| c.detector.nms_iou = f32::NAN, "detector.nms_iou");
    check(
        |c| c.quality.max_yaw_degrees = 100.0,
        "quality.max_yaw_degrees",
    );
    check(|c| c.embedder.batch_size = 0, "embedder.batch_size");
    assert_eq!(FaceConfig::default().validate().ok(), Some(()));
}

#[test]
fn the_stages_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<FaceEngine>();
    shared::<Detector>();
    shared::<Embedder>();
}

/// A photo cropped to its face's box, as an ID photo or a face cut out of a document is.
fn tight_crop(image: &RgbImage, bbox: &BoundingBox, margin: f32) -> RgbImage {
    let grow = |v: f32, by: f32| (v - by).max(0.0);
    let (mx, my) = (bbox.width * margin, bbox.height * margin);
    let x = grow(bbox.x, mx) as u32;
    let y = grow(bbox.y, my) as u32;
    let width = ((bbox.width + 2.0 * mx) as u32).min(image.width() - x);
    let height = ((bbox.height + 2.0 * my) as u32).min(image.height() - y);
    image::imageops::crop_imm(image, x, y, width, height).to_image()
}

#[test]
fn tight_crops_of_a_face_are_accepted_as_queries() {
    // A face that fills the picture scores low with YuNet (about 0.72) when it touches the
    // borders; the query is padded and found again, and it is the same face.
    let engine = engine(one_pass());
    for name in ["obama.jpg", "biden.jpg", "astronaut.png"] {
        let path = photo_path(name);
        let whole = engine
            .query_from_photo(&path, FacePick::Only)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let image = photo(name);
        for margin in [0.0, 0.05, 0.15] {
            let crop = tight_crop(&image, &whole.detection.bbox, margin);
            let mut png = Vec::new();
            DynamicImage::ImageRgb8(crop.clone())
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .expect("encodes");
            let query = engine
                .query_from_photo_bytes(&png, Path::new(name), FacePick::Only)
                .unwrap_or_else(|e| panic!("{name} cropped with margin {margin}: {e}"));
            let distance = query
                .embedding
                .distance(&whole.embedding)
                .expect("same model");
            assert!(
                distance < 0.2,
                "{name} margin {margin}: distance {distance}"
            );
            // The face is reported in the crop's own pixels.
            let b = query.detection.bbox;
            assert!(
                b.x >= 0.0
                    && b.y >= 0.0
                    && b.right() <= crop.width() as f32 + 0.5
                    && b.bottom() <= crop.height() as f32 + 0.5
                    && b.width > crop.width() as f32 * 0.5,
                "{name} margin {margin}: {b} in a {}x{} crop",
                crop.width(),
                crop.height()
            );
        }
    }
}

/// A PNG whose header claims `width` x `height` pixels; its data is a 1x1 image's.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = Vec::new();
    RgbImage::new(1, 1)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("a PNG");
    // The signature (8 bytes), IHDR's length (4) and type (4), then width, height, five
    // more bytes, and the CRC of type and data.
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// Found by `scripts/fuzz photo`: a 272-byte PNG claiming terabytes of pixels aborted the
/// process (the allocation failed) instead of being refused.
#[test]
fn a_photo_claiming_more_pixels_than_allowed_is_refused_before_decoding() {
    let over = MAX_PHOTO_SIDE + 1;
    for (width, height) in [
        (over, 16),
        (16, over),
        (60_000, 60_000),
        (u32::MAX, u32::MAX),
    ] {
        let error = decode_upright(&png_claiming(width, height), Path::new("huge.png"))
            .expect_err("refused");
        assert!(matches!(error, FaceError::Photo { .. }), "{error}");
        // The reason under the photo's error: one of the limits (the side, or for the
        // largest the memory), not a failed read of the missing pixels.
        let reason = std::error::Error::source(&error).map(|e| e.to_string());
        let reason = reason.unwrap_or_default();
        assert!(
            ["Image size exceeds limit", "Memory limit exceeded"].contains(&reason.as_str()),
            "{width}x{height}: {error}: {reason}"
        );
    }
    // The header check is what refused them: the same PNG claiming its true size decodes.
    let image = decode_upright(&png_claiming(1, 1), Path::new("small.png")).expect("decodes");
    assert_eq!(image.dimensions(), (1, 1));
}
