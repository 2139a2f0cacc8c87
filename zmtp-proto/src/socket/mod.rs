//! Socket engines: [`Socket`] (its docs give the driving contract), the peers' views
//! ([`PeerBytes`], [`PeerMessages`]) and the routing of each socket type, one file each.

mod core;
mod hints;
mod idhash;
mod lifecycle;
mod messages;
mod options;
mod options_effects;
mod peer_bytes;
mod peer_events;
mod pipeline;
mod pubsub;
mod raw_peers;
mod reqrep;
mod router;
mod routing_ids;
mod transfer;
mod trie;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use messages::PeerMessages;
pub use options::SocketOptions;
pub use peer_bytes::PeerBytes;

use self::core::Core;
use crate::connection::{Connection, PeerInfo};
use crate::error::Error;
use crate::message::Msg;
use crate::socket_type::SocketType;

/// A handle to one peer of a socket. Stale handles (of removed peers) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    index: u32,
    generation: u32,
}

impl PeerId {
    /// A small number unique among the socket's live peers (for the driver's own tables).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a transport to `endpoint` for `peer`, then call [`Socket::attach`] or
    /// [`Socket::dial_failed`].
    Dial {
        /// The peer the transport is for.
        peer: PeerId,
        /// The endpoint given to [`Socket::connect`].
        endpoint: Arc<str>,
    },
    /// Write what is pending for `peer` (best effort), close its transport and call
    /// [`Socket::detach`].
    Close {
        /// The peer to close.
        peer: PeerId,
    },
}

/// Monitor events (libzmq's `zmq_socket_monitor` events that the machine knows about; drivers
/// add listening and accepted events of their own).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// A dialled transport was attached.
    Connected {
        /// The peer.
        peer: PeerId,
        /// Its endpoint.
        endpoint: Arc<str>,
    },
    /// A dial failed; the next attempt is scheduled after `delay`.
    ConnectRetried {
        /// The peer.
        peer: PeerId,
        /// Its endpoint.
        endpoint: Arc<str>,
        /// Delay before the next attempt.
        delay: Duration,
        /// Why the dial failed: an [`Error::Endpoint`] with the `io::ErrorKind` and the
        /// operating system's words (connection refused, a host name that does not resolve...).
        error: Error,
    },
    /// The handshake completed.
    HandshakeSucceeded {
        /// The peer.
        peer: PeerId,
        /// What the peer announced.
        info: PeerInfo,
        /// Where the peer is: the endpoint dialled, or for an accepted peer the address the
        /// driver reported ([`Socket::set_remote`]); `None` if it reported none.
        remote: Option<Arc<str>>,
    },
    /// The connection ended before its handshake completed.
    HandshakeFailed {
        /// The peer.
        peer: PeerId,
        /// Why.
        error: Error,
        /// Where the peer is: the endpoint dialled, or for an accepted peer the address the
        /// driver reported ([`Socket::set_remote`]); `None` if it reported none.
        remote: Option<Arc<str>>,
    },
    /// An established connection ended.
    Disconnected {
        /// The peer.
        peer: PeerId,
        /// Why.
        error: Error,
        /// Where the peer is: the endpoint dialled, or for an accepted peer the address the
        /// driver reported ([`Socket::set_remote`]); `None` if it reported none.
        remote: Option<Arc<str>>,
    },
    /// A PUB/XPUB refused a subscription: the peer already holds `max_subscriptions` topics
    /// ([`SocketOptions::max_subscriptions`]).
    SubscriptionRefused {
        /// The peer.
        peer: PeerId,
        /// The limit it reached.
        limit: usize,
        /// Where the peer is: the endpoint dialled, or for an accepted peer the address the
        /// driver reported ([`Socket::set_remote`]); `None` if it reported none.
        remote: Option<Arc<str>>,
    },
}

impl SocketEvent {
    /// The event for a connection that ended: [`SocketEvent::Disconnected`] if its handshake
    /// had completed, [`SocketEvent::HandshakeFailed`] if not.
    pub(crate) fn ended(
        was_active: bool,
        peer: PeerId,
        error: Error,
        remote: Option<Arc<str>>,
    ) -> Self {
        if was_active {
            Self::Disconnected {
                peer,
                error,
                remote,
            }
        } else {
            Self::HandshakeFailed {
                peer,
                error,
                remote,
            }
        }
    }
}

/// A message that `send` did not take, handed back with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// Why the message was not taken ([`Error::WouldBlock`] at the high-water mark).
    pub error: Error,
    /// The message, unchanged.
    pub msg: Msg,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SendError {}

/// Where generated ROUTER identities start when the options give no seed (deterministic, for
/// machines driven in tests; the async drivers always give a random one).
const FIXED_SEED: u32 = 0x5eed_1234;

/// Per-type state.
#[derive(Debug)]
enum Kind {
    Req(reqrep::Req),
    Rep(reqrep::Rep),
    Dealer,
    Router(router::Router),
    Pub(pubsub::Pub),
    Sub(pubsub::Sub),
    Push,
    Pull,
    Pair,
    Stream(raw_peers::RawPeers),
}

/// A ZeroMQ socket of one of the eleven standard types, without I/O: many connections behind
/// one socket, with the routing rules of each socket type (RFC 28–31, checklist §1.12).
///
/// A socket owns its peers, each addressed by a `Copy` [`PeerId`]. The driver attaches and
/// detaches transports and moves bytes; everything else — handshakes, queues, high-water marks,
/// round-robin, fair queuing, envelopes, identities, subscriptions, reconnection timing — happens
/// here, once, for every driver.
///
/// # Driving a socket
///
/// * Topology: [`Socket::connect`] creates a peer (and its queue) at once and asks for a dial
///   ([`Action::Dial`]); report the outcome with [`Socket::attach`] or
///   [`Socket::dial_failed`]. For an accepted stream call [`Socket::accept`]. When a transport
///   ends, call [`Socket::detach`]; the socket schedules the redial for connect-side peers.
/// * Bytes: per peer, through the view [`Socket::bytes`] hands out ([`PeerBytes`]):
///   [`PeerBytes::read_buf`] + [`PeerBytes::handle_read`] (or [`PeerBytes::take_read_buf`] +
///   [`PeerBytes::give_read_buf`], or [`PeerBytes::handle_input`]); [`Socket::poll_transmit`]
///   names peers with output, [`Socket::connection`] lends its slices
///   ([`Connection::transmit_chunks`]) and [`PeerBytes::advance_transmit`] (or
///   [`PeerBytes::take_transmit`]) reports what was written. In-process peers move whole
///   messages through [`Socket::messages`] instead.
/// * Application: [`Socket::send`], [`Socket::recv`], [`Socket::subscribe`],
///   [`Socket::unsubscribe`].
/// * After any call, drain [`Socket::poll_action`], [`Socket::poll_event`] and
///   [`Socket::poll_transmit`], then sleep until [`Socket::poll_timeout`] and call
///   [`Socket::handle_timeout`].
/// * Driver hints (see [`Socket::has_action`] and the methods after it): cheap questions and
///   one-shot flags that let a driver skip work; none changes the machine.
///
/// ```
/// use std::time::Instant;
/// use zmtp_proto::{Action, Socket, SocketOptions};
/// use zmtp_proto::{Msg, SocketType};
///
/// let now = Instant::now();
/// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
/// let peer = push.connect("tcp://127.0.0.1:5555", now);
/// // The queue exists before the connection does (libzmq semantics).
/// push.send(Msg::from("early")).unwrap();
/// assert!(matches!(push.poll_action(), Some(Action::Dial { .. })));
/// push.attach(peer, now); // the driver's dial succeeded
/// assert_eq!(push.poll_transmit(), Some(peer)); // our greeting is ready to write
/// ```
#[derive(Debug)]
pub struct Socket {
    core: Core,
    kind: Kind,
    expired: Vec<PeerId>,
    /// See [`Socket::take_decoding_resumed`].
    decoding_resumed: bool,
}

impl Socket {
    /// A socket of the given type. `now` is the current time.
    pub fn new(socket_type: SocketType, options: SocketOptions, now: Instant) -> Self {
        let kind = match socket_type {
            SocketType::Req => Kind::Req(reqrep::Req::default()),
            SocketType::Rep => Kind::Rep(reqrep::Rep::default()),
            SocketType::Dealer => Kind::Dealer,
            SocketType::Router => {
                Kind::Router(router::Router::new(options.seed.unwrap_or(FIXED_SEED)))
            }
            SocketType::Pub | SocketType::XPub => Kind::Pub(pubsub::Pub::default()),
            SocketType::Sub | SocketType::XSub => Kind::Sub(pubsub::Sub::default()),
            SocketType::Push => Kind::Push,
            SocketType::Pull => Kind::Pull,
            SocketType::Pair => Kind::Pair,
            SocketType::Stream => {
                Kind::Stream(raw_peers::RawPeers::new(options.seed.unwrap_or(FIXED_SEED)))
            }
        };
        Self {
            core: Core::new(socket_type, options, now),
            kind,
            expired: Vec::new(),
            decoding_resumed: false,
        }
    }

    /// Seeds the socket's generator (an XSalsa20 keystream, zeroed on drop) with 32 bytes from the OS's secure generator;
    /// each CURVE connection takes its entropy from it (the core reads no OS source itself).
    /// Drivers call it once, at creation; without it, CURVE connections fail at once.
    pub fn seed_rng(&mut self, seed: [u8; 32]) {
        self.core.seed_rng(seed);
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.core.socket_type
    }

    /// The socket's options.
    pub fn options(&self) -> &SocketOptions {
        &self.core.options
    }

    // ---- topology -------------------------------------------------------------------------

    /// Adds a peer to dial at `endpoint` (any string the driver understands). Its queue exists
    /// at once, so messages sent before the connection is up are delivered when it is (unless
    /// `immediate`). An [`Action::Dial`] follows.
    pub fn connect(&mut self, endpoint: impl Into<Arc<str>>, now: Instant) -> PeerId {
        self.core.now = now;
        let id = self.core.add_connect(endpoint.into());
        match &mut self.kind {
            Kind::Stream(raw) => raw.on_connect(&mut self.core, id),
            Kind::Router(router) => router.on_connect(&mut self.core, id),
            _ => {}
        }
        if !self.core.options.immediate && self.takes_unconnected_peers() {
            self.core.set_routable(id, true);
        }
        if !self.core.options.immediate {
            self.on_new_pipe(id);
        }
        id
    }

    fn takes_unconnected_peers(&self) -> bool {
        // Types whose outgoing routing picks a peer by round-robin queue to a connect-side peer
        // before its connection exists (libzmq attaches the pipe at connect time).
        matches!(
            self.kind,
            Kind::Req(_) | Kind::Dealer | Kind::Push | Kind::Pair
        )
    }

    /// Adds a peer for a transport the driver accepted.
    pub fn accept(&mut self, now: Instant) -> PeerId {
        self.core.now = now;
        let id = self.core.add_accepted();
        self.on_new_pipe(id);
        self.process_events(id);
        id
    }

    /// The dial for `peer` succeeded: a new connection starts its handshake.
    pub fn attach(&mut self, peer: PeerId, now: Instant) {
        self.core.now = now;
        if self.core.attach(peer) {
            self.process_events(peer);
        }
    }

    /// The dial for `peer` failed: the socket schedules another after `reconnect_ivl`. The
    /// [`SocketEvent::ConnectRetried`] says only that it failed; a driver that knows why
    /// calls [`Socket::dial_failed_because`].
    pub fn dial_failed(&mut self, peer: PeerId, now: Instant) {
        let error = Error::Endpoint {
            operation: crate::error::EndpointOp::Dial,
            endpoint: String::new(), // filled in with the peer's
            kind: std::io::ErrorKind::Other,
            reason: "dial failed".into(),
        };
        self.dial_failed_because(peer, now, error);
    }

    /// The transport of `peer` is gone (closed by the peer, an I/O error, or after
    /// [`Action::Close`]). Messages already decoded stay deliverable.
    pub fn detach(&mut self, peer: PeerId, now: Instant) {
        self.core.now = now;
        // The socket type forgets the peer (a ROUTER releases its identity) first: the core
        // removes an accepted peer as it detaches it.
        let info = self
            .core
            .peer(peer)
            .filter(|p| p.conn.is_some())
            .and_then(|p| p.info.clone());
        if let Some(info) = info {
            self.on_inactive(peer, &info);
        }
        if self.stream_detach(peer, now) {
            return;
        }
        self.core.detach(peer);
    }

    /// Stops using a connect-side peer: no more redials; its queue is dropped.
    pub fn disconnect(&mut self, peer: PeerId, now: Instant) {
        self.core.now = now;
        if let Some(info) = self.core.peer(peer).and_then(|p| p.info.clone()) {
            self.on_inactive(peer, &info);
        }
        if let Kind::Router(router) = &mut self.kind {
            // Connected or waiting to redial, the peer held its identity until now.
            router.forget(&self.core, peer);
        }
        if let Kind::Stream(raw) = &mut self.kind {
            raw.forget(&self.core, peer);
        }
        self.core.disconnect(peer);
    }

    /// Stops dialling `endpoint`: every peer [`Socket::connect`] made for it is disconnected
    /// (see [`Socket::disconnect`]). False if there was none.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let now = Instant::now();
    /// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
    /// push.connect("ipc:///tmp/a", now);
    /// push.connect("ipc:///tmp/a", now);
    /// push.connect("ipc:///tmp/b", now);
    /// assert!(push.disconnect_endpoint("ipc:///tmp/a", now));
    /// assert_eq!(push.peer_count(), 1);
    /// assert!(!push.disconnect_endpoint("ipc:///tmp/a", now));
    /// ```
    pub fn disconnect_endpoint(&mut self, endpoint: &str, now: Instant) -> bool {
        let core = &self.core;
        let peers: Vec<PeerId> = core
            .peer_ids()
            .filter(|&id| core.peer(id).and_then(|p| p.endpoint.as_deref()) == Some(endpoint))
            .collect();
        for &peer in &peers {
            self.disconnect(peer, now);
        }
        !peers.is_empty()
    }

    /// Number of peers (connected, connecting or waiting to redial).
    pub fn peer_count(&self) -> usize {
        self.core.peer_count()
    }

    /// ROUTER: how many routing ids messages can be routed to (one per live connection that
    /// completed its handshake with an id of its own, and one per peer we connected to that
    /// is being redialled); 0 for the other types. The count falls as peers leave: one that
    /// only grows while peers come and go is a leak.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Socket, SocketOptions, SocketType};
    /// let router = Socket::new(SocketType::Router, SocketOptions::default(), Instant::now());
    /// assert_eq!(router.routing_table_len(), 0);
    /// ```
    pub fn routing_table_len(&self) -> usize {
        match &self.kind {
            Kind::Router(router) => router.len(),
            Kind::Stream(raw) => raw.len(),
            _ => 0,
        }
    }

    /// The live peer whose [`PeerId::index`] is `index`, if any (drivers keep per-peer I/O in
    /// tables indexed this way).
    pub fn peer_at(&self, index: usize) -> Option<PeerId> {
        self.core.peer_at(index)
    }

    /// What the peer announced in its handshake, if it completed.
    pub fn peer_info(&self, peer: PeerId) -> Option<&PeerInfo> {
        self.core.peer(peer).and_then(|p| p.info.as_ref())
    }

    /// True if the peer has a live connection (handshaking or established).
    pub fn is_attached(&self, peer: PeerId) -> bool {
        self.core.peer(peer).is_some_and(|p| p.conn.is_some())
    }

    // ---- bytes ----------------------------------------------------------------------------

    /// The bytes of `peer`, if it has a connection: the driver's reads go in and its
    /// writes come out through it (see [`PeerBytes`]).
    pub fn bytes(&mut self, peer: PeerId) -> Option<PeerBytes<'_>> {
        PeerBytes::new(self, peer)
    }

    /// The connection of `peer`, if it has one, to read its state: whether it wants input
    /// ([`Connection::wants_read`]), its pending output ([`Connection::has_transmit`],
    /// [`Connection::transmit_chunks`]), its peer's metadata.
    pub fn connection(&self, peer: PeerId) -> Option<&Connection> {
        self.core.peer(peer)?.conn.as_ref()
    }

    /// The next peer that has output to write, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<PeerId> {
        self.core.poll_transmit()
    }

    // ---- driver outputs -------------------------------------------------------------------

    /// The next thing the driver must do.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.core.actions.pop_front()
    }

    /// The next monitor event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SocketEvent> {
        self.core.events.pop_front()
    }

    /// The next deadline at which [`Socket::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    /// Runs expired timers: heartbeats, handshake deadlines, redials, linger.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = std::mem::take(&mut self.expired);
        expired.clear();
        self.core.expire_timers(now, &mut expired);
        for &id in &expired {
            self.process_events(id);
        }
        self.expired = expired;
    }

    // ---- application ----------------------------------------------------------------------

    /// Sends a message following the socket type's routing rules.
    ///
    /// On [`Error::WouldBlock`] (high-water mark, or no peer yet for the types that block) the
    /// message is handed back untouched in the [`SendError`]: nothing was queued, so a caller
    /// that gives up loses nothing and duplicates nothing.
    pub fn send(&mut self, msg: Msg) -> Result<(), SendError> {
        let mut msg = msg;
        match self.send_from(&mut msg) {
            Ok(()) => Ok(()),
            Err(error) => Err(SendError { error, msg }),
        }
    }

    /// Like [`Socket::send`], taking the message in place: once it is sent `msg` is left empty
    /// (ready for reuse); on an error `msg` is untouched. This saves moving the message for a
    /// caller that keeps it in place across polls (a driver's cancel-safe `send` future).
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Socket, SocketOptions};
    /// # use zmtp_proto::{Error, Msg, SocketType};
    /// let now = Instant::now();
    /// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), now);
    /// let mut msg = Msg::from("no peer yet");
    /// assert_eq!(push.send_from(&mut msg), Err(Error::WouldBlock));
    /// assert_eq!(msg, Msg::from("no peer yet"));
    /// push.connect("tcp://127.0.0.1:5555", now);
    /// push.send_from(&mut msg).unwrap();
    /// assert!(msg.is_empty());
    /// ```
    pub fn send_from(&mut self, msg: &mut Msg) -> Result<(), Error> {
        if msg.is_empty() {
            return Err(Error::InvalidState("a message needs at least one frame"));
        }
        if self.core.is_closing() {
            return Err(Error::Terminated);
        }
        let core = &mut self.core;
        let result = match &mut self.kind {
            // Nothing here resumes a decoder: the result goes straight back (see recv_into).
            Kind::Dealer | Kind::Push | Kind::Pair => {
                return pipeline::send_round_robin(core, msg);
            }
            Kind::Stream(raw) => {
                // A connection closed at once (an empty message) reports its events now.
                if let Some(peer) = raw.send(core, msg)? {
                    self.process_events(peer);
                }
                return Ok(());
            }
            Kind::Router(router) => router.send(core, msg),
            Kind::Req(req) => req.send(core, msg),
            Kind::Rep(rep) => rep.send(core, msg),
            Kind::Pub(p) => p.send(core, msg),
            Kind::Pull => Err(Error::NotSupported("PULL sockets cannot send")),
            Kind::Sub(sub) => {
                // XSUB takes the message by value.
                let owned = std::mem::take(msg);
                sub.send(core, owned).map_err(|e| {
                    *msg = e.msg;
                    e.error
                })
            }
        };
        // REQ drops stale replies on send, which may resume a paused decoder.
        self.process_resumed();
        result
    }

    /// Sends a one-frame message copied from `body`, following the socket type's routing
    /// rules: the same as [`Socket::send_from`] with [`Msg::copy_from_slice`], minus the
    /// message. For DEALER, PUSH and PAIR, a body shorter than the zero-copy threshold (8 KiB)
    /// goes straight from `body` into the peer's coalescing buffer when nothing waits in that
    /// peer's queue: one copy, no allocation. When it must wait in the queue, it is copied
    /// into the socket's shared 64 KiB spill chunk (inline if it fits a frame), still with no
    /// allocation per message. Otherwise (a large body, another socket type) it is copied
    /// into a message first.
    ///
    /// On [`Error::WouldBlock`] nothing was queued.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Error, Socket, SocketOptions, SocketType};
    /// let mut push = Socket::new(SocketType::Push, SocketOptions::default(), Instant::now());
    /// // No peer yet: PUSH blocks (and queues nothing).
    /// assert!(matches!(push.send_slice(b"work"), Err(Error::WouldBlock)));
    /// push.connect("tcp://127.0.0.1:5555", Instant::now());
    /// // A connect-side peer takes messages before its connection exists.
    /// push.send_slice(b"work").unwrap();
    /// ```
    pub fn send_slice(&mut self, body: &[u8]) -> Result<(), Error> {
        if let Kind::Dealer | Kind::Push | Kind::Pair = self.kind {
            if body.len() < crate::config::DEFAULT_ZERO_COPY_THRESHOLD {
                if self.core.is_closing() {
                    return Err(Error::Terminated);
                }
                return pipeline::send_round_robin(&mut self.core, transfer::Copied(body));
            }
        }
        self.send_from(&mut Msg::copy_from_slice(body))
    }

    /// Takes the next message for the application, if one is ready.
    ///
    /// Errors are for misuse only (REQ receiving before sending, REP receiving twice, a type
    /// that cannot receive).
    pub fn recv(&mut self) -> Result<Option<Msg>, Error> {
        let core = &mut self.core;
        let result = match &mut self.kind {
            Kind::Req(req) => req.recv(core),
            Kind::Rep(rep) => rep.recv(core),
            Kind::Dealer | Kind::Pull | Kind::Pair => {
                let mut msg = None;
                core.next_inbound(&mut msg, |_| ());
                Ok(msg)
            }
            Kind::Router(router) => Ok(router.recv(core)),
            Kind::Stream(raw) => {
                let mut msg = Msg::new();
                Ok(raw.recv_into(core, &mut msg).then_some(msg))
            }
            Kind::Pub(p) => p.recv(core),
            Kind::Sub(sub) => Ok(sub.recv(core)),
            Kind::Push => Err(Error::NotSupported("PUSH sockets cannot receive")),
        };
        self.process_resumed();
        result
    }

    /// Like [`Socket::recv`], writing the message into `msg` (replacing what it held) and
    /// returning whether there was one; `msg` is untouched when there is none. This saves
    /// moving the message through the return values of the layers it passes.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Socket, SocketOptions};
    /// # use zmtp_proto::{Msg, SocketType};
    /// let mut pull = Socket::new(SocketType::Pull, SocketOptions::default(), Instant::now());
    /// let mut msg = Msg::new();
    /// assert_eq!(pull.recv_into(&mut msg), Ok(false));
    /// ```
    pub fn recv_into(&mut self, msg: &mut Msg) -> Result<bool, Error> {
        if let Kind::Dealer | Kind::Pull | Kind::Pair = self.kind {
            // The common case returns its flag straight away, not through a `Result` held on
            // the stack across `process_resumed`.
            let got = self.core.next_inbound(msg, |_| ()).is_some();
            if !self.core.resumed.is_empty() {
                self.process_resumed();
            }
            return Ok(got);
        }
        let core = &mut self.core;
        let result = match &mut self.kind {
            // Received above without the match; the same call, should it ever come here.
            Kind::Dealer | Kind::Pull | Kind::Pair => Ok(core.next_inbound(msg, |_| ()).is_some()),
            Kind::Router(router) => Ok(router.recv_into(core, msg)),
            Kind::Stream(raw) => Ok(raw.recv_into(core, msg)),
            Kind::Sub(sub) => Ok(sub.recv_into(core, msg)),
            Kind::Req(req) => req.recv_into(core, msg),
            Kind::Rep(rep) => rep.recv_into(core, msg),
            Kind::Push => Err(Error::NotSupported("PUSH sockets cannot receive")),
            Kind::Pub(p) => p.recv(core).map(|m| match m {
                Some(m) => {
                    *msg = m;
                    true
                }
                None => false,
            }),
        };
        self.process_resumed();
        result
    }

    /// Processes what decoding produced when taking messages resumed it (subscriptions behind
    /// messages held at the receive high-water mark, a failure, a PONG to write).
    fn process_resumed(&mut self) {
        while let Some(id) = self.core.resumed.pop() {
            self.process_events(id);
            self.decoding_resumed = true;
        }
    }

    /// SUB/XSUB: subscribes to messages whose first frame starts with `topic`.
    /// XPUB with [`SocketOptions::xpub_manual`]: subscribes the peer whose subscription
    /// [`Socket::recv`] returned last.
    pub fn subscribe(&mut self, topic: &[u8]) -> Result<(), Error> {
        match &mut self.kind {
            Kind::Sub(sub) => {
                sub.subscribe(&mut self.core, topic, true);
                Ok(())
            }
            Kind::Pub(p) if self.core.options.xpub_manual => {
                p.manual_subscribe(&mut self.core, topic, true);
                Ok(())
            }
            _ => Err(Error::NotSupported("only SUB and XSUB sockets subscribe")),
        }
    }

    /// SUB/XSUB: removes one subscription to `topic`.
    /// XPUB with [`SocketOptions::xpub_manual`]: for the peer whose subscription
    /// [`Socket::recv`] returned last.
    pub fn unsubscribe(&mut self, topic: &[u8]) -> Result<(), Error> {
        match &mut self.kind {
            Kind::Sub(sub) => {
                sub.subscribe(&mut self.core, topic, false);
                Ok(())
            }
            Kind::Pub(p) if self.core.options.xpub_manual => {
                p.manual_subscribe(&mut self.core, topic, false);
                Ok(())
            }
            _ => Err(Error::NotSupported("only SUB and XSUB sockets subscribe")),
        }
    }

    /// Starts closing: no new sends; queued messages are flushed for up to `linger`.
    pub fn close(&mut self, now: Instant) {
        self.core.now = now;
        self.core.close();
    }

    /// True once a closing socket has flushed its queues or its linger time has passed: the
    /// driver may drop everything.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    // The driver hints (cheap questions and one-shot flags) are in `hints.rs`.
}
