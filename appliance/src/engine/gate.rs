//! How many tasks run at once, and which waiting task goes next: the best priority, then
//! the oldest. A task waiting here has stored its parameters and answers status calls as
//! `queued`; it holds no buffers and no connections.

use std::{cmp::Reverse, collections::BinaryHeap, sync::Arc};

use parking_lot::Mutex;
use tokio::sync::oneshot;

#[derive(Debug, Clone)]
pub(crate) struct TaskGate {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    free: usize,
    next_ticket: u64,
    /// Smallest (priority, ticket) first.
    waiting: BinaryHeap<Reverse<(u8, u64, Waiter)>>,
}

#[derive(Debug)]
struct Waiter(oneshot::Sender<TaskSlot>);

impl PartialEq for Waiter {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// A running task's place; dropping it lets the next task in.
#[derive(Debug)]
pub(crate) struct TaskSlot {
    gate: Option<TaskGate>,
}

impl Drop for TaskSlot {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release();
        }
    }
}

impl TaskGate {
    pub(crate) fn new(slots: usize) -> TaskGate {
        TaskGate {
            inner: Arc::new(Mutex::new(State {
                free: slots.max(1),
                next_ticket: 0,
                waiting: BinaryHeap::new(),
            })),
        }
    }

    /// Waits for a slot; `priority` 0 goes first. Dropping the future gives up the place.
    pub(crate) async fn enter(&self, priority: u8) -> TaskSlot {
        let receiver = {
            let mut state = self.inner.lock();
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                return TaskSlot {
                    gate: Some(self.clone()),
                };
            }
            let (sender, receiver) = oneshot::channel();
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state
                .waiting
                .push(Reverse((priority, ticket, Waiter(sender))));
            receiver
        };
        match receiver.await {
            Ok(slot) => slot,
            // The gate hands a slot to every waiter it pops; a dropped sender means the
            // gate itself went away, which cannot happen while `self` holds it.
            Err(_) => TaskSlot { gate: None },
        }
    }

    fn release(&self) {
        let mut state = self.inner.lock();
        state.free += 1;
        while state.free > 0 {
            let Some(Reverse((_, _, Waiter(sender)))) = state.waiting.pop() else {
                return;
            };
            state.free -= 1;
            let slot = TaskSlot {
                gate: Some(self.clone()),
            };
            // A waiter that gave up hands the slot back when `slot` drops: release it here
            // without recursing into the lock.
            if let Err(mut slot) = sender.send(slot) {
                slot.gate = None;
                state.free += 1;
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.inner.lock().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn best_priority_then_oldest_goes_first() {
        let gate = TaskGate::new(1);
        let running = gate.enter(3).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for (name, priority) in [("low", 5u8), ("urgent", 0), ("mid-a", 2), ("mid-b", 2)] {
            let waiter_gate = gate.clone();
            let order = Arc::clone(&order);
            waiters.push(tokio::spawn(async move {
                let _slot = waiter_gate.enter(priority).await;
                order.lock().push(name);
            }));
            // Let the waiter queue up before the next one.
            while gate.waiting() < waiters.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(running);
        for waiter in waiters {
            waiter.await.expect("ran");
        }
        assert_eq!(*order.lock(), ["urgent", "mid-a", "mid-b", "low"]);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_lose_the_slot() {
        let gate = TaskGate::new(1);
        let running = gate.enter(1).await;
        let gave_up = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(0).await }
        });
        while gate.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        gave_up.abort();
        let _ = gave_up.await;
        drop(running);
        // The slot came back: a new task gets in.
        let _again = gate.enter(4).await;
    }
}
