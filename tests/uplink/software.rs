//! Software updates end to end: the relay, Mosquitto and a real box daemon activated through
//! them. Packages of the box are built in the test (`dpkg-deb`) and installed by the box's
//! own installer (`dipper update install`, as `dipper-update.service` runs it) with real
//! `dpkg` and `dpkg-repack`, into a folder with a dpkg database of its own (`[update] root`,
//! so the machine's packages are not touched). The box is restarted by a script standing in
//! for `systemctl restart dipper.service`: it stops the running box and starts the installed
//! package's `/usr/bin/dipper`.
//!
//! A newer version is fetched, checked, installed and reports healthy; a version that cannot
//! start is rolled back to the one before, which reports the rollback; an older version is
//! refused. (A box without the relay's key answers `no_trusted_key`: appliance/tests/uplink.rs;
//! a signature that does not verify: protocol's tests.)

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use testkit::eventually;

use crate::site::{Site, WAIT};

/// Stops the box the restart script started last, when the test ends.
struct Started(PathBuf);

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

/// A package of the box at `version`: its version file and a `/usr/bin/dipper` that runs
/// the daemon built for the tests, or, when `starts` is false, one that exits at once (a
/// broken build).
fn box_package(dir: &Path, version: &str, starts: bool) -> PathBuf {
    let program = if starts {
        format!(
            "#!/bin/sh\nexec {} \"$@\"\n",
            testkit::binary("dipper").display()
        )
    } else {
        "#!/bin/sh\necho \"this build cannot start\" >&2\nexit 1\n".to_owned()
    };
    let version_file = format!("{version}\n");
    let files = [
        ("usr/bin/dipper", program.as_str(), 0o755),
        ("usr/lib/dipper/version", version_file.as_str(), 0o644),
    ];
    testkit::deb::build_with(dir, "dipper", version, &files);
    dir.join(format!("dipper_{version}_amd64.deb"))
}

/// Uploads a package to the relay as the platform administrator; its id.
async fn upload(site: &Site, root_token: &str, deb: &Path) -> Value {
    let bytes = std::fs::read(deb).expect("package");
    let uploaded = reqwest::Client::new()
        .post(format!("{}/api/v1/software/packages", site.relay.base))
        .bearer_auth(root_token)
        .header("content-type", "application/vnd.debian.binary-package")
        .body(bytes)
        .send()
        .await
        .expect("upload");
    assert_eq!(uploaded.status(), 201);
    let uploaded: Value = uploaded.json().await.expect("a package");
    uploaded["id"].clone()
}

/// Starts a rollout of `package` to the box; the rollout's path.
async fn roll_out(site: &Site, token: &str, package: &Value, device: &str) -> String {
    let rollouts = format!("/api/v1/tenants/{}/software/rollouts", site.tenant.id);
    let start = json!({"package_id": package, "device_ids": [device], "health_timeout_s": 10});
    let rollout = site.relay.post_ok(&rollouts, Some(token), &start).await;
    format!("{rollouts}/{}", rollout["id"].as_str().expect("id"))
}

/// Waits until the rollout's box is in `state`; the rollout.
async fn box_reaches(site: &Site, token: &str, rollout: &str, state: &str) -> Value {
    eventually(&format!("the box's update is {state}"), WAIT, || async {
        site.relay.get(rollout, token).await.1["boxes"][0]["state"] == state
    })
    .await;
    site.relay.get(rollout, token).await.1
}

/// `dipper update install --config <config>`, as root's service runs it.
async fn run_installer(config: &Path) -> std::process::Output {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(testkit::binary("dipper"))
            .args(["update", "install", "--config"])
            .arg(config)
            .output()
            .expect("dipper update install")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_installed_a_failing_one_rolled_back_and_a_downgrade_refused() {
    let site = Site::start().await;
    let scratch = tempfile::tempdir().expect("scratch");
    let (root, packages) = (scratch.path().join("root"), scratch.path().join("packages"));
    std::fs::create_dir_all(&packages).expect("packages folder");
    testkit::deb::dpkg_root(&root);
    let v1 = box_package(&packages, "1.0.0", true);
    testkit::deb::install(&root, &v1);

    // The restart script, as systemd restarts the unit: the box it started last (or the
    // one the test started) is stopped, the installed one started.
    let pid_file = scratch.path().join("box.pid");
    let script = scratch.path().join("restart");
    let log = scratch.path().join("box.log");
    let extra = format!(
        "update.root = {root:?}\nupdate.installer_dir = {installer:?}\nupdate.restart_command = [{script:?}]\n",
        root = root.display().to_string(),
        installer = scratch.path().join("installer").display().to_string(),
        script = script.display().to_string(),
    );
    let a_box = site.activated_box("Box at the gate", &extra).await;
    let (config, box_dir) = (a_box.daemon.config.clone(), a_box.daemon.data_dir.clone());
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\npid=$(cat {pids})\nkill -TERM \"$pid\" 2>/dev/null\n\
             while ps -o stat= -p \"$pid\" | grep -qv '^Z'; do sleep 0.1; done\n\
             setsid {root}/usr/bin/dipper run --config {config} >> {log} 2>&1 < /dev/null &\n\
             echo $! > {pids}\n",
            pids = pid_file.display(),
            root = root.display(),
            config = config.display(),
            log = log.display(),
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("mode");
    std::fs::write(&pid_file, a_box.daemon.pid().to_string()).expect("pid");
    let _started = Started(pid_file.clone());
    let token = site.relay.login(None, testkit::relay::ROOT).await;
    let device = site.device(&a_box.device_id).await;
    assert_eq!(device["software_version"], "1.0.0", "{device}");

    // A newer version: fetched, staged, installed, healthy; the rollout is done.
    let v2 = upload(&site, &token, &box_package(&packages, "2.0.0", true)).await;
    let rollout = roll_out(&site, &token, &v2, &a_box.device_id).await;
    box_reaches(&site, &token, &rollout, "staged").await;
    let installed = run_installer(&config).await;
    let said = String::from_utf8_lossy(&installed.stdout);
    assert!(
        installed.status.success() && said.contains("Installed 2.0.0"),
        "{said} {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let done = box_reaches(&site, &token, &rollout, "healthy").await;
    eventually("the rollout is done", WAIT, || async {
        site.relay.get(&rollout, &token).await.1["state"] == "done"
    })
    .await;
    assert_eq!(
        testkit::deb::installed(&root, "dipper").as_deref(),
        Some("2.0.0"),
        "{done}"
    );
    eventually("the box reports 2.0.0", WAIT, || async {
        site.device(&a_box.device_id).await["software_version"] == "2.0.0"
    })
    .await;

    // A version that cannot start: rolled back to 2.0.0, which reports why; the rollout halts.
    let v3 = upload(&site, &token, &box_package(&packages, "3.0.0", false)).await;
    let rollout = roll_out(&site, &token, &v3, &a_box.device_id).await;
    box_reaches(&site, &token, &rollout, "staged").await;
    let installed = run_installer(&config).await;
    let said = String::from_utf8_lossy(&installed.stderr);
    assert!(!installed.status.success(), "{said}");
    assert!(said.contains("rolled back to 2.0.0"), "{said}");
    let halted = box_reaches(&site, &token, &rollout, "rolled_back").await;
    let reason = halted["boxes"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("3.0.0 did not report healthy within 10 s"),
        "{halted}"
    );
    eventually("the rollout halts", WAIT, || async {
        site.relay.get(&rollout, &token).await.1["state"] == "halted"
    })
    .await;
    assert_eq!(
        testkit::deb::installed(&root, "dipper").as_deref(),
        Some("2.0.0")
    );
    let device = site.device(&a_box.device_id).await;
    assert_eq!(device["software_version"], "2.0.0", "{device}");
    assert!(
        !box_dir.join("updates/staged.json").exists(),
        "nothing left staged"
    );

    // An older version is refused by the box, with its words.
    let v1 = upload(&site, &token, &v1).await;
    let rollout = roll_out(&site, &token, &v1, &a_box.device_id).await;
    let refused = box_reaches(&site, &token, &rollout, "failed").await;
    let reason = refused["boxes"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("not_newer:"), "{refused}");
    assert_eq!(
        testkit::deb::installed(&root, "dipper").as_deref(),
        Some("2.0.0")
    );
}
