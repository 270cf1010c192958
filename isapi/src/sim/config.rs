//! What a simulated device is: its identity, its recordings, its limits and its faults.
//!
//! Every default is written on its field. [`Limits`] and [`Faults`] can be switched while
//! the simulator runs ([`super::Simulator::set_limits`], [`super::Simulator::set_faults`]);
//! a request reads them once when it arrives, so a download already streaming keeps the
//! rate and faults it started with.

use std::{path::PathBuf, time::Duration};

/// The devices to simulate and where the video clips are.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub devices: Vec<DeviceConfig>,
    /// The folder `scripts/make-clips` wrote `h264.ps`, `h265.ps` and `h264.mp4` into.
    /// Default: [`super::default_clips_dir`].
    pub clips_dir: PathBuf,
}

impl SimConfig {
    /// The devices, with clips from [`super::default_clips_dir`].
    pub fn new(devices: Vec<DeviceConfig>) -> Self {
        SimConfig {
            devices,
            clips_dir: super::default_clips_dir(),
        }
    }
}

/// A camera (`deviceType` `IPCamera`) or a recorder of other cameras (`NVR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Camera,
    /// Also answers `/ISAPI/ContentMgmt/InputProxy/channels`.
    Nvr,
}

/// The video codec of the recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    #[default]
    H264,
    H265,
    /// Odd channels H.264, even channels H.265.
    Mixed,
}

/// The container recordings are downloaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Container {
    /// MPEG program stream, as Hikvision devices send: the clip repeated to the length of a
    /// recording, timestamps continuous.
    #[default]
    Ps,
    /// The H.264 MP4 clip, one clip long whatever the recording's length (H.264 only).
    Mp4,
}

/// One simulated device.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// Default: [`DeviceKind::Camera`].
    pub kind: DeviceKind,
    /// `deviceName`. Default: `Camera 01` / `NVR 01`.
    pub name: String,
    /// Default: `DS-2CD2345G0P-I` (camera), `DS-7616NI-K2` (NVR).
    pub model: String,
    /// `serialNumber`; also names the device in the padding packets of its recordings.
    /// Default: `DS-2CD2345-SIM0000` (camera), `DS-7616NI-SIM0000` (NVR).
    pub serial: String,
    /// Channels 1..=channels; channel c records track `c*100+1`. Default 1 (camera).
    pub channels: u32,
    /// Days of recordings per channel, ending at `end`. Default 7.
    pub days: u32,
    /// Length of each recording in minutes; recordings are aligned to it on the device's
    /// wall clock. Default 60.
    pub recording_minutes: u32,
    /// Default: [`Codec::H264`].
    pub codec: Codec,
    /// Default: [`Container::Ps`].
    pub container: Container,
    pub user: String,
    pub password: String,
    /// Hikvision style (`CST-8:00:00` is UTC+8, the default).
    pub time_zone: String,
    /// End of the recorded period (rounded down to `recording_minutes` on the device's
    /// wall clock). Default: when the simulator starts.
    pub end: Option<jiff::Timestamp>,
    pub limits: Limits,
    pub faults: Faults,
    /// Recordings made from a clip of their own instead of their track's shared clip, e.g.
    /// the clips of `scripts/make-face-clips`, in which known faces appear at known times
    /// (one 60 s clip is exactly one repetition of a one-minute recording). PS devices only;
    /// at most one per recording. Default: none.
    pub recording_clips: Vec<RecordingClip>,
    /// Ways real firmware departs from the common shapes. Default: none.
    pub quirks: Quirks,
    /// How far the device's clock is from the true time, in seconds (a device whose NTP is
    /// off): `/ISAPI/System/time` says so; recordings keep their true times. Default 0.
    pub clock_offset_seconds: i64,
}

/// Ways real firmware departs from the common document shapes, each reproducible so that a
/// client can be tested against it. `isapi-sim --quirk NAME` sets one by its name
/// ([`Quirks::NAMES`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quirks {
    /// How a search result writes a recording's `timeSpan`. Default: [`TimeSpanStyle::Exact`].
    pub time_spans: TimeSpanStyle,
    /// Playback URIs carry `starttime=2026-11-24T10:00:00Z` (ISO 8601) instead of
    /// `starttime=20261124T100000Z`. Downloads take either spelling. Default false.
    pub iso_uri_times: bool,
    /// Search results mix a log entry (`searchMatchItem` with a `logDescriptor`, no
    /// recording) into the matches, one after every [`FOREIGN_ITEM_EVERY`] recordings; the
    /// entries take places in the paging like matches. Default false.
    pub foreign_items: bool,
    /// How `/ISAPI/ContentMgmt/search/profile` answers. Default: [`ProfileStyle::SearchProfile`].
    pub search_profile: ProfileStyle,
}

/// A log entry follows every this many recordings when [`Quirks::foreign_items`] is set.
pub const FOREIGN_ITEM_EVERY: u64 = 7;

/// How a search result writes a recording's `timeSpan`; the playback URI always carries the
/// real range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeSpanStyle {
    /// `startTime` and `endTime` are the recording's.
    #[default]
    Exact,
    /// Both are the recording's start (zero length), as many firmwares write them.
    Degenerate,
    /// No `timeSpan` element at all.
    Missing,
}

/// How a device answers `/ISAPI/ContentMgmt/search/profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProfileStyle {
    /// `<SearchProfile>` with `maxResults` and `maxConcurrentSearches`.
    #[default]
    SearchProfile,
    /// `<CMSearchProfile>` (the PSIA name) with `searchProfile`, `maxSearchTimespans`,
    /// `maxSearchTracks`, `maxSearchMatchResults` and `maxConcurrentSearches`.
    CmSearchProfile,
    /// No profile: HTTP 404 with `notSupport`, as older firmware answers.
    Missing,
    /// HTTP 200 with an HTML page (a web server answering for the device).
    Unreadable,
}

impl Quirks {
    /// The quirks by name, as `isapi-sim --quirk` takes them.
    pub const NAMES: [&'static str; 7] = [
        "degenerate-time-spans",
        "missing-time-spans",
        "iso-uri-times",
        "foreign-items",
        "cm-search-profile",
        "no-search-profile",
        "unreadable-search-profile",
    ];

    /// Sets the quirk called `name` (one of [`Quirks::NAMES`]).
    pub fn set(&mut self, name: &str) -> Result<(), String> {
        match name {
            "degenerate-time-spans" => self.time_spans = TimeSpanStyle::Degenerate,
            "missing-time-spans" => self.time_spans = TimeSpanStyle::Missing,
            "iso-uri-times" => self.iso_uri_times = true,
            "foreign-items" => self.foreign_items = true,
            "cm-search-profile" => self.search_profile = ProfileStyle::CmSearchProfile,
            "no-search-profile" => self.search_profile = ProfileStyle::Missing,
            "unreadable-search-profile" => self.search_profile = ProfileStyle::Unreadable,
            other => {
                return Err(format!(
                    "unknown quirk {other:?}; known: {}",
                    Self::NAMES.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// One recording whose body is made from its own clip (see [`DeviceConfig::recording_clips`]),
/// the same way as the others: repeated to the recording's length, each repetition marked,
/// the clocks continuous. Its size, search result, download and checksum all follow the clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingClip {
    /// The recording's track (`101`, `201`, ...).
    pub track: u32,
    /// The recording's place on its track: 0 is the oldest.
    pub index: u64,
    /// An MPEG program stream of the track's codec; relative paths are under
    /// [`SimConfig::clips_dir`]. Read once when the simulator starts and shared by every
    /// recording that names it; a file that is missing, is not a program stream or is of
    /// another codec fails the start.
    pub path: PathBuf,
}

impl DeviceConfig {
    /// A one-channel camera with a week of hour-long H.264 recordings.
    pub fn camera(user: impl Into<String>, password: impl Into<String>) -> Self {
        DeviceConfig {
            kind: DeviceKind::Camera,
            name: "Camera 01".to_owned(),
            model: "DS-2CD2345G0P-I".to_owned(),
            serial: "DS-2CD2345-SIM0000".to_owned(),
            channels: 1,
            days: 7,
            recording_minutes: 60,
            codec: Codec::H264,
            container: Container::Ps,
            user: user.into(),
            password: password.into(),
            time_zone: "CST-8:00:00".to_owned(),
            end: None,
            limits: Limits::default(),
            faults: Faults::default(),
            recording_clips: Vec::new(),
            quirks: Quirks::default(),
            clock_offset_seconds: 0,
        }
    }

    /// An NVR recording `channels` cameras, a week of hour-long H.264 recordings each.
    pub fn nvr(user: impl Into<String>, password: impl Into<String>, channels: u32) -> Self {
        DeviceConfig {
            kind: DeviceKind::Nvr,
            name: "NVR 01".to_owned(),
            model: "DS-7616NI-K2".to_owned(),
            serial: "DS-7616NI-SIM0000".to_owned(),
            channels,
            ..Self::camera(user, password)
        }
    }

    /// The recording tracks: `101`, `201`, ...
    pub fn tracks(&self) -> impl Iterator<Item = u32> + use<> {
        (1..=self.channels).map(|channel| channel * 100 + 1)
    }
}

/// How much a device lets a client do, and how it bends the protocol.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Downloads at once; one more gets HTTP 503 `deviceBusy`. Default: no limit.
    pub max_concurrent_downloads: Option<u32>,
    /// Rate of each download stream. Default: as fast as the socket takes.
    pub bytes_per_second: Option<u64>,
    /// Searches at once; one more gets HTTP 503 `deviceBusy`. Default 1. Reported in
    /// `/ISAPI/ContentMgmt/search/profile`.
    pub max_concurrent_searches: u32,
    /// Most matches in one search page; a larger `maxResults` is capped silently.
    /// Default 64. Reported in the search profile.
    pub max_results_per_page: u32,
    /// Which track list shape a search may use. Default: [`SearchShape::Both`].
    pub search_shape: SearchShape,
    /// The device ignores `searchResultPostion` and always answers from the first match of
    /// the time span, so clients must search again from the last item's time. Default false.
    pub ignores_position: bool,
    /// Default: [`DownloadMethods::GetAndPost`].
    pub download_methods: DownloadMethods,
    /// Failed logins from one address before it is locked out; 0 never locks. Default 5.
    pub lockout_after: u32,
    /// How long a locked-out address stays locked. Default 30 minutes.
    pub lockout: Duration,
    /// How long a nonce is good for; an older one gets 401 with `stale=TRUE`. Default 5 min.
    pub nonce_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_downloads: None,
            bytes_per_second: None,
            max_concurrent_searches: 1,
            max_results_per_page: 64,
            search_shape: SearchShape::Both,
            ignores_position: false,
            download_methods: DownloadMethods::GetAndPost,
            lockout_after: 5,
            lockout: Duration::from_secs(30 * 60),
            nonce_lifetime: Duration::from_secs(5 * 60),
        }
    }
}

/// The track list shapes a device's search accepts; the other shape gets HTTP 400
/// `badXmlContent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchShape {
    #[default]
    Both,
    /// `<trackList><trackID>101</trackID></trackList>` only.
    TrackListOnly,
    /// `<trackIDList><trackID>101</trackID></trackIDList>` only.
    TrackIdListOnly,
}

/// The methods `/ISAPI/ContentMgmt/download` answers; the other gets HTTP 405.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownloadMethods {
    #[default]
    GetAndPost,
    PostOnly,
    GetOnly,
}

/// Misbehaviour to inject. Default: none.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Delay before download response headers and before search replies.
    pub slow_first_byte: Option<Duration>,
    /// A download sends this many bytes, then nothing more, keeping the connection open
    /// until the client goes away.
    pub stall_after: Option<u64>,
    /// A download's `Content-Length` is the full size but the connection closes after this
    /// many bytes.
    pub truncate_after: Option<u64>,
    /// A download has the bits of the 16 bytes from this offset flipped (length unchanged).
    pub corrupt_at: Option<u64>,
    /// Every ISAPI request gets HTTP 503 with a plain `Service Unavailable` body.
    pub http_503: bool,
    /// A download answers HTTP 200 with a `ResponseStatus` (4, `notSupport`) instead of video.
    pub xml_refusal: bool,
}
