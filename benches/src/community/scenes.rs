//! The scene clips' manifest (`scripts/make-scene-clips`): which person is visible on
//! which keyframe of each clip, to score a search's matches against.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::BoxError;

#[derive(Debug, Deserialize)]
pub(super) struct Manifest {
    pub(super) clips: Vec<Clip>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Clip {
    pub(super) file: String,
    pub(super) codec: String,
    pub(super) keyframe_every_s: f64,
    pub(super) appearances: Vec<Appearance>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Appearance {
    /// The photo the person was made from, e.g. `obama2.jpg`.
    pub(super) photo: String,
    /// Keyframes (by place in the clip) on which the face is visible.
    pub(super) visible_keyframes: Vec<u32>,
}

/// `.cache/clips/scenes` of the workspace.
pub(super) fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/clips/scenes")
}

/// `.cache/faces` of the workspace.
pub(super) fn faces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/faces")
}

pub(super) fn load() -> Result<Manifest, BoxError> {
    let path = dir().join("scenes.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (run scripts/make-scene-clips)", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
}

/// A person's name from a photo's file name: `obama2.jpg` is `obama`.
pub(super) fn person(photo: &str) -> String {
    let stem = photo.split('.').next().unwrap_or(photo);
    stem.trim_end_matches(|c: char| c.is_ascii_digit())
        .to_owned()
}

/// Every person the clips show, each with the photo to search with: one the clips were not
/// made from where there is one, so a search is for the person, not the picture.
pub(super) fn queries(manifest: &Manifest) -> Result<Vec<(String, PathBuf)>, BoxError> {
    let used: BTreeSet<&str> = manifest
        .clips
        .iter()
        .flat_map(|c| c.appearances.iter().map(|a| a.photo.as_str()))
        .collect();
    let people: BTreeSet<String> = used.iter().map(|p| person(p)).collect();
    let mut queries = Vec::new();
    for who in people {
        let mut photos: Vec<String> = std::fs::read_dir(faces_dir())?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| person(name) == who)
            .collect();
        // Unused photos first, then by name.
        photos.sort_by_key(|name| (used.contains(name.as_str()), name.clone()));
        if let Some(photo) = photos.first() {
            queries.push((who, faces_dir().join(photo)));
        }
    }
    Ok(queries)
}
