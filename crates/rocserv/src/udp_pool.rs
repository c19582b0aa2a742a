//! The buffers that carry received DTLS datagrams from the UDP endpoint to the sessions, used
//! again instead of allocated per datagram. The endpoint takes a handful per receive batch and
//! the session gives them back after each batch it handled, one lock each time; the pool keeps at
//! most [`POOL_MAX`] buffers of at most [`KEEP_CAPACITY`] bytes, so an idle server holds at most
//! about 1 MiB here, and a rare large datagram's buffer is freed rather than kept.

use std::cell::RefCell;
use std::sync::Mutex;

/// Most buffers kept for reuse (the datagrams in flight between endpoint and sessions).
const POOL_MAX: usize = 512;
/// Larger buffers are freed after use, not kept.
const KEEP_CAPACITY: usize = 2048;

/// The process's pool.
pub static POOL: BufferPool = BufferPool::new();

thread_local! {
    /// Buffers a session handled in the current batch, given back together by
    /// [`BufferPool::give_back`].
    static USED: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Reusable datagram buffers.
#[derive(Debug)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    pub const fn new() -> BufferPool {
        BufferPool {
            free: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves up to `n` pooled buffers into `stash` (the endpoint's, for one receive batch).
    pub fn take(&self, n: usize, stash: &mut Vec<Vec<u8>>) {
        let mut free = self.lock();
        let keep = free.len().saturating_sub(n);
        stash.extend(free.drain(keep..));
    }

    /// Returns this thread's used buffers (see [`used`]) to the pool; what does not fit is freed.
    pub fn give_back(&self) {
        USED.with_borrow_mut(|used| {
            if used.is_empty() {
                return;
            }
            let mut free = self.lock();
            let room = POOL_MAX.saturating_sub(free.len()).min(used.len());
            free.extend(used.drain(..room));
            drop(free);
            used.clear();
            used.shrink_to(POOL_MAX);
        });
    }

    /// Buffers in the pool now.
    #[cfg(test)]
    fn pooled(&self) -> usize {
        self.lock().len()
    }
}

/// A buffer holding `data`: from `stash` when it has one, else newly allocated.
pub fn filled(stash: &mut Vec<Vec<u8>>, data: &[u8]) -> Vec<u8> {
    let mut buf = stash.pop().unwrap_or_default();
    buf.clear();
    buf.extend_from_slice(data);
    buf
}

/// Notes a buffer the session is done with; it goes back at the next
/// [`BufferPool::give_back`] on this thread.
pub fn used(buf: Vec<u8>) {
    if buf.capacity() <= KEEP_CAPACITY {
        USED.with_borrow_mut(|u| u.push(buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_go_round_and_the_pool_stays_bounded() {
        // A pool of its own; `USED` is per thread, and each test has its thread.
        let pool = BufferPool::new();
        let mut stash = Vec::new();
        let a = filled(&mut stash, b"first");
        assert_eq!(a, b"first");
        let ptr = a.as_ptr();
        used(a);
        pool.give_back();
        assert_eq!(pool.pooled(), 1);
        pool.take(1, &mut stash);
        assert_eq!(stash.len(), 1);
        let b = filled(&mut stash, b"second");
        assert_eq!(b, b"second");
        assert_eq!(b.as_ptr(), ptr, "the same allocation, used again");
        assert!(stash.is_empty());

        // Too large to keep: freed, not pooled.
        used(vec![0; KEEP_CAPACITY + 1]);
        pool.give_back();
        assert_eq!(pool.pooled(), 0);

        // Never more than POOL_MAX.
        for _ in 0..POOL_MAX + 100 {
            used(Vec::with_capacity(16));
        }
        pool.give_back();
        assert_eq!(pool.pooled(), POOL_MAX);
        let mut all = Vec::new();
        pool.take(usize::MAX, &mut all);
        assert_eq!(all.len(), POOL_MAX);
        assert_eq!(pool.pooled(), 0);
    }
}
