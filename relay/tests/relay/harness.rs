//! The test harness: a fresh database per test (a SQLite file in a temporary directory, or a
//! PostgreSQL database with a random name, dropped afterwards), a relay serving it on a free
//! port of 127.0.0.1, and an HTTP client.
//!
//! PostgreSQL comes from `DIPPER_TEST_POSTGRES_URL`, a superuser URL that `scripts/test`
//! exports (see scripts/lib/relay.sh). The harness uses it only to create the relay's role
//! and each test's database; the relay connects as `dipper_relay_app`, a role without
//! superuser or BYPASSRLS, so row-level security applies to it as in production.

use std::net::SocketAddr;
use std::sync::Arc;

use relay::config::{Argon2Config, Config, DatabaseConfig};
use relay::db::Db;
use relay::objects::ObjectStore;
use relay::saga::TenantSaga;
use relay::state::AppState;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use sqlx::Connection as _;
use tokio::sync::oneshot;
use uuid::Uuid;

pub(crate) const APP_ROLE: &str = "dipper_relay_app";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Defines `mod $name { sqlite, postgres }`, two tests running `$name(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::harness::Backend::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::harness::Backend::Postgres).await;
                }
            }
        )*
    };
}

/// The superuser URL of the test PostgreSQL; panics with directions if it is not set.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("DIPPER_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "DIPPER_TEST_POSTGRES_URL is not set: the relay's PostgreSQL tests need the server \
             that scripts/test installs and starts. Run scripts/test, or \
             `source scripts/lib/setup.sh && dipper_prepare_relay` in this shell first."
        )
    })
}

/// One test's database, removed when dropped, and the folder of its relays' disk object
/// store.
#[derive(Debug)]
pub(crate) struct TestDb {
    pub(crate) config: DatabaseConfig,
    pub(crate) objects: tempfile::TempDir,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub(crate) async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("relay.sqlite3").display());
                TestDb {
                    config: DatabaseConfig {
                        url,
                        max_connections: 4,
                    },
                    objects: tempfile::tempdir().expect("objects dir"),
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("connecting to DIPPER_TEST_POSTGRES_URL: {e}"));
                // Tests run in parallel processes: make the role under a lock.
                sqlx::query("SELECT pg_advisory_lock(7007)")
                    .execute(&mut admin)
                    .await
                    .expect("lock");
                let exists: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = $1")
                        .bind(APP_ROLE)
                        .fetch_optional(&mut admin)
                        .await
                        .expect("role lookup");
                if exists.is_none() {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{APP_ROLE}'"
                    )))
                    .execute(&mut admin)
                    .await
                    .expect("create app role");
                }
                sqlx::query("SELECT pg_advisory_unlock(7007)")
                    .execute(&mut admin)
                    .await
                    .expect("unlock");
                let name = format!("relay_test_{}", Uuid::new_v4().simple());
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE {name} OWNER {APP_ROLE}"
                )))
                .execute(&mut admin)
                .await
                .expect("create database");
                admin.close().await.ok();
                let mut url = Url::parse(&admin_url).expect("DIPPER_TEST_POSTGRES_URL is a URL");
                url.set_username(APP_ROLE).expect("username");
                url.set_password(Some(APP_ROLE)).expect("password");
                url.set_path(&format!("/{name}"));
                TestDb {
                    config: DatabaseConfig {
                        url: url.to_string(),
                        max_connections: 4,
                    },
                    objects: tempfile::tempdir().expect("objects dir"),
                    _dir: None,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside any runtime we may block: use a thread with its own.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await?;
                    Ok::<(), sqlx::Error>(())
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop a test database: {dropped:?}");
            }
        }
    }
}

/// The configuration tests run with: cheap Argon2, generous rate limits.
pub(crate) fn test_config(db: &TestDb) -> Config {
    let mut config = Config::default();
    config.database = db.config.clone();
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.objects.dir = db.objects.path().to_owned();
    config.auth.argon2 = Argon2Config {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    config.auth.login_max_failures = 3;
    config.limits.per_user_per_second = 1000;
    config.limits.per_user_burst = 10_000;
    config.limits.per_tenant_per_second = 1000;
    config.limits.per_tenant_burst = 10_000;
    config.limits.login_per_address_per_minute = 10_000;
    config.limits.login_per_address_burst = 10_000;
    config.limits.activate_per_address_per_minute = 10_000;
    config.limits.activate_per_address_burst = 10_000;
    config.limits.activate_per_device_per_minute = 10_000;
    config.limits.activate_per_device_burst = 10_000;
    // The monthly run happens when a test runs it (tests/relay/invoices.rs starts it itself).
    config.billing.run_monthly = false;
    config
}

/// A relay serving on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub(crate) struct TestRelay {
    pub(crate) addr: SocketAddr,
    pub(crate) state: AppState,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl TestRelay {
    pub(crate) async fn start(db: &TestDb) -> Self {
        Self::start_with(db, |_| {}, None).await
    }

    pub(crate) async fn start_with(
        db: &TestDb,
        tweak: impl FnOnce(&mut Config),
        saga: Option<fn(ObjectStore) -> TenantSaga>,
    ) -> Self {
        let mut config = test_config(db);
        tweak(&mut config);
        // Bound first, so the relay knows its address (the disk object store's URLs).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        config.server.listen = addr;
        let pool = Db::connect_and_migrate(&config.database)
            .await
            .expect("database");
        let mut state = AppState::new(config, pool).await.expect("state");
        if let Some(saga) = saga {
            state.tenant_saga = Arc::new(saga(state.objects.clone()));
        }
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(relay::server::serve(
            state.clone(),
            listener,
            async move {
                let _ = stopped.await;
            },
            std::time::Duration::from_secs(5),
        ));
        TestRelay {
            addr,
            state,
            client: reqwest::Client::new(),
            stop: Some(stop),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request (JSON body if given) and returns the status and the JSON answer
    /// (`Value::Null` for an empty body).
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    /// A client whose connections come from `ip` (any of 127.0.0.0/8), so the relay sees
    /// another client address.
    pub(crate) fn client_from(&self, ip: [u8; 4]) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .expect("client")
    }

    /// POSTs `body` to `path` without a token from the client address `ip`; returns the
    /// status, the `Retry-After` header if any, and the JSON answer.
    pub(crate) async fn post_from(
        &self,
        ip: [u8; 4],
        path: &str,
        body: Value,
    ) -> (StatusCode, Option<u64>, Value) {
        let request = self.client_from(ip).post(self.url(path));
        let request = request.header("content-type", "application/json");
        let response = request
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().expect("ascii").parse().expect("seconds"));
        let body = response.json().await.unwrap_or(Value::Null);
        (status, retry_after, body)
    }

    /// POSTs `body` (JSON text) with `token` and an `Idempotency-Key` of `key`; the status
    /// and the JSON answer.
    pub(crate) async fn post_keyed(
        &self,
        (path, token): (&str, &str),
        key: &str,
        body: String,
    ) -> (StatusCode, Value) {
        let request = self.raw_json(Method::POST, (path, token), body);
        let response = request
            .header("idempotency-key", key)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.expect("json"))
    }

    /// The text of `/metrics`.
    pub(crate) async fn metrics(&self) -> String {
        let response = self.raw(Method::GET, "/metrics").send().await;
        response.expect("metrics").text().await.expect("text")
    }

    /// A raw request builder, for headers and bodies `call` does not make.
    pub(crate) fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request with `token` and `body` sent as JSON as is (which may be malformed), for
    /// headers `call` does not add.
    pub(crate) fn raw_json(
        &self,
        method: Method,
        (path, token): (&str, &str),
        body: String,
    ) -> reqwest::RequestBuilder {
        self.raw(method, path)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
    }

    /// [`TestRelay::get`], asserting `status`; the answer.
    pub(crate) async fn expect_get(&self, path: &str, token: &str, status: StatusCode) -> Value {
        expect(self.get(path, token).await, status)
    }

    /// [`TestRelay::post`], asserting `status`; the answer.
    pub(crate) async fn expect_post(
        &self,
        path: &str,
        token: &str,
        body: Value,
        status: StatusCode,
    ) -> Value {
        expect(self.post(path, token, body).await, status)
    }

    /// [`TestRelay::call`], asserting `status`; the answer.
    pub(crate) async fn expect_call(
        &self,
        (method, path): (Method, &str),
        token: Option<&str>,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        expect(self.call(method, path, token, body).await, status)
    }

    /// [`TestRelay::login`], asserting `status`; the answer.
    pub(crate) async fn expect_login(
        &self,
        (tenant, email): (Option<&str>, &str),
        password: &str,
        status: StatusCode,
    ) -> Value {
        expect(self.login(tenant, email, password).await, status)
    }

    /// GETs `path` without a token, asserting `status`; the answer.
    pub(crate) async fn expect_public_get(&self, path: &str, status: StatusCode) -> Value {
        self.expect_call((Method::GET, path), None, None, status)
            .await
    }

    /// Trades `refresh_token` at `/api/v1/auth/refresh`, asserting `status`; the answer.
    pub(crate) async fn expect_refresh(
        &self,
        refresh_token: impl Into<Value>,
        status: StatusCode,
    ) -> Value {
        let body = serde_json::json!({"refresh_token": refresh_token.into()});
        let path = (Method::POST, "/api/v1/auth/refresh");
        self.expect_call(path, None, Some(body), status).await
    }

    /// The caller as `/api/v1/me` describes it to the access token of `pair` (a login's or a
    /// refresh's answer), asserting 200.
    pub(crate) async fn me(&self, pair: &Value) -> Value {
        let token = pair["access_token"].as_str().expect("access_token");
        self.expect_get("/api/v1/me", token, StatusCode::OK).await
    }

    /// POSTs `body` with `token` and asserts 201 Created; the answer.
    pub(crate) async fn created(&self, path: &str, token: &str, body: Value) -> Value {
        expect(self.post(path, token, body).await, StatusCode::CREATED)
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Logs in to `tenant`'s account with `email` (a platform admin's with `None`) and
    /// returns the whole token pair.
    pub(crate) async fn login(
        &self,
        tenant: Option<&str>,
        email: &str,
        password: &str,
    ) -> (StatusCode, Value) {
        let mut body = serde_json::json!({"email": email, "password": password});
        if let Some(tenant) = tenant {
            body["tenant_id"] = Value::from(tenant);
        }
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// Logs in and returns the access token, asserting success.
    pub(crate) async fn token(&self, tenant: Option<&str>, email: &str) -> String {
        let (status, body) = self.login(tenant, email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts `status`, printing the body on failure; returns the body.
#[track_caller]
pub(crate) fn expect(result: (StatusCode, Value), status: StatusCode) -> Value {
    assert_eq!(
        result.0, status,
        "expected {status}, got {} with {}",
        result.0, result.1
    );
    result.1
}

pub(crate) fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// Asserts that the answer's `message` contains `words`.
#[track_caller]
pub(crate) fn assert_says(answer: &Value, words: &str) {
    let message = answer["message"].as_str().expect("message");
    assert!(message.contains(words), "expected {words:?} in {answer}");
}
