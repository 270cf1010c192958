//! The crate's error: which model, which file, and what to do about it.

use std::io;
use std::path::PathBuf;

/// Why a model file could not be handed out. Every message names the model, the path(s)
/// involved and the command that fetches the files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No directory of the search path holds the file.
    #[error(
        "model {id}: {file_name} not found in {}; run scripts/fetch-models (it fills \
         .cache/models) or set {env} to a directory holding it",
        display_dirs(.searched),
        env = crate::MODELS_DIR_ENV
    )]
    NotFound {
        /// The model's registry id.
        id: &'static str,
        /// The file looked for.
        file_name: &'static str,
        /// The directories searched, in order.
        searched: Vec<PathBuf>,
    },
    /// The file exists but could not be read.
    #[error("model {id}: cannot read {}: {source}", path.display())]
    Read {
        /// The model's registry id.
        id: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file's bytes are not the registered ones (truncated, altered or another version).
    #[error(
        "model {id}: {} has sha256 {actual_sha256} ({actual_size} bytes), expected \
         {expected_sha256} ({expected_size} bytes); run scripts/fetch-models to fetch it again",
        path.display()
    )]
    Mismatch {
        /// The model's registry id.
        id: &'static str,
        /// The file.
        path: PathBuf,
        /// The registered sha256.
        expected_sha256: &'static str,
        /// The sha256 of the bytes found.
        actual_sha256: String,
        /// The registered size in bytes.
        expected_size: u64,
        /// The size found.
        actual_size: u64,
    },
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "no directory".to_owned();
    }
    let dirs: Vec<String> = dirs.iter().map(|dir| dir.display().to_string()).collect();
    dirs.join(", ")
}
