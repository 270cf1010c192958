use std::{sync::Arc, time::Duration};

use parking_lot::Mutex;

use super::*;

fn request(level: u8, device: DeviceKey, job: JobKey) -> SlotRequest {
    SlotRequest {
        priority: Priority::new(level).expect("level 0..=5"),
        device,
        job,
    }
}

fn config(global: usize) -> SchedulerConfig {
    SchedulerConfig {
        global_limit: global,
        default_device_limit: 100,
        job_limit: 100,
        ageing_step: Duration::from_secs(30),
        busy_backoff: Duration::from_secs(60),
    }
}

/// Lets spawned tasks run until `condition` holds.
async fn until(condition: impl Fn() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition never held");
}

/// Spawns waiters that note their name when granted and free the slot at once.
fn spawn_waiters(
    scheduler: &Scheduler,
    waiters: &[(&'static str, SlotRequest)],
    order: &Arc<Mutex<Vec<&'static str>>>,
) {
    for &(name, request) in waiters {
        let scheduler = scheduler.clone();
        let order = order.clone();
        tokio::spawn(async move {
            let _slot = scheduler.acquire(request).await;
            order.lock().push(name);
        });
    }
}

#[tokio::test(start_paused = true)]
async fn priority_first_then_arrival_order() {
    let scheduler = Scheduler::new(config(1));
    let held = scheduler.acquire(request(5, 1, 1)).await;
    let order = Arc::default();
    let waiters = [
        ("a3", request(3, 1, 1)),
        ("b5", request(5, 1, 1)),
        ("c3", request(3, 1, 1)),
        ("d0", request(0, 1, 1)),
        ("e1", request(1, 1, 1)),
    ];
    spawn_waiters(&scheduler, &waiters, &order);
    until(|| scheduler.queue_depths().iter().sum::<usize>() == 5).await;
    assert_eq!(scheduler.queue_depths(), [1, 1, 0, 2, 0, 1]);
    drop(held);
    until(|| order.lock().len() == 5).await;
    assert_eq!(*order.lock(), ["d0", "e1", "a3", "c3", "b5"]);
}

#[tokio::test(start_paused = true)]
async fn waiting_ages_backfill_but_never_past_live_requests() {
    let scheduler = Scheduler::new(config(1));
    let held = scheduler.acquire(request(0, 1, 1)).await;
    let order = Arc::default();
    spawn_waiters(&scheduler, &[("old-backfill", request(5, 1, 1))], &order);
    until(|| scheduler.queue_depths()[5] == 1).await;
    // Four ageing steps: backfill now competes at level 1.
    tokio::time::advance(Duration::from_secs(4 * 30 + 1)).await;
    spawn_waiters(
        &scheduler,
        &[("new-level1", request(1, 1, 1)), ("live", request(0, 1, 1))],
        &order,
    );
    until(|| scheduler.queue_depths().iter().sum::<usize>() == 3).await;
    drop(held);
    until(|| order.lock().len() == 3).await;
    assert_eq!(*order.lock(), ["live", "old-backfill", "new-level1"]);
}

#[tokio::test(start_paused = true)]
async fn device_and_job_limits_hold_and_busy_devices_get_fewer() {
    let mut config = config(100);
    config.job_limit = 3;
    let scheduler = Scheduler::new(config);
    scheduler.set_device_limit(7, 2);
    let a = scheduler.acquire(request(2, 7, 1)).await;
    let b = scheduler.acquire(request(2, 7, 2)).await;
    assert_eq!(scheduler.active()[2], 2);
    // A third download on device 7 waits; another device is free.
    let order = Arc::default();
    spawn_waiters(&scheduler, &[("device7", request(2, 7, 3))], &order);
    until(|| scheduler.queue_depths()[2] == 1).await;
    let other = scheduler.acquire(request(2, 8, 1)).await;

    // Device 7 says busy: its limit halves for the backoff.
    scheduler.device_busy(7);
    assert_eq!(scheduler.device_limit(7), 1);
    drop(a);
    assert_eq!(
        scheduler.queue_depths()[2],
        1,
        "still one running on a busy device"
    );
    drop(b);
    until(|| order.lock().len() == 1).await;
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(scheduler.device_limit(7), 2);

    // Job 1 already runs one download (on device 8); it may run two more, not three.
    let j1 = scheduler.acquire(request(2, 9, 1)).await;
    let j2 = scheduler.acquire(request(2, 10, 1)).await;
    spawn_waiters(&scheduler, &[("job1-fourth", request(2, 11, 1))], &order);
    until(|| scheduler.queue_depths()[2] == 1).await;
    drop(j1);
    until(|| order.lock().len() == 2).await;
    drop((j2, other));
}

#[tokio::test(start_paused = true)]
async fn a_withdrawn_request_gives_its_turn_to_the_next() {
    let scheduler = Scheduler::new(config(1));
    let held = scheduler.acquire(request(3, 1, 1)).await;
    let withdrawn = {
        let scheduler = scheduler.clone();
        tokio::spawn(async move { scheduler.acquire(request(0, 1, 1)).await })
    };
    let order = Arc::default();
    spawn_waiters(&scheduler, &[("next", request(4, 1, 1))], &order);
    until(|| scheduler.queue_depths().iter().sum::<usize>() == 2).await;
    withdrawn.abort();
    until(|| scheduler.queue_depths().iter().sum::<usize>() == 1).await;
    drop(held);
    until(|| order.lock().len() == 1).await;
    assert_eq!(scheduler.active(), [0; Priority::LEVELS]);
}

#[test]
fn levels_above_five_do_not_exist() {
    assert!(Priority::new(5).is_some());
    assert!(Priority::new(6).is_none());
    assert_eq!(Priority::LIVE.level(), 0);
    assert_eq!(Priority::BACKFILL.level(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_live_request_preempts_the_worst_download_in_its_way_once() {
    let scheduler = Scheduler::new(config(3));
    scheduler.set_device_limit(1, 2);
    let d1_level5 = scheduler.acquire(request(5, 1, 1)).await;
    let d1_level3 = scheduler.acquire(request(3, 1, 2)).await;
    let d2_level5 = scheduler.acquire(request(5, 2, 3)).await;

    // Device 1 is full: its level-5 download is asked to go, not device 2's, and not the
    // level-3 one.
    let order = Arc::default();
    spawn_waiters(&scheduler, &[("live-d1", request(0, 1, 9))], &order);
    until(|| d1_level5.is_preempted()).await;
    assert!(!d1_level3.is_preempted() && !d2_level5.is_preempted());
    // A later update does not preempt a second download for the same request.
    scheduler.tick();
    assert!(!d1_level3.is_preempted() && !d2_level5.is_preempted());
    assert!(
        order.lock().is_empty(),
        "the slot is only granted once freed"
    );
    drop(d1_level5);
    until(|| order.lock().len() == 1).await;

    // Global limit full (3 running, the live one finished): a live request on a free
    // device takes the worst download anywhere.
    let d3_level4 = scheduler.acquire(request(4, 3, 4)).await;
    spawn_waiters(&scheduler, &[("live-d4", request(0, 4, 9))], &order);
    until(|| d2_level5.is_preempted()).await;
    assert!(!d3_level4.is_preempted() && !d1_level3.is_preempted());
    drop(d2_level5);
    until(|| order.lock().len() == 2).await;

    // Live requests never preempt each other; a queued backfill never preempts anything.
    let live_a = scheduler.acquire(request(0, 5, 9)).await;
    spawn_waiters(&scheduler, &[("backfill", request(5, 6, 5))], &order);
    until(|| scheduler.queue_depths()[5] == 1).await;
    assert!(!live_a.is_preempted() && !d3_level4.is_preempted());
    drop((live_a, d1_level3, d3_level4));
    until(|| order.lock().len() == 3).await;
    assert_eq!(*order.lock(), ["live-d1", "live-d4", "backfill"]);
}
