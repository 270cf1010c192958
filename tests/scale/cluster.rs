//! Three relay instances as an operator runs them: the same configuration, one PostgreSQL
//! database, one Mosquitto, each its own process, port and broker client id (`[broker]
//! client_id`, which keeps each instance's MQTT session its own). The first makes the
//! platform administrator; the others join the database it migrated.
//!
//! What the relays stored is read from PostgreSQL with `psql`, in read-only transactions:
//! the test never writes the relays' database.

use std::process::Command;

use reqwest::Method;
use serde_json::Value;
use testkit::postgres::TestDatabase;
use testkit::relay::RelayOptions;
use testkit::{Relay, TestBroker};

/// The instances' names, in the order of [`Cluster::relays`].
pub(crate) const NAMES: [&str; 3] = ["a", "b", "c"];

/// Fields drop in order: the relays before the database and the broker they use.
pub(crate) struct Cluster {
    pub(crate) relays: Vec<Relay>,
    pub(crate) database: TestDatabase,
    pub(crate) broker: TestBroker,
    http: reqwest::Client,
}

impl Cluster {
    /// A fresh database and broker, and three relays with `toml` appended to their
    /// configuration and `env` set (both the same for all three, as one deployment's).
    pub(crate) async fn start(toml: &str, env: &[(String, String)]) -> Cluster {
        let database = TestDatabase::create();
        let broker = TestBroker::start();
        let options = |name: &str| {
            let mut env = env.to_vec();
            env.push((
                "DIPPER_RELAY__DATABASE__URL".to_owned(),
                database.url().to_owned(),
            ));
            env.push((
                "DIPPER_RELAY__BROKER__CLIENT_ID".to_owned(),
                format!("dipper-relay-{name}"),
            ));
            RelayOptions {
                toml: toml.to_owned(),
                env,
            }
        };
        // The first migrates the database and makes the platform administrator; the other
        // two start together on it.
        let first = Relay::with_broker_and(&broker, options(NAMES[0])).await;
        let (second, third) = tokio::join!(
            Relay::another_instance(&broker, options(NAMES[1])),
            Relay::another_instance(&broker, options(NAMES[2])),
        );
        Cluster {
            relays: vec![first, second, third],
            database,
            broker,
            http: reqwest::Client::new(),
        }
    }

    /// Relay `i` (0 = a, 1 = b, 2 = c).
    pub(crate) fn relay(&self, i: usize) -> &Relay {
        &self.relays[i]
    }

    /// `method path` on relay `i` with a bearer token, a JSON body and an idempotency key
    /// when given: the status and the JSON body (`null` when empty).
    pub(crate) async fn send(
        &self,
        i: usize,
        (method, path): (Method, &str),
        token: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.relays[i].base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        (status, body)
    }

    /// `GET path` on relay `i` that must answer 200; the body.
    pub(crate) async fn get_ok(&self, i: usize, path: &str, token: &str) -> Value {
        let (status, body) = self
            .send(i, (Method::GET, path), Some(token), None, None)
            .await;
        assert_eq!(status, 200, "relay {}: GET {path}: {body}", NAMES[i]);
        body
    }

    /// `POST path` on relay `i` that must answer 2xx; the body.
    pub(crate) async fn post_ok(&self, i: usize, path: &str, token: &str, body: &Value) -> Value {
        let (status, answer) = self
            .send(i, (Method::POST, path), Some(token), Some(body), None)
            .await;
        assert!(
            (200..300).contains(&status),
            "relay {}: POST {path}: {status} {answer}",
            NAMES[i]
        );
        answer
    }

    /// The rows `sql` selects, each a list of its columns as text, read in a read-only
    /// transaction (as the test's superuser, so row-level security does not hide them).
    pub(crate) fn query(&self, sql: &str) -> Vec<Vec<String>> {
        let output = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"])
            .arg(self.database.url())
            .args(["-c", sql])
            .env("PGOPTIONS", "-c default_transaction_read_only=on")
            .output()
            .expect("psql (Debian's postgresql-client, installed by scripts/test)");
        assert!(
            output.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| line.split('\t').map(str::to_owned).collect())
            .collect()
    }

    /// The one number `sql` selects.
    pub(crate) fn number(&self, sql: &str) -> i64 {
        let rows = self.query(sql);
        rows.first()
            .and_then(|row| row.first())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{sql}: {rows:?}"))
    }

    /// The logs of the three relays, named.
    pub(crate) fn logs(&self) -> String {
        self.relays
            .iter()
            .zip(NAMES)
            .map(|(relay, name)| format!("--- relay {name}:\n{}", relay.log_text()))
            .collect()
    }
}
