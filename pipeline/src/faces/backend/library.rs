//! Finding and loading ONNX Runtime's shared library, once per process.
//!
//! The library is, in order: the configured path ([`BackendConfig::onnxruntime_library`]),
//! `$DIPPER_ONNXRUNTIME_LIB`, or [`LIBRARY_FILE`] in the first directory of the models'
//! search path holding one (`scripts/fetch-models` copies it there from the PyPI
//! `onnxruntime` wheel; a package installs it beside the models). It must be ONNX Runtime
//! 1.22 or newer. A process loads one library: asking for another one later is an error
//! naming both. Every error names the library's path.
//!
//! [`BackendConfig::onnxruntime_library`]: crate::faces::BackendConfig::onnxruntime_library

use std::io::Read;
use std::path::{Path, PathBuf};

use models::SearchPath;
use ort::environment::Environment;
use parking_lot::Mutex;

use crate::faces::error::FaceError;

/// The environment variable naming the library file.
pub const LIBRARY_ENV: &str = "DIPPER_ONNXRUNTIME_LIB";
/// The library's file name beside the models.
pub const LIBRARY_FILE: &str = "libonnxruntime.so";

/// The library this process loaded, and its environment.
static LOADED: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

/// The library's path for a configured one (`None`: not configured) and the models'
/// search path.
pub(in crate::faces) fn resolve(
    configured: Option<&Path>,
    search: &SearchPath,
) -> Result<PathBuf, FaceError> {
    resolve_with(configured, std::env::var_os(LIBRARY_ENV), search)
}

/// [`resolve`] with `$DIPPER_ONNXRUNTIME_LIB`'s value given.
fn resolve_with(
    configured: Option<&Path>,
    from_env: Option<std::ffi::OsString>,
    search: &SearchPath,
) -> Result<PathBuf, FaceError> {
    if let Some(path) = configured {
        return Ok(path.to_owned());
    }
    if let Some(path) = from_env.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let candidates: Vec<PathBuf> = search.dirs().iter().map(|d| d.join(LIBRARY_FILE)).collect();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| FaceError::OnnxRuntime {
            path: candidates
                .first()
                .cloned()
                .unwrap_or_else(|| LIBRARY_FILE.into()),
            detail: format!(
                "not found (looked in {}; set {LIBRARY_ENV} or run scripts/fetch-models)",
                search
                    .dirs()
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// Loads the library at `path` unless this process already has; an error when it is
/// missing, not a shared library, too old, or another library was loaded before.
pub(in crate::faces) fn load(path: &Path) -> Result<(), FaceError> {
    let error = |detail: String| FaceError::OnnxRuntime {
        path: path.to_owned(),
        detail,
    };
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .map_err(|e| error(format!("cannot be read: {e}")))?;
    if magic != *b"\x7fELF" {
        return Err(error("is not a shared library (no ELF header)".into()));
    }
    let mut loaded = LOADED.lock();
    if let Some((loaded_path, _)) = loaded.as_ref() {
        return if loaded_path == path {
            Ok(())
        } else {
            Err(error(format!(
                "this process already loaded ONNX Runtime from {}",
                loaded_path.display()
            )))
        };
    }
    let environment = ort::init_from(path)
        .map_err(|e| error(e.to_string()))?
        .with_name("dipper")
        .build()
        .map_err(|e| error(e.to_string()))?;
    tracing::info!(library = %path.display(), "face models run under ONNX Runtime");
    *loaded = Some((path.to_owned(), environment));
    Ok(())
}

/// The loaded library's environment; an error before [`load`] succeeded.
pub(super) fn environment() -> Result<Environment, String> {
    LOADED
        .lock()
        .as_ref()
        .map(|(_, environment)| environment.clone())
        .ok_or_else(|| "ONNX Runtime's library is not loaded".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_configured_then_named_by_the_environment_then_beside_the_models() {
        let models = tempfile::tempdir().expect("temp dir");
        let search = SearchPath::new([models.path().join("none"), models.path().to_owned()]);
        let configured = Path::new("/opt/ort/libonnxruntime.so");
        let from_env = || Some(std::ffi::OsString::from("/env/libonnxruntime.so"));
        let check = |got: Result<PathBuf, FaceError>, expected: &Path| {
            assert_eq!(got.expect("resolved"), expected);
        };
        check(
            resolve_with(Some(configured), from_env(), &search),
            configured,
        );
        check(
            resolve_with(None, from_env(), &search),
            Path::new("/env/libonnxruntime.so"),
        );
        let error = resolve_with(None, Some("".into()), &search).expect_err("nothing there");
        let message = error.to_string();
        assert!(
            message.contains(&models.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("scripts/fetch-models"), "{message}");
        assert!(message.contains(LIBRARY_ENV), "{message}");
        let beside = models.path().join(LIBRARY_FILE);
        std::fs::write(&beside, "").expect("write");
        check(resolve_with(None, None, &search), &beside);
    }
}
