//! `dipper face compare PHOTO_A PHOTO_B`: the distance between two photos' faces, and
//! whether the shipped threshold calls them the same person.

use std::path::PathBuf;

use pipeline::faces::{FacePick, MATCH_DISTANCE};
use serde::Serialize;

use super::report::{ChosenFaceJson, round3};
use super::{CommonArgs, parse_pick};
use crate::{BoxError, print_report};

#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// The first photo (JPEG or PNG).
    photo_a: PathBuf,
    /// The second photo.
    photo_b: PathBuf,
    /// Which face of the first photo: `only`, `largest` or an index.
    #[arg(long, default_value = "only", value_parser = parse_pick)]
    pick_a: FacePick,
    /// Which face of the second photo: `only`, `largest` or an index.
    #[arg(long, default_value = "only", value_parser = parse_pick)]
    pick_b: FacePick,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct CompareJson {
    a: ChosenFaceJson,
    b: ChosenFaceJson,
    model: String,
    /// Euclidean distance between the L2-normalised embeddings (0 to 2).
    distance: f32,
    cosine_similarity: f32,
    /// The shipped threshold: at or below it, the same person.
    threshold: f32,
    same_person: bool,
}

pub(super) fn run(args: &CompareArgs) -> Result<(), BoxError> {
    let engine = args.common.engine()?;
    let a = engine.query_from_photo(&args.photo_a, args.pick_a)?;
    let b = engine.query_from_photo(&args.photo_b, args.pick_b)?;
    let distance = a.embedding.distance(&b.embedding)?;
    let report = CompareJson {
        a: ChosenFaceJson::new(&args.photo_a, &a),
        b: ChosenFaceJson::new(&args.photo_b, &b),
        model: a.embedding.model().to_string(),
        distance: round3(distance),
        cosine_similarity: round3(a.embedding.cosine_similarity(&b.embedding)?),
        threshold: MATCH_DISTANCE,
        same_person: a.embedding.matches(&b.embedding)?,
    };
    if args.common.json {
        return print_report(&serde_json::to_string(&report)?);
    }
    print_report(&format!(
        "{} vs {}: distance {:.3} (threshold {}): {}",
        report.a.photo,
        report.b.photo,
        distance,
        MATCH_DISTANCE,
        if report.same_person {
            "the same person"
        } else {
            "different people"
        }
    ))
}
