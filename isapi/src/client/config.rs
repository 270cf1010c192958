//! Client settings. Every default is written in its doc comment.

use std::time::Duration;

/// How long the client waits, and how it talks to devices.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TCP connect timeout. Default 5 s.
    pub connect_timeout: Duration,
    /// Whole-exchange timeout of XML requests (discovery, search pages). Default 30 s.
    pub request_timeout: Duration,
    /// Wait for a download's response headers and first bytes. Default 30 s.
    pub first_byte_timeout: Duration,
    /// A download body that delivers no byte for this long is an error. Default 20 s.
    pub stall_timeout: Duration,
    /// Read buffer of each download's connection (plain-HTTP devices), in bytes; at least
    /// 8 KiB. Downloads run by the hundred, and this is most of what each one costs in
    /// memory beyond the caller's buffers. Default 32 KiB.
    pub download_read_buffer: usize,
    /// Idle pooled connections are closed after this. Default 60 s.
    pub pool_idle_timeout: Duration,
    /// Results asked for per search page. Default `None`: the most the device's search
    /// profile allows, or 40 when it does not say.
    pub search_page_size: Option<u32>,
    /// How often a search page answered "device busy" is tried again (with backoff from
    /// 200 ms) before the search fails. Default 3.
    pub search_busy_retries: u32,
    /// What clock the device's recording times are in. Default: the device's local time.
    pub recording_clock: RecordingClock,
    /// Accept any TLS certificate from `https://` devices. Cameras ship self-signed
    /// certificates; turn this on only for devices on the site's own network. Default false.
    pub accept_invalid_certs: bool,
    /// The search request shape, if known; `None` tries `trackList` then `trackIDList`
    /// and remembers what the device took. Default `None`.
    pub search_shape: Option<SearchShape>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            first_byte_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(20),
            download_read_buffer: 32 * 1024,
            pool_idle_timeout: Duration::from_secs(60),
            search_page_size: None,
            search_busy_retries: 3,
            recording_clock: RecordingClock::DeviceLocal,
            accept_invalid_certs: false,
            search_shape: None,
        }
    }
}

/// The clock of the times in search results and playback URIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingClock {
    /// The device's wall clock, whatever suffix it writes (most firmware).
    DeviceLocal,
    /// Real UTC (some firmware with `timeMode` set so).
    Utc,
}

/// The two shapes of `CMSearchDescription` seen in firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SearchShape {
    /// `<trackList><trackID>101</trackID></trackList>`
    TrackList = 1,
    /// `<trackIDList><trackID>101</trackID></trackIDList>`
    TrackIdList = 2,
}

impl SearchShape {
    pub(super) fn from_u8(v: u8) -> Option<SearchShape> {
        match v {
            1 => Some(SearchShape::TrackList),
            2 => Some(SearchShape::TrackIdList),
            _ => None,
        }
    }

    pub(super) fn other(self) -> SearchShape {
        match self {
            SearchShape::TrackList => SearchShape::TrackIdList,
            SearchShape::TrackIdList => SearchShape::TrackList,
        }
    }
}
