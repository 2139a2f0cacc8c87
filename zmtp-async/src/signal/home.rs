//! A pinned socket's home: the table of its thread that holds its signal's registrations
//! (see the [signal's docs](super)), and the count of the signals' shared operations.

use std::cell::{Cell, RefCell};
use std::task::Waker;

use crate::thread_slab::{SlabKey, ThreadSlab};

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
    /// The registrations of this thread's pinned sockets (see [`Home`]).
    static HOMES: RefCell<ThreadSlab<HomeSlot>> = RefCell::default();
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
pub(super) struct Home(SlabKey);

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

impl Home {
    /// True if the calling thread is the home.
    #[inline]
    pub(super) fn is_here(self) -> bool {
        self.0.is_here()
    }

    /// A new entry in the calling thread's table; `None` while the thread exits.
    pub(super) fn new() -> Option<Self> {
        HOMES
            .try_with(|homes| {
                let key = homes
                    .try_borrow_mut()
                    .ok()?
                    .insert(&mut Some(HomeSlot::default()))?;
                Some(Self(key))
            })
            .ok()
            .flatten()
    }

    /// Runs `f` on the entry (the caller is on the home thread); `None` if the entry is gone.
    /// `f` must neither wake nor drop a waker: either may call back into a signal of this
    /// thread (dropping a task's last waker drops the task, and its sockets).
    pub(super) fn with<T>(self, f: impl FnOnce(&mut HomeSlot) -> T) -> Option<T> {
        HOMES
            .try_with(|homes| Some(f(homes.try_borrow_mut().ok()?.get_mut(self.0)?)))
            .ok()
            .flatten()
    }

    /// Takes a waker out of the entry (see [`Home::with`]).
    pub(super) fn take(self, f: impl FnOnce(&mut HomeSlot) -> Option<Waker>) -> Option<Waker> {
        self.with(f).flatten()
    }

    /// Takes the application task's registration out of the entry.
    pub(super) fn take_app(self) -> Option<Waker> {
        self.take(|slot| slot.app.take())
    }

    /// Frees the entry (on the home thread); its wakers are dropped after.
    pub(super) fn free(self) {
        let taken = HOMES
            .try_with(|homes| homes.try_borrow_mut().ok()?.remove(self.0))
            .ok()
            .flatten();
        drop(taken);
    }
}
