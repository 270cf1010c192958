//! Starting: clear errors for missing clips and impossible configurations.

use isapi::sim::{Codec, Container, SimConfig, SimError, Simulator};

use crate::common::camera;

async fn start_error(config: SimConfig) -> String {
    Simulator::start(config)
        .await
        .expect_err("the simulator should refuse to start")
        .to_string()
}

#[tokio::test]
async fn a_missing_clip_names_the_file_and_the_script() {
    let mut config = SimConfig::new(vec![camera()]);
    config.clips_dir =
        std::env::temp_dir().join(format!("isapi-sim-no-clips-{}", std::process::id()));
    let message = start_error(config).await;
    assert!(
        message.contains("isapi-sim-no-clips-") && message.contains("h264.ps"),
        "{message}"
    );
    assert!(message.contains("run scripts/make-clips"), "{message}");
}

#[tokio::test]
async fn impossible_devices_are_refused_naming_the_device() {
    let mut h265_mp4 = camera();
    h265_mp4.codec = Codec::H265;
    h265_mp4.container = Container::Mp4;
    let mut bad_zone = camera();
    bad_zone.time_zone = "Mars/Olympus".to_owned();
    let mut no_length = camera();
    no_length.recording_minutes = 0;
    for (device, want) in [
        (h265_mp4, "H.265"),
        (bad_zone, "Mars"),
        (no_length, "recording_minutes"),
    ] {
        let error = Simulator::start(SimConfig::new(vec![camera(), device]))
            .await
            .expect_err("refused");
        assert!(
            matches!(error, SimError::Config { device: 1, .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("device 1 (DS-2CD2345-SIM0000)") && message.contains(want),
            "{message}"
        );
    }
}
