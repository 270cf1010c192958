//! The detector side of `dipper-bench faces`.

use std::path::Path;

use image::{RgbImage, imageops};
use pipeline::faces::{FaceConfig, FaceEngine, RgbView};
use serde::Serialize;

use pipeline::faces::{Backend, BackendChoice};

use super::{FacesArgs, Pair, PeerRun, TractSides, per_second};
use crate::{BoxError, python};

#[derive(Debug, Serialize)]
pub(super) struct DetectorReport {
    /// The frame's size.
    pub(super) frame: String,
    /// The detector's input (the frame padded to multiples of 32).
    pub(super) input: String,
    /// Faces ours finds in the frame.
    pub(super) faces: usize,
    pub(super) single_thread: Pair,
    pub(super) all_cores: Pair,
    /// The same frame under tract, when the box's backend is another one.
    pub(super) tract: Option<TractSides>,
}

/// The group photo scaled to `side` x `side * 9 / 16` (a keyframe), one detector pass.
pub(super) async fn measure(
    config: &FaceConfig,
    photo: &RgbImage,
    side: u32,
    python: &Path,
    threads: usize,
    args: &FacesArgs,
) -> Result<DetectorReport, BoxError> {
    let (width, height) = (side, side * 9 / 16);
    let frame_image = imageops::resize(photo, width, height, imageops::FilterType::Triangle);
    let mut config = config.clone();
    config.detector.pass_sides = vec![side];
    let engine = FaceEngine::new(config.clone())?;
    let frame = RgbView::from_image(&frame_image)?;
    let faces = engine.detect(frame)?.len();
    let measure_ours = |engine: &FaceEngine| -> Result<(f64, f64), BoxError> {
        let detect = || -> Result<usize, BoxError> {
            engine.detect(frame)?;
            Ok(1)
        };
        let one = per_second(1, args.seconds, detect)?;
        Ok((one, per_second(threads, args.seconds, detect)?))
    };
    let (ours_one, ours_all) = measure_ours(&engine)?;
    let tract_figures = if engine.backend() == Backend::Tract {
        None
    } else {
        let mut tract_config = config.clone();
        tract_config.backend.choice = BackendChoice::Tract;
        Some(measure_ours(&FaceEngine::new(tract_config)?)?)
    };

    let padded_height = height.div_ceil(32) * 32;
    let dir = tempfile::tempdir()?;
    let inputs = dir.path().join("frame.f32");
    python::write_f32(&inputs, &bgr_planar(&frame_image, padded_height))?;
    let model_path = config.models.locate(models::DETECTOR.model)?;
    let peer = PeerRun {
        python,
        model: &model_path,
        inputs: &inputs,
        shape: format!("1,3,{padded_height},{width}"),
        batch: 1,
        seconds: args.seconds,
    };
    let theirs_one = peer.measure(1, None).await?;
    let theirs_all = peer.measure(threads, None).await?;
    Ok(DetectorReport {
        frame: format!("{width}x{height}"),
        input: format!("{width}x{padded_height}"),
        faces,
        single_thread: Pair::new(1, ours_one, theirs_one),
        all_cores: Pair::new(threads, ours_all, theirs_all),
        tract: tract_figures
            .map(|figures| TractSides::new(threads, figures, theirs_one, theirs_all)),
    })
}

/// YuNet's input: float32 NCHW, BGR, 0..255, rows below the frame zero.
fn bgr_planar(frame: &RgbImage, padded_height: u32) -> Vec<f32> {
    let (width, height) = frame.dimensions();
    let plane = (width * padded_height) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (x, y, pixel) in frame.enumerate_pixels() {
        let i = (y * width + x) as usize;
        debug_assert!(y < height);
        out[i] = f32::from(pixel[2]);
        out[plane + i] = f32::from(pixel[1]);
        out[2 * plane + i] = f32::from(pixel[0]);
    }
    out
}
