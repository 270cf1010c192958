//! The downloader end to end against the camera simulator over real sockets.

use std::time::Duration;

use isapi::sim::Simulator;

use super::*;
use crate::downloader::{
    fetch::RetryPolicy,
    scheduler::SchedulerConfig,
    testing::{self, PASSWORD, Seen},
};

fn config(global_limit: usize) -> DownloaderConfig {
    DownloaderConfig {
        memory_budget: 64 * 64 * 1024,
        chunk_size: 64 * 1024,
        tick: Duration::from_millis(20),
        scheduler: SchedulerConfig {
            global_limit,
            ..SchedulerConfig::default()
        },
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
        },
        ..DownloaderConfig::default()
    }
}

fn download_of(sim: &Simulator, index: usize, uri: &str) -> DownloadRequest {
    DownloadRequest {
        device_key: index as DeviceKey,
        device: testing::device(sim, index, PASSWORD),
        playback_uri: uri.to_owned(),
        cache_key: None,
    }
}

/// Reads a download to its end; returns what arrived and how it ended.
async fn read_all(mut handle: DownloadHandle) -> (Seen, Result<u64, FetchError>) {
    let mut seen = Seen::default();
    while let Some(event) = handle.next().await {
        seen.see(event);
    }
    (seen, handle.finish().await)
}

/// Reads events up to the first chunk of data.
async fn first_data(handle: &mut DownloadHandle) {
    loop {
        match handle.next().await {
            Some(Event::Data(_)) => return,
            Some(_) => {}
            None => panic!("the download ended before any data"),
        }
    }
}

/// Waits (in real time: the sockets are real) until `condition` holds.
async fn until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn a_job_downloads_from_several_cameras_byte_exact() {
    let sim = testing::simulator_of(3, |_| {}).await;
    let downloader = Downloader::new(config(4)).expect("downloader");
    let job = downloader.job(Priority::new(2).expect("level"));
    let mut handles = Vec::new();
    for camera in 0..3 {
        for uri in testing::recordings(&sim, camera, 2).await {
            handles.push((
                camera,
                uri.clone(),
                job.download(download_of(&sim, camera, &uri)),
            ));
        }
    }
    for (camera, uri, handle) in handles {
        let (seen, result) = read_all(handle).await;
        let want = sim.checksum(camera, &uri).expect("checksum");
        assert_eq!(result.expect("download"), want.bytes);
        assert_eq!(seen.checksum(), (want.bytes, want.crc32), "{uri}");
        assert_eq!((seen.starts, seen.restarts), (1, 0));
    }
    assert_eq!(downloader.pool().in_use(), 0, "every chunk came back");
    assert!(downloader.pool().allocated() <= downloader.pool().capacity());
    assert_eq!(downloader.scheduler().active(), [0; Priority::LEVELS]);
}

#[tokio::test]
async fn cancelling_a_job_stops_its_running_and_waiting_downloads_only() {
    let sim = testing::simulator_of(2, |c| c.limits.bytes_per_second = Some(100_000)).await;
    let downloader = Downloader::new(config(2)).expect("downloader");
    let doomed = downloader.job(Priority::BACKFILL);
    let kept = downloader.job(Priority::BACKFILL);
    let uris = testing::recordings(&sim, 0, 3).await;
    // Two run (the global limit), one waits.
    let mut running: Vec<_> = uris
        .iter()
        .map(|uri| doomed.download(download_of(&sim, 0, uri)))
        .collect();
    let other_uri = testing::recordings(&sim, 1, 1).await.remove(0);
    let mut survivor = kept.download(download_of(&sim, 1, &other_uri));
    // Hold some chunks of the first download, unread events in the others.
    let mut held = Vec::new();
    while held.len() < 2 {
        if let Some(Event::Data(chunk)) = running[0].next().await {
            held.push(chunk);
        }
    }
    until("the queue holds the waiting downloads", || {
        downloader.scheduler().queue_depths()[5] == 2
    })
    .await;

    doomed.cancel();
    assert!(doomed.is_cancelled() && !kept.is_cancelled());
    for handle in running.drain(..) {
        let result = tokio::time::timeout(Duration::from_secs(2), handle.finish())
            .await
            .expect("a cancelled download ends promptly");
        assert!(matches!(result, Err(FetchError::Cancelled)), "{result:?}");
    }
    drop(held);
    // The other job's download got a slot and is still going.
    assert!(matches!(survivor.next().await, Some(Event::Started { .. })));
    assert!(matches!(survivor.next().await, Some(Event::Data(_))));
    until("only the survivor's chunks are out", || {
        downloader.pool().in_use() <= 4
    })
    .await;
    drop(survivor);
    until("every chunk is back", || downloader.pool().in_use() == 0).await;
    until("no slot is held", || {
        downloader.scheduler().active() == [0; Priority::LEVELS]
    })
    .await;
    assert_eq!(
        sim.stats(0).downloads_active,
        0,
        "the device's sockets closed"
    );
}

#[tokio::test]
async fn a_live_download_preempts_a_backfill_one_which_restarts_cleanly() {
    let sim = testing::simulator(|c| c.limits.bytes_per_second = Some(3_000_000)).await;
    let downloader = Downloader::new(config(1)).expect("downloader");
    let uris = testing::recordings(&sim, 0, 2).await;
    let backfill = downloader
        .job(Priority::BACKFILL)
        .download(download_of(&sim, 0, &uris[0]));
    let backfill = tokio::spawn(read_all(backfill));
    until("the backfill download is sending", || {
        sim.stats(0).bytes_sent > 200_000
    })
    .await;

    let live = downloader
        .job(Priority::LIVE)
        .download(download_of(&sim, 0, &uris[1]));
    let (live_seen, live_result) = tokio::time::timeout(Duration::from_secs(20), read_all(live))
        .await
        .expect("the live download is not stuck behind the backfill");
    let want = sim.checksum(0, &uris[1]).expect("checksum");
    assert_eq!(live_result.expect("live"), want.bytes);
    assert_eq!(live_seen.checksum(), (want.bytes, want.crc32));

    let (seen, result) = backfill.await.expect("task");
    let want = sim.checksum(0, &uris[0]).expect("checksum");
    assert_eq!(result.expect("backfill"), want.bytes);
    assert_eq!(seen.restarts, 1, "told once to drop what it had");
    assert_eq!(seen.starts, 2);
    assert_eq!(seen.checksum(), (want.bytes, want.crc32));
}

#[tokio::test]
async fn dropping_a_handle_cancels_its_download() {
    let sim = testing::simulator(|c| c.limits.bytes_per_second = Some(100_000)).await;
    let downloader = Downloader::new(config(4)).expect("downloader");
    let uri = testing::recordings(&sim, 0, 1).await.remove(0);
    let mut handle = downloader
        .job(Priority::LIVE)
        .download(download_of(&sim, 0, &uri));
    first_data(&mut handle).await;
    drop(handle);
    until("the slot is freed", || {
        downloader.scheduler().active() == [0; Priority::LEVELS]
    })
    .await;
    until("the device saw the socket close", || {
        sim.stats(0).downloads_active == 0
    })
    .await;
    assert_eq!(downloader.pool().in_use(), 0);
}

#[tokio::test]
async fn the_configuration_is_checked() {
    let mut bad = config(1);
    bad.channel_depth = 0;
    assert!(
        Downloader::new(bad)
            .expect_err("depth")
            .contains("channel depth")
    );
    let mut bad = config(1);
    bad.memory_budget = 1000;
    assert!(
        Downloader::new(bad)
            .expect_err("budget")
            .contains("holds no chunk")
    );
}

/// What the debugging recorder saw. Its snapshots drain what they read, so counters are
/// summed over every snapshot taken, and gauges are as of the last one (read as 0 until
/// the downloader's next tick sets them again).
struct Observed {
    snapshotter: metrics_util::debugging::Snapshotter,
    counters: std::collections::HashMap<String, f64>,
    gauges: std::collections::HashMap<String, f64>,
}

impl Observed {
    fn take(&mut self) -> &mut Self {
        use metrics_util::debugging::DebugValue;
        self.gauges.clear();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            match value {
                DebugValue::Counter(n) => *self.counters.entry(name).or_default() += n as f64,
                DebugValue::Gauge(g) => {
                    self.gauges.insert(name, g.into_inner());
                }
                DebugValue::Histogram(_) => {}
            }
        }
        self
    }

    fn counter(&self, name: &str) -> f64 {
        self.counters.get(name).copied().unwrap_or(0.0)
    }

    fn gauge(&self, name: &str) -> Option<f64> {
        self.gauges.get(name).copied()
    }
}

#[tokio::test]
async fn metrics_count_bytes_errors_and_sample_levels_and_the_pool() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let observed = std::cell::RefCell::new(Observed {
        snapshotter: recorder.snapshotter(),
        counters: Default::default(),
        gauges: Default::default(),
    });
    // The only test that installs a recorder: nextest runs each test in its own process.
    recorder
        .install()
        .expect("no other recorder in this process");

    let sim = testing::simulator(|c| c.limits.bytes_per_second = Some(300_000)).await;
    let downloader = Downloader::new(config(1)).expect("downloader");
    let capacity = downloader.pool().capacity() as f64;
    let uris = testing::recordings(&sim, 0, 3).await;
    let slow = downloader
        .job(Priority::new(3).expect("level"))
        .download(download_of(&sim, 0, &uris[0]));
    let waiting = downloader
        .job(Priority::BACKFILL)
        .download(download_of(&sim, 0, &uris[1]));
    until(
        "the gauges show one active at level 3, one waiting at 5",
        || {
            let mut observed = observed.borrow_mut();
            let now = observed.take();
            now.gauge("dipper_downloader_active{level=3}") == Some(1.0)
                && now.gauge("dipper_downloader_queue_depth{level=5}") == Some(1.0)
                && now.gauge("dipper_downloader_active{level=5}") == Some(0.0)
                && now.gauge("dipper_downloader_pool_chunks_capacity{}") == Some(capacity)
                && now.gauge("dipper_downloader_pool_chunks_in_use{}") > Some(0.0)
        },
    )
    .await;
    drop((slow, waiting));

    sim.set_limits(0, isapi::sim::Limits::default());
    let uri = &uris[2];
    let live = downloader.job(Priority::LIVE);
    let (_, result) = read_all(live.download(download_of(&sim, 0, uri))).await;
    let bytes = result.expect("download") as f64;
    let mut wrong = download_of(&sim, 0, uri);
    wrong.device = testing::device(&sim, 0, "wrong");
    let (_, result) = read_all(live.download(wrong)).await;
    assert!(
        matches!(result, Err(FetchError::Device { attempts: 1, .. })),
        "{result:?}"
    );

    let mut observed = observed.borrow_mut();
    let now = observed.take();
    let device_bytes = now.counter("dipper_downloader_bytes_total{source=device}");
    assert!(
        device_bytes >= bytes,
        "{device_bytes} counted, {bytes} downloaded"
    );
    assert_eq!(
        now.counter("dipper_downloader_errors_total{kind=bad_credentials}"),
        1.0
    );
    assert_eq!(
        now.counter("dipper_downloader_downloads_total{outcome=failed}"),
        1.0
    );
    assert_eq!(
        now.counter("dipper_downloader_downloads_total{outcome=done}"),
        1.0
    );
    assert_eq!(
        now.counter("dipper_downloader_downloads_total{outcome=cancelled}"),
        2.0
    );
}

/// Runs `body` with a downloader on a disk cache written through each file IO.
async fn with_each_cache_io(test: &str, body: impl AsyncFn(Downloader, &Simulator)) {
    use crate::downloader::cache::{CacheBackend, CacheConfig, CacheIo};
    for (io, backend) in [
        (CacheIo::Uring, CacheBackend::Uring),
        (CacheIo::Tokio, CacheBackend::Tokio),
    ] {
        let dir = testing::temp_dir(test);
        let cache = DiskCache::open(CacheConfig {
            dir: dir.path().to_owned(),
            max_bytes: 1 << 30,
            io,
        })
        .await
        .expect("cache");
        assert_eq!(cache.backend(), backend);
        let sim = testing::simulator(|_| {}).await;
        let downloader = Downloader::with_cache(config(4), Some(cache)).expect("downloader");
        body(downloader, &sim).await;
    }
}

fn cached_download_of(sim: &Simulator, uri: &str) -> DownloadRequest {
    DownloadRequest {
        cache_key: Some(format!("{} {uri}", sim.devices()[0].config.serial)),
        ..download_of(sim, 0, uri)
    }
}

/// Reads a download to its end, asserting it is the recording, byte for byte; returns
/// where it came from.
async fn read_exact(
    sim: &Simulator,
    uri: &str,
    handle: DownloadHandle,
) -> Vec<crate::downloader::metrics::Source> {
    let mut seen = Seen::default();
    let mut sources = Vec::new();
    let mut handle = handle;
    while let Some(event) = handle.next().await {
        if let Event::Started { source, .. } = &event {
            sources.push(*source);
        }
        seen.see(event);
    }
    let want = sim.checksum(0, uri).expect("checksum");
    assert_eq!(handle.finish().await.expect("download"), want.bytes);
    assert_eq!(seen.checksum(), (want.bytes, want.crc32), "{uri}");
    sources
}

#[tokio::test]
async fn a_second_download_of_a_recording_comes_from_the_disk_cache() {
    use crate::downloader::metrics::Source::{Cache, Device};
    with_each_cache_io("second-from-cache", async |downloader, sim| {
        let uri = testing::recordings(sim, 0, 1).await.remove(0);
        let job = downloader.job(Priority::LIVE);
        let first = read_exact(sim, &uri, job.download(cached_download_of(sim, &uri))).await;
        assert_eq!(first, [Device]);
        let second = read_exact(sim, &uri, job.download(cached_download_of(sim, &uri))).await;
        assert_eq!(second, [Cache]);
        assert_eq!(
            sim.stats(0).downloads_started,
            1,
            "the device was asked once"
        );
        let stats = downloader.cache().expect("cache").stats();
        assert_eq!((stats.entries, stats.hits), (1, 1));
        // Without a key the cache is neither read nor filled.
        let third = read_exact(sim, &uri, job.download(download_of(sim, 0, &uri))).await;
        assert_eq!(third, [Device]);
        assert_eq!(downloader.pool().in_use(), 0);
    })
    .await;
}

#[tokio::test]
async fn failed_retried_and_cancelled_downloads_leave_no_entry_to_serve() {
    use crate::downloader::metrics::Source::{Cache, Device};
    with_each_cache_io("no-partial-entries", async |downloader, sim| {
        let uris = testing::recordings(sim, 0, 2).await;
        let job = downloader.job(Priority::LIVE);

        // Cut off half way, then whole on the retry: the entry holds the retry's bytes only.
        sim.set_faults(
            0,
            isapi::sim::Faults {
                truncate_after: Some(1_000_000),
                ..Default::default()
            },
        );
        let retried = tokio::spawn({
            let (job, request) = (job.clone(), cached_download_of(sim, &uris[0]));
            async move { read_all(job.download(request)).await }
        });
        until("the first attempt was cut", || {
            sim.stats(0).downloads_started >= 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        sim.set_faults(0, isapi::sim::Faults::default());
        let (seen, result) = retried.await.expect("task");
        result.expect("the retry completes");
        assert_eq!(seen.restarts, 1, "the cut attempt was dropped");
        let again = read_exact(
            sim,
            &uris[0],
            job.download(cached_download_of(sim, &uris[0])),
        )
        .await;
        assert_eq!(again, [Cache], "the retry's copy was kept, and it is exact");

        // Cancelled part way: nothing is kept, the next download asks the device.
        let mut handle = job.download(cached_download_of(sim, &uris[1]));
        first_data(&mut handle).await;
        handle.cancel();
        assert!(matches!(handle.finish().await, Err(FetchError::Cancelled)));
        let after = read_exact(
            sim,
            &uris[1],
            job.download(cached_download_of(sim, &uris[1])),
        )
        .await;
        assert_eq!(after, [Device]);
        assert_eq!(downloader.cache().expect("cache").stats().entries, 2);
    })
    .await;
}

#[tokio::test]
async fn a_job_limit_holds_for_that_job_only() {
    let sim = testing::simulator_of(3, |c| c.limits.bytes_per_second = Some(2_000_000)).await;
    let downloader = Downloader::new(config(100)).expect("downloader");
    let narrow = downloader.job(Priority::new(2).expect("level"));
    narrow.set_limit(1);
    let wide = downloader.job(Priority::new(2).expect("level"));
    let mut handles = Vec::new();
    for camera in 0..3 {
        let uri = testing::recordings(&sim, camera, 1).await.remove(0);
        handles.push(narrow.download(download_of(&sim, camera, &uri)));
        handles.push(wide.download(download_of(&sim, camera, &uri)));
    }
    until("the wide job runs all three, the narrow one one", || {
        downloader.scheduler().active()[2] == 4 && downloader.scheduler().queue_depths()[2] == 2
    })
    .await;
    for handle in handles {
        handle
            .finish()
            .await
            .expect("every download completes in turn");
    }
}
