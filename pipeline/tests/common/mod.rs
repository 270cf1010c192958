//! What the clip tests share: where the cached clips and photos are, and reading a clip
//! folder's manifest.

use std::path::{Path, PathBuf};

/// A path under the workspace's `.cache`.
pub(crate) fn repo_cache(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.cache")
        .join(path)
}

/// A folder of clips (`faces`, `scenes`) under `$DIPPER_CLIPS_DIR`, else `.cache/clips`.
pub(crate) fn clips_dir(kind: &str) -> PathBuf {
    match std::env::var_os("DIPPER_CLIPS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join(kind),
        _ => repo_cache("clips").join(kind),
    }
}

/// The manifest `file` of the clip folder `kind`; fails naming the commands that make it.
pub(crate) fn manifest<T: serde::de::DeserializeOwned>(kind: &str, file: &str) -> T {
    let path = clips_dir(kind).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run scripts/fetch-models, then scripts/make-clips",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
