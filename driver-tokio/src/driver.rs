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
use zmtp_proto::handle::{Handle, MonitorEvent};
use zmtp_proto::socket::{Action, PeerId};

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
    /// A waker that wakes both the application task and the driver task, cached for the
    /// application task that last ran the I/O inline.
    inline_waker: Option<(Waker, Arc<WakeBoth>)>,
}

impl State {
    pub(crate) fn new(handle: Handle) -> Self {
        Self {
            handle,
            streams: Vec::new(),
            listeners: Vec::new(),
            dials: Vec::new(),
            inline_waker: None,
        }
    }

    /// Runs one round of I/O on the application's task, just before it would wait: pending
    /// writes go out now rather than after a task switch, and readiness is registered with a
    /// waker that wakes both this task and the driver task, so the next message wakes the
    /// application directly while the driver still makes progress without it.
    pub(crate) fn run_inline(&mut self, user: &Waker) {
        let Some(driver) = self.handle.driver_waker().cloned() else {
            return;
        };
        let cached = self
            .inline_waker
            .as_ref()
            .is_some_and(|(u, _)| u.will_wake(user));
        // Reading only helps if readiness fired since this task last registered for it (or it
        // never did); otherwise every read would just find `Pending` again.
        let read = if cached {
            let both = &self.inline_waker.as_ref().expect("cached").1;
            both.fired.swap(false, Ordering::AcqRel)
        } else {
            let both = Arc::new(WakeBoth {
                user: user.clone(),
                driver,
                fired: AtomicBool::new(false),
            });
            self.inline_waker = Some((user.clone(), both));
            true
        };
        let waker = Waker::from(self.inline_waker.as_ref().expect("set above").1.clone());
        let mut cx = Context::from_waker(&waker);
        let now = Instant::now();
        // Accepts, dials and timers stay with the driver task; inline rounds only move the
        // bytes of connected peers.
        for round in 0..ROUNDS_PER_POLL {
            let mut progress = self.run_actions(now);
            if read || round > 0 {
                progress |= self.read(&mut cx, now);
            }
            progress |= self.write(&mut cx, now);
            self.handle.drain_events();
            if !progress {
                break;
            }
        }
    }

    fn set_stream(&mut self, peer: PeerId, stream: Stream) {
        let i = peer.index();
        if self.streams.len() <= i {
            self.streams.resize_with(i + 1, || None);
        }
        self.streams[i] = Some(stream);
    }

    fn drop_stream(&mut self, peer: PeerId, now: Instant) {
        if let Some(slot) = self.streams.get_mut(peer.index()) {
            *slot = None;
        }
        self.handle.machine.detach(peer, now);
    }

    /// One round of work. Returns true if anything happened.
    fn round(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
        progress |= self.accept(cx, now);
        progress |= self.poll_dials(cx, now);
        progress |= self.run_actions(now);
        progress |= self.read(cx, now);
        progress |= self.write(cx, now);
        if self.handle.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.handle.machine.handle_timeout(now);
            progress = true;
        }
        self.handle.drain_events();
        progress
    }

    fn accept(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
        for i in 0..self.listeners.len() {
            while let Poll::Ready(result) = self.listeners[i].listener.poll_accept(cx) {
                match result {
                    Ok(stream) => {
                        let peer = self.handle.machine.accept(now);
                        self.set_stream(peer, stream);
                        let endpoint = self.listeners[i].endpoint.clone();
                        self.handle
                            .push_monitor(MonitorEvent::Accepted { endpoint, peer });
                        progress = true;
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
        progress
    }

    fn poll_dials(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.dials.len() {
            match self.dials[i].1.as_mut().poll(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(result) => {
                    let (peer, _) = self.dials.swap_remove(i);
                    progress = true;
                    match result {
                        Ok(stream) => {
                            self.set_stream(peer, stream);
                            self.handle.machine.attach(peer, now);
                        }
                        Err(error) => {
                            tracing::debug!(%error, "dial failed");
                            self.handle.machine.dial_failed(peer, now);
                        }
                    }
                }
            }
        }
        progress
    }

    fn run_actions(&mut self, now: Instant) -> bool {
        let mut progress = false;
        while let Some(action) = self.handle.machine.poll_action() {
            progress = true;
            match action {
                Action::Dial { peer, endpoint } => match endpoint.parse::<Endpoint>() {
                    Ok(ep) => self.dials.push((peer, Box::pin(transport::connect(ep)))),
                    Err(error) => {
                        tracing::warn!(%error, "cannot dial");
                        self.handle.machine.dial_failed(peer, now);
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
                    self.drop_stream(peer, now);
                }
            }
        }
        progress
    }

    fn read(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
        for i in 0..self.streams.len() {
            let Some(peer) = self.handle.machine.peer_at(i) else {
                continue;
            };
            let Some(stream) = self.streams[i].take() else {
                continue;
            };
            let (moved, alive) = self.read_peer(cx, peer, &stream, now);
            progress |= moved;
            if alive {
                self.streams[i] = Some(stream);
            } else {
                self.handle.machine.detach(peer, now);
            }
        }
        progress
    }

    /// Reads from one peer; returns (progress, stream still usable).
    fn read_peer(
        &mut self,
        cx: &mut Context<'_>,
        peer: PeerId,
        stream: &Stream,
        now: Instant,
    ) -> (bool, bool) {
        let mut progress = false;
        for _ in 0..READS_PER_ROUND {
            if !self.handle.machine.wants_read(peer) {
                break;
            }
            match stream.poll_read_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(error)) => {
                    tracing::debug!(%error, "read readiness failed");
                    return (true, false);
                }
                Poll::Ready(Ok(())) => {}
            }
            let Some(buf) = self.handle.machine.read_buf(peer) else {
                break;
            };
            match stream.try_read_buf(buf) {
                Ok(0) => return (true, false),
                Ok(_) => {
                    self.handle.machine.handle_read(peer, now);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => {
                    tracing::debug!(%error, "read failed");
                    return (true, false);
                }
            }
        }
        (progress, true)
    }

    fn write(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let mut progress = false;
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
            let (moved, alive) = self.write_peer(cx, peer, &stream);
            progress |= moved;
            if alive {
                self.streams[i] = Some(stream);
            } else {
                self.handle.machine.detach(peer, now);
            }
        }
        progress
    }

    /// Writes to one peer until it would block; returns (progress, stream still usable).
    fn write_peer(&mut self, cx: &mut Context<'_>, peer: PeerId, stream: &Stream) -> (bool, bool) {
        let mut progress = false;
        while self.handle.machine.has_transmit(peer) {
            match stream.poll_write_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Err(error)) => {
                    tracing::debug!(%error, "write readiness failed");
                    return (true, false);
                }
                Poll::Ready(Ok(())) => {}
            }
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let n = self.handle.machine.transmit_chunks(peer, &mut iov);
            match stream.try_write_vectored(&iov[..n]) {
                Ok(written) => {
                    self.handle.machine.advance_transmit(peer, written);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => {
                    tracing::debug!(%error, "write failed");
                    return (true, false);
                }
            }
        }
        (progress, true)
    }
}

/// Wakes the application task and the driver task together.
pub(crate) struct WakeBoth {
    user: Waker,
    driver: Waker,
    /// Set when readiness fired, so the next inline round knows reading may find something.
    fired: AtomicBool,
}

impl std::task::Wake for WakeBoth {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.user.wake_by_ref();
        self.driver.wake_by_ref();
    }
}

/// The driver task's future.
pub(crate) struct Driver {
    shared: Arc<Mutex<State>>,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl Driver {
    pub(crate) fn new(shared: Arc<Mutex<State>>) -> Self {
        Self {
            shared,
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
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
        for round in 0.. {
            let now = Instant::now();
            let progress = state.round(cx, now);
            state.handle.wake_ready();
            if state.handle.machine.is_closed() {
                state.streams.clear();
                state.listeners.clear();
                state.dials.clear();
                state.handle.finish();
                return Poll::Ready(());
            }
            if !progress {
                break;
            }
            if round == ROUNDS_PER_POLL {
                // Plenty of work: let other tasks run, then come back.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        let deadline = state.handle.machine.poll_timeout();
        drop(state);
        if let Some(deadline) = deadline {
            if this.armed != Some(deadline) {
                this.armed = Some(deadline);
                this.sleep
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(deadline));
            }
            if this.sleep.as_mut().poll(cx).is_ready() {
                this.armed = None;
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}
