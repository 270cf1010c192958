//! The cache's tests. Each behaviour runs on both backends ([`for_each_backend`]), in a
//! fresh directory under the system temp dir that is removed afterwards.

use std::{path::PathBuf, sync::atomic::Ordering};

use super::*;
use crate::downloader::testing::temp_dir;

/// One run of a test: a backend and a directory.
struct Ctx {
    temp: tempfile::TempDir,
    io: CacheIo,
}

impl Ctx {
    /// The cache directory; it does not exist until the cache opens it.
    fn dir(&self) -> PathBuf {
        self.temp.path().join("cache")
    }

    fn config(&self, max_bytes: u64) -> CacheConfig {
        CacheConfig {
            dir: self.dir(),
            max_bytes,
            io: self.io,
        }
    }

    async fn open(&self, max_bytes: u64) -> DiskCache {
        let cache = DiskCache::open(self.config(max_bytes))
            .await
            .expect("open the cache");
        let expected = match self.io {
            CacheIo::Tokio => CacheBackend::Tokio,
            _ => CacheBackend::Uring,
        };
        assert_eq!(cache.backend(), expected);
        cache
    }

    /// The names of the files in the cache directory, sorted.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir())
            .expect("read the cache dir")
            .map(|e| {
                e.expect("a dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.dir().join(KeyHash::of(key).file_name())
    }
}

/// Runs `body` once with io_uring and once with `tokio::fs`.
async fn for_each_backend(test: &str, body: impl AsyncFn(&Ctx)) {
    for io in [CacheIo::Uring, CacheIo::Tokio] {
        eprintln!("{test}: with {io:?}");
        body(&Ctx {
            temp: temp_dir(test),
            io,
        })
        .await;
    }
}

fn recording(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Bytes an entry takes on disk.
fn entry_size(key: &str, len: usize) -> u64 {
    entry::header_len(key.len()) + len as u64
}

/// Writes `bytes` in uneven pieces (an empty one among them) and commits.
async fn put(cache: &DiskCache, key: &str, bytes: &[u8]) {
    let mut writer = cache.writer(key).await.expect("start a writer");
    writer.write(&[]).await.expect("write nothing");
    for piece in bytes.chunks(777) {
        writer.write(piece).await.expect("write a piece");
    }
    writer.commit().await.expect("commit");
}

async fn read_all(mut reader: CacheReader) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let n = reader.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out.len() as u64, reader.len(), "len() matches what is read");
    out
}

async fn fetch(cache: &DiskCache, key: &str) -> Option<Vec<u8>> {
    match cache.get(key).await {
        Some(reader) => Some(read_all(reader).await),
        None => None,
    }
}

fn open_with(
    config: CacheConfig,
    hooks: TestHooks,
) -> impl Future<Output = Result<DiskCache, CacheError>> {
    open::open(config, hooks)
}

/// Log lines written while the guard lives (this thread only).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn a_committed_recording_reads_back_whole() {
    for_each_backend("round-trip", async |ctx: &Ctx| {
        let cache = ctx.open(MIB).await;
        let cases = [
            (
                concat!(
                    "DS-2CD2143G2-I20210101 rtsp://10.0.0.5/Streaming/tracks/101/",
                    "?starttime=20240101T000000Z&endtime=20240101T001000Z",
                    "&name=ch01_08000000000000000&size=1234"
                ),
                recording(1, 10_000),
            ),
            ("ключ 🔑 with / and \\ and \0", recording(2, 1)),
            ("", Vec::new()),
        ];
        for (key, bytes) in &cases {
            put(&cache, key, bytes).await;
        }
        for (key, bytes) in &cases {
            let reader = cache.get(key).await.expect("a hit");
            assert_eq!(reader.len(), bytes.len() as u64);
            assert_eq!(&read_all(reader).await, bytes, "key {key:?}");
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 3);
        let expected_bytes: u64 = cases.iter().map(|(k, b)| entry_size(k, b.len())).sum();
        assert_eq!(
            stats.bytes, expected_bytes,
            "bytes on disk, headers included"
        );
        assert_eq!((stats.hits, stats.misses, stats.write_errors), (3, 0, 0));
        let mut expected_files: Vec<String> = cases
            .iter()
            .map(|(k, _)| KeyHash::of(k).file_name())
            .collect();
        expected_files.sort();
        assert_eq!(
            ctx.files(),
            expected_files,
            "one file per entry, nothing partial"
        );
        let on_disk: u64 = expected_files
            .iter()
            .map(|f| {
                std::fs::metadata(ctx.dir().join(f))
                    .expect("metadata")
                    .len()
            })
            .sum();
        assert_eq!(on_disk, stats.bytes);
    })
    .await;
}

#[tokio::test]
async fn a_miss_returns_none_and_is_counted() {
    for_each_backend("miss", async |ctx: &Ctx| {
        let cache = ctx.open(MIB).await;
        assert!(cache.get("never written").await.is_none());
        put(&cache, "written", b"bytes").await;
        assert!(cache.get("written ").await.is_none(), "keys match exactly");
        assert!(cache.get("written").await.is_some());
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses), (1, 2));
    })
    .await;
}

#[tokio::test]
async fn eviction_takes_the_least_recently_used_and_get_refreshes() {
    for_each_backend("lru", async |ctx: &Ctx| {
        let size = entry_size("key-a", 1000);
        let cache = ctx.open(3 * size).await;
        for (seed, key) in ["key-a", "key-b", "key-c"].into_iter().enumerate() {
            put(&cache, key, &recording(seed as u8, 1000)).await;
        }
        assert!(
            cache.get("key-a").await.is_some(),
            "a is now the most recent"
        );
        put(&cache, "key-d", &recording(3, 1000)).await;

        let order = cache.inner.index.lock().lru_order();
        let expected: Vec<KeyHash> = ["key-c", "key-a", "key-d"].map(KeyHash::of).into();
        assert_eq!(
            order, expected,
            "b went; the rest from least to most recent"
        );
        assert!(cache.get("key-b").await.is_none());
        assert!(!ctx.path_of("key-b").exists(), "the evicted file is gone");
        assert_eq!(fetch(&cache, "key-a").await, Some(recording(0, 1000)));
        let stats = cache.stats();
        assert_eq!(
            (stats.entries, stats.bytes, stats.evictions),
            (3, 3 * size, 1)
        );
        assert_eq!(ctx.files().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn an_entry_larger_than_the_whole_cache_is_not_kept() {
    for_each_backend("too-large", async |ctx: &Ctx| {
        let max = entry_size("big", 2000);
        let cache = ctx.open(max).await;
        put(&cache, "keep", &recording(1, 100)).await;
        let mut writer = cache.writer("big").await.expect("writer");
        writer.write(&recording(2, 1500)).await.expect("write");
        assert_eq!(
            ctx.files().len(),
            2,
            "the partial file exists while it fits"
        );
        writer
            .write(&recording(3, 1500))
            .await
            .expect("past the limit still succeeds");
        assert_eq!(
            ctx.files(),
            [KeyHash::of("keep").file_name()],
            "the partial file is dropped as soon as it cannot fit"
        );
        writer.commit().await.expect("commit");
        assert!(cache.get("big").await.is_none());
        assert_eq!(fetch(&cache, "keep").await, Some(recording(1, 100)));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.too_large, stats.evictions), (1, 1, 0));
    })
    .await;
}

#[tokio::test]
async fn a_dropped_or_aborted_writer_leaves_nothing_and_serves_nothing() {
    for_each_backend("dropped-writer", async |ctx: &Ctx| {
        let cache = ctx.open(MIB).await;
        put(&cache, "served", b"first version").await;
        let before = ctx.files();

        let mut writer = cache.writer("served").await.expect("writer");
        writer.write(b"second version").await.expect("write");
        assert_eq!(ctx.files().len(), 2, "a partial file exists");
        assert_eq!(
            fetch(&cache, "served").await.as_deref(),
            Some(&b"first version"[..])
        );
        drop(writer);
        assert_eq!(ctx.files(), before, "dropping removed the partial file");
        assert_eq!(
            fetch(&cache, "served").await.as_deref(),
            Some(&b"first version"[..])
        );

        let mut writer = cache.writer("never").await.expect("writer");
        writer.write(b"bytes").await.expect("write");
        writer.abort().await;
        assert_eq!(ctx.files(), before, "aborting removed the partial file");
        assert!(cache.get("never").await.is_none());
        assert_eq!(cache.stats().entries, 1);
    })
    .await;
}

#[tokio::test]
async fn reopening_discards_partial_torn_and_foreign_files_and_keeps_the_lru_order() {
    for_each_backend("crash", async |ctx: &Ctx| {
        let size = entry_size("old", 1000);
        {
            let cache = ctx.open(MIB).await;
            for (seed, key) in ["old", "mid", "new", "cut"].into_iter().enumerate() {
                put(&cache, key, &recording(seed as u8, 1000)).await;
            }
            assert!(
                cache.get("old").await.is_some(),
                "old is now the most recent"
            );
        }
        let dir = ctx.dir();
        // A crash between the fsync and the rename of a commit: complete, but still `.part`.
        let mut complete = entry::encode_header("crash", 3);
        complete.extend_from_slice(b"abc");
        let crashed = format!("{}.00000000deadbeef.part", KeyHash::of("crash"));
        std::fs::write(dir.join(&crashed), &complete).expect("write the .part");
        std::fs::write(dir.join("uring-probe-0123456789abcdef.part"), b"x").expect("probe");
        // A torn final file.
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(ctx.path_of("cut"))
            .expect("open cut");
        cut.set_len(size - 10).expect("truncate");
        drop(cut);
        // A foreign file and an entry under another key's name.
        std::fs::write(ctx.path_of("foreign"), b"not a cache entry at all").expect("foreign");
        std::fs::copy(ctx.path_of("mid"), ctx.path_of("liar")).expect("copy");
        // Not the cache's: left alone.
        std::fs::write(dir.join("notes.txt"), b"keep me").expect("notes");

        {
            let cache = ctx.open(MIB).await;
            let mut expected_files: Vec<String> = ["old", "mid", "new"]
                .map(|k| KeyHash::of(k).file_name())
                .into();
            expected_files.push("notes.txt".to_owned());
            expected_files.sort();
            assert_eq!(ctx.files(), expected_files);
            let stats = cache.stats();
            assert_eq!(
                (stats.entries, stats.bytes, stats.damaged),
                (3, 3 * size, 3)
            );
            let order = cache.inner.index.lock().lru_order();
            let expected: Vec<KeyHash> = ["mid", "new", "old"].map(KeyHash::of).into();
            assert_eq!(order, expected, "recency comes back from the files");
            for key in ["crash", "cut", "foreign", "liar"] {
                assert!(cache.get(key).await.is_none(), "{key} is not served");
            }
        }
        // Reopening smaller evicts the least recently used first.
        let cache = ctx.open(2 * size).await;
        assert_eq!(cache.stats().evictions, 1);
        assert!(!ctx.path_of("mid").exists());
        assert_eq!(fetch(&cache, "old").await, Some(recording(0, 1000)));
        assert_eq!(fetch(&cache, "new").await, Some(recording(2, 1000)));
        assert!(cache.get("mid").await.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_damaged_entry_is_removed_on_get_and_is_a_miss() {
    for_each_backend("damaged-get", async |ctx: &Ctx| {
        let cache = ctx.open(MIB).await;
        put(&cache, "flipped", &recording(1, 500)).await;
        put(&cache, "short", &recording(2, 500)).await;
        put(&cache, "long", &recording(3, 500)).await;
        let mut bytes = std::fs::read(ctx.path_of("flipped")).expect("read");
        bytes[0] ^= 0xff;
        std::fs::write(ctx.path_of("flipped"), bytes).expect("flip the magic");
        let short = std::fs::OpenOptions::new()
            .write(true)
            .open(ctx.path_of("short"))
            .expect("open");
        short
            .set_len(entry_size("short", 499))
            .expect("truncate by a byte");
        drop(short);
        let mut long = std::fs::OpenOptions::new()
            .append(true)
            .open(ctx.path_of("long"))
            .expect("open");
        std::io::Write::write_all(&mut long, b"trailing").expect("append");
        drop(long);

        for key in ["flipped", "short", "long"] {
            assert!(cache.get(key).await.is_none(), "{key} is not served");
            assert!(!ctx.path_of(key).exists(), "{key} is removed");
        }
        let stats = cache.stats();
        assert_eq!(
            (stats.entries, stats.bytes, stats.damaged, stats.misses),
            (0, 0, 3, 3)
        );
        put(&cache, "short", b"again").await;
        assert_eq!(fetch(&cache, "short").await.as_deref(), Some(&b"again"[..]));
    })
    .await;
}

#[tokio::test]
async fn entries_survive_reopening() {
    for_each_backend("reopen", async |ctx: &Ctx| {
        let stats = {
            let cache = ctx.open(MIB).await;
            put(&cache, "a", &recording(1, 3000)).await;
            put(&cache, "b", &recording(2, 5)).await;
            cache.stats()
        };
        let cache = ctx.open(MIB).await;
        let reopened = cache.stats();
        assert_eq!(
            (reopened.entries, reopened.bytes),
            (stats.entries, stats.bytes)
        );
        assert_eq!(fetch(&cache, "a").await, Some(recording(1, 3000)));
        assert_eq!(fetch(&cache, "b").await, Some(recording(2, 5)));
    })
    .await;
}

#[tokio::test]
async fn a_reader_survives_eviction_and_replacement_of_its_entry() {
    for_each_backend("reader-survives", async |ctx: &Ctx| {
        let cache = ctx.open(entry_size("a", 4000)).await;
        put(&cache, "a", &recording(1, 4000)).await;
        let reader = cache.get("a").await.expect("a hit");
        put(&cache, "b", &recording(2, 4000)).await;
        assert_eq!(cache.stats().evictions, 1);
        assert!(!ctx.path_of("a").exists(), "a's file is unlinked");
        assert_eq!(read_all(reader).await, recording(1, 4000));

        let reader = cache.get("b").await.expect("a hit");
        put(&cache, "b", &recording(3, 4000)).await;
        assert_eq!(
            read_all(reader).await,
            recording(2, 4000),
            "the old version"
        );
        assert_eq!(
            fetch(&cache, "b").await,
            Some(recording(3, 4000)),
            "the new one"
        );
        assert_eq!(cache.stats().entries, 1);
    })
    .await;
}

#[tokio::test]
async fn two_writers_of_one_key_leave_the_last_commit() {
    for_each_backend("same-key", async |ctx: &Ctx| {
        let cache = ctx.open(MIB).await;
        let mut first = cache.writer("k").await.expect("writer");
        let mut second = cache.writer("k").await.expect("writer");
        first.write(&recording(1, 100)).await.expect("write");
        second.write(&recording(2, 300)).await.expect("write");
        first.commit().await.expect("commit");
        second.commit().await.expect("commit");
        assert_eq!(fetch(&cache, "k").await, Some(recording(2, 300)));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes), (1, entry_size("k", 300)));
        assert_eq!(ctx.files(), [KeyHash::of("k").file_name()]);
    })
    .await;
}

#[tokio::test]
async fn a_full_disk_fails_the_write_clearly_and_leaves_the_cache_consistent() {
    for_each_backend("disk-full", async |ctx: &Ctx| {
        let cache = open_with(ctx.config(MIB), TestHooks::default())
            .await
            .expect("open");
        put(&cache, "kept", b"kept bytes").await;
        cache.inner.hooks.disk_full.store(true, Ordering::SeqCst);

        let mut writer = cache.writer("full").await.expect("writer");
        let part = ctx
            .files()
            .into_iter()
            .find(|f| f.ends_with(".part"))
            .expect("a partial file exists");
        let err = writer
            .write(&recording(1, 100))
            .await
            .expect_err("writing to a full disk fails");
        assert!(err.is_storage_full(), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("no space left"), "{message}");
        assert!(message.contains(&part), "names the file: {message}");
        assert_eq!(
            ctx.files(),
            [KeyHash::of("kept").file_name()],
            "the partial file is removed"
        );
        assert!(matches!(
            writer.write(b"more").await,
            Err(CacheError::WriterFailed { .. })
        ));
        assert!(matches!(
            writer.commit().await,
            Err(CacheError::WriterFailed { .. })
        ));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.write_errors), (1, 1));
        assert!(cache.get("full").await.is_none());

        cache.inner.hooks.disk_full.store(false, Ordering::SeqCst);
        put(&cache, "full", b"now it fits").await;
        assert_eq!(
            fetch(&cache, "full").await.as_deref(),
            Some(&b"now it fits"[..])
        );
        assert_eq!(
            fetch(&cache, "kept").await.as_deref(),
            Some(&b"kept bytes"[..])
        );
    })
    .await;
}

#[tokio::test]
async fn bad_keys_and_configs_are_refused_clearly() {
    for_each_backend("refused", async |ctx: &Ctx| {
        let cache = ctx.open(MIB).await;
        let long = "k".repeat(MAX_KEY_LEN + 1);
        let err = cache.writer(&long).await.expect_err("too long");
        assert!(matches!(err, CacheError::KeyTooLong { .. }), "{err:?}");
        assert!(ctx.files().is_empty(), "nothing was created");

        let err = DiskCache::open(ctx.config(0))
            .await
            .expect_err("zero bytes");
        assert!(err.to_string().contains("`max_bytes`"), "{err}");
        let file = ctx.temp.path().join("a-file");
        std::fs::write(&file, b"").expect("write");
        let err = DiskCache::open(CacheConfig {
            dir: file.join("cache"),
            ..ctx.config(MIB)
        })
        .await
        .expect_err("a dir under a file");
        assert!(err.to_string().contains("create the directory"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn auto_falls_back_to_tokio_when_the_probe_fails_and_says_why() {
    let temp = temp_dir("fallback");
    let (logs, _guard) = Logs::capture();
    let config = CacheConfig {
        dir: temp.path().join("cache"),
        max_bytes: MIB,
        io: CacheIo::Auto,
    };
    let hooks = TestHooks {
        fail_uring_probe: true,
        ..TestHooks::default()
    };
    let cache = open_with(config.clone(), hooks).await.expect("open");
    assert_eq!(cache.backend(), CacheBackend::Tokio);
    let text = logs.text();
    assert!(text.contains("falling back to tokio::fs"), "{text}");
    assert!(
        text.contains("made to fail by a test"),
        "the reason: {text}"
    );
    assert!(text.contains("backend=\"tokio_fs\""), "{text}");
    put(&cache, "k", b"works").await;
    assert_eq!(fetch(&cache, "k").await.as_deref(), Some(&b"works"[..]));

    let hooks = TestHooks {
        fail_uring_probe: true,
        ..TestHooks::default()
    };
    let err = open_with(
        CacheConfig {
            io: CacheIo::Uring,
            ..config
        },
        hooks,
    )
    .await
    .expect_err("io_uring was required");
    assert!(
        matches!(err, CacheError::UringUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("made to fail by a test"), "{err}");
}

#[tokio::test]
async fn uring_is_used_when_asked_for_on_this_machine() {
    let temp = temp_dir("uring");
    let (logs, _guard) = Logs::capture();
    let cache = DiskCache::open(CacheConfig {
        dir: temp.path().join("cache"),
        max_bytes: MIB,
        io: CacheIo::Uring,
    })
    .await
    .expect("io_uring works on this kernel");
    assert_eq!(cache.backend(), CacheBackend::Uring);
    let text = logs.text();
    assert!(text.contains("backend=\"io_uring\""), "{text}");
    let left: Vec<_> = std::fs::read_dir(temp.path().join("cache"))
        .expect("read dir")
        .collect();
    assert!(left.is_empty(), "the probe cleaned up: {left:?}");
}

#[tokio::test]
async fn the_uring_thread_stops_with_the_last_user() {
    let temp = temp_dir("uring-stop");
    let cache = DiskCache::open(CacheConfig {
        dir: temp.path().join("cache"),
        max_bytes: MIB,
        io: CacheIo::Uring,
    })
    .await
    .expect("open");
    let FileIo::Uring(uring) = &cache.inner.io else {
        panic!("io_uring was asked for");
    };
    let exited = uring.exited();
    let clone = cache.clone();
    let mut writer = cache.writer("k").await.expect("writer");
    drop(cache);
    drop(clone);
    writer
        .write(b"still writing")
        .await
        .expect("a writer keeps the thread");
    assert!(!exited.load(Ordering::SeqCst));
    drop(writer);
    assert!(
        exited.load(Ordering::SeqCst),
        "dropping the last user joined the thread"
    );
}

#[test]
fn the_index_evicts_in_recency_order_and_checks_generations() {
    let [a, b, c] = ["a", "b", "c"].map(KeyHash::of);
    let mut index = Index::default();
    let first_a = index.insert(a, 10);
    index.insert(b, 20);
    index.insert(c, 30);
    index.touch(a, first_a);
    assert_eq!(index.lru_order(), [b, c, a]);
    assert_eq!(
        index.evict_over(45),
        [b],
        "the least recent goes until the rest fits"
    );
    assert_eq!(index.evict_over(10), [c]);
    assert_eq!(index.bytes(), 10);
    let second_a = index.insert(a, 15);
    assert_ne!(first_a, second_a);
    assert!(
        !index.remove_if(a, first_a),
        "a newer version is not removed"
    );
    assert!(index.remove_if(a, second_a));
    assert_eq!((index.len(), index.bytes()), (0, 0));
    assert!(index.evict_over(0).is_empty());
}

#[test]
fn file_names_are_the_hex_hash_and_parse_back() {
    let hash = KeyHash::of("abc");
    assert_eq!(
        hash.file_name(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(KeyHash::from_file_name(&hash.file_name()), Some(hash));
    assert_eq!(
        KeyHash::from_file_name(&hash.file_name().to_uppercase()),
        None
    );
    assert_eq!(KeyHash::from_file_name("abc"), None);
}
