//! Test support shared by the integration tests: an in-memory pair of connections on a virtual
//! clock, a wire tap that re-parses what each side sent, and builders for hand-crafted peer
//! bytes (greetings, READY, commands, frames).
//!
//! Each integration test crate compiles this module on its own and uses only part of it.
// reason: every test crate includes this module and uses a different subset of it, and `pub`
// here only means "visible to the test files".
#![allow(dead_code, unreachable_pub)]

use std::io::IoSlice;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use zmtp_proto::fuzzing::Command;
use zmtp_proto::fuzzing::GREETING_LEN;
use zmtp_proto::fuzzing::{encode_frame, FrameHeader, FLAG_COMMAND, FLAG_MORE};
use zmtp_proto::{Connection, ConnectionConfig, Error, Event, Metadata, Msg, SocketType};

/// Upper bound on `step()` rounds in `drive()`: a handshake needs three and a few MB one byte
/// per round need a few million, so anything beyond means two machines keep talking forever.
const MAX_ROUNDS: usize = 10_000_000;

/// The entropy `Pair` gives its client (CURVE's transient keys and nonces come from it).
pub const CLIENT_ENTROPY: [u8; 32] = [0xC1; 32];
/// The entropy `Pair` gives its server.
pub const SERVER_ENTROPY: [u8; 32] = [0x5E; 32];

/// A socket type and the settings of one connection of it: what a test builds a [`Connection`]
/// from (it reads and writes the settings as if it were the [`ConnectionConfig`]).
#[derive(Debug, Clone)]
pub struct Side {
    pub socket_type: SocketType,
    pub config: ConnectionConfig,
}

impl Side {
    /// The default settings for a connection of a socket of type `socket_type`.
    pub fn new(socket_type: SocketType) -> Self {
        Self {
            socket_type,
            config: ConnectionConfig::default(),
        }
    }

    /// A connection built from these (see [`Connection::new`]).
    pub fn connection(self, now: Instant) -> Connection {
        Connection::new(self.socket_type, self.config, now)
    }

    /// A connection built from these with `entropy` (see [`Connection::with_entropy`]).
    pub fn with_entropy(self, now: Instant, entropy: [u8; 32]) -> Connection {
        Connection::with_entropy(self.socket_type, self.config, now, entropy)
    }
}

impl std::ops::Deref for Side {
    type Target = ConnectionConfig;
    fn deref(&self) -> &ConnectionConfig {
        &self.config
    }
}

impl std::ops::DerefMut for Side {
    fn deref_mut(&mut self) -> &mut ConnectionConfig {
        &mut self.config
    }
}

/// A client and a server connection joined by an in-memory byte pipe, on a virtual clock.
///
/// Bytes move only when `step()` / `drive()` / `deliver_*()` are called, so tests decide exactly
/// what each side has seen. Everything that crossed the pipe is recorded in `c2s` / `s2c` taps.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    /// The virtual clock: an `Instant` that only moves when a test advances it.
    pub now: Instant,
    /// Every byte the client wrote, parsed back into frames.
    pub c2s: Tap,
    /// Every byte the server wrote, parsed back into frames.
    pub s2c: Tap,
    /// At most this many bytes move per direction per `step()` (`usize::MAX` = all pending).
    pub max_chunk: usize,
}

impl Pair {
    /// A pair with default configs for the two socket types.
    pub fn new(client: SocketType, server: SocketType) -> Self {
        Self::with_configs(Side::new(client), Side::new(server))
    }

    /// A pair with the given configs; nothing has moved yet.
    pub fn with_configs(client: Side, server: Side) -> Self {
        let now = Instant::now();
        Self {
            // Fixed entropy (used by CURVE only): the same configs give the same bytes.
            client: client.with_entropy(now, CLIENT_ENTROPY),
            server: server.with_entropy(now, SERVER_ENTROPY),
            now,
            c2s: Tap::default(),
            s2c: Tap::default(),
            max_chunk: usize::MAX,
        }
    }

    /// A pair whose handshake has completed, with the two `HandshakeSucceeded` events consumed.
    pub fn connected(client: Side, server: Side) -> Self {
        let mut p = Self::with_configs(client, server);
        p.drive();
        assert!(p.client.is_active(), "client: {:?}", p.client.error());
        assert!(p.server.is_active(), "server: {:?}", p.server.error());
        for conn in [&mut p.client, &mut p.server] {
            let events = drain_events(conn);
            assert!(
                matches!(events.as_slice(), [Event::HandshakeSucceeded(_)]),
                "{events:?}"
            );
        }
        p
    }

    /// Moves the pending output of each side to the other once (client first). Returns the
    /// number of bytes moved. Input errors are not returned: they stay visible through
    /// `error()` and `Event::Closed`, which is what tests look at.
    pub fn step(&mut self) -> usize {
        let now = self.now;
        let a = transfer(
            &mut self.client,
            &mut self.server,
            &mut self.c2s,
            self.max_chunk,
            now,
        );
        let b = transfer(
            &mut self.server,
            &mut self.client,
            &mut self.s2c,
            self.max_chunk,
            now,
        );
        a + b
    }

    /// Steps until no bytes move in either direction.
    pub fn drive(&mut self) {
        for _ in 0..MAX_ROUNDS {
            if self.step() == 0 {
                return;
            }
        }
        panic!("pair still busy after {MAX_ROUNDS} rounds");
    }

    /// Moves only the client's pending output to the server.
    pub fn deliver_c2s(&mut self) -> usize {
        transfer(
            &mut self.client,
            &mut self.server,
            &mut self.c2s,
            usize::MAX,
            self.now,
        )
    }

    /// Moves only the server's pending output to the client.
    pub fn deliver_s2c(&mut self) -> usize {
        transfer(
            &mut self.server,
            &mut self.client,
            &mut self.s2c,
            usize::MAX,
            self.now,
        )
    }

    /// Advances the virtual clock and runs both timers (without moving bytes).
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }
}

/// Writes up to `max` pending bytes of `from` into `to` through the vectored-write path
/// (`transmit_chunks` + `advance_transmit`), recording them in `tap`.
pub fn transfer(
    from: &mut Connection,
    to: &mut Connection,
    tap: &mut Tap,
    max: usize,
    now: Instant,
) -> usize {
    let bytes = take_output(from, max);
    if bytes.is_empty() {
        return 0;
    }
    tap.feed(&bytes);
    let _ = to.handle_input(&bytes, now);
    bytes.len()
}

/// Collects up to `max` bytes of `conn`'s pending output, the way a driver's vectored write
/// would, and marks them written.
pub fn take_output(conn: &mut Connection, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut slices = [IoSlice::new(&[]); 16];
        let n = conn.transmit_chunks(&mut slices);
        for s in &slices[..n] {
            let room = max - out.len();
            out.extend_from_slice(&s[..s.len().min(room)]);
            if out.len() == max {
                break;
            }
        }
    }
    conn.advance_transmit(out.len());
    if out.len() < max && conn.has_transmit() {
        // More than 16 segments were queued: go round again.
        let rest = take_output(conn, max - out.len());
        out.extend_from_slice(&rest);
    }
    out
}

/// All of `conn`'s pending output.
pub fn take_all_output(conn: &mut Connection) -> Vec<u8> {
    take_output(conn, usize::MAX)
}

pub fn drain_events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

pub fn drain_messages(conn: &mut Connection) -> Vec<Msg> {
    std::iter::from_fn(|| conn.poll_message()).collect()
}

/// One frame seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    pub flags: u8,
    pub body: Bytes,
}

impl WireFrame {
    pub fn is_command(&self) -> bool {
        self.flags & FLAG_COMMAND != 0
    }

    /// The command name, for command frames.
    pub fn command_name(&self) -> Option<&[u8]> {
        if !self.is_command() {
            return None;
        }
        let len = usize::from(*self.body.first()?);
        self.body.get(1..1 + len)
    }

    /// The parsed command, for command frames.
    pub fn command(&self) -> Option<Command> {
        if !self.is_command() {
            return None;
        }
        Command::parse(&self.body).ok()
    }
}

/// Re-parses a byte stream (greeting, then frames) independently of the connection under test.
#[derive(Debug, Default)]
pub struct Tap {
    pub raw: Vec<u8>,
    parsed: usize,
    pub frames: Vec<WireFrame>,
}

impl Tap {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        if self.parsed == 0 {
            if self.raw.len() < GREETING_LEN {
                return;
            }
            self.parsed = GREETING_LEN;
        }
        while let Ok(Some(h)) = FrameHeader::parse(&self.raw[self.parsed..]) {
            let start = self.parsed + h.header_len;
            let end = start + h.size as usize;
            if self.raw.len() < end {
                break;
            }
            self.frames.push(WireFrame {
                flags: h.flags,
                body: Bytes::copy_from_slice(&self.raw[start..end]),
            });
            self.parsed = end;
        }
    }

    /// The greeting that was sent, once complete.
    pub fn greeting(&self) -> Option<&[u8]> {
        self.raw.get(..GREETING_LEN)
    }

    /// Command frames with this name.
    pub fn commands_named(&self, name: &[u8]) -> Vec<&WireFrame> {
        self.frames
            .iter()
            .filter(|f| f.command_name() == Some(name))
            .collect()
    }

    /// Message (non-command) frames.
    pub fn message_frames(&self) -> Vec<&WireFrame> {
        self.frames.iter().filter(|f| !f.is_command()).collect()
    }
}

/// Parses a whole stream (greeting included) into frames.
pub fn parse_stream(bytes: &[u8]) -> Vec<WireFrame> {
    let mut tap = Tap::default();
    tap.feed(bytes);
    tap.frames
}

// ------------------------------------------------------------------------------------------
// Hand-crafted peer bytes
// ------------------------------------------------------------------------------------------

/// A NULL greeting for the given minor version (3.0 or 3.1), byte for byte as RFC 23 lays it
/// out, built by hand rather than with the crate's encoder.
pub fn greeting(minor: u8) -> [u8; 64] {
    greeting_with(3, minor, b"NULL", false)
}

pub fn greeting_with(major: u8, minor: u8, mechanism: &[u8], as_server: bool) -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xff;
    g[9] = 0x7f;
    g[10] = major;
    g[11] = minor;
    g[12..12 + mechanism.len()].copy_from_slice(mechanism);
    g[32] = u8::from(as_server);
    g
}

/// A command frame (header + body) with `name` and `data`, built by hand.
pub fn command(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(data);
    frame(FLAG_COMMAND, &body)
}

/// A frame with the given flags (short header when the body is at most 255 bytes).
pub fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(flags, body, &mut out);
    out
}

/// A frame with a LONG (8-byte) header whatever the body size (checklist F2).
pub fn long_frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![flags | 0x02];
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Metadata wire encoding of `(name, value)` pairs, built by hand.
pub fn metadata(props: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in props {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.put_u32(value.len() as u32);
        out.extend_from_slice(value);
    }
    out
}

/// A READY command announcing `socket_type` (plus any extra properties).
pub fn ready(socket_type: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut props: Vec<(&str, &[u8])> = vec![("Socket-Type", socket_type.as_bytes())];
    props.extend_from_slice(extra);
    command(b"READY", &metadata(&props))
}

/// The wire bytes of a whole message (MORE on all but the last frame).
pub fn message(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let flags = if i + 1 == frames.len() { 0 } else { FLAG_MORE };
        out.extend_from_slice(&frame(flags, f));
    }
    out
}

/// A server-side connection (type `ours`) that has received a complete 3.1 handshake from a
/// hand-crafted peer of type `peer`; the HandshakeSucceeded event and our output are consumed.
pub fn handshaken(ours: Side, peer: &str, minor: u8) -> (Connection, Instant) {
    let now = Instant::now();
    let mut conn = ours.connection(now);
    let mut input = greeting(minor).to_vec();
    input.extend_from_slice(&ready(peer, &[]));
    conn.handle_input(&input, now).expect("handshake");
    let events = drain_events(&mut conn);
    assert!(
        matches!(events.as_slice(), [Event::HandshakeSucceeded(_)]),
        "{events:?}"
    );
    take_all_output(&mut conn);
    (conn, now)
}

/// Feeds `input` to a fresh connection of type `ours` and returns the error it must fail
/// with, checking the error is reported exactly once as `Event::Closed`.
pub fn fail_with(config: Side, input: &[u8]) -> Error {
    let now = Instant::now();
    let mut conn = config.connection(now);
    let err = conn
        .handle_input(input, now)
        .expect_err("input must be refused");
    assert_closed_once(&mut conn, &err);
    err
}

/// The peer of the only event, which must be `HandshakeSucceeded`.
pub fn handshake_info(events: &[Event]) -> &zmtp_proto::PeerInfo {
    match events {
        [Event::HandshakeSucceeded(info)] => info,
        other => panic!("expected one HandshakeSucceeded, got {other:?}"),
    }
}

/// The connection's events end with exactly one `Closed(err)`.
pub fn assert_closed_once(conn: &mut Connection, err: &Error) {
    let events = drain_events(conn);
    let closed: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .collect();
    assert_eq!(closed, [&Event::Closed(err.clone())], "{events:?}");
    assert_eq!(conn.error(), Some(err));
    assert!(!conn.is_active());
}

/// A metadata value list helper for tests that compare `PeerInfo` metadata.
pub fn meta(props: &[(&str, &str)]) -> Metadata {
    let mut m = Metadata::new();
    for (n, v) in props {
        m.insert(
            Bytes::copy_from_slice(n.as_bytes()),
            Bytes::copy_from_slice(v.as_bytes()),
        );
    }
    m
}

/// A message of owned frames.
pub fn msg(frames: &[&[u8]]) -> Msg {
    Msg::from_frames(frames.iter().map(|f| Bytes::copy_from_slice(f)))
}
