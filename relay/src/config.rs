//! The relay's configuration: one TOML file, every key optional, overridden by environment
//! variables.
//!
//! An environment variable `DIPPER_RELAY__SECTION__KEY` sets `key` in `[section]` (for
//! example `DIPPER_RELAY__DATABASE__URL=postgres://...`); its value is read as a TOML value
//! when it parses as one (numbers, booleans) and as a string otherwise. Unknown keys, in the
//! file or the environment, are refused at start with the key's name, as are values of the
//! wrong type.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "DIPPER_RELAY__";

/// A configuration that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("config key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    /// External OpenID Connect provider whose access tokens are accepted; none by default.
    pub oidc: Option<OidcConfig>,
    pub limits: LimitsConfig,
    /// The MQTT broker the boxes connect to (Mosquitto with its dynamic security plugin);
    /// none by default: boxes then get no broker at activation and remote calls answer 503.
    pub broker: Option<BrokerConfig>,
    /// Remote searches (`/api/v1/tenants/{t}/searches`).
    pub searches: SearchesConfig,
    /// Where snapshots and enrolled photos are kept: the relay's own disk by default, or an
    /// S3 bucket.
    pub objects: ObjectsConfig,
    /// The face embedder of the face library.
    pub faces: FacesConfig,
    /// The monthly billing run.
    pub billing: BillingConfig,
    /// Sending tenants' notices (invoices, payments, dunning, boxes offline).
    pub notifications: NotificationsConfig,
    /// Log output: `json` (default, one object per line) or `text`.
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes. Default 65536.
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish after a shutdown signal. Default 10.
    pub shutdown_timeout_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 64 * 1024,
            shutdown_timeout_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host/db` or `sqlite://path`. Default
    /// `sqlite://dipper-relay.sqlite3` (in the working directory, created if missing).
    pub url: String,
    /// Connections in the pool. Default 8.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://dipper-relay.sqlite3".to_owned(),
            max_connections: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of an access token, in seconds. Default 900 (15 minutes).
    pub access_token_seconds: u64,
    /// Lifetime of a refresh token, in seconds. Default 2592000 (30 days).
    pub refresh_token_seconds: u64,
    /// Lifetime of a device's one-time provisioning key, in seconds. Default 604800 (7 days).
    pub provisioning_key_seconds: u64,
    /// Failed logins for one account from one client address before that address is locked
    /// out of that account (other addresses still sign in). Default 5.
    pub login_max_failures: u32,
    /// How long a locked-out address is refused for the account, in seconds; also how long a
    /// failure counts. Default 300.
    pub login_lockout_seconds: u64,
    /// Failed logins for one account from all addresses together before the account is
    /// refused from everywhere: the slower brake on guessing spread over many addresses.
    /// Default 50.
    pub login_account_max_failures: u32,
    /// How long that account-wide back-off lasts, in seconds; also how long a failure counts
    /// towards it. Default 60.
    pub login_account_lockout_seconds: u64,
    /// Argon2id cost parameters.
    pub argon2: Argon2Config,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_seconds: 900,
            refresh_token_seconds: 30 * 24 * 3600,
            provisioning_key_seconds: 7 * 24 * 3600,
            login_max_failures: 5,
            login_lockout_seconds: 300,
            login_account_max_failures: 50,
            login_account_lockout_seconds: 60,
            argon2: Argon2Config::default(),
        }
    }
}

/// Argon2id parameters. The defaults are OWASP's first recommendation (19 MiB, 2 passes, 1
/// lane); tests lower them to keep the suite fast.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    /// Memory per hash in KiB. Default 19456.
    pub memory_kib: u32,
    /// Passes. Default 2.
    pub iterations: u32,
    /// Lanes. Default 1.
    pub parallelism: u32,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The `iss` the provider's tokens carry (required).
    pub issuer: String,
    /// The `aud` the relay requires (required).
    pub audience: String,
    /// Where the provider serves its JSON Web Key Set (required).
    pub jwks_url: String,
    /// Claim holding the tenant id (a UUID); absent means no tenant. Default
    /// `dipper_tenant`.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Claim holding the list of roles (`platform_admin`, `tenant_admin`, `operator`,
    /// `viewer`), granted on the whole tenant. Default `dipper_roles`.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Shortest time between two fetches of the key set when a token names an unknown key, in
    /// seconds. Default 30.
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh_seconds: u64,
    /// The public client (no secret; authorization code with PKCE) the operators' console
    /// signs in with at this provider; none: the console offers only the relay's own
    /// accounts. The provider must allow the console's address (`{public address}/console/`)
    /// as a redirect URI and as a web origin (CORS for its token endpoint).
    #[serde(default)]
    pub console_client_id: Option<String>,
    /// The scopes the console asks for. Default `openid`.
    #[serde(default = "default_console_scope")]
    pub console_scope: String,
}

fn default_console_scope() -> String {
    "openid".to_owned()
}

fn default_tenant_claim() -> String {
    "dipper_tenant".to_owned()
}

fn default_roles_claim() -> String {
    "dipper_roles".to_owned()
}

fn default_jwks_min_refresh() -> u64 {
    30
}

/// The broker: where boxes connect, how the relay administers identities on it, and the
/// relay's own identity for the uplink (`relay/src/uplink/`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// The URL boxes connect to, handed to each at activation: `mqtts://host:port` (or
    /// `mqtt://` on loopback). Required.
    pub url: String,
    /// Where the relay itself connects, when it differs from `url` (a private address).
    /// Default: `url`.
    #[serde(default)]
    pub relay_url: Option<String>,
    /// The dynamic security plugin's administrator (`mosquitto_ctrl dynsec init`). Required.
    pub admin_username: String,
    /// Its password. Required.
    pub admin_password: String,
    /// The relay's own broker user; made with the role reaching every box if missing.
    /// Default `dipper-relay`.
    #[serde(default = "default_broker_username")]
    pub username: String,
    /// Its password. Required.
    pub password: String,
    /// This instance's MQTT client id, stable across restarts so its session (and what the
    /// broker queued for it) survives. Default `{username}-{hostname}`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// PEM file of the CA that signed the broker's certificate, for `mqtts://`. Default: the
    /// system's roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// How long a command to the broker may take, in seconds. Default 10.
    #[serde(default = "default_broker_command_timeout")]
    pub command_timeout_seconds: u64,
    /// How long the broker keeps the relay's session while it is away, in seconds.
    /// Default 3600.
    #[serde(default = "default_broker_session_expiry")]
    pub session_expiry_seconds: u32,
}

fn default_broker_username() -> String {
    "dipper-relay".to_owned()
}

fn default_broker_command_timeout() -> u64 {
    10
}

fn default_broker_session_expiry() -> u32 {
    3600
}

/// Remote searches: how far back a search may reach, how long a box has to finish its part,
/// how often an event stream reads the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchesConfig {
    /// The longest span one search covers, in days: the boxes' retention. Default 30.
    pub max_span_days: u32,
    /// How long a box has to finish its part once the search may no longer reach a box that
    /// is away (its `expires_in_seconds`), in seconds; a part not finished by then expires.
    /// Default 172800 (two days).
    pub finish_within_seconds: u64,
    /// How often an open event stream (`.../searches/{id}/events`) reads the search again, in
    /// milliseconds, when nothing woke it earlier (a change applied by this instance wakes it
    /// at once; one applied by another instance is seen at the next read). Default 1000.
    pub events_poll_ms: u64,
}

impl Default for SearchesConfig {
    fn default() -> Self {
        Self {
            max_span_days: 30,
            finish_within_seconds: 2 * 24 * 3600,
            events_poll_ms: 1000,
        }
    }
}

/// The monthly billing run (`relay/src/invoicing/`, docs/design/0080-billing.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// Whether this instance takes part in the monthly run: every `check_every_seconds` it
    /// tries to take the database lease on the run, and the one holding it closes each
    /// tenant's previous month once that month ended in the tenant's zone an hour ago. Any
    /// number of instances may take part; one runs. Default true.
    pub run_monthly: bool,
    /// How often the run is checked for, in seconds. Default 300.
    pub check_every_seconds: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            run_monthly: true,
            check_every_seconds: 300,
        }
    }
}

/// Sending the tenants' notices (`relay/src/notify/`, docs/design/0080-billing.md,
/// "Notifications"): every instance with `send` takes due notices from the database's outbox,
/// one sender per notice.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Whether this instance sends notices. Default true.
    pub send: bool,
    /// How often the outbox is looked at, in ms. Default 1000.
    pub poll_ms: u64,
    /// Attempts before a notice is given up (`failed`). Default 10.
    pub max_attempts: u32,
    /// The wait after the first failure, doubled after each next one up to `retry_max_ms`.
    /// Defaults 30000 and 3600000.
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    /// How long one attempt may take, in ms. Default 10000.
    pub timeout_ms: u64,
    /// Whether webhooks and the SMS hook may reach loopback, private and link-local
    /// addresses. Default false: a tenant's webhook URL never reaches the relay's own
    /// network.
    pub allow_private_targets: bool,
    /// The SMTP server e-mail goes through; without it e-mail channels are refused.
    pub smtp: Option<SmtpConfig>,
    /// The HTTP hook SMS go through; without it SMS channels are refused.
    pub sms: Option<SmsConfig>,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            send: true,
            poll_ms: 1000,
            max_attempts: 10,
            retry_min_ms: 30_000,
            retry_max_ms: 3_600_000,
            timeout_ms: 10_000,
            allow_private_targets: false,
            smtp: None,
            sms: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub port: Option<u16>,
    /// `starttls` (default), `tls`, or `none` (a server on the relay's own host or network).
    #[serde(default)]
    pub security: SmtpSecurity,
    /// The sender, `Dipper <billing@example.com>`.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    #[default]
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// Where each SMS is POSTed as JSON: `{"to", "text", "event", "tenant_id"}`; any 2xx
    /// answer is delivery.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>` when set.
    #[serde(default)]
    pub token: Option<String>,
}

/// The object store (`relay/src/objects/`): match snapshots and enrolled face photos.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    /// `disk` (default: files under `dir`, served by the relay's own signed URLs) or `s3`
    /// (the bucket of `[objects.s3]`, presigned S3 URLs).
    pub backend: ObjectBackend,
    /// The disk backend's folder, made at start if missing. Default `dipper-relay-objects`
    /// (in the working directory, as the default SQLite file is).
    pub dir: PathBuf,
    /// The address boxes and operators reach this relay at, the start of the disk backend's
    /// URLs (`{public_url}/objects/{key}?...`). Default `http://{server.listen}`.
    pub public_url: Option<String>,
    /// Largest object the disk backend's upload route accepts, in bytes. Default 8388608
    /// (8 MiB).
    pub max_object_bytes: usize,
    /// Lifetime of a URL that reads an object, in seconds. Default 600.
    pub get_url_seconds: u64,
    /// Lifetime of a URL that writes an object, in seconds. Default 3600.
    pub put_url_seconds: u64,
    /// The bucket, for `backend = "s3"`; none by default.
    pub s3: Option<S3Config>,
}

impl Default for ObjectsConfig {
    fn default() -> Self {
        Self {
            backend: ObjectBackend::Disk,
            dir: PathBuf::from("dipper-relay-objects"),
            public_url: None,
            max_object_bytes: 8 * 1024 * 1024,
            get_url_seconds: 600,
            put_url_seconds: 3600,
            s3: None,
        }
    }
}

/// The face embedder (`relay/src/faces/`): the box's face stages and shipped models, loaded
/// on first use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FacesConfig {
    /// Folder holding the model files. Default: `$DIPPER_MODELS_DIR`, the development cache
    /// `.cache/models`, then `/usr/share/dipper/models`, as the box looks.
    pub models_dir: Option<std::path::PathBuf>,
    /// `auto` (default: ONNX Runtime when its library loads, else tract), `tract` or
    /// `onnxruntime`.
    #[serde(deserialize_with = "backend_choice")]
    pub backend: pipeline::faces::BackendChoice,
    /// Photos embedded at once (each takes a core while it runs). Default 1.
    pub concurrency: usize,
    /// Largest photo accepted, in bytes. Default 10485760 (10 MiB).
    pub max_photo_bytes: usize,
}

impl Default for FacesConfig {
    fn default() -> Self {
        Self {
            models_dir: None,
            backend: pipeline::faces::BackendChoice::Auto,
            concurrency: 1,
            max_photo_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Where objects are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectBackend {
    #[default]
    Disk,
    S3,
}

/// An S3 bucket (AWS, or any server speaking S3 with signature version 4).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// The server's URL, for a store other than AWS (`http://127.0.0.1:9000`). Default: AWS's
    /// endpoint for `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Default `us-east-1`.
    #[serde(default = "default_s3_region")]
    pub region: String,
    /// The bucket (required).
    pub bucket: String,
    /// The access key the relay signs with (required).
    pub access_key_id: String,
    /// Its secret (required); better set as `DIPPER_RELAY__OBJECTS__S3__SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// Path-style URLs (`{endpoint}/{bucket}/{key}`) rather than a host per bucket. Default:
    /// true when `endpoint` is set, false otherwise.
    #[serde(default)]
    pub path_style: Option<bool>,
    /// Create the bucket at start when it does not exist. Default false.
    #[serde(default)]
    pub create_bucket: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .field("create_bucket", &self.create_bucket)
            .finish()
    }
}

fn default_s3_region() -> String {
    "us-east-1".to_owned()
}

impl ObjectsConfig {
    /// `public_url` as configured, or `http://{listen}`, without a trailing slash.
    pub fn public_url(&self, listen: SocketAddr) -> String {
        self.public_url
            .as_deref()
            .map_or_else(|| format!("http://{listen}"), str::to_owned)
            .trim_end_matches('/')
            .to_owned()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[
            ("objects.max_object_bytes", self.max_object_bytes as u64),
            ("objects.get_url_seconds", self.get_url_seconds),
            ("objects.put_url_seconds", self.put_url_seconds),
        ])?;
        // Seven days: the longest a SigV4 presigned URL may live.
        for (key, value) in [
            ("objects.get_url_seconds", self.get_url_seconds),
            ("objects.put_url_seconds", self.put_url_seconds),
        ] {
            if value > 7 * 24 * 3600 {
                return Err(invalid(key, "must be at most 604800 (7 days)"));
            }
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "objects.public_url",
                "must start with http:// or https://",
            ));
        }
        if self.dir.as_os_str().is_empty() {
            return Err(invalid("objects.dir", "must not be empty"));
        }
        match (self.backend, &self.s3) {
            (ObjectBackend::S3, None) => Err(invalid(
                "objects.s3",
                "is required when objects.backend = \"s3\" (bucket, access_key_id, \
                 secret_access_key)",
            )),
            (ObjectBackend::S3, Some(s3)) => s3.validate(),
            (ObjectBackend::Disk, _) => Ok(()),
        }
    }
}

impl S3Config {
    fn validate(&self) -> Result<(), ConfigError> {
        let required = [
            ("objects.s3.bucket", &self.bucket),
            ("objects.s3.region", &self.region),
            ("objects.s3.access_key_id", &self.access_key_id),
            ("objects.s3.secret_access_key", &self.secret_access_key),
        ];
        if let Some((key, _)) = required
            .into_iter()
            .find(|(_, value)| value.trim().is_empty())
        {
            return Err(invalid(key, "must not be empty"));
        }
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(invalid(
                "objects.s3.endpoint",
                "must start with http:// or https://",
            ));
        }
        Ok(())
    }

    /// Whether requests name the bucket in the path: as configured, else when `endpoint` is
    /// set.
    pub fn path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }
}

fn backend_choice<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<pipeline::faces::BackendChoice, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown face backend {text:?}: use auto, tract or onnxruntime"
        ))
    })
}

/// Request rate limits, kept in each process's memory (a token bucket per key): with N
/// instances behind a balancer the effective limit is up to N times these.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Sustained requests per second for one user. Default 20.
    pub per_user_per_second: u32,
    /// Burst for one user. Default 100.
    pub per_user_burst: u32,
    /// Sustained requests per second for one tenant, all its users together. Default 100.
    pub per_tenant_per_second: u32,
    /// Burst for one tenant. Default 500.
    pub per_tenant_burst: u32,
    /// Login attempts per minute from one client address, whatever the email (the per-email
    /// lockout of `[auth]` does not stop one client trying many emails). Default 30.
    pub login_per_address_per_minute: u32,
    /// Burst of login attempts from one client address. Default 10.
    pub login_per_address_burst: u32,
    /// Device activations (`POST /api/v1/devices/activate`) per minute from one client
    /// address, whatever the device. Default 10.
    pub activate_per_address_per_minute: u32,
    /// Burst of activations from one client address. Default 10.
    pub activate_per_address_burst: u32,
    /// Activation attempts per minute for one device id, from any address: bounds guessing
    /// one device's key from many addresses. Default 2.
    pub activate_per_device_per_minute: u32,
    /// Burst of activation attempts for one device id. Default 5.
    pub activate_per_device_burst: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            per_user_per_second: 20,
            per_user_burst: 100,
            per_tenant_per_second: 100,
            per_tenant_burst: 500,
            login_per_address_per_minute: 30,
            login_per_address_burst: 10,
            activate_per_address_per_minute: 10,
            activate_per_address_burst: 10,
            activate_per_device_per_minute: 2,
            activate_per_device_burst: 5,
        }
    }
}

impl Config {
    /// Reads `path` (if given) and applies the environment's overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (text, origin) = match path {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
                path.display().to_string(),
            ),
            None => (String::new(), "(none)".to_owned()),
        };
        Self::from_toml_and_env(&text, &origin, std::env::vars())
    }

    /// Parses `text` and applies the overrides among `vars` (those named with
    /// [`ENV_PREFIX`]).
    pub fn from_toml_and_env(
        text: &str,
        origin: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: origin.to_owned(),
                    message: e.to_string(),
                })?;
        for (name, value) in vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            if keys.iter().any(String::is_empty) {
                return Err(ConfigError::Env {
                    name,
                    message: "empty key segment".to_owned(),
                });
            }
            set_path(&mut table, &keys, parse_env_value(&value)).map_err(|message| {
                ConfigError::Env {
                    name: name.clone(),
                    message,
                }
            })?;
        }
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: format!("{origin} with {ENV_PREFIX}* overrides"),
                    message: e.to_string(),
                })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&self.positive_settings())?;
        if !(self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://")
            || self.database.url.starts_with("sqlite:"))
        {
            return Err(invalid(
                "database.url",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        argon2::Params::new(
            self.auth.argon2.memory_kib,
            self.auth.argon2.iterations,
            self.auth.argon2.parallelism,
            None,
        )
        .map_err(|e| ConfigError::Invalid {
            key: "auth.argon2",
            message: e.to_string(),
        })?;
        self.objects.validate()?;
        all_positive(&[(
            "billing.check_every_seconds",
            self.billing.check_every_seconds,
        )])?;
        self.notifications.validate()?;
        self.broker.as_ref().map_or(Ok(()), BrokerConfig::validate)
    }

    /// The settings outside a section of their own that must be greater than 0.
    fn positive_settings(&self) -> [(&'static str, u64); 16] {
        [
            ("server.max_body_bytes", self.server.max_body_bytes as u64),
            (
                "database.max_connections",
                u64::from(self.database.max_connections),
            ),
            ("auth.access_token_seconds", self.auth.access_token_seconds),
            (
                "auth.refresh_token_seconds",
                self.auth.refresh_token_seconds,
            ),
            (
                "auth.provisioning_key_seconds",
                self.auth.provisioning_key_seconds,
            ),
            (
                "auth.login_max_failures",
                u64::from(self.auth.login_max_failures),
            ),
            (
                "auth.login_account_max_failures",
                u64::from(self.auth.login_account_max_failures),
            ),
            (
                "limits.per_user_per_second",
                u64::from(self.limits.per_user_per_second),
            ),
            (
                "limits.per_user_burst",
                u64::from(self.limits.per_user_burst),
            ),
            (
                "limits.per_tenant_per_second",
                u64::from(self.limits.per_tenant_per_second),
            ),
            (
                "limits.per_tenant_burst",
                u64::from(self.limits.per_tenant_burst),
            ),
            (
                "searches.max_span_days",
                u64::from(self.searches.max_span_days),
            ),
            (
                "searches.finish_within_seconds",
                self.searches.finish_within_seconds,
            ),
            ("searches.events_poll_ms", self.searches.events_poll_ms),
            ("faces.concurrency", self.faces.concurrency as u64),
            ("faces.max_photo_bytes", self.faces.max_photo_bytes as u64),
        ]
    }
}

/// A setting found wrong: `key` and why.
fn invalid(key: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.to_owned(),
    }
}

/// The first of `settings` that is 0, if any, as an error.
fn all_positive(settings: &[(&'static str, u64)]) -> Result<(), ConfigError> {
    match settings.iter().find(|(_, value)| *value == 0) {
        Some(&(key, _)) => Err(invalid(key, "must be greater than 0")),
        None => Ok(()),
    }
}

impl NotificationsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        all_positive(&[
            ("notifications.poll_ms", self.poll_ms),
            ("notifications.retry_min_ms", self.retry_min_ms),
            ("notifications.timeout_ms", self.timeout_ms),
            ("notifications.max_attempts", u64::from(self.max_attempts)),
        ])?;
        if self.retry_max_ms < self.retry_min_ms {
            let message = "must be at least notifications.retry_min_ms";
            return Err(invalid("notifications.retry_max_ms", message));
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                return Err(invalid("notifications.smtp.host", "must not be empty"));
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                let message = "must be a mailbox, `Name <address@example.com>` or an address";
                return Err(invalid("notifications.smtp.from", message));
            }
            if smtp.username.is_some() != smtp.password.is_some() {
                let message = "username and password go together";
                return Err(invalid("notifications.smtp.username", message));
            }
        }
        if let Some(sms) = &self.sms {
            match reqwest::Url::parse(&sms.url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => return Err(invalid("notifications.sms.url", "must be an http(s) URL")),
            }
        }
        Ok(())
    }
}

impl BrokerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_broker_url("broker.url", &self.url)?;
        if let Some(url) = &self.relay_url {
            check_broker_url("broker.relay_url", url)?;
        }
        all_positive(&[
            (
                "broker.session_expiry_seconds",
                u64::from(self.session_expiry_seconds),
            ),
            (
                "broker.command_timeout_seconds",
                self.command_timeout_seconds,
            ),
        ])
    }
}

/// A broker URL the relay can use: `mqtts://host:port`, or `mqtt://` on a loopback host
/// (plain TCP carries passwords in the clear).
fn check_broker_url(key: &'static str, url: &str) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { key, message };
    let (host, _, tls) = crate::broker::parse_url(url).map_err(|e| invalid(e.to_string()))?;
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !tls && !loopback {
        return Err(invalid(format!(
            "{url}: plain mqtt:// only on loopback; use mqtts:// for {host}"
        )));
    }
    Ok(())
}

fn parse_env_value(value: &str) -> toml::Value {
    // A bare TOML value (number, boolean, array) if it is one, else the text as a string.
    format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(value.to_owned()))
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("no key")?;
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{key}` is not a section"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_toml_and_env(
            text,
            "test.toml",
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let config = load("", &[]).expect("defaults");
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database.url, "sqlite://dipper-relay.sqlite3");
        assert_eq!(config.auth.access_token_seconds, 900);
        assert_eq!(config.auth.argon2.memory_kib, 19456);
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(config.oidc.is_none());
        assert_eq!(config.searches.max_span_days, 30);
        assert_eq!(config.searches.finish_within_seconds, 172_800);
        assert_eq!(config.searches.events_poll_ms, 1000);
    }

    #[test]
    fn example_file_is_the_defaults() {
        let example = load(include_str!("../dipper-relay.example.toml"), &[]).expect("example");
        let defaults = load("", &[]).expect("defaults");
        assert_eq!(format!("{example:?}"), format!("{defaults:?}"));
        let oidc = include_str!("../dipper-relay.example.toml")
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .skip_while(|line| *line != "[oidc]")
            .collect::<Vec<_>>()
            .join("\n");
        let config = load(&oidc, &[]).expect("the commented [oidc] section parses");
        let oidc = config.oidc.expect("[oidc]");
        assert_eq!(oidc.roles_claim, "dipper_roles");
        assert_eq!(oidc.console_client_id.as_deref(), Some("dipper-console"));
    }

    #[test]
    fn environment_overrides_file() {
        let config = load(
            "[database]\nurl = \"sqlite://a.db\"\nmax_connections = 3\n",
            &[
                ("DIPPER_RELAY__DATABASE__URL", "postgres://u@h/db"),
                ("DIPPER_RELAY__SERVER__MAX_BODY_BYTES", "1024"),
                ("UNRELATED", "x"),
            ],
        )
        .expect("config");
        assert_eq!(config.database.url, "postgres://u@h/db");
        assert_eq!(config.database.max_connections, 3);
        assert_eq!(config.server.max_body_bytes, 1024);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let error = load("[server]\nlisten_addr = \"x\"\n", &[]).expect_err("unknown key");
        assert!(error.to_string().contains("listen_addr"), "{error}");
        let error = load("", &[("DIPPER_RELAY__AUTH__NOPE", "1")]).expect_err("unknown env");
        assert!(error.to_string().contains("nope"), "{error}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let error = load("[limits]\nper_user_burst = 0\n", &[]).expect_err("zero");
        assert!(
            error.to_string().contains("limits.per_user_burst"),
            "{error}"
        );
        let error = load("[database]\nurl = \"mysql://x\"\n", &[]).expect_err("scheme");
        assert!(error.to_string().contains("database.url"), "{error}");
        let error = load("[server]\nmax_body_bytes = \"big\"\n", &[]).expect_err("type");
        assert!(error.to_string().contains("max_body_bytes"), "{error}");
        let error = load("[searches]\nmax_span_days = 0\n", &[]).expect_err("zero");
        assert!(
            error.to_string().contains("searches.max_span_days"),
            "{error}"
        );
        let error = load("", &[("DIPPER_RELAY__SEARCHES__EVENTS_POLL_MS", "0")]).expect_err("0");
        assert!(
            error.to_string().contains("searches.events_poll_ms"),
            "{error}"
        );
    }

    #[test]
    fn a_broker_section_is_checked() {
        let section = |url: &str| {
            format!(
                "[broker]\nurl = \"{url}\"\nadmin_username = \"a\"\nadmin_password = \"b\"\npassword = \"c\"\n"
            )
        };
        let config = load(&section("mqtts://broker.example:8883"), &[]).expect("mqtts");
        let broker = config.broker.expect("a broker");
        assert_eq!(broker.username, "dipper-relay");
        assert_eq!(broker.session_expiry_seconds, 3600);
        assert_eq!(broker.command_timeout_seconds, 10);
        load(&section("mqtt://127.0.0.1:1883"), &[]).expect("plain on loopback");
        for (url, says) in [
            ("mqtt://broker.example:1883", "only on loopback"),
            ("http://127.0.0.1:1883", "expected mqtt"),
            ("mqtts://broker.example", "no port"),
        ] {
            let error = load(&section(url), &[]).expect_err(url);
            let text = error.to_string();
            assert!(
                text.contains("broker.url") && text.contains(says),
                "{url}: {text}"
            );
        }
        let error = load("[broker]\nurl = \"mqtts://b:1\"\n", &[]).expect_err("incomplete");
        assert!(error.to_string().contains("admin_username"), "{error}");
        let example = include_str!("../dipper-relay.example.toml")
            .lines()
            .skip_while(|line| *line != "# [broker]")
            .take_while(|line| line.starts_with('#'))
            .filter_map(|line| line.strip_prefix("# "))
            .collect::<Vec<_>>()
            .join("\n");
        let config = load(&example, &[]).expect("the commented [broker] section parses");
        assert_eq!(
            config.broker.map(|b| b.username),
            Some("dipper-relay".to_owned())
        );
        let zero = section("mqtts://b:1") + "session_expiry_seconds = 0\n";
        let error = load(&zero, &[]).expect_err("no session");
        assert!(
            error.to_string().contains("broker.session_expiry_seconds"),
            "{error}"
        );
    }

    #[test]
    fn objects_default_to_the_disk() {
        let config = load("", &[]).expect("defaults");
        let objects = &config.objects;
        assert_eq!(objects.backend, ObjectBackend::Disk);
        assert_eq!(objects.dir, PathBuf::from("dipper-relay-objects"));
        assert_eq!(objects.max_object_bytes, 8 * 1024 * 1024);
        assert_eq!(
            (objects.get_url_seconds, objects.put_url_seconds),
            (600, 3600)
        );
        assert_eq!(
            objects.public_url(config.server.listen),
            "http://127.0.0.1:8080"
        );
        let config =
            load("[objects]\npublic_url = \"https://relay.example/\"\n", &[]).expect("public_url");
        let listen = config.server.listen;
        assert_eq!(config.objects.public_url(listen), "https://relay.example");
    }

    #[test]
    fn an_s3_section_is_read_and_checked() {
        let section = "[objects]\nbackend = \"s3\"\n[objects.s3]\nbucket = \"b\"\n\
                       access_key_id = \"id\"\n";
        let secret = ("DIPPER_RELAY__OBJECTS__S3__SECRET_ACCESS_KEY", "s3cr3t");
        let config = load(section, &[secret]).expect("s3");
        let s3 = config.objects.s3.expect("s3");
        assert_eq!(config.objects.backend, ObjectBackend::S3);
        assert_eq!(
            (s3.region.as_str(), s3.secret_access_key.as_str()),
            ("us-east-1", "s3cr3t")
        );
        assert!(!s3.path_style() && !s3.create_bucket);
        assert!(
            !format!("{s3:?}").contains("s3cr3t"),
            "the secret is never shown"
        );
        let endpoint = (
            "DIPPER_RELAY__OBJECTS__S3__ENDPOINT",
            "http://127.0.0.1:9000",
        );
        let config = load(section, &[secret, endpoint]).expect("endpoint");
        assert!(config.objects.s3.expect("s3").path_style());

        for (text, vars, says) in [
            ("[objects]\nbackend = \"s4\"\n", &[][..], "backend"),
            ("[objects]\nbackend = \"s3\"\n", &[], "objects.s3"),
            (section, &[], "secret_access_key"),
            ("[objects.s3]\nbukket = \"b\"\n", &[], "bukket"),
            (
                "[objects]\nget_url_seconds = 0\n",
                &[],
                "objects.get_url_seconds",
            ),
            (
                "[objects]\nput_url_seconds = 604801\n",
                &[],
                "objects.put_url_seconds",
            ),
            (
                "[objects]\npublic_url = \"relay:8080\"\n",
                &[],
                "objects.public_url",
            ),
        ] {
            let error = load(text, vars).expect_err(text);
            assert!(error.to_string().contains(says), "{text}: {error}");
        }
        let empty = ("DIPPER_RELAY__OBJECTS__S3__BUCKET", " ");
        let error = load(section, &[secret, empty]).expect_err("empty bucket");
        assert!(error.to_string().contains("objects.s3.bucket"), "{error}");
        let typo = ("DIPPER_RELAY__OBJECTS__S3__ENDPOINT", "127.0.0.1:9000");
        let error = load(section, &[secret, typo]).expect_err("no scheme");
        assert!(error.to_string().contains("objects.s3.endpoint"), "{error}");
    }
}
