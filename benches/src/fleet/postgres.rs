//! The fleet's own PostgreSQL cluster (`--database postgres`), so that the `kill-postgres`
//! fault kills nothing another test uses: made with Debian's tools (`pg_createcluster` on a
//! free port, run as the `postgres` user by Debian's wrappers, as PostgreSQL refuses root),
//! with the relay's own role `dipper_relay_app` (no superuser, no BYPASSRLS, as in
//! production) owning a database of its own; dropped with its data when the run ends, on
//! error too.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::BoxError;

/// The PostgreSQL major version Debian's packages install here.
const VERSION: &str = "15";
/// The relay's role and its password, and the database it owns.
const ROLE: (&str, &str) = ("dipper_relay_app", "dipper_relay_app");
const DATABASE: &str = "relay_fleet";
/// How long the postmaster may take to start again (its crash recovery included).
const START_LIMIT: Duration = Duration::from_secs(120);

/// A running cluster of the run's own; stopped and dropped when dropped.
pub(super) struct Cluster {
    name: String,
    port: u16,
    data_dir: PathBuf,
}

impl Cluster {
    /// Creates and starts a cluster on a free port, with the relay's role and database.
    pub(super) fn create() -> Result<Cluster, BoxError> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let name = format!("fleet{}", std::process::id());
        let port_text = port.to_string();
        run(
            "pg_createcluster",
            &[VERSION, &name, "-p", &port_text, "--start"],
        )
        .map_err(|e| format!("{e} (Debian's postgresql-{VERSION}, run as root)"))?;
        let cluster = Cluster {
            data_dir: PathBuf::from(format!("/var/lib/postgresql/{VERSION}/{name}")),
            name,
            port,
        };
        let (role, password) = ROLE;
        cluster.psql(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{password}'"
        ))?;
        cluster.psql(&format!("CREATE DATABASE {DATABASE} OWNER {role}"))?;
        tracing::info!(
            name = cluster.name,
            port,
            "fleet: its PostgreSQL cluster is up"
        );
        Ok(cluster)
    }

    /// The relay's URL of its database: its own role, over TCP.
    pub(super) fn url(&self) -> String {
        let (role, password) = ROLE;
        format!(
            "postgres://{role}:{password}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// `kill -9` of the postmaster (its pid from `postmaster.pid`), then its start again as
    /// soon as the old server's processes are gone (until then PostgreSQL refuses to start
    /// on the same shared memory: each refusal is tried again).
    pub(super) async fn kill_and_restart(&self) -> Result<(), BoxError> {
        let pid_file = self.data_dir.join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .map_err(|e| format!("{}: {e}", pid_file.display()))?;
        let pid: i32 = (text.lines().next())
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| format!("{}: no pid on its first line", pid_file.display()))?;
        let raw = rustix::process::Pid::from_raw(pid).ok_or("postmaster.pid: pid 0")?;
        rustix::process::kill_process(raw, rustix::process::Signal::KILL)?;
        let started = Instant::now();
        let gone = format!("/proc/{pid}");
        while std::path::Path::new(&gone).exists() && started.elapsed() < START_LIMIT {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        loop {
            let name = self.name.clone();
            let tried = tokio::task::spawn_blocking(move || {
                run("pg_ctlcluster", &[VERSION, &name, "start"])
            })
            .await?;
            match tried {
                Ok(_) => return Ok(()),
                Err(error) if started.elapsed() < START_LIMIT => {
                    tracing::info!(%error, "fleet: PostgreSQL does not start yet");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Runs `sql` as the `postgres` superuser over the cluster's Unix socket.
    fn psql(&self, sql: &str) -> Result<Output, BoxError> {
        let port = self.port.to_string();
        run(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-p",
                &port,
                "-c",
                sql,
            ],
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(error) = run("pg_dropcluster", &["--stop", VERSION, &self.name]) {
            tracing::warn!(%error, name = self.name, "fleet: its PostgreSQL cluster was not dropped");
        }
    }
}

/// Runs `program` with `args`; its output, or an error with its status and stderr.
fn run(program: &str, args: &[&str]) -> Result<Output, BoxError> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "{program} {}: {}: {}",
            args.join(" "),
            output.status,
            stderr.trim()
        )
        .into());
    }
    Ok(output)
}
