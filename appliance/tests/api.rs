//! The local API and the CLI's camera and task commands, against a real daemon and
//! simulated cameras: good requests, and bad input getting a clear JSON error that names
//! the field (never a 500).

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{Daemon, PASSWORD, USER, photo, start_sim};
use isapi::sim::DeviceConfig;
use serde_json::{Value, json};

fn camera(serial: &str) -> DeviceConfig {
    let mut camera = DeviceConfig::camera(USER, PASSWORD);
    camera.serial = serial.to_owned();
    camera.days = 1;
    camera
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A PNG of one grey colour: a valid photo with no face.
fn blank_png() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("png");
    bytes.into_inner()
}

fn check_error(status: u16, body: &Value, want_status: u16, code: &str, mentions: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains(mentions),
        "{message:?} should mention {mentions:?}"
    );
}

/// `dipper cameras add --password-stdin --json`, the password written to its stdin.
fn cli_add_camera(daemon: &Daemon, name: &str, url: &str) -> std::process::Output {
    let mut add = std::process::Command::new(env!("CARGO_BIN_EXE_dipper"))
        .args([
            "cameras",
            "add",
            "--name",
            name,
            "--url",
            url,
            "--user",
            USER,
            "--password-stdin",
            "--json",
        ])
        .env("DIPPER_API", &daemon.base)
        .env("DIPPER_TOKEN_FILE", daemon.token_file())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dipper");
    {
        use std::io::Write;
        let mut stdin = add.stdin.take().expect("stdin");
        writeln!(stdin, "{PASSWORD}").expect("password");
    }
    let output = add.wait_with_output().expect("dipper cameras add");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_are_checked_when_added_and_their_passwords_never_shown() {
    let sim = start_sim(vec![camera("API-CAM-1"), camera("API-CAM-2")]).await;
    let (dir, daemon) = common::start_box("");
    let api = daemon.api();
    let url = sim.device(0).base_url();

    let (status, body) = api
        .post(
            "/cameras",
            &json!({ "name": "gate", "url": url, "username": USER, "password": "wrong" }),
        )
        .await;
    check_error(status, &body, 502, "camera_unreachable", "gate");
    let (status, body) = api
        .post("/cameras", &json!({ "name": "gone", "url": "http://127.0.0.1:9", "username": USER, "password": PASSWORD }))
        .await;
    assert_eq!(status, 502, "{body}");
    let (status, body) = api
        .post(
            "/cameras",
            &json!({ "name": "gate", "url": "ftp://x", "username": USER, "password": PASSWORD }),
        )
        .await;
    check_error(status, &body, 400, "invalid_request", "url");

    let id = api.add_camera("gate", &url).await;
    let (status, body) = api
        .post(
            "/cameras",
            &json!({ "name": "gate", "url": url, "username": USER, "password": PASSWORD }),
        )
        .await;
    check_error(status, &body, 409, "conflict", "gate");

    let (status, list) = api.get("/cameras").await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["tracks"], json!([101]));
    assert!(
        !list.to_string().contains(PASSWORD),
        "a password leaked: {list}"
    );
    let db = std::fs::read(dir.path().join("box.db")).expect("db");
    assert!(
        !db.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
        "the password is stored in the clear"
    );

    // The CLI: add with the password on stdin, list, test, remove.
    let output = cli_add_camera(&daemon, "lobby", &sim.device(1).base_url());
    let lobby: Value = serde_json::from_slice(&output.stdout).expect("json");
    let lobby_id = lobby["id"].as_i64().expect("id");
    let output = daemon.cli(&["cameras", "list"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("gate") && text.contains("lobby"), "{text}");
    let output = daemon.cli(&["cameras", "test", &lobby_id.to_string()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("DS-2CD2345G0P-I"),
        "{text}"
    );
    let output = daemon.cli(&["cameras", "remove", &lobby_id.to_string()]);
    assert!(output.status.success());
    let (status, body) = api.get(&format!("/cameras/{lobby_id}")).await;
    check_error(status, &body, 404, "not_found", "camera");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_task_requests_get_a_json_error_naming_the_field() {
    let sim = start_sim(vec![camera("API-CAM-3")]).await;
    let (_dir, daemon) = common::start_box("");
    let api = daemon.api();
    let camera = api.add_camera("gate", &sim.device(0).base_url()).await;
    let jpeg = std::fs::read(photo("obama.jpg")).expect("photo");
    let good = json!({
        "from": "2026-11-25T08:00:00+08:00", "to": "2026-11-25T09:00:00+08:00",
        "cameras": [camera], "photo": b64(&jpeg),
    });
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with("from", json!("yesterday")), "from"),
        (with("to", json!("2026-11-25T07:00:00+08:00")), "to"),
        (with("priority", json!("urgent")), "priority"),
        (with("priority", json!(9)), "priority"),
        (with("cameras", json!([999])), "cameras"),
        (with("cameras", json!("gate")), "cameras"),
        (with("photo", json!("%%%not base64")), "photo"),
        (with("photo", json!(b64(b"GIF89a not a photo"))), "photo"),
        (with("match_distance", json!(5.0)), "match_distance"),
        (with("colour", json!("red")), "colour"),
        (
            json!({ "from": "2026-11-25T08:00:00Z", "to": "2026-11-25T09:00:00Z" }),
            "photo",
        ),
        (
            with(
                "embedding",
                json!({ "model": "other-model", "values": [0.0] }),
            ),
            "photo",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = api.post("/tasks", &body).await;
        check_error(status, &answer, 400, "invalid_request", field);
    }
    let mut no_photo = good.clone();
    no_photo.as_object_mut().expect("object").remove("photo");
    no_photo["embedding"] = json!({ "model": "other-model", "values": [0.0] });
    let (status, answer) = api.post("/tasks", &no_photo).await;
    check_error(status, &answer, 400, "invalid_request", "embedding.model");
    // The one error body of box and relay names the field at fault.
    assert_eq!(answer["field"], "embedding.model", "{answer}");
    for raw in [&b"{\"from\": "[..], b"[]", b"", b"\xff\xfe"] {
        let (status, answer) = api.post_raw("/tasks", raw.to_vec()).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"], "invalid_request");
    }
    let (status, answer) = api.get("/tasks/not-a-task").await;
    check_error(status, &answer, 404, "not_found", "not-a-task");
    let (status, answer) = api.get("/tasks?state=sleeping").await;
    check_error(status, &answer, 400, "invalid_request", "state");
    let (status, answer) = api.get("/nowhere").await;
    check_error(status, &answer, 404, "not_found", "route");

    // A photo without a face is taken (creation never decodes), then the task fails saying so.
    let (status, created) = api
        .post("/tasks", &with("photo", json!(b64(&blank_png()))))
        .await;
    assert_eq!(status, 201, "{created}");
    let task = created["id"].as_str().expect("id");
    let failed = api.wait_finished(task, Duration::from_secs(60)).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["error"].as_str().unwrap_or("").contains("no face"),
        "{failed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_listed_cancelled_and_counted_in_metrics() {
    let mut device = camera("API-CAM-4");
    device.recording_minutes = 1;
    let sim = start_sim(vec![device]).await;
    let (_dir, daemon) = common::start_box("search.tasks_at_once = 1\n");
    let api = daemon.api();
    let camera = api.add_camera("gate", &sim.device(0).base_url()).await;
    let to = jiff::Timestamp::now();
    let from = to - jiff::SignedDuration::from_hours(12);
    // Twelve hours of one-minute recordings: long enough to cancel in the middle.
    let long = api
        .create_task(&photo("obama.jpg"), from, to, &[camera])
        .await;
    let queued = api
        .create_task(&photo("obama.jpg"), from, to, &[camera])
        .await;
    let status = api.status(&queued).await;
    assert_eq!(status["state"], "queued", "one task at a time: {status}");
    loop {
        let status = api.status(&long).await;
        if status["recordings_done"].as_u64().unwrap_or(0) > 0 {
            assert!(
                status["recordings_total"].as_u64().unwrap_or(0) >= 64,
                "{status}"
            );
            assert!(status["eta_seconds"].as_f64().is_some(), "{status}");
            break;
        }
        assert_eq!(status["state"], "running", "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let output = daemon.cli(&["tasks", "cancel", &long]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cancelled = api.status(&long).await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    // Its downloads stop promptly (polled: a loaded machine may take a moment).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sim.stats(0).downloads_active > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "downloads still running 5 s after cancel: {:?}",
            sim.stats(0)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The queued task starts once the slot is free; cancel it too.
    let (status, again) = api
        .post(&format!("/tasks/{queued}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200, "{again}");
    let (status, body) = api.post(&format!("/tasks/{long}/cancel"), &json!({})).await;
    assert_eq!(status, 200, "cancelling twice is not an error: {body}");

    let (status, list) = api.get("/tasks?limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], queued, "newest first");
    let (_, next) = api.get(&format!("/tasks?limit=5&before={queued}")).await;
    assert_eq!(next[0]["id"], long, "{next}");
    let (_, cancelled_only) = api.get("/tasks?state=cancelled").await;
    assert_eq!(cancelled_only.as_array().map(Vec::len), Some(2));
    let output = daemon.cli(&["tasks", "list"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains(&long));

    let metrics = daemon.api().metrics().await;
    assert!(
        metrics.contains("dipper_tasks_created_total 2"),
        "{metrics}"
    );
    // What the fleet dashboard shows of indexing and the disk: a recording of a minute was
    // indexed, with its keyframes decoded and its faces in the index.
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} "))?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    assert!(
        value("dipper_footage_indexed_seconds_total") >= 60.0,
        "{metrics}"
    );
    assert!(value("dipper_keyframes_decoded_total") > 0.0, "{metrics}");
    assert!(
        value("dipper_index_entries") >= value("dipper_faces_indexed_total"),
        "{metrics}"
    );
    assert!(value("dipper_disk_free_bytes") > 0.0, "{metrics}");
    assert!(value("dipper_disk_size_bytes") >= value("dipper_disk_free_bytes"));
    let (status, health) = api.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok", "{health}");
}

#[test]
fn the_cli_says_when_the_daemon_is_not_running() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dipper"))
        .args(["tasks", "list", "--api", "http://127.0.0.1:9"])
        .output()
        .expect("dipper");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach the dipper daemon"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_or_refused_video_is_reported_per_recording_and_the_task_goes_on() {
    let mut refusing = camera("API-CAM-5");
    refusing.recording_minutes = 1;
    refusing.faults.xml_refusal = true;
    let mut corrupt = camera("API-CAM-6");
    corrupt.recording_minutes = 1;
    // Bits flipped a few seconds in: FFmpeg decodes through them.
    corrupt.faults.corrupt_at = Some(700_000);
    let mut truncated = camera("API-CAM-7");
    truncated.recording_minutes = 1;
    // Every download ends after about 20 s of its minute, retries or not.
    truncated.faults.truncate_after = Some(1_500_000);
    let sim = start_sim(vec![refusing, corrupt, truncated]).await;
    let (_dir, daemon) = common::start_box("");
    let api = daemon.api();
    let refusing = api.add_camera("refusing", &sim.device(0).base_url()).await;
    let corrupt = api.add_camera("corrupt", &sim.device(1).base_url()).await;
    let truncated = api.add_camera("truncated", &sim.device(2).base_url()).await;
    let to = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(2);
    let from = to - jiff::SignedDuration::from_mins(2);
    let task = api
        .create_task(
            &photo("obama.jpg"),
            from,
            to,
            &[refusing, corrupt, truncated],
        )
        .await;
    let status = api.wait_finished(&task, Duration::from_secs(240)).await;
    assert_eq!(status["state"], "done", "{status}");
    let total = status["recordings_total"].as_u64().expect("total");
    assert!(total >= 6 && total % 3 == 0, "{status}");
    let per_camera = total / 3;
    // The refusing camera's recordings fail, with the device's answer as the reason.
    assert_eq!(
        status["recordings_failed"].as_u64(),
        Some(per_camera),
        "{status}"
    );
    let reason = status["failures"][0]["reason"].as_str().expect("a reason");
    assert!(reason.contains("XML instead of video"), "{reason}");
    // The corrupt and truncated cameras' recordings are searched; the truncated ones up to
    // where they end, and they say so.
    assert_eq!(
        status["recordings_done"].as_u64(),
        Some(2 * per_camera),
        "{status}"
    );
    assert!(
        status["keyframes"].as_u64().unwrap_or(0) > 30 * per_camera,
        "{status}"
    );
    assert_eq!(
        status["warnings"][0]["recordings"].as_u64(),
        Some(per_camera),
        "{status}"
    );
    let output = daemon.cli(&["tasks", "show", &task]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("failed:") && text.contains("damaged:"),
        "{text}"
    );
}
