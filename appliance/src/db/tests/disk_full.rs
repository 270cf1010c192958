//! A full disk: a database on a 2 MiB tmpfs is filled until a write fails. The failure is
//! `Full`, nothing acknowledged is lost, the database stays intact, and writes succeed
//! again once space is freed. Needs root (the test machine runs as root) to mount.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::super::{Database, DbErrorKind};
use super::open;

/// A tmpfs mounted on a temporary directory, unmounted when dropped (lazily: a database
/// still open in it does not keep it mounted). Also the engine's full-disk tests'.
pub(crate) struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub(crate) fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            output.status.success(),
            "this test mounts a {size} tmpfs to fill it and must run as root (or with \
             CAP_SYS_ADMIN): `mount -t tmpfs` on {} failed: {}",
            dir.path().display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        SmallDisk { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn integrity(db: &Database) -> String {
    db.read_blocking(|conn| Ok(conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_is_reported_and_never_corrupts() {
    let disk = SmallDisk::mount("2m");
    // Created first, so deleting it frees space later.
    let filler: PathBuf = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 512 * 1024]).unwrap();
    let state = disk.path().join("state");
    let db = open(&state);

    let value = "v".repeat(4000);
    let mut acknowledged = Vec::new();
    let error = loop {
        let i = acknowledged.len();
        assert!(i < 10_000, "2 MiB never filled up");
        let value = value.clone();
        let result = db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)",
                    [format!("k{i:05}"), value],
                )?;
                Ok(())
            })
            .await;
        match result {
            Ok(()) => acknowledged.push(format!("k{i:05}")),
            Err(e) => break e,
        }
    };
    assert!(acknowledged.len() > 10, "failed too early: {error}");
    assert_eq!(*error.kind(), DbErrorKind::Full, "{error:?}");
    assert!(error.is_disk_full());
    assert!(error.to_string().contains("disk is full"), "{error}");

    // Still full: the same database and a fresh one both work for reads.
    assert_eq!(integrity(&db), "ok");
    drop(db);
    let db = open(&state);
    assert_eq!(integrity(&db), "ok");
    let stored: Vec<String> = db
        .read(|conn| {
            let mut statement = conn.prepare("SELECT key FROM settings ORDER BY key")?;
            let keys = statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(keys)
        })
        .await
        .unwrap();
    assert_eq!(
        stored, acknowledged,
        "acknowledged writes lost, or extra rows"
    );

    std::fs::remove_file(&filler).unwrap();
    for i in 0..10 {
        db.write(move |tx| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, 'after')",
                [format!("after{i}")],
            )?;
            Ok(())
        })
        .await
        .unwrap_or_else(|e| panic!("write {i} after freeing space: {e:?}"));
    }
    assert_eq!(integrity(&db), "ok");
    drop(db);
}
