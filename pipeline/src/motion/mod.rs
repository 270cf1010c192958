//! Motion gates: which keyframes of a camera are worth decoding, and which parts of a
//! decoded keyframe are worth a face detector, so that the empty street most cameras show
//! most of the time costs almost nothing.
//!
//! Two gates, one state per camera ([`MotionGates`], a cheap clonable handle):
//! - the **GOP gate** (`gop.rs`) runs inside the keyframe extractor (give the handle to
//!   [`ExtractConfig::gates`](crate::keyframes::ExtractConfig::gates)): it holds each
//!   keyframe's packet until its GOP has gone by, judges the GOP from packet sizes, flags
//!   and timestamps alone, and decodes the keyframe only when the GOP before or its own
//!   moved, at least every [`GateConfig::max_interval`], for a periodic audit, or always
//!   while the stream is one it cannot read (B-frames, no keyframe for long, variable GOP,
//!   P-frame sizes that do not follow motion: [`FallbackReason`]), which
//!   [`MotionGates::status`] says for the camera's status;
//! - the **pixel gate** (`pixels.rs`) runs on each decoded keyframe
//!   ([`MotionGates::judge_keyframe`]): nothing changed, some padded regions changed, or
//!   the whole frame ([`PixelVerdict`]). Its verdict on an audited keyframe tells the GOP
//!   gate whether it missed motion; repeated misses make it fall back.
//!
//! Both thresholds follow the camera (running noise and baseline). The state is
//! serializable ([`MotionGates::state`], [`MotionGates::with_state`]) so it outlives a
//! restart, and [`GateCounters`] counts every skip and pass by reason. The handle is
//! shared: the extraction thread and the consumer lock it briefly, once per keyframe. A
//! camera's recordings may be gated in any order (backwards too).

mod config;
mod counters;
mod gop;
mod pixels;
mod regions;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

pub use config::GateConfig;
pub use counters::{DecodeReason, DetectReason, FallbackReason, GateCounters, SkipReason};
pub use gop::{AUDIT_WINDOW, GopPackets, GopVerdict};
pub use pixels::PixelVerdict;
pub use regions::Region;

use gop::GopState;
use pixels::PixelState;

/// What the gates know of one camera, to keep between recordings and across restarts
/// (serde: JSON, about 50 KB for the default 64-column grid: two numbers per cell).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GateState {
    gop: GopState,
    pixels: PixelState,
    counters: GateCounters,
    /// When a keyframe of this camera last went whole to the detector, in ms.
    #[serde(default)]
    last_whole_ms: Option<i64>,
}

/// How a camera's GOP gate stands, for its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateStatus {
    /// Learning the camera's baseline: every keyframe is decoded.
    WarmingUp,
    /// Skipping the keyframes of static GOPs.
    Gating,
    /// Decoding every keyframe, for this reason.
    Fallback(FallbackReason),
}

impl GateStatus {
    /// A sentence for the camera's status page.
    pub fn describe(self) -> &'static str {
        match self {
            GateStatus::WarmingUp => "motion gate learning the camera; decoding every keyframe",
            GateStatus::Gating => "motion gate on",
            GateStatus::Fallback(reason) => reason.describe(),
        }
    }
}

/// The two gates of one camera. Clones share the state: keep one per camera, and put a
/// clone in each of its extractions' config.
#[derive(Debug, Clone)]
pub struct MotionGates {
    config: Arc<GateConfig>,
    state: Arc<Mutex<GateState>>,
}

impl MotionGates {
    /// Gates with nothing learnt yet.
    pub fn new(config: GateConfig) -> MotionGates {
        MotionGates::with_state(config, GateState::default())
    }

    /// Gates that go on from a saved state.
    pub fn with_state(config: GateConfig, state: GateState) -> MotionGates {
        MotionGates {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Gates for one recording of the camera: what the camera has learnt so far, counting
    /// from zero and remembering their own last decoded keyframe. Recordings of a camera
    /// indexed at once each take a fork, so one recording's times do not make another's
    /// keyframes look overdue; [`MotionGates::join`] takes back what a fork learnt.
    pub fn fork(&self) -> MotionGates {
        let mut state = self.state();
        state.counters = GateCounters::default();
        MotionGates {
            config: Arc::clone(&self.config),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Takes back what `fork` learnt: its baseline and background replace this handle's
    /// (the newest recording judged is the best guess of the camera as it is), its counts
    /// are added to this handle's. Returns the fork's counts.
    pub fn join(&self, fork: &MotionGates) -> GateCounters {
        let learnt = fork.state();
        let added = learnt.counters;
        let mut state = self.state.lock();
        let mut counters = state.counters;
        counters += added;
        *state = GateState { counters, ..learnt };
        added
    }

    /// A copy of the state, to save.
    pub fn state(&self) -> GateState {
        self.state.lock().clone()
    }

    pub fn config(&self) -> &GateConfig {
        &self.config
    }

    /// Everything counted since the state began (saved states carry their counts).
    pub fn counters(&self) -> GateCounters {
        self.state.lock().counters
    }

    pub fn status(&self) -> GateStatus {
        let state = self.state.lock();
        match state.gop.fallback() {
            Some(reason) => GateStatus::Fallback(reason),
            None if state.gop.warming_up(&self.config) => GateStatus::WarmingUp,
            None => GateStatus::Gating,
        }
    }

    /// The GOP gate's verdict on the keyframe that opened `gop` (its time `at_ms`, in
    /// milliseconds of the wall clock or the stream; `None` when unknown). Counted.
    pub fn judge_gop(&self, gop: &GopPackets, at_ms: Option<i64>) -> GopVerdict {
        let mut state = self.state.lock();
        let verdict = state.gop.judge(gop, at_ms, &self.config);
        match verdict {
            GopVerdict::Skip => state.counters.skipped(SkipReason::StaticGop),
            GopVerdict::Decode(reason) => state.counters.decoded(reason),
        }
        verdict
    }

    /// The pixel gate's verdict on a decoded RGB24 keyframe (`width * height * 3` bytes),
    /// decoded for `decoded_for` (`None`: not through the GOP gate). Counted; an audited
    /// keyframe's verdict is reported to the GOP gate.
    pub fn judge_frame(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        decoded_for: Option<DecodeReason>,
    ) -> PixelVerdict {
        self.judge_frame_at(rgb, width, height, decoded_for, None)
    }

    /// [`MotionGates::judge_frame`] for a keyframe of time `at_ms` (ms, wall clock or
    /// stream): one at least [`GateConfig::max_interval`] after the last keyframe sent whole
    /// goes whole, so a person standing still (whom the background takes in) is seen.
    pub fn judge_frame_at(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        decoded_for: Option<DecodeReason>,
        at_ms: Option<i64>,
    ) -> PixelVerdict {
        let mut state = self.state.lock();
        let max_interval = self.config.max_interval.as_millis() as u64;
        let due = match (state.last_whole_ms, at_ms) {
            (Some(last), Some(now)) => (now - last).unsigned_abs() >= max_interval,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        let whole_for = (due || decoded_for == Some(DecodeReason::MaxInterval))
            .then_some(DetectReason::MaxInterval);
        let verdict = state
            .pixels
            .judge(rgb, width, height, whole_for, &self.config);
        if matches!(verdict, PixelVerdict::Whole(_)) && at_ms.is_some() {
            state.last_whole_ms = at_ms;
        }
        let changed = matches!(
            verdict,
            PixelVerdict::Regions(_) | PixelVerdict::Whole(DetectReason::MuchChanged)
        );
        match decoded_for {
            Some(DecodeReason::Audit) => state.gop.audited(changed, &self.config),
            Some(DecodeReason::WarmUp) if verdict != PixelVerdict::Whole(DetectReason::WarmUp) => {
                state.gop.warm_up_judged(changed, &self.config);
            }
            _ => {}
        }
        match &verdict {
            PixelVerdict::Static => state.counters.skipped(SkipReason::StaticPixels),
            PixelVerdict::Regions(regions) => {
                state.counters.detected(DetectReason::Motion, regions.len())
            }
            PixelVerdict::Whole(reason) => state.counters.detected(*reason, 1),
        }
        verdict
    }

    /// [`MotionGates::judge_frame`] on a keyframe from the extractor.
    #[cfg(feature = "keyframes")]
    pub fn judge_keyframe(&self, keyframe: &crate::keyframes::Keyframe) -> PixelVerdict {
        let at_ms = match keyframe.wall_clock {
            Some(t) => Some(t.as_millisecond()),
            None => i64::try_from(keyframe.time.as_millis()).ok(),
        };
        self.judge_frame_at(
            &keyframe.pixels,
            keyframe.width,
            keyframe.height,
            keyframe.decoded_for,
            at_ms,
        )
    }
}
