//! `dipper-bench searches` end to end at a tiny size: Mosquitto, the relay, simulated boxes
//! and a real box daemon all run, and the JSON line holds together (every result delivered
//! once, with snapshots). Timings are never asserted. Needs Mosquitto, the models and the
//! face clips (`scripts/fetch-models`, `scripts/make-clips`).

mod common;

#[test]
fn a_tiny_run_delivers_every_result_once() {
    let report = common::report_of(&[
        "searches",
        "--boxes",
        "3",
        "--searches",
        "4",
        "--ack-searches",
        "3",
        "--calls",
        "20",
        "--face-recordings",
        "1",
        "--json",
    ]);
    let int = |key: &str| {
        report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("no integer {key} in {report}"))
    };
    assert_eq!(report["bench"], "searches");
    assert_eq!(int("boxes"), 3);
    assert_eq!(int("load_searches"), 4);
    // Four searches over three boxes, two matches each: 24 results, each once.
    assert_eq!(int("results_sent"), 24, "{report}");
    assert_eq!(int("results_at_relay"), 24, "{report}");
    assert_eq!(int("results_with_snapshots"), 24, "{report}");
    assert_eq!(report["results_delivered_once"], true, "{report}");
    // The real box found the person and the relay showed each match with snapshots.
    assert!(int("box_matches") > 0, "{report}");
    assert_eq!(int("box_results_with_snapshots"), int("box_matches"));
    assert_eq!(int("result_samples"), int("box_matches"));
    for key in [
        "ack_p99_ms_1_box",
        "ack_p99_ms_boxes",
        "ack_post_p99_ms_boxes",
        "broker_rtt_p99_ms",
        "result_p99_ms",
    ] {
        assert!(
            report[key].as_f64().is_some_and(f64::is_finite),
            "{key}: {report}"
        );
    }
}
