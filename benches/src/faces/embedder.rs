//! The embedder side of `dipper-bench faces`.

use std::path::Path;

use pipeline::faces::{AlignedFace, CHIP_SIZE, FaceConfig, FaceEngine};
use serde::Serialize;

use super::{FacesArgs, Pair, PeerRun, TractSides, per_second};
use crate::{BoxError, figures::round, python};

#[derive(Debug, Serialize)]
pub(super) struct EmbedderReport {
    pub(super) model: String,
    pub(super) batch: usize,
    pub(super) faces: usize,
    pub(super) single_thread: Pair,
    pub(super) all_cores: Pair,
    /// The same chips under tract, when the box's backend is another one.
    pub(super) tract: Option<TractSides>,
    /// The largest difference of one component between ours and onnxruntime's
    /// L2-normalised vectors for the same chips.
    pub(super) max_abs_difference: f64,
}

/// `engine` is the box's; `tract`, when given, the same under tract.
pub(super) async fn measure(
    engine: &FaceEngine,
    tract: Option<&FaceEngine>,
    config: &FaceConfig,
    chips: &[AlignedFace],
    python: &Path,
    threads: usize,
    args: &FacesArgs,
) -> Result<EmbedderReport, BoxError> {
    let model = engine.embedding_model();
    let refs: Vec<&AlignedFace> = chips.iter().collect();
    let ours_vectors = engine.embed_batch(&refs)?;
    let batches: Vec<&[&AlignedFace]> = refs.chunks_exact(args.batch).collect();
    let measure_ours = |engine: &FaceEngine| -> Result<(f64, f64), BoxError> {
        let embed_all = || -> Result<usize, BoxError> {
            let mut n = 0;
            for batch in &batches {
                n += engine.embed_batch(batch)?.len();
            }
            Ok(n)
        };
        let one = per_second(1, args.seconds, embed_all)?;
        Ok((one, per_second(threads, args.seconds, embed_all)?))
    };
    let (ours_one, ours_all) = measure_ours(engine)?;
    let tract_figures = tract.map(measure_ours).transpose()?;

    let dir = tempfile::tempdir()?;
    let inputs = dir.path().join("chips.f32");
    python::write_f32(&inputs, &planar(chips))?;
    let outputs = dir.path().join("descriptors.f32");
    let side = CHIP_SIZE;
    let model_path = config.models.locate(models::EMBEDDER.model)?;
    let peer = PeerRun {
        python,
        model: &model_path,
        inputs: &inputs,
        shape: format!("{},3,{side},{side}", chips.len()),
        batch: args.batch,
        seconds: args.seconds,
    };
    let theirs_one = peer.measure(1, Some(&outputs)).await?;
    let theirs_all = peer.measure(threads, None).await?;

    let dims = model.dimensions().unwrap_or(0);
    let their_vectors = python::read_f32(&outputs)?;
    let mut max_abs_difference = 0f64;
    for (ours, theirs) in ours_vectors.iter().zip(their_vectors.chunks_exact(dims)) {
        let norm = theirs.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (a, b) in ours.vector().iter().zip(theirs) {
            max_abs_difference = max_abs_difference.max(f64::from((a - b / norm).abs()));
        }
    }
    if their_vectors.len() < (chips.len() / args.batch) * args.batch * dims {
        return Err(format!(
            "onnxruntime returned {} values for {} chips",
            their_vectors.len(),
            chips.len()
        )
        .into());
    }
    Ok(EmbedderReport {
        model: model.to_string(),
        batch: args.batch,
        faces: chips.len(),
        single_thread: Pair::new(1, ours_one, theirs_one),
        all_cores: Pair::new(threads, ours_all, theirs_all),
        tract: tract_figures
            .map(|figures| TractSides::new(threads, figures, theirs_one, theirs_all)),
        max_abs_difference: round(max_abs_difference, 7),
    })
}

/// The chips as the model's input: float32 NCHW, RGB, 0..255.
fn planar(chips: &[AlignedFace]) -> Vec<f32> {
    let plane = (CHIP_SIZE * CHIP_SIZE) as usize;
    let mut out = vec![0f32; chips.len() * 3 * plane];
    for (chip, out) in chips.iter().zip(out.chunks_exact_mut(3 * plane)) {
        for (i, rgb) in chip.pixels().chunks_exact(3).enumerate() {
            for c in 0..3 {
                out[c * plane + i] = f32::from(rgb[c]);
            }
        }
    }
    out
}
