//! Fetches against the camera simulator over real sockets.

use std::time::Duration;

use isapi::{
    ErrorKind,
    sim::{DeviceStats, Faults},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::downloader::{
    scheduler::{Priority, SchedulerConfig},
    testing::{self, PASSWORD, consume, simulator},
};
use isapi::sim::Simulator;

/// A fetch of the first recording of the simulator's first device.
async fn request(sim: &Simulator, password: &str) -> FetchRequest {
    let (device, playback_uri) = testing::first_recording(sim, password).await;
    FetchRequest {
        device,
        playback_uri,
        cache_key: None,
        slot: SlotRequest {
            priority: Priority::LIVE,
            device: 1,
            job: 1,
        },
    }
}

fn context(pool_chunks: usize) -> FetchContext {
    FetchContext {
        scheduler: Scheduler::new(SchedulerConfig::default()),
        pool: ChunkPool::new(64 * 1024, pool_chunks * 64 * 1024).expect("pool"),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
        },
        cache: None,
    }
}

#[tokio::test]
async fn a_recording_arrives_exactly_in_pooled_chunks() {
    let sim = simulator(|_| {}).await;
    let request = request(&sim, PASSWORD).await;
    let context = context(8);
    let (sender, receiver) = mpsc::channel(4);
    let consumer = tokio::spawn(consume(receiver, || {}));
    let bytes = fetch(&request, &context, &sender, &CancellationToken::new())
        .await
        .expect("fetch");
    drop(sender);
    let seen = consumer.await.expect("consumer");
    let want = sim.checksum(0, &request.playback_uri).expect("checksum");
    assert_eq!(
        (bytes, seen.bytes, seen.done),
        (want.bytes, want.bytes, Some(want.bytes))
    );
    assert_eq!(seen.crc.finalize(), want.crc32);
    assert_eq!((seen.starts, seen.restarts), (1, 0));
    assert_eq!(
        context.pool.in_use(),
        0,
        "every chunk went back to the pool"
    );
    assert!(context.pool.allocated() <= 8);
}

#[tokio::test]
async fn a_truncated_download_restarts_cleanly_and_completes() {
    let sim = std::sync::Arc::new(simulator(|c| c.faults.truncate_after = Some(300_000)).await);
    let request = request(&sim, PASSWORD).await;
    let context = context(8);
    let (sender, receiver) = mpsc::channel(4);
    // The running download keeps its fault; the retry finds the device healthy.
    let healthy = sim.clone();
    let consumer = tokio::spawn(consume(receiver, move || {
        healthy.set_faults(0, Faults::default());
    }));
    fetch(&request, &context, &sender, &CancellationToken::new())
        .await
        .expect("fetch after a retry");
    drop(sender);
    let seen = consumer.await.expect("consumer");
    let want = sim.checksum(0, &request.playback_uri).expect("checksum");
    assert_eq!((seen.starts, seen.restarts), (2, 1));
    assert_eq!(seen.bytes, want.bytes);
    assert_eq!(seen.crc.finalize(), want.crc32);
    assert_eq!(context.pool.in_use(), 0);
}

#[tokio::test]
async fn bad_credentials_are_not_retried() {
    let sim = simulator(|_| {}).await;
    let request = request(&sim, "wrong").await;
    let failures_before = sim.stats(0).auth_failures;
    let (sender, _receiver) = mpsc::channel(4);
    let err = fetch(&request, &context(4), &sender, &CancellationToken::new())
        .await
        .expect_err("wrong password");
    match err {
        FetchError::Device { error, attempts } => {
            assert_eq!(attempts, 1);
            assert!(
                matches!(error.kind, ErrorKind::BadCredentials { .. }),
                "{error}"
            );
        }
        other => panic!("expected a device error, got {other}"),
    }
    assert_eq!(sim.stats(0).auth_failures - failures_before, 1);
}

#[tokio::test]
async fn a_busy_device_is_retried_then_given_fewer_slots() {
    let sim = simulator(|c| {
        c.limits.max_concurrent_downloads = Some(1);
        c.limits.bytes_per_second = Some(50_000);
    })
    .await;
    let request = request(&sim, PASSWORD).await;
    let _occupying = request
        .device
        .download(&request.playback_uri)
        .await
        .expect("first download holds the device");
    let context = context(4);
    let (sender, _receiver) = mpsc::channel(4);
    let err = fetch(&request, &context, &sender, &CancellationToken::new())
        .await
        .expect_err("busy every time");
    match err {
        FetchError::Device { error, attempts } => {
            assert_eq!(attempts, 3, "retried up to the policy");
            assert!(error.is_device_busy(), "{error}");
        }
        other => panic!("expected a device error, got {other}"),
    }
    assert_eq!(
        context.scheduler.device_limit(1),
        1,
        "4 halved twice (and more), at least 1"
    );
    assert!(sim.stats(0).busy_answers >= 3);
}

#[tokio::test]
async fn cancelling_stops_promptly_and_returns_every_chunk() {
    let sim = simulator(|c| c.limits.bytes_per_second = Some(200_000)).await;
    let request = request(&sim, PASSWORD).await;
    let context = context(8);
    let (sender, mut receiver) = mpsc::channel(2);
    let cancel = CancellationToken::new();
    let task = {
        let (request, context, cancel) = (request.clone(), context.clone(), cancel.clone());
        tokio::spawn(async move { fetch(&request, &context, &sender, &cancel).await })
    };
    // Take a few chunks, then cancel while the fetch is mid-body.
    let mut received = Vec::new();
    while received.len() < 3 {
        match receiver.recv().await.expect("events") {
            Event::Data(chunk) => received.push(chunk),
            Event::Started { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the fetch stops promptly")
        .expect("task");
    assert!(matches!(result, Err(FetchError::Cancelled)), "{result:?}");
    drop(received);
    drop(receiver);
    assert_eq!(context.pool.in_use(), 0, "every chunk is back in the pool");
}

#[tokio::test]
async fn a_slow_consumer_holds_memory_at_the_pool_and_channel_bound() {
    let sim = simulator(|_| {}).await;
    let request = request(&sim, PASSWORD).await;
    let context = context(4);
    let (sender, receiver) = mpsc::channel(2);
    let task = {
        let (request, context) = (request.clone(), context.clone());
        tokio::spawn(
            async move { fetch(&request, &context, &sender, &CancellationToken::new()).await },
        )
    };
    // Nobody reads: the fetch fills the channel, then waits holding one chunk.
    for _ in 0..500 {
        if context.pool.in_use() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Then nothing more may happen; that has no event to await, so give it time to go wrong.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !task.is_finished(),
        "a 4.6 MB recording cannot fit in 4 chunks"
    );
    // The channel holds `Started` and one chunk; the reader holds the chunk it cannot send.
    assert_eq!(
        context.pool.in_use(),
        2,
        "memory stops at the channel's bound"
    );
    assert_eq!(
        context.pool.allocated(),
        2,
        "nothing allocated past what is held"
    );
    let seen = consume(receiver, || {}).await;
    let bytes = task.await.expect("task").expect("fetch");
    let want = sim.checksum(0, &request.playback_uri).expect("checksum");
    assert_eq!((bytes, seen.bytes), (want.bytes, want.bytes));
    assert_eq!(seen.crc.finalize(), want.crc32);
}

/// Returns once the first attempt has met the device's fault: a download that starts has
/// read it; one that does not start reads it within moments of arriving.
async fn first_attempt_met_the_fault(
    sim: &Simulator,
    before: &DeviceStats,
    fault_stops_the_start: bool,
) {
    for _ in 0..500 {
        let now = sim.stats(0);
        if now.downloads_started > before.downloads_started {
            return;
        }
        if now.requests > before.requests && fault_stops_the_start {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn every_retryable_fault_is_retried_until_the_recording_arrives_whole() {
    let faults = [
        (
            "503",
            Faults {
                http_503: true,
                ..Faults::default()
            },
        ),
        (
            "slow first byte",
            Faults {
                slow_first_byte: Some(Duration::from_secs(3)),
                ..Faults::default()
            },
        ),
        (
            "stall",
            Faults {
                stall_after: Some(300_000),
                ..Faults::default()
            },
        ),
        (
            "connection closed early",
            Faults {
                truncate_after: Some(300_000),
                ..Faults::default()
            },
        ),
    ];
    for (name, fault) in faults {
        let fault_stops_the_start = fault.http_503 || fault.slow_first_byte.is_some();
        let sim = simulator(|_| {}).await;
        let request = request(&sim, PASSWORD).await;
        let mut context = context(8);
        // The first retry comes 200-400 ms after the failure: time to clear the fault.
        context.retry = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(400),
            max_backoff: Duration::from_secs(1),
        };
        let before = sim.stats(0);
        sim.set_faults(0, fault);
        let (sender, receiver) = mpsc::channel(4);
        let task = {
            let (request, context) = (request.clone(), context.clone());
            tokio::spawn(async move {
                fetch(&request, &context, &sender, &CancellationToken::new()).await
            })
        };
        // The first attempt meets the fault; then the device recovers.
        first_attempt_met_the_fault(&sim, &before, fault_stops_the_start).await;
        sim.set_faults(0, Faults::default());
        let seen = consume(receiver, || {}).await;
        let bytes = task.await.expect("task").expect(name);
        let want = sim.checksum(0, &request.playback_uri).expect("checksum");
        assert_eq!(bytes, want.bytes, "{name}");
        assert_eq!(seen.checksum(), (want.bytes, want.crc32), "{name}");
        if fault_stops_the_start {
            assert_eq!((seen.starts, seen.restarts), (1, 0), "{name}");
            assert!(
                sim.stats(0).requests >= before.requests + 2,
                "{name}: refused once, asked again"
            );
        } else {
            assert_eq!(
                (seen.starts, seen.restarts),
                (2, 1),
                "{name}: the cut start was dropped"
            );
        }
        assert_eq!(
            sim.stats(0).downloads_started,
            before.downloads_started + if fault_stops_the_start { 1 } else { 2 },
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let sim = simulator(|c| c.faults.xml_refusal = true).await;
    let request = request(&sim, PASSWORD).await;
    let (sender, _receiver) = mpsc::channel(4);
    let err = fetch(&request, &context(4), &sender, &CancellationToken::new())
        .await
        .expect_err("refused");
    match err {
        FetchError::Device { error, attempts } => {
            assert_eq!(attempts, 1, "{error}");
            assert!(!error.is_retryable(), "{error}");
        }
        other => panic!("expected a device error, got {other}"),
    }
    assert_eq!(sim.stats(0).downloads_started, 0);
}
