//! What the bench tests share: running `dipper-bench` with arguments and reading the one
//! JSON line it must print.

use std::process::Command;

use serde_json::Value;

/// Runs `dipper-bench args...`; its report, after checking that it succeeded and printed
/// exactly one line of JSON (the command's output is shown otherwise).
pub(crate) fn report_of(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_dipper-bench"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run dipper-bench: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "dipper-bench failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "expected one JSON line, got:\n{stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]))
}
