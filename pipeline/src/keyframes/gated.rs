//! [`GopWatch`]: the extractor's side of the GOP gate. It holds each keyframe's packet
//! while the packets of its GOP go by (sizes, flags, timestamps; nothing is decoded), then
//! asks the camera's [`MotionGates`] whether to decode it. The held packet is one reference
//! (no copy); at most one is held at a time. A GOP that runs past
//! [`GateConfig::max_gop`](crate::motion::GateConfig::max_gop) is judged at that point.

use std::time::Duration;

use super::clock::Clock;
use super::ffi::Packet;
use crate::motion::{GateCounters, GopPackets, GopVerdict, MotionGates, SkipReason};

/// A keyframe whose GOP has been judged.
pub(super) struct Judged {
    pub(super) verdict: GopVerdict,
    pub(super) pts: Option<i64>,
    pub(super) time: Duration,
    pub(super) offset: u64,
}

pub(super) struct GopWatch {
    gates: MotionGates,
    /// Time base (num, den) of the stream's timestamps.
    time_base: (i32, i32),
    start: Option<jiff::Timestamp>,
    /// The keyframe waiting for its GOP, when `holding`.
    held: Packet,
    /// The last keyframe judged worth decoding, moved out of `held` when it was judged, so
    /// the next keyframe can be held before it is sent to the decoder.
    pub(super) ready: Packet,
    holding: bool,
    held_pts: Option<i64>,
    held_offset: u64,
    gop: GopPackets,
    /// The largest pts of the GOP so far (for B-frames) and its first (for its length).
    max_pts: Option<i64>,
    /// This extraction's counts of the GOP gate.
    pub(super) counters: GateCounters,
}

impl GopWatch {
    /// `held` and `ready` are two blank packets.
    pub(super) fn new(
        gates: MotionGates,
        [held, ready]: [Packet; 2],
        time_base: (i32, i32),
        start: Option<jiff::Timestamp>,
    ) -> GopWatch {
        GopWatch {
            gates,
            time_base,
            start,
            held,
            ready,
            holding: false,
            held_pts: None,
            held_offset: 0,
            gop: GopPackets::default(),
            max_pts: None,
            counters: GateCounters::default(),
        }
    }

    /// A keyframe packet: judges the keyframe held (its GOP complete), then holds this one
    /// (taking its data out of `packet`).
    pub(super) fn keyframe(
        &mut self,
        packet: &mut Packet,
        offset: u64,
        clock: &mut Clock,
    ) -> Option<Judged> {
        let judged = self.judge(true, clock);
        self.held.take_from(packet);
        self.holding = true;
        self.held_pts = self.held.pts();
        self.held_offset = offset;
        self.gop = GopPackets {
            key_size: self.held.size(),
            ..GopPackets::default()
        };
        self.max_pts = self.held_pts;
        judged
    }

    /// Any other packet of the video stream; judges the held keyframe if its GOP has run
    /// too long.
    pub(super) fn frame(&mut self, packet: &Packet, clock: &mut Clock) -> Option<Judged> {
        if !self.holding {
            return None;
        }
        self.gop.sizes.push(packet.size());
        if let Some(pts) = packet.pts() {
            if self.max_pts.is_some_and(|max| pts < max) {
                self.gop.reordered = true;
            }
            self.max_pts = self.max_pts.max(Some(pts));
        }
        let span = self.seconds(self.max_pts.zip(self.held_pts).map(|(a, b)| a - b));
        let max_gop = self.gates.config().max_gop.as_secs_f64();
        // Without timestamps, 25 frames a second.
        let too_long = span.unwrap_or(self.gop.sizes.len() as f64 / 25.0) > max_gop;
        if too_long {
            self.gop.too_long = true;
            return self.judge(false, clock);
        }
        None
    }

    /// The end of the input: judges the held keyframe on what its GOP showed.
    pub(super) fn end(&mut self, clock: &mut Clock) -> Option<Judged> {
        self.judge(false, clock)
    }

    fn judge(&mut self, complete: bool, clock: &mut Clock) -> Option<Judged> {
        if !std::mem::take(&mut self.holding) {
            return None;
        }
        self.gop.complete = complete;
        let time = clock.next(self.held_pts);
        let at = match self.start {
            Some(start) => start.checked_add(time).ok().map(|t| t.as_millisecond()),
            None => i64::try_from(time.as_millis()).ok(),
        };
        let verdict = self.gates.judge_gop(&self.gop, at);
        match verdict {
            GopVerdict::Skip => self.counters.skipped(SkipReason::StaticGop),
            GopVerdict::Decode(reason) => {
                self.counters.decoded(reason);
                self.ready.take_from(&mut self.held);
            }
        }
        Some(Judged {
            verdict,
            pts: self.held_pts,
            time,
            offset: self.held_offset,
        })
    }

    fn seconds(&self, ticks: Option<i64>) -> Option<f64> {
        let (num, den) = self.time_base;
        (den > 0 && num > 0).then_some(())?;
        Some(ticks? as f64 * f64::from(num) / f64::from(den))
    }
}
