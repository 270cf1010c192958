//! The model files the box ships: which files they are, where they come from, their
//! licences and checksums ([`registry`]), where a running program finds them and how their
//! bytes are checked before use ([`locate`]), and the interface each graph has
//! ([`detector`], [`embedder`]). `models/README.md` tells the provenance in full.
//!
//! Contract: this crate never touches the network and never runs a model. It hands out a
//! model's bytes (or its path) only after their size and sha256 match the registry; loading
//! and running them is the caller's job (the pipeline uses tract). A missing or altered file
//! is an [`Error`] that names the path, the expected and actual hashes, and the command that
//! fetches the files (`scripts/fetch-models`).

pub mod detector;
pub mod embedder;
mod error;
pub mod locate;
pub mod registry;

pub use detector::{DETECTOR, DetectorInterface};
pub use embedder::{EMBEDDER, EmbedderInterface};
pub use error::Error;
pub use locate::{INSTALLED_MODELS_DIR, MODELS_DIR_ENV, SearchPath};
pub use registry::{ALL, DLIB_RESNET_V1, ModelFile, YUNET_2023MAR};

/// The order of a model input's colour planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red (OpenCV's order).
    Bgr,
}

#[cfg(test)]
mod tests;
