//! What an async socket handle shares with its driver task, apart from I/O.
//!
//! Every async driver has the same two sides around one [`Socket`] machine:
//!
//! * the application's handle (`send`, `recv`, `connect`, `close`...) mutates the machine,
//!   parks its task when it must wait, and wakes the driver;
//! * the driver task does the I/O and, after each round of work, wakes the application tasks
//!   whose condition now holds.
//!
//! [`Handle`] is that shared state: the machine, the wakers of every waiting task, the monitor
//! queue and the endpoints given to `connect`. A driver keeps its I/O objects next to it and
//! shares both with the user's handle through whatever its runtime favours (a `RefCell` on a
//! thread-per-core runtime, an uncontended mutex on a work-stealing one). Nothing here performs
//! I/O, reads a clock or blocks; wakers are `std::task::Waker`s and time is an argument.
//!
//! ```
//! use std::task::{Context, Poll, Waker};
//! use std::time::Instant;
//! use zmtp_proto::handle::Handle;
//! use zmtp_proto::socket::{Socket, SocketOptions};
//! use zmtp_proto::{Msg, SocketType};
//!
//! let now = Instant::now();
//! let mut h = Handle::new(Socket::new(SocketType::Pull, SocketOptions::default(), now));
//! let mut cx = Context::from_waker(Waker::noop());
//! // Application side: nothing to receive yet, so the task is parked.
//! assert!(h.poll_recv(&mut cx).is_pending());
//! // Driver side, once per poll of the driver task and after each round of I/O:
//! h.register_driver(Waker::noop());
//! h.drain_events();
//! h.wake_ready();
//! assert!(!h.is_finished());
//! ```

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::endpoint::{Endpoint, EndpointError};
use crate::error::Error;
use crate::message::Msg;
use crate::socket::{PeerId, SendError, Socket, SocketEvent};

/// Monitor events kept when the application does not read them.
pub const MONITOR_CAPACITY: usize = 4096;

/// Monitor events: the machine's [`SocketEvent`]s plus what only a driver sees.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A protocol-level event (connected, handshake succeeded or failed, disconnected...).
    Socket(SocketEvent),
    /// The socket listens on `endpoint`.
    Listening {
        /// The endpoint actually bound.
        endpoint: String,
    },
    /// A connection was accepted on `endpoint`.
    Accepted {
        /// The listening endpoint.
        endpoint: String,
        /// The new peer.
        peer: PeerId,
    },
    /// Accepting on `endpoint` failed (e.g. out of file descriptors).
    AcceptFailed {
        /// The listening endpoint.
        endpoint: String,
        /// The error.
        error: String,
    },
}

/// A message on its way into a socket's `send`: a [`Msg`], or a caller's bytes to be sent
/// as a one-frame message (see [`Socket::send_slice`]). Drivers keep it in their `send`
/// future until the machine takes it, so a dropped future queued nothing.
///
/// ```
/// # use std::time::Instant;
/// # use zmtp_proto::handle::Outbound;
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
    /// A message, sent in place (see [`Socket::send_from`]).
    Msg(Msg),
    /// Bytes copied into the socket as a one-frame message (see [`Socket::send_slice`]).
    Slice(&'a [u8]),
}

impl Outbound<'_> {
    /// Offers the message to `machine`; on [`Error::WouldBlock`] nothing was queued and the
    /// message is still here.
    pub fn offer(&mut self, machine: &mut Socket) -> Result<(), Error> {
        match self {
            Self::Msg(msg) => machine.send_from(msg),
            Self::Slice(body) => machine.send_slice(body),
        }
    }
}

/// The state a socket handle shares with its driver task. See the [module docs](self).
#[derive(Debug)]
pub struct Handle {
    /// The protocol machine. Drivers feed it directly; application calls go through the
    /// methods below so that the right tasks are woken.
    pub machine: Socket,
    /// Endpoints given to `connect` and the peers dialling them, for `disconnect`.
    connects: Vec<(String, PeerId)>,
    driver: Option<Waker>,
    driver_notified: bool,
    recv: Vec<(WakerKey, Waker)>,
    send: Vec<(WakerKey, Waker)>,
    close: Option<Waker>,
    monitor: Option<VecDeque<MonitorEvent>>,
    monitor_waker: Option<Waker>,
    close_started: Option<Instant>,
    finished: bool,
}

/// Most tasks remembered as waiting for one condition; past that they are all woken (those
/// still waiting register again), so the list stays bounded whatever the application does.
const MAX_WAITERS: usize = 8;

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
/// # use zmtp_proto::handle::WakerKey;
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

fn is_parked(list: &[(WakerKey, Waker)], waker: &Waker) -> bool {
    let key = WakerKey::of(waker);
    list.iter().any(|(k, _)| *k == key)
}

fn park(list: &mut Vec<(WakerKey, Waker)>, waker: &Waker) {
    if is_parked(list, waker) {
        return;
    }
    if list.len() == MAX_WAITERS {
        wake_all(list);
    }
    list.push((WakerKey::of(waker), waker.clone()));
}

fn wake_all(list: &mut Vec<(WakerKey, Waker)>) {
    list.drain(..).for_each(|(_, w)| w.wake());
}

impl Handle {
    /// Shared state around `machine`.
    pub fn new(machine: Socket) -> Self {
        Self {
            machine,
            connects: Vec::new(),
            driver: None,
            driver_notified: false,
            recv: Vec::new(),
            send: Vec::new(),
            close: None,
            monitor: None,
            monitor_waker: None,
            close_started: None,
            finished: false,
        }
    }

    // ---- application side ------------------------------------------------------------------

    /// Wakes the driver task (once until it next runs): call after mutating the machine.
    pub fn notify_driver(&mut self) {
        if !self.driver_notified {
            self.driver_notified = true;
            if let Some(w) = &self.driver {
                w.wake_by_ref();
            }
        }
    }

    /// Adds a peer dialling `endpoint` and wakes the driver. Wildcard hosts and ports are
    /// refused (they only make sense for `bind`).
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{handle::Handle, socket::{Socket, SocketOptions}, SocketType};
    /// let mut h = Handle::new(Socket::new(SocketType::Push, SocketOptions::default(), Instant::now()));
    /// assert!(h.connect("tcp://127.0.0.1:5555", Instant::now()).is_ok());
    /// assert!(h.connect("tcp://*:5555", Instant::now()).is_err());
    /// assert!(h.disconnect("tcp://127.0.0.1:5555", Instant::now()));
    /// ```
    pub fn connect(&mut self, endpoint: &str, now: Instant) -> Result<PeerId, EndpointError> {
        Endpoint::parse_dial(endpoint)?;
        let peer = self.machine.connect(endpoint, now);
        self.connects.push((endpoint.to_owned(), peer));
        self.notify_driver();
        Ok(peer)
    }

    /// Stops dialling `endpoint` and drops the queues of its peers; false if it was never
    /// given to [`Handle::connect`] (or was already disconnected).
    pub fn disconnect(&mut self, endpoint: &str, now: Instant) -> bool {
        let before = self.connects.len();
        let mut i = 0;
        while i < self.connects.len() {
            if self.connects[i].0 == endpoint {
                let (_, peer) = self.connects.swap_remove(i);
                self.machine.disconnect(peer, now);
            } else {
                i += 1;
            }
        }
        let found = self.connects.len() != before;
        if found {
            self.notify_driver();
        }
        found
    }

    /// Offers the message in `slot` to the machine. `Ready(Ok)` once it is queued (the slot is
    /// then empty); `Pending` at the high-water mark, with the message back in the slot and
    /// the task parked until the socket is writable; `Ready(Err)` if it cannot be sent.
    ///
    /// # Panics
    ///
    /// If `slot` is empty.
    pub fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        slot: &mut Option<Outbound<'_>>,
    ) -> Poll<Result<(), Error>> {
        let out = slot.as_mut().expect("poll_send with no message");
        // In place: the message is not moved in and (at the high-water mark) back out.
        match self.try_offer(out) {
            Ok(()) => {
                *slot = None;
                Poll::Ready(Ok(()))
            }
            Err(Error::WouldBlock) => {
                self.park_send(cx.waker());
                Poll::Pending
            }
            Err(e) => {
                *slot = None;
                Poll::Ready(Err(e))
            }
        }
    }

    /// Offers `out` to the machine without waiting (see [`Outbound::offer`]) and wakes the
    /// driver if it was queued.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::handle::{Handle, Outbound};
    /// # use zmtp_proto::{Error, Socket, SocketOptions, SocketType};
    /// let mut h = Handle::new(Socket::new(SocketType::Push, SocketOptions::default(), Instant::now()));
    /// let mut out = Outbound::Slice(b"job");
    /// assert!(matches!(h.try_offer(&mut out), Err(Error::WouldBlock))); // no peer yet
    /// h.connect("tcp://127.0.0.1:5555", Instant::now()).unwrap();
    /// h.try_offer(&mut out).unwrap();
    /// ```
    pub fn try_offer(&mut self, out: &mut Outbound<'_>) -> Result<(), Error> {
        out.offer(&mut self.machine)?;
        self.notify_driver();
        Ok(())
    }

    /// Sends without waiting; the message comes back in the error at the high-water mark.
    #[allow(clippy::result_large_err)] // reason: the message is handed back unboxed, as `Socket::send` does
    pub fn try_send(&mut self, msg: Msg) -> Result<(), SendError> {
        self.machine.send(msg)?;
        self.notify_driver();
        Ok(())
    }

    /// Registers a task to wake when the socket becomes writable (after `try_send` failed with
    /// [`Error::WouldBlock`]), and wakes the driver so that it makes room.
    pub fn park_send(&mut self, waker: &Waker) {
        park(&mut self.send, waker);
        self.notify_driver();
    }

    /// True if `waker` (as given to [`Handle::park_send`]) is still waiting for room: no
    /// round has found the socket writable since it parked. A runtime that polls a future
    /// without a wake-up (compio's `block_on` polls its future on every turn of its loop) can
    /// answer `Pending` again at once instead of offering the message and running I/O for
    /// nothing.
    ///
    /// ```
    /// # use std::task::Waker;
    /// # use std::time::Instant;
    /// # use zmtp_proto::handle::Handle;
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let mut h = Handle::new(Socket::new(SocketType::Push, SocketOptions::default(), Instant::now()));
    /// let waker = Waker::noop();
    /// assert!(!h.is_send_parked(waker));
    /// h.park_send(waker);
    /// assert!(h.is_send_parked(waker));
    /// ```
    pub fn is_send_parked(&self, waker: &Waker) -> bool {
        is_parked(&self.send, waker)
    }

    /// True if `waker` (as given to [`Handle::park_recv`]) is still waiting for a message: no
    /// round has found the socket readable since it parked. See [`Handle::is_send_parked`].
    ///
    /// ```
    /// # use std::task::Waker;
    /// # use std::time::Instant;
    /// # use zmtp_proto::handle::Handle;
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let mut h = Handle::new(Socket::new(SocketType::Pull, SocketOptions::default(), Instant::now()));
    /// let waker = Waker::noop();
    /// assert!(!h.is_recv_parked(waker));
    /// h.park_recv(waker);
    /// assert!(h.is_recv_parked(waker));
    /// ```
    pub fn is_recv_parked(&self, waker: &Waker) -> bool {
        is_parked(&self.recv, waker)
    }

    /// Registers a task to wake when the socket becomes readable (after `try_recv` found
    /// nothing).
    pub fn park_recv(&mut self, waker: &Waker) {
        park(&mut self.recv, waker);
    }

    /// Takes the next message, or parks the task until the socket is readable.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Msg, Error>> {
        match self.try_recv() {
            Ok(Some(msg)) => Poll::Ready(Ok(msg)),
            Ok(None) => {
                self.park_recv(cx.waker());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Takes the next message if one is ready.
    pub fn try_recv(&mut self) -> Result<Option<Msg>, Error> {
        let mut msg = Msg::new();
        Ok(self.try_recv_into(&mut msg)?.then_some(msg))
    }

    /// Like [`Handle::try_recv`], writing the message into `msg` (see
    /// [`Socket::recv_into`]); returns whether there was one.
    pub fn try_recv_into(&mut self, msg: &mut Msg) -> Result<bool, Error> {
        let got = self.machine.recv_into(msg)?;
        if got {
            // Taking a message may have made room below the receive high-water mark (and
            // resumed decoding, which may have queued output such as a PONG).
            self.notify_driver();
        }
        Ok(got)
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

    /// Starts recording monitor events (events before the first call are not kept).
    pub fn start_monitor(&mut self) {
        self.monitor.get_or_insert_with(VecDeque::new);
    }

    /// The next monitor event; `Ready(None)` once the socket is finished and all were read.
    pub fn poll_monitor(&mut self, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        if let Some(e) = self.monitor.as_mut().and_then(VecDeque::pop_front) {
            return Poll::Ready(Some(e));
        }
        if self.finished {
            return Poll::Ready(None);
        }
        self.monitor_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Starts closing (no more sends; queued messages are flushed for up to `linger`) and
    /// wakes the driver. Does nothing once the socket is finished.
    pub fn close(&mut self, now: Instant) {
        if !self.finished {
            self.close_started.get_or_insert(now);
            self.machine.close(now);
            self.notify_driver();
        }
    }

    /// `Ready` once the driver has finished (closed and flushed).
    pub fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.finished {
            Poll::Ready(())
        } else {
            self.close = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    // ---- driver side -----------------------------------------------------------------------

    /// Records the driver task's waker; call at the start of every poll of the driver task.
    pub fn register_driver(&mut self, waker: &Waker) {
        self.driver_notified = false;
        if !self.driver.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.driver = Some(waker.clone());
        }
    }

    /// The driver task's waker, once it has run (for drivers that also do I/O on the
    /// application's task and want the driver woken by the same events).
    pub fn driver_waker(&self) -> Option<&Waker> {
        self.driver.as_ref()
    }

    /// Adds a monitor event (dropping the oldest beyond [`MONITOR_CAPACITY`]) if monitoring.
    pub fn push_monitor(&mut self, event: MonitorEvent) {
        if let Some(q) = &mut self.monitor {
            if q.len() == MONITOR_CAPACITY {
                q.pop_front();
            }
            q.push_back(event);
            if let Some(w) = self.monitor_waker.take() {
                w.wake();
            }
        }
    }

    /// Moves the machine's events to the monitor queue (and the log).
    pub fn drain_events(&mut self) {
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
    pub fn wake_ready(&mut self) {
        if !self.recv.is_empty() && self.machine.is_readable() {
            wake_all(&mut self.recv);
        }
        if !self.send.is_empty() && self.machine.is_writable() {
            wake_all(&mut self.send);
        }
    }

    /// True once `close` was called and the `linger` option's time has passed since: the
    /// driver drops what it is still writing.
    pub fn linger_expired(&self, now: Instant) -> bool {
        let linger = self.machine.options().linger;
        self.close_started
            .zip(linger)
            .is_some_and(|(start, linger)| now >= start + linger)
    }

    /// The driver has finished (every connection closed): wakes every waiting task.
    pub fn finish(&mut self) {
        self.finished = true;
        self.connects.clear();
        if let Some(w) = self.close.take() {
            w.wake();
        }
        if let Some(w) = self.monitor_waker.take() {
            w.wake();
        }
        wake_all(&mut self.recv);
        wake_all(&mut self.send);
    }

    /// True once [`Handle::finish`] was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;
    use crate::socket::SocketOptions;
    use crate::SocketType;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count::default());
        (c.clone(), Waker::from(c))
    }

    fn handle(ty: SocketType, options: SocketOptions) -> Handle {
        Handle::new(Socket::new(ty, options, Instant::now()))
    }

    /// Moves `from`'s output for `pf` into `to` as input for `pt`; true if anything moved.
    fn transfer(from: &mut Socket, pf: PeerId, to: &mut Socket, pt: PeerId) -> bool {
        let mut out = Vec::new();
        from.take_transmit(pf, &mut out);
        for chunk in &out {
            to.handle_input(pt, chunk, Instant::now());
        }
        !out.is_empty()
    }

    /// Moves bytes both ways between two machines until nothing is left to write.
    fn pump(a: &mut Socket, pa: PeerId, b: &mut Socket, pb: PeerId) {
        while transfer(a, pa, b, pb) | transfer(b, pb, a, pa) {}
    }

    #[test]
    fn driver_is_woken_once_until_it_runs() {
        let mut h = handle(SocketType::Push, SocketOptions::default());
        let (count, waker) = counter();
        h.register_driver(&waker);
        h.connect("tcp://127.0.0.1:1", Instant::now()).unwrap();
        h.try_send(Msg::from("a")).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        h.register_driver(&waker);
        h.try_send(Msg::from("b")).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn connect_refuses_wildcards_and_disconnect_forgets() {
        let mut h = handle(SocketType::Push, SocketOptions::default());
        let now = Instant::now();
        assert!(h.connect("tcp://*:1", now).is_err());
        assert!(h.connect("tcp://127.0.0.1:*", now).is_err());
        assert!(h.connect("udp://x:1", now).is_err());
        h.connect("ipc:///tmp/x", now).unwrap();
        h.connect("ipc:///tmp/x", now).unwrap();
        assert_eq!(h.machine.peer_count(), 2);
        assert!(h.disconnect("ipc:///tmp/x", now));
        assert_eq!(h.machine.peer_count(), 0);
        assert!(!h.disconnect("ipc:///tmp/x", now));
    }

    #[test]
    fn send_parks_at_the_high_water_mark_and_keeps_the_message() {
        let mut options = SocketOptions::default();
        options.sndhwm = 1;
        let mut h = handle(SocketType::Push, options);
        let now = Instant::now();
        h.connect("tcp://127.0.0.1:1", now).unwrap();
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        let mut slot = Some(Outbound::Msg(Msg::from("first")));
        assert_eq!(h.poll_send(&mut cx, &mut slot), Poll::Ready(Ok(())));
        assert!(slot.is_none());
        let mut slot = Some(Outbound::Msg(Msg::from("second")));
        assert!(h.poll_send(&mut cx, &mut slot).is_pending());
        assert_eq!(slot, Some(Outbound::Msg(Msg::from("second"))));
        // The same for bytes to copy: nothing is queued, they stay in the slot.
        let mut slot = Some(Outbound::Slice(b"third"));
        assert!(h.poll_send(&mut cx, &mut slot).is_pending());
        assert_eq!(slot, Some(Outbound::Slice(b"third")));
        // Still full: waking would be spurious.
        h.wake_ready();
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        h.finish();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn recv_is_woken_when_a_message_arrives() {
        let now = Instant::now();
        let mut pull = handle(SocketType::Pull, SocketOptions::default());
        let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        assert!(pull.poll_recv(&mut cx).is_pending());
        let p_push = push.connect("x", now);
        push.attach(p_push, now);
        let p_pull = pull.machine.accept(now);
        push.send(Msg::from("hello")).unwrap();
        pump(&mut push, p_push, &mut pull.machine, p_pull);
        pull.wake_ready();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(pull.poll_recv(&mut cx), Poll::Ready(Ok(Msg::from("hello"))));
        assert_eq!(pull.try_recv(), Ok(None));
        assert!(pull.poll_recv(&mut cx).is_pending());
    }

    #[test]
    fn waiter_lists_stay_bounded() {
        let mut h = handle(SocketType::Pull, SocketOptions::default());
        let counts: Vec<_> = (0..MAX_WAITERS + 1).map(|_| counter()).collect();
        for (_, waker) in &counts {
            h.park_recv(waker);
            h.park_recv(waker); // the same task twice is remembered once
        }
        // The list overflowed once: the first MAX_WAITERS tasks were woken to register again.
        let woken: usize = counts.iter().map(|(c, _)| c.0.load(Ordering::SeqCst)).sum();
        assert_eq!(woken, MAX_WAITERS);
        assert_eq!(h.recv.len(), 1);
    }

    #[test]
    fn monitor_is_bounded_and_ends_when_finished() {
        let mut h = handle(SocketType::Pub, SocketOptions::default());
        let mut cx = Context::from_waker(Waker::noop());
        h.push_monitor(MonitorEvent::Listening {
            endpoint: "not recorded".into(),
        });
        h.start_monitor();
        for i in 0..MONITOR_CAPACITY + 1 {
            h.push_monitor(MonitorEvent::Listening {
                endpoint: i.to_string(),
            });
        }
        let first = h.poll_monitor(&mut cx);
        assert_eq!(
            first,
            Poll::Ready(Some(MonitorEvent::Listening {
                endpoint: "1".into()
            }))
        );
        for _ in 1..MONITOR_CAPACITY {
            assert!(matches!(h.poll_monitor(&mut cx), Poll::Ready(Some(_))));
        }
        assert!(h.poll_monitor(&mut cx).is_pending());
        h.finish();
        assert_eq!(h.poll_monitor(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn close_records_linger_and_finish_wakes_the_closer() {
        let mut options = SocketOptions::default();
        options.linger = Some(std::time::Duration::from_millis(10));
        let mut h = handle(SocketType::Push, options);
        let t0 = Instant::now();
        assert!(!h.linger_expired(t0));
        h.close(t0);
        assert!(!h.linger_expired(t0));
        assert!(h.linger_expired(t0 + std::time::Duration::from_millis(10)));
        let (count, waker) = counter();
        let mut cx = Context::from_waker(&waker);
        assert!(h.poll_finished(&mut cx).is_pending());
        h.finish();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(h.poll_finished(&mut cx), Poll::Ready(()));
        assert!(h.try_send(Msg::from("late")).is_err());
    }
}
