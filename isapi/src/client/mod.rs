//! The ISAPI client: one [`Client`] (connection pool and settings) shared by many
//! [`Device`]s, each a camera or NVR at one address with one set of credentials.
//!
//! Every request goes through [`Device::send`], which does Digest authentication (reusing
//! the device's nonce with an increasing nonce count, answering a fresh challenge once, and
//! re-challenging on a stale nonce) and turns 4xx/5xx answers into typed errors. A rejected
//! credential is remembered: later requests fail at once, without touching the network,
//! until [`Device::set_credentials`] is called, so a wrong password cannot cause a retry
//! storm and an address lockout.

mod auth;
mod config;
mod discovery;
mod download;
mod response;
mod search;

pub use config::{ClientConfig, RecordingClock, SearchShape};
pub use discovery::Discovery;
pub use download::Download;
pub use search::{Recording, SearchQuery};

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, atomic::AtomicU8},
};

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use tokio::sync::{OnceCell, Semaphore};

use crate::{
    error::{Error, ErrorKind, Result},
    time::DeviceZone,
    xml::{self, DeviceStatus, ResponseStatus, SearchProfile},
};
use auth::{AuthState, Challenge, Sent};
use response::{Endpoint, Response};

/// Stale-nonce answers in a row before a request gives up (a device whose clock or nonce
/// handling is broken must not keep the client looping).
const MAX_STALE_ANSWERS: u32 = 3;

const USER_AGENT: &str = concat!("dipper-isapi/", env!("CARGO_PKG_VERSION"));

/// Largest error or XML body read into memory (device documents are a few KiB).
const MAX_XML_BODY: usize = 1 << 20;

/// Shared HTTP connection pool and settings for any number of devices.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .tcp_nodelay(true)
            .user_agent(USER_AGENT)
            .no_proxy()
            .tls_danger_accept_invalid_certs(config.accept_invalid_certs)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            config: Arc::new(config),
        })
    }

    /// A device at `base_url` (`http://host:port`, optionally with a path prefix).
    pub fn device(&self, base_url: &str, user: &str, password: &str) -> Result<Device, String> {
        let base = base_url.trim_end_matches('/');
        let parsed = reqwest::Url::parse(base).map_err(|e| format!("device URL {base:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(format!(
                "device URL {base:?}: expected http(s)://host[:port]"
            ));
        }
        let host = parsed.host_str().unwrap_or_default();
        let name = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        // Connections of their own (downloads) are plain HTTP only; HTTPS devices download
        // through the shared pool.
        let endpoint = (parsed.scheme() == "http").then(|| Endpoint {
            authority: format!("{host}:{}", parsed.port().unwrap_or(80)),
            path_prefix: parsed.path().trim_end_matches('/').to_owned(),
        });
        Ok(Device {
            inner: Arc::new(DeviceInner {
                client: self.clone(),
                base: base.to_owned(),
                name,
                endpoint,
                auth: AuthState::new(user, password),
                zone: OnceCell::new(),
                profile: OnceCell::new(),
                search_gate: OnceCell::new(),
                search_shape: AtomicU8::new(self.config.search_shape.map_or(0, |s| s as u8)),
                download_post: AtomicU8::new(0),
                skipped_items: Mutex::new(BTreeMap::new()),
            }),
        })
    }
}

/// One camera or NVR. Cheap to clone; clones share state (nonce, zone, profile, gates).
#[derive(Debug, Clone)]
pub struct Device {
    inner: Arc<DeviceInner>,
}

#[derive(Debug)]
struct DeviceInner {
    client: Client,
    base: String,
    name: String,
    /// For requests on a connection of their own; `None` for HTTPS devices.
    endpoint: Option<Endpoint>,
    auth: AuthState,
    zone: OnceCell<DeviceZone>,
    profile: OnceCell<SearchProfile>,
    /// One permit per search the device runs at once (from its search profile).
    search_gate: OnceCell<Semaphore>,
    /// 0 = not known yet, else `SearchShape as u8`.
    search_shape: AtomicU8,
    /// 1 once the device refused a GET download and accepted a POST.
    download_post: AtomicU8,
    /// Search result items skipped so far, by reason (see [`Device::skipped_search_items`]).
    skipped_items: Mutex<BTreeMap<&'static str, u64>>,
}

/// What a 401 answer carried: its Digest challenge and the `userCheck` body some firmware
/// sends with it (attempts left, lockout).
struct Refusal {
    challenge: Option<Challenge>,
    user_check: Option<xml::UserCheck>,
}

impl Refusal {
    /// Reads a 401's challenge header and body; an unreadable body counts as none.
    async fn read(response: Response, timeout: Option<std::time::Duration>) -> Refusal {
        let challenge = response
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(Challenge::parse);
        let body = read_text(response, MAX_XML_BODY, timeout)
            .await
            .unwrap_or_default();
        Refusal {
            challenge,
            user_check: xml::parse::<xml::UserCheck>("userCheck", &body).ok(),
        }
    }
}

/// The challenges one request has answered so far.
#[derive(Debug, Default)]
struct ChallengesAnswered {
    /// A fresh (not stale) challenge was answered after an attempt with credentials (a
    /// nonce the device dropped); answered once only.
    fresh: bool,
    /// Stale-nonce challenges answered.
    stale: u32,
}

/// One request as [`Device::send`] takes it.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    pub method: Method,
    pub path: &'a str,
    pub body: Option<Bytes>,
    pub track: Option<u32>,
    /// Bound on the whole exchange; `None` for streamed downloads.
    pub timeout: Option<std::time::Duration>,
    /// On a connection of its own with a capped read buffer (downloads), when the device
    /// speaks plain HTTP; otherwise through the shared pool.
    pub dedicated: bool,
}

impl Device {
    /// The name used in errors and logs (the caller's, or `host:port`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Replaces the credentials and clears a previous rejection.
    pub fn set_credentials(&self, user: &str, password: &str) {
        self.inner.auth.set_credentials(user, password);
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.inner.client.config
    }

    pub(crate) fn error(&self, req: &Request<'_>, kind: ErrorKind) -> Error {
        Error {
            kind,
            device: self.inner.name.clone(),
            method: method_name(&req.method),
            url: req.path.to_owned(),
            track: req.track,
        }
    }

    /// Sends a request with Digest authentication and returns a successful (2xx) response.
    pub(crate) async fn send(&self, req: &Request<'_>) -> Result<Response> {
        let auth = &self.inner.auth;
        // Until the credentials are proven, log in one request at a time.
        let _login = if auth.is_accepted() {
            None
        } else {
            Some(auth.login_gate().await)
        };
        let url = format!("{}{}", self.inner.base, req.path);
        let mut answered = ChallengesAnswered::default();
        loop {
            let sent = auth
                .authorization(req.method.as_str(), req.path)
                .map_err(|kind| self.error(req, kind))?;
            let response = self.exchange(req, &url, sent.header.as_deref()).await?;
            if response.status() != StatusCode::UNAUTHORIZED {
                if sent.header.is_some() {
                    auth.accept(sent.generation);
                }
                return self.check_status(req, response).await;
            }
            let refusal = Refusal::read(response, req.timeout).await;
            let challenge = self.challenge_to_answer(req, &sent, refusal, &mut answered)?;
            auth.store_challenge(challenge);
        }
    }

    /// The challenge of a 401 to answer with another attempt, or the error that ends the
    /// request: a lockout, a 401 without a Digest challenge, too many stale nonces in a row,
    /// or credentials the device rejected (remembered, so later requests fail at once).
    fn challenge_to_answer(
        &self,
        req: &Request<'_>,
        sent: &Sent,
        refusal: Refusal,
        answered: &mut ChallengesAnswered,
    ) -> Result<Challenge> {
        if let Some(check) = refusal.user_check.as_ref().filter(|c| c.is_locked()) {
            return Err(self.error(
                req,
                ErrorKind::LockedOut {
                    unlock_after: check.unlock_time.map(std::time::Duration::from_secs),
                },
            ));
        }
        let Some(challenge) = refusal.challenge else {
            return Err(self.error(
                req,
                ErrorKind::Http {
                    status: 401,
                    body: "401 without a Digest challenge".to_owned(),
                },
            ));
        };
        // Answer a first challenge, a stale nonce, or (once) a nonce the device dropped
        // after we had used it before; a 401 on a nonce's first use is a verdict on the
        // credentials and is final.
        if challenge.is_stale() {
            answered.stale += 1;
            if answered.stale > MAX_STALE_ANSWERS {
                return Err(self.error(
                    req,
                    ErrorKind::Protocol(format!(
                        "device called {MAX_STALE_ANSWERS} fresh nonces in a row stale"
                    )),
                ));
            }
        }
        let retry =
            challenge.is_stale() || sent.header.is_none() || (!sent.first_use && !answered.fresh);
        if retry {
            answered.fresh |= sent.header.is_some() && !challenge.is_stale();
            return Ok(challenge);
        }
        self.inner.auth.reject(sent.generation);
        tracing::warn!(device = %self.inner.name, "credentials rejected; not retrying");
        Err(self.error(
            req,
            ErrorKind::BadCredentials {
                attempts_left: refusal.user_check.and_then(|c| c.retry_login_time),
            },
        ))
    }

    /// One HTTP exchange, on the shared pool or a connection of its own.
    async fn exchange(
        &self,
        req: &Request<'_>,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<Response> {
        let content_type = "application/xml; charset=UTF-8";
        if req.dedicated
            && let Some(endpoint) = &self.inner.endpoint
        {
            let mut builder = http::Request::builder()
                .method(req.method.clone())
                .uri(format!("{}{}", endpoint.path_prefix, req.path))
                .header(http::header::HOST, &endpoint.authority)
                .header(http::header::USER_AGENT, USER_AGENT)
                .header(http::header::ACCEPT, "*/*");
            if let Some(header) = authorization {
                builder = builder.header(http::header::AUTHORIZATION, header);
            }
            if req.body.is_some() {
                builder = builder.header(http::header::CONTENT_TYPE, content_type);
            }
            let request = builder
                .body(http_body_util::Full::new(
                    req.body.clone().unwrap_or_default(),
                ))
                .map_err(|e| self.error(req, ErrorKind::InvalidRequest(e.to_string())))?;
            let config = self.config();
            let sent = response::send_dedicated(
                endpoint,
                request,
                config.connect_timeout,
                config.download_read_buffer,
            );
            return match req.timeout {
                None => sent.await,
                Some(after) => {
                    tokio::time::timeout(after, sent)
                        .await
                        .unwrap_or(Err(ErrorKind::Timeout {
                            what: "request",
                            after,
                        }))
                }
            }
            .map_err(|kind| self.error(req, kind));
        }
        let mut builder = self
            .inner
            .client
            .http
            .request(req.method.clone(), url)
            .header(reqwest::header::ACCEPT, "*/*");
        if let Some(header) = authorization {
            builder = builder.header(reqwest::header::AUTHORIZATION, header);
        }
        if let Some(body) = &req.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.clone());
        }
        if let Some(timeout) = req.timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder.send().await.map_err(|e| {
            let after = req.timeout.unwrap_or(self.config().connect_timeout);
            self.error(req, transport_kind(&e, None, after))
        })?;
        Ok(Response::Pooled(response))
    }

    /// Turns a non-2xx response into an error carrying the device's `ResponseStatus`.
    async fn check_status(&self, req: &Request<'_>, response: Response) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = read_text(response, MAX_XML_BODY, req.timeout)
            .await
            .unwrap_or_default();
        let kind = match xml::parse::<ResponseStatus>("ResponseStatus", &body) {
            Ok(status_doc) => ErrorKind::Device {
                http_status: status.as_u16(),
                status: Box::new(status_doc),
            },
            Err(_) => ErrorKind::Http {
                status: status.as_u16(),
                body: xml::preview(body.trim()),
            },
        };
        Err(self.error(req, kind))
    }

    /// GETs (or POSTs) an XML document and parses it as `T` (root element `root`).
    pub(crate) async fn fetch_xml<T: serde::de::DeserializeOwned>(
        &self,
        req: &Request<'_>,
        root: &'static str,
    ) -> Result<T> {
        let body = self.fetch_text(req).await?;
        xml::parse(root, &body).map_err(|e| self.error(req, e.into()))
    }

    /// GETs (or POSTs) an XML document and returns its text; a `ResponseStatus` where
    /// another document was expected is the device's refusal, returned as an error.
    pub(crate) async fn fetch_text(&self, req: &Request<'_>) -> Result<String> {
        let response = self.send(req).await?;
        let body = read_text(response, MAX_XML_BODY, req.timeout)
            .await
            .map_err(|kind| self.error(req, kind))?;
        if xml::root_element(&body) == Some("ResponseStatus") {
            let status = xml::parse::<ResponseStatus>("ResponseStatus", &body)
                .map_err(|e| self.error(req, e.into()))?;
            return Err(self.error(
                req,
                ErrorKind::Device {
                    http_status: 200,
                    status: Box::new(status),
                },
            ));
        }
        Ok(body)
    }

    pub(crate) fn xml_request<'a>(&self, method: Method, path: &'a str) -> Request<'a> {
        Request {
            method,
            path,
            body: None,
            track: None,
            timeout: Some(self.config().request_timeout),
            dedicated: false,
        }
    }

    /// The device's search profile, read once, under either root devices use
    /// ([`SearchProfile::ROOTS`]). A device without a usable profile (none, another document,
    /// unreadable) is searched with [`SearchProfile::fallback`], with a warning; only what
    /// may pass (unreachable, busy) or needs the operator (credentials) is an error.
    pub async fn search_profile(&self) -> Result<SearchProfile> {
        self.inner
            .profile
            .get_or_try_init(|| async {
                let req = self.xml_request(Method::GET, SEARCH_PROFILE_PATH);
                match self.fetch_search_profile(&req).await {
                    Ok(profile) => Ok(profile),
                    Err(e) if profile_unusable(&e) => {
                        tracing::warn!(
                            device = self.name(),
                            error = %e,
                            "no usable search profile; searching 64 results a page, one search at a time"
                        );
                        Ok(SearchProfile::fallback())
                    }
                    Err(e) => Err(e),
                }
            })
            .await
            .cloned()
    }

    async fn fetch_search_profile(&self, req: &Request<'_>) -> Result<SearchProfile> {
        let body = self.fetch_text(req).await?;
        let root = xml::root_element(body.trim_start_matches('\u{feff}').trim());
        let document = SearchProfile::ROOTS
            .into_iter()
            .find(|&name| Some(name) == root)
            .unwrap_or(SearchProfile::ROOTS[0]);
        xml::parse(document, &body).map_err(|e| self.error(req, e.into()))
    }

    /// `/ISAPI/System/status`: the device's clock, uptime, CPU and memory.
    pub async fn status(&self) -> Result<DeviceStatus> {
        let req = self.xml_request(Method::GET, "/ISAPI/System/status");
        self.fetch_xml(&req, "DeviceStatus").await
    }

    /// Search result items this device sent that could not be used, by reason
    /// (`unreadable`, `not_a_recording`, `unknown_range`), since it was created.
    pub fn skipped_search_items(&self) -> Vec<(&'static str, u64)> {
        self.inner
            .skipped_items
            .lock()
            .map(|counts| counts.iter().map(|(&k, &v)| (k, v)).collect())
            .unwrap_or_default()
    }

    /// Counts one skipped item; true when it is the first for its reason on this device
    /// (the one worth a warning).
    pub(crate) fn count_skipped_item(&self, reason: &'static str) -> bool {
        metrics::counter!("isapi_search_items_skipped_total", "reason" => reason).increment(1);
        let Ok(mut counts) = self.inner.skipped_items.lock() else {
            return false;
        };
        let count = counts.entry(reason).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// The device's time zone, read once from `/ISAPI/System/time`.
    pub async fn zone(&self) -> Result<DeviceZone> {
        self.inner
            .zone
            .get_or_try_init(|| async {
                if self.config().recording_clock == RecordingClock::Utc {
                    return Ok(DeviceZone::utc());
                }
                let time = self.time().await?;
                DeviceZone::from_device_time(&time).map_err(|reason| {
                    let req = self.xml_request(Method::GET, "/ISAPI/System/time");
                    self.error(&req, ErrorKind::Protocol(reason))
                })
            })
            .await
            .cloned()
    }

    async fn search_gate(&self) -> Result<&Semaphore> {
        self.inner
            .search_gate
            .get_or_try_init(|| async {
                let profile = self.search_profile().await?;
                let permits = profile.max_concurrent_searches.unwrap_or(1).clamp(1, 64);
                Ok(Semaphore::new(permits as usize))
            })
            .await
    }
}

const SEARCH_PROFILE_PATH: &str = "/ISAPI/ContentMgmt/search/profile";

/// Whether a failed profile request means the device has no usable profile (as opposed to
/// a failure that may pass or that concerns every request).
fn profile_unusable(e: &Error) -> bool {
    match &e.kind {
        ErrorKind::BadCredentials { .. }
        | ErrorKind::LockedOut { .. }
        | ErrorKind::CredentialsRejectedEarlier
        | ErrorKind::Connect(_)
        | ErrorKind::Timeout { .. }
        | ErrorKind::Transport { .. }
        | ErrorKind::InvalidRequest(_) => false,
        _ => !e.is_retryable(),
    }
}

fn is_not_supported(e: &Error) -> bool {
    match &e.kind {
        ErrorKind::Device {
            http_status,
            status,
        } => {
            *http_status == 404 || matches!(status.sub_status(), "notSupport" | "invalidOperation")
        }
        ErrorKind::Http { status, .. } => *status == 404,
        _ => false,
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "request",
    }
}

/// Maps a reqwest failure to a kind; `offset` is the body position for mid-body failures.
pub(crate) fn transport_kind(
    e: &reqwest::Error,
    offset: Option<u64>,
    timeout: std::time::Duration,
) -> ErrorKind {
    let reason = response::chain(e);
    if e.is_timeout() {
        ErrorKind::Timeout {
            what: "request",
            after: timeout,
        }
    } else if e.is_connect() {
        ErrorKind::Connect(reason)
    } else {
        ErrorKind::Transport { offset, reason }
    }
}

/// Reads a (small) body as text, refusing more than `limit` bytes.
/// `timeout` is the request's (enforced around the exchange); it only names the limit in
/// errors.
async fn read_text(
    mut response: Response,
    limit: usize,
    timeout: Option<std::time::Duration>,
) -> Result<String, ErrorKind> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| e.kind(body.len() as u64, timeout.unwrap_or_default()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(ErrorKind::Protocol(format!(
                "XML reply larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}
