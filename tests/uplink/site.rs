//! A site for the end-to-end tests: a Mosquitto, a relay configured with it, a tenant with
//! an area, and boxes (`dipper run`) registered on the relay and activated through it as an
//! installer does (`dipper uplink activate`), each waited for until the relay sees it online.
//! The relay's state is read through its API, and what its uplink stored (telemetry, the
//! numbered messages) from its SQLite file, read-only.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::faces::{Simulator, face_camera, start_sim};
use testkit::proxy::LinkProxy;
use testkit::relay::{RegisteredBox, Tenant};
use testkit::{Daemon, Relay, TestBroker, eventually};

/// `box.toml` lines of every box here: telemetry often, and reconnecting within a second of
/// the broker's return (the default backoff grows to a minute during an outage).
pub(crate) const BOX_CONFIG: &str =
    "uplink.telemetry_interval_ms = 300\nuplink.reconnect_max_ms = 1000\n";

/// How long a box, the relay or the broker may take to do what a test waits for.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

/// Fields drop in order: the relay before the broker it is connected to.
pub(crate) struct Site {
    pub(crate) relay: Relay,
    pub(crate) tenant: Tenant,
    pub(crate) broker: TestBroker,
}

/// A box daemon with its id on the relay.
pub(crate) struct SiteBox {
    pub(crate) daemon: Daemon,
    pub(crate) device_id: String,
    _dir: tempfile::TempDir,
}

impl Site {
    pub(crate) async fn start() -> Site {
        let broker = TestBroker::start();
        let relay = Relay::with_broker(&broker).await;
        let tenant = relay.tenant().await;
        Site {
            relay,
            tenant,
            broker,
        }
    }

    /// A site whose relay starts with `options` (another database, an S3 bucket...).
    pub(crate) async fn with_relay(options: testkit::relay::RelayOptions) -> Site {
        let broker = TestBroker::start();
        let relay = Relay::with_broker_and(&broker, options).await;
        let tenant = relay.tenant().await;
        Site {
            relay,
            tenant,
            broker,
        }
    }

    /// A site whose boxes reach the broker through a link the test can cut (the relay
    /// connects directly): a box's uplink dropping while the cloud side stays up.
    pub(crate) async fn with_link() -> (Site, LinkProxy) {
        let broker = TestBroker::start();
        let link = LinkProxy::start(broker.port()).await;
        let box_url = format!("mqtt://127.0.0.1:{}", link.port());
        let relay = Relay::with_broker_for_boxes(&broker, box_url).await;
        let tenant = relay.tenant().await;
        let site = Site {
            relay,
            tenant,
            broker,
        };
        (site, link)
    }

    /// Registers a box named `name` on the relay, starts its daemon with `extra` lines of
    /// `box.toml`, activates it with `dipper uplink activate`, and waits until the relay
    /// sees it online.
    pub(crate) async fn activated_box(&self, name: &str, extra: &str) -> SiteBox {
        self.activated_box_with(name, extra, &[]).await
    }

    /// [`Site::activated_box`] with more environment variables for `dipper run`.
    pub(crate) async fn activated_box_with(
        &self,
        name: &str,
        extra: &str,
        env: &[(&str, &str)],
    ) -> SiteBox {
        let RegisteredBox { device_id, key, .. } =
            self.relay.register_box(&self.tenant, name).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let daemon = Daemon::start_with(dir.path(), &format!("{BOX_CONFIG}{extra}"), env, &[]);
        let activated = daemon.cli(&[
            "uplink",
            "activate",
            "--relay",
            &self.relay.base,
            "--device-id",
            &device_id,
            "--key",
            &key,
        ]);
        assert!(
            activated.status.success(),
            "dipper uplink activate: {}",
            String::from_utf8_lossy(&activated.stderr)
        );
        let site_box = SiteBox {
            daemon,
            device_id,
            _dir: dir,
        };
        self.wait_presence(&site_box.device_id, true).await;
        site_box
    }

    pub(crate) fn device_path(&self, device: &str) -> String {
        format!("/api/v1/tenants/{}/devices/{device}", self.tenant.id)
    }

    /// The device as the relay's API shows it to the tenant's administrator.
    pub(crate) async fn device(&self, device: &str) -> Value {
        let (status, body) = self
            .relay
            .get(&self.device_path(device), &self.tenant.admin_token)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until the relay shows the device online (or offline).
    pub(crate) async fn wait_presence(&self, device: &str, online: bool) {
        let what = format!("the relay shows {device} online={online}");
        eventually(&what, WAIT, || async {
            self.device(device).await["online"] == online
        })
        .await;
    }

    /// `POST .../rpc` as the tenant's administrator: the status and the body.
    pub(crate) async fn rpc(&self, device: &str, body: Value) -> (u16, Value) {
        let path = format!("{}/rpc", self.device_path(device));
        let token = Some(self.tenant.admin_token.as_str());
        self.relay.post(&path, token, &body).await
    }

    /// A two-way call that must be answered; the RPC as the relay stored it.
    pub(crate) async fn call(&self, device: &str, method: &str, params: Value) -> Value {
        let body = json!({ "method": method, "params": params, "timeout_ms": 30000 });
        let (status, answer) = self.rpc(device, body).await;
        assert_eq!(status, 200, "{method}: {answer}");
        answer
    }

    /// `GET .../rpc/{id}`.
    pub(crate) async fn rpc_state(&self, device: &str, id: &str) -> Value {
        let path = format!("{}/rpc/{id}", self.device_path(device));
        let (status, body) = self.relay.get(&path, &self.tenant.admin_token).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until the RPC `id` is in `state`; the RPC.
    pub(crate) async fn wait_rpc(&self, device: &str, id: &str, state: &str) -> Value {
        let what = format!("RPC {id} {state}");
        eventually(&what, WAIT, || async {
            self.rpc_state(device, id).await["state"] == state
        })
        .await;
        self.rpc_state(device, id).await
    }

    /// The relay's database, read-only.
    pub(crate) fn stored(&self) -> rusqlite::Connection {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let conn = rusqlite::Connection::open_with_flags(self.relay.database(), flags)
            .expect("the relay's database");
        conn.busy_timeout(Duration::from_secs(5)).expect("timeout");
        conn
    }

    /// Every numbered message the relay applied for `device`, in the order it applied them:
    /// `(seq, kind, body)`.
    pub(crate) fn applied(&self, device: &str) -> Vec<(u64, String, Option<String>)> {
        let conn = self.stored();
        let mut query = conn
            .prepare(
                "SELECT seq, kind, body FROM uplink_messages WHERE device_id = ?1 ORDER BY rowid",
            )
            .expect("query");
        query
            .query_map([device], |row| {
                let seq: i64 = row.get(0)?;
                Ok((seq.unsigned_abs(), row.get(1)?, row.get(2)?))
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// The device's latest telemetry sample as the relay stored it.
    pub(crate) fn telemetry(&self, device: &str) -> Option<Value> {
        let conn = self.stored();
        let text: Option<String> = conn
            .query_row(
                "SELECT telemetry FROM devices WHERE id = ?1",
                [device],
                |r| r.get(0),
            )
            .expect("the device's row");
        text.map(|t| serde_json::from_str(&t).expect("telemetry JSON"))
    }
}

impl Site {
    /// Waits until the relay has applied every message `site_box` numbered up to `last`
    /// (within `within`); on failure names the missing ones with the box's uplink and the
    /// logs of the box, the relay and the broker.
    pub(crate) async fn wait_all_applied(&self, site_box: &SiteBox, last: u64, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let seqs: std::collections::BTreeSet<u64> = self
                .applied(&site_box.device_id)
                .iter()
                .map(|m| m.0)
                .collect();
            let missing: Vec<u64> = (1..=last).filter(|s| !seqs.contains(s)).collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} of {last} messages not at the relay within {within:?} ({:?}...); the box's \
                 uplink: {}\nthe box's log:\n{}\nthe relay's log:\n{}\nthe broker's log:\n{}",
                missing.len(),
                &missing[..missing.len().min(20)],
                site_box.daemon.api().get("/uplink/status").await.1,
                site_box.daemon.log_text(),
                self.relay.log_text(),
                self.broker.log(),
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A box daemon's `GET /uplink/status`, polled until `done` holds.
pub(crate) async fn wait_uplink(
    daemon: &Daemon,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let api = daemon.api();
    let mut last = Value::Null;
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            let (code, status) = api.get("/uplink/status").await;
            assert_eq!(code, 200, "{status}");
            if done(&status) {
                return status;
            }
            last = status;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("{what}: {last}\n{}", daemon.log_text()))
}

/// The value of every sample of `name` in Prometheus text whose labels contain all of
/// `labels` (`key="value"`), summed.
pub(crate) fn metric_sum(metrics: &str, name: &str, labels: &[&str]) -> u64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let named = series == name || series.starts_with(&format!("{name}{{"));
            let labelled = labels.iter().all(|l| series.contains(l));
            (named && labelled).then(|| value.parse::<f64>().ok())?
        })
        .map(|v| v as u64)
        .sum()
}

/// The camera's recordings a remote search covers (one minute each), and those of them that
/// show the person of `testkit::faces::photo("obama.jpg")`.
pub(crate) const FIRST: usize = 1418;
pub(crate) const LAST: usize = 1437;
pub(crate) const WITH_FACES: [u64; 2] = [1425, 1430];

/// A simulated camera whose recordings `WITH_FACES` show the person, and the span of
/// `FIRST` to `LAST`.
pub(crate) async fn camera_with_faces() -> (Simulator, jiff::Timestamp, jiff::Timestamp) {
    let end = jiff::Timestamp::now();
    let clips: Vec<(u64, &str)> = WITH_FACES.iter().map(|&i| (i, "cam1_h264.ps")).collect();
    let sim = start_sim(vec![face_camera("CAM-H264", end, &clips)]).await;
    let (from, _) = sim.recording_span(0, 101, FIRST).expect("span");
    let (_, to) = sim.recording_span(0, 101, LAST).expect("span");
    (sim, from, to)
}
