//! The relay of the benchmark in its own process: `dipper-relay run` (the binary beside this
//! one) over a SQLite file (or a PostgreSQL database it is given), with `[broker]` on the bench's Mosquitto, cheap password hashing
//! and no rate limit in the way of 10,000 calls and 1,000 activations from one address. Its
//! own process, so that its resident memory is its own; what it applied is read from its
//! `/metrics` and its database. It can be killed (`kill -9`) and started again on the same
//! port, configuration and database while the load holds it: the fleet's fault.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::broker::{ADMIN, Broker};
use crate::BoxError;
use crate::daemon::sibling_binary;

pub(crate) const RELAY_USER: (&str, &str) = ("dipper-relay", "bench-relay-password");
pub(crate) const ROOT: (&str, &str) = ("root@bench.test", "bench root password");

/// A running `dipper-relay`; killed when dropped.
pub(crate) struct RelayProcess {
    /// The running process (none only while it is killed and started again).
    child: Mutex<Option<tokio::process::Child>>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    database: PathBuf,
    /// How it was started: the binary, its configuration, the database URL it was given.
    binary: PathBuf,
    config: PathBuf,
    database_url: Option<String>,
    dir: tempfile::TempDir,
}

/// How the fleet's relay differs from the other benchmarks': where its objects are, and the
/// broker address boxes are handed.
#[derive(Debug, Default)]
pub(crate) struct RelayOptions {
    /// `[objects] backend = "s3"` on this server's bucket; none: files in its own folder.
    pub(crate) s3: Option<S3Bucket>,
    /// The broker URL boxes are handed at activation (`[broker] url`, e.g. a proxy's), the
    /// relay itself connecting to the broker directly (`relay_url`); none: the broker's.
    pub(crate) boxes_broker_url: Option<String>,
}

/// An S3 server the relay keeps its objects on, in the bucket [`BUCKET`] (made at start).
#[derive(Debug, Clone)]
pub(crate) struct S3Bucket {
    /// `http://127.0.0.1:PORT`.
    pub(crate) endpoint: String,
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
}

/// The bucket of [`S3Bucket`].
pub(crate) const BUCKET: &str = "dipper-objects";

/// The relay's configuration, as an operator writes it.
fn config(
    database: &Path,
    objects: &Path,
    port: u16,
    broker: &Broker,
    options: &RelayOptions,
) -> String {
    format!(
        r#"
        log_format = "text"
        [server]
        listen = "127.0.0.1:{port}"
        [database]
        url = "sqlite://{database}"
        [auth]
        access_token_seconds = 3600
        argon2 = {{ memory_kib = 64, iterations = 1, parallelism = 1 }}
        [limits]
        per_user_per_second = 1000000
        per_user_burst = 1000000
        per_tenant_per_second = 1000000
        per_tenant_burst = 1000000
        activate_per_address_per_minute = 1000000
        activate_per_address_burst = 1000000
        [broker]
        url = "{url}"
        {relay_url}
        admin_username = "{admin}"
        admin_password = "{admin_password}"
        username = "{user}"
        password = "{password}"
        client_id = "bench-relay"
        [objects]
        dir = "{objects}"
        {s3}
        {faces}
        "#,
        database = database.display(),
        objects = objects.display(),
        s3 = s3_settings(options.s3.as_ref()),
        faces = faces_section(),
        url = options
            .boxes_broker_url
            .clone()
            .unwrap_or_else(|| broker.url()),
        relay_url = match &options.boxes_broker_url {
            Some(_) => format!("relay_url = \"{}\"", broker.url()),
            None => String::new(),
        },
        admin = ADMIN.0,
        admin_password = ADMIN.1,
        user = RELAY_USER.0,
        password = RELAY_USER.1,
    )
}

/// `backend = "s3"` and `[objects.s3]` for `bucket` (to end `[objects]`), or nothing.
fn s3_settings(bucket: Option<&S3Bucket>) -> String {
    let Some(bucket) = bucket else {
        return String::new();
    };
    format!(
        "backend = \"s3\"\n[objects.s3]\nendpoint = \"{}\"\nbucket = \"{BUCKET}\"\n\
         access_key_id = \"{}\"\nsecret_access_key = \"{}\"\ncreate_bucket = true",
        bucket.endpoint, bucket.access_key, bucket.secret_key
    )
}

/// `[faces]` with the development cache's models when they are there (the face library
/// embeds enrolled photos with them); otherwise the relay looks where it always does.
fn faces_section() -> String {
    let cache = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache/models"));
    match std::env::var_os("DIPPER_MODELS_DIR") {
        None if cache.is_dir() => format!("[faces]\nmodels_dir = \"{}\"", cache.display()),
        _ => String::new(),
    }
}

impl RelayProcess {
    /// Makes the platform admin [`ROOT`], starts the relay and waits until it is ready.
    pub(crate) async fn start(broker: &Broker) -> Result<RelayProcess, BoxError> {
        RelayProcess::start_on(broker, None).await
    }

    /// [`RelayProcess::start`] on the database at `database_url` (`postgres://...`, a fresh
    /// database) instead of a SQLite file of its own.
    pub(crate) async fn start_on(
        broker: &Broker,
        database_url: Option<&str>,
    ) -> Result<RelayProcess, BoxError> {
        RelayProcess::start_with(broker, database_url, &RelayOptions::default()).await
    }

    /// [`RelayProcess::start_on`] with its objects and the boxes' broker as `options` say.
    pub(crate) async fn start_with(
        broker: &Broker,
        database_url: Option<&str>,
        options: &RelayOptions,
    ) -> Result<RelayProcess, BoxError> {
        let dir = tempfile::tempdir()?;
        let database = dir.path().join("relay.sqlite3");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let config_path = dir.path().join("relay.toml");
        let objects = dir.path().join("objects");
        std::fs::write(
            &config_path,
            config(&database, &objects, port, broker, options),
        )?;
        let binary = sibling_binary("dipper-relay")?;
        let mut admin = tokio::process::Command::new(&binary)
            .arg("--config")
            .arg(&config_path)
            .args(["admin", "create", "--email", ROOT.0, "--password-stdin"])
            .envs(database_url.map(|url| ("DIPPER_RELAY__DATABASE__URL", url)))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        let mut stdin = admin.stdin.take().ok_or("no stdin")?;
        tokio::io::AsyncWriteExt::write_all(&mut stdin, format!("{}\n", ROOT.1).as_bytes()).await?;
        drop(stdin);
        if !admin.wait().await?.success() {
            return Err("dipper-relay admin create failed".into());
        }
        let mut relay = RelayProcess {
            child: Mutex::new(None),
            base: format!("http://127.0.0.1:{port}"),
            database,
            binary,
            config: config_path,
            database_url: database_url.map(str::to_owned),
            dir,
        };
        *relay.child.get_mut().map_err(|_| "poisoned")? = Some(relay.spawn()?);
        relay.wait_ready().await?;
        Ok(relay)
    }

    /// `dipper-relay run` on its configuration, its log appended to `relay.log`.
    fn spawn(&self) -> Result<tokio::process::Child, BoxError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("relay.log"))?;
        let child = tokio::process::Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            .env("RUST_LOG", "warn")
            .envs((self.database_url.as_deref()).map(|url| ("DIPPER_RELAY__DATABASE__URL", url)))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        Ok(child)
    }

    /// `kill -9` of the relay, and its start again on the same port, configuration and
    /// database as soon as it has exited (not waiting for it to be ready: the load finds out
    /// by itself).
    pub(crate) async fn kill_and_restart(&self) -> Result<(), BoxError> {
        let killed = self.child().take();
        let mut killed = killed.ok_or("dipper-relay is not running")?;
        killed.start_kill()?;
        killed.wait().await?;
        *self.child() = Some(self.spawn()?);
        Ok(())
    }

    /// Whether `/readyz` answers 2xx now.
    pub(crate) async fn ready(&self, http: &reqwest::Client) -> bool {
        let url = format!("{}/readyz", self.base);
        let answer = http.get(&url).timeout(Duration::from_secs(5)).send().await;
        answer.is_ok_and(|a| a.status().is_success())
    }

    fn child(&self) -> MutexGuard<'_, Option<tokio::process::Child>> {
        // Nothing is left half-changed under it: the child is there or not.
        self.child
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn wait_ready(&self) -> Result<(), BoxError> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.ready(&http).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("dipper-relay is not ready after 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The running relay's process id (another after [`RelayProcess::kill_and_restart`]).
    pub(crate) fn pid(&self) -> Result<u32, BoxError> {
        let child = self.child();
        let child = child.as_ref().ok_or("dipper-relay is being restarted")?;
        Ok(child.id().ok_or("dipper-relay exited")?)
    }

    /// Its resident memory now, KiB.
    pub(crate) fn rss_kib(&self) -> Result<f64, BoxError> {
        let mb = crate::proc::rss_mb(Some(self.pid()?)).ok_or("no VmRSS for dipper-relay")?;
        Ok(mb * 1e6 / 1024.0)
    }

    /// Its database, for reading what it applied (SQLite, WAL: readable while it runs).
    pub(crate) fn database(&self) -> &Path {
        &self.database
    }

    /// `relay_uplink_messages_total` for `outcome` (`applied`, `duplicate`) on `topic`
    /// (`telemetry`, `events`; `None`: every topic), from `/metrics`.
    pub(crate) async fn messages(
        &self,
        http: &reqwest::Client,
        topic: Option<&str>,
        outcome: &str,
    ) -> Result<u64, BoxError> {
        let text = http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(sum_counter(
            &text,
            "relay_uplink_messages_total",
            topic,
            outcome,
        ))
    }
}

/// The sum of `name`'s samples with `outcome` (and `topic`, when given) in a Prometheus text
/// exposition.
fn sum_counter(text: &str, name: &str, topic: Option<&str>, outcome: &str) -> u64 {
    let outcome = format!("outcome=\"{outcome}\"");
    let topic = topic.map(|t| format!("topic=\"{t}\""));
    text.lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|l| l.starts_with('{')))
        .filter(|line| line.contains(&outcome))
        .filter(|line| topic.as_ref().is_none_or(|t| line.contains(t.as_str())))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_are_summed_by_label() {
        let text = "# TYPE relay_uplink_messages_total counter\n\
            relay_uplink_messages_total{topic=\"telemetry\",outcome=\"applied\"} 12\n\
            relay_uplink_messages_total{topic=\"events\",outcome=\"applied\"} 3\n\
            relay_uplink_messages_total{topic=\"events\",outcome=\"duplicate\"} 2\n\
            relay_uplink_messages_total_other{outcome=\"applied\"} 99\n";
        let name = "relay_uplink_messages_total";
        assert_eq!(super::sum_counter(text, name, None, "applied"), 15);
        assert_eq!(super::sum_counter(text, name, Some("events"), "applied"), 3);
        assert_eq!(
            super::sum_counter(text, name, Some("events"), "duplicate"),
            2
        );
        assert_eq!(super::sum_counter(text, name, Some("status"), "applied"), 0);
    }
}
