//! The daemon's life as systemd and an operator see it: READY and STOPPING on the notify
//! socket, JSON logs, a prompt clean stop on SIGTERM in the middle of a search (which
//! resumes at the next start), and a bad config refused with the key named. (The second
//! signal's exit-at-once path is not driven here: nothing in the daemon makes a drain slow
//! enough to send it in time.)

mod common;

use std::{os::unix::net::UnixDatagram, time::Duration};

use common::{Daemon, face_camera, photo, start_sim};

fn next_message(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notification");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_hears_ready_then_stopping_and_logs_are_json_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let data = dir.path().join("data");
    let mut daemon = Daemon::start_with(
        &data,
        "",
        &[("NOTIFY_SOCKET", socket_path.to_str().expect("path"))],
        &["--log-format", "json"],
    );
    assert!(next_message(&socket).contains("READY=1"));
    let (status, health) = daemon.api().get("/health").await;
    assert_eq!(status, 200, "ready means the API answers: {health}");

    daemon.signal("TERM");
    assert!(next_message(&socket).contains("STOPPING=1"));
    let exit = daemon.wait_exit(Duration::from_secs(30)).expect("stopped");
    assert!(exit.success(), "{exit}");
    let log = daemon.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{log}");
    for line in lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["fields"].is_object(),
            "{line}"
        );
    }
    assert!(
        log.contains("dipper is ready") && log.contains("stopped"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_in_the_middle_of_a_search_is_prompt_and_the_task_resumes_later() {
    let end = jiff::Timestamp::now();
    let sim = start_sim(vec![face_camera("SIGNAL-H264", end, &[])]).await;
    let (from, _) = sim.recording_span(0, 101, 1430).expect("span");
    let from = from + jiff::SignedDuration::from_secs(1);
    let (_, to) = sim.recording_span(0, 101, 1439).expect("span");
    let dir = tempfile::tempdir().expect("tempdir");
    // A long allowed drain: the stop must be quick because runners let go at once, not
    // because the drain ran out.
    let mut daemon = Daemon::start(dir.path(), "shutdown.drain_seconds = 120\n");
    let api = daemon.api();
    let camera = api.add_camera("gate", &sim.device(0).base_url()).await;
    let task = api
        .create_task(&photo("obama.jpg"), from, to, &[camera])
        .await;
    loop {
        let status = api.status(&task).await;
        if status["recordings_total"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopping = std::time::Instant::now();
    daemon.signal("TERM");
    let exit = daemon
        .wait_exit(Duration::from_secs(10))
        .expect("stopped well within the drain");
    assert!(exit.success(), "{exit}: {}", daemon.log_text());
    assert!(stopping.elapsed() < Duration::from_secs(10));
    let status_after = {
        daemon.restart();
        daemon
            .api()
            .wait_finished(&task, Duration::from_secs(300))
            .await
    };
    assert_eq!(status_after["state"], "done", "{status_after}");
    assert_eq!(status_after["recordings_done"], 10, "{status_after}");
}

#[test]
fn a_bad_config_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("box.toml");
    for (text, names) in [
        ("[search]\nworkerz = 2\n", "workerz"),
        ("listen = 7380\n", "listen"),
        ("[search]\nrecordings_per_task = 0\n", "recordings_per_task"),
    ] {
        std::fs::write(&config, text).expect("config");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_dipper"))
            .args(["run", "--config"])
            .arg(&config)
            .output()
            .expect("dipper");
        assert_eq!(output.status.code(), Some(1), "{text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(names), "{text}: {stderr}");
    }
}
