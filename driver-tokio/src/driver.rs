//! The per-socket driver task: accepts, dials, reads into the machine, writes what it hands
//! out, and sleeps until its next deadline. It shares the machine with the user's handle under
//! an uncontended mutex that is never held across an `.await`.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use tokio::time::Sleep;
use zmtp_proto::endpoint::Endpoint;
use zmtp_proto::handle::{Handle, MonitorEvent, WakerKey};
use zmtp_proto::socket::{Action, PeerId};
use zmtp_proto::Msg;

use crate::transport::{self, Listener, Stream};

/// Most slices handed to one vectored write.
const MAX_IOV: usize = 64;
/// Reads per peer per round before others get their turn.
const READS_PER_ROUND: usize = 16;
/// Rounds of work per poll before the driver yields to other tasks.
const ROUNDS_PER_POLL: usize = 32;

type Dial = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

pub(crate) struct Bound {
    pub(crate) endpoint: String,
    pub(crate) listener: Listener,
}

/// Everything behind the mutex: the machine with its wakers, and the I/O objects that feed it.
pub(crate) struct State {
    pub(crate) handle: Handle,
    streams: Vec<Option<Stream>>,
    pub(crate) listeners: Vec<Bound>,
    dials: Vec<(PeerId, Dial)>,
    /// Set by every readiness event on a stream, whichever [`WakeBoth`] it went to: the next
    /// round, inline or in the driver task, must read. Cleared by the round that reads, so the
    /// other one does not read again only to find `Pending`.
    fired: Arc<AtomicBool>,
    /// The application task in the current [`WakeBoth`] is a `recv` future that runs a round
    /// whenever it is woken and calls [`State::end_wait`] when it completes or is dropped:
    /// until then, readiness wakes only that task, not the driver task as well.
    live: Arc<AtomicBool>,
    /// The waker every stream's readiness is registered with, by inline rounds and driver
    /// rounds alike, so a round never steals the other's registration.
    stream_waker: Option<StreamWaker>,
    /// A peer stopped reading at the receive high-water mark with its readiness unused: the
    /// next rounds read again (once messages are taken) without waiting for an event.
    read_paused: bool,
    /// Sends so far (wrapping), to spend tokio's cooperative budget once per
    /// `SENDS_PER_BUDGET_UNIT` sends (see `Socket::poll_send`).
    pub(crate) sends: u32,
    /// The application waited in `recv` on this socket and has not sent since.
    pub(crate) waited: bool,
}

/// The current [`WakeBoth`], and whom it wakes.
struct StreamWaker {
    user: Option<(WakerKey, Waker)>,
    driver: WakerKey,
    waker: Waker,
}

impl State {
    pub(crate) fn new(handle: Handle) -> Self {
        Self {
            handle,
            streams: Vec::new(),
            listeners: Vec::new(),
            dials: Vec::new(),
            fired: Arc::new(AtomicBool::new(false)),
            live: Arc::new(AtomicBool::new(false)),
            stream_waker: None,
            read_paused: false,
            sends: 0,
            waited: false,
        }
    }

    /// The waker to register stream readiness with: it wakes the driver task and the
    /// application task that last ran an inline round (`user`, if given, becomes that task).
    fn stream_waker(&mut self, user: Option<&Waker>, driver: &Waker) -> Waker {
        let driver_key = WakerKey::of(driver);
        let user_key = user.map(WakerKey::of);
        if let Some(current) = &self.stream_waker {
            let same_user = match user_key {
                None => true,
                Some(k) => current.user.as_ref().is_some_and(|(u, _)| *u == k),
            };
            if same_user && current.driver == driver_key {
                return current.waker.clone();
            }
        }
        let user = match (user, self.stream_waker.take()) {
            (Some(u), _) => Some((WakerKey::of(u), u.clone())),
            (None, previous) => previous.and_then(|p| p.user),
        };
        let waker = Waker::from(Arc::new(WakeBoth {
            user: user.as_ref().map(|(_, w)| w.clone()),
            driver: driver.clone(),
            fired: self.fired.clone(),
            live: self.live.clone(),
        }));
        self.stream_waker = Some(StreamWaker {
            user,
            driver: driver_key,
            waker: waker.clone(),
        });
        // Registrations made with the previous waker must be renewed: read everything once.
        self.fired.store(true, Ordering::Release);
        waker
    }

    /// Runs one round of I/O on the application's task, just before it would wait: pending
    /// writes go out now rather than after a task switch, and what arrived since the last
    /// round is read, so the next message reaches the application without a hop through the
    /// driver task. Readiness stays registered with a waker that wakes both tasks, so the
    /// driver still makes progress if the application goes elsewhere.
    ///
    /// Returns false if there was nothing to do (no round ran, nothing changed).
    ///
    /// With `live`, the caller is a `recv` future that runs a round itself whenever it is
    /// woken and calls [`State::end_wait`] when it completes or is dropped: until then,
    /// readiness wakes only that task, not the driver task as well.
    pub(crate) fn run_inline(&mut self, user: &Waker, live: bool) -> bool {
        if self.is_idle_for(user) {
            // Readiness already wakes `user`; only whether it wakes the driver too changes.
            self.live.store(live, Ordering::Release);
            return false;
        }
        let Some(driver) = self.handle.driver_waker().cloned() else {
            return false;
        };
        let waker = self.stream_waker(Some(user), &driver);
        self.live.store(live, Ordering::Release);
        let mut cx = Context::from_waker(&waker);
        let mut clock = Clock::default();
        // Accepts, dials and timers stay with the driver task; inline rounds only move the
        // bytes of connected peers.
        self.run_actions(&mut clock);
        self.stream_rounds(&mut cx, &mut clock);
        true
    }

    /// A `recv` future that waited with `live` is done (or dropped): readiness wakes the
    /// driver task again, and it is woken now if readiness fired that no round handled yet.
    pub(crate) fn end_wait(&mut self) {
        if self.live.swap(false, Ordering::AcqRel) && self.fired.load(Ordering::Acquire) {
            self.handle.notify_driver();
        }
    }

    /// True if `user`, parked by `recv` with no message, has not been woken since: no round
    /// found a message and no readiness fired.
    pub(crate) fn is_still_parked(&self, user: &Waker) -> bool {
        !self.fired.load(Ordering::Acquire) && self.handle.is_recv_parked(user)
    }

    /// Takes the next message into `msg`, if there is one. The driver task is woken only if
    /// taking it changed what the driver has to do (reading resumes below the high-water
    /// mark, or resumed decoding queued output such as a PONG).
    pub(crate) fn try_recv_into(&mut self, msg: &mut Msg) -> Result<bool, zmtp_proto::Error> {
        let got = self.handle.machine.recv_into(msg)?;
        if got
            && (self.read_paused
                || self.handle.machine.take_settled()
                || self.handle.machine.has_any_transmit())
        {
            self.handle.notify_driver();
        }
        Ok(got)
    }

    /// True if an inline round for `user` would find nothing to do: no readiness fired since
    /// the last read, no output or action is pending, and readiness already wakes `user`.
    /// (With `join!` or `select!` an application task is polled for every wake-up of any of
    /// its futures; a round-trip client and server on one task poll a `recv` this way
    /// twice per round trip.)
    fn is_idle_for(&self, user: &Waker) -> bool {
        self.is_quiet()
            && self.stream_waker.as_ref().is_some_and(|current| {
                current
                    .user
                    .as_ref()
                    .is_some_and(|(key, _)| *key == WakerKey::of(user))
            })
    }

    /// True if a round of stream I/O would find nothing to do: no readiness fired since the
    /// last read, no peer waits to read again, no output or action is pending. (A peer whose
    /// write met a full socket waits for readiness too.)
    fn is_quiet(&self) -> bool {
        !self.read_paused
            && !self.fired.load(Ordering::Acquire)
            && !self.handle.machine.has_any_transmit()
            && !self.handle.machine.has_action()
    }

    /// Reads (if readiness fired since the last read) and writes until nothing is left that
    /// would not block; another round only if a read stopped at its cap (more data is
    /// waiting) or an action left a dial to poll. Returns true if work remains after
    /// `ROUNDS_PER_POLL` rounds.
    fn stream_rounds(&mut self, cx: &mut Context<'_>, clock: &mut Clock) -> bool {
        let mut read = self.fired.swap(false, Ordering::AcqRel) || self.read_paused;
        for _ in 0..ROUNDS_PER_POLL {
            let mut again = false;
            if read {
                again |= self.read(cx, clock);
            }
            self.write(cx, clock);
            again |= self.run_actions(clock);
            self.handle.drain_events();
            if !again {
                return false;
            }
            read = true;
        }
        true
    }

    fn set_stream(&mut self, peer: PeerId, stream: Stream) {
        let i = peer.index();
        if self.streams.len() <= i {
            self.streams.resize_with(i + 1, || None);
        }
        self.streams[i] = Some(stream);
        // The next round reads it, which registers its readiness.
        self.fired.store(true, Ordering::Release);
    }

    fn drop_stream(&mut self, peer: PeerId, now: Instant) {
        if let Some(slot) = self.streams.get_mut(peer.index()) {
            *slot = None;
        }
        self.handle.machine.detach(peer, now);
    }

    /// The driver task's work: accepts, dials, actions and timers, then the stream rounds.
    /// Returns true if work remains (the task should yield and come back); every source that
    /// would block has registered for its wake-up by then.
    fn round(&mut self, cx: &mut Context<'_>, clock: &mut Clock) -> bool {
        self.accept(cx, clock);
        self.run_actions(clock);
        self.poll_dials(cx, clock);
        if let Some(deadline) = self.handle.machine.poll_timeout() {
            let now = clock.now();
            if deadline <= now {
                self.handle.machine.handle_timeout(now);
            }
        }
        let waker = self.stream_waker(None, cx.waker());
        // Woken only because the application queued output or took a message, which an
        // inline round has handled by now: nothing to read, write or carry out.
        if self.is_quiet() {
            self.handle.drain_events();
            return false;
        }
        let again = self.stream_rounds(&mut Context::from_waker(&waker), clock);
        self.handle.drain_events();
        again
    }

    fn accept(&mut self, cx: &mut Context<'_>, clock: &mut Clock) {
        for i in 0..self.listeners.len() {
            while let Poll::Ready(result) = self.listeners[i].listener.poll_accept(cx) {
                match result {
                    Ok(stream) => {
                        let peer = self.handle.machine.accept(clock.now());
                        self.set_stream(peer, stream);
                        let endpoint = self.listeners[i].endpoint.clone();
                        self.handle
                            .push_monitor(MonitorEvent::Accepted { endpoint, peer });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        let endpoint = self.listeners[i].endpoint.clone();
                        self.handle.push_monitor(MonitorEvent::AcceptFailed {
                            endpoint,
                            error: error.to_string(),
                        });
                        break;
                    }
                }
            }
        }
    }

    fn poll_dials(&mut self, cx: &mut Context<'_>, clock: &mut Clock) {
        let mut i = 0;
        while i < self.dials.len() {
            match self.dials[i].1.as_mut().poll(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(result) => {
                    let (peer, _) = self.dials.swap_remove(i);
                    match result {
                        Ok(stream) => {
                            self.set_stream(peer, stream);
                            self.handle.machine.attach(peer, clock.now());
                        }
                        Err(error) => {
                            tracing::debug!(%error, "dial failed");
                            self.handle.machine.dial_failed(peer, clock.now());
                        }
                    }
                }
            }
        }
    }

    /// Carries out the machine's actions; true if a new dial waits to be polled.
    fn run_actions(&mut self, clock: &mut Clock) -> bool {
        let mut dialled = false;
        while let Some(action) = self.handle.machine.poll_action() {
            match action {
                Action::Dial { peer, endpoint } => match endpoint.parse::<Endpoint>() {
                    Ok(ep) => {
                        self.dials.push((peer, Box::pin(transport::connect(ep))));
                        // Dials are polled by the driver task (this may be an inline round).
                        self.handle.notify_driver();
                        dialled = true;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot dial");
                        self.handle.machine.dial_failed(peer, clock.now());
                    }
                },
                Action::Close { peer } => {
                    // Best effort: flush what is queued (an ERROR command, say), then close.
                    if let Some(Some(stream)) = self.streams.get(peer.index()) {
                        let mut iov = [IoSlice::new(&[]); MAX_IOV];
                        let n = self.handle.machine.transmit_chunks(peer, &mut iov);
                        if n > 0 {
                            let _ = stream.try_write_vectored(&iov[..n]);
                        }
                    }
                    self.drop_stream(peer, clock.now());
                }
            }
        }
        dialled
    }

    /// Reads from every peer until it would block; true if a peer stopped at the per-round cap
    /// with more data likely waiting.
    fn read(&mut self, cx: &mut Context<'_>, clock: &mut Clock) -> bool {
        let mut capped = false;
        self.read_paused = false;
        for i in 0..self.streams.len() {
            let Some(peer) = self.handle.machine.peer_at(i) else {
                continue;
            };
            let Some(stream) = self.streams[i].take() else {
                continue;
            };
            match self.read_peer(cx, peer, &stream, clock) {
                Some(stop) => {
                    capped |= stop == ReadStop::Capped;
                    self.read_paused |= stop == ReadStop::Paused;
                    self.streams[i] = Some(stream);
                }
                None => self.handle.machine.detach(peer, clock.now()),
            }
        }
        capped
    }

    /// Reads from one peer until something stops it; `None` if the stream is finished.
    fn read_peer(
        &mut self,
        cx: &mut Context<'_>,
        peer: PeerId,
        stream: &Stream,
        clock: &mut Clock,
    ) -> Option<ReadStop> {
        for _ in 0..READS_PER_ROUND {
            if !self.handle.machine.wants_read(peer) {
                return Some(ReadStop::Paused);
            }
            // Read first, ask for readiness only once the socket is drained: tokio's own
            // readiness check makes a read on a socket known not to be ready cost no syscall.
            let buf = self.handle.machine.read_buf(peer)?;
            let spare = buf.capacity() - buf.len();
            match stream.try_read_buf(buf) {
                Ok(0) => return None,
                Ok(n) => {
                    self.handle.machine.handle_read(peer, clock.now());
                    if n == spare {
                        // The buffer filled up: more is likely waiting.
                        continue;
                    }
                    // A short read drained the socket (and cleared its readiness).
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => {
                    tracing::debug!(%error, "read failed");
                    return None;
                }
            }
            match stream.poll_read_ready(cx) {
                Poll::Pending => return Some(ReadStop::Pending),
                Poll::Ready(Err(error)) => {
                    tracing::debug!(%error, "read readiness failed");
                    return None;
                }
                // Readable again already: go on reading.
                Poll::Ready(Ok(())) => {}
            }
        }
        Some(ReadStop::Capped)
    }

    /// Writes every peer's pending output until it would block.
    fn write(&mut self, cx: &mut Context<'_>, clock: &mut Clock) {
        while self.handle.machine.poll_transmit().is_some() {}
        for i in 0..self.streams.len() {
            let Some(peer) = self.handle.machine.peer_at(i) else {
                continue;
            };
            if !self.handle.machine.has_transmit(peer) {
                continue;
            }
            let Some(stream) = self.streams[i].take() else {
                continue;
            };
            if self.write_peer(cx, peer, &stream) {
                self.streams[i] = Some(stream);
            } else {
                self.handle.machine.detach(peer, clock.now());
            }
        }
    }

    /// Writes to one peer until it would block; false if the stream is finished.
    fn write_peer(&mut self, cx: &mut Context<'_>, peer: PeerId, stream: &Stream) -> bool {
        while self.handle.machine.has_transmit(peer) {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let n = self.handle.machine.transmit_chunks(peer, &mut iov);
            // Write first, ask for readiness only when the socket is full (as for reads).
            match stream.try_write_vectored(&iov[..n]) {
                Ok(0) => {
                    tracing::debug!("write made no progress");
                    return false;
                }
                Ok(written) => {
                    self.handle.machine.advance_transmit(peer, written);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => {
                    tracing::debug!(%error, "write failed");
                    return false;
                }
            }
            match stream.poll_write_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(error)) => {
                    tracing::debug!(%error, "write readiness failed");
                    return false;
                }
                // Writable again already: go on writing.
                Poll::Ready(Ok(())) => {}
            }
        }
        true
    }
}

/// The time of a round, read from the clock when first needed (most rounds that only write
/// need none) and then the same for the whole round.
#[derive(Default)]
pub(crate) struct Clock(Option<Instant>);

impl Clock {
    fn now(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

/// Why a peer's reads stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadStop {
    /// Nothing more to read; readiness is registered.
    Pending,
    /// The per-round cap: more is likely waiting.
    Capped,
    /// The receive high-water mark: the machine wants no more for now.
    Paused,
}

/// Wakes the application task and the driver task together.
pub(crate) struct WakeBoth {
    user: Option<Waker>,
    driver: Waker,
    /// Set when readiness fired, so the next round knows reading may find something.
    fired: Arc<AtomicBool>,
    /// See [`State::run_inline`]: while set, the driver task is not woken.
    live: Arc<AtomicBool>,
}

impl std::task::Wake for WakeBoth {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        match &self.user {
            Some(user) if self.live.load(Ordering::Acquire) => user.wake_by_ref(),
            Some(user) => {
                user.wake_by_ref();
                self.driver.wake_by_ref();
            }
            None => self.driver.wake_by_ref(),
        }
    }
}

/// The driver task's future.
pub(crate) struct Driver {
    shared: Arc<Mutex<State>>,
    /// Armed only while the machine has a deadline: a timer left in tokio's wheel would make
    /// every park of the runtime scan it.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: Option<Instant>,
}

impl Driver {
    pub(crate) fn new(shared: Arc<Mutex<State>>) -> Self {
        Self {
            shared,
            sleep: None,
            armed: None,
        }
    }
}

pub(crate) fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves a machine we cannot trust, but the I/O objects are
    // still safe to drop; keep going rather than poisoning every later call.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut state = lock(&this.shared);
        state.handle.register_driver(cx.waker());
        let again = state.round(cx, &mut Clock::default());
        state.handle.wake_ready();
        if state.handle.machine.is_closed() {
            state.streams.clear();
            state.listeners.clear();
            state.dials.clear();
            state.handle.finish();
            return Poll::Ready(());
        }
        if again {
            // Plenty of work: let other tasks run, then come back.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let deadline = state.handle.machine.poll_timeout();
        drop(state);
        let Some(deadline) = deadline else {
            this.sleep = None;
            this.armed = None;
            return Poll::Pending;
        };
        let at = tokio::time::Instant::from_std(deadline);
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if this.armed != Some(deadline) {
            this.armed = Some(deadline);
            sleep.as_mut().reset(at);
        }
        if sleep.as_mut().poll(cx).is_ready() {
            this.armed = None;
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
