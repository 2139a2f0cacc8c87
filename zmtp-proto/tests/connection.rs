//! The connection machine, end to end: two `Connection`s on an in-memory pipe and a virtual
//! clock, plus hand-crafted peers for the cases a well-behaved peer never produces.
//!
//! Test names and comments cite the conformance checklist (`zmtp-checklist.md`) item ids.
#![allow(missing_docs)] // reason: test crate

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use support::Side;
use support::*;
use zmtp_proto::fuzzing::DEFAULT_HANDSHAKE_IVL;
use zmtp_proto::fuzzing::FLAG_MORE;
use zmtp_proto::fuzzing::{Command, MAX_PING_CONTEXT};
use zmtp_proto::MAX_HANDSHAKE_COMMAND;
use zmtp_proto::{Connection, Error, Event, Msg, SocketType, Version};

fn cfg(t: SocketType) -> Side {
    Side::new(t)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A greeting (3.1) followed by a READY from a peer of the given type.
fn greeting_and_ready(peer: &str) -> Vec<u8> {
    let mut v = greeting(1).to_vec();
    v.extend_from_slice(&ready(peer, &[]));
    v
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ------------------------------------------------------------------------------------------
// Handshake: socket types (§1.7, M3, N2, N4)
// ------------------------------------------------------------------------------------------

/// §1.7 / M3: every compatible ordered pair of the 11 standard types completes the NULL
/// handshake, each side learns the other's type and version, and a message crosses each way.
#[test]
fn s1_7_handshake_succeeds_for_every_compatible_pair() {
    let mut compatible = 0;
    for a in SocketType::ALL {
        for b in SocketType::ALL {
            assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a}/{b} symmetric");
            if !a.is_compatible(b) {
                continue;
            }
            compatible += 1;
            let mut p = Pair::new(a, b);
            p.drive();
            let ce = drain_events(&mut p.client);
            let se = drain_events(&mut p.server);
            let (ci, si) = (handshake_info(&ce), handshake_info(&se));
            assert_eq!((ci.socket_type, si.socket_type), (b, a), "{a}->{b}");
            assert_eq!((ci.version, si.version), (Version::V3_1, Version::V3_1));
            assert_eq!(
                si.metadata.get("Socket-Type").map(|v| &v[..]),
                Some(a.as_str().as_bytes())
            );
            assert_eq!(p.client.peer(), Some(ci));
            // The handshake is greeting + READY each way and nothing else (N2).
            for tap in [&p.c2s, &p.s2c] {
                assert_eq!(tap.frames.len(), 1, "{a}->{b}");
                assert_eq!(tap.frames[0].command_name(), Some(&b"READY"[..]));
            }
            let m1 = msg(&[b"from client", b""]);
            let m2 = msg(&[b"from server"]);
            p.client.send(&m1).unwrap();
            p.server.send(&m2).unwrap();
            p.drive();
            assert_eq!(drain_messages(&mut p.server), [m1], "{a}->{b}");
            assert_eq!(drain_messages(&mut p.client), [m2], "{a}->{b}");
        }
    }
    assert_eq!(
        compatible, 21,
        "RFC 37 table has 21 compatible ordered pairs"
    );
}

/// §1.7 / N4: every incompatible pair is refused on both sides with IncompatibleSocketType,
/// each side sends ERROR before closing (RFC 37 SHOULD), and nothing ever becomes active.
#[test]
fn s1_7_n4_every_incompatible_pair_is_refused_with_error_command() {
    let mut refused = 0;
    for a in SocketType::ALL {
        for b in SocketType::ALL {
            if a.is_compatible(b) {
                continue;
            }
            refused += 1;
            let mut p = Pair::new(a, b);
            p.drive();
            let ce = Error::IncompatibleSocketType { ours: a, theirs: b };
            let se = Error::IncompatibleSocketType { ours: b, theirs: a };
            assert_closed_once(&mut p.client, &ce);
            assert_closed_once(&mut p.server, &se);
            assert!(p.client.peer().is_none() && p.server.peer().is_none());
            for tap in [&p.c2s, &p.s2c] {
                let errors = tap.commands_named(b"ERROR");
                assert_eq!(errors.len(), 1, "{a}->{b}: {:?}", tap.frames);
                assert_eq!(
                    errors[0].command(),
                    Some(Command::Error(Bytes::from_static(b"Invalid socket type")))
                );
                assert!(tap.message_frames().is_empty());
            }
            assert_eq!(p.client.send(&Msg::from("x")), Err(ce));
        }
    }
    assert_eq!(refused, 121 - 21);
}

// ------------------------------------------------------------------------------------------
// Greeting arrival (G2, G3, G4) and READY ordering (N2, N3)
// ------------------------------------------------------------------------------------------

/// G2/G3: our full greeting is queued before any peer byte arrives, and a greeting that
/// arrives as libzmq sends it (10, then 1, then 53 bytes) is accepted.
#[test]
fn g3_greeting_in_libzmq_10_1_53_split() {
    let now = Instant::now();
    let mut server = cfg(SocketType::Pull).connection(now);
    let ours = take_all_output(&mut server);
    assert_eq!(ours.len(), 64, "whole greeting up front (G3)");
    assert_eq!((ours[0], ours[9], ours[10], ours[11]), (0xff, 0x7f, 3, 1));
    assert_eq!(&ours[12..16], b"NULL");

    let peer = greeting(1);
    server.handle_input(&peer[..10], now).unwrap();
    assert!(!server.has_transmit() && server.poll_event().is_none());
    server.handle_input(&peer[10..11], now).unwrap();
    assert!(!server.has_transmit() && server.poll_event().is_none());
    server.handle_input(&peer[11..], now).unwrap();
    // The greeting is complete: our READY goes out at once (N2), before the peer's.
    let frames = parse_stream(&concat(&[&peer, &take_all_output(&mut server)]));
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0].command(),
        Some(Command::Ready(meta(&[("Socket-Type", "PULL")])))
    );

    server
        .handle_input(&concat(&[&ready("PUSH", &[]), &message(&[b"hi"])]), now)
        .unwrap();
    handshake_info(&drain_events(&mut server));
    assert_eq!(drain_messages(&mut server), [msg(&[b"hi"])]);
}

/// G4 / N3: greeting, READY, messages and a command in a single read are all decoded.
#[test]
fn g4_greeting_ready_and_first_frames_in_one_read() {
    let now = Instant::now();
    let mut server = cfg(SocketType::Pull).connection(now);
    let input = concat(&[
        &greeting(1),
        &ready("PUSH", &[]),
        &message(&[b"one"]),
        &message(&[b"two", b"", b"parts"]),
        &command(b"PING", b"\x00\x00ctx"),
    ]);
    server.handle_input(&input, now).unwrap();
    handshake_info(&drain_events(&mut server));
    assert_eq!(
        drain_messages(&mut server),
        [msg(&[b"one"]), msg(&[b"two", b"", b"parts"])]
    );
    let out = take_all_output(&mut server);
    let frames = parse_stream(&out);
    let names: Vec<_> = frames.iter().map(|f| f.command_name().unwrap()).collect();
    assert_eq!(names, [&b"READY"[..], &b"PONG"[..]]);
}

/// G3 (any split): the whole client stream one byte at a time gives the same result.
#[test]
fn g3_whole_stream_one_byte_at_a_time() {
    let now = Instant::now();
    let mut server = cfg(SocketType::Router).connection(now);
    let input = concat(&[
        &greeting(1),
        &ready("DEALER", &[("Identity", b"id-1")]),
        &message(&[b"a", b"", &[7u8; 300]]),
    ]);
    for b in &input {
        server.handle_input(std::slice::from_ref(b), now).unwrap();
    }
    let events = drain_events(&mut server);
    assert_eq!(&handshake_info(&events).routing_id[..], b"id-1");
    assert_eq!(
        drain_messages(&mut server),
        [msg(&[b"a", b"", &[7u8; 300]])]
    );
}

/// N2: the peer's READY is accepted before ours has been written (it arrives with its
/// greeting)...
#[test]
fn n2_peer_ready_before_ours_is_written() {
    let now = Instant::now();
    let mut server = cfg(SocketType::Rep).connection(now);
    server
        .handle_input(&greeting_and_ready("REQ"), now)
        .unwrap();
    assert!(server.is_active());
    // Ours is still queued, behind our greeting.
    let frames = parse_stream(&take_all_output(&mut server));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].command_name(), Some(&b"READY"[..]));
    handshake_info(&drain_events(&mut server));
}

/// ...and after ours has been written.
#[test]
fn n2_peer_ready_after_ours_is_written() {
    let now = Instant::now();
    let mut server = cfg(SocketType::Rep).connection(now);
    server.handle_input(&greeting(1), now).unwrap();
    let out = take_all_output(&mut server);
    assert_eq!(parse_stream(&out).len(), 1, "our READY went out");
    assert!(!server.is_active() && server.poll_event().is_none());
    server.handle_input(&ready("REQ", &[]), now).unwrap();
    assert!(server.is_active());
    handshake_info(&drain_events(&mut server));
}

/// N2 between two machines: the client gets the server's READY before it has sent its own.
#[test]
fn n2_client_completes_before_its_ready_is_delivered() {
    let mut p = Pair::new(SocketType::Dealer, SocketType::Router);
    p.deliver_c2s(); // client greeting
    p.deliver_s2c(); // server greeting + READY
    assert!(p.client.is_active(), "client done before sending READY");
    assert!(!p.server.is_active());
    // N3: the client may send right away; the message travels behind its READY.
    p.client.send(&Msg::from("early")).unwrap();
    p.deliver_c2s();
    assert!(p.server.is_active());
    assert_eq!(drain_messages(&mut p.server), [Msg::from("early")]);
}

// ------------------------------------------------------------------------------------------
// Metadata (M1-M4, M6)
// ------------------------------------------------------------------------------------------

/// M4 / R3: a DEALER's routing id travels as `Identity` and is the ROUTER side's
/// `PeerInfo::routing_id`; application metadata (M6) is visible too.
#[test]
fn m4_identity_metadata_visible_in_peer_info() {
    let mut dealer = cfg(SocketType::Dealer);
    dealer.routing_id = Bytes::from_static(b"worker-1");
    dealer.metadata.insert("X-Colour", "blue");
    let mut p = Pair::with_configs(dealer, cfg(SocketType::Router));
    p.drive();
    let se = drain_events(&mut p.server);
    let info = handshake_info(&se);
    assert_eq!(&info.routing_id[..], b"worker-1");
    assert_eq!(&info.metadata.get("x-colour").unwrap()[..], b"blue");
    assert_eq!(p.server.peer().unwrap().routing_id, info.routing_id);
    // The wire READY is libzmq's layout: Socket-Type, Identity, then X- properties.
    assert_eq!(
        p.c2s.frames[0].command(),
        Some(Command::Ready(meta(&[
            ("Socket-Type", "DEALER"),
            ("Identity", "worker-1"),
            ("X-Colour", "blue"),
        ])))
    );
    // A ROUTER without a routing id sends an empty Identity (LZ), seen as empty.
    let ce = drain_events(&mut p.client);
    assert!(handshake_info(&ce).routing_id.is_empty());
}

/// M4: `Identity` is only meaningful from REQ, DEALER and ROUTER; a PUSH's is ignored.
#[test]
fn m4_identity_from_other_types_is_ignored() {
    let now = Instant::now();
    let mut server = cfg(SocketType::Pull).connection(now);
    let input = concat(&[&greeting(1), &ready("PUSH", &[("Identity", b"nope")])]);
    server.handle_input(&input, now).unwrap();
    let events = drain_events(&mut server);
    let info = handshake_info(&events);
    assert!(info.routing_id.is_empty());
    assert_eq!(&info.metadata.get("Identity").unwrap()[..], b"nope");
}

/// M2: property names match case-insensitively on receipt (libzmq itself does not).
#[test]
fn m2_metadata_names_are_case_insensitive() {
    let now = Instant::now();
    let mut server = cfg(SocketType::Router).connection(now);
    let props = metadata(&[("socket-TYPE", b"REQ"), ("IDENTITY", b"abc")]);
    let input = concat(&[&greeting(1), &command(b"READY", &props)]);
    server.handle_input(&input, now).unwrap();
    let events = drain_events(&mut server);
    let info = handshake_info(&events);
    assert_eq!(info.socket_type, SocketType::Req);
    assert_eq!(&info.routing_id[..], b"abc");
}

/// M3: the Socket-Type *value* is compared exactly, like libzmq (`check_socket_type`).
#[test]
fn m3_socket_type_value_is_case_sensitive() {
    let err = fail_with(cfg(SocketType::Router), &greeting_and_ready("dealer"));
    assert_eq!(err, Error::UnknownSocketType("dealer".into()));
}

// ------------------------------------------------------------------------------------------
// Messages (F2, F4, F5, F7)
// ------------------------------------------------------------------------------------------

/// F4 / F7: a multipart message with empty frames is delivered whole, and not before its last
/// byte has arrived.
#[test]
fn f4_f7_multipart_with_empty_frames_is_atomic() {
    let mut p = Pair::connected(cfg(SocketType::Push), cfg(SocketType::Pull));
    let m = msg(&[b"", b"a", b"", &[9u8; 400], b""]);
    p.client.send(&m).unwrap();
    let wire = take_all_output(&mut p.client);
    let (last, head) = wire.split_last().unwrap();
    for b in head {
        p.server
            .handle_input(std::slice::from_ref(b), p.now)
            .unwrap();
        assert_eq!(p.server.inbound_len(), 0);
        assert!(p.server.poll_message().is_none());
    }
    p.server.handle_input(&[*last], p.now).unwrap();
    assert_eq!(drain_messages(&mut p.server), [m]);
    assert!(drain_events(&mut p.server).is_empty());
}

/// F4: several messages in one write are delivered in order and whole.
#[test]
fn f4_messages_delivered_in_order() {
    let mut p = Pair::connected(cfg(SocketType::Dealer), cfg(SocketType::Dealer));
    let sent: Vec<Msg> = (0..50u8)
        .map(|i| Msg::from_frames((0..=(i % 4)).map(|j| vec![i; usize::from(j) * 3])))
        .collect();
    for m in &sent {
        p.client.send(m).unwrap();
    }
    p.max_chunk = 37;
    p.drive();
    assert_eq!(drain_messages(&mut p.server), sent);
}

/// F2 / F3: long frames (> 255 bytes, and a few MB) cross intact; bodies of 256 bytes and more
/// use the 8-byte size, shorter ones the 1-byte size.
#[test]
fn f2_long_frames_round_trip() {
    let mut p = Pair::connected(cfg(SocketType::Pair), cfg(SocketType::Pair));
    let sizes = [
        255usize,
        256,
        300,
        8 * 1024,
        65_536 + 3,
        3 * 1024 * 1024 + 7,
    ];
    let frames: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&n| (0..n).map(|i| (i * 31 % 251) as u8).collect())
        .collect();
    let m = Msg::from_frames(frames.clone());
    p.client.send(&m).unwrap();
    p.client
        .send(&Msg::from_frames(frames[5..].to_vec()))
        .unwrap();
    p.max_chunk = 64 * 1024;
    p.drive();
    let got = drain_messages(&mut p.server);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], m);
    assert_eq!(&got[1][0][..], &frames[5][..]);
    // Header forms on the wire.
    let raw = &p.c2s.raw;
    let ready_len = 2 + usize::from(raw[65]);
    let first = 64 + ready_len;
    assert_eq!(&raw[first..first + 2], &[FLAG_MORE, 255]);
    let second = first + 2 + 255;
    assert_eq!(raw[second], FLAG_MORE | 0x02);
    assert_eq!(&raw[second + 1..second + 9], &256u64.to_be_bytes());
}

/// F2: a LONG header is accepted for any body size, small ones included, for messages and
/// commands alike.
#[test]
fn f2_long_header_with_small_body_is_accepted() {
    let now = Instant::now();
    let mut server = cfg(SocketType::Pull).connection(now);
    let mut ready_body = vec![5u8];
    ready_body.extend_from_slice(b"READY");
    ready_body.extend_from_slice(&metadata(&[("Socket-Type", b"PUSH")]));
    let input = concat(&[
        &greeting(1),
        &long_frame(0x04, &ready_body),
        &long_frame(FLAG_MORE, b"ab"),
        &long_frame(0, b""),
    ]);
    server.handle_input(&input, now).unwrap();
    handshake_info(&drain_events(&mut server));
    assert_eq!(drain_messages(&mut server), [msg(&[b"ab", b""])]);
}

/// H5 / §1.4: commands are consumed by the connection and never surface as messages, and
/// unknown or late commands after the handshake are ignored (like libzmq).
#[test]
fn h5_command_frames_never_appear_as_messages() {
    let (mut conn, now) = handshaken(cfg(SocketType::Pull), "PUSH", 1);
    let input = concat(&[
        &message(&[b"a"]),
        &command(b"PING", b"\x00\x00"),
        &command(b"PONG", b""),
        &command(b"JOIN", b"group"),
        &command(b"SUBSCRIBE", b"x"),
        &message(&[b"b", b"c"]),
        &ready("PUSH", &[]),
        &command(b"HELLO", &[0u8; 300]),
        &command(b"MESSAGE", b"\x00\x01\x02"),
        &message(&[b"d"]),
    ]);
    conn.handle_input(&input, now).unwrap();
    assert_eq!(
        drain_messages(&mut conn),
        [msg(&[b"a"]), msg(&[b"b", b"c"]), msg(&[b"d"])]
    );
    assert!(drain_events(&mut conn).is_empty(), "no Subscribe on a PULL");
    assert!(conn.is_active());
    // Only the PING caused output.
    let out = take_all_output(&mut conn);
    assert_eq!(out, command(b"PONG", b""));
}

/// §1.4 (LZ): unknown commands after the handshake are ignored even with odd names and long
/// bodies, and traffic continues.
#[test]
fn s1_4_unknown_commands_after_handshake_are_ignored() {
    let (mut conn, now) = handshake_on(SocketType::Dealer, "ROUTER");
    for name in [&b"X"[..], b"LEAVE", b"WELCOME", b"INITIATE", &[b'Z'; 255]] {
        conn.handle_input(&command(name, &[1u8; 1000]), now)
            .unwrap();
    }
    conn.handle_input(&message(&[b"still here"]), now).unwrap();
    assert_eq!(drain_messages(&mut conn), [msg(&[b"still here"])]);
    assert!(drain_events(&mut conn).is_empty());
    assert!(!conn.has_transmit());
}

fn handshake_on(ours: SocketType, peer: &str) -> (Connection, Instant) {
    handshaken(cfg(ours), peer, 1)
}

// ------------------------------------------------------------------------------------------
// Subscriptions (V7, S4)
// ------------------------------------------------------------------------------------------

/// V7: a 3.1 SUB sends SUBSCRIBE/CANCEL commands, and a PUB (or XPUB) connection reports them
/// as events, not messages.
#[test]
fn v7_subscribe_and_cancel_commands_from_3_1_peer() {
    for (sub, publ) in [
        (SocketType::Sub, SocketType::Pub),
        (SocketType::XSub, SocketType::XPub),
    ] {
        let mut p = Pair::connected(cfg(sub), cfg(publ));
        p.client.send_subscription(b"topic", true).unwrap();
        p.client.send_subscription(b"", true).unwrap();
        p.client.send_subscription(b"topic", false).unwrap();
        p.drive();
        assert_eq!(
            drain_events(&mut p.server),
            [
                Event::Subscribe(Bytes::from_static(b"topic")),
                Event::Subscribe(Bytes::new()),
                Event::Cancel(Bytes::from_static(b"topic")),
            ]
        );
        assert!(drain_messages(&mut p.server).is_empty());
        assert_eq!(p.c2s.commands_named(b"SUBSCRIBE").len(), 2);
        assert_eq!(p.c2s.commands_named(b"CANCEL").len(), 1);
        assert!(p.c2s.message_frames().is_empty());
    }
}

/// V7: a 3.0 peer (hand-crafted greeting, minor 0) subscribes with `0x01`/`0x00` messages; the
/// PUB connection reports them as events; trailing frames of a subscription message are
/// dropped; other messages still arrive as messages.
#[test]
fn v7_subscription_messages_from_3_0_peer() {
    let (mut conn, now) = handshaken(cfg(SocketType::Pub), "SUB", 0);
    assert_eq!(conn.peer_version(), Some(Version::V3_0));
    let input = concat(&[
        &message(&[b"\x01topic"]),
        &message(&[b"\x00topic"]),
        &message(&[b"\x01"]),
        &message(&[b"\x01a", b"trailing", b"frames"]),
        &message(&[b"hello", b"\x01not-a-sub"]),
    ]);
    conn.handle_input(&input, now).unwrap();
    assert_eq!(
        drain_events(&mut conn),
        [
            Event::Subscribe(Bytes::from_static(b"topic")),
            Event::Cancel(Bytes::from_static(b"topic")),
            Event::Subscribe(Bytes::new()),
            Event::Subscribe(Bytes::from_static(b"a")),
        ]
    );
    assert_eq!(
        drain_messages(&mut conn),
        [msg(&[b"hello", b"\x01not-a-sub"])]
    );
}

/// V7: trailing frames of a subscription message are dropped even when they start with
/// 0x00/0x01 themselves (found by the `connection_pair_ops` fuzz target: such a frame was
/// taken for a second subscription).
#[test]
fn v7_trailing_frames_starting_with_0_or_1_are_not_subscriptions() {
    let (mut conn, now) = handshaken(cfg(SocketType::Pub), "SUB", 0);
    let input = concat(&[
        &message(&[b"\x00", b"", b"\x01x", b"\x00"]),
        &message(&[b"after"]),
    ]);
    conn.handle_input(&input, now).unwrap();
    assert_eq!(drain_events(&mut conn), [Event::Cancel(Bytes::new())]);
    assert_eq!(drain_messages(&mut conn), [msg(&[b"after"])]);
}

/// V7: the receiver MUST accept the message form from any 3.x peer, 3.1 included (libzmq
/// 4.2.x-4.3.2 announce 3.1 but send `0x01` messages).
#[test]
fn v7_subscription_message_form_from_3_1_peer_is_accepted() {
    let (mut conn, now) = handshaken(cfg(SocketType::XPub), "XSUB", 1);
    conn.handle_input(&message(&[b"\x01news"]), now).unwrap();
    conn.handle_input(&command(b"CANCEL", b"news"), now)
        .unwrap();
    assert_eq!(
        drain_events(&mut conn),
        [
            Event::Subscribe(Bytes::from_static(b"news")),
            Event::Cancel(Bytes::from_static(b"news")),
        ]
    );
}

/// V7: `send_subscription` uses the command form towards a 3.1 peer...
#[test]
fn v7_send_subscription_uses_commands_to_3_1_peer() {
    let (mut conn, _) = handshaken(cfg(SocketType::Sub), "PUB", 1);
    conn.send_subscription(b"ab", true).unwrap();
    conn.send_subscription(b"ab", false).unwrap();
    assert_eq!(
        take_all_output(&mut conn),
        concat(&[&command(b"SUBSCRIBE", b"ab"), &command(b"CANCEL", b"ab")])
    );
}

/// ...and the `0x01`/`0x00` message form towards a 3.0 peer.
#[test]
fn v7_send_subscription_uses_messages_to_3_0_peer() {
    let (mut conn, _) = handshaken(cfg(SocketType::XSub), "XPUB", 0);
    conn.send_subscription(b"ab", true).unwrap();
    conn.send_subscription(b"", false).unwrap();
    assert_eq!(
        take_all_output(&mut conn),
        concat(&[&frame(0, b"\x01ab"), &frame(0, b"\x00")])
    );
}

/// V7: subscriptions reaching a non-publisher are not reported.
#[test]
fn v7_subscriptions_only_reported_on_publishers() {
    let mut p = Pair::connected(cfg(SocketType::Sub), cfg(SocketType::Pub));
    p.server.send_subscription(b"x", true).unwrap();
    p.drive();
    assert!(drain_events(&mut p.client).is_empty());
    assert!(drain_messages(&mut p.client).is_empty());
    assert!(p.client.is_active());
}

// ------------------------------------------------------------------------------------------
// Heartbeats (H1-H4)
// ------------------------------------------------------------------------------------------

fn heartbeat_cfg(t: SocketType, ivl: u64, timeout: Option<u64>) -> Side {
    let mut c = cfg(t);
    c.heartbeat_ivl = Some(ms(ivl));
    c.heartbeat_timeout = timeout.map(ms);
    c
}

/// H1 / H2 / H4: a PING goes out every heartbeat_ivl (not before), and the peer answers each
/// with a PONG; the connection stays up across many intervals.
#[test]
fn h1_ping_sent_at_heartbeat_ivl_and_answered() {
    let mut p = Pair::connected(
        heartbeat_cfg(SocketType::Dealer, 1000, None),
        cfg(SocketType::Router),
    );
    let t0 = p.now;
    assert_eq!(p.client.poll_timeout(), Some(t0 + ms(1000)));
    assert_eq!(
        p.server.poll_timeout(),
        None,
        "no heartbeat, handshake done"
    );
    p.advance(ms(999));
    assert!(!p.client.has_transmit(), "no PING before the interval");
    for i in 1..=5 {
        p.advance(if i == 1 { ms(1) } else { ms(1000) });
        assert!(p.client.has_transmit());
        p.drive();
        assert!(p.client.is_active() && p.server.is_active());
        assert_eq!(p.c2s.commands_named(b"PING").len(), i);
        assert_eq!(p.s2c.commands_named(b"PONG").len(), i);
        // The PONG arrived: only the next PING is pending.
        assert_eq!(
            p.client.poll_timeout(),
            Some(t0 + ms(1000 * (i as u64 + 1)))
        );
    }
    let ping = p.c2s.commands_named(b"PING")[0].command().unwrap();
    assert_eq!(
        ping,
        Command::Ping {
            ttl_ds: 0,
            context: Bytes::new()
        }
    );
    assert!(drain_events(&mut p.client).is_empty());
    assert!(
        drain_messages(&mut p.server).is_empty(),
        "PINGs are not messages"
    );
}

/// H1 / H4: heartbeat_ttl is announced in deciseconds in our PINGs.
#[test]
fn h4_ping_carries_ttl_in_deciseconds() {
    let mut c = heartbeat_cfg(SocketType::Push, 100, None);
    c.heartbeat_ttl = Some(ms(2_590));
    let mut p = Pair::connected(c, cfg(SocketType::Pull));
    p.advance(ms(100));
    p.drive();
    let ping = p.c2s.commands_named(b"PING")[0].command().unwrap();
    assert_eq!(
        ping,
        Command::Ping {
            ttl_ds: 25,
            context: Bytes::new()
        }
    );
    // The peer now expects traffic within 2.5 s (H3 b): our next PINGs keep it alive.
    for _ in 0..40 {
        p.advance(ms(100));
        p.drive();
    }
    assert!(p.server.is_active() && p.client.is_active());
}

/// H2: PONG echoes the PING's context; contexts over 16 bytes are cut to 16 (LZ).
#[test]
fn h2_pong_echoes_ping_context() {
    let (mut conn, now) = handshake_on(SocketType::Pull, "PUSH");
    conn.handle_input(&command(b"PING", b"\x00\x00ctx"), now)
        .unwrap();
    assert_eq!(take_all_output(&mut conn), command(b"PONG", b"ctx"));
    let long: Vec<u8> = (0u8..20).collect();
    conn.handle_input(&command(b"PING", &concat(&[b"\x00\x00", &long])), now)
        .unwrap();
    assert_eq!(
        take_all_output(&mut conn),
        command(b"PONG", &long[..MAX_PING_CONTEXT])
    );
    assert!(conn.is_active());
}

/// H3 (a): a peer that sends nothing after our PING is declared dead at heartbeat_timeout.
#[test]
fn h3_heartbeat_timeout_when_peer_goes_silent() {
    let mut p = Pair::connected(
        heartbeat_cfg(SocketType::Dealer, 1000, Some(3000)),
        cfg(SocketType::Dealer),
    );
    let t0 = p.now;
    p.advance(ms(1000)); // first PING, never delivered: deadline t0 + 4 s
    p.advance(ms(1000)); // a second PING does not move the deadline
    assert_eq!(p.client.poll_timeout(), Some(t0 + ms(3000)), "next PING");
    p.advance(ms(1999)); // a third PING at t0 + 3 s
    assert!(p.client.is_active());
    assert_eq!(p.client.poll_timeout(), Some(t0 + ms(4000)));
    p.advance(ms(1));
    assert_closed_once(&mut p.client, &Error::HeartbeatTimeout);
    assert_eq!(p.client.poll_timeout(), None);
    assert_eq!(
        p.client.handle_input(b"late", p.now),
        Err(Error::HeartbeatTimeout)
    );
    // The three PINGs were queued and remain flushable.
    let frames = parse_stream(&concat(&[&[0u8; 64], &take_all_output(&mut p.client)]));
    assert_eq!(frames.len(), 3);
    assert!(frames
        .iter()
        .all(|f| f.command_name() == Some(&b"PING"[..])));
}

/// H3: any traffic (here a message, not a PONG) after our PING counts as a sign of life.
#[test]
fn h3_traffic_resets_heartbeat_timeout() {
    let mut p = Pair::connected(
        heartbeat_cfg(SocketType::Dealer, 1000, None),
        cfg(SocketType::Router),
    );
    p.advance(ms(1000)); // PING queued, not delivered: the server never answers it
    p.advance(ms(500));
    p.server.send(&msg(&[b"id", b"data"])).unwrap();
    p.deliver_s2c();
    p.advance(ms(500)); // the original deadline
    assert!(p.client.is_active(), "{:?}", p.client.error());
    assert_eq!(drain_messages(&mut p.client), [msg(&[b"id", b"data"])]);
    // Without further traffic the second PING's timeout fires.
    p.advance(ms(1000));
    assert_closed_once(&mut p.client, &Error::HeartbeatTimeout);
}

/// H3 (b) / H4: a PING announcing a TTL starts a timer; silence past it kills the connection.
#[test]
fn h3_peer_ttl_expiry() {
    let (mut conn, now) = handshake_on(SocketType::Pull, "PUSH");
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_input(&command(b"PING", &20u16.to_be_bytes()), now)
        .unwrap();
    assert_eq!(conn.poll_timeout(), Some(now + ms(2000)));
    conn.handle_timeout(now + ms(1999));
    assert!(conn.is_active());
    conn.handle_timeout(now + ms(2000));
    assert_closed_once(&mut conn, &Error::HeartbeatTimeout);
}

/// H3 (b): traffic before the TTL expires stops the TTL timer.
#[test]
fn h3_traffic_before_peer_ttl_keeps_connection() {
    let (mut conn, now) = handshake_on(SocketType::Pull, "PUSH");
    conn.handle_input(&command(b"PING", &20u16.to_be_bytes()), now)
        .unwrap();
    conn.handle_input(&message(&[b"alive"]), now + ms(1500))
        .unwrap();
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_timeout(now + ms(60_000));
    assert!(conn.is_active());
    assert_eq!(drain_messages(&mut conn), [msg(&[b"alive"])]);
}

/// V7 / H1: no PINGs to a 3.0 peer (it has no PING command), even with heartbeat_ivl set.
#[test]
fn h1_no_heartbeat_to_3_0_peer() {
    let (mut conn, now) = handshaken(heartbeat_cfg(SocketType::Pull, 100, None), "PUSH", 0);
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_timeout(now + ms(10_000));
    assert!(conn.is_active() && !conn.has_transmit());
}

// ------------------------------------------------------------------------------------------
// Handshake deadline (§1.13, LZ ZMQ_HANDSHAKE_IVL)
// ------------------------------------------------------------------------------------------

/// §1.13: the handshake must finish within handshake_ivl, 30 s by default.
#[test]
fn s1_13_handshake_timeout_default_30s() {
    assert_eq!(DEFAULT_HANDSHAKE_IVL, Duration::from_secs(30));
    let now = Instant::now();
    let mut conn = cfg(SocketType::Req).connection(now);
    assert_eq!(conn.poll_timeout(), Some(now + Duration::from_secs(30)));
    // A peer that stalls after its greeting does not move the deadline.
    conn.handle_input(&greeting(1), now + ms(10)).unwrap();
    conn.handle_timeout(now + ms(29_999));
    assert!(conn.error().is_none() && conn.poll_event().is_none());
    conn.handle_timeout(now + Duration::from_secs(30));
    assert_closed_once(&mut conn, &Error::HandshakeTimeout);
    assert_eq!(conn.poll_timeout(), None);
}

/// §1.13: a completed handshake stops the deadline; `None` disables it; custom values apply.
#[test]
fn s1_13_handshake_timer_stops_and_is_configurable() {
    let mut p = Pair::connected(cfg(SocketType::Push), cfg(SocketType::Pull));
    assert_eq!(p.client.poll_timeout(), None);
    p.advance(Duration::from_secs(3600));
    assert!(p.client.is_active() && p.server.is_active());

    let now = Instant::now();
    let mut none = cfg(SocketType::Push);
    none.handshake_ivl = None;
    let mut conn = none.connection(now);
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_timeout(now + Duration::from_secs(3600));
    assert!(conn.error().is_none());

    let mut short = cfg(SocketType::Push);
    short.handshake_ivl = Some(ms(100));
    let mut conn = short.connection(now);
    assert_eq!(conn.poll_timeout(), Some(now + ms(100)));
    conn.handle_timeout(now + ms(100));
    assert_closed_once(&mut conn, &Error::HandshakeTimeout);
}

// ------------------------------------------------------------------------------------------
// Malformed input: each class gets its specific error
// ------------------------------------------------------------------------------------------

fn pull() -> Side {
    cfg(SocketType::Pull)
}

/// V5: a first byte other than 0xFF, or byte 9 without bit 0, is not ZMTP 3.
#[test]
fn v5_bad_signature() {
    assert_eq!(fail_with(pull(), &[0x00]), Error::BadSignature);
    let mut g = greeting(1);
    g[9] = 0x7e;
    assert_eq!(fail_with(pull(), &g[..10]), Error::BadSignature);
    // A ZMTP 1.0 peer's first frame (length byte then flags).
    assert_eq!(fail_with(pull(), b"\x01\x00"), Error::BadSignature);
}

/// V1 / V3: versions below 3 are refused (we do not downgrade).
#[test]
fn v3_version_below_3_is_unsupported() {
    assert_eq!(
        fail_with(pull(), &greeting_with(2, 0, b"NULL", false)),
        Error::UnsupportedVersion { major: 2, minor: 0 }
    );
    assert_eq!(
        fail_with(pull(), &greeting_with(1, 5, b"NULL", false)),
        Error::UnsupportedVersion { major: 1, minor: 5 }
    );
    // Refused as soon as byte 10 arrives (V4), before the rest of the greeting.
    assert_eq!(
        fail_with(pull(), &greeting_with(2, 0, b"NULL", false)[..11]),
        Error::UnsupportedVersion { major: 2, minor: 0 }
    );
}

/// V1: 3.0 and newer-than-3.1 versions are accepted.
#[test]
fn v1_versions_3_0_and_above_are_accepted() {
    for (major, minor) in [(3, 0), (3, 1), (3, 7), (4, 0)] {
        let now = Instant::now();
        let mut conn = pull().connection(now);
        let input = concat(&[
            &greeting_with(major, minor, b"NULL", false),
            &ready("PUSH", &[]),
        ]);
        conn.handle_input(&input, now).unwrap();
        assert_eq!(
            conn.peer().unwrap().version,
            Version { major, minor },
            "{major}.{minor}"
        );
    }
}

/// G1: the peer's mechanism must be exactly ours (all 20 bytes).
#[test]
fn g1_mechanism_mismatch() {
    for mech in [&b"PLAIN"[..], b"CURVE", b"NUL", b"NULLX", b"null"] {
        let err = fail_with(pull(), &greeting_with(3, 1, mech, false));
        assert_eq!(
            err,
            Error::MechanismMismatch {
                ours: "NULL",
                theirs: String::from_utf8_lossy(mech).into_owned()
            }
        );
    }
    // NUL padding followed by garbage is not "NULL" either.
    let mut g = greeting(1);
    g[20] = b'X';
    assert!(matches!(
        fail_with(pull(), &g),
        Error::MechanismMismatch { .. }
    ));
}

/// N1: as-server MUST be 0 with NULL.
#[test]
fn n1_as_server_with_null_is_refused() {
    assert_eq!(
        fail_with(pull(), &greeting_with(3, 1, b"NULL", true)),
        Error::BadAsServer
    );
}

/// §1.1: the padding (bytes 1-8) and the filler are not interpreted (libzmq puts
/// `routing_id_size + 1` in the padding).
#[test]
fn s1_1_padding_and_filler_are_ignored() {
    let mut g = greeting(1);
    g[1..9].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
    g[33..].fill(0xaa);
    let now = Instant::now();
    let mut conn = pull().connection(now);
    conn.handle_input(&concat(&[&g, &ready("PUSH", &[])]), now)
        .unwrap();
    assert!(conn.is_active());
}

/// F1: MORE on a command frame is invalid, during the handshake and after.
#[test]
fn f1_more_on_command_is_bad_frame_flags() {
    let input = concat(&[&greeting(1), &[0x05, 0x00]]);
    assert_eq!(fail_with(pull(), &input), Error::BadFrameFlags(0x05));
    let (mut conn, now) = handshake_on(SocketType::Pull, "PUSH");
    let err = conn.handle_input(&[0x07], now).unwrap_err();
    assert_eq!(err, Error::BadFrameFlags(0x07));
    assert_closed_once(&mut conn, &err);
}

/// F3: a size of 2^63 or more is refused from the header alone.
#[test]
fn f3_size_of_2_pow_63_is_frame_too_long() {
    for size in [1u64 << 63, u64::MAX] {
        let mut header = vec![0x02];
        header.extend_from_slice(&size.to_be_bytes());
        let input = concat(&[&greeting_and_ready("PUSH"), &header]);
        assert_eq!(fail_with(pull(), &input), Error::FrameTooLong(size));
    }
}

/// F3 / LZ ZMQ_MAXMSGSIZE: a frame over maxmsgsize is refused on its header, before a byte of
/// the body arrives; exactly maxmsgsize is fine.
#[test]
fn f3_maxmsgsize_checked_before_body_arrives() {
    let mut c = pull();
    c.maxmsgsize = Some(1024);
    let (mut conn, now) = handshaken(c.clone(), "PUSH", 1);
    conn.handle_input(&message(&[&[1u8; 1024]]), now).unwrap();
    assert_eq!(drain_messages(&mut conn).len(), 1);
    let mut header = vec![0x02];
    header.extend_from_slice(&1025u64.to_be_bytes());
    let err = conn.handle_input(&header, now).unwrap_err();
    assert_eq!(
        err,
        Error::MessageTooLarge {
            size: 1025,
            max: 1024
        }
    );
    assert_closed_once(&mut conn, &err);
}

/// F3: the aggregate check triggers exactly when the running total passes maxmsgsize.
#[test]
fn f3_maxmsgsize_applies_to_multipart_total() {
    let mut c = pull();
    c.maxmsgsize = Some(1000);
    let (mut conn, now) = handshaken(c, "PUSH", 1);
    let mut input = frame(FLAG_MORE, &[0u8; 600]);
    let mut header = vec![0x02];
    header.extend_from_slice(&401u64.to_be_bytes());
    input.extend_from_slice(&header);
    let err = conn.handle_input(&input, now).unwrap_err();
    assert_eq!(
        err,
        Error::MessageTooLarge {
            size: 1001,
            max: 1000
        }
    );
    assert!(
        drain_messages(&mut conn).is_empty(),
        "nothing partial leaks out"
    );
}

/// §1.13: before the handshake completes, commands are capped at MAX_HANDSHAKE_COMMAND even
/// with no maxmsgsize, from the header alone.
#[test]
fn s1_13_handshake_command_size_is_capped() {
    let mut header = vec![0x06];
    header.extend_from_slice(&(MAX_HANDSHAKE_COMMAND + 1).to_be_bytes());
    let input = concat(&[&greeting(1), &header]);
    assert_eq!(
        fail_with(pull(), &input),
        Error::MessageTooLarge {
            size: MAX_HANDSHAKE_COMMAND + 1,
            max: MAX_HANDSHAKE_COMMAND
        }
    );
}

/// F3: with no maxmsgsize, a huge declared size does not make the arena reserve it up front:
/// the arena grows in bounded steps as bytes arrive.
#[test]
fn f3_huge_declared_size_is_not_allocated_up_front() {
    let (mut conn, now) = handshake_on(SocketType::Pull, "PUSH");
    let mut header = vec![0x02];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    conn.handle_input(&header, now).unwrap();
    let cap = conn.read_buf().capacity();
    assert!(cap < 64 << 20, "arena capacity {cap} after a 1 TiB header");
    assert!(conn.is_active());
}

/// §1.13 (monocoque-rs 62c238a): the frame count of one message is capped.
#[test]
fn s1_13_too_many_frames() {
    let mut c = pull();
    c.max_frames = 3;
    let (mut conn, now) = handshaken(c, "PUSH", 1);
    conn.handle_input(&message(&[b"1", b"2", b"3"]), now)
        .unwrap();
    assert_eq!(drain_messages(&mut conn).len(), 1);
    let err = conn
        .handle_input(&message(&[b"1", b"2", b"3", b"4"]), now)
        .unwrap_err();
    assert_eq!(err, Error::TooManyFrames { max: 3 });
    assert!(drain_messages(&mut conn).is_empty());
}

/// F6: command bodies that do not follow `name-len name data`.
#[test]
fn f6_malformed_command() {
    let cases: [(&[u8], &str); 3] = [
        (&[0x04, 0x00], "empty command frame"),
        (&[0x04, 0x01, 0x00], "empty command name"),
        (
            &[0x04, 0x02, 0x09, b'R'],
            "command name longer than the frame",
        ),
    ];
    for (frame, why) in cases {
        let input = concat(&[&greeting(1), frame]);
        assert_eq!(fail_with(pull(), &input), Error::MalformedCommand(why));
    }
    // After the handshake: a PING without its TTL, an ERROR whose reason overruns.
    for (cmd, why) in [
        (command(b"PING", b"\x00"), "PING without TTL"),
        (
            command(b"ERROR", b"\x09abc"),
            "ERROR reason longer than the frame",
        ),
    ] {
        let (mut conn, now) = handshake_on(SocketType::Pull, "PUSH");
        let err = conn.handle_input(&cmd, now).unwrap_err();
        assert_eq!(err, Error::MalformedCommand(why));
        assert_closed_once(&mut conn, &err);
    }
}

/// M1 / M7: malformed READY metadata.
#[test]
fn m7_malformed_metadata() {
    let good = metadata(&[("Socket-Type", b"PUSH")]);
    let mut overrun = good.clone();
    overrun.extend_from_slice(&[4, b'N', b'a', b'm', b'e', 0, 0, 1, 0, b'x']);
    let cases: [(Vec<u8>, &str); 4] = [
        (good[..good.len() - 6].to_vec(), "truncated property"),
        (overrun, "property value longer than the command"),
        (concat(&[&good, &[0, 0, 0, 0, 0]]), "empty property name"),
        (
            concat(&[&good, &metadata(&[("Bad Name", b"")])]),
            "invalid character in property name",
        ),
    ];
    for (props, why) in cases {
        let input = concat(&[&greeting(1), &command(b"READY", &props)]);
        assert_eq!(fail_with(pull(), &input), Error::MalformedMetadata(why));
    }
}

/// N3: a message frame before the handshake completed is refused.
#[test]
fn n3_message_before_handshake() {
    let input = concat(&[&greeting(1), &message(&[b"too early"])]);
    assert_eq!(fail_with(pull(), &input), Error::MessageBeforeHandshake);
}

/// N3 / §1.13: ... and it is refused on its header, so an unauthenticated peer cannot make us
/// buffer a large message body.
#[test]
fn n3_message_before_handshake_refused_on_header() {
    let mut header = vec![0x02];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    let input = concat(&[&greeting(1), &header]);
    assert_eq!(fail_with(pull(), &input), Error::MessageBeforeHandshake);
}

/// N4b: only READY or ERROR during the NULL handshake.
#[test]
fn n4b_unexpected_command_during_handshake() {
    for (cmd, name) in [
        (command(b"PING", b"\x00\x00"), "PING"),
        (command(b"SUBSCRIBE", b"x"), "SUBSCRIBE"),
        (command(b"PONG", b""), "PONG"),
        (command(b"HELLO", b""), "HELLO"),
    ] {
        let input = concat(&[&greeting(1), &cmd]);
        assert_eq!(
            fail_with(pull(), &input),
            Error::UnexpectedCommand(name.into())
        );
    }
}

/// M3: READY without Socket-Type, or with a type we do not know.
#[test]
fn m3_missing_or_unknown_socket_type() {
    let input = concat(&[
        &greeting(1),
        &command(b"READY", &metadata(&[("Identity", b"x")])),
    ]);
    assert_eq!(fail_with(pull(), &input), Error::MissingSocketType);
    let input = concat(&[&greeting(1), &command(b"READY", b"")]);
    assert_eq!(fail_with(pull(), &input), Error::MissingSocketType);
    assert_eq!(
        fail_with(pull(), &greeting_and_ready("STREAM")),
        Error::UnknownSocketType("STREAM".into())
    );
}

/// §1.4: a peer's ERROR is fatal, during the handshake and after it.
#[test]
fn s1_4_peer_error() {
    let input = concat(&[&greeting(1), &command(b"ERROR", b"\x03bad")]);
    let err = fail_with(pull(), &input);
    assert_eq!(err, Error::PeerError("bad".into()));
    assert!(err.is_handshake_refusal());

    let (mut conn, now) = handshake_on(SocketType::Pull, "PUSH");
    let err = conn
        .handle_input(&command(b"ERROR", b"\x00"), now)
        .unwrap_err();
    assert_eq!(err, Error::PeerError(String::new()));
}

// ------------------------------------------------------------------------------------------
// Sticky errors (§1.13 "never panic", style: fatal errors are sticky)
// ------------------------------------------------------------------------------------------

/// Once failed, every input path returns the same error, Closed is emitted once, timers are
/// off, sending is refused, and a queued ERROR can still be flushed.
#[test]
fn errors_are_sticky_and_closed_is_emitted_once() {
    let now = Instant::now();
    let mut conn = cfg(SocketType::Push).connection(now);
    let input = concat(&[&greeting(1), &ready("PUB", &[])]);
    let err = conn.handle_input(&input, now).unwrap_err();
    assert_eq!(
        err,
        Error::IncompatibleSocketType {
            ours: SocketType::Push,
            theirs: SocketType::Pub
        }
    );
    assert_closed_once(&mut conn, &err);

    assert_eq!(conn.handle_input(&message(&[b"x"]), now), Err(err.clone()));
    assert_eq!(conn.handle_input(&[], now), Err(err.clone()));
    conn.read_buf().extend_from_slice(b"more");
    assert_eq!(conn.handle_read(now), Err(err.clone()));
    let buf = conn.take_read_buf();
    assert_eq!(conn.give_read_buf(buf, now), Err(err.clone()));
    assert_eq!(conn.send(&Msg::from("x")), Err(err.clone()));
    assert_eq!(conn.send_subscription(b"x", true), Err(err.clone()));
    conn.handle_timeout(now + Duration::from_secs(3600));
    conn.close(Error::Closed);
    assert_eq!(conn.poll_timeout(), None);
    assert_eq!(conn.error(), Some(&err));
    assert!(!conn.wants_read() && !conn.is_active());
    assert!(drain_events(&mut conn).is_empty(), "Closed only once");
    assert!(conn.poll_message().is_none());
    // The ERROR we queued is still there to flush.
    let frames = parse_stream(&take_all_output(&mut conn));
    assert_eq!(frames.last().unwrap().command_name(), Some(&b"ERROR"[..]));
}

/// A local close is reported once and is sticky like a peer error.
#[test]
fn local_close_is_sticky() {
    let mut p = Pair::connected(cfg(SocketType::Pair), cfg(SocketType::Pair));
    p.client.close(Error::Closed);
    p.client.close(Error::HeartbeatTimeout);
    assert_closed_once(&mut p.client, &Error::Closed);
    assert_eq!(p.client.handle_input(b"", p.now), Err(Error::Closed));
    assert_eq!(p.client.send(&Msg::from("x")), Err(Error::Closed));
}

/// send() before the handshake and with an empty message is refused without failing the
/// connection (InvalidState is not fatal).
#[test]
fn send_refusals_are_not_fatal() {
    let now = Instant::now();
    let mut conn = cfg(SocketType::Push).connection(now);
    let err = conn.send(&Msg::from("x")).unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)) && !err.is_fatal());
    assert!(conn.error().is_none());
    let mut p = Pair::connected(cfg(SocketType::Push), cfg(SocketType::Pull));
    assert!(matches!(
        p.client.send(&Msg::new()),
        Err(Error::InvalidState(_))
    ));
    assert!(!p.client.has_transmit() && p.client.is_active());
}

// ------------------------------------------------------------------------------------------
// Receive high-water mark
// ------------------------------------------------------------------------------------------

/// LZ ZMQ_RCVHWM: decoding pauses when `rcvhwm` messages wait, poll_message resumes it, and no
/// message is lost or reordered, including bytes that arrive while paused.
#[test]
fn rcvhwm_pauses_decoding_and_poll_message_resumes_it() {
    let mut s = cfg(SocketType::Pull);
    s.rcvhwm = 3;
    let mut p = Pair::connected(cfg(SocketType::Push), s);
    let sent: Vec<Msg> = (0..15u32)
        .map(|i| {
            let n = i.to_be_bytes();
            msg(&[&n, if i % 2 == 0 { b"" } else { b"odd" }])
        })
        .collect();
    for m in &sent[..10] {
        p.client.send(m).unwrap();
    }
    p.drive();
    assert_eq!(p.server.inbound_len(), 3);
    assert!(!p.server.wants_read());
    for m in &sent[10..] {
        p.client.send(m).unwrap();
    }
    p.drive();
    assert_eq!(p.server.inbound_len(), 3, "still paused");
    let mut got = Vec::new();
    while let Some(m) = p.server.poll_message() {
        assert!(p.server.inbound_len() <= 3);
        got.push(m);
    }
    assert_eq!(got, sent);
    assert!(p.server.wants_read());
    assert!(drain_events(&mut p.server).is_empty());
}

/// Below the high-water mark, decoding also pauses once the messages waiting hold
/// `MAX_INBOUND_BYTES` in large frames (the rest stays in the kernel, TCP pushes back), resumes
/// when half of them were taken, and delivers everything in order. Small (inline) frames do
/// not count.
#[test]
fn large_messages_pause_decoding_at_the_inbound_byte_budget() {
    use zmtp_proto::MAX_INBOUND_BYTES;
    let mut p = Pair::connected(cfg(SocketType::Push), cfg(SocketType::Pull));
    let size = 64 * 1024;
    let budget = MAX_INBOUND_BYTES / size; // messages that fill the budget
    let sent: Vec<Msg> = (0..3 * budget as u32)
        .map(|i| {
            let mut body = vec![0u8; size];
            body[..4].copy_from_slice(&i.to_be_bytes());
            Msg::from(body)
        })
        .collect();
    for m in &sent {
        p.client.send(m).unwrap();
    }
    p.drive();
    let held = p.server.inbound_len();
    assert!(
        (budget..budget + 8).contains(&held),
        "{held} messages held, budget {budget}"
    );
    assert!(!p.server.wants_read(), "paused below the HWM of 1000");
    let mut got = Vec::new();
    while got.len() < sent.len() {
        while let Some(m) = p.server.poll_message() {
            assert!(p.server.inbound_len() < budget + 8);
            got.push(m);
        }
        p.drive();
    }
    assert_eq!(got, sent);

    // 16 B messages are inline: 3,000 of them are bounded by the HWM alone.
    let mut s = cfg(SocketType::Pull);
    s.rcvhwm = 5000;
    let mut p = Pair::connected(cfg(SocketType::Push), s);
    for i in 0..3000u32 {
        p.client
            .send(&msg(&[&[i.to_be_bytes(), [0; 4], [0; 4], [0; 4]].concat()]))
            .unwrap();
    }
    p.drive();
    assert_eq!(p.server.inbound_len(), 3000);
}

// ------------------------------------------------------------------------------------------
// The three input paths agree
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Path {
    HandleInput,
    ReadBuf,
    OwnedBuf,
}

/// Feeds `input` to a fresh PULL connection through `path`, `chunk` bytes per read at most,
/// draining after each read; returns everything observable.
fn run_path(
    path: Path,
    input: &[u8],
    chunk: usize,
    read_chunk: usize,
) -> (Vec<Event>, Vec<Msg>, Vec<u8>) {
    let now = Instant::now();
    let mut c = cfg(SocketType::Pull);
    c.read_chunk = read_chunk;
    let mut conn = c.connection(now);
    let mut events = Vec::new();
    let mut msgs = Vec::new();
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = match path {
            Path::HandleInput => {
                let n = chunk.min(rest.len());
                conn.handle_input(&rest[..n], now).unwrap();
                n
            }
            Path::ReadBuf => {
                let buf = conn.read_buf();
                let spare = buf.capacity() - buf.len();
                assert!(spare > 0, "read_buf must leave room to read into");
                let n = chunk.min(rest.len()).min(spare);
                buf.extend_from_slice(&rest[..n]);
                conn.handle_read(now).unwrap();
                n
            }
            Path::OwnedBuf => {
                let mut buf = conn.take_read_buf();
                assert!(buf.is_empty() && buf.capacity() > 0);
                let n = chunk.min(rest.len()).min(buf.capacity());
                buf.extend_from_slice(&rest[..n]);
                conn.give_read_buf(buf, now).unwrap();
                n
            }
        };
        rest = &rest[n..];
        events.extend(drain_events(&mut conn));
        msgs.extend(drain_messages(&mut conn));
        out.extend(take_all_output(&mut conn));
    }
    (events, msgs, out)
}

/// The copying path, the read_buf/handle_read path and the owned-buffer path give the same
/// events, messages and output for the same stream, whatever the read size.
#[test]
fn input_paths_agree() {
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    let input = concat(&[
        &greeting(1),
        &ready("PUSH", &[("X-Extra", b"1")]),
        &message(&[b"first"]),
        &message(&[b"", b"multi", &[3u8; 256], b""]),
        &command(b"PING", b"\x00\x05c"),
        &message(&[&big]),
        &command(b"UNKNOWN", b"zzz"),
        &message(&[b"last"]),
    ]);
    let reference = run_path(Path::HandleInput, &input, usize::MAX, 64 * 1024);
    assert_eq!(reference.0.len(), 1);
    assert_eq!(reference.1.len(), 4);
    assert_eq!(&reference.1[2][0][..], &big[..]);
    for read_chunk in [256, 4096, 64 * 1024] {
        for chunk in [1, 7, 64, 1000, 70_000, usize::MAX] {
            if chunk == 1 && read_chunk > 256 {
                continue; // same code paths as read_chunk 256, just slower
            }
            for path in [Path::HandleInput, Path::ReadBuf, Path::OwnedBuf] {
                let got = run_path(path, &input, chunk, read_chunk);
                assert_eq!(
                    got, reference,
                    "{path:?} chunk {chunk} read_chunk {read_chunk}"
                );
            }
        }
    }
}

/// The read paths also carry a large frame that is bigger than the read chunk, arriving in
/// pieces (the arena grows for it).
#[test]
fn read_paths_carry_frames_larger_than_read_chunk() {
    let big: Vec<u8> = (0..(2 * 1024 * 1024 + 5))
        .map(|i| (i % 253) as u8)
        .collect();
    let input = concat(&[&greeting_and_ready("PUSH"), &message(&[&big, b"tail"])]);
    for path in [Path::ReadBuf, Path::OwnedBuf] {
        let (_, msgs, _) = run_path(path, &input, 100_000, 4096);
        assert_eq!(msgs, [msg(&[&big, b"tail"])], "{path:?}");
    }
}

/// A read_chunk above 4 × the large-frame growth step (8 MiB) must not break the arena's
/// growth rule while a large frame arrives (found while writing these tests: `clamp` with
/// min > max panicked).
#[test]
fn large_read_chunk_with_large_frame() {
    let mut c = pull();
    c.read_chunk = 64 << 20;
    let (mut conn, now) = handshaken(c, "PUSH", 1);
    let mut header = vec![0x02];
    header.extend_from_slice(&(100u64 << 20).to_be_bytes());
    conn.handle_input(&header, now).unwrap();
    let spare = {
        let buf = conn.read_buf();
        buf.capacity() - buf.len()
    };
    assert!(
        spare >= 16 << 20,
        "room for at least a quarter chunk: {spare}"
    );
    assert!(conn.is_active());
}
