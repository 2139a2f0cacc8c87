//! Who runs a socket's I/O, and what every round does at its end whichever task ran it.
//!
//! A **round** moves bytes between the machine and the socket's peers until nothing is left
//! that would not wait. The **driver task** (one per socket, [`DriverTask`]) runs rounds when
//! it is woken: by the socket's [`Signal`] (readiness, a completion), by an application call
//! that gave the machine work, or by its timer, which it keeps armed for exactly the machine's
//! next deadline. It also accepts, polls dials and runs the machine's timers.
//!
//! An **inline round** runs on the application's task, just before `recv` (or `send` at the
//! high-water mark) would wait: the request just queued goes out without a task switch, and
//! what arrived is read, so the next message reaches the application without a hop through the
//! driver task. The application task registers with the signal at the start of the round, so
//! the next I/O event wakes it; while its wait is **live** (a `recv`/`send` future that runs a
//! round whenever it is woken, ending with a [`Wait`] guard) events wake only it, not the
//! driver task as well. When the future completes or is dropped, the guard ends the live wait
//! and wakes the driver task if an event is still unhandled, so nothing waits for an
//! application that went elsewhere.
//!
//! Whichever task ran it, every round ends the same way: due timers run first, then the I/O,
//! then the machine's events go to the monitor and the tasks whose condition holds are woken;
//! and if the machine's next deadline moved earlier than the driver's timer (a redial after a
//! peer's FIN read inline, the first PING after a handshake completed inline), the driver task
//! is woken to re-arm it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::runtime::{Clock, Io, Round, Runtime, Share, Shared};
use crate::signal::Signal;
use crate::state::WakerKey;

/// Sends in a row without waiting before `send` yields once: often enough that the driver
/// writes what piled up (and, on one thread, the receivers run) long before the high-water
/// mark, where a PUB drops; rarely enough that each write carries many messages. (A yield
/// every 128 sends made the drivers write ~2 KB batches of 16 B messages.)
pub(crate) const SEND_BUDGET: u32 = 1024;

impl<I: Io> Shared<I> {
    /// A round on whichever task runs it: due timers, the I/O, then events and wake-ups.
    /// Returns true if work remains.
    fn round(&mut self, driver: Option<&mut Context<'_>>, clock: &mut Clock) -> bool {
        let Self { state, io, inproc } = self;
        if let Some(deadline) = state.machine().poll_timeout() {
            let now = clock.now();
            if deadline <= now {
                state.machine_mut().handle_timeout(now);
            }
        }
        inproc.round(state, clock);
        let more = io.round(&mut Round::new(state, clock), driver);
        state.drain_events();
        state.wake_ready();
        more
    }

    /// True if a round would find nothing to do: no I/O event since the last round, no paused
    /// read, no output or action pending.
    pub(crate) fn is_quiet(&self) -> bool {
        self.state.is_quiet(self.io.has_paused_reads())
    }

    /// True if an inline round for `app` would find nothing to do and change nothing: the
    /// socket is quiet and events already wake `app`, in the same `live` mode. (With `join!`
    /// or `select!` a task polls every one of its futures on each wake-up; a round-trip client
    /// and server on one task would otherwise run rounds for nothing.)
    fn is_idle_for(&self, app: &Waker, live: bool) -> bool {
        let signal = self.state.signal();
        self.is_quiet()
            && self.state.app() == Some(WakerKey::of(app))
            && !signal.app_woken()
            && signal.is_live() == live
    }

    /// Runs an inline round on the application's task `app` (see the [module docs](self));
    /// `live` if the caller is a future guarded by a [`Wait`]. Returns false if there was
    /// nothing to do.
    pub(crate) fn run_inline(&mut self, app: &Waker, live: bool) -> bool {
        if self.state.is_finished() || self.is_idle_for(app, live) {
            return false;
        }
        self.state.signal().register_app(app, live);
        self.state.set_app(WakerKey::of(app));
        if self.round(None, &mut Clock::default()) {
            // Plenty of work: the driver task carries on.
            self.state.notify_driver();
        }
        self.check_timer();
        true
    }

    /// Wakes the driver task if the machine's next deadline is earlier than its timer.
    fn check_timer(&mut self) {
        if self.state.timer_moved_earlier() {
            self.state.notify_driver();
        }
    }

    /// True if `app`, parked by `recv` with no message (`send`: at the high-water mark), has
    /// not been woken since: no round found what it waits for and no I/O event used up its
    /// registration. A runtime that polls a future without a wake-up (compio's `block_on`
    /// polls its future on every turn of its loop), or a `join!` whose other future was woken,
    /// then gets `Pending` at once instead of a round for nothing.
    pub(crate) fn is_still_parked(&self, app: &Waker, recv: bool) -> bool {
        !self.state.signal().app_woken()
            && if recv {
                self.state.is_recv_parked(app)
            } else {
                self.state.is_send_parked(app)
            }
    }

    /// After the application took a message: taking it may have resumed decoding (a PONG to
    /// write, events, new deadlines) or made room for a paused read. Output is written from
    /// this task; the driver is woken only for what it must do itself.
    pub(crate) fn after_recv(&mut self) {
        let resumed = self.state.machine_mut().take_decoding_resumed();
        if resumed || self.io.has_paused_reads() {
            self.state.notify_driver();
        }
        if resumed || self.state.machine().has_any_transmit() {
            self.flush();
        }
    }

    /// Writes the machine's output from the calling task; the driver task is woken for what is
    /// left and when the machine's next deadline moved earlier than its timer.
    pub(crate) fn flush(&mut self) {
        let mut clock = Clock::default();
        let Self { state, io, inproc } = self;
        inproc.flush(state, &mut clock);
        // A write may leave an action (a STREAM peer closed once its output is written): the
        // driver task carries it out.
        if io.flush(&mut Round::new(state, &mut clock)) || state.machine().has_action() {
            state.drain_events();
            state.wake_ready();
            state.notify_driver();
        }
        self.check_timer();
    }

    /// True once the socket is closed and what it wrote has left (or the linger time is over).
    fn is_done(&self, clock: &mut Clock) -> bool {
        self.state.machine().is_closed()
            && (self.io.is_flushed() || self.state.linger_expired(clock.now()))
    }

    fn finish(&mut self) {
        self.inproc.finish();
        self.io.finish();
        self.state.finish();
    }
}

/// Held by a `recv`/`send` future; armed once the future waits in a live wait (see the
/// [module docs](self)). When the future completes or is dropped, an armed guard ends the live
/// wait. A call that never had to wait (the common case in a busy loop) has nothing to undo.
pub(crate) struct Wait<'a> {
    signal: &'a Signal,
    armed: AtomicBool,
    /// The future parked its task: `send` at the high-water mark, `recv` with no message.
    parked: AtomicBool,
}

impl<'a> Wait<'a> {
    pub(crate) fn new(signal: &'a Signal) -> Self {
        Self {
            signal,
            armed: AtomicBool::new(false),
            parked: AtomicBool::new(false),
        }
    }

    /// Arms the guard, if there is one; returns `live` for [`Shared::run_inline`].
    pub(crate) fn arm(wait: Option<&Self>) -> bool {
        wait.inspect(|w| w.armed.store(true, Ordering::Relaxed))
            .is_some()
    }

    pub(crate) fn set_parked(wait: Option<&Self>) {
        if let Some(w) = wait {
            w.parked.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn is_parked(wait: Option<&Self>) -> bool {
        wait.is_some_and(|w| w.parked.load(Ordering::Relaxed))
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if self.armed.load(Ordering::Relaxed) {
            self.signal.end_wait();
        }
    }
}

/// The driver task of one socket: runs rounds when woken and sleeps until the machine's next
/// deadline. It ends once the socket is closed and flushed.
pub struct DriverTask<R: Runtime> {
    shared: R::Shared,
    /// Counts this task among the running ones until it ends or is dropped.
    _running: crate::lifecycle::Running,
    /// Armed only while the machine has a deadline (a timer left in a runtime's wheel makes
    /// every park of the runtime look at it).
    timer: Option<(Instant, R::Sleep)>,
}

impl<R: Runtime> DriverTask<R> {
    pub(crate) fn new(shared: R::Shared) -> Self {
        Self {
            shared,
            _running: crate::lifecycle::Running::new(),
            timer: None,
        }
    }

    /// Keeps one timer armed for `deadline`, replacing it only when the deadline changes. A
    /// timer is polled once, to register the driver's waker; when it fires, the next round
    /// sees the deadline passed, runs the machine's timers and so gets a new deadline.
    fn arm_timer(&mut self, deadline: Option<Instant>, cx: &mut Context<'_>) {
        let Some(deadline) = deadline else {
            self.timer = None;
            return;
        };
        if self.timer.as_ref().is_some_and(|(at, _)| *at == deadline) {
            return;
        }
        let mut sleep = R::sleep_until(deadline);
        if Pin::new(&mut sleep).poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        self.timer = Some((deadline, sleep));
    }
}

impl<R: Runtime> Future for DriverTask<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut shared = this.shared.lock();
        shared.state.signal().count_driver_poll();
        shared.state.register_driver(cx.waker());
        shared.state.check_shutdown();
        // At most one clock read per poll (a round takes microseconds).
        let mut clock = Clock::default();
        let more = shared.round(Some(cx), &mut clock);
        if shared.is_done(&mut clock) {
            shared.finish();
            drop(shared);
            this.timer = None;
            return Poll::Ready(());
        }
        if more {
            // Plenty of work: let other tasks run, then come back.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // Idle: sleep until the machine's next deadline (or an I/O event, or a call on the
        // handle).
        let deadline = shared.state.machine().poll_timeout();
        shared.state.set_armed(deadline);
        drop(shared);
        this.arm_timer(deadline, cx);
        Poll::Pending
    }
}

impl<R: Runtime> std::fmt::Debug for DriverTask<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverTask")
            .field("armed", &self.timer.as_ref().map(|(at, _)| at))
            .finish_non_exhaustive()
    }
}
