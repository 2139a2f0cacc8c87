//! A pinned socket's home: the table of its thread that holds its signal's registrations
//! (see the [signal's docs](super)), and the count of the signals' shared operations.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;

/// Stores `waker` in `slot` unless the same task's waker is there (no clone per round);
/// returns the waker it replaced, to drop.
pub(super) fn replace_waker(slot: &mut Option<Waker>, waker: &Waker) -> Option<Waker> {
    if slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
        None
    } else {
        slot.replace(waker.clone())
    }
}

thread_local! {
    /// This thread's number (see [`Home`]).
    static THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
    /// The registrations of this thread's pinned sockets (see [`Home`]).
    static HOMES: RefCell<Homes> = RefCell::default();
    /// How many times this thread took the signal's lock or woke through its atomics (a
    /// diagnostic, see [`shared_signal_ops`]).
    static SHARED_OPS: Cell<u64> = const { Cell::new(0) };
}

/// How many times the calling thread registered or woke through a signal's shared path (its
/// lock, or an atomic read-modify-write) so far: two sockets of one compio thread joined over
/// `inproc://` add nothing to it once joined (see the [signal's docs](super)). A diagnostic for
/// tests and benchmarks, not part of the API a program uses.
#[doc(hidden)]
pub fn shared_signal_ops() -> u64 {
    SHARED_OPS.with(Cell::get)
}

pub(super) fn count_shared_op() {
    let _ = SHARED_OPS.try_with(|n| n.set(n.get() + 1));
}

/// Where a pinned socket's registrations live: an entry of its thread's table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Home {
    thread: u64,
    slot: u32,
    /// Which use of the slot this is: a slot freed and reused is not the socket's any more.
    generation: u32,
}

/// One entry of a thread's table.
#[derive(Debug, Default)]
pub(super) struct HomeSlot {
    /// The application task's registration (while the signal is not shared).
    pub(super) app: Option<Waker>,
    /// The driver task's registration, taken by the home thread's wakes.
    pub(super) driver: Option<Waker>,
    /// The driver waker last registered in the signal's atomic.
    pub(super) registered: Option<Waker>,
}

/// A thread's table of pinned sockets' registrations.
#[derive(Debug, Default)]
struct Homes {
    slots: Vec<(u32, Option<HomeSlot>)>,
    free: Vec<u32>,
}

impl Home {
    /// True if the calling thread is the home.
    #[inline]
    pub(super) fn is_here(self) -> bool {
        THREAD.try_with(|t| *t == self.thread).unwrap_or(false)
    }

    /// A new entry in the calling thread's table; `None` while the thread exits.
    pub(super) fn new() -> Option<Self> {
        let thread = THREAD.try_with(|t| *t).ok()?;
        HOMES
            .try_with(|homes| {
                let mut homes = homes.try_borrow_mut().ok()?;
                if let Some(slot) = homes.free.pop() {
                    let entry = &mut homes.slots[slot as usize];
                    entry.0 = entry.0.wrapping_add(1);
                    entry.1 = Some(HomeSlot::default());
                    return Some(Self {
                        thread,
                        slot,
                        generation: entry.0,
                    });
                }
                let slot = u32::try_from(homes.slots.len()).ok()?;
                homes.slots.push((0, Some(HomeSlot::default())));
                Some(Self {
                    thread,
                    slot,
                    generation: 0,
                })
            })
            .ok()
            .flatten()
    }

    /// Runs `f` on the entry (the caller is on the home thread); `None` if the entry is gone.
    /// `f` must neither wake nor drop a waker: either may call back into a signal of this
    /// thread (dropping a task's last waker drops the task, and its sockets).
    pub(super) fn with<T>(self, f: impl FnOnce(&mut HomeSlot) -> T) -> Option<T> {
        HOMES
            .try_with(|homes| {
                let mut homes = homes.try_borrow_mut().ok()?;
                match homes.slots.get_mut(self.slot as usize) {
                    Some((generation, Some(slot))) if *generation == self.generation => {
                        Some(f(slot))
                    }
                    _ => None,
                }
            })
            .ok()
            .flatten()
    }

    /// Takes a waker out of the entry (see [`Home::with`]).
    pub(super) fn take(self, f: impl FnOnce(&mut HomeSlot) -> Option<Waker>) -> Option<Waker> {
        self.with(f).flatten()
    }

    /// Frees the entry (on the home thread); its wakers are dropped after.
    pub(super) fn free(self) {
        let taken = HOMES
            .try_with(|homes| {
                let mut homes = homes.try_borrow_mut().ok()?;
                let entry = homes.slots.get_mut(self.slot as usize)?;
                if entry.0 != self.generation {
                    return None;
                }
                let taken = entry.1.take();
                homes.free.push(self.slot);
                taken
            })
            .ok()
            .flatten();
        drop(taken);
    }
}
