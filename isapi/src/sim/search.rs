//! `POST /ISAPI/ContentMgmt/search`: recordings overlapping time spans, a page at a time.
//!
//! Contract:
//! - One search at a time per `max_concurrent_searches`; one more gets 503 `deviceBusy`.
//! - Malformed XML is 400 `badXmlFormat` (5). Well-formed but unusable requests are 400
//!   `badXmlContent` (6): no track, a track the device does not have, an unreadable time,
//!   no time span, or the track list shape the device does not take ([`SearchShape`]).
//! - Times are device wall clock (`Z` or offset ignored). Matches are the recordings
//!   overlapping any of the spans, ordered by start time then track; the page starts at
//!   `searchResultPostion` (0 when the device ignores it) and holds
//!   `min(maxResults, max_results_per_page)` matches (at least 1). `responseStatusStrg` is
//!   `MORE` when matches follow the page, `OK` on the last page and `NO MATCHES` (with
//!   `numOfMatches` 0 and no `matchList`) when the page is empty. `numOfMatches` counts the
//!   matches on the page.
//! - Quirks ([`super::Quirks`]): time spans written degenerate or left out (the playback
//!   URI keeps the range), and log entries mixed into the matches, each taking a place in
//!   the paging.

use std::{ops::Range, sync::Arc, sync::atomic::Ordering};

use axum::{extract::State, http::StatusCode, response::Response};

use super::{
    FOREIGN_ITEM_EVERY, Limits, SearchShape, TimeSpanStyle,
    catalog::RecordingId,
    device::DeviceState,
    routes::{bad_xml_content, device_busy, parse_request, xml_reply},
};
use crate::{
    time::{format_wall_clock, parse_wall_clock},
    xml::{
        CmSearchDescription, CmSearchResult, ISAPI_NAMESPACE, LogDescriptor, MatchList,
        MediaSegmentDescriptor, SearchMatchItem, TimeSpan,
    },
};

const URL: &str = "/ISAPI/ContentMgmt/search";

pub(crate) async fn search(State(device): State<Arc<DeviceState>>, body: String) -> Response {
    let limits = device.limits();
    let Some(_slot) = device.try_search_slot(limits.max_concurrent_searches) else {
        tracing::debug!(device = device.index, "search refused: busy");
        return device_busy(URL);
    };
    if !device
        .delay_first_byte(device.faults().slow_first_byte)
        .await
    {
        return device_busy(URL);
    }
    device.counters.searches.fetch_add(1, Ordering::Relaxed);
    let request: CmSearchDescription = match parse_request("CMSearchDescription", &body) {
        Ok(request) => request,
        Err(bad) => return bad.reply(URL),
    };
    let Some(matches) = Matches::of(&device, &limits, &request) else {
        return bad_xml_content(URL);
    };
    let position = if limits.ignores_position {
        0
    } else {
        u64::from(request.search_result_position.unwrap_or(0))
    };
    let page = u64::from(request.max_results.min(limits.max_results_per_page).max(1));
    let total = matches.total();
    let end = total.min(position.saturating_add(page));
    let items: Vec<SearchMatchItem> = (position..end)
        .filter_map(|n| matches.item(&device, n))
        .collect();
    let result = search_result(&request, items, end < total);
    xml_reply(StatusCode::OK, "CMSearchResult", &result)
}

/// The answer holding one page of `items`; `more` when matches follow it.
fn search_result(
    request: &CmSearchDescription,
    items: Vec<SearchMatchItem>,
    more: bool,
) -> CmSearchResult {
    let status = if items.is_empty() {
        "NO MATCHES"
    } else if more {
        "MORE"
    } else {
        "OK"
    };
    CmSearchResult {
        version: Some("2.0".to_owned()),
        xmlns: Some(ISAPI_NAMESPACE.to_owned()),
        search_id: Some(request.search_id.clone()),
        response_status: Some(true),
        response_status_strg: status.to_owned(),
        num_of_matches: Some(items.len() as u32),
        match_list: (!items.is_empty()).then_some(MatchList { items }),
    }
}

/// What a search matches, in the order the device lists it: recordings by start, each over
/// the tracks in order, with the `foreign_items` quirk's log entries in between.
struct Matches {
    /// Recording indexes, merged and in order.
    ranges: Vec<Range<u64>>,
    /// The tracks searched, sorted, without repeats.
    tracks: Vec<u32>,
    /// Whether a log entry follows each group of [`FOREIGN_ITEM_EVERY`] recordings.
    foreign_items: bool,
}

impl Matches {
    /// What `request` matches, or `None` (the request is `badXmlContent`) when its track
    /// list has a shape the device does not take, it names no track or one the device does
    /// not have, or its time spans are missing or unreadable.
    fn of(device: &DeviceState, limits: &Limits, request: &CmSearchDescription) -> Option<Matches> {
        let shape_refused = match limits.search_shape {
            SearchShape::Both => false,
            SearchShape::TrackListOnly => request.track_id_list.is_some(),
            SearchShape::TrackIdListOnly => request.track_list.is_some(),
        };
        if shape_refused {
            tracing::debug!(device = device.index, shape = ?limits.search_shape, "search refused: track list shape");
            return None;
        }
        let mut tracks = request.tracks().to_vec();
        tracks.sort_unstable();
        tracks.dedup();
        if tracks.is_empty() || tracks.iter().any(|&t| device.catalog.track(t).is_none()) {
            tracing::debug!(
                device = device.index,
                ?tracks,
                "search refused: unknown or no track"
            );
            return None;
        }
        Some(Matches {
            ranges: matching_ranges(device, request)?,
            tracks,
            foreign_items: device.config.quirks.foreign_items,
        })
    }

    /// How many items the device lists in all.
    fn total(&self) -> u64 {
        let recordings: u64 =
            self.ranges.iter().map(|r| r.end - r.start).sum::<u64>() * self.tracks.len() as u64;
        if self.foreign_items {
            recordings + recordings / FOREIGN_ITEM_EVERY
        } else {
            recordings
        }
    }

    /// The `n`th item the device lists.
    fn item(&self, device: &DeviceState, n: u64) -> Option<SearchMatchItem> {
        if !self.foreign_items {
            return match_item(device, nth_match(&self.ranges, &self.tracks, n)?);
        }
        // Groups of FOREIGN_ITEM_EVERY recordings, each followed by a log entry.
        let (group, slot) = (n / (FOREIGN_ITEM_EVERY + 1), n % (FOREIGN_ITEM_EVERY + 1));
        if slot == FOREIGN_ITEM_EVERY {
            return Some(log_item(device, group));
        }
        match_item(
            device,
            nth_match(
                &self.ranges,
                &self.tracks,
                group * FOREIGN_ITEM_EVERY + slot,
            )?,
        )
    }
}

/// The recording indexes matching the request's spans, merged and in order; `None` when a
/// time cannot be read or there is no span.
fn matching_ranges(device: &DeviceState, request: &CmSearchDescription) -> Option<Vec<Range<u64>>> {
    let spans = &request.time_span_list.time_spans;
    if spans.is_empty() {
        return None;
    }
    let mut ranges = Vec::with_capacity(spans.len());
    for span in spans {
        let start = parse_wall_clock(&span.start_time).ok()?;
        let end = parse_wall_clock(&span.end_time).ok()?;
        let range = device.catalog.overlapping(start, end).ok()?;
        if !range.is_empty() {
            ranges.push(range);
        }
    }
    ranges.sort_unstable_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    Some(merged)
}

/// The `n`th match: recordings in order of start, each over all tracks.
fn nth_match(ranges: &[Range<u64>], tracks: &[u32], mut n: u64) -> Option<RecordingId> {
    let per_recording = tracks.len() as u64;
    for range in ranges {
        let in_range = (range.end - range.start) * per_recording;
        if n < in_range {
            let track = *tracks.get(usize::try_from(n % per_recording).ok()?)?;
            return Some(RecordingId {
                track,
                index: range.start + n / per_recording,
            });
        }
        n -= in_range;
    }
    None
}

fn match_item(device: &DeviceState, id: RecordingId) -> Option<SearchMatchItem> {
    let track = device.catalog.track(id.track)?;
    let (start, end) = device.catalog.span(id.index);
    let time_span = match device.config.quirks.time_spans {
        TimeSpanStyle::Exact => TimeSpan {
            start_time: format_wall_clock(start),
            end_time: format_wall_clock(end),
        },
        TimeSpanStyle::Degenerate => TimeSpan {
            start_time: format_wall_clock(start),
            end_time: format_wall_clock(start),
        },
        TimeSpanStyle::Missing => TimeSpan::default(),
    };
    Some(SearchMatchItem {
        source_id: Some(format!("{{{}}}", device.device_id.to_uppercase())),
        track_id: Some(id.track),
        time_span,
        media_segment_descriptor: MediaSegmentDescriptor {
            content_type: Some("video".to_owned()),
            codec_type: Some(track.codec.isapi_name().to_owned()),
            playback_uri: device.catalog.playback_uri(id)?,
        },
        log_descriptor: None,
    })
}

/// The log entry that the `foreign_items` quirk puts after a group of recordings.
fn log_item(device: &DeviceState, group: u64) -> SearchMatchItem {
    SearchMatchItem {
        source_id: Some(format!("{{{}}}", device.device_id.to_uppercase())),
        log_descriptor: Some(LogDescriptor {
            meta_id: Some("log.std-cgi.com/Information/System Running State".to_owned()),
            start_date_time: Some(format_wall_clock(device.catalog.span(0).0)),
            local_id: Some(group.to_string()),
        }),
        ..SearchMatchItem::default()
    }
}
