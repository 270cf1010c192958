//! The extractor as an async stage: [`spawn`] runs [`extract`] on one of tokio's blocking
//! threads and hands its keyframes over a bounded channel, in order. A consumer that falls
//! behind stops the decoder (the channel is full); one that goes away ends the extraction
//! early, without an error.

use std::ops::ControlFlow;

use tokio::{sync::mpsc, task::JoinHandle};

use super::{ByteSource, ExtractConfig, Keyframe, KeyframeError, Summary, extract};

/// Keyframes of one recording as they are decoded.
#[derive(Debug)]
pub struct KeyframeStream {
    keyframes: mpsc::Receiver<Keyframe>,
    task: JoinHandle<Result<Summary, KeyframeError>>,
    recording: std::sync::Arc<str>,
}

/// Starts extracting `source` on a blocking thread; at most `capacity` (at least 1)
/// keyframes wait for the consumer. Call inside a tokio runtime.
pub fn spawn(
    source: impl ByteSource + 'static,
    config: ExtractConfig,
    capacity: usize,
) -> KeyframeStream {
    let (sender, keyframes) = mpsc::channel(capacity.max(1));
    let recording: std::sync::Arc<str> = config.recording.as_str().into();
    let task = tokio::task::spawn_blocking(move || {
        extract(source, &config, |keyframe| {
            match sender.blocking_send(keyframe) {
                Ok(()) => ControlFlow::Continue(()),
                // The consumer went away: nothing left to decode for.
                Err(_) => ControlFlow::Break(()),
            }
        })
    });
    KeyframeStream {
        keyframes,
        task,
        recording,
    }
}

impl KeyframeStream {
    /// The next keyframe; `None` once the extraction has ended (see
    /// [`KeyframeStream::finish`]).
    pub async fn next(&mut self) -> Option<Keyframe> {
        self.keyframes.recv().await
    }

    /// How the extraction ended. Keyframes not read yet are dropped.
    pub async fn finish(mut self) -> Result<Summary, KeyframeError> {
        self.keyframes.close();
        while self.keyframes.recv().await.is_some() {}
        match self.task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // A blocking task is never aborted; the runtime is shutting down.
            Err(e) => Err(KeyframeError::Io {
                recording: self.recording,
                offset: 0,
                source: std::io::Error::other(e),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::*;

    fn clip() -> std::path::PathBuf {
        isapi::sim::default_clips_dir().join("h264.ps")
    }

    /// The keyframe times of the clip, extracted synchronously.
    fn direct(config: &ExtractConfig) -> Vec<std::time::Duration> {
        let mut times = Vec::new();
        let file = std::fs::File::open(clip()).expect("clip (run scripts/make-clips)");
        extract(file, config, |k| {
            times.push(k.time);
            ControlFlow::Continue(())
        })
        .expect("direct extraction");
        assert!(times.len() >= 4, "the clip has several keyframes");
        times
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keyframes_arrive_in_order_as_the_blocking_extractor_makes_them() {
        let config = ExtractConfig {
            recording: "h264.ps".to_owned(),
            ..ExtractConfig::default()
        };
        let direct = direct(&config);

        let file = std::fs::File::open(clip()).expect("clip");
        let mut stream = spawn(file, config, 1);
        let mut streamed = Vec::new();
        while let Some(keyframe) = stream.next().await {
            assert_eq!(keyframe.width, 640);
            streamed.push(keyframe.time);
        }
        let summary = stream.finish().await.expect("extraction");
        assert_eq!(streamed, direct);
        assert_eq!(summary.keyframes, direct.len() as u64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_consumer_that_leaves_ends_the_extraction_early_and_cleanly() {
        let all = direct(&ExtractConfig::default()).len() as u64;
        let file = std::fs::File::open(clip()).expect("clip");
        let mut stream = spawn(file, ExtractConfig::default(), 1);
        assert!(stream.next().await.is_some());
        let summary = stream
            .finish()
            .await
            .expect("no error when the consumer leaves");
        // One taken, at most one waiting in the channel, one refused.
        assert!(
            summary.keyframes <= 3 && summary.keyframes < all,
            "{summary:?}"
        );
    }

    #[test]
    fn several_decoder_threads_give_the_same_keyframes() {
        let one = direct(&ExtractConfig::default());
        let two = direct(&ExtractConfig {
            decoder_threads: 2,
            ..ExtractConfig::default()
        });
        assert_eq!(one, two);
    }
}
