//! The extractor as an async stage: [`spawn`] runs [`extract`] on one of tokio's blocking
//! threads, [`spawn_on_thread`] on a thread of its own (named, and set up first, e.g. at a
//! lower CPU priority), and both hand its keyframes over a bounded channel, in order. A
//! consumer that falls behind stops the decoder (the channel is full); one that goes away
//! ends the extraction early, without an error.

use std::{ops::ControlFlow, sync::Arc};

use tokio::sync::{mpsc, oneshot};

use super::{ByteSource, ExtractConfig, Keyframe, KeyframeError, Summary, extract};

/// How an extraction thread ended: its result, or the panic that ended it.
type Ended = std::thread::Result<Result<Summary, KeyframeError>>;

/// Keyframes of one recording as they are decoded.
#[derive(Debug)]
pub struct KeyframeStream {
    keyframes: mpsc::Receiver<Keyframe>,
    ended: oneshot::Receiver<Ended>,
    recording: Arc<str>,
}

/// The thread [`spawn_on_thread`] starts: its name, and what it runs before decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeThread {
    pub name: &'static str,
    /// Runs first on the new thread, e.g. to lower its priority (`nice` applies to the
    /// calling thread on Linux), which a pooled thread must not be given.
    pub setup: fn(),
}

/// Starts extracting `source` on a blocking thread; at most `capacity` (at least 1)
/// keyframes wait for the consumer. Call inside a tokio runtime.
pub fn spawn(
    source: impl ByteSource + 'static,
    config: ExtractConfig,
    capacity: usize,
) -> KeyframeStream {
    let (stream, run) = prepare(source, config, capacity);
    drop(tokio::task::spawn_blocking(run));
    stream
}

/// Starts extracting `source` on a new thread set up by `thread`; otherwise as [`spawn`].
/// Fails only when the thread cannot be started.
pub fn spawn_on_thread(
    source: impl ByteSource + 'static,
    config: ExtractConfig,
    capacity: usize,
    thread: DecodeThread,
) -> std::io::Result<KeyframeStream> {
    let (stream, run) = prepare(source, config, capacity);
    std::thread::Builder::new()
        .name(thread.name.to_owned())
        .spawn(move || {
            (thread.setup)();
            run();
        })?;
    Ok(stream)
}

/// The stream, and the extraction that feeds it, to run on a blocking thread.
fn prepare(
    source: impl ByteSource + 'static,
    config: ExtractConfig,
    capacity: usize,
) -> (KeyframeStream, impl FnOnce() + Send + 'static) {
    let (sender, keyframes) = mpsc::channel(capacity.max(1));
    let (done, ended) = oneshot::channel();
    let recording: Arc<str> = config.recording.as_str().into();
    let run = move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            extract(source, &config, |keyframe| {
                match sender.blocking_send(keyframe) {
                    Ok(()) => ControlFlow::Continue(()),
                    // The consumer went away: nothing left to decode for.
                    Err(_) => ControlFlow::Break(()),
                }
            })
        }));
        let _ = done.send(outcome);
    };
    let stream = KeyframeStream {
        keyframes,
        ended,
        recording,
    };
    (stream, run)
}

impl KeyframeStream {
    /// The next keyframe; `None` once the extraction has ended (see
    /// [`KeyframeStream::finish`]).
    pub async fn next(&mut self) -> Option<Keyframe> {
        self.keyframes.recv().await
    }

    /// How the extraction ended. Keyframes not read yet are dropped. A panic on the
    /// extraction's thread is resumed here.
    pub async fn finish(mut self) -> Result<Summary, KeyframeError> {
        self.keyframes.close();
        while self.keyframes.recv().await.is_some() {}
        match self.ended.await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // The thread went without a word: the runtime is shutting down.
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thread_of_its_own_is_set_up_before_it_decodes() {
        static SET_UP_ON: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
        fn setup() {
            let name = std::thread::current().name().map(str::to_owned);
            *SET_UP_ON.lock().expect("not poisoned") = name;
        }
        let direct = direct(&ExtractConfig::default());
        let file = std::fs::File::open(clip()).expect("clip");
        let thread = DecodeThread {
            name: "test-decode",
            setup,
        };
        let mut stream =
            spawn_on_thread(file, ExtractConfig::default(), 1, thread).expect("thread starts");
        let mut streamed = Vec::new();
        while let Some(keyframe) = stream.next().await {
            streamed.push(keyframe.time);
        }
        stream.finish().await.expect("extraction");
        assert_eq!(streamed, direct);
        let set_up_on = SET_UP_ON.lock().expect("not poisoned").clone();
        assert_eq!(set_up_on.as_deref(), Some("test-decode"));
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
