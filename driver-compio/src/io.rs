//! The socket's I/O on compio: every operation and the rounds that move their bytes.
//!
//! The handle and the driver task share the machine and every I/O operation through an
//! `Rc<RefCell<_>>` (compio runs every task of a runtime on one thread: no lock, no
//! channel): one persistent accept per listener, one dial per connecting peer, and per
//! connected peer one read and at most one write in flight. Nothing is ever dropped in flight
//! except on purpose (a peer being closed, an unbound listener, the end of the socket), because
//! dropping a compio operation cancels it and loses what the kernel already delivered.
//!
//! Each connected peer has two long-lived operation slots (`OpSlot`, in `ops.rs`), one for
//! reading and one for writing: a slot keeps its operation's future in place from one operation to the next (no
//! allocation per operation) and a waker of its own, which records the peer in a ready list
//! when the operation completes. A round of work polls only the peers on that list, so a round
//! costs the same with one peer or a thousand. Accepts and dials are rare and live in a
//! [`FuturesUnordered`].
//!
//! Rounds run on the driver task, and also on the application's task just before `recv` (or
//! `send` at the high-water mark) would wait: the request it just
//! queued is submitted without a task switch, and a completion that arrives while the
//! application waits wakes the application, which handles it itself, as well as the driver
//! task, which keeps everything moving when the application is elsewhere (the protocol is
//! `zmtp_async`'s: every slot's waker reports to the socket's [`Signal`]).
//!
//! Reads go straight into the machine's arena ([`PeerBytes::take_read_buf`] lends its free
//! space as an owned `BytesMut`, [`PeerBytes::give_read_buf`] takes it back without a copy).
//! Writes take everything pending with [`PeerBytes::take_transmit`] and hand it to the socket with one
//! non-blocking `sendmsg`; what the socket does not take at once goes out as one io_uring
//! vectored write, and new messages pile up in the machine behind a write in flight and go out
//! together when it completes (a lone message leaves at once, a burst leaves in few writes).
//!
//! [`PeerBytes::take_read_buf`]: zmtp_proto::PeerBytes::take_read_buf
//! [`PeerBytes::give_read_buf`]: zmtp_proto::PeerBytes::give_read_buf
//! [`PeerBytes::take_transmit`]: zmtp_proto::PeerBytes::take_transmit
//! [`Signal`]: zmtp_async::Signal

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use compio::buf::BufResult;
use futures_util::stream::{FuturesUnordered, StreamExt};
use zmtp_async::{remove_bound, Io, MonitorEvent, Round, Signal};
use zmtp_proto::Endpoint;
use zmtp_proto::{Action, PeerId};

use crate::ops::{
    accept_op, dial_op, read_op, write_op, AcceptOrDial, AcceptedOrDialled, OpSlot, ReadOpSlot,
    Ready, Stop, WriteOpSlot,
};
use crate::transport::{Listener, Stream, DIRECT_IOV};

/// Most buffers handed to one vectored write (Linux's `IOV_MAX`).
const MAX_IOV: usize = 1024;
/// Rounds of work per poll before the driver lets other tasks run.
const ROUNDS_PER_POLL: usize = 32;

/// A listener as the handle sees it. Dropping it (unbind, close) stops its accept, which
/// closes the listening socket, and removes its ipc file.
struct Bound {
    endpoint: String,
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

/// The I/O of one connected peer.
struct PeerIo {
    peer: PeerId,
    /// The stream for reading; `None` while a read is in flight.
    reader: Option<Stream>,
    /// The stream for writing; `None` while a write is in flight.
    writer: Option<Stream>,
    read: ReadOpSlot,
    write: WriteOpSlot,
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

/// Every I/O operation of one socket on compio, apart from its timer.
pub struct CompioIo {
    /// Listeners as the handle sees them (dropping one stops its accept).
    listeners: Vec<Bound>,
    /// Listeners bound since the driver task last ran; it starts accepting on them.
    new_listeners: Vec<(Listener, Stop, Rc<str>)>,
    /// Accepts and dials.
    ops: FuturesUnordered<AcceptOrDial>,
    /// Connected peers by [`PeerId::index`].
    peers: Vec<Option<PeerIo>>,
    /// Detached peers finishing a write (best effort) before their stream closes.
    closing: Vec<PeerIo>,
    /// Indices of peers whose reading is paused.
    paused: Vec<usize>,
    ready: Arc<Ready>,
    /// The ready list being worked through.
    batch: Vec<usize>,
}

impl std::fmt::Debug for CompioIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompioIo")
            .field("listeners", &self.listeners.len())
            .field("peers", &self.peers.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

impl Io for CompioIo {
    type Listener = (Listener, Option<PathBuf>);

    fn add_listener(&mut self, (listener, ipc_path): Self::Listener, endpoint: &str) {
        let stop = Stop::default();
        self.new_listeners
            .push((listener, stop.clone(), endpoint.into()));
        self.listeners.push(Bound {
            endpoint: endpoint.to_owned(),
            stop,
            ipc_path,
        });
    }

    fn unbind(&mut self, endpoint: &str) -> bool {
        remove_bound(&mut self.listeners, endpoint, |b| &b.endpoint)
    }

    /// Everything that does not wait, until nothing is left or the budget of
    /// `ROUNDS_PER_POLL` passes is spent.
    fn round(&mut self, r: &mut Round<'_>, mut driver: Option<&mut Context<'_>>) -> bool {
        if let Some(cx) = driver.as_deref_mut() {
            for (listener, stop, endpoint) in self.new_listeners.drain(..) {
                self.ops.push(accept_op(listener, stop, endpoint, false));
            }
            let quiet = r.is_quiet(!self.paused.is_empty());
            // Woken by `send` or `recv` for work an inline round has done by now, or by an
            // accept or dial: only those are polled.
            if quiet && !self.poll_ops(r, cx) {
                return false;
            }
        }
        for _ in 0..ROUNDS_PER_POLL {
            self.run_actions(r);
            self.resume_reads(r);
            while let Some(peer) = r.machine().poll_transmit() {
                self.write(r, peer.index());
            }
            // New operations are submitted here, on their first poll; what completes may
            // produce output, actions or new operations for the next pass.
            let mut completed = self.poll_peers(r);
            if let Some(cx) = driver.as_deref_mut() {
                completed |= self.poll_ops(r, cx);
            }
            if !completed {
                return false;
            }
        }
        true
    }

    /// Submits what the machine has to send at once where the peer has no write in flight
    /// (one in flight takes it along when it completes).
    fn flush(&mut self, r: &mut Round<'_>) -> bool {
        let mut started = false;
        while let Some(peer) = r.machine().poll_transmit() {
            started |= self.write(r, peer.index());
        }
        // Polling the new write submits it; anything else that completed meanwhile is
        // handled too, and then the driver task finishes the job (wakes, events, output).
        started && self.poll_peers(r)
    }

    fn has_paused_reads(&self) -> bool {
        !self.paused.is_empty()
    }

    fn is_flushed(&self) -> bool {
        self.peers.iter().flatten().all(PeerIo::is_flushed)
    }

    fn finish(&mut self) {
        // Dropping the operations cancels them; dropping the streams closes them.
        self.ops = FuturesUnordered::new();
        self.peers.clear();
        self.closing.clear();
        self.paused.clear();
        self.listeners.clear();
        self.new_listeners.clear();
    }
}

impl CompioIo {
    pub(crate) fn new(signal: &Arc<Signal>) -> Self {
        Self {
            listeners: Vec::new(),
            new_listeners: Vec::new(),
            ops: FuturesUnordered::new(),
            peers: Vec::new(),
            closing: Vec::new(),
            paused: Vec::new(),
            ready: Arc::new(Ready {
                list: Mutex::default(),
                signal: signal.clone(),
            }),
            batch: Vec::new(),
        }
    }

    /// Polls accepts and dials (driver task only).
    fn poll_ops(&mut self, r: &mut Round<'_>, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while let Poll::Ready(Some(done)) = self.ops.poll_next_unpin(cx) {
            self.complete(r, done);
            progress = true;
        }
        progress
    }

    /// Polls the peer operations whose wakers fired. Returns true if any completed.
    fn poll_peers(&mut self, r: &mut Round<'_>) -> bool {
        let mut progress = false;
        let mut batch = std::mem::take(&mut self.batch);
        while self.ready.take(&mut batch) {
            for index in batch.drain(..) {
                progress |= self.poll_peer(r, index);
            }
            if !self.closing.is_empty() {
                progress |= self.poll_closing();
            }
        }
        self.batch = batch;
        progress
    }

    fn poll_peer(&mut self, r: &mut Round<'_>, index: usize) -> bool {
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
                    let now = r.now();
                    if let Some(ps) = r.machine().bytes(peer) {
                        ps.give_read_buf(buf, now);
                    }
                    self.read(r, index);
                }
                BufResult(Ok(_), _) => {
                    self.close_peer(r, peer, false);
                    return true;
                }
                BufResult(Err(error), _) => {
                    tracing::debug!(%error, "read failed");
                    self.close_peer(r, peer, false);
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
                    self.write(r, index);
                }
                Ok(_) => {
                    tracing::debug!("write made no progress");
                    let peer = io.peer;
                    self.close_peer(r, peer, false);
                }
                Err(error) => {
                    tracing::debug!(%error, "write failed");
                    let peer = io.peer;
                    self.close_peer(r, peer, false);
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

    fn run_actions(&mut self, r: &mut Round<'_>) {
        while let Some(action) = r.machine().poll_action() {
            match action {
                Action::Dial { peer, endpoint } => match Endpoint::parse_dial(&endpoint) {
                    Ok(ep) => {
                        let tcp = zmtp_async::net::TcpSettings::from(r.machine().options());
                        self.ops.push(dial_op(peer, ep, tcp));
                        // The driver task polls it (this may be a round run inline).
                        r.notify_driver();
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot dial");
                        r.dial_failed(
                            peer,
                            &std::io::Error::new(std::io::ErrorKind::InvalidInput, error),
                        );
                    }
                },
                Action::Close { peer } => self.close_peer(r, peer, true),
            }
        }
    }

    fn complete(&mut self, r: &mut Round<'_>, done: AcceptedOrDialled) {
        match done {
            AcceptedOrDialled::Accepted {
                listener,
                stop,
                endpoint,
                result,
            } => match result {
                None => {}
                Some(Ok(stream)) => {
                    let remote = match &stream {
                        Stream::Tcp(s) => s.peer_addr().ok(),
                        Stream::Unix(_) => None,
                    };
                    let peer = r.accepted(&endpoint, remote);
                    self.add_peer(r, peer, stream);
                    self.ops.push(accept_op(listener, stop, endpoint, false));
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "accept failed");
                    r.push_monitor(MonitorEvent::AcceptFailed {
                        endpoint: endpoint.to_string(),
                        error: error.to_string(),
                    });
                    self.ops.push(accept_op(listener, stop, endpoint, true));
                }
            },
            AcceptedOrDialled::Dialled { peer, result } => match result {
                Ok(stream) => {
                    let now = r.now();
                    r.machine().attach(peer, now);
                    let taken = self.peers.get(peer.index()).is_some_and(Option::is_some);
                    if r.machine().is_attached(peer) && !taken {
                        self.add_peer(r, peer, stream);
                    }
                }
                Err(error) => {
                    r.dial_failed(peer, &error);
                }
            },
        }
    }

    fn add_peer(&mut self, r: &mut Round<'_>, peer: PeerId, stream: Stream) {
        let index = peer.index();
        if self.peers.len() <= index {
            self.peers.resize_with(index + 1, || None);
        }
        if let Some(old) = self.peers[index].as_ref().map(|io| io.peer) {
            // Cannot happen while every detach goes through `close_peer`; stay safe anyway.
            self.close_peer(r, old, false);
        }
        self.peers[index] = Some(PeerIo {
            peer,
            reader: Some(stream.clone()),
            writer: Some(stream),
            read: OpSlot::new(read_op, index, &self.ready),
            write: OpSlot::new(write_op, index, &self.ready),
            backlog: Vec::new(),
            spare: Vec::new(),
            paused: false,
        });
        self.read(r, index);
    }

    /// Starts a read for the peer at `index` unless one is in flight or the machine wants
    /// none (receive high-water mark: the peer is then remembered as paused).
    fn read(&mut self, r: &mut Round<'_>, index: usize) {
        let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let Some(stream) = io.reader.take() else {
            return;
        };
        let buf = if r
            .machine()
            .connection(io.peer)
            .is_some_and(|c| c.wants_read())
        {
            r.machine().bytes(io.peer).map(|mut ps| ps.take_read_buf())
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
    fn resume_reads(&mut self, r: &mut Round<'_>) {
        if self.paused.is_empty() {
            return;
        }
        for index in std::mem::take(&mut self.paused) {
            let Some(io) = self.peers.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            io.paused = false;
            let peer = io.peer;
            self.read(r, index);
            if r.machine()
                .connection(peer)
                .is_some_and(|c| c.has_transmit())
            {
                self.write(r, index);
            }
        }
    }

    /// Starts a write of everything pending for the peer at `index`, unless one is in flight
    /// (its completion starts the next). True if a write was started.
    fn write(&mut self, r: &mut Round<'_>, index: usize) -> bool {
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
            if let Some(ps) = r.machine().bytes(io.peer) {
                ps.take_transmit(&mut bufs);
            }
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
    fn close_peer(&mut self, r: &mut Round<'_>, peer: PeerId, flush: bool) {
        let slot = self
            .peers
            .get_mut(peer.index())
            .filter(|slot| slot.as_ref().is_some_and(|io| io.peer == peer));
        let Some(mut io) = slot.and_then(Option::take) else {
            let now = r.now();
            r.machine().detach(peer, now);
            return;
        };
        // Dropped on purpose: cancelled in the kernel.
        io.read.op.cancel();
        if flush {
            if let Some(ps) = r.machine().bytes(peer) {
                ps.take_transmit(&mut io.backlog);
            }
        } else {
            io.backlog.clear();
        }
        let now = r.now();
        r.machine().detach(peer, now);
        // A write in flight finishes first; its completion writes the rest.
        if io.write.op.is_busy() || io.write_backlog() {
            self.closing.push(io);
        }
    }
}
