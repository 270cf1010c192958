//! Recording search as a lazy, paginated stream.
//!
//! [`Device::search`] asks one page at a time and yields its recordings; the next page is
//! asked only when the consumer wants more, so a year of recordings is never held in
//! memory. Pages follow `searchResultPostion`; when a device ignores the position (it
//! answers the first page again), the search restarts from the last recording's start time
//! and skips what was already yielded. Page requests pass through the device's search gate,
//! so a device that runs one search at a time gets one at a time.
//!
//! Each item of a page is read on its own. A recording's range comes from its `timeSpan`,
//! or from its playback URI's `starttime`/`endtime` when the span is missing or of zero
//! length (as many firmwares write it). An item that cannot be used (unreadable, not a
//! recording, a range that cannot be known) is skipped, counted by reason
//! (`isapi_search_items_skipped_total{reason}`, [`Device::skipped_search_items`]) and
//! logged with its URI, the first time per device and reason as a warning; the page and
//! the paging go on.

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
        self, CmSearchDescription, MetadataList, PageItem, SearchMatchItem, SearchPage,
        SearchStatus, TimeSpan, TimeSpanList, TrackIdList,
    },
};

const SEARCH_PATH: &str = "/ISAPI/ContentMgmt/search";

/// Page size for devices whose profile does not give one (what firmware that reports a
/// limit reports).
const DEFAULT_PAGE_SIZE: u32 = 64;

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

/// Where a search stands between pages: the wall-clock span still to ask for, the position
/// in it, and what was yielded so far.
#[derive(Debug)]
struct Cursor {
    start: DateTime,
    end: DateTime,
    position: u32,
    paging: Paging,
    /// The first item of the first page, to notice a device that answers it again.
    first_item: Option<String>,
    /// The start and playback URI of the last recording yielded.
    last: Option<(DateTime, String)>,
}

impl Cursor {
    fn new(start: DateTime, end: DateTime) -> Cursor {
        Cursor {
            start,
            end,
            position: 0,
            paging: Paging::Position,
            first_item: None,
            last: None,
        }
    }

    /// Whether a page starting with `head` is the first page again (the device ignores the
    /// position); the cursor then resumes by time from the last recording yielded, and the
    /// page is to be asked again.
    fn repeats_first_page(&mut self, head: &str) -> bool {
        if self.paging != Paging::Position {
            return false;
        }
        if self.position == 0 {
            self.first_item = Some(head.to_owned());
            return false;
        }
        if self.first_item.as_deref() != Some(head) {
            return false;
        }
        self.paging = Paging::Resume;
        self.resume_after_last();
        true
    }

    /// Whether `recording` was not yielded yet (resuming by time asks some again); it is
    /// remembered as the last one yielded when it was not.
    fn is_new(&mut self, recording: &Recording) -> bool {
        let key = (recording.local_start, recording.playback_uri.clone());
        if self.paging == Paging::Resume && self.last.as_ref().is_some_and(|last| key <= *last) {
            return false;
        }
        self.last = Some(key);
        true
    }

    /// Moves to the next page after one of `n_items` items; false when resuming by time
    /// yielded nothing new, so the device cannot be paged further.
    fn advance(&mut self, n_items: u32, progressed: bool) -> bool {
        match self.paging {
            Paging::Position => self.position += n_items,
            Paging::Resume => {
                if !progressed {
                    return false;
                }
                self.resume_after_last();
            }
        }
        true
    }

    fn resume_after_last(&mut self) {
        if let Some((last_start, _)) = &self.last {
            self.start = *last_start;
        }
    }
}

impl Device {
    /// Searches one track for recordings overlapping `query`'s span, page by page.
    pub fn search(
        &self,
        query: SearchQuery,
    ) -> impl Stream<Item = Result<Recording>> + Send + 'static {
        let device = self.clone();
        async_stream::try_stream! {
            device.check_search_span(&query)?;
            let zone = device.zone().await?;
            let page_size = device.search_page_size().await?;
            let mut cursor = Cursor::new(zone.to_local(query.start), zone.to_local(query.end));
            loop {
                let page = device
                    .search_page(query.track, cursor.start, cursor.end, page_size, cursor.position)
                    .await?;
                let status = device.page_status(query.track, &page)?;
                let Some(head) = page.items.first() else {
                    break;
                };
                if cursor.repeats_first_page(&head.raw) {
                    tracing::debug!(device = device.name(), "device ignores searchResultPostion; resuming by time");
                    continue;
                }
                let n_items = page.items.len() as u32;
                let mut progressed = false;
                for item in page.items {
                    let Some(recording) = device.usable_recording(&zone, query.track, item) else {
                        continue;
                    };
                    if cursor.is_new(&recording) {
                        progressed = true;
                        yield recording;
                    }
                }
                if status != SearchStatus::More {
                    break;
                }
                if !cursor.advance(n_items, progressed) {
                    Err(device.search_error(query.track, ErrorKind::Protocol(
                        "device repeats the same page; cannot page further".to_owned(),
                    )))?;
                }
            }
        }
    }

    /// Refuses a span that ends before it starts (or where it starts).
    fn check_search_span(&self, query: &SearchQuery) -> Result<()> {
        if query.end <= query.start {
            return Err(self.search_error(
                query.track,
                ErrorKind::InvalidRequest(format!(
                    "search span ends ({}) before it starts ({})",
                    query.end, query.start
                )),
            ));
        }
        Ok(())
    }

    /// Recordings asked per page: the configured size, capped by what the device's profile
    /// allows; the profile's limit (or [`DEFAULT_PAGE_SIZE`]) when none is configured.
    async fn search_page_size(&self) -> Result<u32> {
        let profile = self.search_profile().await?;
        let device_max = profile.max_results.filter(|&n| n > 0);
        let page_size = match (self.config().search_page_size, device_max) {
            (Some(wanted), Some(max)) => wanted.min(max),
            (Some(wanted), None) => wanted,
            (None, Some(max)) => max,
            (None, None) => DEFAULT_PAGE_SIZE,
        };
        Ok(page_size.max(1))
    }

    /// A page's `responseStatusStrg`, refused when unknown or when it says `MORE` on a page
    /// without matches.
    fn page_status(&self, track: u32, page: &SearchPage) -> Result<SearchStatus> {
        let status = page.result.status().map_err(|s| {
            self.search_error(
                track,
                ErrorKind::Protocol(format!("unknown responseStatusStrg {s:?}")),
            )
        })?;
        if page.items.is_empty() && status == SearchStatus::More {
            return Err(self.search_error(
                track,
                ErrorKind::Protocol("device said MORE but sent no matches".to_owned()),
            ));
        }
        Ok(status)
    }

    /// The recording an item describes, or `None` (counted and logged) when it has none.
    fn usable_recording(&self, zone: &DeviceZone, track: u32, item: PageItem) -> Option<Recording> {
        let skip = match item.item {
            Ok(item) => match recording_from(zone, track, item) {
                Ok(recording) => return Some(recording),
                Err(skip) => skip,
            },
            Err(detail) => Skip {
                reason: "unreadable",
                detail,
                uri: None,
            },
        };
        let first = self.count_skipped_item(skip.reason);
        let uri = skip.uri.as_deref().unwrap_or("");
        let item = xml::preview(item.raw.trim());
        if first {
            tracing::warn!(device = self.name(), track, reason = skip.reason, detail = %skip.detail, uri, %item,
                "search result item skipped (further ones for this reason are logged at debug)");
        } else {
            tracing::debug!(device = self.name(), track, reason = skip.reason, detail = %skip.detail, uri, %item,
                "search result item skipped");
        }
        None
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
    ) -> Result<SearchPage> {
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

    async fn search_page_with_retries(&self, track: u32, body: String) -> Result<SearchPage> {
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
                self.fetch_text(&req).await.and_then(|text| {
                    xml::parse_search_page(&text).map_err(|e| self.error(&req, e.into()))
                })
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

/// Why an item of a search result was not used.
#[derive(Debug)]
struct Skip {
    /// `unreadable`, `not_a_recording` or `unknown_range` (a metric label: keep it short).
    reason: &'static str,
    detail: String,
    uri: Option<String>,
}

fn recording_from(zone: &DeviceZone, track: u32, item: SearchMatchItem) -> Result<Recording, Skip> {
    let uri = item.media_segment_descriptor.playback_uri.trim().to_owned();
    if uri.is_empty() {
        let detail = match &item.log_descriptor {
            Some(log) => format!(
                "a log entry ({})",
                log.meta_id.as_deref().unwrap_or("no metaId")
            ),
            None => "no playbackURI".to_owned(),
        };
        return Err(Skip {
            reason: "not_a_recording",
            detail,
            uri: None,
        });
    }
    let unknown = |detail: String| Skip {
        reason: "unknown_range",
        detail,
        uri: Some(uri.clone()),
    };
    let (local_start, local_end) = wall_clock_range(&item.time_span, &uri).map_err(unknown)?;
    let start = zone.to_timestamp(local_start).map_err(unknown)?;
    let end = zone.to_timestamp(local_end).map_err(unknown)?;
    Ok(Recording {
        track: item.track_id.unwrap_or(track),
        start,
        end,
        local_start,
        local_end,
        codec: item.media_segment_descriptor.codec_type,
        size: uri_param(&uri, "size").and_then(|s| s.parse().ok()),
        playback_uri: uri,
    })
}

/// A recording's wall-clock range: its time span when that has a length, else the playback
/// URI's `starttime`/`endtime` (either spelling), else an error saying what both lacked.
fn wall_clock_range(span: &TimeSpan, uri: &str) -> Result<(DateTime, DateTime), String> {
    let from_span = (|| {
        let start = time::parse_wall_clock(&span.start_time)?;
        let end = time::parse_wall_clock(&span.end_time)?;
        ordered(start, end)
    })();
    let from_uri = || {
        let param = |name| uri_param(uri, name).ok_or_else(|| format!("no {name}"));
        let start = time::parse_uri_time(param("starttime")?)?;
        let end = time::parse_uri_time(param("endtime")?)?;
        ordered(start, end)
    };
    from_span.or_else(|span_reason| {
        from_uri().map_err(|uri_reason| {
            format!("range unknown: timeSpan {span_reason}; playback URI {uri_reason}")
        })
    })
}

fn ordered(start: DateTime, end: DateTime) -> Result<(DateTime, DateTime), String> {
    if end > start {
        Ok((start, end))
    } else {
        Err(format!("is of zero or negative length ({start} to {end})"))
    }
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

    fn range(span: (&str, &str), uri: &str) -> Result<(String, String), String> {
        let span = TimeSpan {
            start_time: span.0.to_owned(),
            end_time: span.1.to_owned(),
        };
        wall_clock_range(&span, uri).map(|(s, e)| (s.to_string(), e.to_string()))
    }

    #[test]
    fn range_from_span_or_uri() {
        let compact = "rtsp://h/Streaming/tracks/101/?starttime=20230206T232846Z&endtime=20230206T235959Z&name=a";
        let iso = "rtsp://h/Streaming/tracks/101?starttime=2023-02-06T23:28:46Z&endtime=2023-02-06T23:59:59Z";
        let want = Ok((
            "2023-02-06T23:28:46".to_owned(),
            "2023-02-06T23:59:59".to_owned(),
        ));
        // A span with a length wins.
        assert_eq!(
            range(("2023-02-06T23:00:00Z", "2023-02-06T23:30:00Z"), compact),
            Ok((
                "2023-02-06T23:00:00".to_owned(),
                "2023-02-06T23:30:00".to_owned()
            ))
        );
        // Degenerate, missing or unreadable spans fall back to the URI, in both spellings.
        for span in [
            ("2023-02-06T23:28:46Z", "2023-02-06T23:28:46Z"),
            ("", ""),
            ("2023-02-06T23:28:46Z", ""),
            ("garbage", "2023-02-06T23:28:46Z"),
            ("2023-02-07T00:00:00Z", "2023-02-06T23:00:00Z"),
        ] {
            assert_eq!(range(span, compact), want, "{span:?}");
            assert_eq!(range(span, iso), want, "{span:?}");
        }
        // Neither says: an error naming both.
        let zero = "rtsp://h/Streaming/tracks/120?starttime=2022-12-06T08:51:13Z&endtime=2022-12-06T08:51:13Z";
        for uri in [zero, "rtsp://h/Streaming/tracks/101/?name=x", "rtsp://h/x"] {
            let err =
                range(("2022-12-06T08:51:13Z", "2022-12-06T08:51:13Z"), uri).expect_err("no range");
            assert!(
                err.contains("timeSpan") && err.contains("playback URI"),
                "{err}"
            );
        }
    }

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
