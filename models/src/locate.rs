//! Where model files are found, and the check their bytes pass before anyone uses them.
//!
//! A [`SearchPath`] is an ordered list of directories; a model is taken from the first one
//! that holds a file of its name. A file that is found but whose size or sha256 differs from
//! the registry is an error, never a reason to look further: a wrong model must not be
//! masked by another copy. The default search path ([`SearchPath::from_env`]) is
//! `$DIPPER_MODELS_DIR` (when set), then the workspace's `.cache/models` (where
//! `scripts/fetch-models` puts the files during development), then
//! [`INSTALLED_MODELS_DIR`] (the box's package).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, ModelFile};

/// The environment variable naming a directory searched before the others.
pub const MODELS_DIR_ENV: &str = "DIPPER_MODELS_DIR";

/// Where the box's package installs the model files.
pub const INSTALLED_MODELS_DIR: &str = "/usr/share/dipper/models";

/// The directories model files are looked for in, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPath {
    dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// Exactly these directories, in this order.
    pub fn new(dirs: impl IntoIterator<Item = PathBuf>) -> SearchPath {
        SearchPath {
            dirs: dirs.into_iter().collect(),
        }
    }

    /// The default search path, reading [`MODELS_DIR_ENV`] now.
    pub fn from_env() -> SearchPath {
        SearchPath::with_override(std::env::var_os(MODELS_DIR_ENV).map(PathBuf::from))
    }

    /// The default search path with `dir` (the value of [`MODELS_DIR_ENV`]) first; an empty
    /// or absent value adds nothing.
    pub fn with_override(dir: Option<PathBuf>) -> SearchPath {
        let mut dirs: Vec<PathBuf> = dir
            .into_iter()
            .filter(|dir| !dir.as_os_str().is_empty())
            .collect();
        dirs.push(workspace_cache_dir());
        dirs.push(PathBuf::from(INSTALLED_MODELS_DIR));
        SearchPath { dirs }
    }

    /// The directories, in search order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The path of `model`'s file in the first directory that has one (not checked).
    pub fn locate(&self, model: &ModelFile) -> Result<PathBuf, Error> {
        self.dirs
            .iter()
            .map(|dir| dir.join(model.file_name))
            .find(|path| path.is_file())
            .ok_or_else(|| Error::NotFound {
                id: model.id,
                file_name: model.file_name,
                searched: self.dirs.clone(),
            })
    }

    /// `model`'s bytes, from the first directory that has its file, checked against the
    /// registry. Load the model from these bytes so that what runs is what was checked.
    pub fn read(&self, model: &ModelFile) -> Result<Vec<u8>, Error> {
        model.read_from(&self.locate(model)?)
    }

    /// The path of `model`'s file after checking its bytes, for loaders that want a path.
    pub fn verify(&self, model: &ModelFile) -> Result<PathBuf, Error> {
        let path = self.locate(model)?;
        model.read_from(&path)?;
        Ok(path)
    }
}

impl ModelFile {
    /// [`SearchPath::locate`] on the default search path.
    pub fn locate(&self) -> Result<PathBuf, Error> {
        SearchPath::from_env().locate(self)
    }

    /// [`SearchPath::read`] on the default search path.
    pub fn read(&self) -> Result<Vec<u8>, Error> {
        SearchPath::from_env().read(self)
    }

    /// [`SearchPath::verify`] on the default search path.
    pub fn verify(&self) -> Result<PathBuf, Error> {
        SearchPath::from_env().verify(self)
    }

    /// The bytes of the file at `path`, checked against this model's size and sha256.
    pub fn read_from(&self, path: &Path) -> Result<Vec<u8>, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            id: self.id,
            path: path.to_owned(),
            source,
        })?;
        self.check(path, &bytes)?;
        Ok(bytes)
    }

    /// Checks that `bytes` (read from `path`, which the error names) are this model's file.
    pub fn check(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let actual_sha256 = sha256_hex(bytes);
        let actual_size = bytes.len() as u64;
        if actual_size == self.size && actual_sha256 == self.sha256 {
            return Ok(());
        }
        Err(Error::Mismatch {
            id: self.id,
            path: path.to_owned(),
            expected_sha256: self.sha256,
            actual_sha256,
            expected_size: self.size,
            actual_size,
        })
    }
}

/// The workspace's `.cache/models`, where `scripts/fetch-models` writes during development.
fn workspace_cache_dir() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .unwrap_or(crate_dir)
        .join(".cache")
        .join("models")
}

/// sha256 of `bytes` as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
