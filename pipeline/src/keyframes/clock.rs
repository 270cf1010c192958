//! [`Clock`]: a keyframe's time since the first keyframe, monotonic across timestamp jumps.

use std::time::Duration;

/// A forward jump larger than this is a discontinuity (a camera's clock reset, a spliced
/// recording), not elapsed time.
pub(super) const MAX_GAP: Duration = Duration::from_secs(10);

/// Turns presentation timestamps into times since the first keyframe. When a timestamp is
/// missing, goes backwards, repeats, or jumps forward by more than [`MAX_GAP`], the time
/// goes on from the previous keyframe's plus one frame.
#[derive(Debug)]
pub(super) struct Clock {
    time_base: (i32, i32),
    frame: Duration,
    last: Option<(Option<i64>, Duration)>,
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
            frame,
            last: None,
        }
    }

    /// The time of the next keyframe, whose timestamp is `pts`.
    pub(super) fn next(&mut self, pts: Option<i64>) -> Duration {
        let time = match self.last {
            None => Duration::ZERO,
            Some((last_pts, last_time)) => {
                let step = pts
                    .zip(last_pts)
                    .and_then(|(pts, last)| pts.checked_sub(last))
                    .and_then(|delta| self.duration(delta))
                    .filter(|d| !d.is_zero() && *d <= MAX_GAP);
                last_time + step.unwrap_or(self.frame)
            }
        };
        self.last = Some((pts, time));
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
