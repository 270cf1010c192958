//! The size and CRC-32 of recordings as the simulator says an undamaged download returns
//! them (`GET /sim/checksum?playbackURI=...`, no auth), fetched outside the measured time.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::work::WorkList;
use crate::BoxError;

/// Checksum requests at once.
const AT_ONCE: usize = 32;

/// What `/sim/checksum` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct Checksum {
    pub(crate) bytes: u64,
    pub(crate) crc32: u32,
}

/// Checksums by playback URI.
#[derive(Debug, Default)]
pub(crate) struct Checksums {
    by_uri: HashMap<String, Checksum>,
}

impl Checksums {
    /// Fetches the checksums of the work list's `items` not known yet.
    pub(crate) async fn fetch(
        &mut self,
        work: &WorkList,
        items: impl IntoIterator<Item = usize>,
    ) -> Result<(), BoxError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let mut wanted: Vec<usize> = items
            .into_iter()
            .filter(|&item| !self.by_uri.contains_key(&work.recording(item).playback_uri))
            .collect();
        wanted.sort_by_key(|&item| &work.recording(item).playback_uri);
        wanted.dedup_by_key(|item| &work.recording(*item).playback_uri);
        let fetched: Vec<(String, Checksum)> = futures::stream::iter(wanted)
            .map(|item| {
                let http = &http;
                async move {
                    let uri = &work.recording(item).playback_uri;
                    let url = format!(
                        "{}/sim/checksum?playbackURI={}",
                        work.camera_of(item).url,
                        utf8_percent_encode(uri, NON_ALPHANUMERIC)
                    );
                    let checksum = fetch_one(http, &url)
                        .await
                        .map_err(|e| format!("GET {url}: {e}"))?;
                    Ok::<_, String>((uri.clone(), checksum))
                }
            })
            .buffer_unordered(AT_ONCE)
            .try_collect()
            .await?;
        self.by_uri.extend(fetched);
        Ok(())
    }

    /// The checksum of the work list's `item`, if fetched.
    pub(crate) fn get(&self, work: &WorkList, item: usize) -> Option<Checksum> {
        self.by_uri.get(&work.recording(item).playback_uri).copied()
    }
}

async fn fetch_one(http: &reqwest::Client, url: &str) -> Result<Checksum, String> {
    let response = http.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("unexpected answer: {e}"))
}
