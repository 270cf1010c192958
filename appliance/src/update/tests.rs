//! The daemon's half against a real HTTP server and real packages (`dpkg-deb`), and the
//! installer's checks before it installs anything. The whole flow, with `dpkg` installing
//! and rolling back: tests/uplink/software.rs.

use std::path::Path;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use protocol::software::{SignedPackage, SoftwareUpdate, UpdateState, encode_key};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::*;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[3; 32])
}

/// Serves `body` at `/p.deb` on a free port; the URL.
async fn serve(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = axum::Router::new().route("/p.deb", axum::routing::get(move || async move { body }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/p.deb")
}

/// An update to the package `bytes`, signed as `name` `version` over `signed` bytes.
fn update(url: &str, version: &str, signed: &[u8], force: bool) -> SoftwareUpdate {
    let sha256 = fetch::hex(&Sha256::digest(signed));
    let package = SignedPackage::sign(&key(), "dipper", version, &sha256, signed.len() as u64);
    SoftwareUpdate {
        rollout_id: Uuid::new_v4(),
        package,
        url: url.to_owned(),
        force,
        health_timeout_s: 10,
    }
}

/// Waits for the update's final state in `updates/state.json`.
async fn settled(data_dir: &Path) -> protocol::software::UpdateReport {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(report) = read_state(data_dir)
            && matches!(report.state, UpdateState::Staged | UpdateState::Failed)
        {
            return report;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the update never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn updater(dir: &Path) -> Updater {
    Updater::new(dir, reqwest::Client::new())
}

#[tokio::test]
async fn a_signed_newer_package_is_fetched_checked_and_staged() {
    let dir = tempfile::tempdir().expect("dir");
    let scratch = tempfile::tempdir().expect("scratch");
    let bytes = testkit::deb::build(scratch.path(), "dipper", "9.0.0");
    let url = serve(bytes.clone()).await;
    let update = update(&url, "9.0.0", &bytes, false);
    let accepted = updater(dir.path())
        .begin(update.clone(), encode_key(&key().verifying_key()))
        .expect("accepted");
    assert_eq!(accepted.from_version, env!("CARGO_PKG_VERSION"));
    let report = settled(dir.path()).await;
    assert_eq!(report.state, UpdateState::Staged, "{report:?}");
    assert_eq!(
        (report.rollout_id, report.version.as_str()),
        (update.rollout_id, "9.0.0")
    );
    let staging = Staging::new(dir.path());
    assert_eq!(std::fs::read(staging.package()).expect("package"), bytes);
    let staged: Staged =
        serde_json::from_slice(&std::fs::read(staging.request()).expect("request")).expect("reads");
    assert_eq!(staged.update, update);
    // One at a time: while it waits for the installer, another is refused.
    let again = updater(dir.path()).begin(update, encode_key(&key().verifying_key()));
    assert_eq!(again.expect_err("busy").code, "busy");
}

#[tokio::test]
async fn bytes_other_than_the_signed_ones_fail_the_update_and_leave_nothing() {
    let scratch = tempfile::tempdir().expect("scratch");
    let real = testkit::deb::build(scratch.path(), "dipper", "9.0.0");
    let other = testkit::deb::build(scratch.path(), "dipper", "9.0.1");
    let mut flipped = real.clone();
    *flipped.last_mut().expect("bytes") ^= 1;
    let mut longer = real.clone();
    longer.push(0);
    let cases = [
        // Served bytes differ from the signed ones, at the same length...
        (flipped, update("", "9.0.0", &real, false), "sha256"),
        // ... or longer: the download stops at the signed size.
        (
            longer,
            update("", "9.0.0", &real, false),
            "larger than the signed",
        ),
        // The signed bytes are a package of another version than the signed one.
        (
            other.clone(),
            update("", "9.0.0", &other, false),
            "not the signed dipper 9.0.0",
        ),
        // Not a package at all.
        (
            b"not a package".to_vec(),
            update("", "9.0.0", b"not a package", false),
            "dpkg-deb",
        ),
    ];
    for (served, mut update, expected) in cases {
        let dir = tempfile::tempdir().expect("dir");
        update.url = serve(served).await;
        updater(dir.path())
            .begin(update, encode_key(&key().verifying_key()))
            .expect("accepted");
        let report = settled(dir.path()).await;
        assert_eq!(report.state, UpdateState::Failed, "{report:?}");
        let reason = report.reason.unwrap_or_default();
        assert!(reason.contains(expected), "{expected}: {reason}");
        let staging = Staging::new(dir.path());
        for left in [staging.partial(), staging.package(), staging.request()] {
            assert!(!left.exists(), "{} left behind", left.display());
        }
    }
    // A URL that answers 404, and one nobody listens on.
    for url in [
        format!("{}x", serve(Vec::new()).await),
        "http://127.0.0.1:1/p.deb".to_owned(),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        let update = update(&url, "9.0.0", &real, false);
        updater(dir.path())
            .begin(update, encode_key(&key().verifying_key()))
            .expect("accepted");
        let report = settled(dir.path()).await;
        assert_eq!(report.state, UpdateState::Failed, "{url}: {report:?}");
    }
}

#[tokio::test]
async fn a_downgrade_or_another_package_is_refused_unless_forced() {
    let dir = tempfile::tempdir().expect("dir");
    let key_text = encode_key(&key().verifying_key());
    let older = update("http://127.0.0.1:1/p.deb", "0.0.9", b"x", false);
    let same = update(
        "http://127.0.0.1:1/p.deb",
        env!("CARGO_PKG_VERSION"),
        b"x",
        false,
    );
    for refused in [older.clone(), same] {
        let answer = updater(dir.path()).begin(refused, key_text.clone());
        assert_eq!(answer.expect_err("refused").code, "not_newer");
    }
    let mut relay = update("http://127.0.0.1:1/p.deb", "9.0.0", b"x", false);
    relay.package.name = "dipper-relay".to_owned();
    let answer = updater(dir.path()).begin(relay, key_text.clone());
    assert_eq!(answer.expect_err("refused").code, "not_this_box");
    // Forced, the downgrade is taken (and fails here at its download).
    let forced = SoftwareUpdate {
        force: true,
        ..older
    };
    updater(dir.path()).begin(forced, key_text).expect("forced");
    assert_eq!(settled(dir.path()).await.state, UpdateState::Failed);
}

#[test]
fn the_installer_refuses_a_package_signed_for_another_key_than_it_pinned() {
    let dir = tempfile::tempdir().expect("dir");
    let installer = tempfile::tempdir().expect("installer");
    let scratch = tempfile::tempdir().expect("scratch");
    let bytes = testkit::deb::build(scratch.path(), "dipper", "9.0.0");
    let staging = Staging::new(dir.path());
    std::fs::create_dir_all(&staging.dir).expect("updates");
    std::fs::write(staging.package(), &bytes).expect("package");
    let staged = Staged {
        update: update("http://x/p.deb", "9.0.0", &bytes, false),
        from_version: "1.0.0".to_owned(),
    };
    std::fs::write(
        staging.request(),
        serde_json::to_vec(&staged).expect("json"),
    )
    .expect("request");
    // The daemon staged the key its relay signs with; the installer pinned another earlier.
    std::fs::write(staging.key(), encode_key(&key().verifying_key())).expect("key");
    let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
    std::fs::write(installer.path().join("software.key"), encode_key(&other)).expect("pinned");
    let config = UpdateConfig {
        root: scratch.path().join("no-root"),
        restart_command: Vec::new(),
        installer_dir: installer.path().to_owned(),
    };
    let error = install(dir.path(), &config).expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("another key than the one pinned"),
        "{error}"
    );
    let report = read_state(dir.path()).expect("a state");
    assert_eq!(report.state, UpdateState::Failed);
    assert!(
        !staging.request().exists(),
        "the path unit would start it again"
    );
    // Nothing staged: nothing to do.
    assert_eq!(
        install(dir.path(), &config).expect("nothing"),
        Outcome::Nothing
    );
}

#[test]
fn the_running_version_is_the_installed_packages() {
    let root = tempfile::tempdir().expect("root");
    assert_eq!(installed_version(root.path()), env!("CARGO_PKG_VERSION"));
    let file = root.path().join(VERSION_FILE);
    std::fs::create_dir_all(file.parent().expect("folder")).expect("folder");
    std::fs::write(&file, "2.0.0+20261205.g1234567\n").expect("version");
    assert_eq!(installed_version(root.path()), "2.0.0+20261205.g1234567");
    std::fs::write(&file, "not a version!\n").expect("version");
    assert_eq!(installed_version(root.path()), env!("CARGO_PKG_VERSION"));
}
