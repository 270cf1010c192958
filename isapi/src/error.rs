//! The client's error: what went wrong ([`ErrorKind`]), on which device, URL and track, and
//! whether trying again can help ([`Error::is_retryable`]).
//!
//! Kinds are mapped on purpose: a device-busy answer, a 503, a timeout or a stalled body is
//! retryable; a rejected credential, a lockout, an unsupported request or a malformed reply
//! is not. A rejected credential is never retried by the client itself.

use std::time::Duration;

use crate::xml::{ResponseStatus, XmlError};

/// An ISAPI request that failed, with enough context to find it on the device.
#[derive(Debug, thiserror::Error)]
#[error("{kind} [device {device}, {method} {url}{}]", track_suffix(*.track))]
pub struct Error {
    pub kind: ErrorKind,
    /// The device's name as the caller gave it, or its address.
    pub device: String,
    pub method: &'static str,
    /// The request path (never the credentials).
    pub url: String,
    /// The recording track (101 = channel 1 main stream) the request was about, if any.
    pub track: Option<u32>,
}

fn track_suffix(track: Option<u32>) -> String {
    track.map(|t| format!(", track {t}")).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// The device rejected the user name or password. Permanent: devices lock an address out
    /// after a few failures, so the client will not send these credentials again.
    #[error("user name or password rejected by the device{}", attempts_left.map(|n| format!(" ({n} attempts left before lockout)")).unwrap_or_default())]
    BadCredentials { attempts_left: Option<u32> },
    /// The device locked this address out after failed logins.
    #[error("this address is locked out by the device after failed logins{}", unlock_after.map(|d| format!("; unlocks in {} s", d.as_secs())).unwrap_or_default())]
    LockedOut { unlock_after: Option<Duration> },
    /// A credential was rejected earlier; nothing was sent. Change the credentials first.
    #[error("not sent: the device rejected these credentials earlier; set new ones first")]
    CredentialsRejectedEarlier,
    /// The device answered with a `ResponseStatus` saying it did not do what was asked.
    #[error("device refused: HTTP {http_status}, statusCode {} ({}), subStatusCode {:?}", status.status_code, status.status_string.as_deref().unwrap_or(""), status.sub_status())]
    Device {
        http_status: u16,
        status: Box<ResponseStatus>,
    },
    /// A download answered with an XML document where video was expected.
    #[error("device sent XML instead of video: statusCode {} ({}), subStatusCode {:?}", status.status_code, status.status_string.as_deref().unwrap_or(""), status.sub_status())]
    Refused { status: Box<ResponseStatus> },
    /// An HTTP error status without a readable `ResponseStatus`.
    #[error("HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http { status: u16, body: String },
    /// The TCP connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// No answer within the configured time.
    #[error("no answer within {} ms ({what})", after.as_millis())]
    Timeout { what: &'static str, after: Duration },
    /// A download body stopped delivering bytes.
    #[error("download stalled: no bytes for {} ms after byte {offset}", after.as_millis())]
    Stalled { after: Duration, offset: u64 },
    /// A download body ended before its announced length.
    #[error("download truncated at byte {offset} of {expected}")]
    Truncated { offset: u64, expected: u64 },
    /// The connection failed mid-request or mid-body.
    #[error("connection failed{}: {reason}", offset.map(|o| format!(" at byte {o}")).unwrap_or_default())]
    Transport { offset: Option<u64>, reason: String },
    /// A reply that could not be read.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// A reply that was read but makes no sense (e.g. MORE with no matches).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The caller asked for something impossible (bad URL, bad time span).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl Error {
    /// Whether the same request may succeed later (busy, unavailable, timeouts, stalls,
    /// truncation, dropped connections). Never true for credentials.
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            ErrorKind::Device {
                http_status,
                status,
            } => {
                status_is_retryable(status)
                    || (matches!(http_status, 500 | 502 | 503 | 504)
                        && status.sub_status().is_empty())
            }
            ErrorKind::Refused { status } => status_is_retryable(status),
            ErrorKind::Http { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            ErrorKind::Connect(_)
            | ErrorKind::Timeout { .. }
            | ErrorKind::Stalled { .. }
            | ErrorKind::Truncated { .. }
            | ErrorKind::Transport { .. } => true,
            ErrorKind::BadCredentials { .. }
            | ErrorKind::LockedOut { .. }
            | ErrorKind::CredentialsRejectedEarlier
            | ErrorKind::Xml(_)
            | ErrorKind::Protocol(_)
            | ErrorKind::InvalidRequest(_) => false,
        }
    }

    /// Whether the failure is about the credentials (rejected, locked out, or not sent).
    pub fn is_credentials(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::BadCredentials { .. }
                | ErrorKind::LockedOut { .. }
                | ErrorKind::CredentialsRejectedEarlier
        ) || matches!(&self.kind, ErrorKind::Device { status, .. } if status.sub_status() == "badAuthorization")
    }

    /// Whether the device said it is busy (too many downloads or searches at once).
    pub fn is_device_busy(&self) -> bool {
        match &self.kind {
            ErrorKind::Device { status, .. } | ErrorKind::Refused { status } => {
                status.status_code == 2 || status.sub_status() == "deviceBusy"
            }
            _ => false,
        }
    }

    /// The device's `subStatusCode`, when it sent one.
    pub fn sub_status(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Device { status, .. } | ErrorKind::Refused { status } => {
                Some(status.sub_status())
            }
            _ => None,
        }
    }
}

/// Whether a `ResponseStatus` reports a passing condition (busy, transient fault).
fn status_is_retryable(status: &ResponseStatus) -> bool {
    match status.sub_status() {
        "deviceBusy" | "deviceError" | "noMemory" | "timeout" => true,
        "" => matches!(status.status_code, 2 | 3),
        _ => false,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: ErrorKind) -> Error {
        Error {
            kind,
            device: "cam1".into(),
            method: "GET",
            url: "/ISAPI/ContentMgmt/download".into(),
            track: Some(101),
        }
    }

    fn status(code: u32, sub: &str) -> Box<ResponseStatus> {
        Box::new(ResponseStatus::new("/x", code, "s", sub))
    }

    #[test]
    fn kinds_map_to_retryability() {
        let cases = [
            (
                ErrorKind::BadCredentials {
                    attempts_left: Some(3),
                },
                false,
            ),
            (ErrorKind::LockedOut { unlock_after: None }, false),
            (
                ErrorKind::Device {
                    http_status: 503,
                    status: status(2, "deviceBusy"),
                },
                true,
            ),
            (
                ErrorKind::Device {
                    http_status: 200,
                    status: status(4, "notSupport"),
                },
                false,
            ),
            (
                ErrorKind::Device {
                    http_status: 403,
                    status: status(4, "lowPrivilege"),
                },
                false,
            ),
            (
                ErrorKind::Device {
                    http_status: 401,
                    status: status(4, "badAuthorization"),
                },
                false,
            ),
            (
                ErrorKind::Device {
                    http_status: 400,
                    status: status(6, "badXmlContent"),
                },
                false,
            ),
            (
                ErrorKind::Device {
                    http_status: 500,
                    status: status(3, ""),
                },
                true,
            ),
            (
                ErrorKind::Refused {
                    status: status(4, "notSupport"),
                },
                false,
            ),
            (
                ErrorKind::Http {
                    status: 503,
                    body: String::new(),
                },
                true,
            ),
            (
                ErrorKind::Http {
                    status: 404,
                    body: String::new(),
                },
                false,
            ),
            (
                ErrorKind::Stalled {
                    after: Duration::from_secs(1),
                    offset: 5,
                },
                true,
            ),
            (
                ErrorKind::Truncated {
                    offset: 5,
                    expected: 9,
                },
                true,
            ),
            (ErrorKind::Protocol("x".into()), false),
        ];
        for (kind, want) in cases {
            let e = err(kind);
            assert_eq!(e.is_retryable(), want, "{e}");
        }
    }

    #[test]
    fn message_names_device_url_and_track() {
        let e = err(ErrorKind::Truncated {
            offset: 5,
            expected: 9,
        });
        assert_eq!(
            e.to_string(),
            "download truncated at byte 5 of 9 [device cam1, GET /ISAPI/ContentMgmt/download, track 101]"
        );
        let e = err(ErrorKind::BadCredentials {
            attempts_left: Some(2),
        });
        assert!(e.to_string().contains("2 attempts left"), "{e}");
        assert!(e.is_credentials());
    }
}
