//! Raw bytes into a server-side `Connection`, in arbitrary chunks through all three input
//! paths, with time passing and everything drained after each read. The first byte chooses
//! the socket type, whether a valid greeting (and READY) from a compatible peer comes first,
//! and tight limits; without the prefix the bytes are fed as they are.
//!
//! Checks: no panic; a returned error is the sticky one and is reported as `Closed` exactly
//! once; messages are never empty; nothing is decoded after the error.
#![no_main]

use std::io::IoSlice;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmtp_proto::{Connection, ConnectionConfig, Event, Msg, SocketType};

#[derive(Debug, Arbitrary)]
struct Input {
    mode: u8,
    cuts: Vec<u16>,
    bytes: Vec<u8>,
}

fn greeting() -> [u8; 64] {
    zmtp_proto::fuzzing::encode_greeting(b"NULL", false)
}

fn ready(peer: SocketType) -> Vec<u8> {
    let mut m = zmtp_proto::Metadata::new();
    m.insert("Socket-Type", peer.as_str());
    let mut out = Vec::new();
    zmtp_proto::fuzzing::Command::Ready(m).encode(&mut out);
    out
}

fuzz_target!(|input: Input| {
    let ours = SocketType::ALL[usize::from(input.mode) % SocketType::ALL.len()];
    let peer = SocketType::ALL
        .into_iter()
        .find(|&t| ours.is_compatible(t))
        .expect("every type has a peer");
    let mut config = ConnectionConfig::default();
    if input.mode & 0x20 != 0 {
        config.maxmsgsize = Some(1000);
        config.max_frames = 4;
        config.rcvhwm = 2;
        config.read_chunk = 64;
        config.zero_copy_threshold = 16;
    }
    if input.mode & 0x10 != 0 {
        config.heartbeat_ivl = Some(Duration::from_millis(50));
        config.heartbeat_ttl = Some(Duration::from_millis(300));
    }
    let mut stream = Vec::new();
    if input.mode & 0x80 == 0 {
        stream.extend_from_slice(&greeting());
        if input.mode & 0x40 == 0 {
            stream.extend_from_slice(&ready(peer));
        }
    }
    stream.extend_from_slice(&input.bytes);

    let mut cuts: Vec<usize> = input
        .cuts
        .iter()
        .map(|&c| usize::from(c) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();
    cuts.push(stream.len());

    let start = Instant::now();
    let mut now = start;
    let mut conn = Connection::new(ours, config, now);
    let mut closed = 0;
    let mut failed_with = None;
    let mut at = 0;
    for (i, &end) in cuts.iter().enumerate() {
        let piece = &stream[at..end];
        at = end;
        now += Duration::from_millis(u64::from(input.mode % 7) * 10);
        let result = match i % 3 {
            0 => conn.handle_input(piece, now),
            1 => {
                conn.read_buf().extend_from_slice(piece);
                conn.handle_read(now)
            }
            _ => {
                let mut buf = conn.take_read_buf();
                buf.extend_from_slice(piece);
                conn.give_read_buf(buf, now)
            }
        };
        if let Err(e) = &result {
            assert_eq!(conn.error(), Some(e));
            if let Some(first) = &failed_with {
                assert_eq!(first, e, "errors are sticky");
            }
            failed_with = Some(e.clone());
        }
        conn.handle_timeout(now);
        while let Some(ev) = conn.poll_event() {
            if matches!(ev, Event::Closed(_)) {
                closed += 1;
            }
        }
        // Leave messages queued now and then, so the receive high-water mark pauses decoding.
        if i % 4 != 3 {
            while let Some(m) = conn.poll_message() {
                assert!(!m.is_empty());
            }
        }
        if conn.is_active() && i % 5 == 0 {
            let body = Bytes::copy_from_slice(&piece[..piece.len().min(40)]);
            let _ = conn.send(&Msg::from_frames([body, Bytes::new()]));
            let _ = conn.send_subscription(&piece[..piece.len().min(8)], i % 2 == 0);
        }
        // Write part of what is pending.
        let mut slices = [IoSlice::new(&[]); 4];
        let n = conn.transmit_chunks(&mut slices);
        let pending: usize = slices[..n].iter().map(|s| s.len()).sum();
        conn.advance_transmit(pending / 2 + usize::from(i % 2 == 0) * (pending - pending / 2));
    }
    while let Some(m) = conn.poll_message() {
        assert!(!m.is_empty());
    }
    while let Some(ev) = conn.poll_event() {
        if matches!(ev, Event::Closed(_)) {
            closed += 1;
        }
    }
    assert_eq!(
        closed,
        usize::from(conn.error().is_some()),
        "Closed exactly once on failure"
    );
    if let Some(e) = conn.error().cloned() {
        assert_eq!(conn.handle_input(b"\x00\x00", now), Err(e));
        assert!(conn.poll_message().is_none());
        assert!(conn.poll_event().is_none());
    }
    let mut out = Vec::new();
    conn.take_transmit(&mut out);
    assert!(!conn.has_transmit());
});
