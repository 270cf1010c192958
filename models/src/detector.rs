//! The face detector's interface: what the ONNX graph of [`YUNET_2023MAR`] takes and gives,
//! as OpenCV's `FaceDetectorYN` uses it.
//!
//! Input `input`: float32 `[1, 3, H, W]`, B, G, R planes, pixel values 0..255 without any
//! normalisation. The file declares 640x640; the graph is fully convolutional, and OpenCV
//! runs it at any size padded to multiples of 32 (set the size in the runtime).
//!
//! Outputs, for each stride `s` of [`DetectorInterface::strides`], over the `(H/s) x (W/s)`
//! grid in row-major order: `cls_s` `[1, n, 1]` and `obj_s` `[1, n, 1]` (class and
//! objectness), `bbox_s` `[1, n, 4]` and `kps_s` `[1, n, 10]`. The cell at column `c`, row
//! `r` decodes to score `sqrt(clamp01(cls) * clamp01(obj))`, box centre
//! `((c + bbox[0]) * s, (r + bbox[1]) * s)`, box size `(exp(bbox[2]) * s, exp(bbox[3]) * s)`
//! and landmark `k` at `((c + kps[2k]) * s, (r + kps[2k + 1]) * s)`. The five landmarks are,
//! in order: right eye, left eye, nose tip, right mouth corner, left mouth corner (the
//! person's right, so the first eye is the one on the image's left in a frontal face).
//! OpenCV's defaults are a score threshold of 0.9 and non-maximum suppression at IoU 0.3.

use crate::{ChannelOrder, ModelFile, YUNET_2023MAR};

/// Names and shapes of a face detector graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorInterface {
    /// The model file.
    pub model: &'static ModelFile,
    /// Name of the single input.
    pub input_name: &'static str,
    /// Input width the file declares, in pixels.
    pub input_width: usize,
    /// Input height the file declares, in pixels.
    pub input_height: usize,
    /// Input width and height must be multiples of this.
    pub size_multiple: usize,
    /// Order of the input's colour planes.
    pub channel_order: ChannelOrder,
    /// The heads' strides, in pixels; the output arrays below follow this order.
    pub strides: [usize; 3],
    /// Class score outputs (`[1, n, 1]`), one per stride.
    pub class_outputs: [&'static str; 3],
    /// Objectness outputs (`[1, n, 1]`), one per stride.
    pub objectness_outputs: [&'static str; 3],
    /// Box outputs (`[1, n, 4]`: centre offsets, log sizes), one per stride.
    pub box_outputs: [&'static str; 3],
    /// Landmark outputs (`[1, n, 2 * landmarks]`), one per stride.
    pub landmark_outputs: [&'static str; 3],
    /// Landmarks per face.
    pub landmarks: usize,
}

/// YuNet 2023mar's interface.
pub const DETECTOR: DetectorInterface = DetectorInterface {
    model: &YUNET_2023MAR,
    input_name: "input",
    input_width: 640,
    input_height: 640,
    size_multiple: 32,
    channel_order: ChannelOrder::Bgr,
    strides: [8, 16, 32],
    class_outputs: ["cls_8", "cls_16", "cls_32"],
    objectness_outputs: ["obj_8", "obj_16", "obj_32"],
    box_outputs: ["bbox_8", "bbox_16", "bbox_32"],
    landmark_outputs: ["kps_8", "kps_16", "kps_32"],
    landmarks: 5,
};
