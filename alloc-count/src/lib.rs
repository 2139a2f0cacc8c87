//! A global allocator that counts the allocations of each thread, for the tests that prove a
//! hot path allocates nothing per message (`zmtp-proto/tests/alloc*.rs`,
//! `zmtp-async/tests/*alloc*.rs`). A test binary installs it and reads its own thread's count
//! before and after the measured work; the test harness's other threads do not count.
//!
//! ```
//! use alloc_count::{allocations, Counting};
//!
//! #[global_allocator]
//! static ALLOCATOR: Counting = Counting;
//!
//! let before = allocations();
//! let v: Vec<u8> = Vec::with_capacity(64);
//! assert_eq!(allocations() - before, 1);
//! drop(v);
//! ```
#![allow(
    unsafe_code,
    reason = "a counting global allocator must implement the unsafe GlobalAlloc trait"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// Allocations (and reallocations) made by this thread.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator may run while thread-locals are being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

/// How many allocations and reallocations the calling thread has made so far (with
/// [`Counting`] installed as the global allocator; 0 otherwise).
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// The system allocator, counting each `alloc`, `alloc_zeroed` and `realloc` of the calling
/// thread. Install it with `#[global_allocator]` (see the [crate docs](crate)).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// counting touches only a const-initialised thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
