//! [`GateCounters`]: every keyframe the gates saw, counted by what they did and why, with
//! low-cardinality reason labels for metrics (`static_gop`, `motion`, `fallback_b_frames`).

use serde::{Deserialize, Serialize};

/// Why the GOP gate fell back to decoding every keyframe of a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FallbackReason {
    /// A GOP longer than [`GateConfig::max_gop`](super::GateConfig::max_gop).
    NoKeyframe,
    /// GOP lengths vary (a smart codec's dynamic GOP).
    VariableGop,
    /// Frames out of presentation order: the stream has B-frames.
    BFrames,
    /// P-frame sizes say little: near constant (padded CBR), or the pixel gate found
    /// change where the GOP gate saw none.
    Uninformative,
}

impl FallbackReason {
    /// Its metric label, e.g. `fallback_b_frames`.
    pub fn label(self) -> &'static str {
        match self {
            FallbackReason::NoKeyframe => "fallback_no_keyframe",
            FallbackReason::VariableGop => "fallback_variable_gop",
            FallbackReason::BFrames => "fallback_b_frames",
            FallbackReason::Uninformative => "fallback_uninformative",
        }
    }

    /// What a camera's status says.
    pub fn describe(self) -> &'static str {
        match self {
            FallbackReason::NoKeyframe => "no keyframe for too long; decoding every keyframe",
            FallbackReason::VariableGop => "variable GOP; decoding every keyframe",
            FallbackReason::BFrames => "B-frames in the stream; decoding every keyframe",
            FallbackReason::Uninformative => {
                "P-frame sizes do not show motion (smart codec or padded bitrate); decoding every keyframe"
            }
        }
    }
}

/// Why a keyframe was decoded (the GOP gate let it through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DecodeReason {
    /// The GOP before or after the keyframe moved.
    Motion,
    /// No keyframe analysed for [`GateConfig::max_interval`](super::GateConfig).
    MaxInterval,
    /// The camera's baseline is still being learned.
    WarmUp,
    /// A static keyframe decoded to check the GOP gate against the pixel gate.
    Audit,
    /// Too few frames after the keyframe to judge (the end of a recording).
    Unjudged,
    /// The GOP gate does not trust this stream.
    Fallback(FallbackReason),
}

impl DecodeReason {
    const ALL: [DecodeReason; 9] = [
        DecodeReason::Motion,
        DecodeReason::MaxInterval,
        DecodeReason::WarmUp,
        DecodeReason::Audit,
        DecodeReason::Unjudged,
        DecodeReason::Fallback(FallbackReason::NoKeyframe),
        DecodeReason::Fallback(FallbackReason::VariableGop),
        DecodeReason::Fallback(FallbackReason::BFrames),
        DecodeReason::Fallback(FallbackReason::Uninformative),
    ];

    /// Its metric label, e.g. `motion`, `fallback_variable_gop`.
    pub fn label(self) -> &'static str {
        match self {
            DecodeReason::Motion => "motion",
            DecodeReason::MaxInterval => "max_interval",
            DecodeReason::WarmUp => "warm_up",
            DecodeReason::Audit => "audit",
            DecodeReason::Unjudged => "unjudged",
            DecodeReason::Fallback(reason) => reason.label(),
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Why a decoded keyframe went to the detector (the pixel gate let it, or part of it,
/// through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DetectReason {
    /// Regions changed against the background: only they go.
    Motion,
    /// Much of the frame changed: the whole frame goes.
    MuchChanged,
    /// Decoded for [`DecodeReason::MaxInterval`]: the whole frame goes.
    MaxInterval,
    /// No background yet for this camera: the whole frame goes.
    WarmUp,
}

impl DetectReason {
    const ALL: [DetectReason; 4] = [
        DetectReason::Motion,
        DetectReason::MuchChanged,
        DetectReason::MaxInterval,
        DetectReason::WarmUp,
    ];

    /// Its metric label: `motion`, `much_changed`, `max_interval`, `warm_up`.
    pub fn label(self) -> &'static str {
        match self {
            DetectReason::Motion => "motion",
            DetectReason::MuchChanged => "much_changed",
            DetectReason::MaxInterval => "max_interval",
            DetectReason::WarmUp => "warm_up",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Why a keyframe was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SkipReason {
    /// The GOP gate: nothing moved in the GOPs around it; never decoded.
    StaticGop,
    /// The pixel gate: decoded, but nothing changed against the background.
    StaticPixels,
}

impl SkipReason {
    /// Its metric label: `static_gop` or `static_pixels`.
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::StaticGop => "static_gop",
            SkipReason::StaticPixels => "static_pixels",
        }
    }
}

/// Counts of what the gates did. `keyframes_total` = `keyframes_decoded` + skipped
/// `static_gop`; `keyframes_decoded` = `keyframes_detected` + skipped `static_pixels` (once
/// the pixel gate has judged every decoded keyframe). Add them up with `+=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateCounters {
    /// Keyframes in the streams (decoded or not).
    pub keyframes_total: u64,
    /// Keyframes the GOP gate let through to the decoder.
    pub keyframes_decoded: u64,
    /// Keyframes the pixel gate sent (whole or in regions) to the detector.
    pub keyframes_detected: u64,
    /// Regions sent to the detector (a whole frame counts one).
    pub regions_detected: u64,
    skipped_static_gop: u64,
    skipped_static_pixels: u64,
    decoded_by: [u64; DecodeReason::ALL.len()],
    detected_by: [u64; DetectReason::ALL.len()],
}

impl GateCounters {
    pub(crate) fn skipped(&mut self, reason: SkipReason) {
        match reason {
            SkipReason::StaticGop => {
                self.keyframes_total += 1;
                self.skipped_static_gop += 1;
            }
            SkipReason::StaticPixels => self.skipped_static_pixels += 1,
        }
    }

    pub(crate) fn decoded(&mut self, reason: DecodeReason) {
        self.keyframes_total += 1;
        self.keyframes_decoded += 1;
        self.decoded_by[reason.index()] += 1;
    }

    pub(super) fn detected(&mut self, reason: DetectReason, regions: usize) {
        self.keyframes_detected += 1;
        self.regions_detected += regions as u64;
        self.detected_by[reason.index()] += 1;
    }

    /// Keyframes skipped for `reason`.
    pub fn skips(&self, reason: SkipReason) -> u64 {
        match reason {
            SkipReason::StaticGop => self.skipped_static_gop,
            SkipReason::StaticPixels => self.skipped_static_pixels,
        }
    }

    /// Keyframes decoded for `reason`.
    pub fn decodes(&self, reason: DecodeReason) -> u64 {
        self.decoded_by[reason.index()]
    }

    /// Keyframes sent to the detector for `reason`.
    pub fn detections(&self, reason: DetectReason) -> u64 {
        self.detected_by[reason.index()]
    }

    /// Every count by stage and reason, for metrics: (`"skip"`, `"static_gop"`, n),
    /// (`"decode"`, `"motion"`, n), (`"detect"`, `"much_changed"`, n), ...; zeros included,
    /// so a metric exists from the start.
    pub fn by_reason(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut rows = vec![
            (
                "skip",
                SkipReason::StaticGop.label(),
                self.skipped_static_gop,
            ),
            (
                "skip",
                SkipReason::StaticPixels.label(),
                self.skipped_static_pixels,
            ),
        ];
        rows.extend(
            DecodeReason::ALL
                .iter()
                .map(|r| ("decode", r.label(), self.decodes(*r))),
        );
        rows.extend(
            DetectReason::ALL
                .iter()
                .map(|r| ("detect", r.label(), self.detections(*r))),
        );
        rows
    }
}

impl GateCounters {
    /// The counts added since `earlier` (an earlier copy of the same counters).
    pub fn since(&self, earlier: &GateCounters) -> GateCounters {
        let mut added = *self;
        added.keyframes_total -= earlier.keyframes_total.min(added.keyframes_total);
        added.keyframes_decoded -= earlier.keyframes_decoded.min(added.keyframes_decoded);
        added.keyframes_detected -= earlier.keyframes_detected.min(added.keyframes_detected);
        added.regions_detected -= earlier.regions_detected.min(added.regions_detected);
        added.skipped_static_gop -= earlier.skipped_static_gop.min(added.skipped_static_gop);
        added.skipped_static_pixels -= earlier
            .skipped_static_pixels
            .min(added.skipped_static_pixels);
        for (mine, theirs) in added.decoded_by.iter_mut().zip(earlier.decoded_by) {
            *mine -= theirs.min(*mine);
        }
        for (mine, theirs) in added.detected_by.iter_mut().zip(earlier.detected_by) {
            *mine -= theirs.min(*mine);
        }
        added
    }
}

impl std::ops::AddAssign for GateCounters {
    fn add_assign(&mut self, other: GateCounters) {
        self.keyframes_total += other.keyframes_total;
        self.keyframes_decoded += other.keyframes_decoded;
        self.keyframes_detected += other.keyframes_detected;
        self.regions_detected += other.regions_detected;
        self.skipped_static_gop += other.skipped_static_gop;
        self.skipped_static_pixels += other.skipped_static_pixels;
        for (mine, theirs) in self.decoded_by.iter_mut().zip(other.decoded_by) {
            *mine += theirs;
        }
        for (mine, theirs) in self.detected_by.iter_mut().zip(other.detected_by) {
            *mine += theirs;
        }
    }
}
