//! One snapshot to the object store: the JPEG file PUT to its presigned URL with
//! `Content-Type: image/jpeg` (the content type the URL is signed for), and what the
//! answer means for the grant.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;

use crate::uplink::error_chain;

/// How one upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Put {
    /// Stored: the file's bytes.
    Uploaded { bytes: u64 },
    /// The store could not be reached, timed out, or failed (5xx, 408, 429): try again.
    Unavailable(String),
    /// The store will not take it with this grant (403: expired or not signed for it; any
    /// other 4xx): the relay must grant again.
    Refused(String),
    /// The file is not there (retention removed it) or cannot be read: never retried.
    FileGone(String),
}

/// PUTs the file at `path` to `url`.
pub(super) async fn put_jpeg(
    http: &reqwest::Client,
    url: &str,
    path: &Path,
    timeout: Duration,
) -> Put {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(e) => return Put::FileGone(format!("{}: {e}", path.display())),
    };
    let size = bytes.len() as u64;
    let sent = http
        .put(url)
        .header(reqwest::header::CONTENT_TYPE, "image/jpeg")
        .timeout(timeout)
        .body(bytes)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        // Without the URL: its query is the signature.
        Err(e) => {
            let e = e.without_url();
            return Put::Unavailable(format!("{}: {}", shown(url), error_chain(&e)));
        }
    };
    let status = response.status();
    if status.is_success() {
        return Put::Uploaded { bytes: size };
    }
    let reason = format!("{} answered {status}", shown(url));
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Put::Unavailable(reason)
    } else {
        Put::Refused(reason)
    }
}

/// A presigned URL without its query (the signature): fit for a log line.
pub(super) fn shown(url: &str) -> &str {
    url.split_once('?').map_or(url, |(base, _)| base)
}
