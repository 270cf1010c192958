use std::time::Duration;

use super::*;

#[test]
fn the_budget_decides_the_capacity() {
    let pool = ChunkPool::new(64 * 1024, 256 * 1024 * 1024).expect("pool");
    assert_eq!(pool.capacity(), 4096);
    assert_eq!(pool.allocated(), 0, "nothing is allocated before use");
    let err = ChunkPool::new(64 * 1024, 1000).expect_err("budget below one chunk");
    assert!(err.contains("holds no chunk"), "{err}");
    assert!(ChunkPool::new(0, 1000).is_err());
}

#[test]
fn chunks_are_filled_and_reused() {
    let pool = ChunkPool::new(8, 16).expect("pool");
    let mut chunk = pool.try_acquire().expect("free chunk");
    chunk.buffer_mut()[..3].copy_from_slice(b"abc");
    chunk.set_len(3);
    assert_eq!(&*chunk, b"abc");
    chunk.set_len(100);
    assert_eq!(chunk.len(), 8, "length is capped at the chunk size");
    drop(chunk);
    for _ in 0..10 {
        let a = pool.try_acquire().expect("a");
        let b = pool.try_acquire().expect("b");
        assert!(
            pool.try_acquire().is_none(),
            "only two chunks fit the budget"
        );
        assert_eq!(pool.in_use(), 2);
        drop((a, b));
    }
    assert_eq!(pool.in_use(), 0);
    assert_eq!(
        pool.allocated(),
        2,
        "chunks are reused, never allocated past the budget"
    );
}

#[tokio::test(start_paused = true)]
async fn an_empty_pool_makes_readers_wait_until_a_chunk_returns() {
    let pool = ChunkPool::new(4, 4).expect("pool");
    let held = pool.acquire().await;
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.acquire().await.capacity() })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiter.is_finished(), "no chunk was free");
    drop(held);
    assert_eq!(waiter.await.expect("waiter"), 4);
    assert_eq!(pool.in_use(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_takes_nothing() {
    let pool = ChunkPool::new(4, 4).expect("pool");
    let held = pool.acquire().await;
    let cancelled = tokio::time::timeout(Duration::from_millis(10), pool.acquire()).await;
    assert!(cancelled.is_err());
    drop(held);
    assert_eq!(pool.in_use(), 0);
    assert!(pool.try_acquire().is_some());
}
