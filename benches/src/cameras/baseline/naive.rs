//! The naive baseline: what the old design did, in this process. Each of `concurrency`
//! workers takes the next recording, downloads it with `Device::download` and
//! `read_to_end` into a Vec holding the whole body, then checks it. Memory grows with the
//! number of downloads times the size of a recording.
//!
//! Its peak memory is this process's `VmHWM` after resetting it to the current resident
//! set just before (`/proc/self/clear_refs`): it includes what phase 1 left resident (the
//! downloader's pool, the runtime), reported beside it as `rss_before_mb`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use tokio::task::JoinSet;

use super::{
    super::{checksums::Checksum, work::WorkList},
    Outcome, log_errors,
};
use crate::{BoxError, proc};

/// Fetches `items` of `work` with `concurrency` downloads at once; `expected` gives each
/// item's checksum.
pub(crate) async fn run(
    work: &Arc<WorkList>,
    items: &Arc<Vec<usize>>,
    concurrency: usize,
    expected: Arc<dyn Fn(usize) -> Option<Checksum> + Send + Sync>,
) -> Result<Outcome, BoxError> {
    proc::reset_peak_rss().map_err(|e| format!("cannot reset the peak memory: {e}"))?;
    let rss_before_mb = proc::rss_mb(None);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.min(items.len()) {
        let (work, items, next, expected) =
            (work.clone(), items.clone(), next.clone(), expected.clone());
        workers.spawn(async move {
            let mut bytes = 0u64;
            let mut errors = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&item) = items.get(n) else {
                    return (bytes, errors);
                };
                let camera = work.camera_of(item);
                let uri = &work.recording(item).playback_uri;
                let mut body = Vec::new();
                let read = match camera.device.download(uri).await {
                    Ok(mut download) => download.read_to_end(&mut body).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = read {
                    errors.push(format!("camera {}: {e}", camera.key));
                    continue;
                }
                let got = Checksum {
                    bytes: body.len() as u64,
                    crc32: crc32fast::hash(&body),
                };
                bytes += got.bytes;
                match expected(item) {
                    Some(want) if want == got => {}
                    want => {
                        errors.push(format!("camera {}: {got:?}, expected {want:?}", camera.key))
                    }
                }
            }
        });
    }
    let mut bytes = 0;
    let mut errors = Vec::new();
    while let Some(joined) = workers.join_next().await {
        let (worker_bytes, worker_errors) = joined?;
        bytes += worker_bytes;
        errors.extend(worker_errors);
    }
    let seconds = started.elapsed().as_secs_f64();
    log_errors("naive", &errors);
    Ok(Outcome {
        name: "naive",
        bytes,
        seconds,
        peak_rss_mb: proc::peak_rss_mb(None),
        rss_before_mb,
        errors: errors.len() as u64,
        processes: None,
        sim_cpu_seconds: None,
    })
}
