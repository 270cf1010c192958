//! Recording search (`CMSearchDescription` / `CMSearchResult`) and download (`downloadRequest`).

use serde::{Deserialize, Serialize};

/// The body of `POST /ISAPI/ContentMgmt/search`.
///
/// Firmware differs in two places, both covered: the track list is `trackList` on most
/// devices and `trackIDList` on others, and the result offset is spelled
/// `searchResultPostion` (sic, as the devices spell it) or `searchResultPosition`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CmSearchDescription {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    /// A GUID, e.g. `C0A8F2D4-1B3E-4F5A-9C7D-2E6B8A1F3C5D`; the device echoes it.
    #[serde(rename = "searchID")]
    pub search_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_list: Option<TrackIdList>,
    #[serde(
        rename = "trackIDList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub track_id_list: Option<TrackIdList>,
    pub time_span_list: TimeSpanList,
    pub max_results: u32,
    #[serde(
        deserialize_with = "super::lenient::optional",
        rename = "searchResultPostion",
        alias = "searchResultPosition",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub search_result_position: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_list: Option<MetadataList>,
}

impl CmSearchDescription {
    /// The tracks asked for, whichever of the two shapes the request used.
    pub fn tracks(&self) -> &[u32] {
        self.track_list
            .as_ref()
            .or(self.track_id_list.as_ref())
            .map_or(&[], |list| list.track_ids.as_slice())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrackIdList {
    #[serde(rename = "trackID", default)]
    pub track_ids: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeSpanList {
    #[serde(rename = "timeSpan", default)]
    pub time_spans: Vec<TimeSpan>,
}

/// A span of device wall-clock time, as the device writes it (`2026-11-24T10:00:00Z`; the
/// `Z` is there on most firmware even though the time is local). In a search result either
/// time may be missing (read as empty) or both equal: the playback URI then says more.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeSpan {
    #[serde(default)]
    pub start_time: String,
    #[serde(default)]
    pub end_time: String,
}

impl TimeSpan {
    /// Neither time is given (an item without `timeSpan` reads as this).
    pub fn is_empty(&self) -> bool {
        self.start_time.is_empty() && self.end_time.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MetadataList {
    #[serde(rename = "metadataDescriptor", default)]
    pub descriptors: Vec<String>,
}

/// The reply to a search.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CmSearchResult {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(rename = "searchID", default, skip_serializing_if = "Option::is_none")]
    pub search_id: Option<String>,
    #[serde(
        deserialize_with = "super::lenient::optional_bool",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_status: Option<bool>,
    /// `OK` (last page), `MORE` (more pages), `NO MATCHES`.
    pub response_status_strg: String,
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub num_of_matches: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_list: Option<MatchList>,
}

/// What a search page says about the pages after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchStatus {
    /// This is the last page.
    Ok,
    /// More pages follow.
    More,
    /// Nothing matched.
    NoMatches,
}

impl CmSearchResult {
    /// The page status; an unknown `responseStatusStrg` is returned as the error.
    pub fn status(&self) -> Result<SearchStatus, &str> {
        match self
            .response_status_strg
            .trim()
            .to_ascii_uppercase()
            .as_str()
        {
            "OK" => Ok(SearchStatus::Ok),
            "MORE" => Ok(SearchStatus::More),
            "NO MATCHES" | "NO MATCH" | "NOMATCHES" => Ok(SearchStatus::NoMatches),
            _ => Err(self.response_status_strg.as_str()),
        }
    }

    /// The matches on this page (none when `matchList` is missing or empty).
    pub fn items(&self) -> &[SearchMatchItem] {
        self.match_list.as_ref().map_or(&[], |l| l.items.as_slice())
    }

    pub fn into_items(self) -> Vec<SearchMatchItem> {
        self.match_list.map(|l| l.items).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MatchList {
    #[serde(rename = "searchMatchItem", default)]
    pub items: Vec<SearchMatchItem>,
}

/// One item of a search result: a recording, or on some firmware something else (a log
/// entry). Every part may be missing: [`parse_search_page`] reads each item on its own and
/// the client decides which items it can use.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchMatchItem {
    #[serde(rename = "sourceID", default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(
        deserialize_with = "super::lenient::optional",
        rename = "trackID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub track_id: Option<u32>,
    /// Empty when the item has no `timeSpan`.
    #[serde(default, skip_serializing_if = "TimeSpan::is_empty")]
    pub time_span: TimeSpan,
    /// Empty (no playback URI) when the item has no `mediaSegmentDescriptor`.
    #[serde(default, skip_serializing_if = "MediaSegmentDescriptor::is_empty")]
    pub media_segment_descriptor: MediaSegmentDescriptor,
    /// A log entry, which some firmware mixes into a result (not a recording).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_descriptor: Option<LogDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaSegmentDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// e.g. `H.264`, `H.264-BP`, `H.265`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec_type: Option<String>,
    /// `rtsp://host/Streaming/tracks/101/?starttime=...&endtime=...&name=...&size=...`.
    #[serde(rename = "playbackURI", default)]
    pub playback_uri: String,
}

impl MediaSegmentDescriptor {
    pub fn is_empty(&self) -> bool {
        self.content_type.is_none() && self.codec_type.is_none() && self.playback_uri.is_empty()
    }
}

/// A log entry in a search result (`logDescriptor`), as the log search answers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogDescriptor {
    /// e.g. `log.std-cgi.com/Information/System Running State`.
    #[serde(rename = "metaId", default, skip_serializing_if = "Option::is_none")]
    pub meta_id: Option<String>,
    #[serde(
        rename = "StartDateTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date_time: Option<String>,
    #[serde(rename = "localID", default, skip_serializing_if = "Option::is_none")]
    pub local_id: Option<String>,
}

/// A search result read item by item: the page's status, and each `searchMatchItem` parsed
/// on its own, so one item that cannot be read does not cost the others.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The result without its items (`match_list` is `None`).
    pub result: CmSearchResult,
    pub items: Vec<PageItem>,
}

/// One `searchMatchItem` of a [`SearchPage`].
#[derive(Debug, Clone)]
pub struct PageItem {
    /// The item's XML as the device sent it.
    pub raw: String,
    /// The item, or why it could not be read as one.
    pub item: Result<SearchMatchItem, String>,
}

/// The head of a `CMSearchResult`, its items skipped (they are read one by one).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageHead {
    #[serde(rename = "@version", default)]
    version: Option<String>,
    #[serde(rename = "@xmlns", default)]
    xmlns: Option<String>,
    #[serde(rename = "searchID", default)]
    search_id: Option<String>,
    #[serde(deserialize_with = "super::lenient::optional_bool", default)]
    response_status: Option<bool>,
    response_status_strg: String,
    #[serde(deserialize_with = "super::lenient::optional", default)]
    num_of_matches: Option<u32>,
}

/// Parses a `CMSearchResult`. The document itself must be readable (well-formed, the
/// right root, a `responseStatusStrg`); its items are parsed one by one.
pub fn parse_search_page(body: &str) -> Result<SearchPage, super::XmlError> {
    let head: PageHead = super::parse("CMSearchResult", body)?;
    let raw_items = match_items(body).map_err(|reason| super::XmlError {
        document: "CMSearchResult",
        reason,
    })?;
    let items = raw_items
        .into_iter()
        .map(|raw| {
            let item = quick_xml::de::from_str::<SearchMatchItem>(raw)
                .map_err(|e| format!("unreadable searchMatchItem: {e}"));
            PageItem {
                raw: raw.to_owned(),
                item,
            }
        })
        .collect();
    Ok(SearchPage {
        result: CmSearchResult {
            version: head.version,
            xmlns: head.xmlns,
            search_id: head.search_id,
            response_status: head.response_status,
            response_status_strg: head.response_status_strg,
            num_of_matches: head.num_of_matches,
            match_list: None,
        },
        items,
    })
}

/// The text of each `searchMatchItem` directly under the root's `matchList`.
fn match_items(body: &str) -> Result<Vec<&str>, String> {
    use quick_xml::events::Event;
    let body = body.trim_start_matches('\u{feff}');
    let mut reader = quick_xml::Reader::from_str(body);
    // Local names of the open elements, root first.
    let mut open: Vec<Vec<u8>> = Vec::new();
    let mut item_start: Option<usize> = None;
    let mut items = Vec::new();
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|e| format!("{e}, near byte {}", reader.buffer_position()))?;
        let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let in_match_list = open.len() == 2 && open[1] == b"matchList";
        match event {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_vec();
                if in_match_list && name == b"searchMatchItem" {
                    item_start = Some(before);
                }
                open.push(name);
            }
            Event::Empty(empty)
                if in_match_list && empty.local_name().as_ref() == b"searchMatchItem" =>
            {
                items.push(body.get(before..after).unwrap_or_default());
            }
            Event::End(_) => {
                open.pop();
                if open.len() == 2
                    && let Some(start) = item_start.take()
                {
                    items.push(body.get(start..after).unwrap_or_default());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(items)
}

/// The body of a download request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DownloadRequest {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(rename = "playbackURI")]
    pub playback_uri: String,
}
