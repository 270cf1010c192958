//! Helpers for the workspace's tests, never for a shipped binary (`publish = false`, used
//! only as a dev-dependency): `broker` starts a real Mosquitto (Debian's, with its dynamic
//! security plugin) on a free loopback port in a temporary folder, with identities for
//! boxes made as the relay makes them; `mqtt` is a raw MQTT client that plays a box or a
//! relay in a test; `daemon` runs the box (`dipper run`) and `relay` the relay
//! (`dipper-relay run`) as the processes they ship as; `faces` serves simulated cameras
//! whose recordings show the test photos' faces; `proxy` cuts a box's link and restores it;
//! `s3` runs a real S3 server (s3s-fs) for the relay's object store; `smtp` a real SMTP
//! server (aiosmtpd) whose received mail a test reads; `metrics` holds each daemon's metric
//! table to its code, to the Grafana dashboards and to its `/metrics`.
//!
//! Contract: every service a test needs is started here and stopped when its handle is
//! dropped; nothing binds anywhere but 127.0.0.1; waits poll a condition with a bound.
//! Failing to start is a panic naming the missing tool and showing the broker's log: the
//! helpers serve tests, where a panic is the report.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

pub mod broker;
pub mod browser;
pub mod daemon;
pub mod deb;
pub mod faces;
pub mod metrics;
pub mod mqtt;
pub mod oidc;
pub mod postgres;
pub mod proxy;
pub mod relay;
pub mod s3;
pub mod smtp;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use broker::{ADMIN_PASSWORD, ADMIN_USER, TestBroker, free_port};
pub use daemon::{Api, Daemon};
pub use mqtt::Mqtt;
pub use relay::Relay;
pub use s3::S3Server;
pub use smtp::SmtpServer;

/// The workspace's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A binary of the workspace (`dipper`, `dipper-relay`), built beside the running test:
/// a test executable lives in `target/debug/deps/`, the binaries in `target/debug/`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let mut dir = exe.parent().expect("the test's folder").to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace's binaries (cargo build --workspace --bins, \
         or cargo nextest run --workspace)",
        path.display()
    );
    path
}

/// Stops `child` as its service manager would (SIGTERM) and waits up to `within` for it to
/// exit, then kills it; whether it exited by itself with success.
pub(crate) fn terminate(mut child: std::process::Child, within: std::time::Duration) -> bool {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An HTTP answer's status and JSON body (`null` when empty); a body that is not JSON is a
/// panic showing it.
pub(crate) async fn json_answer(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body");
    if bytes.is_empty() {
        return (status, serde_json::Value::Null);
    }
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

/// Polls `condition` every 50 ms until it holds; panics naming `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
