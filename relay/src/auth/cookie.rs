//! The refresh token as a cookie, for the operators' console (docs/design/0090, "Tokens in
//! the browser"): `dipper_refresh`, HttpOnly (out of scripts' reach), SameSite=Strict (never
//! sent by another site's request), path `/api/v1/auth` (sent to nothing else), Secure unless
//! the relay is reached on a loopback address (a browser drops Secure cookies over plain
//! HTTP, and a developer's `http://127.0.0.1` has no TLS).
//!
//! Only `/api/v1/auth/refresh` and `/logout` read it, and only when the JSON body says
//! `"cookie": true`: a cross-site form cannot send JSON without a preflight the relay does
//! not grant, and a request whose `Origin` is not the relay's own is refused outright.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::error::ApiError;
use crate::state::AppState;

/// The cookie's name.
pub const NAME: &str = "dipper_refresh";
const PATH: &str = "/api/v1/auth";

/// What a request brought and how the answer's cookie is to be set.
#[derive(Debug)]
pub struct Jar {
    token: Option<String>,
    secure: bool,
    max_age_seconds: u64,
}

impl Jar {
    /// [`Jar::new`] when the request `asked` for the cookie (its `cookie: true`), else none.
    pub fn if_asked(
        asked: bool,
        state: &AppState,
        headers: &HeaderMap,
    ) -> Result<Option<Jar>, ApiError> {
        asked.then(|| Jar::new(state, headers)).transpose()
    }

    /// Reads the request's cookie; refuses (403) a request sent from another origin.
    pub fn new(state: &AppState, headers: &HeaderMap) -> Result<Jar, ApiError> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or_default();
            let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
            if host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
                return Err(ApiError::forbidden(
                    "the refresh cookie is only accepted from the relay's own pages",
                ));
            }
        }
        Ok(Jar {
            token: read(headers),
            secure: !is_loopback(host),
            max_age_seconds: state.config.auth.refresh_token_seconds,
        })
    }

    /// The refresh token the request's cookie carried.
    pub fn token(&self) -> Option<String> {
        self.token.clone()
    }

    /// `Set-Cookie` for `token`.
    pub fn set(&self, token: &str) -> HeaderValue {
        self.header(token, self.max_age_seconds)
    }

    /// `Set-Cookie` that removes the cookie.
    pub fn clear(&self) -> HeaderValue {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{NAME}={value}; Path={PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        ))
        .expect("a token is URL-safe text")
    }
}

/// The `dipper_refresh` value among the request's cookies (an emptied one is none).
fn read(headers: &HeaderMap) -> Option<String> {
    web_common::cookies(headers, NAME)
        .find(|value| !value.is_empty())
        .map(str::to_owned)
}

/// Whether `host` (a `Host` header: name or address, maybe a port) is this machine.
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_told_apart_from_others() {
        for host in ["127.0.0.1:8080", "localhost", "[::1]:80", "127.0.0.2"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "relay.example.com",
            "10.0.0.5:8080",
            "",
            "[2001:db8::1]:443",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; dipper_refresh=abc; b=2"),
        );
        assert_eq!(read(&headers).as_deref(), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("dipper_refresh="));
        assert_eq!(read(&headers), None);
    }
}
