//! Decides which download may start next.
//!
//! Downloads ask for a [`Slot`] with a [`Priority`] (0 = an operator is waiting on a live
//! search ... 5 = background backfill), the device they will talk to and the job they are
//! part of. A slot is granted while three limits hold: global, per device and per job.
//! Waiting requests are served by priority, first come first served within a priority.
//! A waiting request is aged: every `ageing_step` it waits counts as one priority better,
//! down to priority 1, so backfill cannot starve forever while true priority-0 requests
//! always go first. A device that answers "busy" gets its limit halved for
//! `busy_backoff` instead of being hammered. Dropping a [`Slot`] frees it and hands it to
//! the best waiting request at once; dropping a waiting request's future withdraws it.
//!
//! A priority-0 request does not wait for a long backfill download to finish: when the
//! global or its device's limit blocks it, the scheduler asks the worst running download
//! that stands in its way to give its slot up ([`Slot::preempted`]); the download stops,
//! frees the slot (which goes to the live request) and queues again.

mod config;
mod state;

#[cfg(test)]
mod tests;

pub use config::{Priority, SchedulerConfig};

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::{sync::oneshot, time::Instant};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use state::{Grant, State};

/// A device as the scheduler knows it (the appliance's camera id).
pub type DeviceKey = u64;
/// A job (one search or backfill run) whose downloads share a per-job limit.
pub type JobKey = u64;

/// What a download asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRequest {
    pub priority: Priority,
    pub device: DeviceKey,
    pub job: JobKey,
}

/// Grants download slots; cheap to clone, clones share the queue.
#[derive(Debug, Clone)]
pub struct Scheduler {
    shared: Arc<Mutex<State>>,
}

/// The right to run one download. Freed on drop.
#[derive(Debug)]
pub struct Slot {
    shared: Arc<Mutex<State>>,
    id: u64,
    request: SlotRequest,
    preempt: CancellationToken,
}

impl Slot {
    pub fn request(&self) -> SlotRequest {
        self.request
    }

    /// Completes when a priority-0 request needs this slot: the download should stop,
    /// drop the slot and queue again.
    pub fn preempted(&self) -> WaitForCancellationFuture<'_> {
        self.preempt.cancelled()
    }

    pub fn is_preempted(&self) -> bool {
        self.preempt.is_cancelled()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (id, request) = (self.id, self.request);
        update(&self.shared, |state, _| state.release(id, request));
    }
}

/// Changes the state under the lock, grants what the change made possible, and then, with
/// the lock released, sends the granted slots to their waiters; a waiter that went away
/// gives its slot back (outside the lock, since dropping a slot takes it).
fn update(shared: &Arc<Mutex<State>>, change: impl FnOnce(&mut State, Instant)) {
    let grants = {
        let mut state = shared.lock();
        let now = Instant::now();
        change(&mut state, now);
        state.dispatch(now)
    };
    for Grant {
        id,
        request,
        preempt,
        sender,
    } in grants
    {
        let slot = Slot {
            shared: shared.clone(),
            id,
            request,
            preempt,
        };
        // If the waiter is gone, the returned slot is dropped here and frees itself.
        drop(sender.send(slot));
    }
}

impl Scheduler {
    pub fn new(config: SchedulerConfig) -> Scheduler {
        Scheduler {
            shared: Arc::new(Mutex::new(State::new(config))),
        }
    }

    /// Waits for a slot. Cancel-safe: dropping the future withdraws the request.
    pub async fn acquire(&self, request: SlotRequest) -> Slot {
        let (sender, receiver) = oneshot::channel();
        update(&self.shared, |state, now| {
            state.enqueue(request, sender, now)
        });
        match receiver.await {
            Ok(slot) => slot,
            // Waiters leave the queue only by being granted (or by going away, which ends
            // this future first), and the queue lives as long as `self`.
            Err(_) => unreachable!("a waiting request is never dropped unanswered"),
        }
    }

    /// Sets a device's own concurrency limit (from its search profile or config).
    pub fn set_device_limit(&self, device: DeviceKey, limit: usize) {
        update(&self.shared, |state, _| {
            state.set_device_limit(device, limit.max(1));
        });
    }

    /// Sets how many downloads one job may run at once (at least 1); `None` goes back to
    /// [`SchedulerConfig::job_limit`]. The downloader clears it when the job is dropped.
    pub fn set_job_limit(&self, job: JobKey, limit: Option<usize>) {
        update(&self.shared, |state, _| {
            state.set_job_limit(job, limit.map(|l| l.max(1)));
        });
    }

    /// A device answered "busy": halve its limit for a while.
    pub fn device_busy(&self, device: DeviceKey) {
        self.shared.lock().device_busy(device, Instant::now());
    }

    /// Grants slots that became possible with time (ageing, a device's busy period ending).
    /// The downloader calls this on a timer.
    pub fn tick(&self) {
        update(&self.shared, |_, _| {});
    }

    /// Waiting requests per priority level.
    pub fn queue_depths(&self) -> [usize; Priority::LEVELS] {
        self.shared.lock().queue_depths()
    }

    /// Running downloads per priority level.
    pub fn active(&self) -> [usize; Priority::LEVELS] {
        self.shared.lock().active_by_level()
    }

    /// The limit a device has right now (lowered while it is busy).
    pub fn device_limit(&self, device: DeviceKey) -> usize {
        self.shared
            .lock()
            .effective_device_limit(device, Instant::now())
    }
}
