//! The CURVE mechanism (RFC 25/26, checklist §1.9: C1–C8), two connections in memory.
//!
//! Entropy is fixed per side (`support::CLIENT_ENTROPY`, `SERVER_ENTROPY`), so a session is
//! repeatable byte for byte: a tampered copy of one side's bytes can be fed to a fresh
//! connection that is exactly where the original was.

mod support;

use bytes::Bytes;
use proptest::prelude::*;
use support::Side;
use support::*;
use zmtp_proto::fuzzing::{FrameHeader, FLAG_COMMAND};
use zmtp_proto::MAX_HANDSHAKE_COMMAND;
use zmtp_proto::{
    CurveClientConfig, CurveClients, CurveKeyPair, CurvePublicKey, CurveSecretKey,
    CurveServerConfig, PlainCredentials, USER_ID,
};
use zmtp_proto::{Error, Event, MechanismConfig, Msg, SocketType};

fn keys(n: u8) -> CurveKeyPair {
    CurveKeyPair::from_secret(CurveSecretKey::from_bytes([n; 32]))
}

fn server_keys() -> CurveKeyPair {
    keys(1)
}

fn client_keys() -> CurveKeyPair {
    keys(2)
}

fn client_to(t: SocketType, server: CurvePublicKey, me: CurveKeyPair) -> Side {
    let mut c = Side::new(t);
    c.mechanism = MechanismConfig::CurveClient(CurveClientConfig::new(server, me));
    c
}

fn client(t: SocketType) -> Side {
    client_to(t, *server_keys().public(), client_keys())
}

fn server_with(t: SocketType, clients: CurveClients) -> Side {
    let mut c = Side::new(t);
    c.mechanism = MechanismConfig::CurveServer(CurveServerConfig::new(server_keys(), clients));
    c
}

fn server(t: SocketType) -> Side {
    server_with(t, CurveClients::any())
}

/// `(start, end)` of each frame body in a recorded stream (after the 64-byte greeting).
fn bodies(raw: &[u8]) -> Vec<(usize, usize)> {
    let mut at = 64;
    let mut out = Vec::new();
    while let Ok(Some(h)) = FrameHeader::parse(&raw[at..]) {
        let start = at + h.header_len;
        let end = start + h.size as usize;
        if end > raw.len() {
            break;
        }
        out.push((start, end));
        at = end;
    }
    out
}

/// A complete DEALER → ROUTER session: the handshake, then one message each way.
fn recorded_session() -> Pair {
    let mut p = Pair::connected(client(SocketType::Dealer), server(SocketType::Router));
    p.client.send(&msg(&[b"first", b"payload"])).unwrap();
    p.server.send(&msg(&[b"reply"])).unwrap();
    p.drive();
    p
}

/// Feeds `input` to a fresh connection with `config` and `entropy`; returns its error, if any.
fn feed(config: Side, entropy: [u8; 32], input: &[u8]) -> Option<Error> {
    let mut conn = config.with_entropy(std::time::Instant::now(), entropy);
    let _ = conn.handle_input(input, std::time::Instant::now());
    let error = conn.error().cloned();
    if error.is_some() {
        assert!(!conn.is_active());
        assert!(drain_messages(&mut conn).is_empty(), "nothing delivered");
    }
    error
}

/// C1, C2: the four handshake commands have the RFC's layouts and sizes; then every frame, in
/// both directions, is a MESSAGE (an ordinary frame, as libzmq sends it) that does not show
/// its payload; messages arrive whole, with their frames.
#[test]
fn c1_handshake_layouts_then_encrypted_messages_both_ways() {
    let mut p = Pair::with_configs(client(SocketType::Dealer), server(SocketType::Router));
    p.drive();
    assert!(p.client.is_active(), "{:?}", p.client.error());
    assert!(p.server.is_active(), "{:?}", p.server.error());
    let (cg, sg) = (p.c2s.greeting().unwrap(), p.s2c.greeting().unwrap());
    assert_eq!(&cg[12..18], b"CURVE\0");
    assert_eq!(&sg[12..18], b"CURVE\0");
    assert_eq!((cg[32], sg[32]), (0, 1), "as-server: client 0, server 1");

    let names = |t: &Tap| -> Vec<Vec<u8>> {
        t.frames
            .iter()
            .filter_map(|f| f.command_name().map(<[u8]>::to_vec))
            .collect()
    };
    assert_eq!(names(&p.c2s), [b"HELLO".to_vec(), b"INITIATE".to_vec()]);
    assert_eq!(names(&p.s2c), [b"WELCOME".to_vec(), b"READY".to_vec()]);
    let hello = &p.c2s.commands_named(b"HELLO")[0].body;
    assert_eq!(hello.len(), 200);
    assert_eq!(&hello[6..8], [1, 0], "version 1.0");
    assert!(hello[8..80].iter().all(|&b| b == 0), "72 bytes of padding");
    assert_eq!(&hello[112..120], 1u64.to_be_bytes(), "first short nonce");
    assert_eq!(p.s2c.commands_named(b"WELCOME")[0].body.len(), 168);
    let initiate = &p.c2s.commands_named(b"INITIATE")[0].body;
    assert!(initiate.len() >= 257, "{}", initiate.len());
    assert_eq!(&initiate[105..113], 2u64.to_be_bytes());
    let ready = &p.s2c.commands_named(b"READY")[0].body;
    assert!(ready.len() >= 30);

    // The server knows the client by its long-term key.
    let events = drain_events(&mut p.server);
    let info = handshake_info(&events);
    assert_eq!(info.socket_type, SocketType::Dealer);
    assert_eq!(
        info.metadata.get(USER_ID).unwrap(),
        &Bytes::from(client_keys().public().to_z85())
    );
    let events = drain_events(&mut p.client);
    assert_eq!(handshake_info(&events).socket_type, SocketType::Router);

    let handshake_frames = (p.c2s.frames.len(), p.s2c.frames.len());
    p.client
        .send(&msg(&[b"top secret", b"second frame"]))
        .unwrap();
    p.client.send_slice(b"").unwrap();
    p.drive();
    assert_eq!(
        drain_messages(&mut p.server),
        [msg(&[b"top secret", b"second frame"]), msg(&[b""])]
    );
    p.server.send(&msg(&[b"classified"])).unwrap();
    p.drive();
    assert_eq!(drain_messages(&mut p.client), [msg(&[b"classified"])]);

    for (tap, skip, payloads) in [
        (&p.c2s, handshake_frames.0, &[10, 12, 0][..]),
        (&p.s2c, handshake_frames.1, &[10][..]),
    ] {
        let after: Vec<_> = tap.frames[skip..].iter().collect();
        assert_eq!(after.len(), payloads.len());
        for (f, len) in after.iter().zip(payloads) {
            assert_eq!(f.flags, 0, "an ordinary frame without MORE");
            assert_eq!(&f.body[..8], b"\x07MESSAGE");
            assert_eq!(f.body.len(), 33 + len);
        }
    }
    for secret in [&b"top secret"[..], b"second frame", b"classified"] {
        assert!(!p.c2s.raw.windows(secret.len()).any(|w| w == secret));
        assert!(!p.s2c.raw.windows(secret.len()).any(|w| w == secret));
    }
}

/// Large and many: a 16 MiB message and 10,000 small ones, in order (the conformance suite
/// sends 100,000 over real sockets).
#[test]
fn a_16_mib_message_and_10_000_in_order() {
    let mut p = Pair::connected(client(SocketType::Push), server(SocketType::Pull));
    let big: Vec<u8> = (0..16 << 20).map(|i| (i % 251) as u8).collect();
    p.client.send(&msg(&[&big])).unwrap();
    p.drive();
    assert_eq!(drain_messages(&mut p.server), [msg(&[&big])]);
    for i in 0..10_000u32 {
        p.client.send_slice(&i.to_be_bytes()).unwrap();
        if i % 500 == 499 {
            p.drive();
        }
    }
    p.drive();
    let got = drain_messages(&mut p.server);
    assert_eq!(got.len(), 10_000);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m, &msg(&[&(i as u32).to_be_bytes()]));
    }
}

/// C7: a client with the wrong server key cannot open WELCOME, because the server cannot
/// open its HELLO: the server drops it without a reply.
#[test]
fn c7_wrong_server_key_is_refused() {
    let wrong = client_to(SocketType::Dealer, *keys(9).public(), client_keys());
    let mut p = Pair::with_configs(wrong, server(SocketType::Router));
    p.drive();
    assert!(matches!(p.server.error(), Some(Error::Cryptographic(_))));
    assert!(p.s2c.commands_named(b"WELCOME").is_empty());
    assert!(!p.client.is_active());
}

/// C5: a client whose long-term key the server does not allow gets ERROR 400 (as libzmq's ZAP
/// refusal), and the server reports why; an allowed key gets in.
#[test]
fn c5_unknown_client_key_gets_error_400() {
    let only_other = server_with(SocketType::Router, CurveClients::only([*keys(7).public()]));
    let mut p = Pair::with_configs(client(SocketType::Dealer), only_other);
    p.drive();
    assert_eq!(p.client.error(), Some(&Error::PeerError("400".into())));
    assert!(p.client.error().unwrap().is_handshake_refusal());
    assert!(matches!(
        p.server.error(),
        Some(Error::AuthenticationFailed(why)) if why.contains(&client_keys().public().to_z85())
    ));
    assert!(p.s2c.commands_named(b"READY").is_empty());

    let allowed = server_with(
        SocketType::Router,
        CurveClients::only([*keys(7).public(), *client_keys().public()]),
    );
    Pair::connected(client(SocketType::Dealer), allowed);
}

/// Every byte of every handshake command and of a MESSAGE, flipped, is refused by the side
/// that receives it, which delivers nothing.
#[test]
fn c5_every_tampered_byte_is_refused() {
    let p = recorded_session();
    let (c2s, s2c) = (p.c2s.raw.clone(), p.s2c.raw.clone());
    // HELLO, INITIATE, MESSAGE, MESSAGE from the client; WELCOME, READY, MESSAGE from the
    // server.
    let (cb, sb) = (bodies(&c2s), bodies(&s2c));
    assert_eq!((cb.len(), sb.len()), (4, 3));
    for (raw, spans, config, entropy) in [
        (&c2s, &cb, server(SocketType::Router), SERVER_ENTROPY),
        (&s2c, &sb, client(SocketType::Dealer), CLIENT_ENTROPY),
    ] {
        // The untampered stream is accepted.
        assert_eq!(feed(config.clone(), entropy, raw), None);
        for &(start, end) in spans.iter() {
            for at in start..end {
                let mut bad = raw[..end].to_vec();
                bad[at] ^= 0x01;
                assert!(
                    feed(config.clone(), entropy, &bad).is_some(),
                    "byte {} of the frame at {start} accepted",
                    at - start
                );
            }
        }
    }
}

/// C3: a MESSAGE whose nonce is not above the last one received (a replay, or one going
/// backwards) ends the connection.
#[test]
fn c3_replayed_or_backward_message_nonces_are_refused() {
    let mut p = Pair::connected(client(SocketType::Push), server(SocketType::Pull));
    p.client.send_slice(b"one").unwrap();
    p.client.send_slice(b"two").unwrap();
    let wire = take_all_output(&mut p.client);
    let spans = bodies(&[&[0; 64][..], &wire].concat());
    let frame = |i: usize| {
        let (s, e) = spans[i];
        // The header sits right before the body; offsets include the fake greeting.
        wire[s - 64 - 2..e - 64].to_vec()
    };
    let (one, two) = (frame(0), frame(1));
    let now = p.now;

    let mut replay = Pair::connected(client(SocketType::Push), server(SocketType::Pull));
    replay.server.handle_input(&one, now).unwrap();
    let err = replay.server.handle_input(&one, now).unwrap_err();
    assert!(matches!(err, Error::Cryptographic(_)), "{err}");
    assert_eq!(drain_messages(&mut replay.server), [msg(&[b"one"])]);

    let mut backwards = Pair::connected(client(SocketType::Push), server(SocketType::Pull));
    backwards.server.handle_input(&two, now).unwrap();
    let err = backwards.server.handle_input(&one, now).unwrap_err();
    assert!(matches!(err, Error::Cryptographic(_)), "{err}");
    assert_eq!(drain_messages(&mut backwards.server), [msg(&[b"two"])]);
}

/// C4: a cookie opens only on the connection that made it. A whole client stream replayed to
/// another server connection (another cookie key) fails at INITIATE, and so does INITIATE
/// sent again on the connection it completed.
#[test]
fn c4_cookies_and_initiate_do_not_replay() {
    let p = recorded_session();
    let spans = bodies(&p.c2s.raw);
    let through_initiate = &p.c2s.raw[..spans[1].1];
    let other_server = [0x77; 32];
    assert!(matches!(
        feed(server(SocketType::Router), other_server, through_initiate),
        Some(Error::Cryptographic(why)) if why.contains("cookie")
    ));

    // INITIATE again on the connection it completed: no longer a handshake command.
    let initiate = &p.c2s.raw[spans[0].1..spans[1].1];
    let mut again = through_initiate.to_vec();
    again.extend_from_slice(initiate);
    assert!(feed(server(SocketType::Router), SERVER_ENTROPY, &again).is_some());
}

/// C5: commands of the wrong size are refused, before and after the handshake.
#[test]
fn c5_truncated_and_oversized_commands_are_refused() {
    let p = recorded_session();
    let (c2s, s2c) = (&p.c2s.raw, &p.s2c.raw);
    let (cb, sb) = (bodies(c2s), bodies(s2c));
    let greeting_to_server = greeting_with(3, 1, b"CURVE", false);
    let greeting_to_client = greeting_with(3, 1, b"CURVE", true);
    let with = |prefix: &[u8], extra: Vec<u8>| [prefix, &extra].concat();

    for (len, name) in [(199, "HELLO"), (201, "HELLO")] {
        let hello = command(b"HELLO", &vec![0; len - 6]);
        assert!(
            matches!(
                feed(
                    server(SocketType::Router),
                    SERVER_ENTROPY,
                    &with(&greeting_to_server, hello)
                ),
                Some(Error::MalformedCommand(_))
            ),
            "{name} of {len} bytes"
        );
    }
    let short_initiate = command(b"INITIATE", &[0; 256 - 9]);
    assert!(matches!(
        feed(
            server(SocketType::Router),
            SERVER_ENTROPY,
            &with(&c2s[..cb[0].1], short_initiate)
        ),
        Some(Error::MalformedCommand(_))
    ));
    for len in [167, 169] {
        let welcome = command(b"WELCOME", &vec![0; len - 8]);
        assert!(matches!(
            feed(
                client(SocketType::Dealer),
                CLIENT_ENTROPY,
                &with(&greeting_to_client, welcome)
            ),
            Some(Error::MalformedCommand(_))
        ));
    }
    let short_ready = command(b"READY", &[0; 29 - 6]);
    assert!(matches!(
        feed(
            client(SocketType::Dealer),
            CLIENT_ENTROPY,
            &with(&s2c[..sb[0].1], short_ready)
        ),
        Some(Error::MalformedCommand(_))
    ));
    let short_message = frame(0, &[b"\x07MESSAGE".as_slice(), &[0; 24]].concat());
    assert!(matches!(
        feed(
            server(SocketType::Router),
            SERVER_ENTROPY,
            &with(&c2s[..cb[1].1], short_message)
        ),
        Some(Error::MalformedCommand(_))
    ));
    // Larger than any handshake command may be: refused on its header alone.
    let mut huge = greeting_to_server.to_vec();
    huge.push(FLAG_COMMAND | 0x02);
    huge.extend_from_slice(&(MAX_HANDSHAKE_COMMAND + 1).to_be_bytes());
    assert!(matches!(
        feed(server(SocketType::Router), SERVER_ENTROPY, &huge),
        Some(Error::MessageTooLarge { .. })
    ));
}

/// A message frame before READY (client side) or before INITIATE (server side) is refused;
/// so is a frame after the handshake that is not a MESSAGE.
#[test]
fn messages_before_the_handshake_completes_are_refused() {
    let p = recorded_session();
    let (cb, sb) = (bodies(&p.c2s.raw), bodies(&p.s2c.raw));
    let early = frame(0, b"\x07MESSAGE0123456789012345678901234");
    let input = [&p.s2c.raw[..sb[0].1], &early].concat();
    assert_eq!(
        feed(client(SocketType::Dealer), CLIENT_ENTROPY, &input),
        Some(Error::MessageBeforeHandshake)
    );
    let input = [&p.c2s.raw[..cb[0].1], &early].concat();
    assert_eq!(
        feed(server(SocketType::Router), SERVER_ENTROPY, &input),
        Some(Error::MessageBeforeHandshake)
    );
    let clear = frame(0, b"plain text after the handshake");
    let input = [&p.c2s.raw[..cb[1].1], &clear].concat();
    assert!(matches!(
        feed(server(SocketType::Router), SERVER_ENTROPY, &input),
        Some(Error::UnexpectedCommand(_))
    ));
}

/// Downgrade: a NULL or PLAIN peer never talks to a CURVE socket; the failure names both
/// mechanisms.
#[test]
fn null_or_plain_peers_are_refused_by_name() {
    let mut plain = Side::new(SocketType::Dealer);
    plain.mechanism = MechanismConfig::PlainClient(PlainCredentials::new("u", "p").unwrap());
    for (peer, name) in [(Side::new(SocketType::Dealer), "NULL"), (plain, "PLAIN")] {
        let mut p = Pair::with_configs(peer, server(SocketType::Router));
        p.drive();
        assert_eq!(
            p.server.error(),
            Some(&Error::MechanismMismatch {
                ours: "CURVE",
                theirs: name.into()
            })
        );
        assert!(!p.client.is_active());
    }
    let mut p = Pair::with_configs(client(SocketType::Dealer), Side::new(SocketType::Router));
    p.drive();
    assert_eq!(
        p.client.error(),
        Some(&Error::MechanismMismatch {
            ours: "CURVE",
            theirs: "NULL".into()
        })
    );
}

/// C6: SUBSCRIBE, PING and PONG travel inside MESSAGE with the COMMAND flag: the publisher
/// learns the subscription, and PINGs are answered so the heartbeat never times out. Nothing
/// after the handshake is a clear command.
#[test]
fn c6_subscriptions_and_heartbeats_travel_encrypted() {
    let ivl = std::time::Duration::from_millis(100);
    let mut sub = client(SocketType::Sub);
    sub.heartbeat_ivl = Some(ivl);
    let mut p = Pair::connected(sub, server(SocketType::Pub));
    let handshake_frames = (p.c2s.frames.len(), p.s2c.frames.len());
    p.client.send_subscription(b"news", true).unwrap();
    p.drive();
    assert_eq!(
        drain_events(&mut p.server),
        [Event::Subscribe(Bytes::from_static(b"news"))]
    );
    p.server.send(&msg(&[b"news: it works"])).unwrap();
    p.drive();
    assert_eq!(drain_messages(&mut p.client), [msg(&[b"news: it works"])]);
    for _ in 0..5 {
        p.advance(ivl);
        p.drive();
        assert!(p.client.is_active(), "{:?}", p.client.error());
    }
    let client_frames = &p.c2s.frames[handshake_frames.0..];
    let server_frames = &p.s2c.frames[handshake_frames.1..];
    assert_eq!(client_frames.len(), 1 + 5, "SUBSCRIBE and five PINGs");
    assert_eq!(server_frames.len(), 1 + 5, "a message and five PONGs");
    for f in client_frames.iter().chain(server_frames) {
        assert!(!f.is_command() && f.body.starts_with(b"\x07MESSAGE"));
    }
}

/// Without entropy, a CURVE connection fails before it sends anything rather than use
/// predictable keys.
#[test]
fn no_entropy_fails_closed() {
    let mut conn = client(SocketType::Dealer).connection(std::time::Instant::now());
    assert!(matches!(conn.error(), Some(Error::InvalidOption(why)) if why.contains("entropy")));
    assert!(!conn.has_transmit(), "not even a greeting");
    assert!(matches!(
        drain_events(&mut conn).as_slice(),
        [Event::Closed(Error::InvalidOption(_))]
    ));
    let plain = Side::new(SocketType::Dealer).connection(std::time::Instant::now());
    assert!(plain.error().is_none());
}

/// Secrets never show in debug output: keys, configs, connections mid-handshake and after.
#[test]
fn debug_output_shows_no_secret() {
    let secret = [0xAB; 32];
    let pair = CurveKeyPair::from_secret(CurveSecretKey::from_bytes(secret));
    let z85 = pair.secret().expose_z85();
    let mut c = client_to(SocketType::Dealer, *server_keys().public(), pair.clone());
    c.heartbeat_ivl = None;
    let s = {
        let mut s = Side::new(SocketType::Router);
        s.mechanism =
            MechanismConfig::CurveServer(CurveServerConfig::new(pair.clone(), CurveClients::any()));
        s
    };
    let mut p = Pair::with_configs(c.clone(), s.clone());
    let mut texts = vec![
        format!("{pair:?}"),
        format!("{:?}", pair.secret()),
        format!("{c:?}"),
        format!("{s:?}"),
        format!("{:?}", c.mechanism),
        format!("{:#?}", s.mechanism),
        format!("{:?}", p.client),
    ];
    p.step();
    texts.push(format!("{:?} {:?}", p.client, p.server));
    p.drive();
    texts.push(format!("{:#?} {:#?}", p.client, p.server));
    for text in texts {
        assert!(!text.contains(&*z85), "{text}");
        assert!(!text.contains("171, 171"), "{text}");
        assert!(!text.to_lowercase().contains("abab"), "{text}");
        assert!(!text.contains("\\xab\\xab"), "{text}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Any single flipped bit of a handshake command or MESSAGE is refused, without a panic.
    #[test]
    fn any_flipped_bit_is_refused(which in 0usize..7, bit in 0usize..(8 * 400)) {
        let p = recorded_session();
        let (c2s, s2c) = (p.c2s.raw.clone(), p.s2c.raw.clone());
        let (cb, sb) = (bodies(&c2s), bodies(&s2c));
        let (raw, (start, end), config, entropy) = if which < 4 {
            (&c2s, cb[which], server(SocketType::Router), SERVER_ENTROPY)
        } else {
            (&s2c, sb[which - 4], client(SocketType::Dealer), CLIENT_ENTROPY)
        };
        let bit = bit % (8 * (end - start));
        let mut bad = raw[..end].to_vec();
        bad[start + bit / 8] ^= 1 << (bit % 8);
        prop_assert!(feed(config, entropy, &bad).is_some());
    }
}

/// Encryption happens in the output buffer: the message sent is left as it was.
#[test]
fn messages_sent_are_unchanged_for_the_sender() {
    let mut p = Pair::connected(client(SocketType::Push), server(SocketType::Pull));
    let m = Msg::from("kept");
    p.client.send(&m).unwrap();
    assert_eq!(m, Msg::from("kept"));
    p.drive();
    assert_eq!(drain_messages(&mut p.server), [m]);
}
