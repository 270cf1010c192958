//! What the OS says about a process, read from `/proc` (Linux only): peak resident memory,
//! CPU time and the open-files limit. Each reading is `None` when `/proc` does not say.

/// Clock ticks per second in `/proc/PID/stat` (`USER_HZ`, 100 on every Linux port the box
/// runs on; reading `sysconf(_SC_CLK_TCK)` would need `unsafe`).
const TICKS_PER_SECOND: f64 = 100.0;

/// `VmHWM` (peak resident set) of `pid`, or of this process, in MB (10^6 bytes).
pub(crate) fn peak_rss_mb(pid: Option<u32>) -> Option<f64> {
    status_kb(pid, "VmHWM:").map(|kb| kb * 1024.0 / 1e6)
}

/// `VmRSS` (resident set now) of `pid`, or of this process, in MB (10^6 bytes).
pub(crate) fn rss_mb(pid: Option<u32>) -> Option<f64> {
    status_kb(pid, "VmRSS:").map(|kb| kb * 1024.0 / 1e6)
}

fn status_kb(pid: Option<u32>, field: &str) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets this process's `VmHWM` to its current resident set (`echo 5 > clear_refs`).
pub(crate) fn reset_peak_rss() -> std::io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// CPU time (user + system) `pid` has used so far, in seconds.
pub(crate) fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces: the 12th
    // and 13th are utime and stime.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// This process's soft limit on open files (`RLIMIT_NOFILE`); `None` when unlimited or
/// unknown.
pub(crate) fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Each process's highest `VmHWM` in MB, read every `every` until `done` turns true (a
/// process that has exited keeps the last value read).
pub(crate) async fn poll_peaks(
    pids: Vec<u32>,
    every: std::time::Duration,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> Vec<f64> {
    let mut peaks = vec![0.0f64; pids.len()];
    loop {
        for (peak, &pid) in peaks.iter_mut().zip(&pids) {
            if let Some(mb) = peak_rss_mb(Some(pid)) {
                *peak = peak.max(mb);
            }
        }
        tokio::select! {
            _ = done.wait_for(|&done| done) => return peaks,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_visible() {
        let peak = peak_rss_mb(None).unwrap_or_else(|| panic!("no VmHWM"));
        let now = rss_mb(None).unwrap_or_else(|| panic!("no VmRSS"));
        // Read one after the other, so the set may have grown past the peak read first.
        assert!(peak > 0.0 && now > 0.0, "peak {peak}, now {now}");
        assert!(cpu_seconds(None).is_some());
        assert!(cpu_seconds(Some(std::process::id())).is_some());
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }

    #[test]
    fn reset_brings_the_peak_down_to_the_current_set() {
        let big = vec![1u8; 64 << 20];
        assert_eq!(big.iter().map(|&b| u64::from(b)).sum::<u64>(), 64 << 20);
        drop(big);
        reset_peak_rss().unwrap_or_else(|e| panic!("clear_refs: {e}"));
        let peak = peak_rss_mb(None).unwrap_or_else(|| panic!("no VmHWM"));
        let now = rss_mb(None).unwrap_or_else(|| panic!("no VmRSS"));
        assert!(peak < now + 32.0, "peak {peak} MB, now {now} MB");
    }
}
