//! Decoding a recording's keyframes on a thread of its own, at a lower CPU priority.
//!
//! The same as `pipeline::keyframes::spawn` (the extractor on a blocking thread, keyframes
//! over a bounded channel, a consumer that goes away ends it early), but on a dedicated
//! thread that lowers its own priority first, like the face workers: on a box whose cores
//! are all decoding and detecting, the API (task creation, status) still answers at once.
//! At most twice the worker count of recordings decode at once, so threads stay few.

use std::ops::ControlFlow;

use pipeline::{
    downloader::EventSource,
    keyframes::{self, ExtractConfig, Keyframe, KeyframeError, Summary},
};
use tokio::sync::{mpsc, oneshot};

/// `nice` added to the threads doing CPU-heavy work (decode, faces).
pub(super) const BACKGROUND_NICENESS: i32 = 10;

/// Lowers the calling thread's CPU priority (Linux: `nice` applies to the thread).
pub(super) fn lower_priority() {
    if let Err(e) = rustix::process::nice(BACKGROUND_NICENESS) {
        tracing::debug!(error = %e, "cannot lower a worker thread's priority");
    }
}

/// Keyframes of one recording as they are decoded.
#[derive(Debug)]
pub(super) struct Decoding {
    keyframes: mpsc::Receiver<Keyframe>,
    result: oneshot::Receiver<Result<Summary, KeyframeError>>,
}

pub(super) fn spawn(
    source: EventSource,
    config: ExtractConfig,
    capacity: usize,
) -> std::io::Result<Decoding> {
    let (sender, keyframes) = mpsc::channel(capacity.max(1));
    let (done, result) = oneshot::channel();
    std::thread::Builder::new()
        .name("dipper-decode".to_owned())
        .spawn(move || {
            lower_priority();
            let outcome = keyframes::extract(source, &config, |keyframe| {
                match sender.blocking_send(keyframe) {
                    Ok(()) => ControlFlow::Continue(()),
                    // The consumer went away: nothing left to decode for.
                    Err(_) => ControlFlow::Break(()),
                }
            });
            let _ = done.send(outcome);
        })?;
    Ok(Decoding { keyframes, result })
}

impl Decoding {
    pub(super) async fn next(&mut self) -> Option<Keyframe> {
        self.keyframes.recv().await
    }

    /// How the extraction ended; keyframes not read yet are dropped. `None` if the thread
    /// died without saying (a panic inside FFmpeg's callbacks is caught there, so this is
    /// a bug).
    pub(super) async fn finish(mut self) -> Option<Result<Summary, KeyframeError>> {
        self.keyframes.close();
        while self.keyframes.recv().await.is_some() {}
        self.result.await.ok()
    }
}
