//! What a driver implements: a [`Runtime`] (spawn, timers, binding) and the socket's [`Io`]
//! (its listeners, streams and operations, and the rounds that move their bytes), plus how the
//! two sides share their state ([`Share`]).

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::ops::DerefMut;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Context;
use std::time::Instant;

use zmtp_proto::Socket as Machine;
use zmtp_proto::{names_bound, Endpoint};

use crate::monitor::MonitorEvent;
use crate::net::TcpSettings;
use crate::rounds::DriverTask;
use crate::signal::Signal;
use crate::state::SocketState;

/// An async runtime as a socket needs it. Implemented once per driver crate.
pub trait Runtime: Sized + 'static {
    /// The socket's I/O on this runtime.
    type Io: Io;
    /// How the socket handle and its driver task share their state: `Rc<RefCell<_>>` on a
    /// thread-per-core runtime, `Arc<Mutex<_>>` on a work-stealing one.
    type Shared: Share<Shared<Self::Io>>;
    /// The runtime's timer future (boxed where the runtime's own is not `Unpin`).
    type Sleep: Future<Output = ()> + Unpin;

    /// A human-readable name ("tokio", "compio").
    const NAME: &'static str;
    /// What `send` does once a full 256 KiB batch is encoded: write it at once from the
    /// sender's task (`true`), or yield on the next send so that the driver task writes it
    /// (`false`). The one policy chosen per runtime, by benchmark (`docs/benchmarks.md`).
    const WRITE_FULL_BATCH_INLINE: bool;
    /// True if a socket of this runtime never leaves the thread that made it (its handle is
    /// `!Send`): two such sockets of one thread then join over `inproc://` by a pipe of that
    /// thread, with no lock (`zmtp_async::inproc`). False (the default) where sockets may
    /// migrate between threads.
    const PINNED: bool = false;

    /// New I/O for a socket whose I/O reports to `signal`.
    fn new_io(signal: &Arc<Signal>) -> Self::Io;
    /// Spawns the socket's driver task on the current runtime.
    fn spawn(task: DriverTask<Self>);
    /// A timer that fires at `deadline`.
    fn sleep_until(deadline: Instant) -> Self::Sleep;
    /// Binds `endpoint`; returns the listener and the endpoint actually bound (ephemeral port
    /// and wildcard address resolved, as libzmq's `ZMQ_LAST_ENDPOINT` reports it). A TCP
    /// listener is made by [`TcpSettings::bind`] and sets up the streams it accepts with
    /// [`TcpSettings::configure_stream`].
    fn bind(
        endpoint: &Endpoint,
        tcp: &TcpSettings,
    ) -> impl Future<Output = io::Result<(<Self::Io as Io>::Listener, String)>>;
    /// Runs `future` to completion on a fresh single-threaded runtime of this kind, on the
    /// calling thread (for programs, tools and tests that want one runtime and no more).
    fn block_on<F: Future>(future: F) -> io::Result<F::Output>;
}

/// The I/O objects of one socket and the rounds that move their bytes. Every method runs with
/// the socket's state locked, on whichever task runs it.
pub trait Io: Sized + 'static {
    /// A bound listener, as [`Runtime::bind`] returns it.
    type Listener;

    /// Starts accepting on `listener` (on the driver task's next round).
    fn add_listener(&mut self, listener: Self::Listener, endpoint: &str);
    /// Stops listening on every listener that `endpoint` names (see
    /// [`names_bound`](zmtp_proto::names_bound)); false if there was none.
    /// Connections already accepted stay up.
    fn unbind(&mut self, endpoint: &str) -> bool;
    /// One round of work: the machine's actions, then reading and writing every peer with
    /// something to do, until nothing is left that would not wait. With `driver` (the driver
    /// task's context) it also accepts and polls dials; an inline round (`None`) leaves those to
    /// the driver task, waking it for a new dial. The machine's due timers have run already.
    /// Returns true if work remains (a budget ran out).
    fn round(&mut self, round: &mut Round<'_>, driver: Option<&mut Context<'_>>) -> bool;
    /// Writes what the machine has to send now, from the calling task (after the application
    /// took a message or queued a reply). Returns true if the driver task has work left.
    fn flush(&mut self, round: &mut Round<'_>) -> bool;
    /// True if some peer's reading waits for the application to take messages (the receive
    /// high-water mark).
    fn has_paused_reads(&self) -> bool;
    /// True if nothing taken from the machine is still being written (close may finish).
    fn is_flushed(&self) -> bool;
    /// Drops every operation, stream and listener: the socket is finished.
    fn finish(&mut self);
}

/// Removes from `listeners` every one that `endpoint` names (see
/// [`names_bound`](zmtp_proto::names_bound)); false if there was none. For
/// [`Io::unbind`].
///
/// ```
/// let mut bound = vec![("tcp://127.0.0.1:5555".to_owned(), 1), ("ipc:///tmp/x".to_owned(), 2)];
/// assert!(zmtp_async::remove_bound(&mut bound, "tcp://127.0.0.1:5555", |b| &b.0));
/// assert!(!zmtp_async::remove_bound(&mut bound, "tcp://127.0.0.1:5555", |b| &b.0));
/// assert_eq!(bound.len(), 1);
/// ```
pub fn remove_bound<L>(listeners: &mut Vec<L>, endpoint: &str, name: impl Fn(&L) -> &str) -> bool {
    let before = listeners.len();
    listeners.retain(|l| !names_bound(endpoint, name(l)));
    listeners.len() != before
}

/// State shared between a handle and its driver task, as a runtime keeps it.
pub trait Share<T>: Clone + Unpin + 'static {
    /// Exclusive access while it is held.
    type Guard<'a>: DerefMut<Target = T>
    where
        Self: 'a;
    /// Shares `value`.
    fn new(value: T) -> Self;
    /// Exclusive access. Never held across an `.await`.
    fn lock(&self) -> Self::Guard<'_>;
    /// Exclusive access for a `Drop`: `None` where waiting could never end (a `RefCell`
    /// already borrowed on this thread); a mutex held by another thread is waited for (it is
    /// never held for long).
    fn try_lock(&self) -> Option<Self::Guard<'_>>;
}

/// Single-threaded sharing: no lock.
impl<T: 'static> Share<T> for Rc<RefCell<T>> {
    type Guard<'a> = std::cell::RefMut<'a, T>;

    fn new(value: T) -> Self {
        Self::new(RefCell::new(value))
    }

    fn lock(&self) -> Self::Guard<'_> {
        self.borrow_mut()
    }

    fn try_lock(&self) -> Option<Self::Guard<'_>> {
        self.try_borrow_mut().ok()
    }
}

/// Sharing across threads: an uncontended mutex (one task usually touches it at a time).
impl<T: Send + 'static> Share<T> for Arc<Mutex<T>> {
    type Guard<'a> = MutexGuard<'a, T>;

    fn new(value: T) -> Self {
        Self::new(Mutex::new(value))
    }

    fn lock(&self) -> Self::Guard<'_> {
        // A panic while holding the lock leaves a machine we cannot trust, but the I/O objects
        // are still safe to drop; keep going rather than poisoning every later call.
        crate::lock(self)
    }

    fn try_lock(&self) -> Option<Self::Guard<'_>> {
        Some(Share::lock(self))
    }
}

/// Everything behind a socket's shared pointer: its state and its I/O.
#[derive(Debug)]
pub struct Shared<I> {
    pub(crate) state: SocketState,
    pub(crate) io: I,
    /// The socket's in-process connections (not I/O: the same for every driver).
    pub(crate) inproc: crate::inproc::Inproc,
}

/// What a round of I/O may touch besides the driver's own objects: the machine, the time of
/// the round, the monitor queue and the driver task's wake-up.
#[derive(Debug)]
pub struct Round<'a> {
    state: &'a mut SocketState,
    clock: &'a mut Clock,
}

impl<'a> Round<'a> {
    pub(crate) fn new(state: &'a mut SocketState, clock: &'a mut Clock) -> Self {
        Self { state, clock }
    }

    /// The protocol machine.
    pub fn machine(&mut self) -> &mut Machine {
        self.state.machine_mut()
    }

    /// The machine and the clock of this round, borrowed together (a byte stream of the
    /// machine's is open while the time is read).
    pub fn machine_and_clock(&mut self) -> (&mut Machine, &mut Clock) {
        (self.state.machine_mut(), self.clock)
    }

    /// The time of this round (the clock is read once, when first needed).
    pub fn now(&mut self) -> Instant {
        self.clock.now()
    }

    /// Reports what only a driver sees (an accepted connection, a failed accept).
    pub fn push_monitor(&mut self, event: MonitorEvent) {
        self.state.push_monitor(event);
    }

    /// Adds a peer for a connection accepted on the listener bound at `endpoint`, from
    /// `remote` (the TCP peer's address; `None` for an unnamed Unix peer), and reports it
    /// ([`MonitorEvent::Accepted`]; the peer's later events carry `remote` too).
    pub fn accepted(
        &mut self,
        endpoint: &str,
        remote: Option<std::net::SocketAddr>,
    ) -> zmtp_proto::PeerId {
        let now = self.clock.now();
        let machine = self.state.machine_mut();
        let peer = machine.accept(now);
        let remote: Option<std::sync::Arc<str>> = remote.map(|a| format!("tcp://{a}").into());
        if let Some(remote) = &remote {
            machine.set_remote(peer, remote.clone());
        }
        self.state.push_monitor(MonitorEvent::Accepted {
            endpoint: endpoint.to_owned(),
            peer,
            remote,
        });
        peer
    }

    /// A dial for `peer` failed with `error`: the machine schedules the redial and reports
    /// [`SocketEvent::ConnectRetried`](zmtp_proto::SocketEvent::ConnectRetried) with the cause
    /// (a host name that does not resolve is `NotFound`).
    pub fn dial_failed(&mut self, peer: zmtp_proto::PeerId, error: &io::Error) {
        tracing::debug!(%error, "dial failed");
        let cause = zmtp_proto::Error::endpoint(
            zmtp_proto::EndpointOp::Dial,
            "",
            error,
            io::ErrorKind::NotFound,
        );
        let now = self.clock.now();
        let machine = self.state.machine_mut();
        let stop_on_refusal = machine.options().reconnect_stop
            & zmtp_proto::SocketOptions::RECONNECT_STOP_CONN_REFUSED
            != 0;
        if error.kind() == io::ErrorKind::ConnectionRefused && stop_on_refusal {
            // `reconnect_stop` with `ZMQ_RECONNECT_STOP_CONN_REFUSED`: the peer goes.
            machine.dial_refused(peer, now);
        } else {
            machine.dial_failed_because(peer, now, cause);
        }
    }

    /// Wakes the driver task (a new dial for it to poll, when this is an inline round).
    pub fn notify_driver(&mut self) {
        self.state.notify_driver();
    }

    /// The signal the socket's I/O reports to.
    pub fn signal(&self) -> &Arc<Signal> {
        self.state.signal()
    }

    /// True if the rest of this round would find nothing to do: no I/O event since the last
    /// round, no output or action pending, and no read paused (`paused_reads`, the driver's to
    /// say). A driver task woken only for work an inline round has done since skips its I/O.
    pub fn is_quiet(&self, paused_reads: bool) -> bool {
        self.state.is_quiet(paused_reads)
    }
}

/// The time of a round, read from the clock when first needed (most rounds that only write
/// need none) and then the same for the whole round.
#[derive(Debug, Default)]
pub struct Clock(Option<Instant>);

impl Clock {
    /// The time of the round.
    pub fn now(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}
