//! The scheduler's bookkeeping, always used under its lock: what waits, what runs, and the
//! limits. Nothing here awaits or sends; `dispatch` returns the grants for the caller to
//! deliver once the lock is released, and preempts by cancelling a running slot's token.

use std::collections::HashMap;

use tokio::{sync::oneshot, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{DeviceKey, JobKey, Priority, SchedulerConfig, Slot, SlotRequest};

/// A granted slot, as the scheduler tracks it.
#[derive(Debug)]
struct Running {
    request: SlotRequest,
    /// Cancelled to ask the slot's download to give the slot up.
    preempt: CancellationToken,
    /// Asked to give the slot up and not yet gone.
    preempting: bool,
}

/// A slot granted by `dispatch`, for the caller to deliver.
#[derive(Debug)]
pub(super) struct Grant {
    pub(super) id: u64,
    pub(super) request: SlotRequest,
    pub(super) preempt: CancellationToken,
    pub(super) sender: oneshot::Sender<Slot>,
}

#[derive(Debug)]
struct Waiter {
    request: SlotRequest,
    /// Arrival order: first come, first served within a priority.
    seq: u64,
    enqueued: Instant,
    sender: oneshot::Sender<Slot>,
}

#[derive(Debug, Default)]
struct DeviceState {
    active: usize,
    limit: Option<usize>,
    /// A lowered limit and until when it holds (after a busy answer).
    reduced: Option<(usize, Instant)>,
}

#[derive(Debug)]
pub(super) struct State {
    config: SchedulerConfig,
    /// In arrival order.
    queue: Vec<Waiter>,
    next_seq: u64,
    active_total: usize,
    active_by_level: [usize; Priority::LEVELS],
    devices: HashMap<DeviceKey, DeviceState>,
    jobs: HashMap<JobKey, usize>,
    /// Jobs with a limit of their own (others have `config.job_limit`).
    job_limits: HashMap<JobKey, usize>,
    /// Granted slots by id.
    running: HashMap<u64, Running>,
    next_slot: u64,
}

impl State {
    pub(super) fn new(config: SchedulerConfig) -> State {
        State {
            config,
            queue: Vec::new(),
            next_seq: 0,
            active_total: 0,
            active_by_level: [0; Priority::LEVELS],
            devices: HashMap::new(),
            jobs: HashMap::new(),
            job_limits: HashMap::new(),
            running: HashMap::new(),
            next_slot: 0,
        }
    }

    pub(super) fn enqueue(
        &mut self,
        request: SlotRequest,
        sender: oneshot::Sender<Slot>,
        now: Instant,
    ) {
        self.queue.push(Waiter {
            request,
            seq: self.next_seq,
            enqueued: now,
            sender,
        });
        self.next_seq += 1;
    }

    /// The level a waiter competes at: one better per `ageing_step` waited, never better
    /// than 1 unless it asked for 0.
    fn effective_level(&self, waiter: &Waiter, now: Instant) -> u8 {
        let level = waiter.request.priority.level();
        if level == 0 {
            return 0;
        }
        let step = self.config.ageing_step.as_nanos().max(1);
        let waited = now.saturating_duration_since(waiter.enqueued).as_nanos() / step;
        let promoted = u8::try_from(waited).unwrap_or(u8::MAX);
        level.saturating_sub(promoted).max(1)
    }

    pub(super) fn effective_device_limit(&self, device: DeviceKey, now: Instant) -> usize {
        let state = self.devices.get(&device);
        let limit = state
            .and_then(|d| d.limit)
            .unwrap_or(self.config.default_device_limit)
            .max(1);
        match state.and_then(|d| d.reduced) {
            Some((reduced, until)) if until > now => reduced.min(limit),
            _ => limit,
        }
    }

    fn has_capacity(&self, request: SlotRequest, now: Instant) -> bool {
        let device_active = self.devices.get(&request.device).map_or(0, |d| d.active);
        let job_active = self.jobs.get(&request.job).copied().unwrap_or(0);
        self.active_total < self.config.global_limit
            && device_active < self.effective_device_limit(request.device, now)
            && job_active < self.job_limit(request.job)
    }

    /// Grants as many waiting requests as the limits allow, best first, and then asks
    /// running lower-priority downloads to make way for priority-0 requests that are still
    /// blocked. Returns the grants for delivery outside the lock.
    pub(super) fn dispatch(&mut self, now: Instant) -> Vec<Grant> {
        self.queue.retain(|w| !w.sender.is_closed());
        let mut grants = Vec::new();
        while self.active_total < self.config.global_limit {
            let best = self
                .queue
                .iter()
                .enumerate()
                .filter(|(_, w)| self.has_capacity(w.request, now))
                .min_by_key(|(_, w)| (self.effective_level(w, now), w.seq))
                .map(|(index, _)| index);
            let Some(index) = best else { break };
            let waiter = self.queue.remove(index);
            grants.push(self.grant(waiter.request, waiter.sender));
        }
        self.preempt_for_live_requests(now);
        grants
    }

    /// A priority-0 request waits for at most one download to notice it must stop: for
    /// each one blocked by the global or its device's limit (a job's own limit is left
    /// alone), a slot already being given up that would unblock it is counted against it,
    /// or else the worst running download that would is asked to give up its slot.
    fn preempt_for_live_requests(&mut self, now: Instant) {
        let blocked: Vec<SlotRequest> = self
            .queue
            .iter()
            .filter(|w| w.request.priority == Priority::LIVE)
            .map(|w| w.request)
            .filter(|r| self.jobs.get(&r.job).copied().unwrap_or(0) < self.job_limit(r.job))
            .collect();
        if blocked.is_empty() {
            return;
        }
        let mut counted: Vec<u64> = Vec::new();
        for request in blocked {
            let device_active = self.devices.get(&request.device).map_or(0, |d| d.active);
            let device_full = device_active >= self.effective_device_limit(request.device, now);
            let global_full = self.active_total >= self.config.global_limit;
            if !device_full && !global_full {
                continue;
            }
            let frees_it = |running: &Running| {
                running.request.priority != Priority::LIVE
                    && (!device_full || running.request.device == request.device)
            };
            let pending = self
                .running
                .iter()
                .find(|(id, r)| r.preempting && frees_it(r) && !counted.contains(id))
                .map(|(id, _)| *id);
            if let Some(id) = pending {
                counted.push(id);
                continue;
            }
            // The worst priority, the most recently granted among equals (it has the
            // least to lose).
            let victim = self
                .running
                .iter()
                .filter(|(_, r)| !r.preempting && frees_it(r))
                .max_by_key(|(id, r)| (r.request.priority, **id))
                .map(|(id, _)| *id);
            if let Some(id) = victim
                && let Some(running) = self.running.get_mut(&id)
            {
                running.preempting = true;
                running.preempt.cancel();
                counted.push(id);
            }
        }
    }

    fn grant(&mut self, request: SlotRequest, sender: oneshot::Sender<Slot>) -> Grant {
        self.active_total += 1;
        self.active_by_level[usize::from(request.priority.level())] += 1;
        self.devices.entry(request.device).or_default().active += 1;
        *self.jobs.entry(request.job).or_default() += 1;
        let id = self.next_slot;
        self.next_slot += 1;
        let preempt = CancellationToken::new();
        self.running.insert(
            id,
            Running {
                request,
                preempt: preempt.clone(),
                preempting: false,
            },
        );
        Grant {
            id,
            request,
            preempt,
            sender,
        }
    }

    pub(super) fn release(&mut self, id: u64, request: SlotRequest) {
        self.running.remove(&id);
        self.active_total -= 1;
        self.active_by_level[usize::from(request.priority.level())] -= 1;
        if let Some(device) = self.devices.get_mut(&request.device) {
            device.active -= 1;
        }
        if let Some(job) = self.jobs.get_mut(&request.job) {
            *job -= 1;
            if *job == 0 {
                self.jobs.remove(&request.job);
            }
        }
    }

    fn job_limit(&self, job: JobKey) -> usize {
        self.job_limits
            .get(&job)
            .copied()
            .unwrap_or(self.config.job_limit)
    }

    /// Sets a job's own limit; `None` goes back to the configured one.
    pub(super) fn set_job_limit(&mut self, job: JobKey, limit: Option<usize>) {
        match limit {
            Some(limit) => self.job_limits.insert(job, limit),
            None => self.job_limits.remove(&job),
        };
    }

    pub(super) fn set_device_limit(&mut self, device: DeviceKey, limit: usize) {
        self.devices.entry(device).or_default().limit = Some(limit);
    }

    pub(super) fn device_busy(&mut self, device: DeviceKey, now: Instant) {
        let current = self.effective_device_limit(device, now);
        let until = now + self.config.busy_backoff;
        self.devices.entry(device).or_default().reduced = Some(((current / 2).max(1), until));
    }

    pub(super) fn queue_depths(&self) -> [usize; Priority::LEVELS] {
        let mut depths = [0; Priority::LEVELS];
        for waiter in self.queue.iter().filter(|w| !w.sender.is_closed()) {
            depths[usize::from(waiter.request.priority.level())] += 1;
        }
        depths
    }

    pub(super) fn active_by_level(&self) -> [usize; Priority::LEVELS] {
        self.active_by_level
    }
}
