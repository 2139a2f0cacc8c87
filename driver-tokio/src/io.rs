//! The socket's I/O on tokio: listeners, streams and dials, and the rounds that move their
//! bytes. Reads and writes are tried first and readiness is asked for only when a socket is
//! drained or full; every stream's readiness is registered with the socket's
//! [`Signal`](zmtp_async::Signal), whichever task runs the round.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use zmtp_async::{remove_bound, Io, MonitorEvent, Round, Signal};
use zmtp_proto::Endpoint;
use zmtp_proto::{Action, PeerId};

use crate::transport::{self, Listener, Stream};

/// Most slices handed to one vectored write.
const MAX_IOV: usize = 64;
/// Reads per peer per round before others get their turn.
const READS_PER_ROUND: usize = 16;
/// Rounds of work per poll before the driver yields to other tasks.
const ROUNDS_PER_POLL: usize = 32;

type Dial = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

struct Bound {
    endpoint: String,
    listener: Listener,
}

/// The I/O of one socket on tokio.
pub struct TokioIo {
    /// The socket's signal as a waker, made once: every stream's readiness is registered with
    /// it, by inline rounds and driver rounds alike.
    waker: Waker,
    streams: Vec<Option<Stream>>,
    listeners: Vec<Bound>,
    dials: Vec<(PeerId, Dial)>,
    /// The stream indices of the peers that `poll_transmit` named and whose output is not all
    /// written yet (a write would have blocked), with a flag per index so that each is listed
    /// once.
    to_write: Vec<usize>,
    listed: Vec<bool>,
    /// A peer stopped reading at the receive high-water mark with its readiness unused: the
    /// next rounds read again (once messages are taken) without waiting for an event.
    read_paused: bool,
}

impl std::fmt::Debug for TokioIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioIo")
            .field("listeners", &self.listeners.len())
            .field("dials", &self.dials.len())
            .finish_non_exhaustive()
    }
}

impl Io for TokioIo {
    type Listener = Listener;

    fn add_listener(&mut self, listener: Listener, endpoint: &str) {
        self.listeners.push(Bound {
            endpoint: endpoint.to_owned(),
            listener,
        });
    }

    fn unbind(&mut self, endpoint: &str) -> bool {
        remove_bound(&mut self.listeners, endpoint, |b| &b.endpoint)
    }

    fn round(&mut self, r: &mut Round<'_>, driver: Option<&mut Context<'_>>) -> bool {
        if let Some(cx) = driver {
            self.accept(cx, r);
            self.run_actions(r);
            self.poll_dials(cx, r);
            // Woken only because the application queued output or took a message, which an
            // inline round has handled by now: nothing to read, write or carry out.
            if r.is_quiet(self.read_paused) {
                return false;
            }
        }
        self.stream_rounds(r)
    }

    fn flush(&mut self, r: &mut Round<'_>) -> bool {
        self.run_actions(r);
        let waker = self.waker.clone();
        self.write(&mut Context::from_waker(&waker), r);
        false
    }

    fn has_paused_reads(&self) -> bool {
        self.read_paused
    }

    fn is_flushed(&self) -> bool {
        // What is not written stays in the machine, which knows when it is flushed.
        true
    }

    fn finish(&mut self) {
        self.streams.clear();
        self.listeners.clear();
        self.dials.clear();
    }
}

impl TokioIo {
    pub(crate) fn new(signal: &Arc<Signal>) -> Self {
        Self {
            waker: signal.waker(),
            streams: Vec::new(),
            listeners: Vec::new(),
            dials: Vec::new(),
            to_write: Vec::new(),
            listed: Vec::new(),
            read_paused: false,
        }
    }

    /// Reads (if readiness fired since the last read) and writes until nothing is left that
    /// would not block; another round only if a read stopped at its cap (more data is
    /// waiting) or an action left a dial to poll. Returns true if work remains after
    /// `ROUNDS_PER_POLL` rounds.
    fn stream_rounds(&mut self, r: &mut Round<'_>) -> bool {
        let waker = self.waker.clone();
        let cx = &mut Context::from_waker(&waker);
        let mut read = r.signal().take_pending() || self.read_paused;
        for _ in 0..ROUNDS_PER_POLL {
            let mut again = false;
            if read {
                again |= self.read(cx, r);
            }
            self.write(cx, r);
            again |= self.run_actions(r);
            if !again {
                return false;
            }
            read = true;
        }
        true
    }

    fn set_stream(&mut self, r: &Round<'_>, peer: PeerId, stream: Stream) {
        let i = peer.index();
        if self.streams.len() <= i {
            self.streams.resize_with(i + 1, || None);
        }
        self.streams[i] = Some(stream);
        // The next round reads it, which registers its readiness.
        r.signal().set_pending();
    }

    fn drop_stream(&mut self, r: &mut Round<'_>, peer: PeerId) {
        if let Some(slot) = self.streams.get_mut(peer.index()) {
            *slot = None;
        }
        let now = r.now();
        r.machine().detach(peer, now);
    }

    fn accept(&mut self, cx: &mut Context<'_>, r: &mut Round<'_>) {
        for i in 0..self.listeners.len() {
            while let Poll::Ready(result) = self.listeners[i].listener.poll_accept(cx) {
                match result {
                    Ok(stream) => {
                        let remote = match &stream {
                            Stream::Tcp(s) => s.peer_addr().ok(),
                            Stream::Unix(_) => None,
                        };
                        let peer = r.accepted(&self.listeners[i].endpoint, remote);
                        self.set_stream(r, peer, stream);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        let endpoint = self.listeners[i].endpoint.clone();
                        r.push_monitor(MonitorEvent::AcceptFailed {
                            endpoint,
                            error: error.to_string(),
                        });
                        break;
                    }
                }
            }
        }
    }

    fn poll_dials(&mut self, cx: &mut Context<'_>, r: &mut Round<'_>) {
        let mut i = 0;
        while i < self.dials.len() {
            match self.dials[i].1.as_mut().poll(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(result) => {
                    let (peer, _) = self.dials.swap_remove(i);
                    match result {
                        Ok(stream) => {
                            self.set_stream(r, peer, stream);
                            let now = r.now();
                            r.machine().attach(peer, now);
                        }
                        Err(error) => {
                            r.dial_failed(peer, &error);
                        }
                    }
                }
            }
        }
    }

    /// Carries out the machine's actions; true if a new dial waits to be polled.
    fn run_actions(&mut self, r: &mut Round<'_>) -> bool {
        let mut dialled = false;
        while let Some(action) = r.machine().poll_action() {
            match action {
                Action::Dial { peer, endpoint } => match endpoint.parse::<Endpoint>() {
                    Ok(ep) => {
                        let tcp = zmtp_async::net::TcpSettings::from(r.machine().options());
                        self.dials
                            .push((peer, Box::pin(transport::connect(ep, tcp))));
                        // Dials are polled by the driver task (this may be an inline round).
                        r.notify_driver();
                        dialled = true;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot dial");
                        r.dial_failed(
                            peer,
                            &std::io::Error::new(std::io::ErrorKind::InvalidInput, error),
                        );
                    }
                },
                Action::Close { peer } => {
                    // Best effort: flush what is queued (an ERROR command, say), then close.
                    if let Some(Some(stream)) = self.streams.get(peer.index()) {
                        let mut iov = [IoSlice::new(&[]); MAX_IOV];
                        let n = r
                            .machine()
                            .connection(peer)
                            .map_or(0, |c| c.transmit_chunks(&mut iov));
                        if n > 0 {
                            let _ = stream.try_write_vectored(&iov[..n]);
                        }
                    }
                    self.drop_stream(r, peer);
                }
            }
        }
        dialled
    }

    /// Reads from every peer until it would block; true if a peer stopped at the per-round cap
    /// with more data likely waiting.
    fn read(&mut self, cx: &mut Context<'_>, r: &mut Round<'_>) -> bool {
        let mut capped = false;
        self.read_paused = false;
        for i in 0..self.streams.len() {
            let Some(peer) = r.machine().peer_at(i) else {
                continue;
            };
            let Some(stream) = self.streams[i].take() else {
                continue;
            };
            match self.read_peer(cx, peer, &stream, r) {
                Some(stop) => {
                    capped |= stop == ReadStop::Capped;
                    self.read_paused |= stop == ReadStop::Paused;
                    self.streams[i] = Some(stream);
                }
                None => {
                    let now = r.now();
                    r.machine().detach(peer, now);
                }
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
        r: &mut Round<'_>,
    ) -> Option<ReadStop> {
        for _ in 0..READS_PER_ROUND {
            if !r.machine().connection(peer).is_some_and(|c| c.wants_read()) {
                return Some(ReadStop::Paused);
            }
            // Read first, ask for readiness only once the socket is drained: tokio's own
            // readiness check makes a read on a socket known not to be ready cost no syscall.
            let (machine, clock) = r.machine_and_clock();
            let mut ps = machine.bytes(peer)?;
            let buf = ps.read_buf();
            let spare = buf.capacity() - buf.len();
            match stream.try_read_buf(buf) {
                Ok(0) => return None,
                Ok(n) => {
                    ps.handle_read(clock.now());
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

    /// Writes the pending output of the peers `poll_transmit` named (now or in an earlier round
    /// whose write would have blocked) until it would block.
    fn write(&mut self, cx: &mut Context<'_>, r: &mut Round<'_>) {
        while let Some(peer) = r.machine().poll_transmit() {
            let i = peer.index();
            if self.listed.len() <= i {
                self.listed.resize(i + 1, false);
            }
            if !std::mem::replace(&mut self.listed[i], true) {
                self.to_write.push(i);
            }
        }
        let mut k = 0;
        while k < self.to_write.len() {
            let i = self.to_write[k];
            // The peer now at this index (a listed peer may have left and its index be reused).
            let peer = r.machine().peer_at(i);
            let more = match (peer, self.streams.get_mut(i).and_then(Option::take)) {
                (Some(peer), Some(stream)) => {
                    if self.write_peer(cx, r, peer, &stream) {
                        self.streams[i] = Some(stream);
                        r.machine()
                            .connection(peer)
                            .is_some_and(|c| c.has_transmit())
                    } else {
                        let now = r.now();
                        r.machine().detach(peer, now);
                        false
                    }
                }
                (_, stream) => {
                    // Gone, or not connected: nothing of its output can be written here.
                    if let Some(stream) = stream {
                        self.streams[i] = Some(stream);
                    }
                    false
                }
            };
            if more {
                k += 1;
            } else {
                self.listed[i] = false;
                self.to_write.swap_remove(k);
            }
        }
    }

    /// Writes to one peer until it would block; false if the stream is finished.
    fn write_peer(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut Round<'_>,
        peer: PeerId,
        stream: &Stream,
    ) -> bool {
        while r
            .machine()
            .connection(peer)
            .is_some_and(|c| c.has_transmit())
        {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let n = r
                .machine()
                .connection(peer)
                .map_or(0, |c| c.transmit_chunks(&mut iov));
            // Write first, ask for readiness only when the socket is full (as for reads).
            match stream.try_write_vectored(&iov[..n]) {
                Ok(0) => {
                    tracing::debug!("write made no progress");
                    return false;
                }
                Ok(written) => {
                    if let Some(ps) = r.machine().bytes(peer) {
                        ps.advance_transmit(written);
                    }
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
