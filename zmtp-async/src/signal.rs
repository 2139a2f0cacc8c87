//! Where a socket's I/O reports that something happened, and whom that wakes.
//!
//! Every readiness registration (epoll) and every operation's completion (io_uring) of one
//! socket reports to its [`Signal`]. The signal records the event (`pending`: a round must look
//! at the I/O) and wakes two tasks:
//!
//! * the application task that ran the last inline round (`app`; registered by
//!   [`run_inline`](crate::rounds) and used up by the wake, so it is woken once per
//!   registration), and
//! * the driver task (`driver`; registered on each of its polls) — except while the
//!   application's wait is *live*: a `recv` or `send` future that runs a round itself whenever
//!   it is woken, and ends the live wait when it completes or is dropped.
//!
//! The vocabulary is the same in both drivers; `docs/architecture.md` tells the whole protocol.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use futures_util::task::AtomicWaker;

use crate::lock;

/// The wake-up point of one socket's I/O: every readiness registration and completion reports
/// here. It records the event and wakes the application task that ran the last inline round
/// and, unless that task's wait is live, the driver task (`docs/architecture.md` tells the
/// whole protocol).
///
/// ```
/// use std::sync::Arc;
/// use zmtp_async::Signal;
///
/// let signal = Arc::new(Signal::default());
/// let waker = signal.waker(); // what a driver registers readiness with
/// assert!(!signal.is_pending());
/// waker.wake_by_ref(); // readiness fired
/// assert!(signal.is_pending());
/// assert!(signal.take_pending()); // the round that looks at the I/O clears it
/// assert!(!signal.is_pending());
/// ```
#[derive(Debug, Default)]
pub struct Signal {
    /// An I/O event arrived that no round has handled yet.
    pending: AtomicBool,
    /// The application task that ran the last inline round. A lock, not an `AtomicWaker`:
    /// a registration and a wake must each change the slot and `app_woken` together (see
    /// [`Signal::register_app`]).
    app: Mutex<Option<Waker>>,
    /// `app` was woken (its registration used up) since it last registered. Written only
    /// under `app`'s lock; read without it.
    app_woken: AtomicBool,
    /// `app` is in a live wait: events need not wake the driver task too.
    live: AtomicBool,
    /// The driver task, registered on each of its polls.
    driver: AtomicWaker,
    /// How many times the driver task was polled (a diagnostic, see
    /// [`Socket::driver_polls`](crate::Socket::driver_polls)).
    driver_polls: AtomicU64,
    /// A process-wide [`shutdown`](crate::shutdown) asked this socket to close: the linger
    /// time it allows, in nanoseconds, plus one (0: not asked).
    shutdown: AtomicU64,
}

impl Signal {
    /// Reports an I/O event: records it and wakes the application task that ran the last
    /// inline round and, unless its wait is live, the driver task.
    pub fn wake(&self) {
        self.pending.store(true, Ordering::Release);
        if let Some(app) = self.take_app() {
            app.wake();
        }
        if !self.live.load(Ordering::Acquire) {
            self.driver.wake();
        }
    }

    /// A waker that calls [`Signal::wake`], to register readiness with. Make it once and keep
    /// it: registering the same waker again costs the runtime no clone.
    pub fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(Arc::new(SignalWaker(self.clone())))
    }

    /// True if an I/O event arrived that no round has handled yet.
    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Marks the I/O as worth a look without waking anyone (a new stream must be read once to
    /// register its readiness; an operation was started and must be polled to be submitted).
    pub fn set_pending(&self) {
        self.pending.store(true, Ordering::Release);
    }

    /// Clears the pending mark; true if it was set. Call just before looking at the I/O.
    pub fn take_pending(&self) -> bool {
        self.pending.swap(false, Ordering::AcqRel)
    }

    /// Clears the pending mark without reading it (a driver that keeps its own list of what
    /// completed clears it when it takes the list).
    pub fn clear_pending(&self) {
        self.pending.store(false, Ordering::Release);
    }

    /// The application task `app` is about to wait (`live`: in a live wait) and the next event
    /// wakes it. Called at the start of an inline round, so an event during the round wakes
    /// it again.
    ///
    /// `app_woken` clear must mean that the slot holds the registration: a task that finds it
    /// clear returns `Pending` without registering again (`is_still_parked`, `is_idle_for`),
    /// trusting the next event to wake it. So the slot and the mark change together, under
    /// the lock, here and in [`Signal::take_app`]. (With an `AtomicWaker`, a registration
    /// that met a wake in the middle of its take was not stored but woken at once; the task,
    /// polled before that wake marked the registration used, saw the mark clear and parked
    /// with no registration left: the next event woke nobody.)
    pub(crate) fn register_app(&self, app: &Waker, live: bool) {
        let mut slot = lock(&self.app);
        // The same task's waker is kept as it is: no clone per round.
        let old = if slot.as_ref().is_some_and(|w| w.will_wake(app)) {
            None
        } else {
            slot.replace(app.clone())
        };
        self.app_woken.store(false, Ordering::Release);
        drop(slot);
        // A waker is dropped outside the lock: dropping it may drop a task, and that task's
        // sockets.
        drop(old);
        self.live.store(live, Ordering::Release);
    }

    /// Takes the application task's registration and marks it used, in one step (see
    /// [`Signal::register_app`]); the caller wakes it, outside the lock.
    fn take_app(&self) -> Option<Waker> {
        let mut slot = lock(&self.app);
        self.app_woken.store(true, Ordering::Release);
        slot.take()
    }

    /// True if the application task's registration was used up by an event since it
    /// registered.
    pub(crate) fn app_woken(&self) -> bool {
        self.app_woken.load(Ordering::Acquire)
    }

    /// True if the registered application task is in a live wait.
    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Counts one poll of the driver task.
    pub(crate) fn count_driver_poll(&self) {
        self.driver_polls.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times the driver task was polled so far.
    pub(crate) fn driver_polls(&self) -> u64 {
        self.driver_polls.load(Ordering::Relaxed)
    }

    /// Registers the driver task (on each of its polls).
    pub(crate) fn register_driver(&self, driver: &Waker) {
        self.driver.register(driver);
    }

    /// Wakes the driver task.
    pub(crate) fn wake_driver(&self) {
        self.driver.wake();
    }

    /// Asks the socket to close, with at most `linger` (see [`shutdown`](crate::shutdown)),
    /// and wakes its driver task and the application task that waits on it.
    pub(crate) fn request_shutdown(&self, linger: std::time::Duration) {
        let nanos = u64::try_from(linger.as_nanos()).unwrap_or(u64::MAX - 1);
        self.shutdown.store(nanos + 1, Ordering::Release);
        self.driver.wake();
        if let Some(app) = self.take_app() {
            app.wake();
        }
    }

    /// True if a shutdown was asked and not yet taken (one relaxed load: checked on every
    /// application call).
    #[inline]
    pub(crate) fn shutdown_asked(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed) != 0
    }

    /// The linger a shutdown allows, once.
    pub(crate) fn take_shutdown(&self) -> Option<std::time::Duration> {
        match self.shutdown.swap(0, Ordering::AcqRel) {
            0 => None,
            n => Some(std::time::Duration::from_nanos(n - 1)),
        }
    }

    /// Ends a live wait: events wake the driver task again, and it is woken now if an event
    /// arrived that no round handled.
    pub(crate) fn end_wait(&self) {
        // A plain load first: most calls complete without waiting, and a locked swap on each
        // of them costs a few percent of a small-message stream.
        if self.live.load(Ordering::Acquire)
            && self.live.swap(false, Ordering::AcqRel)
            && self.is_pending()
        {
            self.driver.wake();
        }
    }
}

struct SignalWaker(Arc<Signal>);

impl Wake for SignalWaker {
    fn wake(self: Arc<Self>) {
        self.0.wake();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{counter, Count};

    fn count(c: &Count) -> usize {
        c.get()
    }

    #[test]
    fn an_event_wakes_the_app_once_per_registration_and_the_driver_unless_live() {
        let signal = Arc::new(Signal::default());
        let (app, app_waker) = counter();
        let (driver, driver_waker) = counter();
        signal.register_driver(&driver_waker);
        signal.register_app(&app_waker, true);
        signal.wake();
        signal.wake();
        assert_eq!(
            count(&app),
            1,
            "the registration is used up by the first event"
        );
        assert_eq!(count(&driver), 0, "a live wait keeps the driver asleep");
        assert!(signal.app_woken() && signal.is_pending());
        // The wait ends with an event unhandled: the driver takes over.
        signal.end_wait();
        assert_eq!(count(&driver), 1);
        signal.register_driver(&driver_waker);
        signal.register_app(&app_waker, false);
        assert!(!signal.app_woken());
        signal.wake();
        assert_eq!((count(&app), count(&driver)), (2, 2));
    }

    #[test]
    fn ending_a_wait_with_nothing_pending_wakes_nobody() {
        let signal = Signal::default();
        let (driver, driver_waker) = counter();
        signal.register_driver(&driver_waker);
        signal.register_app(Waker::noop(), true);
        signal.end_wait();
        assert_eq!(count(&driver), 0);
        assert!(!signal.is_live());
    }
}
