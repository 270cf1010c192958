//! Digest authentication state of one device (RFC 7616, MD5, qop=auth).
//!
//! The device's last challenge is kept and reused with an increasing nonce count, so a
//! request normally costs one round trip. Until the credentials have been accepted once,
//! requests log in one at a time: a wrong password costs the device one failed login, not
//! one per request in flight. A rejection is remembered per credentials generation.

use std::sync::{Mutex, MutexGuard};

use digest_auth::{AuthContext, HttpMethod, WwwAuthenticateHeader};

use crate::error::ErrorKind;

#[derive(Debug)]
pub(super) struct AuthState {
    inner: Mutex<Inner>,
    /// Held by the request that logs in while the credentials are not yet known to work.
    login: tokio::sync::Mutex<()>,
}

struct Inner {
    user: String,
    password: String,
    /// Bumped when the credentials change.
    generation: u64,
    rejected: Option<u64>,
    accepted: Option<u64>,
    challenge: Option<WwwAuthenticateHeader>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("generation", &self.generation)
            .field("rejected", &self.rejected)
            .field("accepted", &self.accepted)
            .finish_non_exhaustive()
    }
}

/// A parsed `WWW-Authenticate: Digest ...` header.
#[derive(Debug)]
pub(super) struct Challenge(WwwAuthenticateHeader);

impl Challenge {
    pub(super) fn parse(header: &str) -> Option<Challenge> {
        let trimmed = header.trim_start();
        if !trimmed.get(..6)?.eq_ignore_ascii_case("digest") {
            return None;
        }
        digest_auth::parse(trimmed).ok().map(Challenge)
    }

    pub(super) fn is_stale(&self) -> bool {
        self.0.stale
    }
}

/// What one attempt sent.
#[derive(Debug)]
pub(super) struct Sent {
    pub header: Option<String>,
    pub generation: u64,
    /// The nonce was used for the first time (nonce count 1): a 401 means the credentials
    /// themselves are wrong, not that the nonce aged.
    pub first_use: bool,
}

impl AuthState {
    pub(super) fn new(user: &str, password: &str) -> Self {
        AuthState {
            inner: Mutex::new(Inner {
                user: user.to_owned(),
                password: password.to_owned(),
                generation: 0,
                rejected: None,
                accepted: None,
                challenge: None,
            }),
            login: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn set_credentials(&self, user: &str, password: &str) {
        let mut inner = self.lock();
        inner.user = user.to_owned();
        inner.password = password.to_owned();
        inner.generation += 1;
        inner.rejected = None;
        inner.accepted = None;
        // New credentials start from a fresh challenge, so that a 401 on them is a verdict
        // on them alone (one failed login), never blamed on an aged nonce and retried.
        inner.challenge = None;
    }

    /// Whether the current credentials have been accepted by the device.
    pub(super) fn is_accepted(&self) -> bool {
        let inner = self.lock();
        inner.accepted == Some(inner.generation)
    }

    /// Serialises logins while the credentials are unproven.
    pub(super) async fn login_gate(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.login.lock().await
    }

    /// The `Authorization` header for the next request (none before the first challenge).
    pub(super) fn authorization(&self, method: &str, uri: &str) -> Result<Sent, ErrorKind> {
        let mut inner = self.lock();
        if inner.rejected == Some(inner.generation) {
            return Err(ErrorKind::CredentialsRejectedEarlier);
        }
        let generation = inner.generation;
        let Inner {
            user,
            password,
            challenge,
            ..
        } = &mut *inner;
        let Some(challenge) = challenge.as_mut() else {
            return Ok(Sent {
                header: None,
                generation,
                first_use: false,
            });
        };
        let context = AuthContext::new_with_method(
            user.as_str(),
            password.as_str(),
            uri,
            None::<&[u8]>,
            HttpMethod::from(method),
        );
        let answer = challenge
            .respond(&context)
            .map_err(|e| ErrorKind::Protocol(format!("cannot answer the Digest challenge: {e}")))?;
        Ok(Sent {
            header: Some(answer.to_header_string()),
            generation,
            first_use: answer.nc == 1,
        })
    }

    pub(super) fn store_challenge(&self, challenge: Challenge) {
        self.lock().challenge = Some(challenge.0);
    }

    pub(super) fn accept(&self, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation {
            inner.accepted = Some(generation);
        }
    }

    pub(super) fn reject(&self, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation {
            inner.rejected = Some(generation);
            inner.accepted = None;
            inner.challenge = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = r#"Digest realm="IP Camera(C0001)", qop="auth", nonce="4e6a6b3a", opaque="5ccc", algorithm=MD5, stale="FALSE""#;

    #[test]
    fn nonce_count_increases_and_first_use_is_flagged() {
        let auth = AuthState::new("admin", "pw");
        let none = auth.authorization("GET", "/ISAPI/System/time");
        assert!(matches!(none, Ok(Sent { header: None, .. })));
        auth.store_challenge(Challenge::parse(CHALLENGE).expect("challenge parses"));
        let first = auth.authorization("GET", "/a").expect("first");
        let second = auth.authorization("GET", "/a").expect("second");
        assert!(first.first_use && !second.first_use);
        let h1 = first.header.expect("header");
        let h2 = second.header.expect("header");
        assert!(
            h1.contains("nc=00000001") && h2.contains("nc=00000002"),
            "{h1} / {h2}"
        );
        assert!(
            h1.contains(r#"username="admin""#) && h1.contains("qop=auth"),
            "{h1}"
        );
    }

    #[test]
    fn rejection_is_remembered_until_credentials_change() {
        let auth = AuthState::new("admin", "wrong");
        auth.store_challenge(Challenge::parse(CHALLENGE).expect("challenge parses"));
        let sent = auth.authorization("GET", "/a").expect("sent");
        auth.reject(sent.generation);
        assert!(matches!(
            auth.authorization("GET", "/a"),
            Err(ErrorKind::CredentialsRejectedEarlier)
        ));
        auth.set_credentials("admin", "right");
        assert!(auth.authorization("GET", "/a").is_ok());
    }

    #[test]
    fn only_digest_challenges_are_taken() {
        assert!(Challenge::parse(r#"Basic realm="x""#).is_none());
        let stale = Challenge::parse(&CHALLENGE.replace("FALSE", "TRUE")).expect("parses");
        assert!(stale.is_stale());
    }
}
