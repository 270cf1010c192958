//! Trying a camera or NVR before it is stored (the local page's "test"): what it is, its
//! channels, whether its clock is far off, or what is wrong in words an installer can act
//! on ([`Problem`]).
//!
//! A wrong password costs the device's attempts, and devices lock an address out after a
//! few. So a password the device rejected is remembered (its digest, for an hour, by
//! address and user) and not sent again, and when the device says one attempt is left the
//! box sends nothing more for that address and user until the hour has passed.

use std::{collections::HashMap, time::Duration};

use parking_lot::Mutex;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// How long a rejection is remembered.
const REMEMBER_MS: i64 = 3600 * 1000;
/// A clock this far from the box's is reported.
pub(crate) const CLOCK_OFF_SECONDS: i64 = 120;
/// How long one probe waits for the device.
const TIMEOUT: Duration = Duration::from_secs(15);

/// What a probe found.
#[derive(Debug, Clone)]
pub(crate) enum ProbeAnswer {
    Found(Found),
    Failed(Problem),
}

impl ProbeAnswer {
    /// `{"ok": true, ...Found}` or `{"ok": false, ...Problem}`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let (value, ok) = match self {
            ProbeAnswer::Found(found) => (serde_json::to_value(found), true),
            ProbeAnswer::Failed(problem) => (serde_json::to_value(problem), false),
        };
        let mut value = value.unwrap_or_default();
        value["ok"] = ok.into();
        value
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Found {
    /// `camera`, or `nvr` when it records other cameras (its channels are listed).
    pub(crate) device_type: &'static str,
    pub(crate) model: String,
    pub(crate) serial: String,
    pub(crate) firmware: Option<String>,
    pub(crate) channels: Vec<Channel>,
    pub(crate) warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Channel {
    /// The main-stream recording track (101 for channel 1).
    pub(crate) track: u32,
    pub(crate) name: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Warning {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) offset_seconds: Option<i64>,
}

/// Why a device cannot be used, as a code the page words and a sentence.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Problem {
    /// `unreachable`, `timeout`, `not_isapi`, `wrong_password`, `locked_out`,
    /// `certificate`, `no_tracks` or `other`.
    pub(crate) problem: &'static str,
    pub(crate) message: String,
    pub(crate) attempts_left: Option<u32>,
    pub(crate) locked_until_ms: Option<i64>,
}

impl Problem {
    fn new(problem: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            problem,
            message: message.into(),
            attempts_left: None,
            locked_until_ms: None,
        }
    }
}

/// The problem an ISAPI error is.
pub(crate) fn classify(error: &isapi::Error, now_ms: i64) -> Problem {
    use isapi::ErrorKind as K;
    let text = error.kind.to_string();
    let mentions_certificate = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.contains("certificate") || s.contains("tls") || s.contains("handshake")
    };
    match &error.kind {
        K::BadCredentials { attempts_left } => Problem {
            attempts_left: *attempts_left,
            ..Problem::new("wrong_password", text)
        },
        K::CredentialsRejectedEarlier => Problem::new("wrong_password", text),
        K::LockedOut { unlock_after } => Problem {
            locked_until_ms: unlock_after.map(|d| now_ms + d.as_millis() as i64),
            ..Problem::new("locked_out", text)
        },
        _ if error.is_credentials() => Problem::new("wrong_password", text),
        K::Connect(reason) | K::Transport { reason, .. } if mentions_certificate(reason) => {
            Problem::new("certificate", text)
        }
        K::Connect(_) | K::Transport { .. } => Problem::new("unreachable", text),
        K::Timeout { .. } | K::Stalled { .. } => Problem::new("timeout", text),
        K::Http {
            status: 400 | 404 | 405 | 501,
            ..
        } => Problem::new(
            "not_isapi",
            format!("{text}: the address answers HTTP but not as a Hikvision ISAPI device"),
        ),
        K::Xml(_) | K::Protocol(_) => {
            Problem::new("not_isapi", format!("{text}: the answer is not ISAPI's"))
        }
        K::InvalidRequest(_) => Problem::new("other", text),
        _ => Problem::new("other", text),
    }
}

/// Rejected passwords, by (address, user).
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    seen: Mutex<HashMap<(String, String), Rejection>>,
}

#[derive(Debug, Clone)]
struct Rejection {
    digests: Vec<[u8; 32]>,
    attempts_left: Option<u32>,
    at_ms: i64,
}

fn digest(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

impl Rejections {
    /// A problem to answer without asking the device, when asking could lock it.
    pub(crate) fn refuse(
        &self,
        url: &str,
        user: &str,
        password: &str,
        now_ms: i64,
    ) -> Option<Problem> {
        let mut seen = self.seen.lock();
        seen.retain(|_, r| now_ms - r.at_ms < REMEMBER_MS);
        let rejection = seen.get(&(url.to_owned(), user.to_owned()))?;
        if rejection.digests.contains(&digest(password)) {
            return Some(Problem {
                attempts_left: rejection.attempts_left,
                ..Problem::new(
                    "wrong_password",
                    "the device rejected this password a moment ago; it was not sent again \
                     (each try costs one of the device's attempts)",
                )
            });
        }
        if rejection.attempts_left.is_some_and(|n| n <= 1) {
            return Some(Problem {
                attempts_left: rejection.attempts_left,
                ..Problem::new(
                    "wrong_password",
                    "the device has one attempt left before it locks this box out; the box \
                     will not try another password for an hour. Check the password on the \
                     device or its NVR, or reset the lock there",
                )
            });
        }
        None
    }

    /// Remembers a rejected password.
    pub(crate) fn rejected(
        &self,
        url: &str,
        user: &str,
        password: &str,
        attempts_left: Option<u32>,
        now_ms: i64,
    ) {
        let mut seen = self.seen.lock();
        let entry = seen
            .entry((url.to_owned(), user.to_owned()))
            .or_insert_with(|| Rejection {
                digests: Vec::new(),
                attempts_left: None,
                at_ms: now_ms,
            });
        entry.digests.push(digest(password));
        entry.attempts_left = attempts_left.or(entry.attempts_left);
        entry.at_ms = now_ms;
    }

    /// Forgets (address, user) once a password worked.
    pub(crate) fn accepted(&self, url: &str, user: &str) {
        self.seen.lock().remove(&(url.to_owned(), user.to_owned()));
    }
}

/// Probes the device at `url`.
pub(crate) async fn probe(
    client: &isapi::Client,
    rejections: &Rejections,
    url: &str,
    user: &str,
    password: &str,
) -> ProbeAnswer {
    let now = crate::access::now_ms();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return ProbeAnswer::Failed(Problem::new(
            "other",
            "the address must start with http:// or https:// (e.g. http://192.168.1.64)",
        ));
    }
    if let Some(problem) = rejections.refuse(url, user, password, now) {
        return ProbeAnswer::Failed(problem);
    }
    let device = match client.device(url, user, password) {
        Ok(device) => device,
        Err(e) => return ProbeAnswer::Failed(Problem::new("other", e)),
    };
    let discovery = match discover(&device, rejections, url, user, password, now).await {
        Ok(discovery) => discovery,
        Err(problem) => return ProbeAnswer::Failed(problem),
    };
    let channels = channels_of(&discovery);
    let mut warnings: Vec<Warning> = clock_warning(&device).await.into_iter().collect();
    if channels.is_empty() {
        warnings.push(Warning {
            code: "no_tracks",
            message: "the device lists no recording track: it records nothing the box can search"
                .to_owned(),
            offset_seconds: None,
        });
    }
    ProbeAnswer::Found(Found {
        device_type: if discovery.proxy_channels.is_empty() {
            "camera"
        } else {
            "nvr"
        },
        model: discovery.info.model.clone(),
        serial: discovery.info.serial_number.clone(),
        firmware: discovery.info.firmware_version.clone(),
        channels,
        warnings,
    })
}

/// Asks the device what it is, within [`TIMEOUT`]; a password it rejects is remembered in
/// `rejections`, one it accepts clears them.
async fn discover(
    device: &isapi::Device,
    rejections: &Rejections,
    url: &str,
    user: &str,
    password: &str,
    now: i64,
) -> Result<isapi::Discovery, Problem> {
    match tokio::time::timeout(TIMEOUT, device.discover()).await {
        Ok(Ok(discovery)) => {
            rejections.accepted(url, user);
            Ok(discovery)
        }
        Ok(Err(e)) => {
            let problem = classify(&e, now);
            if problem.problem == "wrong_password" {
                rejections.rejected(url, user, password, problem.attempts_left, now);
            }
            Err(problem)
        }
        Err(_) => Err(Problem::new(
            "timeout",
            format!("no answer within {} s", TIMEOUT.as_secs()),
        )),
    }
}

/// The device's main-stream tracks, named after its proxy channels where it has them.
fn channels_of(discovery: &isapi::Discovery) -> Vec<Channel> {
    let names: HashMap<u32, String> = discovery
        .proxy_channels
        .iter()
        .filter_map(|c| c.name.clone().map(|n| (c.id, n)))
        .collect();
    super::cameras::main_tracks(discovery)
        .into_iter()
        .map(|track| Channel {
            track,
            name: names
                .get(&(track / 100))
                .cloned()
                .unwrap_or_else(|| format!("Channel {}", track / 100)),
        })
        .collect()
}

/// A warning when the device's clock is more than [`CLOCK_OFF_SECONDS`] from the box's
/// (nothing when it does not answer or its time does not parse).
async fn clock_warning(device: &isapi::Device) -> Option<Warning> {
    let Ok(Ok(time)) = tokio::time::timeout(TIMEOUT, device.time()).await else {
        return None;
    };
    let device_now = time.local_time.parse::<jiff::Timestamp>().ok()?;
    let offset = (device_now.as_millisecond() - crate::access::now_ms()) / 1000;
    (offset.abs() > CLOCK_OFF_SECONDS).then(|| Warning {
        code: "clock_off",
        message: format!(
            "the device's clock is {} s {} the box's; recordings would be searched at the wrong times. Set NTP on the device",
            offset.abs(),
            if offset > 0 { "ahead of" } else { "behind" }
        ),
        offset_seconds: Some(offset),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_password_is_not_sent_again_and_the_last_attempt_is_kept() {
        let rejections = Rejections::default();
        let (url, user) = ("http://192.0.2.1", "admin");
        assert!(rejections.refuse(url, user, "one", 0).is_none());
        rejections.rejected(url, user, "one", Some(3), 0);
        let again = rejections
            .refuse(url, user, "one", 1_000)
            .expect("remembered");
        assert_eq!(again.problem, "wrong_password");
        assert_eq!(again.attempts_left, Some(3));
        assert!(
            rejections.refuse(url, user, "two", 1_000).is_none(),
            "another password may be tried"
        );
        assert!(
            rejections.refuse(url, "other", "one", 1_000).is_none(),
            "another user"
        );
        rejections.rejected(url, user, "two", Some(1), 2_000);
        let last = rejections
            .refuse(url, user, "three", 3_000)
            .expect("protected");
        assert!(
            last.message.contains("one attempt left"),
            "{}",
            last.message
        );
        assert!(
            rejections
                .refuse(url, user, "three", 2_000 + REMEMBER_MS)
                .is_none(),
            "forgotten after an hour"
        );
        rejections.rejected(url, user, "four", None, 0);
        rejections.accepted(url, user);
        assert!(rejections.refuse(url, user, "four", 1).is_none());
    }
}
