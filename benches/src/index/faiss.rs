//! The peer: faiss `IndexFlatIP` from PyPI's `faiss-cpu`, run by `benches/python/faiss_flat.py`
//! in the venv's python over the raw files this benchmark wrote.

use std::path::Path;

use serde::Deserialize;

use crate::{BoxError, python};

/// What the script prints.
#[derive(Debug, Deserialize)]
pub(super) struct FaissRun {
    pub(super) faiss_version: String,
    pub(super) vectors: usize,
    pub(super) add_seconds: f64,
    pub(super) single_query_ms: f64,
    pub(super) single_query_ms_reps: Vec<f64>,
    pub(super) batch_ms: f64,
    pub(super) batch_ms_reps: Vec<f64>,
    pub(super) single_query_one_thread_ms: f64,
    pub(super) ids: Vec<Vec<i64>>,
}

/// The raw little-endian `f32` files of the stored vectors and the queries.
#[derive(Debug)]
pub(super) struct Files<'a> {
    pub(super) vectors: &'a Path,
    pub(super) queries: &'a Path,
    pub(super) dims: usize,
}

/// Runs the script: same `k`, repetitions and threads as ours.
pub(super) async fn run(
    python: &Path,
    files: &Files<'_>,
    k: usize,
    reps: usize,
    threads: usize,
) -> Result<FaissRun, BoxError> {
    let script = python::script("faiss_flat.py");
    let args = vec![
        "--vectors".to_owned(),
        files.vectors.display().to_string(),
        "--queries".to_owned(),
        files.queries.display().to_string(),
        "--dims".to_owned(),
        files.dims.to_string(),
        "--k".to_owned(),
        k.to_string(),
        "--reps".to_owned(),
        reps.to_string(),
        "--threads".to_owned(),
        threads.to_string(),
    ];
    let value = python::run_json(python, &script, &args).await?;
    serde_json::from_value(value)
        .map_err(|e| format!("{}: unexpected report: {e}", script.display()).into())
}
