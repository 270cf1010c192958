//! `dipper-relay run` with no configuration keeps objects on its own disk, in
//! `dipper-relay-objects` of its working directory, and serves the URLs signed with the key
//! in its database; a misspelt backend or a missing bucket stops it at start, saying which.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use relay::config::{DatabaseConfig, ObjectsConfig};
use relay::db::Db;
use relay::objects::{ContentType, ObjectStore};
use reqwest::StatusCode;
use testkit::S3Server;

use super::{MINUTES, jpeg, snapshot_key};

const BIN: &str = env!("CARGO_BIN_EXE_dipper-relay");

/// The relay in `dir` with nothing configured but its port (so tests do not collide on
/// 8080) and cheap password hashing.
fn relay(dir: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env("DIPPER_RELAY__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("DIPPER_RELAY__AUTH__ARGON2__MEMORY_KIB", "64")
        .env("DIPPER_RELAY__AUTH__ARGON2__ITERATIONS", "1")
        .env_remove("DIPPER_RELAY_CONFIG")
        .env("RUST_LOG", "warn");
    command
}

/// Kills the relay when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_config_the_relay_serves_disk_urls() {
    let dir = tempfile::tempdir().expect("dir");
    let port = testkit::free_port();
    let child = relay(dir.path(), port)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run");
    let _running = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    testkit::eventually("the relay is ready", Duration::from_secs(30), || async {
        let ready = client.get(format!("{base}/readyz")).send().await;
        ready.is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    let folder = dir.path().join("dipper-relay-objects");
    assert!(folder.is_dir(), "the default folder is made at start");

    // Another instance on the same database and defaults signs; the running one serves.
    let database = DatabaseConfig {
        url: format!(
            "sqlite://{}",
            dir.path().join("dipper-relay.sqlite3").display()
        ),
        max_connections: 1,
    };
    let db = Db::connect_and_migrate(&database)
        .await
        .expect("the relay's database");
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let store = ObjectStore::open(&ObjectsConfig::default(), listen, &db)
        .await
        .expect("store");
    let key = snapshot_key();
    let upload = store
        .presign_put(&key, MINUTES, ContentType::Jpeg)
        .await
        .expect("presign");
    assert!(
        upload.url.starts_with(&format!("{base}/objects/")),
        "{}",
        upload.url
    );
    let response = client
        .put(&upload.url)
        .header("content-type", "image/jpeg")
        .body(jpeg(500))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        std::fs::read(folder.join(key.as_str())).expect("file"),
        jpeg(500)
    );
    let download = store.presign_get(&key, MINUTES).await.expect("presign");
    let response = client.get(&download.url).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("body").as_ref(), jpeg(500));
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_objects_section_stops_the_start_saying_why() {
    let dir = tempfile::tempdir().expect("dir");
    let port = testkit::free_port();
    let fails = |command: &mut Command| {
        let output = command.arg("run").output().expect("run");
        assert!(!output.status.success(), "the relay started");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = fails(relay(dir.path(), port).env("DIPPER_RELAY__OBJECTS__BACKEND", "s4"));
    assert!(
        stderr.contains("backend") && stderr.contains("s3"),
        "{stderr}"
    );
    let stderr = fails(relay(dir.path(), port).env("DIPPER_RELAY__OBJECTS__BACKEND", "s3"));
    assert!(stderr.contains("objects.s3"), "{stderr}");

    let server = S3Server::start();
    let stderr = fails(
        relay(dir.path(), port)
            .env("DIPPER_RELAY__OBJECTS__BACKEND", "s3")
            .env("DIPPER_RELAY__OBJECTS__S3__ENDPOINT", server.endpoint())
            .env("DIPPER_RELAY__OBJECTS__S3__BUCKET", "not-there")
            .env(
                "DIPPER_RELAY__OBJECTS__S3__ACCESS_KEY_ID",
                server.access_key(),
            )
            .env(
                "DIPPER_RELAY__OBJECTS__S3__SECRET_ACCESS_KEY",
                server.secret_key(),
            ),
    );
    assert!(
        stderr.contains("not-there") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(server.secret_key()),
        "the secret is never shown: {stderr}"
    );
}
