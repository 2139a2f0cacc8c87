//! The per-socket driver task.
//!
//! It shares the machine with the user's handle through an `Rc<RefCell<State>>` (compio runs
//! every task of a runtime on one thread: no lock, no channel) and owns every I/O operation:
//! one persistent accept per listener, one dial per connecting peer, and per connected peer one
//! read and at most one write in flight. The operations live in a [`FuturesUnordered`]; each
//! owns its buffer and a clone of its stream and hands both back when it completes. Nothing is
//! ever dropped in flight except on purpose (a peer being closed, an unbound listener, the end
//! of the socket), because dropping a compio operation cancels it and loses what the kernel
//! already delivered.
//!
//! Reads go straight into the machine's arena ([`Socket::take_read_buf`] lends its free space
//! as an owned `BytesMut`, [`Socket::give_read_buf`] takes it back without a copy). Writes take
//! everything pending with [`Socket::take_transmit`] and submit it as one vectored write; new
//! messages pile up in the machine behind a write in flight and go out together when it
//! completes (a lone message leaves at once, a burst leaves in few submissions).
//!
//! [`Socket::take_read_buf`]: zmtp_proto::Socket::take_read_buf
//! [`Socket::give_read_buf`]: zmtp_proto::Socket::give_read_buf
//! [`Socket::take_transmit`]: zmtp_proto::Socket::take_transmit

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use compio::buf::BufResult;
use futures_util::stream::{FuturesUnordered, StreamExt};
use zmtp_proto::endpoint::Endpoint;
use zmtp_proto::handle::{Handle, MonitorEvent};
use zmtp_proto::socket::{Action, PeerId};

use crate::transport::{self, Listener, Stream};

/// Most buffers handed to one vectored write (Linux's `IOV_MAX`).
const MAX_IOV: usize = 1024;
/// Rounds of work per poll before the driver lets other tasks run.
const ROUNDS_PER_POLL: usize = 32;
/// Pause before accepting again after `accept` failed (e.g. out of file descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The state shared by a socket handle and its driver task.
pub(crate) type Shared = Rc<RefCell<State>>;

/// What the handle and the driver share: the machine with its wakers, and the listeners.
pub(crate) struct State {
    pub(crate) handle: Handle,
    pub(crate) listeners: Vec<Bound>,
    /// Listeners bound since the driver last ran; it starts accepting on them.
    fresh: Vec<(Listener, Stop, Rc<str>)>,
}

impl State {
    pub(crate) fn new(handle: Handle) -> Self {
        Self {
            handle,
            listeners: Vec::new(),
            fresh: Vec::new(),
        }
    }

    /// Hands a new listener to the driver.
    pub(crate) fn add_listener(
        &mut self,
        listener: Listener,
        endpoint: String,
        ipc_path: Option<PathBuf>,
    ) {
        let stop = Stop::default();
        self.fresh
            .push((listener, stop.clone(), endpoint.as_str().into()));
        self.listeners.push(Bound {
            endpoint: endpoint.clone(),
            stop,
            ipc_path,
        });
        self.handle
            .push_monitor(MonitorEvent::Listening { endpoint });
        self.handle.notify_driver();
    }
}

/// A listener as the handle sees it. Dropping it (unbind, close) stops its accept, which
/// closes the listening socket, and removes its ipc file.
pub(crate) struct Bound {
    pub(crate) endpoint: String,
    stop: Stop,
    ipc_path: Option<PathBuf>,
}

impl Drop for Bound {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(path) = &self.ipc_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A switch that ends an operation on purpose (dropping it, which cancels it in the kernel).
#[derive(Clone, Default)]
struct Stop(Rc<StopInner>);

#[derive(Default)]
struct StopInner {
    stopped: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Stop {
    fn stop(&self) {
        self.0.stopped.set(true);
        if let Some(w) = self.0.waker.take() {
            w.wake();
        }
    }

    fn is_stopped(&self) -> bool {
        self.0.stopped.get()
    }

    /// Runs `fut` to completion unless [`Stop::stop`] is called first; then `fut` is dropped
    /// (cancelling its operation) and the result is `None`.
    async fn run<F: Future>(&self, fut: F) -> Option<F::Output> {
        let mut fut = pin!(fut);
        poll_fn(|cx| {
            if self.is_stopped() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            let waker = match self.0.waker.take() {
                Some(w) if w.will_wake(cx.waker()) => w,
                _ => cx.waker().clone(),
            };
            self.0.waker.set(Some(waker));
            Poll::Pending
        })
        .await
    }
}

/// An operation in flight and what it hands back.
type Op = Pin<Box<dyn Future<Output = Done>>>;

/// The driver's timer: its deadline and the sleep that ends there.
type Timer = (Instant, Pin<Box<dyn Future<Output = ()>>>);

enum Done {
    Read {
        index: usize,
        token: u64,
        stream: Stream,
        /// `None` if the read was stopped.
        result: Option<BufResult<usize, BytesMut>>,
    },
    Wrote {
        index: usize,
        token: u64,
        stream: Stream,
        result: BufResult<usize, Vec<Bytes>>,
    },
    Accepted {
        listener: Listener,
        stop: Stop,
        endpoint: Rc<str>,
        /// `None` if the listener was unbound.
        result: Option<std::io::Result<Stream>>,
    },
    Dialled {
        peer: PeerId,
        result: std::io::Result<Stream>,
    },
}

fn read_op(index: usize, token: u64, stream: Stream, buf: BytesMut, stop: Stop) -> Op {
    Box::pin(async move {
        let result = stop.run(stream.read(buf)).await;
        Done::Read {
            index,
            token,
            stream,
            result,
        }
    })
}

fn write_op(index: usize, token: u64, stream: Stream, bufs: Vec<Bytes>) -> Op {
    Box::pin(async move {
        let result = stream.write(bufs).await;
        Done::Wrote {
            index,
            token,
            stream,
            result,
        }
    })
}

fn accept_op(listener: Listener, stop: Stop, endpoint: Rc<str>, pause: bool) -> Op {
    Box::pin(async move {
        let result = stop
            .run(async {
                if pause {
                    compio::time::sleep(ACCEPT_RETRY).await;
                }
                listener.accept().await
            })
            .await;
        Done::Accepted {
            listener,
            stop,
            endpoint,
            result,
        }
    })
}

fn dial_op(peer: PeerId, endpoint: Endpoint) -> Op {
    Box::pin(async move {
        Done::Dialled {
            peer,
            result: transport::connect(endpoint).await,
        }
    })
}

/// The I/O of one connected peer.
struct PeerIo {
    peer: PeerId,
    /// Tells this connection's operations from those of an earlier connection of the same
    /// peer (a redial) or of a peer that used the same index.
    token: u64,
    /// The stream for reading; `None` while a read is in flight.
    reader: Option<Stream>,
    /// The stream for writing; `None` while a write is in flight.
    writer: Option<Stream>,
    /// Output taken from the machine but not written yet (beyond `MAX_IOV`, or left by a
    /// short write); it goes before anything the machine still holds.
    backlog: Vec<Bytes>,
    /// An empty list whose allocation the next write reuses.
    spare: Vec<Bytes>,
    /// Cancels the read when the peer is closed.
    stop: Stop,
    /// Reading waits for the application to take messages (receive high-water mark).
    paused: bool,
}

impl PeerIo {
    /// Drops what a write of `bufs` wrote (`n` bytes); keeps the rest first in the backlog.
    fn wrote(&mut self, mut bufs: Vec<Bytes>, mut n: usize) {
        let mut done = 0;
        for b in &mut bufs {
            if n >= b.len() {
                n -= b.len();
                done += 1;
            } else {
                b.advance(n);
                break;
            }
        }
        if done == bufs.len() {
            bufs.clear();
            self.spare = bufs;
        } else {
            bufs.drain(..done);
            bufs.append(&mut self.backlog);
            self.backlog = bufs;
        }
    }

    fn is_flushed(&self) -> bool {
        self.writer.is_some() && self.backlog.is_empty()
    }
}

/// The driver task's future.
pub(crate) struct Driver {
    shared: Shared,
    ops: FuturesUnordered<Op>,
    /// Connected peers by [`PeerId::index`].
    peers: Vec<Option<PeerIo>>,
    /// Detached peers finishing a write (best effort) before their stream closes.
    closing: Vec<PeerIo>,
    /// Indices of peers whose reading is paused.
    paused: Vec<usize>,
    next_token: u64,
    timer: Option<Timer>,
}

impl Driver {
    pub(crate) fn new(shared: Shared) -> Self {
        Self {
            shared,
            ops: FuturesUnordered::new(),
            peers: Vec::new(),
            closing: Vec::new(),
            paused: Vec::new(),
            next_token: 0,
            timer: None,
        }
    }

    /// One round of work: everything that does not wait. Returns true if anything happened.
    fn round(&mut self, st: &mut State, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = !st.fresh.is_empty();
        for (listener, stop, endpoint) in st.fresh.drain(..) {
            self.ops.push(accept_op(listener, stop, endpoint, false));
        }
        if st.handle.machine.poll_timeout().is_some_and(|t| t <= now) {
            st.handle.machine.handle_timeout(now);
            progress = true;
        }
        progress |= self.run_actions(st, now);
        self.resume_reads(st);
        while let Some(peer) = st.handle.machine.poll_transmit() {
            self.write(st, peer.index());
        }
        // New operations are submitted here, on their first poll.
        while let Poll::Ready(Some(done)) = self.ops.poll_next_unpin(cx) {
            self.complete(st, done, now);
            progress = true;
        }
        st.handle.drain_events();
        st.handle.wake_ready();
        progress
    }

    fn run_actions(&mut self, st: &mut State, now: Instant) -> bool {
        let mut progress = false;
        while let Some(action) = st.handle.machine.poll_action() {
            progress = true;
            match action {
                Action::Dial { peer, endpoint } => match Endpoint::parse_dial(&endpoint) {
                    Ok(ep) => self.ops.push(dial_op(peer, ep)),
                    Err(error) => {
                        tracing::warn!(%error, "cannot dial");
                        st.handle.machine.dial_failed(peer, now);
                    }
                },
                Action::Close { peer } => self.close_peer(st, peer, now, true),
            }
        }
        progress
    }

    fn complete(&mut self, st: &mut State, done: Done, now: Instant) {
        match done {
            Done::Read {
                index,
                token,
                stream,
                result,
            } => {
                let Some(io) = self.live(index, token) else {
                    return;
                };
                let peer = io.peer;
                match result {
                    Some(BufResult(Ok(n), buf)) if n > 0 => {
                        io.reader = Some(stream);
                        st.handle.machine.give_read_buf(peer, buf, now);
                        self.read(st, index);
                    }
                    Some(BufResult(Ok(_), _)) => self.close_peer(st, peer, now, false),
                    Some(BufResult(Err(error), _)) => {
                        tracing::debug!(%error, "read failed");
                        self.close_peer(st, peer, now, false);
                    }
                    None => {}
                }
            }
            Done::Wrote {
                index,
                token,
                stream,
                result: BufResult(result, bufs),
            } => {
                if let Some(io) = self.live(index, token) {
                    io.writer = Some(stream);
                    match result {
                        Ok(n) if n > 0 || bufs.is_empty() => {
                            io.wrote(bufs, n);
                            self.write(st, index);
                        }
                        Ok(_) => {
                            tracing::debug!("write made no progress");
                            let peer = io.peer;
                            self.close_peer(st, peer, now, false);
                        }
                        Err(error) => {
                            tracing::debug!(%error, "write failed");
                            let peer = io.peer;
                            self.close_peer(st, peer, now, false);
                        }
                    }
                } else if let Some(i) = self.closing.iter().position(|io| io.token == token) {
                    let mut io = self.closing.swap_remove(i);
                    match result {
                        Ok(n) if n > 0 => {
                            io.wrote(bufs, n);
                            if !io.backlog.is_empty() {
                                let bufs = std::mem::take(&mut io.backlog);
                                self.ops.push(write_op(index, token, stream, bufs));
                                self.closing.push(io);
                            }
                        }
                        _ => {}
                    }
                    // Otherwise `io` and `stream` drop here: the connection closes.
                }
            }
            Done::Accepted {
                listener,
                stop,
                endpoint,
                result,
            } => match result {
                None => {}
                Some(Ok(stream)) => {
                    let peer = st.handle.machine.accept(now);
                    self.add_peer(st, peer, stream, now);
                    st.handle.push_monitor(MonitorEvent::Accepted {
                        endpoint: endpoint.to_string(),
                        peer,
                    });
                    self.ops.push(accept_op(listener, stop, endpoint, false));
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "accept failed");
                    st.handle.push_monitor(MonitorEvent::AcceptFailed {
                        endpoint: endpoint.to_string(),
                        error: error.to_string(),
                    });
                    self.ops.push(accept_op(listener, stop, endpoint, true));
                }
            },
            Done::Dialled { peer, result } => match result {
                Ok(stream) => {
                    st.handle.machine.attach(peer, now);
                    let taken = self.peers.get(peer.index()).is_some_and(Option::is_some);
                    if st.handle.machine.is_attached(peer) && !taken {
                        self.add_peer(st, peer, stream, now);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "dial failed");
                    st.handle.machine.dial_failed(peer, now);
                }
            },
        }
    }

    /// The I/O of the peer at `index` if it is still the connection `token` belongs to.
    fn live(&mut self, index: usize, token: u64) -> Option<&mut PeerIo> {
        self.peers
            .get_mut(index)?
            .as_mut()
            .filter(|io| io.token == token)
    }

    fn add_peer(&mut self, st: &mut State, peer: PeerId, stream: Stream, now: Instant) {
        let index = peer.index();
        if self.peers.len() <= index {
            self.peers.resize_with(index + 1, || None);
        }
        if let Some(old) = self.peers[index].as_ref().map(|io| io.peer) {
            // Cannot happen while every detach goes through `close_peer`; stay safe anyway.
            self.close_peer(st, old, now, false);
        }
        self.next_token += 1;
        self.peers[index] = Some(PeerIo {
            peer,
            token: self.next_token,
            reader: Some(stream.clone()),
            writer: Some(stream),
            backlog: Vec::new(),
            spare: Vec::new(),
            stop: Stop::default(),
            paused: false,
        });
        self.read(st, index);
    }

    /// Starts a read for the peer at `index` unless one is in flight or the machine wants
    /// none (receive high-water mark: the peer is then remembered as paused).
    fn read(&mut self, st: &mut State, index: usize) {
        let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let Some(stream) = io.reader.take() else {
            return;
        };
        let buf = if st.handle.machine.wants_read(io.peer) {
            st.handle.machine.take_read_buf(io.peer)
        } else {
            None
        };
        match buf {
            Some(buf) => {
                let op = read_op(index, io.token, stream, buf, io.stop.clone());
                self.ops.push(op);
            }
            None => {
                io.reader = Some(stream);
                if !io.paused {
                    io.paused = true;
                    self.paused.push(index);
                }
            }
        }
    }

    /// Retries paused reads (the application may have taken messages) and writes what
    /// resumed decoding produced.
    fn resume_reads(&mut self, st: &mut State) {
        for index in std::mem::take(&mut self.paused) {
            let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            io.paused = false;
            let peer = io.peer;
            self.read(st, index);
            if st.handle.machine.has_transmit(peer) {
                self.write(st, index);
            }
        }
    }

    /// Starts a write of everything pending for the peer at `index`, unless one is in flight
    /// (its completion starts the next).
    fn write(&mut self, st: &mut State, index: usize) {
        let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let Some(stream) = io.writer.take() else {
            return;
        };
        let mut bufs = if io.backlog.is_empty() {
            std::mem::take(&mut io.spare)
        } else {
            std::mem::take(&mut io.backlog)
        };
        if bufs.len() < MAX_IOV {
            st.handle.machine.take_transmit(io.peer, &mut bufs);
        }
        if bufs.len() > MAX_IOV {
            io.backlog = bufs.split_off(MAX_IOV);
        }
        if bufs.is_empty() {
            io.writer = Some(stream);
            io.spare = bufs;
            return;
        }
        self.ops.push(write_op(index, io.token, stream, bufs));
    }

    /// Ends the connection of `peer`: its read is cancelled; with `flush`, what the machine
    /// still holds for it (an ERROR command, say) is written first, best effort.
    fn close_peer(&mut self, st: &mut State, peer: PeerId, now: Instant, flush: bool) {
        let slot = self
            .peers
            .get_mut(peer.index())
            .filter(|slot| slot.as_ref().is_some_and(|io| io.peer == peer));
        let Some(mut io) = slot.and_then(Option::take) else {
            st.handle.machine.detach(peer, now);
            return;
        };
        io.stop.stop();
        if flush {
            st.handle.machine.take_transmit(peer, &mut io.backlog);
        } else {
            io.backlog.clear();
        }
        st.handle.machine.detach(peer, now);
        match io.writer.take() {
            // The write in flight finishes first; its completion writes the rest.
            None => self.closing.push(io),
            Some(stream) if !io.backlog.is_empty() => {
                let bufs = std::mem::take(&mut io.backlog);
                self.ops
                    .push(write_op(peer.index(), io.token, stream, bufs));
                self.closing.push(io);
            }
            Some(_) => {}
        }
    }

    /// True once the socket is closed and what it wrote has left (or linger is over).
    fn is_done(&self, st: &State, now: Instant) -> bool {
        st.handle.machine.is_closed()
            && (st.handle.linger_expired(now)
                || self.peers.iter().flatten().all(PeerIo::is_flushed))
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
        let mut sleep = Box::pin(compio::time::sleep_until(deadline));
        if sleep.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        self.timer = Some((deadline, sleep));
    }

    fn finish(&mut self, st: &mut State) {
        // Dropping the operations cancels them; dropping the streams closes them.
        self.ops = FuturesUnordered::new();
        self.peers.clear();
        self.closing.clear();
        self.paused.clear();
        self.timer = None;
        st.listeners.clear();
        st.fresh.clear();
        st.handle.finish();
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = this.shared.clone();
        let mut st = shared.borrow_mut();
        st.handle.register_driver(cx.waker());
        // One clock read per poll: the rounds of one poll take microseconds.
        let now = Instant::now();
        for _ in 0..ROUNDS_PER_POLL {
            let progress = this.round(&mut st, cx, now);
            if this.is_done(&st, now) {
                this.finish(&mut st);
                return Poll::Ready(());
            }
            if !progress {
                // Idle: sleep until the machine's next deadline (or an I/O completion, or a
                // call on the handle).
                let deadline = st.handle.machine.poll_timeout();
                drop(st);
                this.arm_timer(deadline, cx);
                return Poll::Pending;
            }
        }
        // Plenty of work: let other tasks run, then come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
