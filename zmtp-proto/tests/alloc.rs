//! Heap allocations on the hot paths, counted by a global allocator.
//!
//! After warm-up, decoding small messages through `read_buf`/`handle_read` + `poll_message`
//! must not allocate per message (bodies are slices of the input arena, `Msg` keeps up to four
//! frames inline, the arena is reused once the application dropped the messages), and encoding
//! through `send` + `transmit_chunks`/`advance_transmit` must not allocate at all (the
//! coalescing buffer is reclaimed once written). The same holds through CURVE (frames sealed in
//! place in the coalescing buffer, opened into the cipher's reused buffer).
//!
//! What remains on the decode side is amortised: about two allocations per 64 KiB arena refill
//! (a new slab when the old one is still referenced by a message that spans the refill, plus the
//! `bytes` crate's shared header when the new slab is first split), i.e. ~0.002 per small
//! message.
#![allow(missing_docs)]
// reason: test crate

mod support;

use std::io::IoSlice;

use bytes::Bytes;
use support::Side;
use support::*;
use zmtp_proto::{Connection, MechanismConfig, Msg, SocketType};
use zmtp_proto::{
    CurveClientConfig, CurveClients, CurveKeyPair, CurveSecretKey, CurveServerConfig,
};

use alloc_count::{allocations, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Payload source: static, so building a `Msg` from it allocates nothing.
static PAYLOAD: [u8; 64] = [0xab; 64];

/// A small message: 1-3 frames of 16-64 bytes, varying with `i`.
fn small_msg(i: usize) -> Msg {
    let frames = 1 + i % 3;
    Msg::from_frames(
        (0..frames).map(|j| Bytes::from_static(&PAYLOAD[..16 + (i * 7 + j * 13) % 49])),
    )
}

/// Writes everything `conn` has pending through the vectored-write path into a sink that does
/// not allocate; returns the bytes written.
fn write_all(conn: &mut Connection, sink: &mut Vec<u8>) -> usize {
    let mut total = 0;
    while conn.has_transmit() {
        let mut slices = [IoSlice::new(&[]); 8];
        let n = conn.transmit_chunks(&mut slices);
        let mut written = 0;
        for s in &slices[..n] {
            sink.clear(); // capacity is kept: a "write" that never reallocates
            sink.extend_from_slice(&s[..s.len().min(sink.capacity())]);
            written += sink.len();
            if sink.len() < s.len() {
                break;
            }
        }
        conn.advance_transmit(written);
        total += written;
    }
    total
}

/// A PUSH and a PULL config, with CURVE on both when `curve` is set.
fn push_pull(curve: bool) -> (Side, Side) {
    let (mut push, mut pull) = (Side::new(SocketType::Push), Side::new(SocketType::Pull));
    if curve {
        let key = |n| CurveKeyPair::from_secret(CurveSecretKey::from_bytes([n; 32]));
        push.mechanism =
            MechanismConfig::CurveClient(CurveClientConfig::new(*key(1).public(), key(2)));
        pull.mechanism =
            MechanismConfig::CurveServer(CurveServerConfig::new(key(1), CurveClients::any()));
    }
    (push, pull)
}

/// Checklist-independent performance contract: decoding small messages allocates nothing per
/// message once warm (only amortised arena refills are allowed).
#[test]
fn decode_small_messages_does_not_allocate_per_message() {
    decode_small_messages(false);
}

/// The same through CURVE: each MESSAGE is opened into the cipher's reused buffer and a small
/// body copied out inline.
#[test]
fn decode_small_curve_messages_does_not_allocate_per_message() {
    decode_small_messages(true);
}

fn decode_small_messages(curve: bool) {
    const MESSAGES: usize = 200_000;
    const WARM_UP: usize = 20_000;
    let (push, pull) = push_pull(curve);
    let mut p = Pair::connected(push, pull);
    // Pre-encode the whole stream (allocations here do not count).
    let mut stream = Vec::new();
    for i in 0..MESSAGES {
        p.client.send(&small_msg(i)).unwrap();
        if i % 256 == 255 {
            stream.extend_from_slice(&take_all_output(&mut p.client));
        }
    }
    stream.extend_from_slice(&take_all_output(&mut p.client));
    let warm_up_bytes = stream.len() / (MESSAGES / WARM_UP);

    let now = p.now;
    let server = &mut p.server;
    let mut received = 0usize;
    let mut received_bytes = 0usize;
    let mut at = 0;
    let mut counted_from = None;
    while at < stream.len() {
        if counted_from.is_none() && at >= warm_up_bytes {
            counted_from = Some((allocations(), received));
        }
        // A readiness-based driver: read at most the spare capacity of the arena.
        let buf = server.read_buf();
        let spare = buf.capacity() - buf.len();
        let n = spare.min(stream.len() - at).min(16 * 1024);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        server.handle_read(now).unwrap();
        while let Some(m) = server.poll_message() {
            received += 1;
            received_bytes += m.byte_len();
        }
    }
    let (allocs_before, received_before) = counted_from.unwrap();
    let allocations = allocations() - allocs_before;
    let measured = received - received_before;
    assert_eq!(received, MESSAGES);
    assert_eq!(
        received_bytes,
        (0..MESSAGES)
            .map(|i| small_msg(i).byte_len())
            .sum::<usize>()
    );
    let per_message = allocations as f64 / measured as f64;
    eprintln!("decode: {allocations} allocations for {measured} messages ({per_message:.5}/msg)");
    assert!(
        per_message < 0.01,
        "{allocations} allocations for {measured} messages"
    );
}

/// Encoding through `send` + `transmit_chunks`/`advance_transmit` allocates nothing in steady
/// state.
#[test]
fn encode_small_messages_does_not_allocate() {
    encode_small_messages(false);
}

/// The same through CURVE: each frame is sealed in place in the coalescing buffer.
#[test]
fn encode_small_curve_messages_does_not_allocate() {
    encode_small_messages(true);
}

fn encode_small_messages(curve: bool) {
    const MESSAGES: usize = 200_000;
    const BATCH: usize = 64;
    let (push, pull) = push_pull(curve);
    let mut p = Pair::connected(push, pull);
    let msgs: Vec<Msg> = (0..BATCH).map(small_msg).collect();
    let mut sink = Vec::with_capacity(64 * 1024);
    let client = &mut p.client;
    let mut encode = |rounds: usize| {
        let mut bytes = 0;
        for _ in 0..rounds {
            for m in &msgs {
                client.send(m).unwrap();
            }
            bytes += write_all(client, &mut sink);
        }
        bytes
    };
    // Warm-up.
    encode(100);
    let before = allocations();
    let bytes = encode(MESSAGES / BATCH);
    let allocations = allocations() - before;
    eprintln!("encode: {allocations} allocations for {MESSAGES} messages, {bytes} bytes");
    assert!(bytes > MESSAGES * 18);
    assert_eq!(
        allocations, 0,
        "allocations while encoding {MESSAGES} messages"
    );
}
