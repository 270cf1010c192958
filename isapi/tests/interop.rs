//! Third-party ISAPI clients from PyPI against the simulator: `hikvisionapi` 0.3.2 (which
//! probes `/ISAPI/System/status` in its constructor) and `hikload` 1.1.4 (which pages a
//! search by time). Each reads the device info and the channels, searches a window, and
//! downloads the first recording; what they saw must be what the simulator serves. An
//! ordinary client working against our simulator is the best evidence that it speaks ISAPI.
//!
//! The clients run from `.cache/interop-venv` (made by `scripts/lib/interop.sh`, which
//! `scripts/test` runs), or from the Python named by `DIPPER_INTEROP_PYTHON`.

use std::{path::PathBuf, process::Command};

use isapi::sim::{DeviceConfig, SimConfig, Simulator, default_clips_dir};
use serde_json::Value;

const USER: &str = "admin";
const PASSWORD: &str = "Interop-pass1";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn python() -> PathBuf {
    let python = std::env::var_os("DIPPER_INTEROP_PYTHON").map_or_else(
        || repo().join(".cache/interop-venv/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "{} is missing: run scripts/test (or source scripts/lib/setup.sh and run \
         dipper_prepare_interop) to install the third-party clients",
        python.display()
    );
    python
}

/// A day of one-minute recordings ending 2026-11-24 12:00 device time (UTC+8).
fn with_day(mut config: DeviceConfig) -> DeviceConfig {
    config.end = Some("2026-11-24T04:00:00Z".parse().expect("timestamp"));
    config.days = 1;
    config.recording_minutes = 1;
    config
}

/// Runs `client` against device `index` over 11:50-12:00 device time on track 101.
fn run(client: &str, sim: &Simulator, index: usize) -> Value {
    let output = Command::new(python())
        .arg(repo().join("isapi/tools/interop/interop.py"))
        .args([
            "--client",
            client,
            "--url",
            &sim.devices()[index].base_url(),
        ])
        .args(["--user", USER, "--password", PASSWORD, "--track", "101"])
        .args([
            "--start",
            "2026-11-24T11:50:00Z",
            "--end",
            "2026-11-24T12:00:00Z",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {client}: {e}"));
    assert!(
        output.status.success(),
        "{client} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{client} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn check(client: &str, sim: &Simulator, index: usize, channels: &[u64]) {
    let seen = run(client, sim, index);
    let config = &sim.devices()[index].config;
    let context = format!("{client} on device {index}");
    assert_eq!(
        seen["device_info"]["serialNumber"],
        config.serial.as_str(),
        "{context}"
    );
    assert_eq!(
        seen["device_info"]["model"],
        config.model.as_str(),
        "{context}"
    );
    assert_eq!(
        seen["device_info"]["deviceName"],
        config.name.as_str(),
        "{context}"
    );
    let seen_channels: Vec<u64> = seen["channels"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: channels {seen}"))
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(seen_channels, channels, "{context}");
    // The last ten recordings of the day, in order, as the simulator names them.
    let recordings = sim.recordings(index, 101);
    let expected: Vec<String> = (recordings - 10..recordings)
        .map(|i| sim.playback_uri(index, 101, i).expect("a recording"))
        .collect();
    let uris: Vec<&str> = seen["recordings"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: recordings {seen}"))
        .iter()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    assert_eq!(uris, expected, "{context}");
    assert_eq!(
        seen["recordings"][0]["start"], "2026-11-24T11:50:00Z",
        "{context}"
    );
    let download = &seen["download"];
    let expected = sim
        .checksum(index, &expected[0])
        .unwrap_or_else(|| panic!("{context}: the simulator knows its URI"));
    assert!(expected.bytes > 100_000, "{context}: {expected:?}");
    assert_eq!(download["bytes"], expected.bytes, "{context}");
    assert_eq!(download["crc32"], expected.crc32, "{context}");
    assert_eq!(
        download["sim_checksum"]["bytes"], expected.bytes,
        "{context}"
    );
    assert_eq!(
        download["sim_checksum"]["crc32"], expected.crc32,
        "{context}"
    );
}

async fn start() -> Simulator {
    let camera = with_day(DeviceConfig::camera(USER, PASSWORD));
    let nvr = with_day(DeviceConfig::nvr(USER, PASSWORD, 2));
    Simulator::start(SimConfig {
        devices: vec![camera, nvr],
        clips_dir: default_clips_dir(),
    })
    .await
    .expect("simulator starts (run scripts/make-clips first)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hikvisionapi_reads_searches_and_downloads() {
    let sim = start().await;
    tokio::task::block_in_place(|| {
        check("hikvisionapi", &sim, 0, &[101, 102]);
        check("hikvisionapi", &sim, 1, &[101, 102, 201, 202]);
    });
    // Its constructor probes /ISAPI/System/status with Basic auth first: refused without
    // counting as a failed login, so no lockout comes near.
    assert_eq!(sim.stats(0).auth_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hikload_reads_searches_and_downloads() {
    let sim = start().await;
    tokio::task::block_in_place(|| {
        check("hikload", &sim, 0, &[101, 102]);
        check("hikload", &sim, 1, &[101, 102, 201, 202]);
    });
    assert_eq!(sim.stats(0).auth_failures, 0);
}
