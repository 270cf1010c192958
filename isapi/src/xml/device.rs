//! Discovery documents: `DeviceInfo`, `Time`, channel and track lists, the search profile.

use serde::{Deserialize, Serialize};

/// `/ISAPI/System/deviceInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(rename = "deviceID", default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    pub model: String,
    pub serial_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_released_date: Option<String>,
    /// `IPCamera`, `NVR`, `DVR`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<String>,
}

impl DeviceInfo {
    /// Whether the device records other devices' channels (NVR, DVR, HVR).
    pub fn is_recorder(&self) -> bool {
        let kind = self
            .device_type
            .as_deref()
            .unwrap_or("")
            .to_ascii_uppercase();
        kind.contains("NVR") || kind.contains("DVR") || kind.contains("HVR")
    }
}

/// `/ISAPI/System/time`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceTime {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_mode: Option<String>,
    /// The device's wall clock with its current UTC offset, e.g. `2026-11-25T20:00:00+08:00`.
    pub local_time: String,
    /// POSIX-style zone as Hikvision writes it, e.g. `CST-8:00:00` (UTC+8) or
    /// `CST-8:00:00DST01:00:00,M3.2.0/02:00:00,M11.1.0/02:00:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// `/ISAPI/Streaming/channels`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamingChannelList {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(rename = "StreamingChannel", default)]
    pub channels: Vec<StreamingChannel>,
}

/// One stream of a channel: id 101 is channel 1's main stream, 102 its sub stream.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamingChannel {
    pub id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_name: Option<String>,
    #[serde(
        deserialize_with = "super::lenient::optional_bool",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enabled: Option<bool>,
    #[serde(rename = "Video", default, skip_serializing_if = "Option::is_none")]
    pub video: Option<StreamingVideo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamingVideo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_codec_type: Option<String>,
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub video_resolution_width: Option<u32>,
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub video_resolution_height: Option<u32>,
    /// Frames per second times 100 (2500 = 25 fps).
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_frame_rate: Option<u32>,
}

/// `/ISAPI/ContentMgmt/InputProxy/channels` (NVRs): the cameras an NVR records.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InputProxyChannelList {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(rename = "InputProxyChannel", default)]
    pub channels: Vec<InputProxyChannel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputProxyChannel {
    pub id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_input_port_descriptor: Option<SourceInputPortDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceInputPortDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub manage_port_no: Option<u16>,
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub src_input_port: Option<u32>,
}

/// `/ISAPI/ContentMgmt/record/tracks`: the recording tracks (101 = channel 1 main stream).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrackList {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(rename = "Track", default)]
    pub tracks: Vec<Track>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Track {
    pub id: u32,
    #[serde(
        deserialize_with = "super::lenient::optional",
        rename = "Channel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub channel: Option<u32>,
    #[serde(
        deserialize_with = "super::lenient::optional_bool",
        rename = "Enable",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable: Option<bool>,
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
}

/// `/ISAPI/ContentMgmt/search/profile`: how a device lets itself be searched.
///
/// The root is `SearchProfile` on some firmware and `CMSearchProfile` (the PSIA name, with
/// `searchProfile`, `maxSearchTimespans`, `maxSearchTracks`, `maxSearchMatchResults`,
/// `maxConcurrentSearches`) on others; both are read into this type
/// ([`SearchProfile::ROOTS`]). Firmware spells the limits differently; the aliases cover the
/// spellings seen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchProfile {
    #[serde(rename = "@version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(
        deserialize_with = "super::lenient::optional_bool",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub search_by_time_support: Option<bool>,
    /// `basic` (one time span per search) or `full`.
    #[serde(
        rename = "searchProfile",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub level: Option<String>,
    /// Most time spans in one search.
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_search_timespans: Option<u32>,
    /// Most tracks in one search.
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_search_tracks: Option<u32>,
    /// Most results the device returns in one page.
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        alias = "maxSearchResults",
        alias = "searchMaxResults",
        alias = "maxSearchMatchResults",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_results: Option<u32>,
    /// Most searches the device runs at once (1 on most cameras and small NVRs).
    #[serde(
        deserialize_with = "super::lenient::optional",
        default,
        alias = "maxConcurrentSearch",
        alias = "maxSearchNum",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_concurrent_searches: Option<u32>,
}

impl SearchProfile {
    /// The root elements a search profile comes under.
    pub const ROOTS: [&'static str; 2] = ["SearchProfile", "CMSearchProfile"];

    /// What a device without a usable profile is searched with: 64 results a page (what
    /// firmware that reports a limit reports), one search at a time.
    pub fn fallback() -> Self {
        SearchProfile {
            max_results: Some(64),
            max_concurrent_searches: Some(1),
            ..SearchProfile::default()
        }
    }
}
