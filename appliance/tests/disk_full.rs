//! A full disk, made for real on a small tmpfs: the daemon stops new downloads, reports
//! `disk_full`, refuses writes it cannot make with a clear error, keeps its database intact,
//! and carries on once space is freed.

mod common;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use common::{Daemon, embedding_of, face_camera, photo, start_sim};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs failed ({status}): this test needs root, as CI has"
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the filesystem with a file until `leave` bytes are free (0: until a write fails).
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let block = vec![0xA5u8; 64 * 1024];
    loop {
        let stat = rustix::fs::statvfs(dir).expect("statvfs");
        let free = stat.f_bavail * stat.f_frsize;
        if free <= leave + block.len() as u64 && leave > 0 {
            break;
        }
        if file.write_all(&block).and_then(|()| file.flush()).is_err() {
            break;
        }
    }
    path
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_downloads_reports_it_and_corrupts_nothing() {
    let end = jiff::Timestamp::now();
    let sim = start_sim(vec![face_camera(
        "FULL-H264",
        end,
        &[(1438, "cam1_h264.ps"), (1439, "cam1_h264.ps")],
    )])
    .await;
    let (from, to) = sim.recording_span(0, 101, 1439).expect("span");
    let from = from + jiff::SignedDuration::from_secs(1);
    let (second_from, second_to) = sim.recording_span(0, 101, 1438).expect("span");
    let second_from = second_from + jiff::SignedDuration::from_secs(1);
    let second_to = second_to - jiff::SignedDuration::from_secs(1);

    let tmpfs = Tmpfs::mount(64);
    let data = tmpfs.path().join("data");
    let (camera, task, done) = below_the_minimum(&sim, &tmpfs, (from, to)).await;
    let second_range = (second_from, second_to);
    let (second, second_done) = truly_full(&sim, &tmpfs, camera, second_range).await;

    // After a restart everything stored before is still there.
    let daemon = Daemon::start(&data, "disk.min_free_mib = 1\n");
    let api = daemon.api();
    for (task, done) in [(&task, &done), (&second, &second_done)] {
        let again = api.status(task).await;
        assert_eq!(again["matches"], done["matches"], "{again}");
        assert_eq!(
            api.matches(task).await.len() as u64,
            done["matches"].as_u64().unwrap_or(0)
        );
    }
}

/// A log that cannot be written (stderr on a full disk; `/dev/full` fails every write) stops
/// nothing: a search runs to its end as it would with a log. (The logging library used to
/// report a failed write with `eprintln!`, which panics when stderr fails too, killing the
/// task that logged: a recording then waited forever, silently.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_be_written_stops_nothing() {
    let end = jiff::Timestamp::now();
    let sim = start_sim(vec![face_camera(
        "LOG-FULL",
        end,
        &[(1439, "cam1_h264.ps")],
    )])
    .await;
    let (from, to) = sim.recording_span(0, 101, 1439).expect("span");
    let data = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start_logging_to(
        data.path(),
        "",
        &[("RUST_LOG", "debug")],
        &[],
        Path::new("/dev/full"),
    );
    let api = daemon.api();
    let camera = api.add_camera("gate", &sim.device(0).base_url()).await;
    let task = api
        .create_task(
            &photo("obama.jpg"),
            from + jiff::SignedDuration::from_secs(1),
            to,
            &[camera],
        )
        .await;
    let done = api.wait_finished(&task, Duration::from_secs(180)).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["recordings_done"], 1, "{done}");
    assert!(done["matches"].as_u64().unwrap_or(0) > 0, "{done}");
    let (status, health) = api.get("/health").await;
    assert_eq!(
        (status, &health["status"]),
        (200, &serde_json::json!("ok")),
        "{health}"
    );
    assert!(daemon.terminate(), "the daemon stops cleanly");
}

/// Below the minimum: the task is taken (the database still has room) but waits, then
/// finishes once space comes back. Returns the camera, the task and its final status.
async fn below_the_minimum(
    sim: &isapi::sim::Simulator,
    tmpfs: &Tmpfs,
    (from, to): (jiff::Timestamp, jiff::Timestamp),
) -> (i64, String, serde_json::Value) {
    let data = tmpfs.path().join("data");
    let mut daemon = Daemon::start(
        &data,
        "disk.min_free_mib = 8\ndisk.check_interval_ms = 100\n",
    );
    let api = daemon.api();
    let camera = api.add_camera("gate", &sim.device(0).base_url()).await;

    let filler = fill(tmpfs.path(), 4 * 1024 * 1024);
    let health = wait_for_health(&api, "disk_full reported", |h| {
        h["problems"][0] == "disk_full"
    })
    .await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["problems"][0], "disk_full", "{health}");
    let task = api
        .create_task(&photo("obama.jpg"), from, to, &[camera])
        .await;
    // The task found its recording, which now waits for space before downloading.
    wait_for_health(&api, "a recording waiting for space", |h| {
        h["waiting_for_space"] == 1
    })
    .await;
    assert_eq!(
        sim.stats(0).downloads_started,
        0,
        "a download started on a full disk"
    );
    let waiting = api.status(&task).await;
    assert_eq!(waiting["recordings_done"], 0, "{waiting}");

    // Space comes back: the task finishes.
    std::fs::remove_file(&filler).expect("free space");
    let done = api.wait_finished(&task, Duration::from_secs(180)).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["recordings_done"], 1, "{done}");
    assert!(done["matches"].as_u64().unwrap_or(0) > 0, "{done}");
    let (_, health) = api.get("/health").await;
    assert_eq!(health["status"], "ok", "{health}");

    assert!(daemon.terminate(), "a clean stop: {}", daemon.log_text());
    (camera, task, done)
}

/// Truly full, with no minimum to warn first. Returns the task and its final status.
async fn truly_full(
    sim: &isapi::sim::Simulator,
    tmpfs: &Tmpfs,
    camera: i64,
    (second_from, second_to): (jiff::Timestamp, jiff::Timestamp),
) -> (String, serde_json::Value) {
    let data = tmpfs.path().join("data");
    // Truly full, with no minimum to warn first: writes fail with "no space". A task is
    // refused with a clear error or, when the database still has room, taken; its
    // recording's snapshots then fail to write, the daemon reports the disk full and waits.
    let mut daemon = Daemon::start(
        &data,
        "disk.min_free_mib = 0\ndisk.check_interval_ms = 100\n",
    );
    let api = daemon.api();
    let downloads_before = sim.stats(0).downloads_started;
    let filler = fill(tmpfs.path(), 0);
    let target = embedding_of("obama.jpg");
    let body = serde_json::json!({
        "from": second_from.to_string(), "to": second_to.to_string(), "cameras": [camera],
        "embedding": { "model": target.model, "values": target.vector().expect("a vector") },
    });
    let (mut status, mut answer) = api.post("/tasks", &body).await;
    if status == 507 {
        assert_eq!(answer["error"], "disk_full", "{answer}");
        // Room for the task's row, not for the snapshots.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .expect("filler");
        let len = file.metadata().expect("len").len();
        file.set_len(len.saturating_sub(256 * 1024))
            .expect("shrink");
        (status, answer) = api.post("/tasks", &body).await;
    }
    assert_eq!(status, 201, "{answer}");
    let second = answer["id"].as_str().expect("id").to_owned();
    wait_for_health(&api, "disk_full reported", |h| {
        h["problems"][0] == "disk_full"
    })
    .await;
    // Its snapshots could not be written: the recording waits for space.
    wait_for_health(&api, "a recording waiting for space", |h| {
        h["waiting_for_space"] == 1
    })
    .await;
    let stuck = api.status(&second).await;
    assert_eq!(stuck["recordings_done"], 0, "{stuck}");
    assert_eq!(
        stuck["recordings_failed"], 0,
        "a full disk fails no recording: {stuck}"
    );
    assert!(
        sim.stats(0).downloads_started <= downloads_before + 1,
        "downloads went on while the disk was full"
    );
    std::fs::remove_file(&filler).expect("free space");
    let second_done = api.wait_finished(&second, Duration::from_secs(180)).await;
    assert_eq!(second_done["state"], "done", "{second_done}");
    assert!(
        second_done["matches"].as_u64().unwrap_or(0) > 0,
        "{second_done}"
    );
    assert!(daemon.terminate(), "a clean stop: {}", daemon.log_text());
    assert_eq!(integrity(&data.join("box.db")), "ok");
    (second, second_done)
}

/// Polls the health until `wanted` holds (at most two minutes), and returns it.
async fn wait_for_health(
    api: &common::Api,
    what: &str,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (status, health) = api.get("/health").await;
        assert_eq!(status, 200, "{health}");
        if wanted(&health) {
            return health;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited two minutes for {what}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
