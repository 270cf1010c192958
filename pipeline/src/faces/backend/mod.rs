//! The runtime that runs the face models' networks: [`Network`], one model's graph behind
//! whichever [`Backend`] was chosen, taking one float32 NCHW input and returning the
//! named outputs as flat float32 vectors, in the order they were asked for.
//!
//! Two backends: tract (pure Rust, always built) and ONNX Runtime (the `onnxruntime` cargo
//! feature, the library loaded at run time from a file, see [`library`]). Pre- and
//! post-processing (letterbox, anchor decoding, NMS, alignment, normalisation) live in the
//! stages and are the same for both; only the network run differs. Each input shape gets
//! its own plan (tract) or sessions (ONNX Runtime), built on first use and kept. A network
//! is `Send + Sync`; concurrent calls run side by side, each on the calling thread (ONNX
//! Runtime: one single-threaded session per concurrent caller, so a worker pool of N threads
//! uses N cores, as it does under tract).
//!
//! Which backend runs is settled once, in [`select`]: `auto` takes ONNX Runtime when its
//! library loads and falls back to tract with a warning naming the library's path and the
//! reason; `onnxruntime` refuses to start without it; `tract` never looks for it.

#[cfg(feature = "onnxruntime")]
pub(super) mod library;
#[cfg(feature = "onnxruntime")]
mod onnxruntime;
#[cfg(test)]
mod tests;
mod tract;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use models::SearchPath;

use super::config::{BackendChoice, BackendConfig};
use super::error::{FaceError, Stage};
use super::model_files::ModelId;

/// The runtime the face models run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// tract-onnx, pure Rust.
    Tract,
    /// ONNX Runtime, loaded from its library file.
    OnnxRuntime,
}

impl Backend {
    /// `tract` or `onnxruntime`, as reports and settings name it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Tract => "tract",
            Backend::OnnxRuntime => "onnxruntime",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a network run failed; the stage turns it into a [`FaceError`] naming the model.
#[derive(Debug)]
pub(super) enum NetworkError {
    /// Building the plan or session for a shape failed.
    Plan(String),
    /// The model lacks an asked-for input or output, or returns the wrong type.
    Interface(String),
    /// Running failed.
    Run(String),
}

impl NetworkError {
    /// The error naming the model, its file and the stage.
    pub(super) fn into_face_error(
        self,
        stage: Stage,
        model: ModelId,
        network: &Network,
    ) -> FaceError {
        let path = network.path().to_owned();
        match self {
            NetworkError::Plan(detail) => FaceError::ModelLoad {
                model,
                path,
                detail,
            },
            NetworkError::Interface(detail) => FaceError::ModelInterface {
                model,
                path,
                detail,
            },
            NetworkError::Run(detail) => FaceError::Inference {
                stage,
                model,
                path,
                detail,
            },
        }
    }
}

/// What a backend implements: the model's outputs for one input.
trait Runner: Send + Sync {
    /// Builds what a `shape` input needs, if not built yet.
    fn prepare(&self, shape: [usize; 4]) -> Result<(), NetworkError>;
    /// The outputs asked for at load time, in that order, for `input` of `shape`.
    fn run(&self, input: Vec<f32>, shape: [usize; 4]) -> Result<Vec<Vec<f32>>, NetworkError>;
}

/// One model's network under one backend.
#[derive(Clone)]
pub(super) struct Network {
    backend: Backend,
    path: PathBuf,
    runner: Arc<dyn Runner>,
}

impl Network {
    /// Reads `model` from the first directory of `search` holding it (size and sha256
    /// checked against the registry) and readies it under `backend`, returning `outputs`
    /// in this order from every run.
    pub(super) fn load(
        backend: Backend,
        model: ModelId,
        search: &SearchPath,
        outputs: &[&str],
    ) -> Result<Network, FaceError> {
        let path = search.locate(model.file())?;
        let bytes = model.file().read_from(&path)?;
        let load_error = |detail: String| FaceError::ModelLoad {
            model,
            path: path.clone(),
            detail: format!("under {backend}: {detail}"),
        };
        let outputs: Vec<String> = outputs.iter().map(|&name| name.to_owned()).collect();
        let runner: Arc<dyn Runner> = match backend {
            Backend::Tract => {
                Arc::new(tract::TractRunner::new(&bytes, outputs).map_err(load_error)?)
            }
            #[cfg(feature = "onnxruntime")]
            Backend::OnnxRuntime => {
                Arc::new(onnxruntime::OrtRunner::new(bytes, outputs).map_err(load_error)?)
            }
            #[cfg(not(feature = "onnxruntime"))]
            Backend::OnnxRuntime => {
                return Err(load_error(
                    "this build lacks the onnxruntime feature".into(),
                ));
            }
        };
        Ok(Network {
            backend,
            path,
            runner,
        })
    }

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// The model file's path, for errors.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn prepare(&self, shape: [usize; 4]) -> Result<(), NetworkError> {
        self.runner.prepare(shape)
    }

    pub(super) fn run(
        &self,
        input: Vec<f32>,
        shape: [usize; 4],
    ) -> Result<Vec<Vec<f32>>, NetworkError> {
        if input.len() != shape.iter().product::<usize>() {
            return Err(NetworkError::Run(format!(
                "{} input values for a {shape:?} input",
                input.len()
            )));
        }
        self.runner.run(input, shape)
    }
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("backend", &self.backend)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The backend the face models run under for `config`, its library loaded when it is ONNX
/// Runtime. `search` is the models' search path, where the library is looked for by
/// default. See the module's contract for `auto`.
pub(super) fn select(config: &BackendConfig, search: &SearchPath) -> Result<Backend, FaceError> {
    match config.choice {
        BackendChoice::Tract => Ok(Backend::Tract),
        BackendChoice::OnnxRuntime => {
            load_onnxruntime(config, search).map(|()| Backend::OnnxRuntime)
        }
        BackendChoice::Auto => match load_onnxruntime(config, search) {
            Ok(()) => Ok(Backend::OnnxRuntime),
            Err(error) => {
                tracing::warn!(
                    error = %error,
                    "ONNX Runtime is unavailable; the face models run under tract, about 3 times \
                     slower (set the face backend to `tract` to silence this)"
                );
                Ok(Backend::Tract)
            }
        },
    }
}

#[cfg(feature = "onnxruntime")]
fn load_onnxruntime(config: &BackendConfig, search: &SearchPath) -> Result<(), FaceError> {
    let path = library::resolve(config.onnxruntime_library.as_deref(), search)?;
    library::load(&path)
}

#[cfg(not(feature = "onnxruntime"))]
fn load_onnxruntime(_config: &BackendConfig, _search: &SearchPath) -> Result<(), FaceError> {
    Err(FaceError::InvalidConfig {
        field: "backend",
        detail: "onnxruntime: this build lacks the `onnxruntime` feature".into(),
    })
}
