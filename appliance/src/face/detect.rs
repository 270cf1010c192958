//! `dipper face detect PHOTO`: every face the detector finds, with the gate's verdict.

use std::path::PathBuf;

use pipeline::faces::{RgbView, load_upright};
use serde::Serialize;

use super::CommonArgs;
use super::report::{BoxJson, QualityJson, landmarks, round3};
use crate::{BoxError, print_report};

#[derive(Debug, clap::Args)]
pub(crate) struct DetectArgs {
    /// A JPEG or PNG photo (its EXIF orientation is honoured).
    photo: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct FaceJson {
    /// What `--pick` takes to choose this face (best detector score first).
    index: usize,
    #[serde(rename = "box")]
    bbox: BoxJson,
    score: f32,
    /// Right eye, left eye, nose tip, right and left mouth corners (the person's).
    landmarks: Vec<[f32; 2]>,
    /// `null` when the landmarks are degenerate and the face cannot be aligned.
    quality: Option<QualityJson>,
    /// `null` when the face is usable for a search, else the gate's reason.
    rejected: Option<String>,
}

#[derive(Debug, Serialize)]
struct DetectJson {
    photo: String,
    width: u32,
    height: u32,
    faces: Vec<FaceJson>,
}

pub(super) fn run(args: &DetectArgs) -> Result<(), BoxError> {
    let engine = args.common.engine()?;
    let image = load_upright(&args.photo)?;
    let frame = RgbView::from_image(&image)?;
    let detections = engine.detect(frame)?;
    let mut faces = Vec::new();
    let mut lines = Vec::new();
    for (index, detection) in detections.iter().enumerate() {
        let (quality, rejected) = match engine.align(frame, detection) {
            Some(aligned) => {
                let (quality, verdict) = engine.assess(frame, detection, &aligned);
                (
                    Some(quality),
                    verdict.err().map(|reason| reason.to_string()),
                )
            }
            None => (None, Some("landmarks cannot be aligned".to_owned())),
        };
        lines.push(format!(
            "  #{index} {}  score {:.2}  {}",
            detection.bbox,
            detection.score,
            match (&rejected, &quality) {
                (Some(reason), _) => format!("rejected: {reason}"),
                (None, Some(quality)) => format!("usable ({quality})"),
                (None, None) => "usable".to_owned(),
            }
        ));
        faces.push(FaceJson {
            index,
            bbox: detection.bbox.into(),
            score: round3(detection.score),
            landmarks: landmarks(detection),
            quality: quality.map(QualityJson::from),
            rejected,
        });
    }
    let report = DetectJson {
        photo: args.photo.display().to_string(),
        width: image.width(),
        height: image.height(),
        faces,
    };
    if args.common.json {
        return print_report(&serde_json::to_string(&report)?);
    }
    lines.insert(
        0,
        format!(
            "{}: {}x{}, {} face(s)",
            report.photo,
            report.width,
            report.height,
            report.faces.len()
        ),
    );
    print_report(&lines.join("\n"))
}
