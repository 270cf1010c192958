//! Which recordings a device has: a grid of equal recordings per track on its wall clock.
//!
//! Nothing is stored per recording. Track `t` has recordings `0..count`; recording `i`
//! covers wall-clock `[first + i*R, first + (i+1)*R)` where R is `recording_minutes` and
//! `first` is `days` before the end of the recorded period (rounded down to R, counting
//! from the civil epoch, so with R dividing a day recordings start on the hour, day...).
//! Wall-clock times are what the device writes and searches by; a daylight-saving change
//! makes one recording an hour longer or shorter in real time, as on a device.
//!
//! A recording's body is made from its track's clip, or from a clip of its own when the
//! device's [`DeviceConfig::recording_clips`] names one for it.
//!
//! A recording is named by its playback URI,
//! `rtsp://<host>:<port>/Streaming/tracks/<track>/?starttime=<uri time>&endtime=<uri
//! time>&name=ch<channel>_<index>&size=<body bytes>`, the times compact (`20261124T100000Z`)
//! or, with the `iso_uri_times` quirk, ISO 8601. [`Catalog::find`] reads one back in either
//! spelling, ignoring the host and port; `name` and `size` may be left out but must match
//! when given.

use std::{collections::HashMap, ops::Range, path::Path, sync::Arc};

use jiff::{
    Timestamp,
    civil::DateTime,
    tz::{Offset, TimeZone},
};

use super::{
    Codec, DeviceConfig,
    body::RecordingBody,
    clip::{Clip, VideoCodec},
};
use crate::time::{DeviceZone, format_uri_time, format_wall_clock, parse_uri_time};

/// One recording track of a device.
#[derive(Debug, Clone)]
pub(crate) struct TrackInfo {
    pub(crate) id: u32,
    pub(crate) channel: u32,
    pub(crate) codec: VideoCodec,
    pub(crate) clip: Arc<Clip>,
}

/// One recording: a track and its place on the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RecordingId {
    pub(crate) track: u32,
    pub(crate) index: u64,
}

/// A device's recordings.
#[derive(Debug)]
pub(crate) struct Catalog {
    pub(crate) zone: DeviceZone,
    tracks: Vec<TrackInfo>,
    /// Recordings made from a clip of their own instead of their track's.
    own_clips: HashMap<RecordingId, Arc<Clip>>,
    serial: String,
    /// `host:port` written into playback URIs.
    authority: String,
    /// Wall-clock start of recording 0, in seconds since the civil epoch.
    first: i64,
    /// Seconds per recording.
    length: i64,
    /// Recordings per track.
    count: u64,
    /// Playback URI times in ISO 8601 ([`super::Quirks::iso_uri_times`]).
    iso_uri_times: bool,
}

impl Catalog {
    /// The recordings of `config`, whose period ends at `end` (or `now`), served from
    /// `authority`; `clip_for` gives the tracks' clips, `own_clip_for` the clips of
    /// [`DeviceConfig::recording_clips`] by path.
    pub(crate) fn new(
        config: &DeviceConfig,
        clip_for: impl Fn(VideoCodec) -> Option<Arc<Clip>>,
        own_clip_for: impl Fn(&Path) -> Option<Arc<Clip>>,
        authority: String,
        now: Timestamp,
    ) -> Result<Catalog, String> {
        if config.recording_minutes == 0 {
            return Err("recording_minutes must be at least 1".to_owned());
        }
        let zone = DeviceZone::from_hikvision_tz(&config.time_zone)?;
        let length = i64::from(config.recording_minutes) * 60;
        let end_local = civil_seconds(zone.to_local(config.end.unwrap_or(now)))?;
        let end = end_local.div_euclid(length) * length;
        let count = i64::from(config.days) * 86_400 / length;
        let tracks = (1..=config.channels)
            .map(|channel| -> Result<TrackInfo, String> {
                let codec = match config.codec {
                    Codec::H264 => VideoCodec::H264,
                    Codec::H265 => VideoCodec::H265,
                    Codec::Mixed if channel % 2 == 1 => VideoCodec::H264,
                    Codec::Mixed => VideoCodec::H265,
                };
                Ok(TrackInfo {
                    id: channel * 100 + 1,
                    channel,
                    codec,
                    clip: clip_for(codec)
                        .ok_or_else(|| format!("no {} clip loaded", codec.isapi_name()))?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let recordings = count.unsigned_abs();
        let mut own_clips = HashMap::new();
        for own in &config.recording_clips {
            let path = own.path.display();
            let track = tracks
                .iter()
                .find(|t| t.id == own.track)
                .ok_or_else(|| format!("recording clip {path}: there is no track {}", own.track))?;
            if own.index >= recordings {
                return Err(format!(
                    "recording clip {path}: track {} has recordings 0..{recordings}, not {}",
                    own.track, own.index
                ));
            }
            let clip = own_clip_for(&own.path)
                .ok_or_else(|| format!("recording clip {path} was not loaded"))?;
            let found = clip.video_codec();
            if found != Some(track.codec) {
                return Err(format!(
                    "recording clip {path} is {} but track {} records {}",
                    found.map_or("of no codec found", VideoCodec::isapi_name),
                    own.track,
                    track.codec.isapi_name()
                ));
            }
            let id = RecordingId {
                track: own.track,
                index: own.index,
            };
            if own_clips.insert(id, clip).is_some() {
                return Err(format!(
                    "recording clip {path}: track {} recording {} already has a clip",
                    own.track, own.index
                ));
            }
        }
        Ok(Catalog {
            zone,
            tracks,
            own_clips,
            serial: config.serial.clone(),
            authority,
            first: end - count * length,
            length,
            count: recordings,
            iso_uri_times: config.quirks.iso_uri_times,
        })
    }

    pub(crate) fn tracks(&self) -> &[TrackInfo] {
        &self.tracks
    }

    pub(crate) fn track(&self, id: u32) -> Option<&TrackInfo> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// Recordings per track.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Wall-clock start and end of a recording.
    pub(crate) fn span(&self, index: u64) -> (DateTime, DateTime) {
        let start = self.first + i64::try_from(index).unwrap_or(i64::MAX / 2) * self.length;
        (
            civil_from_seconds(start),
            civil_from_seconds(start + self.length),
        )
    }

    /// Real start and end of a recording: its wall-clock span through the device's zone.
    pub(crate) fn instants(&self, index: u64) -> Option<(Timestamp, Timestamp)> {
        if index >= self.count {
            return None;
        }
        let (start, end) = self.span(index);
        Some((
            self.zone.to_timestamp(start).ok()?,
            self.zone.to_timestamp(end).ok()?,
        ))
    }

    /// The recordings (indexes) overlapping the wall-clock span `[start, end)`.
    pub(crate) fn overlapping(&self, start: DateTime, end: DateTime) -> Result<Range<u64>, String> {
        let (start, end) = (civil_seconds(start)?, civil_seconds(end)?);
        let count = i64::try_from(self.count).unwrap_or(i64::MAX);
        let lo = (start - self.first).div_euclid(self.length).clamp(0, count);
        // Recordings starting before `end`: ceil((end - first) / length).
        let hi = (-(-(end - self.first)).div_euclid(self.length)).clamp(0, count);
        Ok(lo.unsigned_abs()..hi.max(lo).unsigned_abs())
    }

    /// The playback URI of a recording.
    pub(crate) fn playback_uri(&self, id: RecordingId) -> Option<String> {
        let track = self.track(id.track)?;
        let (start, end) = self.span(id.index);
        let uri_time = |t| {
            if self.iso_uri_times {
                format_wall_clock(t)
            } else {
                format_uri_time(t)
            }
        };
        Some(format!(
            "rtsp://{}/Streaming/tracks/{}/?starttime={}&endtime={}&name={}&size={}",
            self.authority,
            id.track,
            uri_time(start),
            uri_time(end),
            Self::name(track, id.index),
            self.body(id)?.len()
        ))
    }

    /// The recording a playback URI names, if this device has it.
    pub(crate) fn find(&self, uri: &str) -> Option<RecordingId> {
        let uri = uri.trim();
        let after = &uri[uri.find("/Streaming/tracks/")? + "/Streaming/tracks/".len()..];
        let (path, query) = after.split_once('?').unwrap_or((after, ""));
        let track_id: u32 = path.trim_end_matches('/').parse().ok()?;
        let track = self.track(track_id)?;
        let mut start = None;
        let mut end = None;
        let mut name = None;
        let mut size = None;
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key.to_ascii_lowercase().as_str() {
                "starttime" => start = Some(parse_uri_time(value).ok()?),
                "endtime" => end = Some(parse_uri_time(value).ok()?),
                "name" => name = Some(value),
                "size" => size = Some(value.parse::<u64>().ok()?),
                _ => {}
            }
        }
        let offset = civil_seconds(start?).ok()? - self.first;
        if offset < 0 || offset % self.length != 0 {
            return None;
        }
        let index = (offset / self.length).unsigned_abs();
        if index >= self.count {
            return None;
        }
        let id = RecordingId {
            track: track_id,
            index,
        };
        if end? != self.span(index).1 {
            return None;
        }
        if name.is_some_and(|n| n != Self::name(track, index)) {
            return None;
        }
        if size.is_some_and(|s| s != self.body(id).map_or(0, |b| b.len())) {
            return None;
        }
        Some(id)
    }

    /// A recording's body, ready to be read from the start.
    pub(crate) fn body(&self, id: RecordingId) -> Option<RecordingBody> {
        let track = self.track(id.track)?;
        if id.index >= self.count {
            return None;
        }
        let (start, _) = self.span(id.index);
        let start = format_uri_time(start);
        let tag = format!(
            "dipper-sim device={} track={} start={}",
            self.serial,
            id.track,
            start.trim_end_matches('Z')
        );
        let clip = self.own_clips.get(&id).unwrap_or(&track.clip);
        Some(RecordingBody::new(
            Arc::clone(clip),
            tag,
            self.length.unsigned_abs(),
        ))
    }

    fn name(track: &TrackInfo, index: u64) -> String {
        format!("ch{:02}_{index:010}", track.channel)
    }
}

/// Seconds since the civil epoch of a wall-clock time (as if it were UTC).
pub(crate) fn civil_seconds(dt: DateTime) -> Result<i64, String> {
    Offset::UTC
        .to_timestamp(dt)
        .map(|ts| ts.as_second())
        .map_err(|e| format!("time {dt}: {e}"))
}

/// The wall-clock time `seconds` after the civil epoch.
fn civil_from_seconds(seconds: i64) -> DateTime {
    Timestamp::from_second(seconds)
        .unwrap_or(Timestamp::MAX)
        .to_zoned(TimeZone::UTC)
        .datetime()
}
