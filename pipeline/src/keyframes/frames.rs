//! [`FramePool`] and [`FrameBuffer`]: a fixed number of RGB image buffers, reused from one
//! keyframe to the next, so that memory stays bounded however long the recording and a slow
//! consumer holds back decoding (backpressure) rather than letting images pile up.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// At most `buffers` buffers of `len` bytes each, allocated on first use and then reused.
/// [`FramePool::acquire`] blocks while every buffer is in use; dropping a [`FrameBuffer`]
/// returns its buffer and wakes a waiter. Cloning shares the pool.
#[derive(Debug, Clone)]
pub(super) struct FramePool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The most buffers that exist at once.
    buffers: usize,
    /// The size of each buffer.
    len: usize,
    state: Mutex<State>,
    returned: Condvar,
}

#[derive(Debug, Default)]
struct State {
    free: Vec<Box<[u8]>>,
    /// Buffers allocated so far (in use or free); never more than `buffers`.
    allocated: usize,
    /// Threads blocked in `acquire`.
    waiting: usize,
}

impl FramePool {
    /// A pool of `buffers` (at least 1) buffers of `len` bytes.
    pub(super) fn new(buffers: usize, len: usize) -> FramePool {
        FramePool {
            shared: Arc::new(Shared {
                buffers: buffers.max(1),
                len,
                state: Mutex::new(State::default()),
                returned: Condvar::new(),
            }),
        }
    }

    /// A buffer of the pool's length whose first `image_len` bytes are the image (the rest
    /// is room the writer may need, e.g. swscale's padding). Blocks until one is free.
    /// Its previous contents are not cleared.
    pub(super) fn acquire(&self, image_len: usize) -> FrameBuffer {
        let shared = &self.shared;
        let mut state = shared.state.lock();
        let data = loop {
            if let Some(data) = state.free.pop() {
                break data;
            }
            if state.allocated < shared.buffers {
                state.allocated += 1;
                break vec![0u8; shared.len].into_boxed_slice();
            }
            state.waiting += 1;
            shared.returned.wait(&mut state);
            state.waiting -= 1;
        };
        drop(state);
        FrameBuffer {
            data: Some(data),
            image_len: image_len.min(shared.len),
            pool: self.clone(),
        }
    }

    /// Buffers allocated so far (never more than the pool's size).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn allocated(&self) -> usize {
        self.shared.state.lock().allocated
    }

    /// Threads blocked in [`FramePool::acquire`] right now.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn waiting(&self) -> usize {
        self.shared.state.lock().waiting
    }

    fn give_back(&self, data: Box<[u8]>) {
        self.shared.state.lock().free.push(data);
        self.shared.returned.notify_one();
    }
}

/// A keyframe's RGB pixels in a buffer borrowed from the extraction's pool; derefs to the
/// image's bytes. Dropping it returns the buffer to the pool (which lets a waiting
/// extraction go on); keep it no longer than needed, or copy the bytes out (`to_vec`).
#[derive(Debug)]
pub struct FrameBuffer {
    /// `None` only while being dropped.
    data: Option<Box<[u8]>>,
    image_len: usize,
    pool: FramePool,
}

impl FrameBuffer {
    /// The whole buffer, image and padding, for the writer.
    pub(super) fn whole_mut(&mut self) -> &mut [u8] {
        self.data.as_deref_mut().unwrap_or_default()
    }

    /// The pool the buffer returns to.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn pool(&self) -> &FramePool {
        &self.pool
    }
}

impl std::ops::Deref for FrameBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let data = self.data.as_deref().unwrap_or_default();
        &data[..self.image_len.min(data.len())]
    }
}

impl std::ops::DerefMut for FrameBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        let image_len = self.image_len;
        let data = self.data.as_deref_mut().unwrap_or_default();
        let end = image_len.min(data.len());
        &mut data[..end]
    }
}

impl AsRef<[u8]> for FrameBuffer {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for FrameBuffer {
    fn drop(&mut self) {
        if let Some(data) = self.data.take() {
            self.pool.give_back(data);
        }
    }
}
