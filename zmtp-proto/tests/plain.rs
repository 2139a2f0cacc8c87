//! The PLAIN mechanism (RFC 24, checklist §1.8: P1–P5), two connections in memory and
//! hand-crafted peer bytes.

mod support;

use support::Side;
use support::*;
use zmtp_proto::{Error, MechanismConfig, SocketType};
use zmtp_proto::{PlainCredentials, PlainUsers, USER_ID};

fn client(t: SocketType, user: &str, pass: &str) -> Side {
    let mut c = Side::new(t);
    c.mechanism = MechanismConfig::PlainClient(
        PlainCredentials::new(user.to_owned(), pass.to_owned()).unwrap(),
    );
    c
}

fn server(t: SocketType, users: PlainUsers) -> Side {
    let mut c = Side::new(t);
    c.mechanism = MechanismConfig::PlainServer(users);
    c
}

fn users() -> PlainUsers {
    PlainUsers::new([("admin", "secret"), ("guest", "")])
}

/// P1/P2: HELLO, WELCOME, INITIATE, READY in that order; then messages flow both ways. The
/// server learns the user name as `User-Id`; the greeting carries PLAIN and the server's
/// as-server byte.
#[test]
fn p2_handshake_then_messages_both_ways() {
    let mut p = Pair::with_configs(
        client(SocketType::Dealer, "admin", "secret"),
        server(SocketType::Router, users()),
    );
    p.drive();
    assert!(p.client.is_active(), "{:?}", p.client.error());
    assert!(p.server.is_active(), "{:?}", p.server.error());

    let (cg, sg) = (p.c2s.greeting().unwrap(), p.s2c.greeting().unwrap());
    assert_eq!(&cg[12..18], b"PLAIN\0");
    assert_eq!(&sg[12..18], b"PLAIN\0");
    assert_eq!(
        (cg[32], sg[32]),
        (0, 1),
        "as-server: client 0, server 1 (P1)"
    );

    let names = |t: &Tap| -> Vec<Vec<u8>> {
        t.frames
            .iter()
            .filter_map(|f| f.command_name().map(<[u8]>::to_vec))
            .collect()
    };
    assert_eq!(names(&p.c2s), [b"HELLO".to_vec(), b"INITIATE".to_vec()]);
    assert_eq!(names(&p.s2c), [b"WELCOME".to_vec(), b"READY".to_vec()]);
    // HELLO byte for byte: user-len user pass-len pass (P2).
    let hello = p.c2s.commands_named(b"HELLO")[0];
    assert_eq!(&hello.body[..], b"\x05HELLO\x05admin\x06secret");
    assert_eq!(
        &p.s2c.commands_named(b"WELCOME")[0].body[..],
        b"\x07WELCOME"
    );

    let server_events = drain_events(&mut p.server);
    let peer = handshake_info(&server_events);
    assert_eq!(peer.socket_type, SocketType::Dealer);
    assert_eq!(peer.metadata.get(USER_ID).unwrap(), &b"admin"[..]);
    let client_events = drain_events(&mut p.client);
    assert_eq!(
        handshake_info(&client_events).socket_type,
        SocketType::Router
    );

    p.client.send(&msg(&[b"hello"])).unwrap();
    p.server.send(&msg(&[b"", b"world"])).unwrap();
    p.drive();
    assert_eq!(drain_messages(&mut p.server), [msg(&[b"hello"])]);
    assert_eq!(drain_messages(&mut p.client), [msg(&[b"", b"world"])]);
}

/// P5: wrong credentials are refused with ERROR "400" (a ZAP status code, as libzmq sends);
/// the client reports the peer's refusal, the server an authentication failure. Neither
/// connection becomes active and no message is exchanged.
#[test]
fn p5_wrong_password_or_unknown_user_is_refused() {
    for (user, pass) in [("admin", "guess"), ("admin", ""), ("root", "secret")] {
        let mut p = Pair::with_configs(
            client(SocketType::Req, user, pass),
            server(SocketType::Rep, users()),
        );
        p.drive();
        assert!(!p.client.is_active() && !p.server.is_active());
        assert_eq!(p.client.error(), Some(&Error::PeerError("400".into())));
        let err = p.server.error().cloned().unwrap();
        assert!(
            matches!(&err, Error::AuthenticationFailed(why) if why.contains(user)),
            "{err:?}"
        );
        assert!(err.is_handshake_refusal());
        assert!(p.s2c.commands_named(b"WELCOME").is_empty());
        assert_eq!(p.s2c.commands_named(b"ERROR").len(), 1);
        assert!(p.c2s.commands_named(b"INITIATE").is_empty());
    }
}

/// P5: the password never leaks into an error or a log line, the user name does.
#[test]
fn p5_refusal_names_the_user_not_the_password() {
    let mut p = Pair::with_configs(
        client(SocketType::Push, "mallory", "hunter2"),
        server(SocketType::Pull, users()),
    );
    p.drive();
    let text = p.server.error().unwrap().to_string();
    assert!(
        text.contains("mallory") && !text.contains("hunter2"),
        "{text}"
    );
}

/// An empty password is a password like any other, and `PlainUsers::insecure_accept_any()`
/// lets anyone in, on request only.
#[test]
fn p2_empty_password_and_any_user_on_request() {
    Pair::connected(
        client(SocketType::Pair, "guest", ""),
        server(SocketType::Pair, users()),
    );
    Pair::connected(
        client(SocketType::Sub, "whoever", "whatever"),
        server(SocketType::Pub, PlainUsers::insecure_accept_any()),
    );
}

/// P5, issue 18: a server given no users refuses every client, as libzmq's PLAIN server does
/// when no ZAP handler runs. `PlainUsers::default()` is that server; the refusal is an ERROR
/// 400 like any other, and the server's error says that nobody is let in.
#[test]
fn p5_no_users_refuses_everyone() {
    assert_eq!(PlainUsers::default(), PlainUsers::none());
    for (user, pass) in [("anyone", "anything"), ("", ""), ("admin", "secret")] {
        let mut p = Pair::with_configs(
            client(SocketType::Dealer, user, pass),
            server(SocketType::Router, PlainUsers::default()),
        );
        p.drive();
        assert!(!p.client.is_active() && !p.server.is_active());
        assert_eq!(p.client.error(), Some(&Error::PeerError("400".into())));
        let err = p.server.error().cloned().unwrap();
        assert!(
            matches!(&err, Error::AuthenticationFailed(why) if why.contains("no users")),
            "{err:?}"
        );
        assert!(p.s2c.commands_named(b"WELCOME").is_empty());
        assert!(p.c2s.commands_named(b"INITIATE").is_empty());
    }
}

/// A `User-Id` the client sends itself does not override the authenticated one.
#[test]
fn p5_client_cannot_choose_its_user_id() {
    let mut c = client(SocketType::Dealer, "guest", "");
    c.metadata.insert("User-Id", "admin");
    let mut p = Pair::with_configs(c, server(SocketType::Router, users()));
    p.drive();
    let events = drain_events(&mut p.server);
    let peer = handshake_info(&events);
    assert_eq!(peer.metadata.get(USER_ID).unwrap(), &b"guest"[..]);
    assert_eq!(
        peer.metadata
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"user-id"))
            .count(),
        1
    );
}

/// G1: PLAIN and NULL do not mix, on either side.
#[test]
fn g1_plain_against_null_is_a_mechanism_mismatch() {
    let mut p = Pair::with_configs(
        client(SocketType::Req, "admin", "secret"),
        Side::new(SocketType::Rep),
    );
    p.drive();
    assert!(matches!(
        p.client.error(),
        Some(Error::MechanismMismatch { ours: "PLAIN", .. })
    ));
    assert!(matches!(
        p.server.error(),
        Some(Error::MechanismMismatch { ours: "NULL", .. })
    ));
}

/// P2: a socket type mismatch is still caught after PLAIN authentication (RFC 37 table).
#[test]
fn p2_incompatible_socket_types_are_refused_after_authentication() {
    let mut p = Pair::with_configs(
        client(SocketType::Push, "admin", "secret"),
        server(SocketType::Rep, users()),
    );
    p.drive();
    assert!(matches!(
        p.server.error(),
        Some(Error::IncompatibleSocketType { .. })
    ));
    assert!(!p.client.is_active());
}

/// P1: two clients fail on the HELLO neither expects.
#[test]
fn p1_two_clients_fail_on_hello() {
    let mut p = Pair::with_configs(
        client(SocketType::Dealer, "a", "b"),
        client(SocketType::Dealer, "a", "b"),
    );
    p.drive();
    assert_eq!(
        p.client.error(),
        Some(&Error::UnexpectedCommand("HELLO".into()))
    );
}

/// P2, hand-crafted client bytes against our server: a malformed HELLO, a message before the
/// handshake, a command out of order and READY instead of INITIATE are refused with a reason.
#[test]
fn p2_server_refuses_malformed_or_out_of_order_input() {
    let g = greeting_with(3, 1, b"PLAIN", false);
    let cases: Vec<(Vec<u8>, Error)> = vec![
        (
            command(b"HELLO", b"\x05admin\x06secretX"),
            Error::MalformedCommand("HELLO has bytes after the password"),
        ),
        (
            command(b"HELLO", b"\x05admin"),
            Error::MalformedCommand("HELLO password truncated"),
        ),
        (
            command(b"INITIATE", &metadata(&[("Socket-Type", b"DEALER")])),
            Error::UnexpectedCommand("INITIATE".into()),
        ),
        (message(&[b"early"]), Error::MessageBeforeHandshake),
        (
            [
                command(b"HELLO", b"\x05admin\x06secret"),
                ready("DEALER", &[]),
            ]
            .concat(),
            Error::UnexpectedCommand("READY".into()),
        ),
    ];
    for (input, want) in cases {
        let input = [&g[..], &input].concat();
        let got = fail_with(server(SocketType::Router, users()), &input);
        assert_eq!(got, want);
    }
}

/// P2, hand-crafted server bytes against our client: WELCOME with a body, READY before
/// WELCOME, and ERROR at any point.
#[test]
fn p2_client_refuses_malformed_or_out_of_order_input() {
    let g = greeting_with(3, 1, b"PLAIN", true);
    let cases: Vec<(Vec<u8>, Error)> = vec![
        (
            command(b"WELCOME", b"x"),
            Error::MalformedCommand("WELCOME with a body"),
        ),
        (
            ready("ROUTER", &[]),
            Error::UnexpectedCommand("READY".into()),
        ),
        (
            command(b"ERROR", b"\x03400"),
            Error::PeerError("400".into()),
        ),
        (
            [command(b"WELCOME", b""), command(b"ERROR", b"\x03500")].concat(),
            Error::PeerError("500".into()),
        ),
        // What libzmq 4.3.5 sends when its ZAP handler refuses the client, captured byte for
        // byte: its ERROR name is one byte short ("\x5ERROR" in its C source).
        (
            b"\x04\x09^RROR\x03400".to_vec(),
            Error::PeerError("400".into()),
        ),
    ];
    for (input, want) in cases {
        let input = [&g[..], &input].concat();
        let got = fail_with(client(SocketType::Dealer, "admin", "secret"), &input);
        assert_eq!(got, want);
    }
}

/// Credentials longer than HELLO can carry are refused when configured, not on the wire.
#[test]
fn p2_credentials_over_255_bytes_are_refused() {
    let long = "x".repeat(256);
    assert!(matches!(
        PlainCredentials::new(long.clone(), "p"),
        Err(Error::InvalidOption(_))
    ));
    assert!(PlainCredentials::new("u", long).is_err());
    let max = "y".repeat(255);
    let mut p = Pair::with_configs(
        client(SocketType::Dealer, &max, &max),
        server(
            SocketType::Router,
            PlainUsers::new([(max.clone(), max.clone())]),
        ),
    );
    p.drive();
    assert!(p.client.is_active() && p.server.is_active());
}

/// P5: a check of the application's own (`PlainUsers::from_fn`, the role of a ZAP handler)
/// sees each client's user name and password and decides.
#[test]
fn p5_a_user_check_decides() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let users = PlainUsers::from_fn(move |user, pass| {
        log.lock().unwrap().push(user.to_vec());
        user.starts_with(b"ops-") && pass == b"rotate-me"
    });
    let mut ok = Pair::with_configs(
        client(SocketType::Dealer, "ops-alice", "rotate-me"),
        server(SocketType::Router, users.clone()),
    );
    ok.drive();
    assert!(ok.client.is_active() && ok.server.is_active());
    let mut refused = Pair::with_configs(
        client(SocketType::Dealer, "dev-bob", "rotate-me"),
        server(SocketType::Router, users),
    );
    refused.drive();
    assert_eq!(
        refused.client.error(),
        Some(&Error::PeerError("400".into()))
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [b"ops-alice".to_vec(), b"dev-bob".to_vec()]
    );
}
