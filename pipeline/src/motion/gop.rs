//! The GOP gate: whether a keyframe is worth decoding, judged from the sizes, flags and
//! timestamps of its GOP's packets alone, against the camera's running baseline.
//!
//! A GOP's score is how far the shape of its P-frame sizes (log size by position after
//! the keyframe, with the GOP's overall level taken out, since rate control moves every
//! frame's size together) departs from the camera's running profile, and from the GOP
//! before it. Sensor noise and infrared raise every GOP's score alike, so the threshold
//! is the running mean of static GOPs' scores plus [`GateConfig::gop_sensitivity`]
//! running deviations: it follows the camera. A keyframe is decoded when the GOP before
//! it or its own GOP moved (someone walking in shows in the frames before the keyframe,
//! someone walking out in those after), and otherwise skipped, unless the camera is
//! warming up, is due for [`GateConfig::max_interval`], an audit, or has fallen back.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{DecodeReason, FallbackReason, GateConfig};

/// P-frame positions after a keyframe whose sizes make the profile.
const PROFILE_LEN: usize = 64;
/// A GOP with fewer P-frames than this gives no score.
const MIN_FRAMES: usize = 8;
/// Audits remembered to judge the GOP gate by.
pub const AUDIT_WINDOW: u32 = 8;
/// Warm-up keyframes the pixel gate finds changed that make the GOP gate fall back: its
/// baseline would be learnt from motion (a camera on a busy road, trees in the wind), and
/// motion would look like the baseline.
const WARM_UP_CHANGES: u32 = 3;
/// A GOP whose P-frames are mostly (this share) within [`CONSTANT_SIZE_TOLERANCE`] of
/// their median size is padded to a constant bitrate: its sizes say nothing.
const CONSTANT_SIZE_SHARE: f32 = 0.6;
const CONSTANT_SIZE_TOLERANCE: f32 = 0.01;
/// How fast the profile and the score statistics follow a static camera.
const PROFILE_RATE: f32 = 0.2;
const SCORE_RATE: f32 = 0.1;
/// ... and how slowly the profile follows a GOP that moved.
const PROFILE_RATE_MOVING: f32 = 0.03;

/// One GOP as the demuxer saw it.
#[derive(Debug, Clone, Default)]
pub struct GopPackets {
    /// The keyframe's size in bytes.
    pub key_size: u32,
    /// The sizes of the frames after it, in decoding order.
    pub sizes: Vec<u32>,
    /// Whether any frame came out of presentation order (B-frames).
    pub reordered: bool,
    /// Whether the GOP ran longer than [`GateConfig::max_gop`] (no keyframe yet).
    pub too_long: bool,
    /// Whether the next keyframe ended it (false at the end of a recording or when
    /// `too_long`).
    pub complete: bool,
}

/// What the GOP gate decided for a keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GopVerdict {
    Decode(DecodeReason),
    Skip,
}

/// The GOP gate's memory of one camera; serializable, to survive restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct GopState {
    gops_seen: u64,
    /// Running log size by position, the GOP's mean taken out.
    profile: Vec<f32>,
    /// The last GOP's, likewise.
    previous: Vec<f32>,
    /// Running mean and deviation of static GOPs' scores: against the profile, and
    /// against the previous GOP.
    profile_score: Stat,
    previous_score: Stat,
    previous_moved: bool,
    /// Lengths (frames) of the last eight complete GOPs.
    lengths: VecDeque<u32>,
    /// The cause and the GOPs left of a fallback.
    fallback: Option<(FallbackReason, u32)>,
    /// Static keyframes since the last audit.
    since_audit: u32,
    /// The last audits: bit set = the pixel gate saw change the GOP gate had not.
    audits: u32,
    audits_seen: u32,
    /// When a keyframe of this camera was last decoded, in ms (wall clock, or stream time).
    last_decoded_ms: Option<i64>,
    /// Warm-up keyframes the pixel gate found changed.
    #[serde(default)]
    warm_up_changes: u32,
}

/// A running mean and mean absolute deviation.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Stat {
    mean: f32,
    deviation: f32,
    samples: u32,
}

impl Stat {
    fn add(&mut self, value: f32) {
        if self.samples == 0 {
            self.mean = value;
            self.deviation = 0.25 * value;
        } else {
            let rate = SCORE_RATE.max(1.0 / (self.samples + 1) as f32);
            self.deviation += rate * ((value - self.mean).abs() - self.deviation);
            self.mean += rate * (value - self.mean);
        }
        self.samples += 1;
    }

    /// Whether `value` lies beyond `sensitivity` deviations (at least a tenth of the mean).
    fn exceeded_by(&self, value: f32, sensitivity: f32) -> bool {
        self.samples > 0 && value > self.mean + sensitivity * self.deviation.max(0.1 * self.mean)
    }
}

impl GopState {
    /// Judges the keyframe that opened `gop`, `at_ms` being its time.
    pub(super) fn judge(
        &mut self,
        gop: &GopPackets,
        at_ms: Option<i64>,
        config: &GateConfig,
    ) -> GopVerdict {
        self.gops_seen += 1;
        self.notice_fallbacks(gop, config);
        let moved = self.score(gop, config);
        let previous_moved = std::mem::replace(&mut self.previous_moved, moved == Some(true));
        let due = match (self.last_decoded_ms, at_ms) {
            (Some(last), Some(now)) => {
                (now - last).unsigned_abs() >= config.max_interval.as_millis() as u64
            }
            (None, _) => true,
            (Some(_), None) => false,
        };
        let verdict = if let Some((reason, _)) = self.fallback {
            GopVerdict::Decode(DecodeReason::Fallback(reason))
        } else if self.gops_seen <= u64::from(config.warm_up_gops) {
            GopVerdict::Decode(DecodeReason::WarmUp)
        } else if moved == Some(true) || previous_moved {
            GopVerdict::Decode(DecodeReason::Motion)
        } else if moved.is_none() {
            GopVerdict::Decode(DecodeReason::Unjudged)
        } else if due {
            GopVerdict::Decode(DecodeReason::MaxInterval)
        } else if config.audit_every > 0 && self.since_audit + 1 >= config.audit_every {
            GopVerdict::Decode(DecodeReason::Audit)
        } else {
            GopVerdict::Skip
        };
        match verdict {
            GopVerdict::Skip => self.since_audit += 1,
            GopVerdict::Decode(reason) => {
                if reason == DecodeReason::Audit {
                    self.since_audit = 0;
                }
                if at_ms.is_some() {
                    self.last_decoded_ms = at_ms;
                }
            }
        }
        verdict
    }

    /// Starts or prolongs a fallback for what this GOP shows; counts one GOP off the
    /// current one otherwise.
    fn notice_fallbacks(&mut self, gop: &GopPackets, config: &GateConfig) {
        if gop.complete {
            self.lengths.push_back(gop.sizes.len() as u32 + 1);
            if self.lengths.len() > 8 {
                self.lengths.pop_front();
            }
        }
        let longest = self.lengths.iter().copied().max().unwrap_or(0);
        let shortest = self.lengths.iter().copied().min().unwrap_or(0);
        let cause = if gop.reordered {
            Some(FallbackReason::BFrames)
        } else if gop.too_long {
            Some(FallbackReason::NoKeyframe)
        } else if self.lengths.len() >= 3
            && longest as f32 > config.max_gop_ratio * shortest.max(1) as f32
        {
            Some(FallbackReason::VariableGop)
        } else if constant_sizes(&gop.sizes) {
            Some(FallbackReason::Uninformative)
        } else {
            None
        };
        match (cause, &mut self.fallback) {
            (Some(reason), _) => self.fallback = Some((reason, config.fallback_gops)),
            (None, Some((_, left))) if *left > 1 => *left -= 1,
            (None, Some(_)) => {
                // Over: the camera is learnt again before it is gated.
                self.fallback = None;
                self.gops_seen = 1;
                self.warm_up_changes = 0;
            }
            (None, None) => {}
        }
    }

    /// Whether the GOP moved, or `None` when it is too short to say. Learns from it.
    fn score(&mut self, gop: &GopPackets, config: &GateConfig) -> Option<bool> {
        if gop.sizes.len() < MIN_FRAMES || gop.reordered {
            return None;
        }
        let shape = shape(&gop.sizes);
        if self.profile.is_empty() {
            self.profile = shape.clone();
            self.previous = shape;
            return Some(false);
        }
        let against_profile = distance(&shape, &self.profile);
        let against_previous = distance(&shape, &self.previous);
        let warming = self.gops_seen <= u64::from(config.warm_up_gops);
        let moved = !warming
            && (self
                .profile_score
                .exceeded_by(against_profile, config.gop_sensitivity)
                || self
                    .previous_score
                    .exceeded_by(against_previous, config.gop_sensitivity));
        let rate = if moved {
            PROFILE_RATE_MOVING
        } else {
            PROFILE_RATE
        };
        let n = self.profile.len().min(shape.len());
        for (kept, new) in self.profile[..n].iter_mut().zip(&shape[..n]) {
            *kept += rate * (new - *kept);
        }
        if shape.len() > self.profile.len() {
            self.profile.extend_from_slice(&shape[n..]);
        }
        if !moved {
            self.profile_score.add(against_profile);
            self.previous_score.add(against_previous);
        }
        self.previous = shape;
        Some(moved)
    }

    /// Records what the pixel gate found on an audited keyframe: `changed` means the GOP
    /// gate had missed something. Too many misses make it fall back.
    pub(super) fn audited(&mut self, changed: bool, config: &GateConfig) {
        self.audits = (self.audits << 1 | u32::from(changed)) & ((1 << AUDIT_WINDOW) - 1);
        self.audits_seen = (self.audits_seen + 1).min(AUDIT_WINDOW);
        if self.audits.count_ones() >= config.audit_misses.max(1) {
            self.fallback = Some((FallbackReason::Uninformative, config.fallback_gops));
            self.audits = 0;
        }
    }

    /// Records what the pixel gate found on a warm-up keyframe: too many changed ones make
    /// the GOP gate fall back (`changed`: it found motion).
    pub(super) fn warm_up_judged(&mut self, changed: bool, config: &GateConfig) {
        self.warm_up_changes += u32::from(changed);
        if self.warm_up_changes >= WARM_UP_CHANGES {
            self.fallback = Some((FallbackReason::Uninformative, config.fallback_gops));
            self.warm_up_changes = 0;
        }
    }

    pub(super) fn fallback(&self) -> Option<FallbackReason> {
        self.fallback.map(|(reason, _)| reason)
    }

    pub(super) fn warming_up(&self, config: &GateConfig) -> bool {
        self.gops_seen <= u64::from(config.warm_up_gops)
    }
}

/// Log sizes of the first [`PROFILE_LEN`] frames, their mean taken out.
fn shape(sizes: &[u32]) -> Vec<f32> {
    let logs: Vec<f32> = sizes
        .iter()
        .take(PROFILE_LEN)
        .map(|&s| (s.max(64) as f32).ln())
        .collect();
    let mean = logs.iter().sum::<f32>() / logs.len().max(1) as f32;
    logs.into_iter().map(|l| l - mean).collect()
}

/// Mean absolute difference of two shapes over their common length.
fn distance(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len()).max(1);
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / n as f32
}

/// Whether the frames are mostly one size, as a bitrate padded to a constant makes (the
/// encoder's rate control still lets a few frames off it).
fn constant_sizes(sizes: &[u32]) -> bool {
    if sizes.len() < MIN_FRAMES {
        return false;
    }
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2] as f32;
    let near = sizes
        .iter()
        .filter(|&&s| (s as f32 - median).abs() <= CONSTANT_SIZE_TOLERANCE * median)
        .count();
    median > 0.0 && near as f32 >= CONSTANT_SIZE_SHARE * sizes.len() as f32
}
