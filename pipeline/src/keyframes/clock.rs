//! [`Clock`]: a keyframe's time since the first keyframe, monotonic across timestamp jumps.

use std::time::Duration;

/// A forward jump larger than this is a discontinuity (a camera's clock reset, a spliced
/// recording), not elapsed time.
pub(super) const MAX_GAP: Duration = Duration::from_secs(10);

/// Turns presentation timestamps into times since the first keyframe.
///
/// A keyframe is placed by its timestamp's distance from the last keyframe that had one
/// (its anchor), so a keyframe without a timestamp in between does not shift the ones after
/// it. When a timestamp is missing, or would put the keyframe at or before the previous one,
/// or more than [`MAX_GAP`] after it (a camera's clock reset, a spliced recording), the
/// keyframe comes one keyframe interval (the last measured one; one frame before any) after
/// the previous keyframe, and a timestamp there becomes the new anchor.
#[derive(Debug)]
pub(super) struct Clock {
    time_base: (i32, i32),
    /// The last measured distance between two keyframes placed by their timestamps.
    interval: Duration,
    last_time: Option<Duration>,
    /// The last keyframe with a timestamp: that timestamp and its time.
    anchor: Option<(i64, Duration)>,
}

impl Clock {
    /// `time_base` and `frame_rate` as (num, den); a missing frame rate counts as 25 fps.
    pub(super) fn new(time_base: (i32, i32), frame_rate: (i32, i32)) -> Clock {
        let frame = match frame_rate {
            (num, den) if num > 0 && den > 0 => {
                Duration::from_nanos((1_000_000_000u64 * den as u64) / num as u64)
            }
            _ => Duration::from_millis(40),
        };
        Clock {
            time_base,
            interval: frame,
            last_time: None,
            anchor: None,
        }
    }

    /// The time of the next keyframe, whose timestamp is `pts`.
    pub(super) fn next(&mut self, pts: Option<i64>) -> Duration {
        let Some(last_time) = self.last_time else {
            self.last_time = Some(Duration::ZERO);
            self.anchor = pts.map(|pts| (pts, Duration::ZERO));
            return Duration::ZERO;
        };
        let placed = pts
            .zip(self.anchor)
            .and_then(|(pts, (anchor_pts, anchor_time))| {
                let delta = pts.checked_sub(anchor_pts)?;
                Some(anchor_time + self.duration(delta)?)
            })
            .filter(|time| *time > last_time && *time - last_time <= MAX_GAP);
        let time = match placed {
            Some(time) => {
                self.interval = time - last_time;
                time
            }
            None => last_time + self.interval,
        };
        if let Some(pts) = pts {
            self.anchor = Some((pts, time));
        }
        self.last_time = Some(time);
        time
    }

    /// `delta` time-base units as a duration, if positive and representable.
    fn duration(&self, delta: i64) -> Option<Duration> {
        let (num, den) = self.time_base;
        if delta <= 0 || num <= 0 || den <= 0 {
            return None;
        }
        let nanos = i128::from(delta) * i128::from(num) * 1_000_000_000 / i128::from(den);
        u64::try_from(nanos).ok().map(Duration::from_nanos)
    }
}
