//! A PostgreSQL database of its own for an end-to-end test, on the server `scripts/test`
//! starts (`DIPPER_TEST_POSTGRES_URL`, a role that may create databases), made with `psql`
//! and dropped when the value is dropped.

use std::process::Command;

/// A fresh database; dropped (connections closed) with the value.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `dipper_e2e_<random>`; panics with directions when the server is not set up.
    pub fn create() -> TestDatabase {
        let admin_url = std::env::var("DIPPER_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!(
                "DIPPER_TEST_POSTGRES_URL is not set: this test needs the PostgreSQL server \
                 that scripts/test installs and starts (or `source scripts/lib/setup.sh && \
                 dipper_prepare_relay` in this shell)"
            )
        });
        let name = format!("dipper_e2e_{}", uuid_like());
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("DIPPER_TEST_POSTGRES_URL has no database part: {admin_url}"),
        };
        TestDatabase {
            admin_url,
            name,
            url,
        }
    }

    /// `postgres://...` of the database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = Command::new("psql")
            .args(["-X", "-q", &self.admin_url, "-c", &sql])
            .output();
    }
}

fn psql(url: &str, sql: &str) {
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .output()
        .expect("psql (Debian's postgresql-client, installed by scripts/test)");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// 16 hex digits from the clock and the process id: unique among concurrent tests.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:016x}",
        (nanos as u64) ^ (u64::from(std::process::id()) << 40)
    )
}
