//! The converted embedder is face-api's network: dlib's ResNet as ONNX
//! (`models/tools/convert_dlib_tfjs.py`), run in tract, gives the descriptors that face-api
//! itself gives under TensorFlow.js (`models/tools/face_api_reference.mjs`) on real face
//! chips, one at a time and in a batch; and the descriptors tell people apart.
//!
//! Needs `scripts/fetch-models` (the models, the photos and the node modules in `.cache`)
//! and `node`; without them the test fails and says so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::imageops::FilterType;
use models::EMBEDDER;
use tract_onnx::prelude::*;

const FETCH: &str = "run scripts/fetch-models";

/// Largest difference allowed between tract's and face-api's descriptors, per value (they
/// differ by float rounding only: about 4e-7 on the development machine).
const TOLERANCE: f32 = 1e-4;

/// A face chip: a square of a photo in `.cache/faces`, resized to 150x150. The squares are
/// where face-api's dlib alignment puts them, from YuNet's landmarks on these photos.
struct Face {
    person: &'static str,
    photo: &'static str,
    x: u32,
    y: u32,
    side: u32,
}

const FACES: [Face; 8] = [
    face("collins", "astronaut.png", 172, 74, 101),
    face("obama", "obama.jpg", 362, 134, 265),
    face("obama", "obama2.jpg", 125, 275, 356),
    face("obama", "obama3.jpg", 637, 285, 321),
    face("biden", "biden.jpg", 414, 226, 347),
    face("newton", "newton.png", 331, 105, 132),
    face("gauss", "gauss.png", 370, 253, 320),
    face("solvay", "solvay_conference_1927.jpg", 2257, 1059, 118),
];

const fn face(person: &'static str, photo: &'static str, x: u32, y: u32, side: u32) -> Face {
    Face {
        person,
        photo,
        x,
        y,
        side,
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_owned()
}

/// The face's chip: 150x150 RGB bytes, row-major.
fn chip(face: &Face) -> Vec<u8> {
    let path = workspace().join(".cache/faces").join(face.photo);
    let photo = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; {FETCH}", path.display()))
        .to_rgb8();
    let square = image::imageops::crop_imm(&photo, face.x, face.y, face.side, face.side).to_image();
    let size = EMBEDDER.input_size as u32;
    image::imageops::resize(&square, size, size, FilterType::Triangle).into_raw()
}

/// Chips as the embedder's input: `[N, 3, 150, 150]`, R, G, B planes, 0..255.
fn input_tensor(chips: &[&[u8]]) -> Tensor {
    let side = EMBEDDER.input_size;
    let plane = side * side;
    let mut planes = vec![0f32; chips.len() * 3 * plane];
    for (n, chip) in chips.iter().enumerate() {
        for (i, rgb) in chip.chunks_exact(3).enumerate() {
            for (c, value) in rgb.iter().enumerate() {
                planes[(n * 3 + c) * plane + i] = f32::from(*value);
            }
        }
    }
    Tensor::from_shape(&[chips.len(), 3, side, side], &planes).expect("input shape")
}

/// The ONNX graph as the pipeline loads it: verified bytes, interface names checked.
fn load_graph() -> InferenceModel {
    let bytes = models::DLIB_RESNET_V1
        .read()
        .unwrap_or_else(|e| panic!("{e}"));
    let graph = tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())
        .expect("tract parses the ONNX file");
    let label = |outlet: OutletId| {
        graph
            .outlet_label(outlet)
            .map(str::to_owned)
            .unwrap_or_else(|| graph.node(outlet.node).name.clone())
    };
    let inputs: Vec<String> = graph
        .input_outlets()
        .expect("inputs")
        .iter()
        .map(|&o| label(o))
        .collect();
    let outputs: Vec<String> = graph
        .output_outlets()
        .expect("outputs")
        .iter()
        .map(|&o| label(o))
        .collect();
    assert_eq!(inputs, [EMBEDDER.input_name]);
    assert_eq!(outputs, [EMBEDDER.output_name]);
    graph
}

/// A tract plan for batches of `n` chips, as the pipeline makes one per batch size.
fn plan(graph: &InferenceModel, n: usize) -> Arc<TypedRunnableModel> {
    let side = EMBEDDER.input_size;
    graph
        .clone()
        .with_input_fact(0, f32::fact([n, 3, side, side]).into())
        .and_then(|graph| graph.into_optimized())
        .and_then(|graph| graph.into_runnable())
        .expect("tract plans the graph")
}

/// tract's descriptors for `chips`, run as one batch.
fn tract_descriptors(plan: &Arc<TypedRunnableModel>, chips: &[&[u8]]) -> Vec<Vec<f32>> {
    let outputs = plan
        .run(tvec!(input_tensor(chips).into()))
        .expect("tract runs the graph");
    let descriptors = outputs[0]
        .to_plain_array_view::<f32>()
        .expect("float output");
    assert_eq!(descriptors.shape(), [chips.len(), EMBEDDER.dims]);
    descriptors
        .rows()
        .into_iter()
        .map(|row| row.to_vec())
        .collect()
}

/// face-api's descriptors for the chips in `files`, computed as one batch under node.
fn face_api_descriptors(files: &[PathBuf]) -> Vec<Vec<f32>> {
    let script = workspace().join("models/tools/face_api_reference.mjs");
    let output = Command::new("node")
        .arg(&script)
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run node {}: {e}; node and npm come with scripts/lib/setup.sh",
                script.display()
            )
        });
    assert!(
        output.status.success(),
        "{} failed ({}): {}\n({FETCH} if the node modules are missing)",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the reference prints JSON");
    eprintln!(
        "face-api {} on tfjs {} ({} backend)",
        json["face_api"], json["tfjs"], json["backend"]
    );
    json["descriptors"]
        .as_array()
        .expect("descriptors")
        .iter()
        .map(|row| {
            let row: Vec<f32> = row
                .as_array()
                .expect("a descriptor")
                .iter()
                .map(|v| v.as_f64().expect("a number") as f32)
                .collect();
            assert_eq!(row.len(), EMBEDDER.dims);
            row
        })
        .collect()
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

fn norm(a: &[f32]) -> f32 {
    a.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn converted_embedder_matches_face_api_on_real_faces() {
    let started = Instant::now();
    let chips: Vec<Vec<u8>> = FACES.iter().map(chip).collect();
    eprintln!("{} chips cut in {:.1?}", chips.len(), started.elapsed());
    let dir = tempfile::tempdir().expect("temporary directory");
    let files: Vec<PathBuf> = FACES
        .iter()
        .zip(&chips)
        .enumerate()
        .map(|(i, (face, chip))| {
            let path = dir.path().join(format!("{i}-{}.rgb", face.person));
            std::fs::write(&path, chip).expect("write chip");
            path
        })
        .collect();

    // face-api runs in its own process while tract works.
    let reference = std::thread::spawn(move || face_api_descriptors(&files));

    let graph = load_graph();
    let one = plan(&graph, 1);
    let single: Vec<Vec<f32>> = chips
        .iter()
        .map(|chip| tract_descriptors(&one, &[chip.as_slice()]).remove(0))
        .collect();
    let all: Vec<&[u8]> = chips.iter().map(Vec::as_slice).collect();
    let batch = tract_descriptors(&plan(&graph, all.len()), &all);
    let tract_done = started.elapsed();
    let reference = reference
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    eprintln!(
        "tract and face-api done in {:.1?} (chips and tract alone {tract_done:.1?})",
        started.elapsed()
    );

    let mut worst = 0f32;
    for (i, face) in FACES.iter().enumerate() {
        let versus_face_api = max_abs_difference(&single[i], &reference[i]);
        let batch_versus_single = max_abs_difference(&batch[i], &single[i]);
        eprintln!(
            "{:<12} {:<28} norm {:.4}  |tract - face-api| max {versus_face_api:.2e}  |batch - single| max {batch_versus_single:.2e}",
            face.person,
            face.photo,
            norm(&single[i])
        );
        assert!(
            versus_face_api <= TOLERANCE,
            "{}: tract and face-api differ by up to {versus_face_api} (tolerance {TOLERANCE})\n tract: {:?}\n face-api: {:?}",
            face.photo,
            &single[i][..8],
            &reference[i][..8]
        );
        assert!(
            batch_versus_single <= 1e-4,
            "{}: batch and single runs differ by {batch_versus_single}",
            face.photo
        );
        worst = worst.max(versus_face_api);
    }
    eprintln!("largest difference between tract and face-api: {worst:.2e}");

    // The descriptors say who is who: the three photos of Obama are close (dlib's
    // same-person threshold on raw descriptors is 0.6), every other pair is far.
    let same_person_limit = EMBEDDER.raw_same_person_distance;
    for i in 0..FACES.len() {
        for j in i + 1..FACES.len() {
            let d = distance(&single[i], &single[j]);
            let (a, b) = (&FACES[i], &FACES[j]);
            eprintln!(
                "distance {:<28} {:<28} {d:.3} (unit vectors {:.3})",
                a.photo,
                b.photo,
                distance(
                    &single[i]
                        .iter()
                        .map(|x| x / norm(&single[i]))
                        .collect::<Vec<_>>(),
                    &single[j]
                        .iter()
                        .map(|x| x / norm(&single[j]))
                        .collect::<Vec<_>>()
                )
            );
            if a.person == b.person {
                assert!(
                    d < same_person_limit,
                    "{} and {} are {d} apart",
                    a.photo,
                    b.photo
                );
            } else if a.person == "obama" || b.person == "obama" {
                assert!(
                    d > same_person_limit,
                    "{} and {} are only {d} apart",
                    a.photo,
                    b.photo
                );
            } else {
                assert!(d > 0.5, "{} and {} are only {d} apart", a.photo, b.photo);
            }
        }
    }
}
