//! The per-connection machine: greeting, handshake, framing, commands and heartbeats over one
//! byte stream.
//!
//! # Contract
//!
//! A [`Connection`] performs no I/O and reads no clock. The driver:
//!
//! 1. feeds bytes the peer sent, either by copying ([`Connection::handle_input`]) or by reading
//!    straight into the connection's arena ([`Connection::read_buf`] +
//!    [`Connection::handle_read`] for readiness-based I/O, [`Connection::take_read_buf`] +
//!    [`Connection::give_read_buf`] for completion-based I/O that needs an owned buffer);
//! 2. calls [`Connection::handle_timeout`] when [`Connection::poll_timeout`]'s deadline passes
//!    (spurious calls are harmless);
//! 3. after any of the above, or after [`Connection::send`], drains, in this order:
//!    [`Connection::poll_event`] until `None`, [`Connection::poll_message`] until `None` (or as
//!    the application wants), then writes what [`Connection::transmit_chunks`] (or
//!    [`Connection::take_transmit`]) hands out and reports it with
//!    [`Connection::advance_transmit`], and finally re-arms its timer with
//!    [`Connection::poll_timeout`].
//!
//! Our greeting is queued at construction, so a driver that writes before it reads never waits
//! for the peer's greeting (checklist G2/G3).
//!
//! ```
//! use std::time::Instant;
//! use zmtp_proto::{Connection, ConnectionConfig, Event, Msg, SocketType};
//!
//! let now = Instant::now();
//! let mut a = Connection::new(ConnectionConfig::new(SocketType::Push), now);
//! let mut b = Connection::new(ConnectionConfig::new(SocketType::Pull), now);
//! // Shuttle bytes until both sides are idle (a real driver uses sockets).
//! fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
//!     let mut out = Vec::new();
//!     from.take_transmit(&mut out);
//!     for chunk in out {
//!         to.handle_input(&chunk, now).unwrap();
//!     }
//! }
//! for _ in 0..3 {
//!     pump(&mut a, &mut b, now);
//!     pump(&mut b, &mut a, now);
//! }
//! assert!(matches!(a.poll_event(), Some(Event::HandshakeSucceeded(_))));
//! a.send(&Msg::from("hello")).unwrap();
//! pump(&mut a, &mut b, now);
//! assert!(matches!(b.poll_event(), Some(Event::HandshakeSucceeded(_))));
//! assert_eq!(b.poll_message().unwrap(), Msg::from("hello"));
//! ```

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::command::Command;
use crate::config::ConnectionConfig;
use crate::error::Error;
use crate::frame::{encode_header, FrameHeader, FLAG_COMMAND, FLAG_LONG, FLAG_MORE};
use crate::greeting::{self, GreetingReader, Version};
use crate::mechanism::Mechanism;
use crate::message::{Frame, Msg, INLINE_FRAME_BYTES};
use crate::metadata::{Metadata, IDENTITY, SOCKET_TYPE};
use crate::socket_type::SocketType;

/// Largest command accepted before the handshake completes: a peer that has not authenticated
/// cannot make us buffer more than this.
pub const MAX_HANDSHAKE_COMMAND: u64 = 64 * 1024;

/// Largest amount the arena grows by in one step while a large frame arrives, so that a size
/// declared by the peer is never allocated up front.
const LARGE_FRAME_STEP: usize = 8 * 1024 * 1024;

/// A new arena slab holds this many frames of the largest size seen arriving in pieces...
const SLAB_FRAMES: usize = 8;
/// ...up to this size.
const MAX_SLAB: usize = 4 * 1024 * 1024;

/// Decoding pauses (and the driver stops reading) once decoded messages not yet taken hold
/// this many bytes in frames too large to be inline, even below the receive high-water mark:
/// the kernel's socket buffer holds what comes next, and the receiver's working set stays in
/// the caches. A full queue of 1,000 × 64 KiB messages cycled 64 MiB through memory, and the
/// slabs' allocation churn put the receiver at a third of its time in page faults.
pub const MAX_INBOUND_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of a message's frames that are not inline (see [`MAX_INBOUND_BYTES`]).
fn shared_bytes(msg: &Msg) -> usize {
    msg.iter()
        .filter_map(Frame::as_shared)
        .map(Bytes::len)
        .sum()
}

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

/// The connection's timers (quinn-style enum-indexed table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The handshake must complete before this.
    Handshake = 0,
    /// Send the next PING.
    Ping = 1,
    /// Traffic must arrive before this, since we sent a PING.
    PingTimeout = 2,
    /// Traffic must arrive before this, since the peer's PING announced a TTL.
    PeerTtl = 3,
}

const TIMER_COUNT: usize = 4;

/// The deadlines, and a bit per armed timer so that "no deadline" (the usual case once the
/// handshake is done, without heartbeats) is one test: the socket asks after every read and
/// write.
#[derive(Debug, Default, Clone, Copy)]
struct TimerTable {
    at: [Option<Instant>; TIMER_COUNT],
    armed: u8,
}

impl TimerTable {
    fn set(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
        self.armed |= 1 << t as u8;
    }
    fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }
    fn stop(&mut self, t: Timer) {
        self.at[t as usize] = None;
        self.armed &= !(1 << t as u8);
    }
    #[inline]
    fn next(&self) -> Option<Instant> {
        if self.armed == 0 {
            return None;
        }
        self.at.iter().flatten().min().copied()
    }
    fn expired(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|at| at <= now)
    }
}

/// One ZMTP 3.x connection: bytes in, bytes out, events and messages out.
///
/// See the [module documentation](self) for the driving contract.
#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    state: State,
    greeting: GreetingReader,
    peer_version: Option<Version>,
    mechanism: Mechanism,
    peer: Option<PeerInfo>,
    error: Option<Error>,
    now: Instant,
    timers: TimerTable,

    // Input: `rx` is the arena; decoded bodies are zero-copy slices of it.
    rx: BytesMut,
    /// `rx.len()` after the last decode, to notice new bytes written by a driver.
    rx_seen: usize,
    /// Total length (header + body) of the frame at the front of `rx`, once its header is known.
    rx_frame_len: usize,
    /// Size of the next arena slab: `read_chunk`, grown while large frames arrive.
    slab: usize,
    partial: Msg,
    partial_bytes: u64,
    partial_is_subscription: bool,
    inbound: VecDeque<Msg>,
    /// Bytes of the non-inline frames in `inbound` (see [`MAX_INBOUND_BYTES`]).
    inbound_bytes: usize,
    /// Decoding stopped at the receive high-water mark with bytes left in `rx`.
    paused: bool,
    /// While paused, decoding resumes once fewer messages than this wait (half the receive
    /// high-water mark, plus one); 0 while not paused.
    resume_below: usize,
    /// Set when taking a message resumed decoding (see [`Connection::take_resumed`]).
    resumed: bool,
    /// The socket type takes subscriptions in messages (PUB, XPUB).
    publisher: bool,
    events: VecDeque<Event>,

    // Output: `segments` go out before `tx`; small frames are coalesced in `tx`.
    tx: BytesMut,
    segments: VecDeque<Bytes>,
    segments_len: usize,
}

/// Length of the run of whole frames at the front of `buf`, stopping after the frame that ends
/// the `room`-th message or that brings the bodies of message frames too large to be inline to
/// `byte_room` bytes (so decoding them cannot overfill the receive queue; commands and
/// subscriptions count as nothing or as messages, which only ends the run early). Frames with
/// invalid flags end the run: the careful path reports them.
fn complete_frames(buf: &[u8], mut room: usize, mut byte_room: usize) -> usize {
    let mut pos = 0;
    while let Some(&flags) = buf.get(pos) {
        let left = buf.len() - pos;
        let (header_len, size) = if flags & FLAG_LONG == 0 {
            let Some(&size) = buf.get(pos + 1) else {
                break;
            };
            (2, usize::from(size))
        } else {
            let Some(size) = buf.get(pos + 1..pos + 9) else {
                break;
            };
            let size = u64::from_be_bytes(size.try_into().expect("8 bytes"));
            if size >= left as u64 {
                break;
            }
            (9, size as usize)
        };
        if flags & FLAG_COMMAND != 0 && flags & FLAG_MORE != 0 {
            break;
        }
        let total = header_len + size;
        if left < total {
            break;
        }
        pos += total;
        if flags & FLAG_COMMAND == 0 && size > INLINE_FRAME_BYTES {
            byte_room = byte_room.saturating_sub(size);
            if byte_room == 0 {
                break;
            }
        }
        if flags & (FLAG_MORE | FLAG_COMMAND) == 0 {
            room -= 1;
            if room == 0 {
                break;
            }
        }
    }
    pos
}

impl Connection {
    /// A new connection that has queued its greeting. `now` starts the handshake deadline.
    pub fn new(config: ConnectionConfig, now: Instant) -> Self {
        let mechanism = config.mechanism.build();
        let mut tx = BytesMut::with_capacity(config.read_chunk.max(4096));
        tx.put_slice(&greeting::encode(
            config.mechanism.name().as_bytes(),
            config.mechanism.as_server(),
        ));
        let mut timers = TimerTable::default();
        if let Some(ivl) = config.handshake_ivl {
            timers.set(Timer::Handshake, now + ivl);
        }
        let rx = BytesMut::with_capacity(config.read_chunk);
        let slab = config.read_chunk.max(64);
        let publisher = config.socket_type.is_publisher();
        Self {
            config,
            state: State::Greeting,
            greeting: GreetingReader::new(),
            peer_version: None,
            mechanism,
            peer: None,
            error: None,
            now,
            timers,
            rx,
            rx_seen: 0,
            rx_frame_len: 0,
            slab,
            partial: Msg::new(),
            partial_bytes: 0,
            partial_is_subscription: false,
            inbound: VecDeque::new(),
            inbound_bytes: 0,
            paused: false,
            resume_below: 0,
            resumed: false,
            publisher,
            events: VecDeque::new(),
            tx,
            segments: VecDeque::new(),
            segments_len: 0,
        }
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
        self.rx.extend_from_slice(data);
        self.handle_read(now)
    }

    /// The arena, with room for the next read: a readiness-based driver reads into its spare
    /// capacity (e.g. tokio's `try_read_buf`) and then calls [`Connection::handle_read`].
    pub fn read_buf(&mut self) -> &mut BytesMut {
        self.reserve_input();
        &mut self.rx
    }

    /// Decodes the bytes a driver appended to [`Connection::read_buf`].
    pub fn handle_read(&mut self, now: Instant) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        self.now = now;
        if self.rx.len() > self.rx_seen && self.state == State::Active {
            // Any traffic is a sign of life (checklist H3).
            self.timers.stop(Timer::PingTimeout);
            self.timers.stop(Timer::PeerTtl);
        }
        let result = self.decode();
        self.rx_seen = self.rx.len();
        result
    }

    /// Lends the arena's free space as an owned, empty buffer for a completion-based read
    /// (io_uring). Give it back with [`Connection::give_read_buf`]; the bytes the kernel wrote
    /// join the arena without a copy.
    pub fn take_read_buf(&mut self) -> BytesMut {
        self.reserve_input();
        let at = self.rx.len();
        self.rx.split_off(at)
    }

    /// Takes back a buffer from [`Connection::take_read_buf`] with the bytes read into it, and
    /// decodes them.
    pub fn give_read_buf(&mut self, buf: BytesMut, now: Instant) -> Result<(), Error> {
        self.rx.unsplit(buf);
        self.handle_read(now)
    }

    /// False while decoded messages fill the receive high-water mark: the driver should stop
    /// reading from this peer (TCP back-pressure does the rest) until messages are taken.
    pub fn wants_read(&self) -> bool {
        self.error.is_none() && !self.paused && !self.inbound_full()
    }

    fn inbound_full(&self) -> bool {
        (self.config.rcvhwm != 0 && self.inbound.len() >= self.config.rcvhwm)
            || self.inbound_bytes >= MAX_INBOUND_BYTES
    }

    fn reserve_input(&mut self) {
        let chunk = self.config.read_chunk.max(64);
        let spare = self.rx.capacity() - self.rx.len();
        let want = if self.rx_frame_len > self.rx.len() {
            // A frame larger than what we hold is arriving: make room for it (bounded per step,
            // the limits were checked on its header). The upper bound is never below the
            // lower one, or `clamp` panics when read_chunk exceeds 4 * LARGE_FRAME_STEP.
            (self.rx_frame_len - self.rx.len()).clamp(chunk / 4, LARGE_FRAME_STEP.max(chunk / 4))
        } else {
            chunk / 4
        };
        if spare < want {
            // A new slab. The bytes of a frame that straddles the old slab's end are moved into
            // it, so slabs hold several frames of the size seen lately: large messages are then
            // moved once per slab, not once per message.
            self.rx.reserve(want.max(self.slab));
        }
    }

    /// Notes the size of a frame that did not fit in the current read, to size later slabs.
    fn note_large_frame(&mut self, total: usize) {
        let wanted = total.saturating_mul(SLAB_FRAMES).min(MAX_SLAB);
        if wanted > self.slab {
            self.slab = wanted;
        }
    }

    /// Decoded messages not yet taken.
    pub fn inbound_len(&self) -> usize {
        self.inbound.len()
    }

    /// Takes the next complete message from the peer. Messages are only ever delivered whole.
    #[inline]
    pub fn poll_message(&mut self) -> Option<Msg> {
        let msg = self.inbound.pop_front()?;
        self.took(&msg);
        Some(msg)
    }

    /// Like [`Connection::poll_message`], writing the message into `out` (replacing what it
    /// held); returns false, leaving `out` untouched, when there is none.
    #[inline]
    pub fn poll_message_into(&mut self, out: &mut Msg) -> bool {
        let Some(msg) = self.inbound.pop_front() else {
            return false;
        };
        self.took(&msg);
        *out = msg;
        true
    }

    /// Accounts for `msg` leaving the receive queue, and resumes decoding paused at the
    /// high-water mark or the byte budget once half of what was held is gone.
    #[inline]
    fn took(&mut self, msg: &Msg) {
        if self.inbound_bytes != 0 {
            self.inbound_bytes -= shared_bytes(msg);
        }
        if self.paused && self.inbound.len() < self.resume_below {
            self.resume();
        }
    }

    /// True once after taking a message resumed decoding (which may have produced events or
    /// output).
    #[inline]
    pub(crate) fn take_resumed(&mut self) -> bool {
        if self.resumed {
            self.resumed = false;
            return true;
        }
        false
    }

    /// The next complete message, left in place.
    #[inline]
    pub(crate) fn peek_message(&self) -> Option<&Msg> {
        self.inbound.front()
    }

    /// Resumes decoding paused at the receive high-water mark, once half of the messages held
    /// were taken (a low-water mark, as libzmq's pipes have): decoding then fills the queue again
    /// in one go rather than one message per message taken.
    #[cold]
    fn resume(&mut self) {
        self.resumed = true;
        if self.error.is_none() {
            let _ = self.decode();
            self.rx_seen = self.rx.len();
        }
    }

    /// Takes the next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True if [`Connection::poll_event`] has something (decoding resumed by
    /// [`Connection::poll_message`] may produce events without any new input).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    fn decode(&mut self) -> Result<(), Error> {
        match self.decode_inner() {
            Ok(()) => Ok(()),
            Err(e) => {
                self.fail(e.clone());
                Err(e)
            }
        }
    }

    fn decode_inner(&mut self) -> Result<(), Error> {
        self.paused = false;
        self.resume_below = 0;
        if self.state == State::Greeting {
            let used = self.greeting.feed(&self.rx)?;
            self.rx.advance(used);
            if !self.greeting.is_complete() {
                return Ok(());
            }
            let peer = self.greeting.greeting().expect("complete");
            self.mechanism.check_greeting(&peer)?;
            self.peer_version = Some(peer.version);
            self.state = State::Handshake;
            let ours = self.config.local_metadata();
            self.mechanism.start(&ours, &mut self.tx);
        }
        while self.state != State::Failed {
            if self.partial.is_empty() && self.inbound_full() {
                self.paused = true;
                // Resume once half of what is held was taken (a low-water mark, as libzmq's
                // pipes have), by count at the high-water mark, else by bytes.
                self.resume_below = if self.inbound_bytes >= MAX_INBOUND_BYTES {
                    self.inbound.len() / 2 + 1
                } else {
                    self.config.rcvhwm / 2 + 1
                };
                return Ok(());
            }
            // Frames held whole in the arena are found in one scan, then decoded without
            // further length checks.
            let room = if self.config.rcvhwm == 0 {
                usize::MAX
            } else {
                self.config.rcvhwm.saturating_sub(self.inbound.len()).max(1)
            };
            let end = complete_frames(
                &self.rx,
                room,
                MAX_INBOUND_BYTES.saturating_sub(self.inbound_bytes).max(1),
            );
            if end > 0 {
                self.rx_frame_len = 0;
                self.decode_whole(end)?;
                if self.rx.is_empty() {
                    return Ok(());
                }
                continue;
            }
            // The frame at the front is incomplete, or its header is invalid.
            let Some(header) = FrameHeader::parse(&self.rx)? else {
                return Ok(());
            };
            self.check_limits(&header)?;
            let total = header.header_len + header.size as usize;
            if self.rx.len() < total {
                self.rx_frame_len = total;
                if total > self.slab / SLAB_FRAMES {
                    self.note_large_frame(total);
                }
                return Ok(());
            }
            self.rx_frame_len = 0;
            self.split_frame(&header)?;
        }
        Ok(())
    }

    /// Decodes the whole frames in the first `end` bytes of the arena (found by
    /// [`complete_frames`]). A message frame of up to [`INLINE_FRAME_BYTES`] bytes is copied
    /// into an inline [`Frame`]: no reference to the arena, so no atomic reference count to
    /// take and drop per small message, and the arena's space is free again at once. Any other
    /// frame is split off the arena on its own ([`Connection::split_frame`]).
    fn decode_whole(&mut self, end: usize) -> Result<(), Error> {
        let mut left = end;
        while left > 0 {
            let header = FrameHeader::parse(&self.rx)?.expect("a whole frame");
            self.check_limits(&header)?;
            let (start, size) = (header.header_len, header.size as usize);
            left -= start + size;
            if header.is_command() || size > INLINE_FRAME_BYTES {
                self.split_frame(&header)?;
            } else {
                let body = Frame::copy_from_slice(&self.rx[start..start + size]);
                self.rx.advance(start + size);
                self.handle_message_frame(header.more(), body)?;
            }
        }
        Ok(())
    }

    /// Splits the whole frame at the front of the arena off on its own (`split_to` + `freeze`,
    /// built in registers) and handles it. Slicing frames out of one frozen run instead returns
    /// each `Bytes` through memory from the vtable clone and then moves it with wider loads: a
    /// store-forwarding stall on every frame, ~4 % of 64 B throughput in A/B runs.
    #[inline(always)]
    fn split_frame(&mut self, header: &FrameHeader) -> Result<(), Error> {
        let total = header.header_len + header.size as usize;
        let mut body = self.rx.split_to(total).freeze();
        body.advance(header.header_len);
        self.handle_frame(header, body)
    }

    #[inline(always)]
    fn handle_frame(&mut self, header: &FrameHeader, body: Bytes) -> Result<(), Error> {
        if header.is_command() {
            self.handle_command(body)
        } else {
            self.handle_message_frame(header.more(), Frame::from(body))
        }
    }

    fn check_limits(&self, header: &FrameHeader) -> Result<(), Error> {
        if header.is_command() {
            if self.state != State::Active && header.size > MAX_HANDSHAKE_COMMAND {
                return Err(Error::MessageTooLarge {
                    size: header.size,
                    max: MAX_HANDSHAKE_COMMAND,
                });
            }
            if let Some(max) = self.config.maxmsgsize {
                // Commands carry subscriptions (and, with CURVE, whole messages).
                if header.size > max.saturating_add(256) {
                    return Err(Error::MessageTooLarge {
                        size: header.size,
                        max,
                    });
                }
            }
        } else {
            // Refuse a message frame before the handshake on its header alone: waiting for its
            // body would let a peer that has not authenticated make us buffer up to 2^63 bytes
            // (checklist N3, §1.13).
            if self.state != State::Active {
                return Err(Error::MessageBeforeHandshake);
            }
            if let Some(max) = self.config.maxmsgsize {
                let size = self.partial_bytes.saturating_add(header.size);
                if size > max {
                    return Err(Error::MessageTooLarge { size, max });
                }
            }
            if self.partial.len() >= self.config.max_frames {
                return Err(Error::TooManyFrames {
                    max: self.config.max_frames,
                });
            }
        }
        if usize::try_from(header.size).is_err() {
            return Err(Error::FrameTooLong(header.size));
        }
        Ok(())
    }

    #[inline(never)]
    fn handle_command(&mut self, body: Bytes) -> Result<(), Error> {
        match self.state {
            State::Handshake => {
                if let Some(meta) = self.mechanism.handle_command(body, &mut self.tx)? {
                    self.finish_handshake(meta)?;
                }
                Ok(())
            }
            State::Active => self.handle_active_command(body),
            State::Greeting | State::Failed => Ok(()),
        }
    }

    fn finish_handshake(&mut self, meta: Metadata) -> Result<(), Error> {
        let ours = self.config.socket_type;
        let theirs = meta.get(SOCKET_TYPE).ok_or(Error::MissingSocketType)?;
        let theirs = SocketType::from_name(theirs).ok_or_else(|| {
            Error::UnknownSocketType(String::from_utf8_lossy(theirs).into_owned())
        })?;
        if !ours.is_compatible(theirs) {
            // RFC 37: SHOULD send ERROR, then disconnect.
            Command::Error(Bytes::from_static(b"Invalid socket type")).encode(&mut self.tx);
            return Err(Error::IncompatibleSocketType { ours, theirs });
        }
        let routing_id = if theirs.sends_identity() {
            meta.get(IDENTITY).cloned().unwrap_or_default()
        } else {
            Bytes::new()
        };
        let version = self.peer_version.expect("greeting complete");
        let info = PeerInfo {
            socket_type: theirs,
            routing_id,
            version,
            metadata: meta,
        };
        tracing::debug!(peer = %theirs, ?version, "ZMTP handshake succeeded");
        self.state = State::Active;
        self.timers.stop(Timer::Handshake);
        if let Some(ivl) = self.config.heartbeat_ivl {
            if version.has_commands() && !ivl.is_zero() {
                self.timers.set(Timer::Ping, self.now + ivl);
            }
        }
        self.peer = Some(info.clone());
        self.events.push_back(Event::HandshakeSucceeded(info));
        Ok(())
    }

    fn handle_active_command(&mut self, body: Bytes) -> Result<(), Error> {
        debug_assert!(
            !self.mechanism.encrypts(),
            "frame transform not wired for NULL"
        );
        match Command::parse(&body)? {
            Command::Ping { ttl_ds, context } => {
                Command::Pong(context).encode(&mut self.tx);
                if ttl_ds > 0 && self.timers.get(Timer::PeerTtl).is_none() {
                    let ttl = Duration::from_millis(u64::from(ttl_ds) * 100);
                    self.timers.set(Timer::PeerTtl, self.now + ttl);
                }
            }
            Command::Pong(_) => {}
            Command::Subscribe(topic) => {
                if self.config.socket_type.is_publisher() {
                    self.events.push_back(Event::Subscribe(topic));
                }
            }
            Command::Cancel(topic) => {
                if self.config.socket_type.is_publisher() {
                    self.events.push_back(Event::Cancel(topic));
                }
            }
            Command::Error(reason) => return Err(Error::from_peer_reason(&reason)),
            Command::Ready(_) | Command::Other { .. } => {
                // Unknown or late commands are ignored after the handshake, as libzmq does.
                tracing::trace!("ignoring command after handshake");
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn handle_message_frame(&mut self, more: bool, body: Frame) -> Result<(), Error> {
        if self.state != State::Active {
            return Err(Error::MessageBeforeHandshake);
        }
        if !more && self.partial.is_empty() && !self.partial_is_subscription && !self.publisher {
            // The common single-frame message goes straight into the queue.
            if self.config.conflate {
                self.inbound.clear();
                self.inbound_bytes = 0;
            }
            if !body.is_inline() {
                self.inbound_bytes += body.len();
            }
            // Built in its slot: a message assembled on the stack with word stores and then
            // moved in with wider loads stalled store forwarding on every small message.
            self.inbound.push_back(Msg::new());
            self.inbound.back_mut().expect("just pushed").push(body);
            return Ok(());
        }
        if self.partial_is_subscription {
            // Trailing frames of a subscription message carry nothing for us. Checked first:
            // a trailing frame that starts with 0x00/0x01 is not a new subscription.
            self.partial_is_subscription = more;
            return Ok(());
        }
        if self.partial.is_empty() && self.publisher && matches!(body.first(), Some(0 | 1)) {
            // A ZMTP 3.0 subscription message (checklist V7): 0x01 topic / 0x00 topic.
            let topic = body.to_bytes().slice(1..);
            self.events.push_back(if body[0] == 1 {
                Event::Subscribe(topic)
            } else {
                Event::Cancel(topic)
            });
            self.partial_is_subscription = more;
            return Ok(());
        }
        self.partial_bytes += body.len() as u64;
        self.partial.push(body);
        if !more {
            let msg = std::mem::take(&mut self.partial);
            self.partial_bytes = 0;
            if self.config.conflate {
                self.inbound.clear();
                self.inbound_bytes = 0;
            }
            self.inbound_bytes += shared_bytes(&msg);
            self.inbound.push_back(msg);
        }
        Ok(())
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
        if self.state != State::Active {
            // Only an active connection has no error (`fail` leaves the Active state).
            self.check_can_send()?;
        }
        let Some((last, front)) = msg.frames().split_last() else {
            return Err(Error::InvalidState("a message needs at least one frame"));
        };
        for frame in front {
            self.encode_frame(FLAG_MORE, frame);
        }
        self.encode_frame(0, last);
        Ok(())
    }

    /// Encodes a one-frame message whose body is copied from `body` into the coalescing
    /// buffer: the one copy on its way out (no [`Msg`] is built, nothing is allocated beyond
    /// the buffer's own growth). Fails unless the handshake is complete.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use zmtp_proto::{Connection, ConnectionConfig, Error, SocketType};
    /// let mut push = Connection::new(ConnectionConfig::new(SocketType::Push), Instant::now());
    /// // Before the handshake there is nobody to send to.
    /// assert!(matches!(push.send_slice(b"work"), Err(Error::InvalidState(_))));
    /// ```
    pub fn send_slice(&mut self, body: &[u8]) -> Result<(), Error> {
        if self.state != State::Active {
            self.check_can_send()?;
        }
        self.encode_copy(0, body);
        Ok(())
    }

    /// Like [`Connection::send`], with the frames of `envelope` sent first, in front of the
    /// frames of `msg` (REQ and REP envelopes, without building the whole message).
    pub(crate) fn send_enveloped(&mut self, envelope: &[Frame], msg: &Msg) -> Result<(), Error> {
        if self.state != State::Active {
            self.check_can_send()?;
        }
        let Some((last, front)) = msg.frames().split_last() else {
            return Err(Error::InvalidState("a message needs at least one frame"));
        };
        for frame in envelope.iter().chain(front) {
            self.encode_frame(FLAG_MORE, frame);
        }
        self.encode_frame(0, last);
        Ok(())
    }

    /// Like [`Connection::send`], for the frames of a message (not empty).
    pub(crate) fn send_frames(&mut self, frames: &[Frame]) -> Result<(), Error> {
        if self.state != State::Active {
            self.check_can_send()?;
        }
        let Some((last, front)) = frames.split_last() else {
            return Err(Error::InvalidState("a message needs at least one frame"));
        };
        for frame in front {
            self.encode_frame(FLAG_MORE, frame);
        }
        self.encode_frame(0, last);
        Ok(())
    }

    /// Sends a subscription (`subscribe == true`) or a cancellation to the peer, as a command to
    /// a 3.1 peer and as a `0x01`/`0x00` message to a 3.0 peer (checklist V7).
    pub fn send_subscription(&mut self, topic: &[u8], subscribe: bool) -> Result<(), Error> {
        self.check_can_send()?;
        let version = self.peer_version.expect("active");
        if version.has_commands() {
            let name: &[u8] = if subscribe { b"SUBSCRIBE" } else { b"CANCEL" };
            crate::command::encode_command(name, topic, &mut self.tx);
        } else {
            encode_header(0, topic.len() + 1, &mut self.tx);
            self.tx.put_u8(u8::from(subscribe));
            self.tx.put_slice(topic);
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

    /// Encodes a frame whose body is copied into the coalescing buffer; a short one (the
    /// common small frame) with one reservation, a two-byte header and the body.
    #[inline]
    fn encode_copy(&mut self, flags: u8, body: &[u8]) {
        let len = body.len();
        if len <= 255 {
            self.tx.reserve(2 + len);
            self.tx.put_u16(u16::from_be_bytes([flags, len as u8]));
        } else {
            encode_header(flags, len, &mut self.tx);
        }
        self.tx.extend_from_slice(body);
    }

    fn encode_frame(&mut self, flags: u8, body: &Frame) {
        if let Some(data) = body.inline_storage() {
            // A small frame copied at a fixed size (header, bytes and padding), then cut to
            // its length: no variable-length copy per small message.
            let len = usize::from(data[INLINE_FRAME_BYTES]);
            // Word by word, as the frame was built: a wider load of bytes stored moments ago as
            // words (the message was just made) stalls store forwarding.
            let word = |i: usize| u64::from_le_bytes(data[i..i + 8].try_into().expect("8 bytes"));
            let (w0, w1, w2) = (word(0), word(8), word(16));
            let mut frame = [0; INLINE_FRAME_BYTES + 3];
            frame[0] = flags;
            frame[1] = len as u8;
            frame[2..10].copy_from_slice(&w0.to_le_bytes());
            frame[10..18].copy_from_slice(&w1.to_le_bytes());
            frame[18..].copy_from_slice(&w2.to_le_bytes());
            let at = self.tx.len();
            self.tx.extend_from_slice(&frame);
            self.tx.truncate(at + 2 + len);
            return;
        }
        let len = body.len();
        if len <= 255 && len < self.config.zero_copy_threshold {
            self.encode_copy(flags, body);
            return;
        }
        encode_header(flags, len, &mut self.tx);
        if let Some(shared) = body
            .as_shared()
            .filter(|_| len >= self.config.zero_copy_threshold)
        {
            self.flush_tx_to_segments();
            self.segments_len += len;
            self.segments.push_back(shared.clone());
        } else {
            self.tx.put_slice(body);
        }
    }

    fn flush_tx_to_segments(&mut self) {
        if !self.tx.is_empty() {
            let head = self.tx.split().freeze();
            self.segments_len += head.len();
            self.segments.push_back(head);
        }
    }

    /// Bytes waiting to be written.
    pub fn transmit_len(&self) -> usize {
        self.segments_len + self.tx.len()
    }

    /// True if there is something to write.
    pub fn has_transmit(&self) -> bool {
        self.transmit_len() > 0
    }

    /// Fills `dst` with the pending output, in order, for a vectored write; returns how many
    /// slices were filled. Report what was written with [`Connection::advance_transmit`].
    pub fn transmit_chunks<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for seg in &self.segments {
            if n == dst.len() {
                return n;
            }
            dst[n] = IoSlice::new(seg);
            n += 1;
        }
        if !self.tx.is_empty() && n < dst.len() {
            dst[n] = IoSlice::new(&self.tx);
            n += 1;
        }
        n
    }

    /// Marks `n` bytes of the pending output as written.
    pub fn advance_transmit(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            self.segments_len -= k;
            n -= k;
            if front.is_empty() {
                self.segments.pop_front();
            }
        }
        let k = n.min(self.tx.len());
        self.tx.advance(k);
        debug_assert_eq!(n, k, "advanced past the pending output");
        if self.tx.is_empty() {
            // Reclaim the whole buffer (no allocation when nothing else holds it).
            self.tx.clear();
        }
    }

    /// Moves all pending output into `out` as owned buffers, for completion-based I/O that
    /// keeps the buffers while the kernel writes them. The output counts as written.
    pub fn take_transmit(&mut self, out: &mut Vec<Bytes>) {
        self.flush_tx_to_segments();
        out.extend(self.segments.drain(..));
        self.segments_len = 0;
    }

    // ----------------------------------------------------------------------------------------
    // Time
    // ----------------------------------------------------------------------------------------

    /// The next instant at which [`Connection::handle_timeout`] must be called.
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
            Command::Ping {
                ttl_ds,
                context: Bytes::new(),
            }
            .encode(&mut self.tx);
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

#[cfg(test)]
mod tests {
    use super::complete_frames;

    #[test]
    fn complete_frames_takes_whole_frames_only() {
        // Two one-frame messages and the start of a third.
        let buf = [0, 1, b'a', 0, 0, 0, 5, b'x'];
        assert_eq!(complete_frames(&buf, usize::MAX, usize::MAX), 5);
        // Stops after the frame that ends the `room`-th message.
        assert_eq!(complete_frames(&buf, 1, usize::MAX), 3);
        // MORE frames and commands do not count as messages.
        let buf = [1, 1, b'a', 4, 0, 0, 1, b'b'];
        assert_eq!(complete_frames(&buf, 1, usize::MAX), 8);
        // A long header, whole and cut short; a size beyond what is held.
        let mut long = vec![2, 0, 0, 0, 0, 0, 0, 0, 1, b'z'];
        assert_eq!(complete_frames(&long, usize::MAX, usize::MAX), 10);
        assert_eq!(complete_frames(&long[..9], usize::MAX, usize::MAX), 0);
        assert_eq!(complete_frames(&long[..5], usize::MAX, usize::MAX), 0);
        long[1] = 0x80;
        assert_eq!(complete_frames(&long, usize::MAX, usize::MAX), 0);
        // A command with MORE is left to the careful path, which reports it.
        assert_eq!(complete_frames(&[0, 0, 5, 0], usize::MAX, usize::MAX), 2);
        // Bodies too large to be inline count against the byte budget; inline ones do not.
        let mut two = vec![0, 30];
        two.extend_from_slice(&[7; 30]);
        two.extend_from_within(..);
        assert_eq!(complete_frames(&two, usize::MAX, 30), 32);
        assert_eq!(complete_frames(&two, usize::MAX, 31), 64);
        let small = [0, 3, 1, 2, 3, 0, 3, 4, 5, 6];
        assert_eq!(complete_frames(&small, usize::MAX, 1), 10);
    }
}
