//! Trying a camera or NVR before it is added (`POST /api/v1/cameras/probe`, the local page's
//! "test"), against simulated devices: what each failure is called and what it carries
//! (attempts left, locked until, the clock's offset), an NVR's channels, and the guard that
//! keeps the box from locking a device out (a rejected password is not sent again, nothing
//! more at the last attempt, adding a camera included).

mod common;

use std::time::Duration;

use common::{PASSWORD, USER, start_sim};
use isapi::sim::DeviceConfig;
use serde_json::{Value, json};

async fn probe(api: &common::Api, url: &str, password: &str) -> Value {
    let (status, body) = api
        .post(
            "/cameras/probe",
            &json!({"url": url, "username": USER, "password": password}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn camera(serial: &str, lockout_after: u32) -> DeviceConfig {
    let mut camera = DeviceConfig::camera(USER, PASSWORD);
    camera.serial = serial.to_owned();
    camera.days = 1;
    camera.limits.lockout_after = lockout_after;
    camera.limits.lockout = Duration::from_secs(1800);
    camera
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_named_and_the_box_never_locks_a_device_out() {
    let mut clock_off = camera("CAM-CLOCK", 5);
    clock_off.clock_offset_seconds = 3600;
    let mut nvr = DeviceConfig::nvr(USER, PASSWORD, 4);
    nvr.days = 1;
    let sim = start_sim(vec![
        camera("CAM-GUARDED", 3),
        camera("CAM-LOCKS", 1),
        clock_off,
        nvr,
    ])
    .await;
    let (_dir, daemon) = common::start_box("");
    let api = daemon.api();
    let (guarded, locks, clock, nvr) = (
        sim.device(0).base_url(),
        sim.device(1).base_url(),
        sim.device(2).base_url(),
        sim.device(3).base_url(),
    );

    // Nothing listening; something that answers HTTP but not ISAPI (the box's own page);
    // not a URL.
    let answer = probe(&api, "http://127.0.0.1:1", PASSWORD).await;
    assert_eq!(
        (&answer["ok"], &answer["problem"]),
        (&json!(false), &json!("unreachable")),
        "{answer}"
    );
    let answer = probe(&api, &daemon.base, PASSWORD).await;
    assert_eq!(answer["problem"], "not_isapi", "{answer}");
    let answer = probe(&api, "192.168.1.64", PASSWORD).await;
    assert_eq!(answer["problem"], "other", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .contains("http://"),
        "{answer}"
    );

    // A camera whose clock is an hour off is found, with a warning; an NVR lists its
    // channels.
    let answer = probe(&api, &clock, PASSWORD).await;
    assert_eq!(
        (&answer["ok"], &answer["device_type"]),
        (&json!(true), &json!("camera")),
        "{answer}"
    );
    assert_eq!(answer["warnings"][0]["code"], "clock_off", "{answer}");
    let offset = answer["warnings"][0]["offset_seconds"]
        .as_i64()
        .expect("offset");
    assert!((3590..=3610).contains(&offset), "{offset}");
    let answer = probe(&api, &nvr, PASSWORD).await;
    assert_eq!(answer["device_type"], "nvr", "{answer}");
    let channels = answer["channels"].as_array().expect("channels");
    assert_eq!(channels.len(), 4, "{answer}");
    assert_eq!(channels[1]["track"], 201, "{answer}");
    assert!(
        answer["warnings"].as_array().expect("warnings").is_empty(),
        "{answer}"
    );

    // A device that locks after one failure: locked out, until a time.
    let before = jiff::Timestamp::now().as_millisecond();
    let answer = probe(&api, &locks, "wrong-1").await;
    assert_eq!(answer["problem"], "locked_out", "{answer}");
    let until = answer["locked_until_ms"].as_i64().expect("until");
    assert!(
        until >= before + 1_700_000 && until <= before + 1_900_000,
        "{until}"
    );

    // A device that locks after three: the attempts left are told; the same wrong password
    // is not sent again; at the last attempt nothing more is sent, the right password and
    // adding the camera included, so the device never locks the box out.
    let answer = probe(&api, &guarded, "wrong-1").await;
    assert_eq!(
        (&answer["problem"], &answer["attempts_left"]),
        (&json!("wrong_password"), &json!(2)),
        "{answer}"
    );
    let answer = probe(&api, &guarded, "wrong-1").await;
    assert_eq!(answer["attempts_left"], 2, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .contains("not sent again"),
        "{answer}"
    );
    let answer = probe(&api, &guarded, "wrong-2").await;
    assert_eq!(answer["attempts_left"], 1, "{answer}");
    let answer = probe(&api, &guarded, PASSWORD).await;
    assert!(
        answer["message"]
            .as_str()
            .expect("message")
            .contains("one attempt left"),
        "{answer}"
    );
    let (status, body) = api
        .post(
            "/cameras",
            &json!({"name": "gate", "url": guarded, "username": USER, "password": "wrong-3"}),
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("one attempt left"),
        "{body}"
    );
    // The device itself still takes the right password: it was never locked.
    let client = isapi::Client::new(isapi::ClientConfig::default()).expect("client");
    let device = client.device(&guarded, USER, PASSWORD).expect("device");
    device.device_info().await.expect("not locked out");
    sim.shutdown().await;
}
