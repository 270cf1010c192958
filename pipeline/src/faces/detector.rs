//! [`Detector`]: YuNet (2023mar) on a frame of any size, in one or more letterboxed passes,
//! its anchors decoded, thresholded and merged by non-maximum suppression, in frame
//! coordinates.
//!
//! The model's input is `1x3xHxW` float, B, G, R planes, 0..255 unnormalised, H and W
//! multiples of 32. For each stride `s` of 8, 16 and 32 it outputs, over the
//! `(H/s) x (W/s)` grid in row-major order: `cls_s` and `obj_s` (one value per cell),
//! `bbox_s` (4 per cell) and `kps_s` (10 per cell). A cell at column `c`, row `r` decodes
//! to score `sqrt(clamp(cls) * clamp(obj))` (each clamped to 0..1), box centre
//! `((c + dx) s, (r + dy) s)` and size `(exp(dw) s, exp(dh) s)`, and landmark `k` at
//! `((c + kx_k) s, (r + ky_k) s)`: the grid point is the cell's top-left corner, as in
//! OpenCV's `FaceDetectorYN`.
//!
//! That is the interface `models::DETECTOR` names. The network runs under either
//! [`Backend`]; what it needs for an input size is built on first use and shared.
//! A `Detector` is `Send + Sync`: a worker pool can share one or own one per thread.

use models::{DETECTOR, SearchPath};

use super::backend::{Backend, Network, NetworkError};
use super::config::DetectorConfig;
use super::error::{FaceError, Stage};
use super::frame::RgbView;
use super::geometry::{BoundingBox, Landmarks, Point, non_max_suppression};
use super::letterbox::Letterbox;
use super::model_files::ModelId;

const MODEL: ModelId = ModelId::DETECTOR;

/// The square detector input of [`Detector::refine`], in pixels.
const REFINE_INPUT: u32 = 480;
/// The square inputs [`Detector::detect_in`] puts a region into unshrunk, smallest first.
pub(super) const REGION_SIDES: [u32; 4] = [256, 384, 512, 640];
/// [`Detector::refine`]'s crop, in face sizes: the face fills 40 % of it, so it is about
/// 190 pixels in the input, where YuNet's landmarks are as good as they get.
const REFINE_CROP: f32 = 2.5;

/// A face the detector found, in frame coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Clipped to the frame.
    pub bbox: BoundingBox,
    /// `sqrt(class * objectness)`, 0..1.
    pub score: f32,
    /// Not clipped: a landmark may lie just outside the frame.
    pub landmarks: Landmarks,
}

/// YuNet under its backend.
#[derive(Debug)]
pub struct Detector {
    network: Network,
    config: DetectorConfig,
}

/// The outputs the detector asks for: `[cls, obj, bbox, kps]` for each stride.
fn output_names() -> Vec<&'static str> {
    (0..3)
        .flat_map(|i| {
            [
                DETECTOR.class_outputs[i],
                DETECTOR.objectness_outputs[i],
                DETECTOR.box_outputs[i],
                DETECTOR.landmark_outputs[i],
            ]
        })
        .collect()
}

impl Detector {
    /// Reads YuNet from the first directory of `search` holding it, checked against the
    /// registry, and readies it under `backend` (ignoring the 640x640 shapes the file
    /// declares). What an input size needs is built on its first use; the first pass's
    /// square size is built here, so a broken file fails now. Settings out of range are
    /// refused first.
    pub fn load(
        search: &SearchPath,
        backend: Backend,
        config: DetectorConfig,
    ) -> Result<Detector, FaceError> {
        config.validate()?;
        let network = Network::load(backend, MODEL, search, &output_names())?;
        let detector = Detector { network, config };
        let first = detector.config.pass_sides.first().copied().unwrap_or(640) as usize;
        detector
            .network
            .prepare([1, 3, first, first])
            .map_err(|e| detector.network_error(e))?;
        Ok(detector)
    }

    /// The runtime the network runs under.
    pub fn backend(&self) -> Backend {
        self.network.backend()
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Every face in `frame` scoring at least the threshold, best first, after
    /// non-maximum suppression across all passes.
    pub fn detect(&self, frame: RgbView<'_>) -> Result<Vec<Detection>, FaceError> {
        let mut candidates = Vec::new();
        for letterbox in self.passes(frame.width(), frame.height()) {
            self.run_pass(frame, &letterbox, &mut candidates)?;
        }
        Ok(suppress(candidates, &self.config))
    }

    /// Every face inside `area` of `frame` (its pixels, clipped to the frame), as
    /// [`Detector::detect`] gives them, in frame coordinates; for the regions a motion gate
    /// found changed. The crop is not shrunk when its long side fits one of
    /// [`REGION_SIDES`]: it goes into the smallest square input that holds it (a few input
    /// sizes, so a runtime that builds a plan per size builds few), a face keeping at least
    /// its size in the frame. A larger crop gets the frame's passes.
    pub fn detect_in(
        &self,
        frame: RgbView<'_>,
        area: &BoundingBox,
    ) -> Result<Vec<Detection>, FaceError> {
        let Some((crop, left, top)) = crop_area(frame, area) else {
            return Ok(Vec::new());
        };
        let long_side = crop.width().max(crop.height());
        let found = match REGION_SIDES.iter().find(|&&side| side >= long_side) {
            Some(&side) => {
                let letterbox = Letterbox {
                    frame_width: crop.width(),
                    frame_height: crop.height(),
                    input_width: side,
                    input_height: side,
                    scaled_width: crop.width(),
                    scaled_height: crop.height(),
                };
                let mut found = Vec::new();
                self.run_pass(crop, &letterbox, &mut found)?;
                suppress(found, &self.config)
            }
            None => self.detect(crop)?,
        };
        Ok(found.into_iter().map(|d| shifted(d, left, top)).collect())
    }

    /// The face again, detected on a square crop around it (2.5 times its size) scaled
    /// into a 480x480 input, where the face is about 190 pixels tall. A face found in a pass
    /// that shrank the frame (a large photo whose face was 100 pixels in the input) has
    /// landmarks off by several percent of its size, enough to move its embedding; close up
    /// they are as good as YuNet's get. Returns the re-detection overlapping the face most
    /// (IoU at least 0.5), else the face as it was.
    pub fn refine(&self, frame: RgbView<'_>, face: &Detection) -> Result<Detection, FaceError> {
        let side = face.bbox.width.max(face.bbox.height) * REFINE_CROP;
        let centre = face.bbox.centre();
        let around = BoundingBox {
            x: centre.x - side / 2.0,
            y: centre.y - side / 2.0,
            width: side,
            height: side,
        };
        let Some((crop, left, top)) = crop_area(frame, &around) else {
            return Ok(*face);
        };
        let letterbox = Letterbox::fit(crop.width(), crop.height(), REFINE_INPUT, REFINE_INPUT);
        let mut found = Vec::new();
        self.run_pass(crop, &letterbox, &mut found)?;
        let best = found
            .into_iter()
            .map(|d| shifted(d, left, top))
            .map(|d| (d.bbox.iou(&face.bbox), d))
            .filter(|(iou, _)| *iou >= 0.5)
            .max_by(|(a, _), (b, _)| a.total_cmp(b));
        Ok(best.map_or(*face, |(_, d)| d))
    }

    /// The letterboxes of the passes a `width x height` frame gets: the first pass always,
    /// each further one while the previous shrank the frame by at least
    /// [`DetectorConfig::further_pass_min_shrink`], never enlarging the frame beyond its
    /// own size (rounded up to a multiple of 32).
    pub fn passes(&self, width: u32, height: u32) -> Vec<Letterbox> {
        let long_side = width.max(height);
        let mut passes = Vec::new();
        for (i, &side) in self.config.pass_sides.iter().enumerate() {
            let mut side = side;
            if i > 0 {
                let previous = self.config.pass_sides[i - 1] as f32;
                if (long_side as f32) < previous * self.config.further_pass_min_shrink {
                    break;
                }
                side = side.min(long_side.div_ceil(32) * 32);
            }
            let (input_width, input_height) = input_size(width, height, side);
            passes.push(Letterbox::fit(width, height, input_width, input_height));
        }
        passes
    }

    fn run_pass(
        &self,
        frame: RgbView<'_>,
        letterbox: &Letterbox,
        found: &mut Vec<Detection>,
    ) -> Result<(), FaceError> {
        let (width, height) = (letterbox.input_width, letterbox.input_height);
        let shape = [1, 3, height as usize, width as usize];
        let mut planes = vec![0.0f32; shape.iter().product()];
        letterbox.fill_bgr_planes(frame, &mut planes);
        let outputs = self
            .network
            .run(planes, shape)
            .map_err(|e| self.network_error(e))?;
        for (stride, head) in DETECTOR.strides.into_iter().zip(outputs.chunks_exact(4)) {
            let (columns, rows) = (width as usize / stride, height as usize / stride);
            let cells = columns * rows;
            for ((values, name), per_cell) in head.iter().zip(HEAD_PARTS).zip([1, 1, 4, 10]) {
                if values.len() != cells * per_cell {
                    return Err(self.interface_error(format!(
                        "stride {stride} {name} output has {} values, expected {} for a \
                         {width}x{height} input",
                        values.len(),
                        cells * per_cell
                    )));
                }
            }
            let [cls, obj, bbox, kps] = [&head[0], &head[1], &head[2], &head[3]];
            decode_head(
                HeadOutputs {
                    stride,
                    columns,
                    cls,
                    obj,
                    bbox,
                    kps,
                },
                self.config.score_threshold,
                letterbox,
                found,
            );
        }
        Ok(())
    }

    fn network_error(&self, error: NetworkError) -> FaceError {
        error.into_face_error(Stage::Detection, MODEL, &self.network)
    }

    fn interface_error(&self, detail: String) -> FaceError {
        FaceError::interface(MODEL, self.network.path(), detail)
    }
}

/// The pixels of `area` (whole pixels covering it, clipped to the frame) and where they
/// start in the frame; `None` when nothing of it is in the frame.
fn crop_area<'a>(frame: RgbView<'a>, area: &BoundingBox) -> Option<(RgbView<'a>, u32, u32)> {
    let left = area.x.floor().clamp(0.0, frame.width() as f32) as u32;
    let top = area.y.floor().clamp(0.0, frame.height() as f32) as u32;
    let right = (area.right().ceil().max(0.0) as u32).min(frame.width());
    let bottom = (area.bottom().ceil().max(0.0) as u32).min(frame.height());
    let width = right.saturating_sub(left);
    let crop = frame.crop(left, top, width, bottom.saturating_sub(top))?;
    Some((crop, left, top))
}

/// The detections non-maximum suppression keeps, best first.
pub(super) fn suppress(found: Vec<Detection>, config: &DetectorConfig) -> Vec<Detection> {
    let boxes: Vec<BoundingBox> = found.iter().map(|d| d.bbox).collect();
    let scores: Vec<f32> = found.iter().map(|d| d.score).collect();
    let kept = non_max_suppression(&boxes, &scores, config.nms_iou, config.max_faces);
    kept.into_iter().map(|i| found[i]).collect()
}

/// A detection in a crop whose top-left corner is at (`left`, `top`) of the frame, in the
/// frame's coordinates.
fn shifted(d: Detection, left: u32, top: u32) -> Detection {
    let shift = |p: Point| Point::new(p.x + left as f32, p.y + top as f32);
    Detection {
        bbox: BoundingBox {
            x: d.bbox.x + left as f32,
            y: d.bbox.y + top as f32,
            ..d.bbox
        },
        score: d.score,
        landmarks: d.landmarks.map(shift),
    }
}

/// The parts of a stride's outputs, in the order [`output_names`] asks for them.
const HEAD_PARTS: [&str; 4] = ["class", "objectness", "box", "landmark"];

/// The detector input for a `width x height` frame whose long side becomes `side`: the
/// short side scaled alike and rounded up to a multiple of 32.
pub(super) fn input_size(width: u32, height: u32, side: u32) -> (u32, u32) {
    let short = |long: u32, short: u32| {
        let scaled = (f64::from(side) * f64::from(short) / f64::from(long)).ceil() as u32;
        scaled.div_ceil(32).max(1) * 32
    };
    if width >= height {
        (side, short(width, height).min(side))
    } else {
        (short(height, width).min(side), side)
    }
}

/// One stride's outputs.
struct HeadOutputs<'a> {
    stride: usize,
    columns: usize,
    cls: &'a [f32],
    obj: &'a [f32],
    bbox: &'a [f32],
    kps: &'a [f32],
}

/// Appends the cells of one head scoring at least `threshold`, in frame coordinates.
fn decode_head(
    head: HeadOutputs<'_>,
    threshold: f32,
    letterbox: &Letterbox,
    found: &mut Vec<Detection>,
) {
    let stride = head.stride as f32;
    for (cell, (&cls, &obj)) in head.cls.iter().zip(head.obj).enumerate() {
        let score = (cls.clamp(0.0, 1.0) * obj.clamp(0.0, 1.0)).sqrt();
        if score.is_nan() || score < threshold {
            continue;
        }
        let column = (cell % head.columns) as f32;
        let row = (cell / head.columns) as f32;
        let b = &head.bbox[cell * 4..cell * 4 + 4];
        let centre_x = (column + b[0]) * stride;
        let centre_y = (row + b[1]) * stride;
        let width = b[2].exp() * stride;
        let height = b[3].exp() * stride;
        let bbox = letterbox.box_to_frame(&BoundingBox {
            x: centre_x - width / 2.0,
            y: centre_y - height / 2.0,
            width,
            height,
        });
        let k = &head.kps[cell * 10..cell * 10 + 10];
        let landmarks = Landmarks(std::array::from_fn(|i| {
            letterbox.to_frame(Point::new(
                (column + k[2 * i]) * stride,
                (row + k[2 * i + 1]) * stride,
            ))
        }));
        if bbox.area() > 0.0 {
            found.push(Detection {
                bbox,
                score,
                landmarks,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_sizes_keep_the_aspect_in_multiples_of_32() {
        let check = |frame: (u32, u32), side: u32, expected: (u32, u32)| {
            assert_eq!(
                input_size(frame.0, frame.1, side),
                expected,
                "{frame:?} at {side}"
            );
        };
        check((640, 360), 640, (640, 384));
        check((1920, 1080), 1280, (1280, 736));
        check((360, 640), 640, (384, 640));
        check((512, 512), 640, (640, 640));
        check((4000, 10), 640, (640, 32));
    }

    #[test]
    fn a_cell_decodes_to_frame_coordinates() {
        // A 2x2 grid at stride 8 over a 16x16 input, the frame 32x32 (scale 0.5); only cell
        // (column 1, row 0) scores: cls 0.81, obj 1.0 -> 0.9.
        let letterbox = Letterbox::fit(32, 32, 16, 16);
        let cls = [0.0, 0.81, 0.2, 0.0];
        let obj = [1.0, 1.5, 1.0, 1.0]; // clamped to 1
        let mut bbox = [0.0f32; 16];
        bbox[4..8].copy_from_slice(&[0.5, 0.25, 0.0, 2f32.ln()]);
        let mut kps = [0.0f32; 40];
        kps[10..20].copy_from_slice(&[0.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 1.0, 1.0]);
        let mut found = Vec::new();
        decode_head(
            HeadOutputs {
                stride: 8,
                columns: 2,
                cls: &cls,
                obj: &obj,
                bbox: &bbox,
                kps: &kps,
            },
            0.5,
            &letterbox,
            &mut found,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        let face = found[0];
        assert!((face.score - 0.9).abs() < 1e-6);
        // Centre (1.5 * 8, 0.25 * 8) = (12, 2), size 8x16 in the input; doubled in the
        // frame: centre (24, 4), 16x32, clipped at the top.
        let expected = BoundingBox {
            x: 16.0,
            y: 0.0,
            width: 16.0,
            height: 20.0,
        };
        assert!(face.bbox.iou(&expected) > 0.999, "{:?}", face.bbox);
        let points: Vec<(f32, f32)> = face.landmarks.0.iter().map(|p| (p.x, p.y)).collect();
        assert_eq!(
            points,
            vec![
                (16.0, 0.0),
                (32.0, 0.0),
                (24.0, 8.0),
                (16.0, 16.0),
                (32.0, 16.0)
            ]
        );
    }
}
