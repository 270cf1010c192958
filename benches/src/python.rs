//! Peers that run in Python (onnxruntime, faiss): the interpreter of the venv
//! `scripts/fetch-models` makes, and a script's one-line JSON answer.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::BoxError;

/// `$DIPPER_PYTHON`, else `<repo>/.cache/venv/bin/python`.
pub(crate) fn default_python() -> PathBuf {
    if let Some(python) = std::env::var_os("DIPPER_PYTHON") {
        return PathBuf::from(python);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/venv/bin/python")
}

/// A script of `benches/python/`, by file name.
pub(crate) fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// Runs `python script args...` and parses the last line it prints as JSON. A failure names
/// the script, its exit status and the end of what it wrote to stderr.
pub(crate) async fn run_json(
    python: &Path,
    script: &Path,
    args: &[String],
) -> Result<serde_json::Value, BoxError> {
    if !python.is_file() {
        return Err(format!(
            "{} is missing: run scripts/fetch-models (or pass --python)",
            python.display()
        )
        .into());
    }
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{} failed ({}): {}",
            script.display(),
            output.status,
            tail.join(" | ")
        )
        .into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| format!("{} printed nothing", script.display()))?;
    Ok(serde_json::from_str(line)
        .map_err(|e| format!("{} printed `{line}`: {e}", script.display()))?)
}

/// Writes `values` as raw native-endian f32 (numpy's `fromfile` layout).
pub(crate) fn write_f32(path: &Path, values: &[f32]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&v.to_ne_bytes());
    }
    std::fs::write(path, bytes)
}

/// Reads raw native-endian f32 written by numpy's `tofile`.
pub(crate) fn read_f32(path: &Path) -> std::io::Result<Vec<f32>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
