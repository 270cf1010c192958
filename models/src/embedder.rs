//! The face embedder's interface: what the ONNX graph of [`DLIB_RESNET_V1`] takes and gives.
//!
//! Input `input`: float32 `[N, 3, 150, 150]` (`N` is a symbolic `batch` dimension), R, G, B
//! planes, raw pixel values 0..255, of a square chip around one face with some margin, as
//! dlib's `get_face_chip_details` (size 150, padding 0.25) or face-api's dlib alignment cut
//! it. The graph subtracts face-api's mean RGB (122.782, 117.001, 104.298) and divides by
//! 255 itself.
//!
//! Output `descriptor`: float32 `[N, 128]`, raw: exactly what face-api's
//! `computeFaceDescriptor` returns, not L2-normalised (raw descriptors of real faces have an
//! L2 norm of about 1.4). dlib compares raw descriptors by Euclidean distance and calls two
//! faces the same person below 0.6.

use crate::{ChannelOrder, DLIB_RESNET_V1, ModelFile};

/// Names and shapes of a face embedder graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbedderInterface {
    /// The model file.
    pub model: &'static ModelFile,
    /// Name of the single input, `[N, 3, input_size, input_size]`.
    pub input_name: &'static str,
    /// Name of the single output, `[N, dims]`.
    pub output_name: &'static str,
    /// Width and height of the square face chip, in pixels.
    pub input_size: usize,
    /// Order of the input's colour planes.
    pub channel_order: ChannelOrder,
    /// Length of a descriptor.
    pub dims: usize,
    /// dlib's same-person threshold on the Euclidean distance of two raw descriptors.
    pub raw_same_person_distance: f32,
}

/// dlib ResNet v1's interface.
pub const EMBEDDER: EmbedderInterface = EmbedderInterface {
    model: &DLIB_RESNET_V1,
    input_name: "input",
    output_name: "descriptor",
    input_size: 150,
    channel_order: ChannelOrder::Rgb,
    dims: 128,
    raw_same_person_distance: 0.6,
};
