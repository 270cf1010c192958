//! `kill -9` of a process writing to the database: every write it had acknowledged is there
//! after reopening, and the database is intact.
//!
//! The test runs itself as the child: the same test binary, filtered to this test, with
//! `DIPPER_DB_CRASH_CHILD` naming the state directory. The child writes rows one by one and
//! prints `ack N` after each acknowledged write; the parent kills it with SIGKILL after
//! enough acknowledgements.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use super::open;

const CHILD_ENV: &str = "DIPPER_DB_CRASH_CHILD";
const ACKS_BEFORE_KILL: usize = 300;

fn child(dir: &str) {
    let db = open(std::path::Path::new(dir));
    let mut stdout = std::io::stdout().lock();
    for i in 0..1_000_000u32 {
        db.write_blocking(move |tx| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, 'x')",
                [format!("k{i:07}")],
            )?;
            Ok(())
        })
        .unwrap();
        writeln!(stdout, "ack {i}").unwrap();
        stdout.flush().unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // This test's name as libtest knows it: the module path without the crate.
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    let name = format!("{module}::acknowledged_writes_survive_kill_9");
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = process.stdout.take().unwrap();
    let mut acknowledged = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest may print the test's name on the same line, before the first `ack`.
        if let Some((_, i)) = line.split_once("ack ") {
            acknowledged.push(format!("k{:07}", i.parse::<u32>().unwrap()));
            if acknowledged.len() == ACKS_BEFORE_KILL {
                break;
            }
        }
    }
    // SIGKILL, while the child is in the middle of further writes.
    process.kill().unwrap();
    let status = process.wait().unwrap();
    assert_eq!(
        acknowledged.len(),
        ACKS_BEFORE_KILL,
        "the child stopped early: {status}"
    );

    let db = open(dir.path());
    let (integrity, stored): (String, Vec<String>) = db
        .read_blocking(|conn| {
            let integrity = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
            let mut statement = conn.prepare("SELECT key FROM settings ORDER BY key")?;
            let keys = statement
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            Ok((integrity, keys))
        })
        .unwrap();
    assert_eq!(integrity, "ok");
    assert!(
        stored.len() >= acknowledged.len(),
        "{} acknowledged, {} stored",
        acknowledged.len(),
        stored.len()
    );
    assert_eq!(
        stored[..acknowledged.len()],
        acknowledged[..],
        "acknowledged writes lost"
    );
}
