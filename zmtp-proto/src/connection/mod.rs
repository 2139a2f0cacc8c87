//! The per-connection machine, [`Connection`] (its docs give the driving contract), in parts:
//! `decode.rs` (frames from the arena to messages, commands and the handshake), `receive.rs`
//! (the arena and the decoded messages), `transmit.rs` (coalesced output and zero-copy
//! bodies), `secure.rs` (CURVE's frame transform), `timer.rs` (the timer table) and
//! `carry.rs` (message mode, for in-process peers) and `raw.rs` (raw mode, for STREAM sockets).

mod carry;
mod decode;
mod raw;
mod receive;
mod secure;
mod timer;
mod transmit;

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};

use crate::command::Command;
use crate::config::ConnectionConfig;
use crate::error::Error;
use crate::frame::encode_header;
use crate::greeting::{self, GreetingReader, Version};
use crate::mechanism::curve::CurveCipher;
use crate::mechanism::Mechanism;
use crate::message::{Frame, Msg};
use crate::metadata::{Metadata, IDENTITY, SOCKET_TYPE};
use crate::socket_type::SocketType;

pub use carry::Carried;
use carry::Carry;
pub use raw::RAW_READ_CAP;
use receive::Receive;
pub use receive::MAX_INBOUND_BYTES;
use timer::{Timer, TimerTable};
use transmit::Transmit;

/// Largest command accepted before the handshake completes: a peer that has not authenticated
/// cannot make us buffer more than this.
pub const MAX_HANDSHAKE_COMMAND: u64 = 64 * 1024;

/// What we know about the peer once the handshake succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's socket type.
    pub socket_type: SocketType,
    /// The peer's `Identity` property (empty when it sent none).
    pub routing_id: Bytes,
    /// The peer's ZMTP version.
    pub version: Version,
    /// All metadata the peer sent.
    pub metadata: Metadata,
}

impl PeerInfo {
    /// What an in-process peer of type `socket_type` announces: its routing id (kept only for
    /// the types that send one, as a handshake keeps it), ZMTP 3.1, and the metadata a
    /// handshake would carry (`Socket-Type`, `Identity`).
    ///
    /// ```
    /// use zmtp_proto::{PeerInfo, SocketType};
    /// let info = PeerInfo::in_process(SocketType::Dealer, "worker-1".into());
    /// assert_eq!(&info.routing_id[..], b"worker-1");
    /// let pull = PeerInfo::in_process(SocketType::Pull, "ignored".into());
    /// assert!(pull.routing_id.is_empty());
    /// ```
    pub fn in_process(socket_type: SocketType, routing_id: Bytes) -> Self {
        let routing_id = if socket_type.sends_identity() {
            routing_id
        } else {
            Bytes::new()
        };
        let mut metadata = Metadata::new();
        metadata.insert(SOCKET_TYPE, socket_type.as_str());
        if !routing_id.is_empty() {
            metadata.insert(IDENTITY, routing_id.clone());
        }
        Self {
            socket_type,
            routing_id,
            version: Version::V3_1,
            metadata,
        }
    }
}

/// Something the connection wants the driver or socket layer to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Greeting and handshake are complete; messages may flow.
    HandshakeSucceeded(PeerInfo),
    /// The peer subscribed to a prefix (SUBSCRIBE command, or a `0x01` message from a 3.0 peer).
    /// Only reported on PUB and XPUB connections.
    Subscribe(Bytes),
    /// The peer cancelled a subscription (CANCEL command or a `0x00` message).
    Cancel(Bytes),
    /// The connection failed; nothing more will be decoded. Bytes still queued for
    /// transmission (e.g. an ERROR command) may be flushed before closing.
    Closed(Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    Handshake,
    Active,
    Failed,
}

/// One ZMTP 3.x connection: bytes in, bytes out, events and messages out: greeting, handshake,
/// framing, commands and heartbeats over one byte stream.
///
/// # Contract
///
/// A connection performs no I/O and reads no clock. The driver:
///
/// 1. feeds bytes the peer sent, either by copying ([`Connection::handle_input`]) or by reading
///    straight into the connection's arena ([`Connection::read_buf`] +
///    [`Connection::handle_read`] for readiness-based I/O, [`Connection::take_read_buf`] +
///    [`Connection::give_read_buf`] for completion-based I/O that needs an owned buffer);
/// 2. calls [`Connection::handle_timeout`] when [`Connection::poll_timeout`]'s deadline passes
///    (spurious calls are harmless);
/// 3. after any of the above, or after [`Connection::send`], drains, in this order:
///    [`Connection::poll_event`] until `None`, [`Connection::poll_message`] until `None` (or as
///    the application wants), then writes what [`Connection::transmit_chunks`] (or
///    [`Connection::take_transmit`]) hands out and reports it with
///    [`Connection::advance_transmit`], and finally re-arms its timer with
///    [`Connection::poll_timeout`].
///
/// Our greeting is queued at construction, so a driver that writes before it reads never waits
/// for the peer's greeting (checklist G2/G3).
///
/// ```
/// use std::time::Instant;
/// use zmtp_proto::{Connection, ConnectionConfig, Event, Msg, SocketType};
///
/// let now = Instant::now();
/// let mut a = Connection::new(SocketType::Push, ConnectionConfig::default(), now);
/// let mut b = Connection::new(SocketType::Pull, ConnectionConfig::default(), now);
/// // Shuttle bytes until both sides are idle (a real driver uses sockets).
/// fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
///     let mut out = Vec::new();
///     from.take_transmit(&mut out);
///     for chunk in out {
///         to.handle_input(&chunk, now).unwrap();
///     }
/// }
/// for _ in 0..3 {
///     pump(&mut a, &mut b, now);
///     pump(&mut b, &mut a, now);
/// }
/// assert!(matches!(a.poll_event(), Some(Event::HandshakeSucceeded(_))));
/// a.send(&Msg::from("hello")).unwrap();
/// pump(&mut a, &mut b, now);
/// assert!(matches!(b.poll_event(), Some(Event::HandshakeSucceeded(_))));
/// assert_eq!(b.poll_message().unwrap(), Msg::from("hello"));
/// ```
#[derive(Debug)]
pub struct Connection {
    /// Our socket type, sent as `Socket-Type` and checked against the peer's.
    socket_type: SocketType,
    config: ConnectionConfig,
    state: State,
    greeting: GreetingReader,
    peer_version: Option<Version>,
    mechanism: Mechanism,
    /// CURVE's frame transform, from the end of its handshake on; `None` keeps NULL's and
    /// PLAIN's frames zero-copy.
    cipher: Option<Box<CurveCipher>>,
    peer: Option<PeerInfo>,
    error: Option<Error>,
    now: Instant,
    timers: TimerTable,

    /// The arena and the decoded messages (`receive.rs`).
    input: Receive,
    events: VecDeque<Event>,
    /// The pending output (`transmit.rs`).
    output: Transmit,
    /// In message mode (in-process), what carries whole messages instead of `output`
    /// (`carry.rs`).
    carry: Option<Box<Carry>>,
    /// A STREAM socket's raw connection (`raw.rs`): no greeting, no framing.
    raw: Option<raw::Raw>,
}

impl Connection {
    /// A new connection of a socket of type `socket_type` that has queued its greeting. `now`
    /// starts the handshake deadline.
    ///
    /// A CURVE connection needs entropy: build it with [`Connection::with_entropy`]. One built
    /// here has failed before it starts (its first event is [`Event::Closed`]).
    pub fn new(socket_type: SocketType, config: ConnectionConfig, now: Instant) -> Self {
        Self::build(socket_type, config, now, None)
    }

    /// Like [`Connection::new`], with 32 bytes from a cryptographically secure generator (the
    /// OS's, read by the driver) that seed the connection's own generator (an XSalsa20 keystream): CURVE
    /// makes its transient keys, cookie key and nonces from it. NULL and PLAIN ignore it.
    ///
    /// ```
    /// # use std::time::Instant;
    /// use zmtp_proto::{CurveClientConfig, CurveKeyPair, CurveSecretKey};
    /// use zmtp_proto::{Connection, ConnectionConfig, MechanismConfig, SocketType};
    ///
    /// let server = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([1; 32]));
    /// let mut config = ConnectionConfig::default();
    /// config.mechanism = MechanismConfig::CurveClient(CurveClientConfig::new(
    ///     *server.public(),
    ///     CurveKeyPair::from_secret(CurveSecretKey::from_bytes([2; 32])),
    /// ));
    /// let entropy = [42; 32]; // getrandom::getrandom in a driver
    /// let req = SocketType::Req;
    /// let conn = Connection::with_entropy(req, config.clone(), Instant::now(), entropy);
    /// assert!(conn.error().is_none());
    /// assert!(Connection::new(req, config, Instant::now()).error().is_some());
    /// ```
    pub fn with_entropy(
        socket_type: SocketType,
        config: ConnectionConfig,
        now: Instant,
        entropy: [u8; 32],
    ) -> Self {
        Self::build(socket_type, config, now, Some(entropy))
    }

    fn build(
        socket_type: SocketType,
        config: ConnectionConfig,
        now: Instant,
        entropy: Option<[u8; 32]>,
    ) -> Self {
        if socket_type.is_raw() {
            return Self::raw(config, now);
        }
        let (mechanism, error) = match config.mechanism.build(entropy) {
            Ok(m) => (m, None),
            Err(e) => (Mechanism::Null(crate::mechanism::Null::new()), Some(e)),
        };
        let mut output = Transmit::new(config.read_chunk.max(4096), config.zero_copy_threshold);
        if error.is_none() {
            output.buf_mut().put_slice(&greeting::encode(
                config.mechanism.name().as_bytes(),
                config.mechanism.as_server(),
            ));
        }
        let mut timers = TimerTable::default();
        if let Some(ivl) = config.handshake_ivl {
            timers.set(Timer::Handshake, now + ivl);
        }
        let input = Receive::new(config.read_chunk);
        let mut conn = Self {
            socket_type,
            config,
            state: State::Greeting,
            greeting: GreetingReader::new(),
            peer_version: None,
            mechanism,
            cipher: None,
            peer: None,
            error: None,
            now,
            timers,
            input,
            events: VecDeque::new(),
            output,
            carry: None,
            raw: None,
        };
        if let Some(e) = error {
            tracing::error!(error = %e, "ZMTP connection cannot start");
            conn.fail(e);
        }
        conn
    }

    /// A connection in message mode (the in-process transport): active at once with `peer`, no
    /// greeting, no mechanism, no heartbeats; whole messages go out through
    /// [`Connection::take_carried`] and come in through [`Connection::deliver`]. `window` is
    /// the peer's receive high-water mark (0: none): at most that many messages are on their
    /// way to it, not yet taken by its application (see [`Connection::set_acked`]). A peer of an
    /// incompatible type fails the connection at once, as a handshake would.
    ///
    /// ```
    /// # use std::time::Instant;
    /// use zmtp_proto::{Carried, PeerInfo};
    /// use zmtp_proto::{Connection, ConnectionConfig, Event, Msg, SocketType};
    ///
    /// let info = |t| PeerInfo::in_process(t, Default::default());
    /// let now = Instant::now();
    /// let config = ConnectionConfig::default();
    /// let (push_type, pull_type) = (SocketType::Push, SocketType::Pull);
    /// let mut push = Connection::carrying(push_type, config.clone(), info(pull_type), 1000, now);
    /// let mut pull = Connection::carrying(pull_type, config, info(push_type), 1000, now);
    /// assert!(matches!(push.poll_event(), Some(Event::HandshakeSucceeded(_))));
    /// push.send(&Msg::from("hello")).unwrap();
    /// let mut moved = std::collections::VecDeque::new();
    /// push.take_carried(&mut moved);
    /// for item in moved {
    ///     pull.deliver(item);
    /// }
    /// assert_eq!(pull.poll_message(), Some(Msg::from("hello")));
    /// ```
    pub fn carrying(
        socket_type: SocketType,
        config: ConnectionConfig,
        peer: PeerInfo,
        window: usize,
        now: Instant,
    ) -> Self {
        let output = Transmit::new(0, config.zero_copy_threshold);
        let carry = Some(Box::new(Carry::new(window, config.rcvhwm)));
        let ours = socket_type;
        let theirs = peer.socket_type;
        let mut conn = Self {
            socket_type,
            input: Receive::new(0),
            config,
            state: State::Active,
            greeting: GreetingReader::new(),
            peer_version: Some(peer.version),
            mechanism: Mechanism::Null(crate::mechanism::Null::new()),
            cipher: None,
            peer: None,
            error: None,
            now,
            timers: TimerTable::default(),
            events: VecDeque::new(),
            output,
            carry,
            raw: None,
        };
        if ours.is_compatible(theirs) {
            conn.peer = Some(peer.clone());
            conn.events.push_back(Event::HandshakeSucceeded(peer));
        } else {
            conn.fail(Error::IncompatibleSocketType { ours, theirs });
        }
        conn
    }

    /// True for a connection in message mode ([`Connection::carrying`]).
    pub fn carries_messages(&self) -> bool {
        self.carry.is_some()
    }

    /// Message mode: moves the items waiting for the peer to the back of `out`; returns the
    /// count of messages our application has taken in all when a report of it to the peer is
    /// due (see [`Connection::set_acked`] on the peer's side).
    pub fn take_carried(&mut self, out: &mut VecDeque<Carried>) -> Option<u64> {
        let carry = self.carry.as_deref_mut()?;
        out.append(&mut carry.out);
        carry.report_due().then(|| carry.take_report())
    }

    /// Message mode: an item from the peer. A message joins the receive queue (the peer's
    /// window keeps it within the receive high-water mark); a subscription is reported to a
    /// publisher as an event and ignored by other types, as a command would be.
    pub fn deliver(&mut self, item: Carried) {
        if self.error.is_some() {
            return;
        }
        match item {
            Carried::Msg(msg) => self.input.push(msg, self.config.conflate),
            Carried::Subscribe(topic) if self.socket_type.is_publisher() => {
                self.events.push_back(Event::Subscribe(topic));
            }
            Carried::Cancel(topic) if self.socket_type.is_publisher() => {
                self.events.push_back(Event::Cancel(topic));
            }
            Carried::Subscribe(_) | Carried::Cancel(_) => {}
        }
    }

    /// Message mode: the peer's application has taken `acked` of our messages in all, which
    /// opens the window again. Ignored by a byte-stream connection.
    pub fn set_acked(&mut self, acked: u64) {
        if let Some(carry) = self.carry.as_deref_mut() {
            carry.set_acked(acked);
        }
    }

    /// True if another message may be handed to this connection now: below `batch` bytes of
    /// pending output (a byte stream), or with room in the peer's window (message mode).
    #[inline]
    pub(crate) fn has_room(&self, batch: usize) -> bool {
        match self.carry.as_deref() {
            None => self.output.len() < batch,
            Some(carry) => carry.has_room(),
        }
    }

    /// Sends a message the socket owns: moved as it is in message mode, encoded otherwise
    /// (handed back if that failed).
    #[inline]
    pub(crate) fn send_owned(&mut self, msg: Msg) -> Result<(), Msg> {
        match self.carry.as_deref_mut() {
            Some(carry) if self.error.is_none() => {
                carry.push(msg);
                Ok(())
            }
            _ => self.send(&msg).map_err(|_| msg),
        }
    }

    /// Our socket type (given to [`Connection::new`]).
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// The configuration this connection was built with.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The peer, once the handshake succeeded.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// The peer's protocol version, once its greeting arrived.
    pub fn peer_version(&self) -> Option<Version> {
        self.peer_version
    }

    /// True once the handshake succeeded and until the connection fails.
    pub fn is_active(&self) -> bool {
        self.state == State::Active
    }

    /// The error that ended the connection, if it failed.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    // ----------------------------------------------------------------------------------------
    // Input
    // ----------------------------------------------------------------------------------------

    /// Feeds bytes received from the peer (copied into the arena) and decodes them.
    ///
    /// Returns the connection's error if it has failed (now or before); the same error is also
    /// reported once as [`Event::Closed`].
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        self.input.arena.extend_from_slice(data);
        self.handle_read(now)
    }

    /// The arena, with room for the next read: a readiness-based driver reads into its spare
    /// capacity (e.g. tokio's `try_read_buf`) and then calls [`Connection::handle_read`].
    pub fn read_buf(&mut self) -> &mut BytesMut {
        self.input.reserve(self.config.read_chunk);
        &mut self.input.arena
    }

    /// Decodes the bytes a driver appended to [`Connection::read_buf`].
    pub fn handle_read(&mut self, now: Instant) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        self.now = now;
        if self.input.has_new_bytes() && self.state == State::Active {
            // Any traffic is a sign of life (checklist H3).
            self.timers.stop(Timer::PingTimeout);
            self.timers.stop(Timer::PeerTtl);
        }
        let result = self.decode();
        self.input.mark_seen();
        result
    }

    /// Lends the arena's free space as an owned, empty buffer for a completion-based read
    /// (io_uring). Give it back with [`Connection::give_read_buf`]; the bytes the kernel wrote
    /// join the arena without a copy.
    pub fn take_read_buf(&mut self) -> BytesMut {
        self.input.reserve(self.config.read_chunk);
        let at = self.input.arena.len();
        self.input.arena.split_off(at)
    }

    /// Takes back a buffer from [`Connection::take_read_buf`] with the bytes read into it, and
    /// decodes them.
    pub fn give_read_buf(&mut self, buf: BytesMut, now: Instant) -> Result<(), Error> {
        self.input.arena.unsplit(buf);
        self.handle_read(now)
    }

    /// False while decoded messages fill the receive high-water mark: the driver should stop
    /// reading from this peer (TCP back-pressure does the rest) until messages are taken.
    pub fn wants_read(&self) -> bool {
        self.error.is_none() && !self.input.paused && !self.input.is_full(self.config.rcvhwm)
    }

    /// Decoded messages not yet taken.
    pub fn inbound_len(&self) -> usize {
        self.input.inbound.len()
    }

    /// Takes the next complete message from the peer. Messages are only ever delivered whole.
    #[must_use]
    #[inline]
    pub fn poll_message(&mut self) -> Option<Msg> {
        let msg = self.input.inbound.pop_front()?;
        self.input.took(&msg);
        if self.input.should_resume() {
            self.resume();
        }
        self.took_carried();
        Some(msg)
    }

    /// Like [`Connection::poll_message`], writing the message into `out` (replacing what it
    /// held); returns false, leaving `out` untouched, when there is none.
    #[must_use]
    #[inline]
    pub fn poll_message_into(&mut self, out: &mut Msg) -> bool {
        let Some(msg) = self.input.inbound.pop_front() else {
            return false;
        };
        self.input.took(&msg);
        if self.input.should_resume() {
            self.resume();
        }
        self.took_carried();
        *out = msg;
        true
    }

    /// Message mode: counts a message the application took; once a credit report is due, the
    /// connection says so as a resumed decoder would (the socket then looks at its output).
    #[inline]
    fn took_carried(&mut self) {
        if let Some(carry) = self.carry.as_deref_mut() {
            if carry.took() {
                self.input.resumed = true;
            }
        }
    }

    /// True once after taking a message resumed decoding (which may have produced events or
    /// output).
    #[inline]
    pub(crate) fn take_resumed(&mut self) -> bool {
        self.input.take_resumed()
    }

    /// The next complete message, left in place.
    #[inline]
    pub(crate) fn peek_message(&self) -> Option<&Msg> {
        self.input.inbound.front()
    }

    /// Resumes decoding paused at the receive high-water mark, once half of the messages held
    /// were taken (a low-water mark, as libzmq's pipes have): decoding then fills the queue again
    /// in one go rather than one message per message taken.
    #[cold]
    fn resume(&mut self) {
        self.input.resumed = true;
        if self.error.is_none() {
            let _ = self.decode();
            self.input.mark_seen();
        }
    }

    /// Takes the next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True if [`Connection::poll_event`] has something (decoding resumed by
    /// [`Connection::poll_message`] may produce events without any new input).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    // ----------------------------------------------------------------------------------------
    // Output
    // ----------------------------------------------------------------------------------------

    /// Encodes a whole message for transmission (all frames or none, checklist F4).
    ///
    /// Small frames are copied into the coalescing buffer, so many messages go out in one write;
    /// bodies of [`ConnectionConfig::zero_copy_threshold`] bytes or more are queued as their own
    /// [`Bytes`] for a vectored write. Fails unless the handshake is complete.
    pub fn send(&mut self, msg: &Msg) -> Result<(), Error> {
        self.send_frames(&[], msg.frames())
    }

    /// Like [`Connection::send`], for the frames of a message (not empty) with the frames of
    /// `envelope` sent first (REQ and REP envelopes, without building the whole message).
    pub(crate) fn send_frames(
        &mut self,
        envelope: &[Frame],
        frames: &[Frame],
    ) -> Result<(), Error> {
        if self.state != State::Active {
            // Only an active connection has no error (`fail` leaves the Active state).
            self.check_can_send()?;
        }
        if let Some(carry) = self.carry.as_deref_mut() {
            if frames.is_empty() {
                return Err(Error::InvalidState("a message needs at least one frame"));
            }
            carry.push(Msg::from_frames(envelope.iter().chain(frames).cloned()));
            return Ok(());
        }
        if self.raw.is_some() {
            return self.send_raw(envelope, frames);
        }
        if let Some(cipher) = self.cipher.as_deref_mut() {
            return cipher.seal_message(envelope, frames, self.output.buf_mut());
        }
        self.output.encode_message(envelope, frames)
    }

    /// Encodes a one-frame message whose body is copied from `body` into the coalescing
    /// buffer: the one copy on its way out (no [`Msg`] is built, nothing is allocated beyond
    /// the buffer's own growth). Fails unless the handshake is complete.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Connection, ConnectionConfig, Error, SocketType};
    /// let mut push = Connection::new(SocketType::Push, ConnectionConfig::default(), Instant::now());
    /// // Before the handshake there is nobody to send to.
    /// assert!(matches!(push.send_slice(b"work"), Err(Error::InvalidState(_))));
    /// ```
    pub fn send_slice(&mut self, body: &[u8]) -> Result<(), Error> {
        if self.state != State::Active {
            self.check_can_send()?;
        }
        if let Some(carry) = self.carry.as_deref_mut() {
            carry.push(Msg::copy_from_slice(body));
            return Ok(());
        }
        if self.raw.is_some() {
            return self.send_raw(&[], &[Frame::copy_from_slice(body)]);
        }
        if let Some(cipher) = self.cipher.as_deref_mut() {
            cipher.seal_frame(0, body, self.output.buf_mut());
            return Ok(());
        }
        self.output.encode_copy(0, body);
        Ok(())
    }

    /// Sends a subscription (`subscribe == true`) or a cancellation to the peer, as a command to
    /// a 3.1 peer and as a `0x01`/`0x00` message to a 3.0 peer (checklist V7).
    pub fn send_subscription(&mut self, topic: &[u8], subscribe: bool) -> Result<(), Error> {
        self.check_can_send()?;
        if let Some(carry) = self.carry.as_deref_mut() {
            let topic = Bytes::copy_from_slice(topic);
            carry.out.push_back(if subscribe {
                Carried::Subscribe(topic)
            } else {
                Carried::Cancel(topic)
            });
            return Ok(());
        }
        let version = self.peer_version.expect("active");
        if let Some(cipher) = self.cipher.as_deref_mut() {
            cipher.seal_subscription(version, topic, subscribe, self.output.buf_mut());
            return Ok(());
        }
        let buf = self.output.buf_mut();
        if version.has_commands() {
            let name: &[u8] = if subscribe { b"SUBSCRIBE" } else { b"CANCEL" };
            crate::command::encode_command(name, topic, buf);
        } else {
            encode_header(0, topic.len() + 1, buf);
            buf.put_u8(u8::from(subscribe));
            buf.put_slice(topic);
        }
        Ok(())
    }

    fn check_can_send(&self) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.state != State::Active {
            return Err(Error::InvalidState("handshake not complete"));
        }
        Ok(())
    }

    /// Bytes waiting to be written (message mode: items waiting for the driver to move, plus
    /// one for a credit report that is due).
    pub fn transmit_len(&self) -> usize {
        match self.carry.as_deref() {
            None => self.output.len(),
            Some(carry) => carry.out.len() + usize::from(carry.report_due()),
        }
    }

    /// True if there is something to write.
    pub fn has_transmit(&self) -> bool {
        self.transmit_len() > 0
    }

    /// Fills `dst` with the pending output, in order, for a vectored write; returns how many
    /// slices were filled. Report what was written with [`Connection::advance_transmit`].
    pub fn transmit_chunks<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.output.chunks(dst)
    }

    /// Marks `n` bytes of the pending output as written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.output.advance(n);
        self.close_if_flushed();
    }

    /// Moves all pending output into `out` as owned buffers, for completion-based I/O that
    /// keeps the buffers while the kernel writes them. The output counts as written.
    pub fn take_transmit(&mut self, out: &mut Vec<Bytes>) {
        self.output.take(out);
        self.close_if_flushed();
    }

    // ----------------------------------------------------------------------------------------
    // Time
    // ----------------------------------------------------------------------------------------

    /// The next instant at which [`Connection::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Runs the timers that expired at `now`: handshake deadline, PING, heartbeat timeout and
    /// peer TTL. Spurious calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.error.is_some() {
            return;
        }
        self.now = now;
        if self.timers.expired(Timer::Handshake, now) {
            self.fail(Error::HandshakeTimeout);
            return;
        }
        if self.timers.expired(Timer::PingTimeout, now) || self.timers.expired(Timer::PeerTtl, now)
        {
            self.fail(Error::HeartbeatTimeout);
            return;
        }
        if self.timers.expired(Timer::Ping, now) {
            let ttl_ds = self.config.heartbeat_ttl.map_or(0, |ttl| {
                (ttl.as_millis() / 100).min(u128::from(u16::MAX)) as u16
            });
            self.send_command(&Command::Ping {
                ttl_ds,
                context: Bytes::new(),
            });
            let ivl = self
                .config
                .heartbeat_ivl
                .expect("ping timer needs an interval");
            self.timers.set(Timer::Ping, now + ivl);
            if self.timers.get(Timer::PingTimeout).is_none() {
                let timeout = self.config.heartbeat_timeout.unwrap_or(ivl);
                self.timers.set(Timer::PingTimeout, now + timeout);
            }
        }
    }

    fn fail(&mut self, error: Error) {
        if self.error.is_some() {
            return;
        }
        tracing::debug!(%error, "ZMTP connection failed");
        self.state = State::Failed;
        self.timers = TimerTable::default();
        self.error = Some(error.clone());
        self.events.push_back(Event::Closed(error));
    }

    /// Fails the connection locally (e.g. the driver saw the socket close). Idempotent.
    pub fn close(&mut self, error: Error) {
        self.fail(error);
    }
}
