//! The scheduler's bookkeeping, always used under its lock: what waits, what runs, and the
//! limits. Nothing here awaits or sends; `dispatch` returns the grants for the caller to
//! deliver once the lock is released.

use std::collections::HashMap;

use tokio::time::Instant;

use tokio::sync::oneshot;

use super::{DeviceKey, JobKey, Priority, SchedulerConfig, Slot, SlotRequest};

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
            && job_active < self.config.job_limit
    }

    /// Grants as many waiting requests as the limits allow, best first; returns them for
    /// delivery outside the lock.
    pub(super) fn dispatch(&mut self, now: Instant) -> Vec<(SlotRequest, oneshot::Sender<Slot>)> {
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
            self.grant(waiter.request);
            grants.push((waiter.request, waiter.sender));
        }
        grants
    }

    fn grant(&mut self, request: SlotRequest) {
        self.active_total += 1;
        self.active_by_level[usize::from(request.priority.level())] += 1;
        self.devices.entry(request.device).or_default().active += 1;
        *self.jobs.entry(request.job).or_default() += 1;
    }

    pub(super) fn release(&mut self, request: SlotRequest) {
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
