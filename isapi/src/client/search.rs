//! Recording search as a lazy, paginated stream.
//!
//! [`Device::search`] asks one page at a time and yields its recordings; the next page is
//! asked only when the consumer wants more, so a year of recordings is never held in
//! memory. Pages follow `searchResultPostion`; when a device ignores the position (it
//! answers the first page again), the search restarts from the last recording's start time
//! and skips what was already yielded. Page requests pass through the device's search gate,
//! so a device that runs one search at a time gets one at a time.

use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use jiff::{Timestamp, civil::DateTime};
use reqwest::Method;

use super::{Device, Request, SearchShape};
use crate::{
    error::{ErrorKind, Result},
    time::{self, DeviceZone},
    xml::{
        self, CmSearchDescription, CmSearchResult, MetadataList, SearchMatchItem, SearchStatus,
        TimeSpan, TimeSpanList, TrackIdList,
    },
};

const SEARCH_PATH: &str = "/ISAPI/ContentMgmt/search";

/// Page size for devices whose profile does not give one (what most firmware accepts).
const DEFAULT_PAGE_SIZE: u32 = 40;

/// What to search for: one track over a span of real time.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// 101 = channel 1 main stream, 201 = channel 2, ...
    pub track: u32,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// One recording on a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub track: u32,
    /// Real instants, converted from the device's wall clock.
    pub start: Timestamp,
    pub end: Timestamp,
    /// The device's wall-clock times, as it wrote them.
    pub local_start: DateTime,
    pub local_end: DateTime,
    /// e.g. `H.264`, `H.265`.
    pub codec: Option<String>,
    /// What to hand to [`Device::download`].
    pub playback_uri: String,
    /// The size the device announced in the playback URI, if it did.
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paging {
    /// Advance `searchResultPostion`.
    Position,
    /// Re-search from the last recording's start time (the device ignores the position).
    Resume,
}

impl Device {
    /// Searches one track for recordings overlapping `query`'s span, page by page.
    pub fn search(
        &self,
        query: SearchQuery,
    ) -> impl Stream<Item = Result<Recording>> + Send + 'static {
        let device = self.clone();
        async_stream::try_stream! {
            if query.end <= query.start {
                Err(device.search_error(query.track, ErrorKind::InvalidRequest(format!(
                    "search span ends ({}) before it starts ({})", query.end, query.start
                ))))?;
            }
            let zone = device.zone().await?;
            let profile = device.search_profile().await?;
            let device_max = profile.max_results.filter(|&n| n > 0);
            let page_size = match (device.config().search_page_size, device_max) {
                (Some(wanted), Some(max)) => wanted.min(max),
                (Some(wanted), None) => wanted,
                (None, Some(max)) => max,
                (None, None) => DEFAULT_PAGE_SIZE,
            }
            .max(1);
            let end = zone.to_local(query.end);
            let mut start = zone.to_local(query.start);
            let mut position = 0u32;
            let mut paging = Paging::Position;
            let mut first_item: Option<String> = None;
            let mut last: Option<(DateTime, String)> = None;
            loop {
                let page = device
                    .search_page(query.track, start, end, page_size, position)
                    .await?;
                let status = page.status().map_err(|s| {
                    device.search_error(query.track, ErrorKind::Protocol(format!(
                        "unknown responseStatusStrg {s:?}"
                    )))
                })?;
                let items = page.into_items();
                if items.is_empty() {
                    if status == SearchStatus::More {
                        Err(device.search_error(query.track, ErrorKind::Protocol(
                            "device said MORE but sent no matches".to_owned(),
                        )))?;
                    }
                    break;
                }
                if paging == Paging::Position {
                    let head = items[0].media_segment_descriptor.playback_uri.clone();
                    if position == 0 {
                        first_item = Some(head);
                    } else if first_item.as_deref() == Some(head.as_str()) {
                        // The device answered the first page again: it ignores the position.
                        tracing::debug!(device = device.name(), "device ignores searchResultPostion; resuming by time");
                        paging = Paging::Resume;
                        if let Some((last_start, _)) = &last {
                            start = *last_start;
                        }
                        continue;
                    }
                }
                let mut progressed = false;
                let n_items = items.len() as u32;
                for item in items {
                    let recording = recording_from(&zone, query.track, item)
                        .map_err(|reason| device.search_error(query.track, ErrorKind::Protocol(reason)))?;
                    let key = (recording.local_start, recording.playback_uri.clone());
                    if paging == Paging::Resume && last.as_ref().is_some_and(|l| key <= *l) {
                        continue;
                    }
                    progressed = true;
                    last = Some(key);
                    yield recording;
                }
                if status != SearchStatus::More {
                    break;
                }
                match paging {
                    Paging::Position => position += n_items,
                    Paging::Resume => {
                        if !progressed {
                            Err(device.search_error(query.track, ErrorKind::Protocol(
                                "device repeats the same page; cannot page further".to_owned(),
                            )))?;
                        }
                        if let Some((last_start, _)) = &last {
                            start = *last_start;
                        }
                    }
                }
            }
        }
    }

    fn search_error(&self, track: u32, kind: ErrorKind) -> crate::Error {
        let mut req = self.xml_request(Method::POST, SEARCH_PATH);
        req.track = Some(track);
        self.error(&req, kind)
    }

    /// One page, in whichever request shape the device takes, through the search gate,
    /// trying again a few times when the device is busy.
    async fn search_page(
        &self,
        track: u32,
        start: DateTime,
        end: DateTime,
        max_results: u32,
        position: u32,
    ) -> Result<CmSearchResult> {
        let known = SearchShape::from_u8(
            self.inner
                .search_shape
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let shape = known.unwrap_or(SearchShape::TrackList);
        let description = |shape: SearchShape| {
            let tracks = Some(TrackIdList {
                track_ids: vec![track],
            });
            let (track_list, track_id_list) = match shape {
                SearchShape::TrackList => (tracks, None),
                SearchShape::TrackIdList => (None, tracks),
            };
            xml::to_string(
                "CMSearchDescription",
                &CmSearchDescription {
                    version: Some("1.0".to_owned()),
                    xmlns: Some(xml::ISAPI_NAMESPACE.to_owned()),
                    search_id: uuid::Uuid::new_v4().to_string().to_uppercase(),
                    track_list,
                    track_id_list,
                    time_span_list: TimeSpanList {
                        time_spans: vec![TimeSpan {
                            start_time: time::format_wall_clock(start),
                            end_time: time::format_wall_clock(end),
                        }],
                    },
                    max_results,
                    search_result_position: Some(position),
                    metadata_list: Some(MetadataList {
                        descriptors: vec!["//recordType.meta.std-cgi.com".to_owned()],
                    }),
                },
            )
        };
        match self
            .search_page_with_retries(track, description(shape))
            .await
        {
            Ok(page) => {
                self.remember_shape(shape);
                Ok(page)
            }
            Err(first) if known.is_none() && is_shape_rejection(&first) => {
                let other = shape.other();
                let page = self
                    .search_page_with_retries(track, description(other))
                    .await
                    .map_err(|_| first)?;
                self.remember_shape(other);
                Ok(page)
            }
            Err(e) => Err(e),
        }
    }

    fn remember_shape(&self, shape: SearchShape) {
        self.inner
            .search_shape
            .store(shape as u8, std::sync::atomic::Ordering::Relaxed);
    }

    async fn search_page_with_retries(&self, track: u32, body: String) -> Result<CmSearchResult> {
        let body = Bytes::from(body);
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            let result = {
                let gate = self.search_gate().await?;
                let _permit = gate.acquire().await.map_err(|_| {
                    self.search_error(track, ErrorKind::Protocol("search gate closed".to_owned()))
                })?;
                let req = Request {
                    method: Method::POST,
                    path: SEARCH_PATH,
                    body: Some(body.clone()),
                    track: Some(track),
                    timeout: Some(self.config().request_timeout),
                    dedicated: false,
                };
                self.fetch_xml::<CmSearchResult>(&req, "CMSearchResult")
                    .await
            };
            match result {
                Err(e) if e.is_device_busy() && attempt < self.config().search_busy_retries => {
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                other => return other,
            }
        }
    }
}

/// Whether a device refused a search because of its shape (not its content).
fn is_shape_rejection(e: &crate::Error) -> bool {
    match &e.kind {
        ErrorKind::Device { status, .. } => {
            matches!(status.status_code, 5 | 6)
                || matches!(status.sub_status(), "badXmlContent" | "badXmlFormat")
        }
        ErrorKind::Http { status, .. } => *status == 400,
        _ => false,
    }
}

fn recording_from(
    zone: &DeviceZone,
    track: u32,
    item: SearchMatchItem,
) -> Result<Recording, String> {
    let local_start = time::parse_wall_clock(&item.time_span.start_time)?;
    let local_end = time::parse_wall_clock(&item.time_span.end_time)?;
    let uri = item.media_segment_descriptor.playback_uri.trim().to_owned();
    if uri.is_empty() {
        return Err("searchMatchItem without playbackURI".to_owned());
    }
    Ok(Recording {
        track: item.track_id.unwrap_or(track),
        start: zone.to_timestamp(local_start)?,
        end: zone.to_timestamp(local_end)?,
        local_start,
        local_end,
        codec: item.media_segment_descriptor.codec_type,
        size: uri_param(&uri, "size").and_then(|s| s.parse().ok()),
        playback_uri: uri,
    })
}

/// A query parameter of a playback URI (`...?starttime=..&size=123`).
pub(crate) fn uri_param<'a>(uri: &'a str, name: &str) -> Option<&'a str> {
    let query = uri.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.eq_ignore_ascii_case(name).then_some(value)
    })
}

/// The track of a playback URI (`rtsp://host/Streaming/tracks/101/?...`).
pub(crate) fn uri_track(uri: &str) -> Option<u32> {
    let path = uri.split('?').next()?;
    let rest = &path[path.find("/tracks/")? + "/tracks/".len()..];
    rest.trim_end_matches('/').split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_uri_parts() {
        let uri = "rtsp://10.0.0.5/Streaming/tracks/201/?starttime=20261124T100000Z&endtime=20261124T110000Z&name=00000001&size=1048576";
        assert_eq!(uri_param(uri, "size"), Some("1048576"));
        assert_eq!(uri_param(uri, "starttime"), Some("20261124T100000Z"));
        assert_eq!(uri_param(uri, "missing"), None);
        assert_eq!(uri_track(uri), Some(201));
        assert_eq!(uri_track("rtsp://x/Streaming/channels/1"), None);
    }
}
