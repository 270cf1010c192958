//! `dipper face embed PHOTO`: the model id and the vector of the face in a photo.

use std::path::PathBuf;

use pipeline::faces::FacePick;
use serde::Serialize;

use super::report::ChosenFaceJson;
use super::{CommonArgs, parse_pick};
use crate::{BoxError, print_report};

#[derive(Debug, clap::Args)]
pub(crate) struct EmbedArgs {
    /// A JPEG or PNG photo (its EXIF orientation is honoured).
    photo: PathBuf,
    /// Which face: `only` (the photo must hold exactly one), `largest`, or an index as
    /// `dipper face detect` lists them.
    #[arg(long, default_value = "only", value_parser = parse_pick)]
    pick: FacePick,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct EmbedJson {
    face: ChosenFaceJson,
    /// The model that made the vector; vectors of different models are never compared.
    model: String,
    dimensions: usize,
    /// L2-normalised.
    vector: Vec<f32>,
}

pub(super) fn run(args: &EmbedArgs) -> Result<(), BoxError> {
    let engine = args.common.engine()?;
    let query = engine.query_from_photo(&args.photo, args.pick)?;
    let vector = query.embedding.vector().to_vec();
    let report = EmbedJson {
        face: ChosenFaceJson::new(&args.photo, &query),
        model: query.embedding.model().to_string(),
        dimensions: vector.len(),
        vector,
    };
    if args.common.json {
        return print_report(&serde_json::to_string(&report)?);
    }
    let numbers: Vec<String> = report.vector.iter().map(|x| format!("{x:.5}")).collect();
    print_report(&format!(
        "{}: face {} score {:.2} ({} found)\nmodel {}, {} dimensions\n{}",
        report.face.photo,
        query.detection.bbox,
        query.detection.score,
        query.faces_found,
        report.model,
        report.dimensions,
        numbers.join(" ")
    ))
}
