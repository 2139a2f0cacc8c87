//! The per-socket driver task and the I/O it shares with the socket handle.
//!
//! The handle and the driver task share the machine and every I/O operation through an
//! `Rc<RefCell<State>>` (compio runs every task of a runtime on one thread: no lock, no
//! channel): one persistent accept per listener, one dial per connecting peer, and per
//! connected peer one read and at most one write in flight. Nothing is ever dropped in flight
//! except on purpose (a peer being closed, an unbound listener, the end of the socket), because
//! dropping a compio operation cancels it and loses what the kernel already delivered.
//!
//! Each connected peer has two long-lived operation slots, one for reading and one for
//! writing: a slot keeps its operation's future in place from one operation to the next (no
//! allocation per operation) and a waker of its own, which records the peer in a ready list
//! when the operation completes. A round of work polls only the peers on that list, so a round
//! costs the same with one peer or a thousand. Accepts and dials are rare and live in a
//! [`FuturesUnordered`].
//!
//! Rounds run on the driver task, and also on the application's task just before `recv` (or
//! `send` at the high-water mark) would wait ([`State::run_inline`]): the request it just
//! queued is submitted without a task switch, and a completion that arrives while the
//! application waits wakes the application, which handles it itself, as well as the driver
//! task, which keeps everything moving when the application is elsewhere.
//!
//! Reads go straight into the machine's arena ([`Socket::take_read_buf`] lends its free space
//! as an owned `BytesMut`, [`Socket::give_read_buf`] takes it back without a copy). Writes take
//! everything pending with [`Socket::take_transmit`] and hand it to the socket with one
//! non-blocking `sendmsg`; what the socket does not take at once goes out as one io_uring
//! vectored write, and new messages pile up in the machine behind a write in flight and go out
//! together when it completes (a lone message leaves at once, a burst leaves in few writes).
//!
//! [`Socket::take_read_buf`]: zmtp_proto::Socket::take_read_buf
//! [`Socket::give_read_buf`]: zmtp_proto::Socket::give_read_buf
//! [`Socket::take_transmit`]: zmtp_proto::Socket::take_transmit

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use compio::buf::BufResult;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;
use zmtp_proto::endpoint::Endpoint;
use zmtp_proto::handle::{Handle, MonitorEvent, WakerKey};
use zmtp_proto::socket::{Action, PeerId};

use crate::transport::{self, Listener, Stream, DIRECT_IOV};

/// Most buffers handed to one vectored write (Linux's `IOV_MAX`).
const MAX_IOV: usize = 1024;
/// Rounds of work per poll before the driver lets other tasks run.
const ROUNDS_PER_POLL: usize = 32;
/// Pause before accepting again after `accept` failed (e.g. out of file descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The state shared by a socket handle and its driver task.
pub(crate) type Shared = Rc<RefCell<State>>;

/// What the handle and the driver share: the machine with its wakers, the listeners and the
/// I/O of the connected peers.
pub(crate) struct State {
    pub(crate) handle: Handle,
    pub(crate) listeners: Vec<Bound>,
    /// Listeners bound since the driver last ran; it starts accepting on them.
    fresh: Vec<(Listener, Stop, Rc<str>)>,
    io: Io,
    /// Sends since the application's task last yielded in `send` (see `SEND_BUDGET`).
    pub(crate) sends_without_yield: u32,
    /// The deadline of the driver task's timer, as it last armed it.
    armed: Option<Instant>,
    /// The application waited in `recv` on this socket and has not sent since.
    pub(crate) waited: bool,
}

impl State {
    pub(crate) fn new(handle: Handle) -> Self {
        Self {
            handle,
            listeners: Vec::new(),
            fresh: Vec::new(),
            io: Io::new(),
            sends_without_yield: 0,
            armed: None,
            waited: false,
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

    /// Runs rounds of peer I/O on the application's task, just before it would wait: what it
    /// queued is submitted now rather than after a task switch, completions that arrived are
    /// handled here, and `user` is woken (as well as the driver task) by the next completion.
    /// Accepts, dials and timers stay with the driver task.
    ///
    /// With `live`, the caller is a `recv`/`send` future that runs a round itself whenever it
    /// is woken and calls [`State::end_wait`] when it completes or is dropped: until then, a
    /// completion wakes only that task, not the driver task as well.
    ///
    /// Returns false if there was nothing to do (no round ran, nothing changed).
    pub(crate) fn run_inline(&mut self, user: &Waker, live: bool) -> bool {
        if self.handle.is_finished() || self.is_idle_for(user, live) {
            return false;
        }
        // Cleared before the round: a completion from now on wakes `user` again.
        self.io.ready.app_woken.store(false, Ordering::Release);
        if self.round(None, &mut Clock::default()) {
            // Plenty of work: the driver task carries on.
            self.handle.notify_driver();
        }
        self.io.ready.app.register(user);
        self.io.ready.app_live.store(live, Ordering::Release);
        self.io.app = Some(WakerKey::of(user));
        self.check_timer();
        true
    }

    /// True if an inline round for `user` would find nothing to do and change nothing: no
    /// operation completed or was started since the last round, no output, action or paused
    /// read is pending, and completions already wake `user` in the same `live` mode. (With
    /// `join!` or `select!` an application task is polled for every wake-up of any of its
    /// futures; a round-trip client and server on one task poll a `recv` this way twice per
    /// round trip.)
    fn is_idle_for(&self, user: &Waker, live: bool) -> bool {
        let ready = &self.io.ready;
        self.is_quiet()
            && self.io.app == Some(WakerKey::of(user))
            && !ready.app_woken.load(Ordering::Acquire)
            && ready.app_live.load(Ordering::Acquire) == live
    }

    /// True if `user`, parked by `send` at the high-water mark (`recv`: with no message), has
    /// not been woken since: no round found room (a message) and no operation completed.
    pub(crate) fn is_still_parked(&self, user: &Waker, recv: bool) -> bool {
        !self.io.ready.app_woken.load(Ordering::Acquire)
            && if recv {
                self.handle.is_recv_parked(user)
            } else {
                self.handle.is_send_parked(user)
            }
    }

    /// True if a round of peer I/O would find nothing to do: no operation completed or was
    /// started since the last round, no output, action or paused read is pending.
    fn is_quiet(&self) -> bool {
        !self.io.ready.listed.load(Ordering::Acquire)
            && self.io.paused.is_empty()
            && !self.handle.machine.has_any_transmit()
            && !self.handle.machine.has_action()
    }

    /// Wakes the driver task if the machine's next deadline is earlier than its timer (a
    /// round run inline changed it: a PING's TTL, a handshake deadline).
    fn check_timer(&mut self) {
        let armed = self.armed;
        if let Some(t) = self.handle.machine.poll_timeout() {
            if armed.is_none_or(|a| t < a) {
                self.handle.notify_driver();
            }
        }
    }

    /// A `recv`/`send` future that waited with `live` is done (or dropped): completions wake
    /// the driver task again, and it is woken now if one arrived that no round handled yet.
    pub(crate) fn end_wait(shared: &Shared) {
        if let Ok(st) = shared.try_borrow() {
            st.io.ready.end_wait();
        }
    }

    /// After the application took a message: writes what the machine now has to send
    /// (resumed decoding may queue a PONG), submitting it at once where the peer has no write
    /// in flight (one in flight takes it along when it completes), and wakes the driver only
    /// if reading must resume. (`send` still wakes the driver: submitting each burst's first
    /// message alone cost 16 B PUSH/PULL ~7% in throughput.)
    pub(crate) fn submit_output(&mut self) {
        let Self { handle: h, io, .. } = self;
        if !io.paused.is_empty() {
            h.notify_driver();
        }
        if !h.machine.take_settled() && !h.machine.has_any_transmit() {
            // Only a message was taken: no output, events or deadlines changed.
            return;
        }
        let mut started = false;
        while let Some(peer) = h.machine.poll_transmit() {
            started |= io.write(h, peer.index());
        }
        // Polling the new write submits it; anything else that completed meanwhile is
        // handled too, and then the driver task finishes the job (wakes, events, output).
        if started && io.poll_peers(h, &mut Clock::default()) {
            h.drain_events();
            h.wake_ready();
            h.notify_driver();
        }
        self.check_timer();
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

/// Who to wake when a peer's operation completes, and which peers to look at.
#[derive(Default)]
struct Ready {
    /// Indices of peers with an operation that may have completed (duplicates are harmless).
    list: Mutex<Vec<usize>>,
    /// `list` is not empty (read without taking the lock).
    listed: AtomicBool,
    /// A completion woke `app` (which takes its waker out) since it was last registered.
    app_woken: AtomicBool,
    /// The driver task, registered on each of its polls.
    driver: AtomicWaker,
    /// The application task that last ran a round inline and is about to wait.
    app: AtomicWaker,
    /// `app` is a `recv`/`send` future that runs a round whenever it is woken (see
    /// [`State::run_inline`]): completions need not wake the driver task too.
    app_live: AtomicBool,
}

impl Ready {
    fn push(&self, index: usize) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.push(index);
        self.listed.store(true, Ordering::Release);
    }

    /// See [`State::end_wait`].
    fn end_wait(&self) {
        // A plain load first: most `recv`/`send` calls complete without waiting, and a
        // locked swap on each of them cost ~4% of a 16 B PUSH/PULL run on both ends.
        if self.app_live.load(Ordering::Acquire)
            && self.app_live.swap(false, Ordering::AcqRel)
            && !self
                .list
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        {
            self.driver.wake();
        }
    }

    /// Moves the list into `out` (empty, its allocation reused); false if it was empty.
    fn take(&self, out: &mut Vec<usize>) -> bool {
        debug_assert!(out.is_empty());
        if !self.listed.load(Ordering::Acquire) {
            // Nothing was pushed since the last take (the usual answer on the last pass of
            // `Io::poll_peers`): no lock. A push sets `listed` before its waker runs, and the
            // woken task's next round takes it.
            return false;
        }
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *list, out);
        self.listed.store(false, Ordering::Release);
        !out.is_empty()
    }
}

/// The waker of one operation slot.
struct OpWaker {
    index: usize,
    woken: AtomicBool,
    ready: Arc<Ready>,
}

impl OpWaker {
    /// Puts the slot on the ready list; false if it was there already.
    fn mark(&self) -> bool {
        let first = !self.woken.swap(true, Ordering::AcqRel);
        if first {
            self.ready.push(self.index);
        }
        first
    }
}

impl Wake for OpWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.mark();
        self.ready.app_woken.store(true, Ordering::Release);
        self.ready.app.wake();
        if !self.ready.app_live.load(Ordering::Acquire) {
            self.ready.driver.wake();
        }
    }
}

/// A future type kept in place from one operation to the next.
trait Op<A, T> {
    /// Starts an operation; the slot must be idle.
    fn start(&mut self, arg: A);
    /// Polls the operation in flight; after `Ready` the slot is idle again.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<T>;
    fn is_busy(&self) -> bool;
    /// Drops the operation in flight, cancelling it.
    fn cancel(&mut self);
}

struct OpBox<A, F> {
    make: fn(A) -> F,
    fut: Pin<Box<Option<F>>>,
}

impl<A, F: Future> Op<A, F::Output> for OpBox<A, F> {
    fn start(&mut self, arg: A) {
        debug_assert!(self.fut.is_none(), "operation already in flight");
        self.fut.set(Some((self.make)(arg)));
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(fut) = self.fut.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let out = std::task::ready!(fut.poll(cx));
        // Never polled again after completion.
        self.fut.set(None);
        Poll::Ready(out)
    }

    fn is_busy(&self) -> bool {
        self.fut.is_some()
    }

    fn cancel(&mut self) {
        self.fut.set(None);
    }
}

/// One operation slot of a peer, with its waker.
struct Slot<A: 'static, T: 'static> {
    op: Box<dyn Op<A, T>>,
    flag: Arc<OpWaker>,
    waker: Waker,
}

impl<A: 'static, T: 'static> Slot<A, T> {
    fn new<F: Future<Output = T> + 'static>(
        make: fn(A) -> F,
        index: usize,
        ready: &Arc<Ready>,
    ) -> Self {
        let flag = Arc::new(OpWaker {
            index,
            woken: AtomicBool::new(false),
            ready: ready.clone(),
        });
        Self {
            op: Box::new(OpBox {
                make,
                fut: Box::pin(None),
            }),
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// Starts an operation; the next look at the ready list polls it (which submits it).
    fn start(&mut self, arg: A) {
        self.op.start(arg);
        self.flag.mark();
    }

    /// Polls the operation if its waker fired since the last poll.
    fn poll(&mut self) -> Poll<T> {
        if !self.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        self.op.poll(&mut Context::from_waker(&self.waker))
    }
}

type ReadSlot = Slot<(Stream, BytesMut), (Stream, BufResult<usize, BytesMut>)>;
type WriteSlot = Slot<(Stream, Vec<Bytes>), (Stream, BufResult<usize, Vec<Bytes>>)>;

async fn read_op((stream, buf): (Stream, BytesMut)) -> (Stream, BufResult<usize, BytesMut>) {
    let result = stream.read(buf).await;
    (stream, result)
}

async fn write_op((stream, bufs): (Stream, Vec<Bytes>)) -> (Stream, BufResult<usize, Vec<Bytes>>) {
    let result = stream.write(bufs).await;
    (stream, result)
}

/// A rare operation in flight (accept, dial) and what it hands back.
type Op1 = Pin<Box<dyn Future<Output = Done>>>;

/// The driver's timer: its deadline and the sleep that ends there.
type Timer = (Instant, Pin<Box<dyn Future<Output = ()>>>);

enum Done {
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

fn accept_op(listener: Listener, stop: Stop, endpoint: Rc<str>, pause: bool) -> Op1 {
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

fn dial_op(peer: PeerId, endpoint: Endpoint) -> Op1 {
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
    /// The stream for reading; `None` while a read is in flight.
    reader: Option<Stream>,
    /// The stream for writing; `None` while a write is in flight.
    writer: Option<Stream>,
    read: ReadSlot,
    write: WriteSlot,
    /// Output taken from the machine but not written yet (beyond `MAX_IOV`, or left by a
    /// short write); it goes before anything the machine still holds.
    backlog: Vec<Bytes>,
    /// An empty list whose allocation the next write reuses.
    spare: Vec<Bytes>,
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

    /// Starts writing the backlog (a closing peer); false if there is nothing to write.
    fn write_backlog(&mut self) -> bool {
        match self.writer.take() {
            Some(stream) if !self.backlog.is_empty() => {
                let bufs = std::mem::take(&mut self.backlog);
                self.write.start((stream, bufs));
                true
            }
            other => {
                self.writer = other;
                false
            }
        }
    }
}

/// Every I/O operation of a socket apart from its timer.
struct Io {
    /// Accepts and dials.
    ops: FuturesUnordered<Op1>,
    /// Connected peers by [`PeerId::index`].
    peers: Vec<Option<PeerIo>>,
    /// Detached peers finishing a write (best effort) before their stream closes.
    closing: Vec<PeerIo>,
    /// Indices of peers whose reading is paused.
    paused: Vec<usize>,
    ready: Arc<Ready>,
    /// The ready list being worked through.
    batch: Vec<usize>,
    /// The application task whose waker `ready.app` holds (as given, see [`WakerKey`]).
    app: Option<WakerKey>,
}

impl Io {
    fn new() -> Self {
        Self {
            ops: FuturesUnordered::new(),
            peers: Vec::new(),
            closing: Vec::new(),
            paused: Vec::new(),
            ready: Arc::default(),
            batch: Vec::new(),
            app: None,
        }
    }

    /// Polls accepts and dials (driver task only).
    fn poll_ops(&mut self, h: &mut Handle, cx: &mut Context<'_>, clock: &mut Clock) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some(done)) = self.ops.poll_next_unpin(cx) {
            self.complete(h, done, clock);
            progress = true;
        }
        progress
    }

    /// Polls the peer operations whose wakers fired. Returns true if any completed.
    fn poll_peers(&mut self, h: &mut Handle, clock: &mut Clock) -> bool {
        let mut progress = false;
        let mut batch = std::mem::take(&mut self.batch);
        while self.ready.take(&mut batch) {
            for index in batch.drain(..) {
                progress |= self.poll_peer(h, index, clock);
            }
            if !self.closing.is_empty() {
                progress |= self.poll_closing();
            }
        }
        self.batch = batch;
        progress
    }

    fn poll_peer(&mut self, h: &mut Handle, index: usize, clock: &mut Clock) -> bool {
        let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
            return false;
        };
        let mut progress = false;
        if let Poll::Ready((stream, result)) = io.read.poll() {
            progress = true;
            let peer = io.peer;
            match result {
                BufResult(Ok(n), buf) if n > 0 => {
                    io.reader = Some(stream);
                    h.machine.give_read_buf(peer, buf, clock.now());
                    self.read(h, index);
                }
                BufResult(Ok(_), _) => {
                    self.close_peer(h, peer, clock, false);
                    return true;
                }
                BufResult(Err(error), _) => {
                    tracing::debug!(%error, "read failed");
                    self.close_peer(h, peer, clock, false);
                    return true;
                }
            }
        }
        let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
            return progress;
        };
        if let Poll::Ready((stream, BufResult(result, bufs))) = io.write.poll() {
            progress = true;
            io.writer = Some(stream);
            match result {
                Ok(n) if n > 0 || bufs.is_empty() => {
                    io.wrote(bufs, n);
                    self.write(h, index);
                }
                Ok(_) => {
                    tracing::debug!("write made no progress");
                    let peer = io.peer;
                    self.close_peer(h, peer, clock, false);
                }
                Err(error) => {
                    tracing::debug!(%error, "write failed");
                    let peer = io.peer;
                    self.close_peer(h, peer, clock, false);
                }
            }
        }
        progress
    }

    /// Polls the writes of closing peers; a peer goes (and its stream closes) once its
    /// backlog is written or a write fails.
    fn poll_closing(&mut self) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.closing.len() {
            let io = &mut self.closing[i];
            let keep = match io.write.poll() {
                Poll::Pending => true,
                Poll::Ready((stream, BufResult(result, bufs))) => {
                    progress = true;
                    io.writer = Some(stream);
                    match result {
                        Ok(n) if n > 0 => {
                            io.wrote(bufs, n);
                            io.write_backlog()
                        }
                        _ => false,
                    }
                }
            };
            if keep {
                i += 1;
            } else {
                self.closing.swap_remove(i);
            }
        }
        progress
    }

    fn run_actions(&mut self, h: &mut Handle, clock: &mut Clock) {
        while let Some(action) = h.machine.poll_action() {
            match action {
                Action::Dial { peer, endpoint } => match Endpoint::parse_dial(&endpoint) {
                    Ok(ep) => {
                        self.ops.push(dial_op(peer, ep));
                        // The driver task polls it (this may be a round run inline).
                        h.notify_driver();
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot dial");
                        h.machine.dial_failed(peer, clock.now());
                    }
                },
                Action::Close { peer } => self.close_peer(h, peer, clock, true),
            }
        }
    }

    fn complete(&mut self, h: &mut Handle, done: Done, clock: &mut Clock) {
        match done {
            Done::Accepted {
                listener,
                stop,
                endpoint,
                result,
            } => match result {
                None => {}
                Some(Ok(stream)) => {
                    let peer = h.machine.accept(clock.now());
                    self.add_peer(h, peer, stream, clock);
                    h.push_monitor(MonitorEvent::Accepted {
                        endpoint: endpoint.to_string(),
                        peer,
                    });
                    self.ops.push(accept_op(listener, stop, endpoint, false));
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "accept failed");
                    h.push_monitor(MonitorEvent::AcceptFailed {
                        endpoint: endpoint.to_string(),
                        error: error.to_string(),
                    });
                    self.ops.push(accept_op(listener, stop, endpoint, true));
                }
            },
            Done::Dialled { peer, result } => match result {
                Ok(stream) => {
                    h.machine.attach(peer, clock.now());
                    let taken = self.peers.get(peer.index()).is_some_and(Option::is_some);
                    if h.machine.is_attached(peer) && !taken {
                        self.add_peer(h, peer, stream, clock);
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "dial failed");
                    h.machine.dial_failed(peer, clock.now());
                }
            },
        }
    }

    fn add_peer(&mut self, h: &mut Handle, peer: PeerId, stream: Stream, clock: &mut Clock) {
        let index = peer.index();
        if self.peers.len() <= index {
            self.peers.resize_with(index + 1, || None);
        }
        if let Some(old) = self.peers[index].as_ref().map(|io| io.peer) {
            // Cannot happen while every detach goes through `close_peer`; stay safe anyway.
            self.close_peer(h, old, clock, false);
        }
        self.peers[index] = Some(PeerIo {
            peer,
            reader: Some(stream.clone()),
            writer: Some(stream),
            read: Slot::new(read_op, index, &self.ready),
            write: Slot::new(write_op, index, &self.ready),
            backlog: Vec::new(),
            spare: Vec::new(),
            paused: false,
        });
        self.read(h, index);
    }

    /// Starts a read for the peer at `index` unless one is in flight or the machine wants
    /// none (receive high-water mark: the peer is then remembered as paused).
    fn read(&mut self, h: &mut Handle, index: usize) {
        let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let Some(stream) = io.reader.take() else {
            return;
        };
        let buf = if h.machine.wants_read(io.peer) {
            h.machine.take_read_buf(io.peer)
        } else {
            None
        };
        match buf {
            Some(buf) => io.read.start((stream, buf)),
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
    fn resume_reads(&mut self, h: &mut Handle) {
        if self.paused.is_empty() {
            return;
        }
        for index in std::mem::take(&mut self.paused) {
            let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            io.paused = false;
            let peer = io.peer;
            self.read(h, index);
            if h.machine.has_transmit(peer) {
                self.write(h, index);
            }
        }
    }

    /// Starts a write of everything pending for the peer at `index`, unless one is in flight
    /// (its completion starts the next). True if a write was started.
    fn write(&mut self, h: &mut Handle, index: usize) -> bool {
        let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
            return false;
        };
        let Some(stream) = io.writer.take() else {
            return false;
        };
        let mut bufs = if io.backlog.is_empty() {
            std::mem::take(&mut io.spare)
        } else {
            std::mem::take(&mut io.backlog)
        };
        if bufs.len() < MAX_IOV {
            h.machine.take_transmit(io.peer, &mut bufs);
        }
        if bufs.len() > MAX_IOV {
            io.backlog = bufs.split_off(MAX_IOV);
        }
        if bufs.is_empty() {
            io.writer = Some(stream);
            io.spare = bufs;
            return false;
        }
        if bufs.len() <= DIRECT_IOV {
            // Hand the output to the socket at once with a plain non-blocking `sendmsg`: when
            // the socket takes it all (the usual case: a reply, a request, a batch that fits
            // the send buffer) no io_uring operation is needed, and so no completion to wake
            // for and handle. Only what it does not take goes through io_uring.
            let total: usize = bufs.iter().map(Bytes::len).sum();
            if let Ok(n) = stream.try_send(&bufs) {
                io.wrote(bufs, n);
                if n == total && io.backlog.is_empty() {
                    io.writer = Some(stream);
                    return false;
                }
                bufs = std::mem::take(&mut io.backlog);
                if bufs.len() > MAX_IOV {
                    io.backlog = bufs.split_off(MAX_IOV);
                }
            }
            // `WouldBlock` or a failure: the io_uring write waits for room or reports it.
        }
        io.write.start((stream, bufs));
        true
    }

    /// Ends the connection of `peer`: its read is cancelled; with `flush`, what the machine
    /// still holds for it (an ERROR command, say) is written first, best effort.
    fn close_peer(&mut self, h: &mut Handle, peer: PeerId, clock: &mut Clock, flush: bool) {
        let slot = self
            .peers
            .get_mut(peer.index())
            .filter(|slot| slot.as_ref().is_some_and(|io| io.peer == peer));
        let Some(mut io) = slot.and_then(Option::take) else {
            h.machine.detach(peer, clock.now());
            return;
        };
        // Dropped on purpose: cancelled in the kernel.
        io.read.op.cancel();
        if flush {
            h.machine.take_transmit(peer, &mut io.backlog);
        } else {
            io.backlog.clear();
        }
        h.machine.detach(peer, clock.now());
        // A write in flight finishes first; its completion writes the rest.
        if io.write.op.is_busy() || io.write_backlog() {
            self.closing.push(io);
        }
    }

    fn finish(&mut self) {
        // Dropping the operations cancels them; dropping the streams closes them.
        self.ops = FuturesUnordered::new();
        self.peers.clear();
        self.closing.clear();
        self.paused.clear();
    }
}

impl State {
    /// One round of work: everything that does not wait, until nothing is left or the
    /// budget of [`ROUNDS_PER_POLL`] passes is spent. With `cx` (the driver task's) it also
    /// starts accepting on new listeners and polls accepts and dials. Returns true if work
    /// remains (the budget ran out).
    fn round(&mut self, mut cx: Option<&mut Context<'_>>, clock: &mut Clock) -> bool {
        let Self {
            handle: h,
            fresh,
            io,
            ..
        } = self;
        if cx.is_some() {
            for (listener, stop, endpoint) in fresh.drain(..) {
                io.ops.push(accept_op(listener, stop, endpoint, false));
            }
        }
        if let Some(deadline) = h.machine.poll_timeout() {
            let now = clock.now();
            if deadline <= now {
                h.machine.handle_timeout(now);
            }
        }
        let mut more = true;
        for _ in 0..ROUNDS_PER_POLL {
            io.run_actions(h, clock);
            io.resume_reads(h);
            while let Some(peer) = h.machine.poll_transmit() {
                io.write(h, peer.index());
            }
            // New operations are submitted here, on their first poll; what completes may
            // produce output, actions or new operations for the next pass.
            let mut completed = io.poll_peers(h, clock);
            if let Some(cx) = cx.as_deref_mut() {
                completed |= io.poll_ops(h, cx, clock);
            }
            if !completed {
                more = false;
                break;
            }
        }
        h.drain_events();
        h.wake_ready();
        more
    }

    /// True if the machine has a deadline that has passed.
    fn timer_due(&self, clock: &mut Clock) -> bool {
        self.handle
            .machine
            .poll_timeout()
            .is_some_and(|t| t <= clock.now())
    }

    /// True once the socket is closed and what it wrote has left (or linger is over).
    fn is_done(&self, clock: &mut Clock) -> bool {
        self.handle.machine.is_closed()
            && (self.handle.linger_expired(clock.now())
                || self.io.peers.iter().flatten().all(PeerIo::is_flushed))
    }

    fn finish(&mut self) {
        self.io.finish();
        self.listeners.clear();
        self.fresh.clear();
        self.handle.finish();
    }
}

/// The time of a round, read from the clock when first needed (rounds that only write need
/// none) and then the same for the whole round.
#[derive(Default)]
pub(crate) struct Clock(Option<Instant>);

impl Clock {
    fn now(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

/// The driver task's future.
pub(crate) struct Driver {
    shared: Shared,
    timer: Option<Timer>,
}

impl Driver {
    pub(crate) fn new(shared: Shared) -> Self {
        Self {
            shared,
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
        let mut sleep = Box::pin(compio::time::sleep_until(deadline));
        if sleep.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        self.timer = Some((deadline, sleep));
    }
}

impl Future for Driver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = this.shared.clone();
        let mut st = shared.borrow_mut();
        st.handle.register_driver(cx.waker());
        st.io.ready.driver.register(cx.waker());
        // At most one clock read per poll (a round takes microseconds), and none if no timer
        // is due and nothing arrived.
        let mut clock = Clock::default();
        let more = if st.fresh.is_empty() && st.is_quiet() && !st.timer_due(&mut clock) {
            // Woken by `send` or `recv` for work an inline round has done by now, or by an
            // accept or dial: only those are polled.
            let State { handle, io, .. } = &mut *st;
            if io.poll_ops(handle, cx, &mut clock) {
                st.round(Some(cx), &mut clock)
            } else {
                // What the application's calls produced (a disconnect's events, say).
                handle.drain_events();
                handle.wake_ready();
                false
            }
        } else {
            st.round(Some(cx), &mut clock)
        };
        if st.is_done(&mut clock) {
            st.finish();
            drop(st);
            this.timer = None;
            return Poll::Ready(());
        }
        if more {
            // Plenty of work: let other tasks run, then come back.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // Idle: sleep until the machine's next deadline (or an I/O completion, or a call on
        // the handle).
        let deadline = st.handle.machine.poll_timeout();
        st.armed = deadline;
        drop(st);
        this.arm_timer(deadline, cx);
        Poll::Pending
    }
}
