//! The fixed pool of threads that run the CPU-heavy face stages.
//!
//! One thread a core (`search.workers`), started once. Work goes in through a bounded
//! channel, so a burst of keyframes waits in the channel (and, behind it, in the decoders)
//! instead of multiplying threads; each job's answer comes back on a oneshot. Async callers
//! never block: [`WorkerPool::run`] awaits a free place in the queue. The threads run at a
//! lower CPU priority than the API, which must answer at once however busy the box is.

use std::sync::Arc;

use tokio::sync::{Semaphore, oneshot};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// `nice` added to the threads doing CPU-heavy work (faces here, and keyframe decoding):
/// the lowest, so the API's threads preempt them at once. Against 10, with background
/// indexing flat out, task creation took p50 2.9 ms and p99 9.6 ms instead of 5.0 and
/// 13.7, indexing as fast (`dipper-bench community --seconds 150 --creates 300`).
pub(crate) const BACKGROUND_NICENESS: i32 = 19;

/// Lowers the calling thread's CPU priority (Linux: `nice` applies to the thread), so the
/// API (task creation, status) answers at once however busy the cores are.
pub(crate) fn lower_priority() {
    if let Err(e) = rustix::process::nice(BACKGROUND_NICENESS) {
        tracing::debug!(error = %e, "cannot lower a worker thread's priority");
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WorkerPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` once the pool is stopped.
    sender: parking_lot::Mutex<Option<crossbeam_channel::Sender<Job>>>,
    threads_running: parking_lot::Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Places in the queue (twice the threads: one running, one waiting each).
    places: Semaphore,
    threads: usize,
}

impl Inner {
    /// Takes no more jobs and waits for the threads to finish those queued (blocking).
    fn finish(&self) {
        self.sender.lock().take();
        let me = std::thread::current().id();
        for thread in std::mem::take(&mut *self.threads_running.lock()) {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Inner {
    /// The last handle gone: the threads finish their jobs and are waited for, so none is
    /// left running a model when the process exits.
    fn drop(&mut self) {
        self.finish();
    }
}

/// The job did not answer: the pool went away (the daemon is stopping) or the job panicked.
#[derive(Debug, thiserror::Error)]
#[error("the face worker stopped before answering")]
pub(crate) struct PoolStopped;

impl WorkerPool {
    pub(crate) fn new(threads: usize) -> std::io::Result<WorkerPool> {
        let threads = threads.max(1);
        let (sender, receiver) = crossbeam_channel::bounded::<Job>(threads * 2);
        let mut running = Vec::with_capacity(threads);
        for n in 0..threads {
            let receiver = receiver.clone();
            let handle = std::thread::Builder::new()
                .name(format!("dipper-faces-{n}"))
                .spawn(move || {
                    lower_priority();
                    while let Ok(job) = receiver.recv() {
                        // A panicking job loses its answer (its caller sees `PoolStopped`);
                        // the thread lives on for the next one.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!("a face worker job panicked");
                        }
                    }
                })?;
            running.push(handle);
        }
        Ok(WorkerPool {
            inner: Arc::new(Inner {
                sender: parking_lot::Mutex::new(Some(sender)),
                threads_running: parking_lot::Mutex::new(running),
                places: Semaphore::new(threads * 2),
                threads,
            }),
        })
    }

    pub(crate) fn threads(&self) -> usize {
        self.inner.threads
    }

    /// Runs `job` on a worker thread and returns its result.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolStopped> {
        let _place = self.inner.places.acquire().await.map_err(|_| PoolStopped)?;
        let (answer, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (its task was cancelled): nothing to do then.
            let _ = answer.send(job());
        });
        let sender = self.inner.sender.lock().clone().ok_or(PoolStopped)?;
        // The semaphore keeps the channel from filling, so this never blocks for long.
        sender.send(job).map_err(|_| PoolStopped)?;
        result.await.map_err(|_| PoolStopped)
    }

    /// Takes no more jobs, lets the threads finish the jobs queued and waits for them (on a
    /// blocking thread). The daemon calls it before it exits, so no thread is inside ONNX
    /// Runtime while the process tears its libraries down.
    pub(crate) async fn stop(&self) {
        self.inner.places.close();
        let inner = Arc::clone(&self.inner);
        let _ = tokio::task::spawn_blocking(move || inner.finish()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_named_worker_threads() {
        let pool = WorkerPool::new(2).expect("pool");
        let names = futures::future::join_all(
            (0..8).map(|_| pool.run(|| std::thread::current().name().unwrap_or("").to_owned())),
        )
        .await;
        for name in names {
            let name = name.expect("ran");
            assert!(name.starts_with("dipper-faces-"), "{name}");
        }
    }

    #[tokio::test]
    async fn a_stopped_pool_finishes_its_jobs_and_takes_no_more() {
        let pool = WorkerPool::new(2).expect("pool");
        let queued: Vec<_> = (0..4).map(|n| pool.run(move || n * 2)).collect();
        let (answers, ()) = futures::join!(futures::future::join_all(queued), pool.stop());
        let answers: Vec<u32> = answers.into_iter().map(|a| a.expect("ran")).collect();
        assert_eq!(answers, vec![0, 2, 4, 6]);
        assert!(pool.run(|| 1).await.is_err(), "no job after stop");
    }

    #[tokio::test]
    async fn a_panicking_job_reports_an_error_and_the_thread_lives_on() {
        let pool = WorkerPool::new(1).expect("pool");
        let result = pool.run(|| -> u32 { panic!("job failed") }).await;
        assert!(result.is_err());
        assert_eq!(pool.run(|| 7).await.expect("the one thread still runs"), 7);
    }
}
