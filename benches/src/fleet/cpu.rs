//! A process's CPU time over the load when a fault may kill it and start another in its
//! place (the relay, the broker): every process that held the place, summed.

use std::collections::BTreeMap;

/// Each pid's first and last CPU time read, seconds. A process first seen after the
/// window's start began in it, from 0; of a killed one, what it used after its last reading
/// (up to the reading period) is missed.
#[derive(Debug, Default)]
pub(super) struct CpuTally {
    seen: BTreeMap<u32, (f64, f64)>,
}

impl CpuTally {
    /// Reads `pid`'s CPU time now (nothing if there is none or it is gone); `at_start`: the
    /// window's first reading.
    pub(super) fn sample(&mut self, pid: Option<u32>, at_start: bool) {
        if let Some(pid) = pid
            && let Some(now) = crate::proc::cpu_seconds(Some(pid))
        {
            self.record(pid, now, at_start);
        }
    }

    fn record(&mut self, pid: u32, now: f64, at_start: bool) {
        let first = if at_start { now } else { 0.0 };
        self.seen.entry(pid).or_insert((first, now)).1 = now;
    }

    /// The CPU seconds used over the window by every process seen; NaN if none was.
    pub(super) fn seconds(&self) -> f64 {
        if self.seen.is_empty() {
            return f64::NAN;
        }
        self.seen.values().map(|(first, last)| last - first).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::CpuTally;

    #[test]
    fn a_process_started_again_adds_its_whole_time_to_the_one_before() {
        let mut tally = CpuTally::default();
        assert!(tally.seconds().is_nan());
        tally.record(10, 5.0, true);
        tally.record(10, 6.5, false);
        // Killed: its pid is gone; a new process holds the place from 0.
        tally.record(20, 0.25, false);
        tally.record(20, 1.0, false);
        assert_eq!(tally.seconds(), 2.5);
    }

    #[test]
    fn a_process_known_at_the_start_counts_from_its_first_reading() {
        let mut tally = CpuTally::default();
        tally.record(7, 100.0, true);
        assert_eq!(tally.seconds(), 0.0);
        tally.record(7, 103.0, false);
        assert_eq!(tally.seconds(), 3.0);
    }
}
