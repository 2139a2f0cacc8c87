//! The state behind a socket handle: the machine, the tasks waiting on it, the monitor queue,
//! and the bookkeeping of application calls. Nothing here performs I/O or reads a clock.
//!
//! The machine is private. Application calls change it through the named operations below
//! ([`SocketState::connect`], [`SocketState::poll_send`], [`SocketState::try_recv_into`]...),
//! which wake the right tasks; a driver's rounds reach it through
//! [`Round::machine`](crate::Round::machine) only.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use zmtp_proto::{Endpoint, EndpointError};
use zmtp_proto::{Error, Msg, SocketType};
use zmtp_proto::{PeerId, SendError, Socket as Machine, SocketEvent};

use crate::monitor::MonitorEvent;
use crate::signal::Signal;

/// Monitor events kept when the application does not read them.
pub const MONITOR_CAPACITY: usize = 4096;

/// Most tasks remembered as waiting for one condition; past that they are all woken (those
/// still waiting register again), so the list stays bounded whatever the application does.
const MAX_WAITERS: usize = 8;

/// A message on its way into a socket's `send`: a [`Msg`], or a caller's bytes to be sent as a
/// one-frame message (see [`Machine::send_slice`]). A `send` future keeps it until the machine
/// takes it, so a dropped future queued nothing.
///
/// ```
/// # use std::time::Instant;
/// # use zmtp_async::Outbound;
/// # use zmtp_proto::{Error, Msg, Socket, SocketOptions, SocketType};
/// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), Instant::now());
/// let mut out = Outbound::Slice(b"work");
/// // No peer yet: PUSH blocks, and the bytes stay with the caller.
/// assert!(matches!(out.offer(&mut push), Err(Error::WouldBlock)));
/// push.connect("tcp://127.0.0.1:5555", Instant::now());
/// out.offer(&mut push).unwrap();
/// let mut msg = Outbound::Msg(Msg::from("more"));
/// msg.offer(&mut push).unwrap();
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum Outbound<'a> {
    /// A message, sent in place (see [`Machine::send_from`]).
    Msg(Msg),
    /// Bytes copied into the socket as a one-frame message (see [`Machine::send_slice`]).
    Slice(&'a [u8]),
}

impl Outbound<'_> {
    /// Offers the message to `machine`; on [`Error::WouldBlock`] nothing was queued and the
    /// message is still here.
    pub fn offer(&mut self, machine: &mut Machine) -> Result<(), Error> {
        match self {
            Self::Msg(msg) => machine.send_from(msg),
            Self::Slice(body) => machine.send_slice(body),
        }
    }
}

/// The identity of a waker as a task handed it to us, to recognise the same task on its next
/// poll.
///
/// `Waker::will_wake` does not do this reliably: a clone may carry a different vtable pointer
/// than the waker it was cloned from (tokio's `block_on` waker does), so comparing a kept
/// clone with the next waker fails on every poll. The (data, vtable) pair of the waker *as
/// given* is stable across polls of the same task, and while the clone taken from it is held,
/// the task it points to stays alive, so no other task can show up with the same pair.
///
/// ```
/// # use zmtp_async::WakerKey;
/// let waker = std::task::Waker::noop();
/// assert_eq!(WakerKey::of(waker), WakerKey::of(waker));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WakerKey(usize, usize);

impl WakerKey {
    /// The key of `waker`; compare keys of wakers as given, not of clones.
    pub fn of(waker: &Waker) -> Self {
        Self(
            waker.data() as usize,
            std::ptr::from_ref(waker.vtable()) as usize,
        )
    }
}

/// One monitor's unread events and the task waiting for the next.
#[derive(Debug)]
struct MonitorQueue {
    id: u64,
    events: VecDeque<MonitorEvent>,
    waker: Option<Waker>,
}

/// Tasks waiting for one condition (a message to receive, room to send).
#[derive(Debug, Default)]
struct Waiters(Vec<(WakerKey, Waker)>);

impl MonitorQueue {
    fn push(&mut self, event: MonitorEvent) {
        if self.events.len() == MONITOR_CAPACITY {
            self.events.pop_front();
        }
        self.events.push_back(event);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl Waiters {
    fn contains(&self, waker: &Waker) -> bool {
        let key = WakerKey::of(waker);
        self.0.iter().any(|(k, _)| *k == key)
    }

    fn park(&mut self, waker: &Waker) {
        if self.contains(waker) {
            return;
        }
        if self.0.len() == MAX_WAITERS {
            self.wake_all();
        }
        self.0.push((WakerKey::of(waker), waker.clone()));
    }

    fn wake_all(&mut self) {
        self.0.drain(..).for_each(|(_, w)| w.wake());
    }
}

/// What a socket handle shares with its driver task besides I/O: the machine (private:
/// application calls go through the named operations below, driver rounds through
/// [`Round::machine`](crate::Round::machine)), the tasks waiting on it and the monitor queue.
///
/// ```
/// use std::task::{Context, Waker};
/// use std::time::Instant;
/// use zmtp_async::SocketState;
/// use zmtp_proto::{Socket, SocketOptions, SocketType};
///
/// let now = Instant::now();
/// let mut state = SocketState::new(Socket::new(SocketType::Pull, SocketOptions::default(), now));
/// let mut cx = Context::from_waker(Waker::noop());
/// // Application side: nothing to receive yet, so the task is parked.
/// assert!(state.poll_recv(&mut cx).is_pending());
/// assert!(state.is_recv_parked(Waker::noop()));
/// assert!(!state.is_finished());
/// ```
#[derive(Debug)]
pub struct SocketState {
    machine: Machine,
    signal: Arc<Signal>,
    /// The driver task was woken and has not run since.
    driver_notified: bool,
    /// The deadline the driver task's timer was last armed for.
    armed: Option<Instant>,
    recv: Waiters,
    send: Waiters,
    close: Waiters,
    /// Every monitor's queue (see [`SocketState::start_monitor`]).
    monitors: Vec<MonitorQueue>,
    next_monitor: u64,
    /// The endpoints the socket listens on, as `bind` reported them.
    bound: Vec<String>,
    /// The application closed the socket (or a process-wide shutdown did): every `send` and
    /// `recv`, waiting or later, ends with [`Error::Terminated`].
    terminated: bool,
    finished: bool,
    /// The application task registered with the signal by the last inline round.
    app: Option<WakerKey>,
    /// The application waited in `recv` and has not sent since.
    waited: bool,
    /// Sends since the application's task last yielded in `send` (see `rounds::SEND_BUDGET`).
    sends_without_yield: u32,
}

impl SocketState {
    /// Shared state around `machine`, with a signal of its own.
    pub fn new(machine: Machine) -> Self {
        Self {
            machine,
            signal: Arc::default(),
            driver_notified: false,
            armed: None,
            recv: Waiters::default(),
            send: Waiters::default(),
            close: Waiters::default(),
            monitors: Vec::new(),
            next_monitor: 0,
            bound: Vec::new(),
            terminated: false,
            finished: false,
            app: None,
            waited: false,
            sends_without_yield: 0,
        }
    }

    /// The machine, to read.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The signal the socket's I/O reports to.
    pub fn signal(&self) -> &Arc<Signal> {
        &self.signal
    }

    // ---- application side ------------------------------------------------------------------

    /// Wakes the driver task (once until it next runs): call after mutating the machine.
    pub fn notify_driver(&mut self) {
        if !self.driver_notified {
            self.driver_notified = true;
            self.signal.wake_driver();
        }
    }

    /// Adds a peer dialling `endpoint` and wakes the driver. Wildcard hosts and ports are
    /// refused (they only make sense for `bind`).
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_async::SocketState;
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let mut s = SocketState::new(Socket::new(SocketType::Push, SocketOptions::default(), Instant::now()));
    /// assert!(s.connect("tcp://127.0.0.1:5555", Instant::now()).is_ok());
    /// assert!(s.connect("tcp://*:5555", Instant::now()).is_err());
    /// assert!(s.disconnect("tcp://127.0.0.1:5555", Instant::now()));
    /// ```
    pub fn connect(&mut self, endpoint: &str, now: Instant) -> Result<PeerId, EndpointError> {
        if zmtp_proto::is_inproc(endpoint) {
            refuse_raw_over_inproc(self.machine.socket_type(), endpoint)?;
        } else {
            Endpoint::parse_dial(endpoint)?;
        }
        let peer = self.machine.connect(endpoint, now);
        self.notify_driver();
        Ok(peer)
    }

    /// Stops dialling `endpoint` and drops the queues of its peers; false if it was never
    /// given to [`SocketState::connect`] (or was already disconnected).
    pub fn disconnect(&mut self, endpoint: &str, now: Instant) -> bool {
        let found = self.machine.disconnect_endpoint(endpoint, now);
        if found {
            self.notify_driver();
        }
        found
    }

    /// Offers `out` to the machine; on success the driver is woken. [`Error::WouldBlock`] at
    /// the high-water mark, with `out` untouched.
    pub fn offer(&mut self, out: &mut Outbound<'_>) -> Result<(), Error> {
        if self.terminated {
            return Err(Error::Terminated);
        }
        out.offer(&mut self.machine)?;
        self.notify_driver();
        Ok(())
    }

    /// Offers `out` to the machine without waking the driver (the caller decides how its
    /// output leaves): [`Error::Terminated`] once closed.
    #[inline]
    pub(crate) fn offer_quiet(&mut self, out: &mut Outbound<'_>) -> Result<(), Error> {
        if self.terminated {
            return Err(Error::Terminated);
        }
        out.offer(&mut self.machine)
    }

    /// Offers the message in `pending`. `Ready(Ok)` once it is queued (`pending` is then empty);
    /// `Pending` at the high-water mark, with the message back in `pending` and the task parked
    /// until the socket is writable; `Ready(Err)` if it cannot be sent.
    ///
    /// # Panics
    ///
    /// If `pending` is empty.
    pub fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        pending: &mut Option<Outbound<'_>>,
    ) -> Poll<Result<(), Error>> {
        let out = pending.as_mut().expect("poll_send with no message");
        match self.offer(out) {
            Ok(()) => {
                *pending = None;
                Poll::Ready(Ok(()))
            }
            Err(Error::WouldBlock) => {
                self.park_send(cx.waker());
                Poll::Pending
            }
            Err(e) => {
                *pending = None;
                Poll::Ready(Err(e))
            }
        }
    }

    /// Sends without waiting; the message comes back in the error at the high-water mark.
    #[allow(clippy::result_large_err)] // reason: the message is handed back unboxed, as `Machine::send` does
    pub fn try_send(&mut self, msg: Msg) -> Result<(), SendError> {
        if self.terminated {
            return Err(SendError {
                error: Error::Terminated,
                msg,
            });
        }
        match self.machine.send(msg) {
            Ok(()) => {}
            Err(mut e) => {
                if e.error == Error::WouldBlock && !self.machine.has_routable_peer() {
                    // Not a full queue: nobody to send to.
                    e.error = Error::NoPeer;
                }
                return Err(e);
            }
        }
        self.notify_driver();
        Ok(())
    }

    /// [`SocketState::try_send`] for bytes copied in (see [`Machine::send_slice`]); on a
    /// refusal they come back copied into the error's message.
    #[allow(clippy::result_large_err)] // reason: as `try_send`
    pub fn try_send_slice(&mut self, body: &[u8]) -> Result<(), SendError> {
        let refused = |error| SendError {
            error,
            msg: Msg::copy_from_slice(body),
        };
        if self.terminated {
            return Err(refused(Error::Terminated));
        }
        if let Err(mut error) = self.machine.send_slice(body) {
            if error == Error::WouldBlock && !self.machine.has_routable_peer() {
                error = Error::NoPeer;
            }
            return Err(refused(error));
        }
        self.notify_driver();
        Ok(())
    }

    /// Registers a task to wake when the socket becomes writable, and wakes the driver so that
    /// it makes room.
    pub fn park_send(&mut self, waker: &Waker) {
        self.send.park(waker);
        self.notify_driver();
    }

    /// True if `waker` (as given to [`SocketState::park_send`]) still waits for room: no round
    /// found the socket writable since it parked.
    ///
    /// ```
    /// # use std::task::Waker;
    /// # use std::time::Instant;
    /// # use zmtp_async::SocketState;
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let mut s = SocketState::new(Socket::new(SocketType::Push, SocketOptions::default(), Instant::now()));
    /// assert!(!s.is_send_parked(Waker::noop()));
    /// s.park_send(Waker::noop());
    /// assert!(s.is_send_parked(Waker::noop()));
    /// ```
    pub fn is_send_parked(&self, waker: &Waker) -> bool {
        self.send.contains(waker)
    }

    /// True if `waker` (as given to [`SocketState::park_recv`]) still waits for a message.
    pub fn is_recv_parked(&self, waker: &Waker) -> bool {
        self.recv.contains(waker)
    }

    /// Registers a task to wake when the socket becomes readable.
    pub fn park_recv(&mut self, waker: &Waker) {
        self.recv.park(waker);
    }

    /// Takes the next message, or parks the task until the socket is readable.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Msg, Error>> {
        let mut msg = Msg::new();
        match self.try_recv_into(&mut msg) {
            Ok(true) => Poll::Ready(Ok(msg)),
            Ok(false) => {
                self.park_recv(cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Takes the next message into `msg` (see [`Machine::recv_into`]); returns whether there
    /// was one. The caller hands the machine's new work to the driver (see
    /// `rounds::after_recv`).
    pub fn try_recv_into(&mut self, msg: &mut Msg) -> Result<bool, Error> {
        if self.terminated {
            return Err(Error::Terminated);
        }
        self.machine.recv_into(msg)
    }

    /// SUB/XSUB: subscribes (`subscribe = true`) or unsubscribes `topic`.
    pub fn subscribe(&mut self, topic: &[u8], subscribe: bool) -> Result<(), Error> {
        if subscribe {
            self.machine.subscribe(topic)?;
        } else {
            self.machine.unsubscribe(topic)?;
        }
        self.notify_driver();
        Ok(())
    }

    /// Starts a monitor: from now on it gets a copy of every event (events before are not
    /// kept for it). Returns its key for [`SocketState::poll_monitor`] and
    /// [`SocketState::stop_monitor`]. Every monitor gets every event.
    pub fn start_monitor(&mut self) -> u64 {
        let id = self.next_monitor;
        self.next_monitor += 1;
        self.monitors.push(MonitorQueue {
            id,
            events: VecDeque::new(),
            waker: None,
        });
        id
    }

    /// Forgets monitor `id` (its stream was dropped).
    pub fn stop_monitor(&mut self, id: u64) {
        self.monitors.retain(|m| m.id != id);
    }

    /// Monitor `id`'s next event; `Ready(None)` once the socket is finished and all were read.
    pub fn poll_monitor(&mut self, id: u64, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        let finished = self.finished;
        let Some(m) = self.monitors.iter_mut().find(|m| m.id == id) else {
            return Poll::Ready(None);
        };
        if let Some(e) = m.events.pop_front() {
            return Poll::Ready(Some(e));
        }
        if finished {
            return Poll::Ready(None);
        }
        m.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Starts closing (no more sends; queued messages are flushed for up to `linger`) and
    /// wakes the driver. Does nothing once the socket is finished. This is what dropping the
    /// handle does; [`SocketState::terminate`] is the application's `close`.
    pub fn close(&mut self, now: Instant) {
        if !self.finished {
            self.machine.close(now);
            self.notify_driver();
        }
    }

    /// The application closes the socket: [`SocketState::close`], and every `send` and `recv`
    /// waiting on it, and every later one, ends with [`Error::Terminated`].
    pub fn terminate(&mut self, now: Instant) {
        if !self.terminated {
            self.terminated = true;
            self.recv.wake_all();
            self.send.wake_all();
        }
        self.close(now);
    }

    /// True once the application closed the socket (see [`SocketState::terminate`]).
    pub fn is_terminated(&self) -> bool {
        self.terminated
    }

    /// Sets the linger time (see [`Machine::set_linger`]) and wakes the driver to re-arm its
    /// timer.
    pub fn set_linger(&mut self, linger: Option<std::time::Duration>, now: Instant) {
        self.machine.set_linger(linger, now);
        self.notify_driver();
    }

    /// Takes a process-wide shutdown asked of this socket, if any: it is terminated, with a
    /// linger of at most the one the shutdown allows.
    #[inline]
    pub fn check_shutdown(&mut self) {
        if self.signal.shutdown_asked() {
            self.shutdown_now();
        }
    }

    #[cold]
    fn shutdown_now(&mut self) {
        if let Some(limit) = self.signal.take_shutdown() {
            let now = Instant::now();
            self.terminate(now);
            let linger = self
                .machine
                .options()
                .linger
                .map_or(limit, |l| l.min(limit));
            self.set_linger(Some(linger), now);
        }
    }

    /// Records a listener `bind` opened.
    pub fn add_bound(&mut self, endpoint: &str) {
        self.bound.push(endpoint.to_owned());
        self.push_monitor(MonitorEvent::Listening {
            endpoint: endpoint.to_owned(),
        });
    }

    /// Forgets the listeners that `endpoint` names (see `Io::unbind`), each reported as
    /// [`MonitorEvent::ListenerClosed`].
    pub fn remove_bound(&mut self, endpoint: &str) {
        let mut kept = Vec::with_capacity(self.bound.len());
        for bound in std::mem::take(&mut self.bound) {
            if zmtp_proto::names_bound(endpoint, &bound) {
                self.push_monitor(MonitorEvent::ListenerClosed { endpoint: bound });
            } else {
                kept.push(bound);
            }
        }
        self.bound = kept;
    }

    /// `Ready` once the driver has finished (closed and flushed).
    pub fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.finished {
            Poll::Ready(())
        } else {
            self.close.park(cx.waker());
            Poll::Pending
        }
    }

    // ---- bookkeeping of the rounds (see `rounds`) ----------------------------------------

    /// The driver task runs: it may be woken again, and its waker is the one to wake.
    pub(crate) fn register_driver(&mut self, waker: &Waker) {
        self.driver_notified = false;
        self.signal.register_driver(waker);
    }

    pub(crate) fn set_armed(&mut self, deadline: Option<Instant>) {
        self.armed = deadline;
    }

    /// True if a round would find nothing to do: no I/O event since the last round, no read
    /// paused at the receive high-water mark (`paused_reads`, the driver's to say), no output
    /// or action pending.
    pub(crate) fn is_quiet(&self, paused_reads: bool) -> bool {
        !paused_reads
            && !self.signal.is_pending()
            && !self.machine.has_any_transmit()
            && !self.machine.has_action()
    }

    /// True if the machine's next deadline is earlier than the driver's timer.
    pub(crate) fn timer_moved_earlier(&self) -> bool {
        self.machine
            .poll_timeout()
            .is_some_and(|t| self.armed.is_none_or(|a| t < a))
    }

    pub(crate) fn app(&self) -> Option<WakerKey> {
        self.app
    }

    pub(crate) fn set_app(&mut self, app: WakerKey) {
        self.app = Some(app);
    }

    pub(crate) fn set_waited(&mut self) {
        self.waited = true;
    }

    pub(crate) fn take_waited(&mut self) -> bool {
        std::mem::take(&mut self.waited)
    }

    /// Counts a send that did not wait; true once `budget` of them ran in a row (the counter
    /// restarts): the caller yields once.
    pub(crate) fn spend_send_budget(&mut self, budget: u32) -> bool {
        if self.sends_without_yield >= budget {
            self.sends_without_yield = 0;
            return true;
        }
        self.sends_without_yield += 1;
        false
    }

    /// Makes the next send yield (a full batch is encoded).
    pub(crate) fn exhaust_send_budget(&mut self, budget: u32) {
        self.sends_without_yield = budget;
    }

    pub(crate) fn machine_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// Adds a monitor event to every monitor's queue (dropping its oldest beyond
    /// [`MONITOR_CAPACITY`]).
    pub(crate) fn push_monitor(&mut self, event: MonitorEvent) {
        let Some((last, rest)) = self.monitors.split_last_mut() else {
            return;
        };
        for m in rest {
            m.push(event.clone());
        }
        last.push(event);
    }

    /// Moves the machine's events to the monitor queue (and the log).
    pub(crate) fn drain_events(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            match &event {
                SocketEvent::HandshakeFailed { error, .. } => {
                    tracing::info!(%error, "ZMTP handshake failed; peer dropped");
                }
                SocketEvent::Disconnected { error, .. } => {
                    tracing::debug!(%error, "ZMTP peer disconnected");
                }
                _ => tracing::trace!(?event, "socket event"),
            }
            self.push_monitor(MonitorEvent::Socket(event));
        }
    }

    /// Wakes the application tasks whose condition now holds; call after each round of work.
    pub(crate) fn wake_ready(&mut self) {
        if !self.recv.0.is_empty() && self.machine.is_readable() {
            self.recv.wake_all();
        }
        if !self.send.0.is_empty() && self.machine.is_writable() {
            self.send.wake_all();
        }
    }

    /// True once `close` was called and the `linger` option's time has passed since: the
    /// driver drops what it is still writing.
    pub(crate) fn linger_expired(&self, now: Instant) -> bool {
        self.machine.linger_deadline().is_some_and(|d| now >= d)
    }

    /// The driver has finished (every connection closed): reports the listeners closed and
    /// the socket [`MonitorEvent::Closed`], and wakes every waiting task.
    pub(crate) fn finish(&mut self) {
        for endpoint in std::mem::take(&mut self.bound) {
            self.push_monitor(MonitorEvent::ListenerClosed { endpoint });
        }
        self.push_monitor(MonitorEvent::Closed);
        self.finished = true;
        self.close.wake_all();
        for m in &mut self.monitors {
            if let Some(w) = m.waker.take() {
                w.wake();
            }
        }
        self.recv.wake_all();
        self.send.wake_all();
    }

    /// True once the driver has finished.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// A STREAM socket carries raw bytes and `inproc://` carries whole messages: the two do not
/// meet, so binding or connecting one to an inproc endpoint is refused at once.
pub(crate) fn refuse_raw_over_inproc(
    socket_type: SocketType,
    endpoint: &str,
) -> Result<(), EndpointError> {
    if socket_type == SocketType::Stream {
        return Err(EndpointError {
            endpoint: endpoint.to_owned(),
            reason: "a STREAM socket carries raw bytes; inproc:// carries messages (use tcp:// or ipc://)",
        });
    }
    Ok(())
}

impl Drop for SocketState {
    fn drop(&mut self) {
        // The socket is gone: its registrations leave its thread's table (a pinned socket's
        // state is dropped on its thread).
        self.signal.leave_home();
    }
}

#[cfg(test)]
mod tests {
    use zmtp_proto::SocketOptions;
    use zmtp_proto::SocketType;

    use super::*;
    use crate::test_util::counter;

    fn state(ty: SocketType, options: SocketOptions) -> SocketState {
        SocketState::new(Machine::new(ty, options, Instant::now()))
    }

    /// Moves `from`'s output for `pf` into `to` as input for `pt`; true if anything moved.
    fn transfer(from: &mut Machine, pf: PeerId, to: &mut Machine, pt: PeerId) -> bool {
        let mut out = Vec::new();
        if let Some(view) = from.bytes(pf) {
            view.take_transmit(&mut out);
        }
        for chunk in &out {
            if let Some(view) = to.bytes(pt) {
                view.handle_input(chunk, Instant::now());
            }
        }
        !out.is_empty()
    }

    /// Moves bytes both ways between two machines until nothing is left to write.
    fn pump(a: &mut Machine, pa: PeerId, b: &mut Machine, pb: PeerId) {
        while transfer(a, pa, b, pb) | transfer(b, pb, a, pa) {}
    }

    #[test]
    fn driver_is_woken_once_until_it_runs() {
        let mut s = state(SocketType::Push, SocketOptions::default());
        let (count, waker) = counter();
        s.register_driver(&waker);
        s.connect("tcp://127.0.0.1:1", Instant::now()).unwrap();
        s.try_send(Msg::from("a")).unwrap();
        assert_eq!(count.get(), 1);
        s.register_driver(&waker);
        s.try_send(Msg::from("b")).unwrap();
        assert_eq!(count.get(), 2);
    }

    #[test]
    fn connect_refuses_wildcards_and_disconnect_forgets() {
        let mut s = state(SocketType::Push, SocketOptions::default());
        let now = Instant::now();
        assert!(s.connect("tcp://*:1", now).is_err());
        assert!(s.connect("tcp://127.0.0.1:*", now).is_err());
        assert!(s.connect("udp://x:1", now).is_err());
        s.connect("ipc:///tmp/x", now).unwrap();
        s.connect("ipc:///tmp/x", now).unwrap();
        assert_eq!(s.machine().peer_count(), 2);
        assert!(s.disconnect("ipc:///tmp/x", now));
        assert_eq!(s.machine().peer_count(), 0);
        assert!(!s.disconnect("ipc:///tmp/x", now));
    }

    #[test]
    fn send_parks_at_the_high_water_mark_and_keeps_the_message() {
        let mut options = SocketOptions::default();
        options.sndhwm = 1;
        let mut s = state(SocketType::Push, options);
        let now = Instant::now();
        s.connect("tcp://127.0.0.1:1", now).unwrap();
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        let mut pending = Some(Outbound::Msg(Msg::from("first")));
        assert_eq!(s.poll_send(&mut cx, &mut pending), Poll::Ready(Ok(())));
        assert!(pending.is_none());
        let mut pending = Some(Outbound::Msg(Msg::from("second")));
        assert!(s.poll_send(&mut cx, &mut pending).is_pending());
        assert_eq!(pending, Some(Outbound::Msg(Msg::from("second"))));
        // The same for bytes to copy: nothing is queued, they stay in `pending`.
        let mut pending = Some(Outbound::Slice(b"third"));
        assert!(s.poll_send(&mut cx, &mut pending).is_pending());
        assert_eq!(pending, Some(Outbound::Slice(b"third")));
        // Still full: waking would be spurious.
        s.wake_ready();
        assert_eq!(count.get(), 0);
        s.finish();
        assert_eq!(count.get(), 1);
    }

    #[test]
    fn recv_is_woken_when_a_message_arrives() {
        let now = Instant::now();
        let mut pull = state(SocketType::Pull, SocketOptions::default());
        let mut push = Machine::new(SocketType::Push, SocketOptions::default(), now);
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        assert!(pull.poll_recv(&mut cx).is_pending());
        let p_push = push.connect("x", now);
        push.attach(p_push, now);
        let p_pull = pull.machine_mut().accept(now);
        push.send(Msg::from("hello")).unwrap();
        pump(&mut push, p_push, pull.machine_mut(), p_pull);
        pull.wake_ready();
        assert_eq!(count.get(), 1);
        assert_eq!(pull.poll_recv(&mut cx), Poll::Ready(Ok(Msg::from("hello"))));
        let mut msg = Msg::new();
        assert_eq!(pull.try_recv_into(&mut msg), Ok(false));
        assert!(pull.poll_recv(&mut cx).is_pending());
    }

    #[test]
    fn waiter_lists_stay_bounded() {
        let mut s = state(SocketType::Pull, SocketOptions::default());
        let counts: Vec<_> = (0..MAX_WAITERS + 1).map(|_| counter()).collect();
        for (_, waker) in &counts {
            s.park_recv(waker);
            s.park_recv(waker); // the same task twice is remembered once
        }
        // The list overflowed once: the first MAX_WAITERS tasks were woken to register again.
        let woken: usize = counts.iter().map(|(c, _)| c.get()).sum();
        assert_eq!(woken, MAX_WAITERS);
        assert_eq!(s.recv.0.len(), 1);
    }

    #[test]
    fn monitor_is_bounded_and_ends_when_finished() {
        let mut s = state(SocketType::Pub, SocketOptions::default());
        let mut cx = Context::from_waker(Waker::noop());
        s.push_monitor(MonitorEvent::Listening {
            endpoint: "not recorded".into(),
        });
        let id = s.start_monitor();
        for i in 0..MONITOR_CAPACITY + 1 {
            s.push_monitor(MonitorEvent::Listening {
                endpoint: i.to_string(),
            });
        }
        let first = s.poll_monitor(id, &mut cx);
        assert_eq!(
            first,
            Poll::Ready(Some(MonitorEvent::Listening {
                endpoint: "1".into()
            }))
        );
        for _ in 1..MONITOR_CAPACITY {
            assert!(matches!(s.poll_monitor(id, &mut cx), Poll::Ready(Some(_))));
        }
        assert!(s.poll_monitor(id, &mut cx).is_pending());
        s.finish();
        assert_eq!(
            s.poll_monitor(id, &mut cx),
            Poll::Ready(Some(MonitorEvent::Closed))
        );
        assert_eq!(s.poll_monitor(id, &mut cx), Poll::Ready(None));
    }

    #[test]
    fn close_records_linger_and_finish_wakes_the_closer() {
        let mut options = SocketOptions::default();
        options.linger = Some(std::time::Duration::from_millis(10));
        let mut s = state(SocketType::Push, options);
        let t0 = Instant::now();
        assert!(!s.linger_expired(t0));
        s.close(t0);
        assert!(!s.linger_expired(t0));
        assert!(s.linger_expired(t0 + std::time::Duration::from_millis(10)));
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        assert!(s.poll_finished(&mut cx).is_pending());
        s.finish();
        assert_eq!(count.get(), 1);
        assert_eq!(s.poll_finished(&mut cx), Poll::Ready(()));
        assert!(s.try_send(Msg::from("late")).is_err());
    }

    #[test]
    fn terminate_wakes_every_waiter_and_refuses_every_later_call() {
        let mut s = state(SocketType::Dealer, SocketOptions::default());
        let (recv_count, recv_waker) = counter();
        let (send_count, send_waker) = counter();
        let (closers, closer) = counter();
        let (other_closers, other_closer) = counter();
        assert!(s
            .poll_recv(&mut Context::from_waker(&recv_waker))
            .is_pending());
        let mut pending = Some(Outbound::Msg(Msg::from("no peer")));
        assert!(s
            .poll_send(&mut Context::from_waker(&send_waker), &mut pending)
            .is_pending());
        s.terminate(Instant::now());
        assert_eq!((recv_count.get(), send_count.get()), (1, 1));
        assert!(s.is_terminated());
        let mut msg = Msg::new();
        assert_eq!(s.try_recv_into(&mut msg), Err(Error::Terminated));
        assert_eq!(s.offer(pending.as_mut().unwrap()), Err(Error::Terminated));
        let refused = s.try_send(Msg::from("late")).unwrap_err();
        assert_eq!(
            (refused.error, refused.msg),
            (Error::Terminated, Msg::from("late"))
        );
        assert_eq!(
            s.try_send_slice(b"late").unwrap_err().error,
            Error::Terminated
        );
        // Two tasks closing at once are both woken when the driver finishes.
        assert!(s
            .poll_finished(&mut Context::from_waker(&closer))
            .is_pending());
        assert!(s
            .poll_finished(&mut Context::from_waker(&other_closer))
            .is_pending());
        s.finish();
        assert_eq!((closers.get(), other_closers.get()), (1, 1));
    }

    #[test]
    fn no_peer_is_told_apart_from_a_full_queue() {
        let mut options = SocketOptions::default();
        options.sndhwm = 1;
        let mut s = state(SocketType::Push, options);
        assert_eq!(s.try_send(Msg::from("a")).unwrap_err().error, Error::NoPeer);
        assert_eq!(s.try_send_slice(b"a").unwrap_err().error, Error::NoPeer);
        s.connect("tcp://127.0.0.1:1", Instant::now()).unwrap();
        s.try_send(Msg::from("a")).unwrap();
        assert_eq!(
            s.try_send(Msg::from("b")).unwrap_err().error,
            Error::WouldBlock
        );
        let refused = s.try_send_slice(b"c").unwrap_err();
        assert_eq!(
            (refused.error, refused.msg),
            (Error::WouldBlock, Msg::from("c"))
        );
    }

    #[test]
    fn every_monitor_gets_every_event_and_a_dropped_one_stops() {
        let mut s = state(SocketType::Pull, SocketOptions::default());
        let mut cx = Context::from_waker(Waker::noop());
        let a = s.start_monitor();
        let b = s.start_monitor();
        s.add_bound("tcp://127.0.0.1:1");
        s.remove_bound("tcp://127.0.0.1:1");
        let listening = MonitorEvent::Listening {
            endpoint: "tcp://127.0.0.1:1".into(),
        };
        let closed = MonitorEvent::ListenerClosed {
            endpoint: "tcp://127.0.0.1:1".into(),
        };
        for id in [a, b] {
            assert_eq!(
                s.poll_monitor(id, &mut cx),
                Poll::Ready(Some(listening.clone()))
            );
            assert_eq!(
                s.poll_monitor(id, &mut cx),
                Poll::Ready(Some(closed.clone()))
            );
            assert!(s.poll_monitor(id, &mut cx).is_pending());
        }
        s.stop_monitor(a);
        s.finish();
        assert_eq!(s.poll_monitor(a, &mut cx), Poll::Ready(None));
        assert_eq!(
            s.poll_monitor(b, &mut cx),
            Poll::Ready(Some(MonitorEvent::Closed))
        );
        assert_eq!(s.poll_monitor(b, &mut cx), Poll::Ready(None));
    }

    #[test]
    fn the_driver_is_due_when_the_deadline_moves_earlier_than_its_timer() {
        let mut s = state(SocketType::Push, SocketOptions::default());
        let now = Instant::now();
        assert!(!s.timer_moved_earlier(), "no deadline, nothing to arm");
        let peer = s.connect("tcp://127.0.0.1:1", now).unwrap();
        // The dial failed: a redial is due after `reconnect_ivl`.
        s.machine_mut().dial_failed(peer, now);
        let deadline = s.machine().poll_timeout().expect("a redial deadline");
        s.set_armed(None);
        assert!(s.timer_moved_earlier(), "no timer armed yet");
        s.set_armed(Some(deadline));
        assert!(!s.timer_moved_earlier(), "armed for it already");
        s.set_armed(Some(deadline + std::time::Duration::from_secs(1)));
        assert!(s.timer_moved_earlier(), "armed later than needed");
    }
}
