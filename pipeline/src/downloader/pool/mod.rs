//! Fixed-size byte chunks from one pool sized by a memory budget.
//!
//! Every downloaded byte lives in a [`Chunk`] taken from a [`ChunkPool`]. When all chunks
//! are in use, [`ChunkPool::acquire`] waits (first come, first served) until one is
//! dropped: a reader that cannot get a chunk stops reading its socket, so memory cannot
//! grow past the budget however many downloads run. Chunks are allocated on first use, up
//! to the budget, and reused after that; dropping a chunk returns it.
//!
//! Not the `object-pool` crate: it cannot wait for a free object, which backpressure needs.
//! A free list under a mutex plus a semaphore counting free chunks gives fair async waiting.

#[cfg(test)]
mod tests;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use parking_lot::Mutex;
use tokio::sync::Semaphore;

/// A pool of `capacity` chunks of `chunk_size` bytes.
#[derive(Debug, Clone)]
pub struct ChunkPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    chunk_size: usize,
    capacity: usize,
    free: Mutex<Vec<Box<[u8]>>>,
    /// One permit per chunk not in use.
    available: Semaphore,
    allocated: AtomicUsize,
}

/// One chunk of the pool: a buffer to fill and how much of it is filled.
#[derive(Debug)]
pub struct Chunk {
    buffer: Option<Box<[u8]>>,
    len: usize,
    pool: Arc<Inner>,
}

impl ChunkPool {
    /// A pool holding at most `budget_bytes` in chunks of `chunk_size` bytes.
    pub fn new(chunk_size: usize, budget_bytes: usize) -> Result<ChunkPool, String> {
        if chunk_size == 0 {
            return Err("chunk size must be at least one byte".to_owned());
        }
        let capacity = budget_bytes / chunk_size;
        if capacity == 0 {
            return Err(format!(
                "a memory budget of {budget_bytes} bytes holds no chunk of {chunk_size} bytes"
            ));
        }
        Ok(ChunkPool {
            inner: Arc::new(Inner {
                chunk_size,
                capacity,
                free: Mutex::new(Vec::with_capacity(capacity)),
                available: Semaphore::new(capacity),
                allocated: AtomicUsize::new(0),
            }),
        })
    }

    /// A free chunk, waiting while every chunk is in use. Cancel-safe.
    pub async fn acquire(&self) -> Chunk {
        match self.inner.available.acquire().await {
            Ok(permit) => permit.forget(),
            // The semaphore is never closed.
            Err(_) => unreachable!("the chunk pool's semaphore is never closed"),
        }
        self.take()
    }

    /// A free chunk if there is one now.
    pub fn try_acquire(&self) -> Option<Chunk> {
        self.inner.available.try_acquire().ok()?.forget();
        Some(self.take())
    }

    /// Takes a buffer once a permit says one is free.
    fn take(&self) -> Chunk {
        let reused = self.inner.free.lock().pop();
        let buffer = reused.unwrap_or_else(|| {
            self.inner.allocated.fetch_add(1, Ordering::Relaxed);
            vec![0; self.inner.chunk_size].into_boxed_slice()
        });
        Chunk {
            buffer: Some(buffer),
            len: 0,
            pool: self.inner.clone(),
        }
    }

    pub fn chunk_size(&self) -> usize {
        self.inner.chunk_size
    }

    /// Chunks the budget allows.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Chunks handed out and not yet dropped.
    pub fn in_use(&self) -> usize {
        self.inner.capacity - self.inner.available.available_permits()
    }

    /// Chunks allocated so far (never more than the capacity).
    pub fn allocated(&self) -> usize {
        self.inner.allocated.load(Ordering::Relaxed)
    }
}

impl Chunk {
    /// The whole buffer, to read into; then [`Chunk::set_len`].
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.buffer.as_deref_mut().unwrap_or_default()
    }

    /// Marks the first `len` bytes as filled (capped at the chunk's size).
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity());
    }

    pub fn capacity(&self) -> usize {
        self.buffer.as_deref().map_or(0, <[u8]>::len)
    }
}

impl std::ops::Deref for Chunk {
    type Target = [u8];

    /// The filled bytes.
    fn deref(&self) -> &[u8] {
        self.buffer.as_deref().map_or(&[], |b| &b[..self.len])
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.free.lock().push(buffer);
            self.pool.available.add_permits(1);
        }
    }
}
