//! `dipper-bench cameras` end to end at a tiny size: the simulator child, the downloader,
//! the curl baseline and the live phase all run, and the JSON line holds together. Timings
//! are never asserted. Needs the clips of scripts/make-clips (found through
//! `$DIPPER_CLIPS_DIR`, else `<repo>/.cache/clips`) and the `curl` program.

mod common;

use std::process::Command;

use serde_json::Value;

#[test]
fn a_tiny_run_reports_a_consistent_json_line() {
    let report = common::report_of(&[
        "cameras",
        "--cameras",
        "3",
        "--concurrency",
        "3",
        "--seconds",
        "2",
        // About one second per one-minute recording.
        "--rate-kbps",
        "40000",
        "--live-tries",
        "5",
        "--baseline",
        "curl",
        "--json",
    ]);
    let int = |path: &str| {
        report
            .pointer(path)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("no integer at {path} in {report}"))
    };
    let float = |path: &str| {
        report
            .pointer(path)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("no number at {path} in {report}"))
    };

    assert_eq!(int("/cameras"), 3);
    assert_eq!(int("/concurrency"), 3);
    assert_eq!(int("/rate_kbps"), 40000);
    assert!(int("/recordings") > 0, "{report}");
    assert!(int("/bytes") > 0, "{report}");
    assert_eq!(int("/errors"), 0, "{report}");
    assert_eq!(int("/corrupt"), 0, "{report}");
    assert!(float("/seconds") > 0.0, "{report}");
    assert!(float("/throughput_mbps") > 0.0, "{report}");
    assert!(float("/peak_rss_mb") > 0.0, "{report}");
    assert!(float("/sim_cpu_seconds") >= 0.0, "{report}");
    assert!(
        int("/pool_chunks_allocated") <= int("/pool_chunks_capacity"),
        "{report}"
    );

    // The baseline fetched exactly the recordings the downloader completed.
    assert_eq!(report["baseline"]["name"], "curl", "{report}");
    assert_eq!(int("/baseline/bytes"), int("/bytes"), "{report}");
    assert_eq!(int("/baseline/errors"), 0, "{report}");
    assert!(float("/baseline/throughput_mbps") > 0.0, "{report}");
    assert!(float("/baseline/peak_rss_mb") > 0.0, "{report}");
    assert!(float("/ratio_vs_baseline") > 0.0, "{report}");

    assert_eq!(int("/live_first_byte_ms/tries"), 5, "{report}");
    assert_eq!(int("/live_first_byte_ms/errors"), 0, "{report}");
    let (p50, p99, max) = (
        float("/live_first_byte_ms/p50"),
        float("/live_first_byte_ms/p99"),
        float("/live_first_byte_ms/max"),
    );
    assert!(0.0 <= p50 && p50 <= p99 && p99 <= max, "{report}");
}

#[test]
fn missing_clips_fail_with_the_fix_and_nothing_on_stdout() {
    let clips = std::env::temp_dir().join(format!("dipper-bench-no-clips-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_dipper-bench"))
        .args([
            "cameras",
            "--cameras",
            "2",
            "--seconds",
            "1",
            "--json",
            "--clips",
        ])
        .arg(&clips)
        .output()
        .unwrap_or_else(|e| panic!("cannot run dipper-bench: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "succeeded without clips: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(stderr.contains("scripts/make-clips"), "{stderr}");
}
