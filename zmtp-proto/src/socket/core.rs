//! What every socket type shares: the peer slab, per-peer send queues with high-water marks,
//! round-robin and fair-queue scheduling, reconnection timers and the lists that tell a driver
//! which peers have work. The slab itself is in `core/slab.rs`, the timer heap and closing in
//! `core/timers.rs`; the message movers ([`Outgoing`], [`Target`]) in `transfer.rs`.

mod slab;
mod timers;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::options::SocketOptions;
use super::transfer::{Outgoing, Target};
use super::{Action, PeerId, SocketEvent};
use crate::connection::{Connection, PeerInfo};
use crate::error::Error;
use crate::mechanism::curve::crypto::Keystream;
use crate::message::{Frame, Msg};
use crate::socket_type::SocketType;
use slab::{peer_in, SlabEntry};
use timers::next_backoff;

/// Bytes encoded ahead into a connection's output before further messages wait in the peer's
/// queue: enough for one large write, small enough that the high-water mark still means
/// something (`docs/benchmarks.md`, "Constants and the measurements behind them").
pub(crate) const OUTPUT_BATCH: usize = 256 * 1024;

/// One peer: a queue that may outlive its connections (connect side) plus the current
/// connection, if any.
#[derive(Debug)]
pub(crate) struct Peer {
    /// The live connection, if a transport is attached.
    pub(crate) conn: Option<Connection>,
    /// Where to dial, for peers we connected to.
    pub(crate) endpoint: Option<Arc<str>>,
    /// Where an accepted peer is, as the driver reported it (`Socket::set_remote`).
    pub(crate) remote: Option<Arc<str>>,
    /// Messages waiting for room in the connection's output (the "pipe").
    pub(crate) out: VecDeque<Msg>,
    /// Messages decoded from a connection that is gone, still to be delivered.
    pub(crate) stranded_in: VecDeque<Msg>,
    /// The peer, once its handshake succeeded on the current connection.
    pub(crate) info: Option<PeerInfo>,
    /// Whether the peer takes outgoing messages (in the round-robin set).
    pub(crate) routable: bool,
    /// The identity a ROUTER knows this peer by.
    pub(crate) routing_id: Frame,
    /// The socket ignores this connection: what it sends is dropped as it is decoded (a
    /// ROUTER's peer whose identity another peer holds). Cleared when the transport goes.
    pub(crate) ignored: bool,
    in_fair_queue: bool,
    in_tx: bool,
    scheduled: Option<Instant>,
    redial_at: Option<Instant>,
    pub(crate) backoff: Duration,
    dialing: bool,
    close_requested: bool,
    /// The peer is gone but undelivered messages keep its slab entry alive.
    zombie: bool,
    /// Matching epoch, used to visit each PUB subscriber once per message.
    pub(crate) epoch: u64,
    /// ROUTER with `router_notify` disconnect: when the transport goes, an empty message
    /// follows the peer's last one (see [`Core::detach`]).
    pub(crate) notify_on_detach: bool,
    /// The peer is in this process (`inproc://`): its actions and output are listed apart
    /// from the byte streams' (see `messages.rs`).
    pub(crate) inproc: bool,
}

impl Peer {
    fn new(endpoint: Option<Arc<str>>) -> Self {
        Self {
            conn: None,
            endpoint,
            remote: None,
            out: VecDeque::new(),
            stranded_in: VecDeque::new(),
            info: None,
            routable: false,
            routing_id: Frame::new(),
            ignored: false,
            in_fair_queue: false,
            in_tx: false,
            scheduled: None,
            redial_at: None,
            backoff: Duration::ZERO,
            dialing: false,
            close_requested: false,
            zombie: false,
            epoch: 0,
            notify_on_detach: false,
            inproc: false,
        }
    }

    fn has_inbound(&self) -> bool {
        !self.stranded_in.is_empty() || self.conn.as_ref().is_some_and(|c| c.inbound_len() > 0)
    }
}

/// State shared by all socket types.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) socket_type: SocketType,
    pub(crate) options: SocketOptions,
    slab: Vec<SlabEntry>,
    free: Vec<u32>,
    /// Peers in round-robin order for outgoing messages.
    pub(crate) round_robin: Vec<PeerId>,
    round_robin_cursor: usize,
    /// Peers with decoded messages, in fair-queue order.
    fair_queue: VecDeque<PeerId>,
    tx_ready: VecDeque<PeerId>,
    /// In-process peers with output or a credit report (see `messages.rs`).
    pub(crate) inproc_ready: VecDeque<PeerId>,
    /// Actions for in-process peers (see `messages.rs`).
    pub(crate) inproc_actions: VecDeque<Action>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    pub(crate) actions: VecDeque<Action>,
    pub(crate) events: VecDeque<SocketEvent>,
    pub(crate) now: Instant,
    pub(crate) epoch: u64,
    /// Peers whose decoding resumed while a message was taken (it had paused at the receive
    /// high-water mark) and left events or output that the socket must still process.
    pub(crate) resumed: Vec<PeerId>,
    linger_deadline: Option<Instant>,
    closing: bool,
    /// Set when a peer's encoded output reached a full batch: see `Socket::take_flush_hint`.
    pub(crate) flush_hint: bool,
    /// Where bodies sent with `Socket::send_slice` are copied when they must wait in a peer's
    /// queue (see [`Copied`]).
    spill: BytesMut,
    /// The socket's generator, seeded by the driver: 32 bytes for each CURVE connection.
    rng: Option<Keystream>,
}

impl Core {
    pub(crate) fn new(socket_type: SocketType, options: SocketOptions, now: Instant) -> Self {
        Self {
            socket_type,
            options,
            slab: Vec::new(),
            free: Vec::new(),
            round_robin: Vec::new(),
            round_robin_cursor: 0,
            fair_queue: VecDeque::new(),
            tx_ready: VecDeque::new(),
            inproc_ready: VecDeque::new(),
            inproc_actions: VecDeque::new(),
            timers: BinaryHeap::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            now,
            epoch: 0,
            resumed: Vec::new(),
            linger_deadline: None,
            closing: false,
            flush_hint: false,
            spill: BytesMut::new(),
            rng: None,
        }
    }

    /// New options (checked by the caller); connections made from now on use them.
    pub(crate) fn replace_options(&mut self, options: SocketOptions) {
        self.options = options;
    }

    /// Seeds the generator CURVE connections draw their entropy from.
    pub(crate) fn seed_rng(&mut self, seed: [u8; 32]) {
        self.rng = Some(Keystream::new(&seed));
    }

    /// A new connection, with entropy from the socket's generator when its mechanism needs
    /// some (without a seed, a CURVE connection fails at once: see `Connection::new`).
    fn new_connection(&mut self) -> Connection {
        let config = self.options.connection.clone();
        match self.rng.as_mut() {
            Some(rng) if config.mechanism.needs_entropy() => {
                let mut entropy = zeroize::Zeroizing::new([0; 32]);
                rng.fill(&mut entropy[..]);
                Connection::with_entropy(self.socket_type, config, self.now, *entropy)
            }
            _ => Connection::new(self.socket_type, config, self.now),
        }
    }

    // ---- topology -------------------------------------------------------------------------

    pub(crate) fn add_connect(&mut self, endpoint: Arc<str>) -> PeerId {
        let mut peer = Peer::new(Some(endpoint.clone()));
        peer.dialing = true;
        peer.inproc = crate::endpoint::is_inproc(&endpoint);
        let id = self.insert(peer);
        self.push_action(Action::Dial { peer: id, endpoint });
        id
    }

    /// Where peer `id` is: the endpoint dialled, or the address reported for an accepted peer.
    pub(crate) fn remote_of(&self, id: PeerId) -> Option<Arc<str>> {
        let p = self.peer(id)?;
        p.remote.clone().or_else(|| p.endpoint.clone())
    }

    /// Queues an action for the driver, or for the in-process transport if its peer is one.
    fn push_action(&mut self, action: Action) {
        let (Action::Dial { peer, .. } | Action::Close { peer }) = action;
        if self.peer(peer).is_some_and(|p| p.inproc) {
            self.inproc_actions.push_back(action);
        } else {
            self.actions.push_back(action);
        }
    }

    /// Adds a peer for an in-process connection made to a name we bound.
    pub(crate) fn add_accepted_inproc(&mut self, conn: Connection) -> PeerId {
        let mut peer = Peer::new(None);
        peer.conn = Some(conn);
        peer.inproc = true;
        self.insert(peer)
    }

    /// The in-process connection for the connect-side peer `id` is made; false if the peer is
    /// gone or connected already.
    pub(crate) fn attach_conn(&mut self, id: PeerId, conn: Connection) -> bool {
        if !self.awaits_connection(id) {
            return false;
        }
        let p = self.peer_mut(id).expect("checked above");
        p.dialing = false;
        p.close_requested = false;
        p.ignored = false;
        p.conn = Some(conn);
        let endpoint = p.endpoint.clone().expect("connect side");
        self.events
            .push_back(SocketEvent::Connected { peer: id, endpoint });
        true
    }

    pub(crate) fn add_accepted(&mut self) -> PeerId {
        let mut peer = Peer::new(None);
        peer.conn = Some(self.new_connection());
        self.insert(peer)
    }

    pub(crate) fn attach(&mut self, id: PeerId) -> bool {
        // Checked before the connection is made, so that a stale dial builds none.
        if !self.awaits_connection(id) {
            return false;
        }
        let conn = self.new_connection();
        self.attach_conn(id, conn)
    }

    /// True if `id` is a connect-side peer without a connection.
    fn awaits_connection(&self, id: PeerId) -> bool {
        self.peer(id)
            .is_some_and(|p| p.conn.is_none() && p.endpoint.is_some())
    }

    pub(crate) fn dial_failed(&mut self, id: PeerId, mut error: Error) {
        let now = self.now;
        let (ivl, max) = (self.options.reconnect_ivl, self.options.reconnect_ivl_max);
        let Some(p) = self.peer_mut(id) else { return };
        if !p.dialing {
            return;
        }
        p.dialing = false;
        let delay = next_backoff(&mut p.backoff, ivl, max);
        p.redial_at = Some(now + delay);
        let endpoint = p.endpoint.clone().expect("connect side");
        if let Error::Endpoint {
            endpoint: named, ..
        } = &mut error
        {
            if named.is_empty() {
                named.push_str(&endpoint);
            }
        }
        self.events.push_back(SocketEvent::ConnectRetried {
            peer: id,
            endpoint,
            delay,
            error,
        });
        self.schedule(id);
    }

    /// The transport is gone. Connect-side peers keep their queue and are redialled (while
    /// closing, only if something is queued for them); accepted peers are removed (after their undelivered messages, if any, are taken), so the socket
    /// type must forget the peer before this.
    pub(crate) fn detach(&mut self, id: PeerId) {
        let now = self.now;
        let (ivl, max) = (self.options.reconnect_ivl, self.options.reconnect_ivl_max);
        let immediate = self.options.immediate;
        let reconnect_stop = self.options.reconnect_stop;
        let closing = self.closing;
        let Some(p) = self.peer_mut(id) else { return };
        let Some(mut conn) = p.conn.take() else {
            return;
        };
        let was_active = conn.is_active();
        let ignored = std::mem::take(&mut p.ignored);
        while let Some(m) = conn.poll_message() {
            if !ignored {
                p.stranded_in.push_back(m);
            }
        }
        if std::mem::take(&mut p.notify_on_detach) {
            // `router_notify`: the empty message after the peer's last one.
            p.stranded_in.push_back(Msg::from(Frame::new()));
        }
        let error = conn.error().cloned().unwrap_or(Error::Closed);
        p.info = None;
        let already_reported = conn.error().is_some();
        let connect_side = p.endpoint.is_some();
        // `reconnect_stop`: after an established connection, or after a failed handshake.
        let stop = if was_active {
            reconnect_stop & SocketOptions::RECONNECT_STOP_AFTER_DISCONNECT != 0
        } else {
            already_reported && reconnect_stop & SocketOptions::RECONNECT_STOP_HANDSHAKE_FAILED != 0
        };
        let remote = p.remote.clone().or_else(|| p.endpoint.clone());
        // A closing socket redials only for what it still has to deliver (libzmq keeps
        // trying for the linger period); otherwise the peer goes.
        let redial = connect_side && !stop && (!closing || !p.out.is_empty());
        if redial {
            let delay = if was_active {
                p.backoff = Duration::ZERO;
                next_backoff(&mut p.backoff, ivl, max)
            } else {
                next_backoff(&mut p.backoff, ivl, max)
            };
            p.redial_at = Some(now + delay);
        }
        let unroutable = !connect_side || immediate || stop;
        let zombie = (!connect_side || stop) && !p.stranded_in.is_empty();
        if !already_reported {
            self.events
                .push_back(SocketEvent::ended(was_active, id, error, remote));
        }
        if unroutable {
            self.set_routable(id, false);
        }
        if redial {
            self.schedule(id);
            // A notification (`router_notify`, STREAM) may wait in its stranded queue.
            self.mark_readable(id);
        } else if zombie {
            let p = self.peer_mut(id).expect("live");
            p.zombie = true;
            p.out.clear();
            self.mark_readable(id);
        } else {
            self.remove(id);
        }
    }

    /// Stops listening to `id` while its connection stays open: what it decoded so far stays
    /// deliverable (moved to its stranded queue), what it decodes later is dropped (see
    /// [`Core::discard_input`]) and nothing more is routed to it. The caller processes the peer's events:
    /// taking the messages may have resumed its decoder.
    pub(crate) fn ignore(&mut self, id: PeerId) {
        let Some(p) = self.peer_mut(id) else { return };
        p.ignored = true;
        if let Some(conn) = p.conn.as_mut() {
            while let Some(m) = conn.poll_message() {
                p.stranded_in.push_back(m);
            }
            conn.take_resumed();
        }
        self.set_routable(id, false);
        self.mark_readable(id);
    }

    /// Drops what the connection of `id` decoded (the input of an ignored peer); its stranded
    /// messages stay.
    pub(crate) fn discard_input(&mut self, id: PeerId) {
        if let Some(conn) = self.peer_mut(id).and_then(|p| p.conn.as_mut()) {
            while conn.poll_message().is_some() {}
            conn.take_resumed();
        }
    }

    pub(crate) fn disconnect(&mut self, id: PeerId) {
        if let Some(p) = self.peer_mut(id) {
            if p.conn.is_some() && !p.close_requested {
                p.close_requested = true;
                self.push_action(Action::Close { peer: id });
            }
        }
        self.remove(id);
    }

    // ---- routing helpers ------------------------------------------------------------------

    pub(crate) fn set_routable(&mut self, id: PeerId, routable: bool) {
        let Some(p) = self.peer_mut(id) else { return };
        if p.routable == routable {
            return;
        }
        p.routable = routable;
        if routable {
            self.round_robin.push(id);
        } else {
            self.round_robin_remove(id);
        }
    }

    fn round_robin_remove(&mut self, id: PeerId) {
        if let Some(i) = self.round_robin.iter().position(|&x| x == id) {
            self.round_robin.remove(i);
            if self.round_robin_cursor > i {
                self.round_robin_cursor -= 1;
            }
            if self.round_robin_cursor >= self.round_robin.len() {
                self.round_robin_cursor = 0;
            }
        }
    }

    /// True if the peer's queue is at the send high-water mark.
    pub(crate) fn is_full(&self, id: PeerId) -> bool {
        let hwm = self.options.sndhwm;
        self.peer(id)
            .is_none_or(|p| hwm != 0 && p.out.len() >= hwm && !self.options.connection.conflate)
    }

    /// The next peer in round-robin order that can take a message, advancing the cursor.
    pub(crate) fn round_robin_next(&mut self) -> Option<PeerId> {
        let n = self.round_robin.len();
        let mut i = self.round_robin_cursor;
        for _ in 0..n {
            let id = self.round_robin[i];
            i += 1;
            if i == n {
                i = 0;
            }
            if !self.is_full(id) {
                self.round_robin_cursor = i;
                return Some(id);
            }
        }
        None
    }

    /// Like [`Core::round_robin_next`], but a lone peer is picked without checking its high-water mark
    /// (for a caller whose `enqueue` checks it anyway).
    pub(crate) fn round_robin_pick(&mut self) -> Option<PeerId> {
        if self.round_robin.len() == 1 {
            return Some(self.round_robin[0]);
        }
        self.round_robin_next()
    }

    /// Sends to the next peer in round-robin order that has room. Hands the message back when
    /// every peer is at its high-water mark (or there is none).
    pub(crate) fn send_round_robin<M: Outgoing>(&mut self, msg: M) -> Result<(), M> {
        if self.round_robin.len() == 1 {
            // One peer: no rotation, and its high-water mark is checked once, by `enqueue`.
            let id = self.round_robin[0];
            return self.enqueue(id, msg);
        }
        match self.round_robin_next() {
            Some(id) => self.enqueue(id, msg),
            None => Err(msg),
        }
    }

    /// True if round-robin would find a peer with room.
    pub(crate) fn round_robin_has_room(&self) -> bool {
        self.round_robin.iter().any(|&id| !self.is_full(id))
    }

    /// Queues a message to a peer (or encodes it at once when nothing waits before it).
    /// Returns the message if the peer is gone or at its high-water mark.
    pub(crate) fn enqueue<M: Outgoing>(&mut self, id: PeerId, msg: M) -> Result<(), M> {
        let hwm = self.options.sndhwm;
        let conflate = self.options.connection.conflate;
        // One slab lookup for the whole operation; `tx_ready` is a separate field.
        let Some(p) = peer_in(&mut self.slab, id) else {
            return Err(msg);
        };
        if hwm != 0 && p.out.len() >= hwm && !conflate {
            return Err(msg);
        }
        match p.conn.as_mut() {
            Some(conn)
                if p.out.is_empty()
                    && p.info.is_some()
                    && conn.is_active()
                    && conn.has_room(OUTPUT_BATCH) =>
            {
                if p.inproc {
                    // Moved whole, never encoded.
                    let _ = conn.send_owned(msg.into_msg(&mut self.spill));
                } else {
                    if msg.send_on(conn).is_err() {
                        return Err(msg);
                    }
                    msg.encoded();
                }
            }
            _ => {
                if conflate {
                    p.out.clear();
                }
                p.out.push_back(msg.into_msg(&mut self.spill));
            }
        }
        if let Some(conn) = p.conn.as_ref() {
            let pending = conn.transmit_len();
            if pending >= OUTPUT_BATCH {
                self.flush_hint = true;
            }
            if !p.in_tx && pending > 0 {
                p.in_tx = true;
                if p.inproc {
                    self.inproc_ready.push_back(id);
                } else {
                    self.tx_ready.push_back(id);
                }
            }
        }
        Ok(())
    }

    /// Marks a peer as having output if it has.
    pub(crate) fn after_output(&mut self, id: PeerId) {
        let Some(p) = self.peer_mut(id) else { return };
        if !p.in_tx && p.conn.as_ref().is_some_and(Connection::has_transmit) {
            p.in_tx = true;
            if p.inproc {
                self.inproc_ready.push_back(id);
            } else {
                self.tx_ready.push_back(id);
            }
        }
    }

    fn mark_readable(&mut self, id: PeerId) {
        let Some(p) = self.peer_mut(id) else { return };
        if !p.in_fair_queue && p.has_inbound() {
            p.in_fair_queue = true;
            self.fair_queue.push_back(id);
        }
    }

    /// True if no peer has messages waiting (the test a receive starts with, inlined).
    #[inline]
    pub(crate) fn nothing_inbound(&self) -> bool {
        self.fair_queue.is_empty()
    }

    /// Drops every message waiting (REQ's stale replies); cheap when there is none.
    #[inline]
    pub(crate) fn drop_inbound(&mut self) {
        if self.nothing_inbound() {
            return;
        }
        while self.next_inbound(&mut None, |_| ()).is_some() {}
    }

    /// Takes the next message in fair-queue order (one message per peer per turn) into
    /// `target`, also reading something of the peer it comes from (before a zombie peer's slab entry
    /// is freed with its last message); returns that peer.
    pub(crate) fn next_inbound<T>(
        &mut self,
        target: &mut impl Target,
        mut read: impl FnMut(&Peer) -> T,
    ) -> Option<(PeerId, T)> {
        let alone = self.fair_queue.len() == 1;
        while let Some(&id) = self.fair_queue.front() {
            // `peer_in` leaves `fair_queue` and `resumed` borrowable while the peer is.
            let Some(p) = peer_in(&mut self.slab, id) else {
                self.fair_queue.pop_front();
                continue;
            };
            let extra = read(p);
            let got = if p.stranded_in.is_empty() {
                p.conn.as_mut().is_some_and(|c| target.take_from(id, c))
            } else {
                p.stranded_in.pop_front().is_some_and(|m| target.put(id, m))
            };
            let more = p.has_inbound();
            // Taking a message may have resumed a decoder paused at the receive high-water
            // mark, which may have produced events or output the socket must still process.
            let unprocessed = p.conn.as_mut().is_some_and(Connection::take_resumed)
                && p.conn
                    .as_ref()
                    .is_some_and(|c| c.has_events() || (c.has_transmit() && !p.in_tx));
            if unprocessed && !self.resumed.contains(&id) {
                self.resumed.push(id);
            }
            if alone && more && got {
                // The only readable peer stays at the front: no rotation to do.
                return Some((id, extra));
            }
            // Rotate: a peer with more messages goes to the back (it stays `in_fair_queue`).
            self.fair_queue.pop_front();
            if more {
                self.fair_queue.push_back(id);
            } else {
                p.in_fair_queue = false;
                if p.zombie {
                    self.remove(id);
                }
            }
            if got {
                return Some((id, extra));
            }
        }
        None
    }

    /// Takes the next message from one peer only (REQ waits on the peer it asked).
    pub(crate) fn inbound_from(&mut self, id: PeerId) -> Option<Msg> {
        let p = self.peer_mut(id)?;
        let msg = match p.stranded_in.pop_front() {
            Some(m) => Some(m),
            None => p.conn.as_mut().and_then(Connection::poll_message),
        };
        if p.zombie && !p.has_inbound() {
            self.remove(id);
        }
        msg
    }

    /// True if any peer has a decoded message.
    pub(crate) fn has_inbound(&self) -> bool {
        self.fair_queue
            .iter()
            .any(|&id| self.peer(id).is_some_and(Peer::has_inbound))
    }

    // ---- after any I/O on a peer ----------------------------------------------------------

    /// Bookkeeping after the connection of `id` changed: refill its output from the queue,
    /// note readable/writable state and re-arm its timer.
    ///
    /// This runs after every read and write, so it looks the peer up once: it moves queued
    /// messages into the connection while its output is below the batch size, and does the
    /// work of [`Core::mark_readable`] and [`Core::after_output`] inline ([`Core::schedule`]
    /// only when there is a deadline to keep).
    pub(crate) fn refresh_peer(&mut self, id: PeerId) {
        let Some(p) = peer_in(&mut self.slab, id) else {
            return;
        };
        if let Some(conn) = p.conn.as_mut() {
            if p.info.is_some() && !p.out.is_empty() {
                while conn.is_active() && conn.has_room(OUTPUT_BATCH) {
                    let Some(m) = p.out.pop_front() else { break };
                    if let Err(m) = conn.send_owned(m) {
                        p.out.push_front(m);
                        break;
                    }
                }
            }
            if !p.in_tx && conn.has_transmit() {
                p.in_tx = true;
                if p.inproc {
                    self.inproc_ready.push_back(id);
                } else {
                    self.tx_ready.push_back(id);
                }
            }
        }
        if !p.in_fair_queue && p.has_inbound() {
            p.in_fair_queue = true;
            self.fair_queue.push_back(id);
        }
        let conn_deadline = p.conn.as_ref().and_then(Connection::poll_timeout);
        if conn_deadline.is_none() && p.redial_at.is_none() && p.scheduled.is_none() {
            // Nothing to wait for (the usual case once a connection is up).
            if !self.timers.is_empty() {
                self.prune_timers();
            }
            return;
        }
        self.schedule(id);
    }

    pub(crate) fn request_close(&mut self, id: PeerId) {
        let Some(p) = self.peer_mut(id) else { return };
        if !p.close_requested {
            p.close_requested = true;
            self.push_action(Action::Close { peer: id });
        }
    }

    /// Pops the next peer with output to write.
    pub(crate) fn poll_transmit(&mut self) -> Option<PeerId> {
        self.pop_with_output(false)
    }

    /// Pops the next peer of one ready list (the byte streams', or the in-process one) that
    /// still has output; entries of peers gone or written out since are dropped.
    fn pop_with_output(&mut self, inproc: bool) -> Option<PeerId> {
        loop {
            let id = if inproc {
                self.inproc_ready.pop_front()
            } else {
                self.tx_ready.pop_front()
            }?;
            let Some(p) = self.peer_mut(id) else { continue };
            p.in_tx = false;
            if p.conn.as_ref().is_some_and(Connection::has_transmit) {
                return Some(id);
            }
        }
    }

    /// True if `poll_transmit` has a peer to hand out.
    #[inline]
    pub(crate) fn has_tx_ready(&self) -> bool {
        !self.tx_ready.is_empty() || !self.inproc_ready.is_empty()
    }

    /// Pops the next in-process peer with output or a credit report.
    pub(crate) fn poll_inproc_transmit(&mut self) -> Option<PeerId> {
        self.pop_with_output(true)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::socket::{PeerId, Socket, SocketOptions};
    use crate::SocketType;

    fn transfer(from: &mut Socket, pf: PeerId, to: &mut Socket, pt: PeerId, now: Instant) -> bool {
        let mut out = Vec::new();
        if let Some(view) = from.bytes(pf) {
            view.take_transmit(&mut out);
        }
        for chunk in &out {
            if let Some(view) = to.bytes(pt) {
                view.handle_input(chunk, now);
            }
        }
        !out.is_empty()
    }

    #[test]
    fn no_deadline_once_the_handshake_is_done() {
        let now = Instant::now();
        let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
        let mut pull = Socket::new(SocketType::Pull, SocketOptions::default(), now);
        let a = push.connect("x", now);
        push.attach(a, now);
        let b = pull.accept(now);
        // The handshake deadline is armed while the greetings travel.
        assert!(push.poll_timeout().is_some() && pull.poll_timeout().is_some());
        while transfer(&mut push, a, &mut pull, b, now) | transfer(&mut pull, b, &mut push, a, now)
        {
        }
        assert!(pull.peer_info(b).is_some(), "handshake completed");
        // Nothing is due any more (no heartbeats): a driver need not keep a timer.
        assert_eq!(push.poll_timeout(), None);
        assert_eq!(pull.poll_timeout(), None);
    }
}
