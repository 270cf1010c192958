//! The `dipper-relay` binary: `admin create` from standard input, `run` on a SQLite file it
//! creates, and graceful shutdown on SIGTERM.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

use crate::harness::PASSWORD;

const BIN: &str = env!("CARGO_BIN_EXE_dipper-relay");

fn relay(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env("DIPPER_RELAY__AUTH__ARGON2__MEMORY_KIB", "64")
        .env("DIPPER_RELAY__AUTH__ARGON2__ITERATIONS", "1")
        .env_remove("DIPPER_RELAY_CONFIG");
    command
}

/// Runs `admin create --email <email> --password-stdin` with `password` on its standard
/// input; its output (standard error captured).
fn admin_create(mut command: Command, email: &str, password: &str) -> std::process::Output {
    let args = ["admin", "create", "--email", email, "--password-stdin"];
    let mut create = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    writeln!(create.stdin.take().expect("stdin"), "{password}").expect("write");
    create.wait_with_output().expect("wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_run_and_sigterm() {
    let dir = tempfile::tempdir().expect("dir");
    // No password on the command line: it comes from stdin, and a short one is refused.
    let output = admin_create(relay(dir.path()), "Root@Dipper.Test", PASSWORD);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        dir.path().join("dipper-relay.sqlite3").exists(),
        "the default SQLite file is made"
    );
    let output = admin_create(relay(dir.path()), "x@dipper.test", "short");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("password: must be 12"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A bad config key fails at start, naming the key.
    let output = relay(dir.path())
        .env("DIPPER_RELAY__SERVER__LISTEN_ON", "x")
        .arg("run")
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("listen_on"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    run_reports_to_systemd_and_stops_on_sigterm(dir.path()).await;
}

/// Runs the relay as systemd would: READY, a login, SIGTERM, STOPPING, JSON logs.
async fn run_reports_to_systemd_and_stops_on_sigterm(dir: &std::path::Path) {
    let port = free_port();
    // Stands in for systemd: the relay reports READY and STOPPING on NOTIFY_SOCKET.
    let notify_path = dir.join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut server = relay(dir)
        .arg("run")
        .env("NOTIFY_SOCKET", &notify_path)
        .env("DIPPER_RELAY__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &base).await;
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"email": "root@dipper.test", "password": PASSWORD}).to_string())
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::OK);

    let mut message = [0_u8; 64];
    let n = notify.recv(&mut message).expect("READY");
    assert_eq!(&message[..n], b"READY=1");

    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || {
        let status = server.wait().expect("wait");
        let mut logs = String::new();
        if let Some(mut stderr) = server.stderr.take() {
            std::io::Read::read_to_string(&mut stderr, &mut logs).expect("logs");
        }
        (status, logs)
    })
    .await
    .expect("join");
    assert!(output.0.success(), "{:?}: {}", output.0, output.1);
    let n = notify.recv(&mut message).expect("STOPPING");
    assert_eq!(&message[..n], b"STOPPING=1");
    // The logs are JSON lines.
    for line in output.1.lines() {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(parsed["level"].is_string(), "{line}");
    }
    assert!(output.1.contains("dipper-relay stopped"), "{}", output.1);
}

/// A log that cannot be written (stderr on a full disk; `/dev/full` fails every write) stops
/// nothing: the relay starts, answers, refuses a wrong password and stops cleanly. (The
/// logging library used to report a failed write with `eprintln!`, which panics when stderr
/// fails too, killing whichever task logged.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_be_written_stops_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let output = admin_create(relay(dir.path()), "root@dipper.test", PASSWORD);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let full = std::fs::OpenOptions::new()
        .append(true)
        .open("/dev/full")
        .expect("/dev/full");
    let port = free_port();
    let server = relay(dir.path())
        .arg("run")
        .env("RUST_LOG", "debug")
        .env("DIPPER_RELAY__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(full)
        .spawn()
        .expect("spawn");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &base).await;
    for (password, expected) in [
        ("not the password", StatusCode::UNAUTHORIZED),
        (PASSWORD, StatusCode::OK),
    ] {
        let login = client
            .post(format!("{base}/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(
                serde_json::json!({"email": "root@dipper.test", "password": password}).to_string(),
            )
            .send()
            .await
            .expect("login");
        assert_eq!(login.status(), expected);
    }
    stops_cleanly(server).await;
}

/// SIGTERM, then the relay must exit with status 0.
async fn stops_cleanly(server: std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut server = server;
    let exit = tokio::task::spawn_blocking(move || server.wait().expect("wait"))
        .await
        .expect("join");
    assert!(exit.success(), "{exit:?}");
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    probe.local_addr().expect("addr").port()
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the relay at {base} never became ready");
}

/// Two `dipper-relay run` processes on one PostgreSQL database serve the same users: a token
/// from one works on the other, and a refresh token rotated on one is spent on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres() {
    let db = crate::harness::TestDb::new(crate::harness::Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = db.config.url.clone();
    let mut command = relay(dir.path());
    command.env("DIPPER_RELAY__DATABASE__URL", &url);
    let output = admin_create(command, "root@dipper.test", PASSWORD);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let client = reqwest::Client::new();
    let mut bases = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let port = free_port();
        servers.push(
            relay(dir.path())
                .arg("run")
                .env("DIPPER_RELAY__DATABASE__URL", &url)
                .env("DIPPER_RELAY__SERVER__LISTEN", format!("127.0.0.1:{port}"))
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn"),
        );
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    for base in &bases {
        wait_ready(&client, base).await;
    }
    let post = |base: &str, path: &str, body: serde_json::Value| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let pair: serde_json::Value = post(
        &bases[0],
        "/api/v1/auth/login",
        serde_json::json!({"email": "root@dipper.test", "password": PASSWORD}),
    )
    .await
    .expect("login")
    .json()
    .await
    .expect("json");
    let access = pair["access_token"].as_str().expect("access");
    let me = client
        .get(format!("{}/api/v1/me", bases[1]))
        .bearer_auth(access)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    let refresh = serde_json::json!({"refresh_token": pair["refresh_token"]});
    let rotated = post(&bases[1], "/api/v1/auth/refresh", refresh.clone())
        .await
        .expect("refresh");
    assert_eq!(rotated.status(), StatusCode::OK);
    let reused = post(&bases[0], "/api/v1/auth/refresh", refresh)
        .await
        .expect("reuse");
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);

    for server in servers {
        stops_cleanly(server).await;
    }
}
