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
/// `Z` is there on most firmware even though the time is local).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeSpan {
    pub start_time: String,
    pub end_time: String,
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

/// One recording found by a search.
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
    pub time_span: TimeSpan,
    pub media_segment_descriptor: MediaSegmentDescriptor,
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
    #[serde(rename = "playbackURI")]
    pub playback_uri: String,
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
