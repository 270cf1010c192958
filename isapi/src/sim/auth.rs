//! HTTP Digest authentication as Hikvision devices do it (MD5, `qop="auth"`), with the
//! per-address lockout after repeated failed logins.
//!
//! Contract, per device:
//! - A request without credentials, with a malformed `Authorization` header, or with one
//!   for another URI gets a fresh challenge; it is not a failed login.
//! - Credentials with the wrong user, realm or password are a failed login for the client's
//!   address: the answer is 401 with a `userCheck` body telling the attempts left
//!   (`retryLoginTime`). After `lockout_after` failures the address is locked for `lockout`:
//!   every request from it, right password or not, gets 401 with `lockStatus` `lock` and
//!   `unlockTime` (seconds left). A successful login clears the count.
//! - Right credentials with a nonce this device did not issue, one older than
//!   `nonce_lifetime`, or a nonce count already used with that nonce (a replay) get 401
//!   with `stale=TRUE`; that is not a failed login.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use md5::{Digest, Md5};
use rand::Rng;

use super::Limits;
use crate::xml::UserCheck;

/// Nonces kept before old ones are dropped.
const NONCE_TABLE_SIZE: usize = 4096;

/// Why a request was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The `WWW-Authenticate` header to send.
    pub(crate) challenge: String,
    /// The 401 body.
    pub(crate) user_check: UserCheck,
    /// Whether this was a failed login (wrong user or password).
    pub(crate) failed_login: bool,
}

/// A nonce handed out, and the counts it was used with: counts at or below `floor` are
/// taken as used, so the set stays small however often a client reuses the nonce (clients
/// sending requests in parallel may use counts out of order within `COUNT_WINDOW`).
#[derive(Debug)]
struct NonceState {
    issued: Instant,
    floor: u32,
    used_counts: HashSet<u32>,
}

/// Out-of-order nonce counts accepted behind the highest one seen.
const COUNT_WINDOW: u32 = 512;

impl NonceState {
    fn new(issued: Instant) -> Self {
        NonceState {
            issued,
            floor: 0,
            used_counts: HashSet::new(),
        }
    }

    /// Records a use; false for a count already used (a replay) or too far behind.
    fn record(&mut self, count: u32) -> bool {
        if count <= self.floor || !self.used_counts.insert(count) {
            return false;
        }
        if self.used_counts.len() > 2 * COUNT_WINDOW as usize {
            let highest = self.used_counts.iter().copied().max().unwrap_or(count);
            self.floor = highest.saturating_sub(COUNT_WINDOW);
            let floor = self.floor;
            self.used_counts.retain(|&c| c > floor);
        }
        true
    }
}

#[derive(Debug, Default)]
struct AddressState {
    failures: u32,
    locked_until: Option<Instant>,
}

/// One device's Digest verifier.
#[derive(Debug)]
pub(crate) struct DigestAuth {
    realm: String,
    user: String,
    password: String,
    opaque: String,
    nonces: Mutex<HashMap<String, NonceState>>,
    addresses: Mutex<HashMap<IpAddr, AddressState>>,
}

/// The parts of an `Authorization: Digest ...` header the check needs.
#[derive(Debug, Default)]
pub(crate) struct DigestResponse {
    pub(crate) username: String,
    pub(crate) realm: String,
    pub(crate) nonce: String,
    pub(crate) uri: String,
    pub(crate) response: String,
    pub(crate) qop: Option<String>,
    pub(crate) nc: Option<String>,
    pub(crate) cnonce: Option<String>,
    pub(crate) algorithm: Option<String>,
}

impl DigestAuth {
    pub(crate) fn new(realm: String, user: String, password: String) -> Self {
        DigestAuth {
            realm,
            user,
            password,
            opaque: random_hex(),
            nonces: Mutex::new(HashMap::new()),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    /// Checks a request's `Authorization` header. `uri` is the request target as sent
    /// (path and query).
    pub(crate) fn check(
        &self,
        client: IpAddr,
        method: &str,
        uri: &str,
        authorization: Option<&str>,
        limits: &Limits,
    ) -> Result<(), Box<Refusal>> {
        let now = Instant::now();
        if let Some(left) = self.locked_for(client, now) {
            return Err(self.refuse(limits.nonce_lifetime, false, false, locked(left)));
        }
        let Some(header) = authorization else {
            return Err(self.challenge(client, limits));
        };
        let Some(given) = parse_authorization(header) else {
            tracing::debug!(%client, "unreadable Authorization header");
            return Err(self.challenge(client, limits));
        };
        let qop_ok = given
            .qop
            .as_deref()
            .is_some_and(|q| q.eq_ignore_ascii_case("auth"));
        let algorithm_ok = given
            .algorithm
            .as_deref()
            .is_none_or(|a| a.eq_ignore_ascii_case("MD5"));
        let (Some(nc), Some(cnonce), true, true) = (&given.nc, &given.cnonce, qop_ok, algorithm_ok)
        else {
            tracing::debug!(%client, "Digest response without qop=auth, nc and cnonce, or not MD5");
            return Err(self.challenge(client, limits));
        };
        if given.uri != uri {
            tracing::warn!(%client, digest_uri = %given.uri, request_uri = %uri, "Digest uri does not match the request");
            return Err(self.challenge(client, limits));
        }
        let expected = response_digest(
            &self.user,
            &self.realm,
            &self.password,
            method,
            &given.uri,
            &given.nonce,
            nc,
            cnonce,
        );
        if given.username != self.user
            || given.realm != self.realm
            || !given.response.eq_ignore_ascii_case(&expected)
        {
            let check = self.fail(client, limits, now);
            tracing::debug!(%client, user = %given.username, "failed login");
            return Err(self.refuse(limits.nonce_lifetime, false, true, check));
        }
        let Ok(count) = u32::from_str_radix(nc, 16) else {
            return Err(self.challenge(client, limits));
        };
        if !self.use_nonce(&given.nonce, count, limits.nonce_lifetime, now) {
            let check = self.unlocked(client, limits);
            return Err(self.refuse(limits.nonce_lifetime, true, false, check));
        }
        self.lock_addresses().remove(&client);
        Ok(())
    }

    /// Records a nonce use; false when the nonce is unknown, expired or the count replayed.
    fn use_nonce(&self, nonce: &str, count: u32, lifetime: Duration, now: Instant) -> bool {
        let mut nonces = self.lock_nonces();
        let Some(state) = nonces.get_mut(nonce) else {
            return false;
        };
        if now.duration_since(state.issued) >= lifetime {
            return false;
        }
        state.record(count)
    }

    /// Seconds the address stays locked, if it is.
    fn locked_for(&self, client: IpAddr, now: Instant) -> Option<u64> {
        let mut addresses = self.lock_addresses();
        let state = addresses.get_mut(&client)?;
        let until = state.locked_until?;
        if until <= now {
            addresses.remove(&client);
            return None;
        }
        Some(until.duration_since(now).as_secs_f64().ceil() as u64)
    }

    /// Counts a failed login; the body to answer it with.
    fn fail(&self, client: IpAddr, limits: &Limits, now: Instant) -> UserCheck {
        let mut addresses = self.lock_addresses();
        let state = addresses.entry(client).or_default();
        state.failures += 1;
        if limits.lockout_after > 0 && state.failures >= limits.lockout_after {
            state.locked_until = Some(now + limits.lockout);
            tracing::info!(%client, failures = state.failures, lockout = ?limits.lockout, "address locked out");
            return locked(limits.lockout.as_secs_f64().ceil() as u64);
        }
        unlocked_check(attempts_left(limits, state.failures))
    }

    /// A fresh challenge, not stale, not a failed login.
    fn challenge(&self, client: IpAddr, limits: &Limits) -> Box<Refusal> {
        let check = self.unlocked(client, limits);
        self.refuse(limits.nonce_lifetime, false, false, check)
    }

    fn unlocked(&self, client: IpAddr, limits: &Limits) -> UserCheck {
        let failures = self.lock_addresses().get(&client).map_or(0, |s| s.failures);
        unlocked_check(attempts_left(limits, failures))
    }

    fn refuse(
        &self,
        nonce_lifetime: Duration,
        stale: bool,
        failed_login: bool,
        user_check: UserCheck,
    ) -> Box<Refusal> {
        let nonce = random_hex();
        {
            let now = Instant::now();
            let mut nonces = self.lock_nonces();
            if nonces.len() >= NONCE_TABLE_SIZE {
                // Expired nonces only ever get `stale`, as unknown ones do.
                nonces.retain(|_, s| now.duration_since(s.issued) < nonce_lifetime);
                if nonces.len() >= NONCE_TABLE_SIZE {
                    tracing::warn!(
                        nonces = nonces.len(),
                        "nonce table full of live nonces; forgetting them"
                    );
                    nonces.clear();
                }
            }
            nonces.insert(nonce.clone(), NonceState::new(now));
        }
        let stale = if stale { ", stale=TRUE" } else { "" };
        Box::new(Refusal {
            challenge: format!(
                "Digest realm=\"{}\", qop=\"auth\", nonce=\"{nonce}\", opaque=\"{}\", algorithm=MD5{stale}",
                self.realm, self.opaque
            ),
            user_check,
            failed_login,
        })
    }

    fn lock_nonces(&self) -> std::sync::MutexGuard<'_, HashMap<String, NonceState>> {
        self.nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_addresses(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, AddressState>> {
        self.addresses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Failed logins left before a lockout; `None` when the device never locks.
fn attempts_left(limits: &Limits, failures: u32) -> Option<u32> {
    (limits.lockout_after > 0).then(|| limits.lockout_after.saturating_sub(failures))
}

fn locked(seconds_left: u64) -> UserCheck {
    UserCheck {
        version: Some("2.0".to_owned()),
        status_value: Some(401),
        status_string: Some("Unauthorized".to_owned()),
        lock_status: Some("lock".to_owned()),
        unlock_time: Some(seconds_left),
        retry_login_time: Some(0),
    }
}

fn unlocked_check(attempts_left: Option<u32>) -> UserCheck {
    UserCheck {
        version: Some("2.0".to_owned()),
        status_value: Some(401),
        status_string: Some("Unauthorized".to_owned()),
        lock_status: Some("unlock".to_owned()),
        unlock_time: None,
        retry_login_time: attempts_left,
    }
}

/// `MD5(HA1:nonce:nc:cnonce:auth:HA2)` in lower-case hex (RFC 7616, qop=auth).
#[allow(clippy::too_many_arguments)]
pub(crate) fn response_digest(
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
}

pub(crate) fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random_hex() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

/// Reads `Digest k="v", k=v, ...`; `None` when it is not Digest or lacks a required field.
pub(crate) fn parse_authorization(header: &str) -> Option<DigestResponse> {
    let header = header.trim();
    let scheme = header.get(..6)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut rest = header.get(6..)?;
    let mut out = DigestResponse::default();
    let (mut username, mut realm, mut nonce, mut uri, mut response) =
        (None, None, None, None, None);
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            text.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => text.push(c),
                }
            }
            value = text;
            rest = &quoted[end? + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        match key.as_str() {
            "username" => username = Some(value),
            "realm" => realm = Some(value),
            "nonce" => nonce = Some(value),
            "uri" => uri = Some(value),
            "response" => response = Some(value),
            "qop" => out.qop = Some(value),
            "nc" => out.nc = Some(value),
            "cnonce" => out.cnonce = Some(value),
            "algorithm" => out.algorithm = Some(value),
            _ => {}
        }
    }
    out.username = username?;
    out.realm = realm?;
    out.nonce = nonce?;
    out.uri = uri?;
    out.response = response?;
    Some(out)
}
