//! `dipper face`: the face stages on photos, without a daemon.
//!
//! `detect` lists every face the detector finds with the quality gate's verdict, `embed`
//! prints the model id and the vector of one face, `compare` the distance between the faces
//! of two photos and whether the shipped threshold calls them the same person. A query photo
//! must hold one usable face unless `--pick` chooses among several.

mod compare;
mod detect;
mod embed;
mod report;

use std::path::PathBuf;

use pipeline::faces::{FaceConfig, FaceEngine, FacePick};

use crate::BoxError;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum FaceCommand {
    /// Every face in a photo: box, score, landmarks and the quality gate's verdict.
    Detect(detect::DetectArgs),
    /// The embedding of the face in a photo: the model id and the vector.
    Embed(embed::EmbedArgs),
    /// The distance between the faces of two photos, and whether they are the same person.
    Compare(compare::CompareArgs),
}

/// Options every `dipper face` command takes.
#[derive(Debug, clap::Args)]
pub(crate) struct CommonArgs {
    /// Folder holding the model files, instead of the default search: $DIPPER_MODELS_DIR,
    /// the development cache `.cache/models` (`scripts/fetch-models` fills it), then
    /// /usr/share/dipper/models.
    #[arg(long)]
    models: Option<PathBuf>,
    /// One JSON document on stdout instead of a report.
    #[arg(long)]
    json: bool,
}

impl CommonArgs {
    fn engine(&self) -> Result<FaceEngine, BoxError> {
        let mut config = FaceConfig::default();
        if let Some(dir) = &self.models {
            config.models = models::SearchPath::new([dir.clone()]);
        }
        Ok(FaceEngine::new(config)?)
    }
}

/// Which face of a photo: `only` (the photo must hold one), `largest`, or an index as
/// `dipper face detect` numbers them.
fn parse_pick(text: &str) -> Result<FacePick, String> {
    match text {
        "only" => Ok(FacePick::Only),
        "largest" => Ok(FacePick::Largest),
        _ => text.parse::<usize>().map(FacePick::Index).map_err(|_| {
            format!("`{text}` is not a face: use `only`, `largest` or an index such as 0")
        }),
    }
}

pub(crate) fn run(command: FaceCommand) -> Result<(), BoxError> {
    match command {
        FaceCommand::Detect(args) => detect::run(&args),
        FaceCommand::Embed(args) => embed::run(&args),
        FaceCommand::Compare(args) => compare::run(&args),
    }
}
