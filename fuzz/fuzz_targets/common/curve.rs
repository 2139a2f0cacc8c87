//! What the two CURVE targets share: a recorded, valid CURVE session (fixed entropy, so the
//! same bytes every run) between a DEALER client and a ROUTER server, and the driving loop.
//!
//! The input either replaces the peer's bytes after a valid prefix of them (stage 0: nothing,
//! 1: the greeting, 2: the first handshake command, 3: the whole handshake) or flips bytes of
//! the whole recorded stream at positions it chooses, so every stage sees corrupt input.
//!
//! Checks: no panic; an error is sticky and reported as `Closed` exactly once; nothing is
//! decoded after it; messages are never empty; a connection fed only valid bytes succeeds.
// reason: each target reads one side of the recorded session.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use zmtp_proto::fuzzing::FrameHeader;
use zmtp_proto::{
    CurveClientConfig, CurveClients, CurveKeyPair, CurveSecretKey, CurveServerConfig,
};
use zmtp_proto::{Connection, ConnectionConfig, Event, MechanismConfig, Msg, SocketType};

pub const CLIENT_ENTROPY: [u8; 32] = [0xC1; 32];
pub const SERVER_ENTROPY: [u8; 32] = [0x5E; 32];

#[derive(Debug, Arbitrary)]
pub struct Input {
    pub mode: u8,
    pub flips: Vec<(u16, u8)>,
    pub bytes: Vec<u8>,
}

fn keys(n: u8) -> CurveKeyPair {
    CurveKeyPair::from_secret(CurveSecretKey::from_bytes([n; 32]))
}

/// The client: a DEALER.
pub const CLIENT_TYPE: SocketType = SocketType::Dealer;
/// The server: a ROUTER.
pub const SERVER_TYPE: SocketType = SocketType::Router;

pub fn client_config() -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.mechanism =
        MechanismConfig::CurveClient(CurveClientConfig::new(*keys(1).public(), keys(2)));
    c.heartbeat_ivl = Some(Duration::from_millis(50));
    c
}

pub fn server_config() -> ConnectionConfig {
    let mut c = ConnectionConfig::default();
    c.mechanism = MechanismConfig::CurveServer(CurveServerConfig::new(
        keys(1),
        CurveClients::only([*keys(2).public()]),
    ));
    c.maxmsgsize = Some(4096);
    c
}

/// What each side sent in a valid session: greeting, handshake, a message each way, and the
/// client's PING with the server's PONG.
pub struct Session {
    pub client: Vec<u8>,
    pub server: Vec<u8>,
}

pub fn session() -> &'static Session {
    static SESSION: OnceLock<Session> = OnceLock::new();
    SESSION.get_or_init(|| {
        let now = Instant::now();
        let mut c = Connection::with_entropy(CLIENT_TYPE, client_config(), now, CLIENT_ENTROPY);
        let mut s = Connection::with_entropy(SERVER_TYPE, server_config(), now, SERVER_ENTROPY);
        let (mut to_s, mut to_c) = (Vec::new(), Vec::new());
        let mut sent = false;
        for round in 0..20 {
            let mut out = Vec::new();
            c.take_transmit(&mut out);
            for b in out {
                to_s.extend_from_slice(&b);
                s.handle_input(&b, now).expect("valid client bytes");
            }
            let mut out = Vec::new();
            s.take_transmit(&mut out);
            for b in out {
                to_c.extend_from_slice(&b);
                c.handle_input(&b, now).expect("valid server bytes");
            }
            if c.is_active() && s.is_active() && !sent {
                c.send(&Msg::from_frames([&b"hello"[..], b""].map(bytes::Bytes::from_static)))
                    .unwrap();
                s.send(&Msg::from("world")).unwrap();
                c.handle_timeout(now + Duration::from_millis(60 + round));
                sent = true;
            }
        }
        assert!(sent, "the recorded session completes its handshake");
        Session {
            client: to_s,
            server: to_c,
        }
    })
}

/// The end of the greeting and of each frame in a recorded stream.
fn stage_ends(stream: &[u8]) -> Vec<usize> {
    let mut ends = vec![0, 64];
    let mut at = 64;
    while let Ok(Some(h)) = FrameHeader::parse(&stream[at..]) {
        at += h.header_len + h.size as usize;
        ends.push(at);
    }
    ends
}

/// Feeds the bytes `input` makes of `recorded` to a fresh connection and checks it.
pub fn run(
    input: &Input,
    socket_type: SocketType,
    config: ConnectionConfig,
    entropy: [u8; 32],
    recorded: &[u8],
) {
    let stream = if input.mode & 0x80 != 0 {
        let mut s = recorded.to_vec();
        for &(at, xor) in &input.flips {
            let at = usize::from(at) % s.len();
            s[at] ^= xor;
        }
        s.extend_from_slice(&input.bytes);
        s
    } else {
        let ends = stage_ends(recorded);
        let end = ends[usize::from(input.mode % 4).min(ends.len() - 1)];
        let mut s = recorded[..end].to_vec();
        s.extend_from_slice(&input.bytes);
        s
    };
    let start = Instant::now();
    let mut conn = Connection::with_entropy(socket_type, config, start, entropy);
    let mut closed = 0;
    let chunk = 1 + usize::from(input.mode >> 2 & 0x1f) * 13;
    for (i, piece) in stream.chunks(chunk).enumerate() {
        let now = start + Duration::from_millis(i as u64 * 7);
        let result = conn.handle_input(piece, now);
        if let Err(e) = &result {
            assert_eq!(conn.error(), Some(e), "errors are sticky");
        }
        conn.handle_timeout(now);
        while let Some(ev) = conn.poll_event() {
            closed += usize::from(matches!(ev, Event::Closed(_)));
        }
        while let Some(m) = conn.poll_message() {
            assert!(!m.is_empty());
        }
        if conn.is_active() {
            let _ = conn.send(&Msg::from("x"));
        }
        let mut out = Vec::new();
        conn.take_transmit(&mut out);
    }
    assert_eq!(closed, usize::from(conn.error().is_some()), "Closed once");
    if let Some(e) = conn.error().cloned() {
        assert_eq!(conn.handle_input(b"\x00\x00", start), Err(e));
        assert!(conn.poll_message().is_none());
    } else if input.mode & 0x80 != 0 && input.flips.iter().all(|&(_, x)| x == 0) {
        assert!(conn.is_active(), "the untouched session succeeds");
    }
}
