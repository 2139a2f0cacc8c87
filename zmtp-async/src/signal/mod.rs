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
//!
//! # A socket that never leaves its thread
//!
//! A socket of a runtime whose sockets stay on the thread that made them
//! ([`Runtime::PINNED`](crate::Runtime::PINNED): compio) has a **home**: its registrations are
//! kept in a table of that thread ([`Signal::pin_to_this_thread`]), so an event reported on
//! that thread — the completion of its own I/O, a message from a socket of the same thread
//! over `inproc://` — wakes with plain loads and stores: no lock and no atomic
//! read-modify-write. The first event reported from another thread (a cross-thread `inproc`
//! pipe, a process-wide shutdown) turns the signal **shared** for good: from then on the
//! application's registration is kept under the lock, as for a socket that may move. Until
//! the home thread has registered there once, an event from another thread that finds no
//! registration under the lock wakes the driver task, which runs on the home thread and does
//! what the application's inline round would have done.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Wake, Waker};

use futures_util::task::AtomicWaker;

use crate::lock;

mod home;

pub use home::shared_signal_ops;
use home::{count_shared_op, replace_waker, Home};

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
    /// The application task that ran the last inline round, when the registration is kept
    /// under the lock (a socket without a home, or one turned shared). A lock, not an
    /// `AtomicWaker`: a registration and a wake must each change the slot and `app_woken`
    /// together (see [`Signal::register_app`]).
    app: Mutex<AppSlot>,
    /// `app` was woken (its registration used up) since it last registered. Written under
    /// `app`'s lock, or on the home thread while the signal is not shared; read without it.
    app_woken: AtomicBool,
    /// `app` is in a live wait: events need not wake the driver task too.
    live: AtomicBool,
    /// The driver task, registered on each of its polls (also in the home table, for the home
    /// thread's wakes).
    driver: AtomicWaker,
    /// How many times the driver task was polled (a diagnostic, see
    /// [`Socket::driver_polls`](crate::Socket::driver_polls)).
    driver_polls: AtomicU64,
    /// A process-wide [`shutdown`](crate::shutdown) asked this socket to close: the linger
    /// time it allows, in nanoseconds, plus one (0: not asked).
    shutdown: AtomicU64,
    /// The socket's thread and its entry in that thread's table, if the socket never leaves
    /// it (see the [module docs](self)).
    home: OnceLock<Home>,
    /// An event was reported from another thread than the home: the application's
    /// registration is kept under the lock from then on.
    shared: AtomicBool,
}

/// The application's registration, when kept under the lock.
#[derive(Debug, Default)]
struct AppSlot {
    waker: Option<Waker>,
    /// The home thread registered here since the signal turned shared: no registration is
    /// left in the home table (always true without a home).
    moved: bool,
}

impl Signal {
    /// Reports an I/O event: records it and wakes the application task that ran the last
    /// inline round and, unless its wait is live, the driver task.
    pub fn wake(&self) {
        let home = self.note_thread();
        self.pending.store(true, Ordering::Release);
        // `unreachable`: the registration may be in a home table this thread cannot reach.
        let (app, unreachable) = match home {
            // The home thread, the registration in its table: plain loads and stores.
            Some(home) if !self.shared.load(Ordering::Acquire) => {
                self.app_woken.store(true, Ordering::Release);
                (home.take_app(), false)
            }
            _ => match (self.take_app(), home) {
                // Not registered under the lock since the signal turned shared: the
                // registration may still be in the home table.
                ((None, false), Some(home)) => (home.take_app(), false),
                // Out of this thread's reach: the driver task, on the home thread, runs
                // the round.
                ((None, false), None) => (None, true),
                ((app, _), _) => (app, false),
            },
        };
        if let Some(app) = app {
            app.wake();
        }
        if unreachable || !self.live.load(Ordering::Acquire) {
            self.wake_driver();
        }
    }

    /// A waker that calls [`Signal::wake`], to register readiness with. Make it once and keep
    /// it: registering the same waker again costs the runtime no clone.
    pub fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(Arc::new(SignalWaker(self.clone())))
    }

    /// Gives the signal a home: the calling thread, which the socket never leaves (see the
    /// [module docs](self)). Its registrations are kept in the thread's table until
    /// [`Signal::leave_home`]. Once only; later calls change nothing.
    pub fn pin_to_this_thread(&self) {
        if self.home.get().is_none() {
            if let Some(home) = Home::new() {
                let _ = self.home.set(home);
            }
        }
    }

    /// The socket is gone: its entry in the home thread's table is freed (the wakers it held
    /// dropped). Called on the home thread; elsewhere, or without a home, it does nothing.
    pub(crate) fn leave_home(&self) {
        if let Some(home) = self.home_here() {
            home.free();
        }
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
    /// `app_woken` clear must mean that the registration is where the next event finds it: a
    /// task that finds it clear returns `Pending` without registering again
    /// (`is_still_parked`, `is_idle_for`), trusting the next event to wake it. So the slot and
    /// the mark change together, under the lock, here and in [`Signal::take_app`] — or, on a
    /// home thread whose signal is not shared, with nothing else to race with. (With an
    /// `AtomicWaker`, a registration that met a wake in the middle of its take was not stored
    /// but woken at once; the task, polled before that wake marked the registration used, saw
    /// the mark clear and parked with no registration left: the next event woke nobody.)
    pub(crate) fn register_app(&self, app: &Waker, live: bool) {
        if let Some(home) = self.home_here() {
            if !self.shared.load(Ordering::Acquire) {
                if let Some(old) = home.with(|slot| replace_waker(&mut slot.app, app)) {
                    self.app_woken.store(false, Ordering::Release);
                    self.live.store(live, Ordering::Release);
                    // Dropped outside the table: dropping a waker may drop a task, and its
                    // sockets.
                    drop(old);
                    return;
                }
                // The table is out of reach (the thread is exiting): shared from now on.
                self.shared.store(true, Ordering::SeqCst);
            } else {
                // Shared: the registration moves under the lock; the table's is none any more.
                drop(home.take_app());
            }
        }
        count_shared_op();
        let mut slot = lock(&self.app);
        // The same task's waker is kept as it is: no clone per round.
        let old = replace_waker(&mut slot.waker, app);
        slot.moved = true;
        self.app_woken.store(false, Ordering::Release);
        drop(slot);
        // A waker is dropped outside the lock: dropping it may drop a task, and that task's
        // sockets.
        drop(old);
        self.live.store(live, Ordering::Release);
    }

    /// Takes the application task's registration kept under the lock and marks it used, in
    /// one step (see [`Signal::register_app`]); the caller wakes it, outside the lock. Also
    /// returns whether no registration can be left in the home table (always, without a
    /// home).
    fn take_app(&self) -> (Option<Waker>, bool) {
        count_shared_op();
        let mut slot = lock(&self.app);
        self.app_woken.store(true, Ordering::Release);
        let moved = slot.moved || self.home.get().is_none();
        (slot.waker.take(), moved)
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

    /// Counts one poll of the driver task (a task is never polled twice at once: no
    /// read-modify-write needed).
    pub(crate) fn count_driver_poll(&self) {
        let polls = self.driver_polls.load(Ordering::Relaxed);
        self.driver_polls.store(polls + 1, Ordering::Relaxed);
    }

    /// How many times the driver task was polled so far.
    pub(crate) fn driver_polls(&self) -> u64 {
        self.driver_polls.load(Ordering::Relaxed)
    }

    /// Registers the driver task (on each of its polls): for events from any thread and, on
    /// the home thread, in its table too. There the atomic registration is made again only
    /// when the signal is shared or the driver's waker changed: until an event from another
    /// thread (which turns the signal shared) takes it, the atomic keeps the last one.
    pub(crate) fn register_driver(&self, driver: &Waker) {
        if let Some(home) = self.home_here() {
            let shared = self.shared.load(Ordering::Acquire);
            let entry = home.with(|slot| {
                let old = replace_waker(&mut slot.driver, driver);
                let kept = !shared
                    && slot
                        .registered
                        .as_ref()
                        .is_some_and(|w| w.will_wake(driver));
                let replaced = if kept {
                    None
                } else {
                    slot.registered.replace(driver.clone())
                };
                (kept, old, replaced)
            });
            if let Some((kept, old, replaced)) = entry {
                // Dropped outside the table (see `Home::with`).
                drop((old, replaced));
                if kept {
                    return;
                }
            }
        }
        count_shared_op();
        self.driver.register(driver);
    }

    /// Wakes the driver task. On the home thread, from its table: if the table holds no
    /// registration, a wake from this thread used it since the driver's last poll, and the
    /// driver is due to run.
    pub(crate) fn wake_driver(&self) {
        if let Some(home) = self.home_here() {
            if let Some(driver) = home.take(|slot| slot.driver.take()) {
                driver.wake();
            }
            return;
        }
        // Taking the atomic's registration from another thread turns a pinned signal shared
        // (see `register_driver`).
        self.note_thread();
        count_shared_op();
        self.driver.wake();
    }

    /// Asks the socket to close, with at most `linger` (see [`shutdown`](crate::shutdown)),
    /// and wakes its driver task and the application task that waits on it.
    pub(crate) fn request_shutdown(&self, linger: std::time::Duration) {
        let nanos = u64::try_from(linger.as_nanos()).unwrap_or(u64::MAX - 1);
        // The driver registration under the atomic is taken below, from any thread: a pinned
        // socket's driver must register there again on its next poll (see `register_driver`).
        if self.home.get().is_some() {
            self.shared.store(true, Ordering::SeqCst);
        }
        self.shutdown.store(nanos + 1, Ordering::Release);
        // The driver closes the socket and wakes every task waiting on it.
        self.driver.wake();
        let (app, _) = self.take_app();
        if let Some(app) = app {
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
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let ended = if self.home_here().is_some() {
            // Only the home thread's tasks register: nobody else writes `live`.
            self.live.store(false, Ordering::Release);
            true
        } else {
            self.live.swap(false, Ordering::AcqRel)
        };
        if ended && self.is_pending() {
            self.wake_driver();
        }
    }

    /// The home, if the calling thread is it. A signal with a home reached from another
    /// thread turns shared for good (see the [module docs](self)).
    #[inline]
    fn note_thread(&self) -> Option<Home> {
        let here = self.home_here();
        if here.is_none() && self.home.get().is_some() && !self.shared.load(Ordering::Acquire) {
            self.shared.store(true, Ordering::SeqCst);
        }
        here
    }

    /// The home, if the calling thread is it.
    #[inline]
    fn home_here(&self) -> Option<Home> {
        let home = *self.home.get()?;
        home.is_here().then_some(home)
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

    /// A signal with a home on this thread, and the counts of the driver's and the app's
    /// wake-ups with their wakers, both registered (the app in a live wait).
    fn pinned_and_registered() -> (Arc<Signal>, Arc<Count>, Waker, Arc<Count>, Waker) {
        let signal = Arc::new(Signal::default());
        signal.pin_to_this_thread();
        let (driver, driver_waker) = counter();
        let (app, app_waker) = counter();
        signal.register_driver(&driver_waker);
        signal.register_app(&app_waker, true);
        (signal, driver, driver_waker, app, app_waker)
    }

    fn wake_from_another_thread(signal: &Arc<Signal>) {
        let remote = signal.clone();
        std::thread::spawn(move || remote.wake()).join().unwrap();
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

    #[test]
    fn on_its_home_thread_a_signal_wakes_without_lock_or_atomic() {
        let before = shared_signal_ops();
        let (signal, driver, driver_waker, app, app_waker) = pinned_and_registered();
        // Only the driver's first registration is made in the atomic.
        assert_eq!(shared_signal_ops() - before, 1);
        let before = shared_signal_ops();
        signal.wake();
        signal.wake();
        assert_eq!((count(&app), count(&driver)), (1, 0));
        assert!(signal.app_woken() && signal.is_pending());
        signal.end_wait();
        assert_eq!(count(&driver), 1, "the wait ended with an event unhandled");
        // The driver's next poll: the atomic still holds its waker, only the table is set.
        signal.register_driver(&driver_waker);
        signal.register_app(&app_waker, false);
        assert!(!signal.app_woken());
        signal.wake();
        assert_eq!((count(&app), count(&driver)), (2, 2));
        assert_eq!(shared_signal_ops() - before, 0);
    }

    #[test]
    fn an_event_from_another_thread_turns_a_home_signal_shared_and_is_heard() {
        let (signal, driver, driver_waker, app, app_waker) = pinned_and_registered();
        wake_from_another_thread(&signal);
        // The application's registration was out of that thread's reach: the driver task
        // (of the home thread) was woken instead, and the registration counts as used.
        assert_eq!((count(&app), count(&driver)), (0, 1));
        assert!(signal.app_woken() && signal.is_pending());
        // From now on the registration is kept under the lock, where another thread finds it.
        signal.register_driver(&driver_waker);
        signal.register_app(&app_waker, true);
        wake_from_another_thread(&signal);
        assert_eq!((count(&app), count(&driver)), (1, 1), "live: the app only");
        // And the home thread's own events find it there too.
        signal.register_app(&app_waker, true);
        let before = shared_signal_ops();
        signal.wake();
        assert_eq!((count(&app), count(&driver)), (2, 1));
        assert!(
            shared_signal_ops() > before,
            "a shared signal takes its lock"
        );
    }

    #[test]
    fn after_a_shutdown_took_the_driver_registration_another_thread_still_wakes_the_driver() {
        let (signal, driver, driver_waker, _, _) = pinned_and_registered();
        // A shutdown asked on the home thread takes the driver's atomic registration.
        signal.request_shutdown(std::time::Duration::ZERO);
        assert_eq!(count(&driver), 1);
        // The driver's next poll must register there again, or an event from another thread
        // (which has only the atomic to reach the driver by) would wake nobody.
        signal.register_driver(&driver_waker);
        wake_from_another_thread(&signal);
        assert_eq!(count(&driver), 2);
    }

    #[test]
    fn a_freed_home_entry_reused_by_another_socket_is_not_woken_by_the_first() {
        let first = Signal::default();
        first.pin_to_this_thread();
        first.leave_home();
        let second = Signal::default();
        second.pin_to_this_thread();
        let (app, app_waker) = counter();
        second.register_app(&app_waker, true);
        first.wake();
        assert_eq!(count(&app), 0);
        second.wake();
        assert_eq!(count(&app), 1);
    }
}
