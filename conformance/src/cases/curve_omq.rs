//! CURVE (RFC 25/26, checklist §1.9) against omq.rs: `omq-tokio` 0.33 with its `curve`
//! feature, run as an [`Omq`] peer (its own tokio runtime in a thread of its own), both roles.
//! Each way: 10,000 numbered messages in order, a multi-frame message, a 16 MiB message;
//! heartbeats over an idle connection (PING/PONG inside MESSAGE, with the COMMAND flag), omq
//! PINGing in one case and we in the other, so each side's PONGs are what keeps it connected;
//! PUB/SUB both ways (SUBSCRIBE inside MESSAGE); refusals both ways: our allow list without
//! omq's key, omq's authenticator without ours, omq given the wrong server key.
//!
//! omq admits clients with an in-process authenticator callback, not an RFC 27 ZAP handler;
//! the cases use the callback (and record the keys it was shown). omq's monitor is read for
//! what omq saw (handshakes and the key it authenticated, ERROR reasons, subscriptions), so a
//! disagreement shows on both sides.
//!
//! omq's CURVE crates (salsabox, fearless_simd) are not optimised in a debug build unless the
//! workspace's `[profile.dev.package]` lists them: a 16 MiB message then takes about 5 s to
//! seal or open on omq's side (0.5 s optimised), hence the long waits for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::omq::{Omq, OmqCurve, OmqEvent, OmqOptions};
use crate::util::{
    big_body, check_big_body, check_seq, drain_events, is_handshake, join, msg, seq_msg, timeout,
    wait_event, within,
};
use crate::{Driver, Error, MonitorEvent, Msg, Sock, SocketEvent, SocketOptions, SocketType};
use zmtp_async::Monitor;
use zmtp_proto::MechanismConfig;
use zmtp_proto::{
    CurveClientConfig, CurveClients, CurveKeyPair, CurvePublicKey, CurveSecretKey,
    CurveServerConfig,
};

/// One wait (a message, an event, a peer operation's reply).
const LIMIT: Duration = Duration::from_secs(20);
/// Numbered messages each way.
const MANY: u64 = 10_000;
/// Their size (a number and a pattern derived from it, so loss, reordering and corruption show).
const SIZE: usize = 64;
const BIG: usize = 16 << 20;
/// How long both sides stay idle with heartbeats on (beyond both heartbeat timeouts).
const IDLE: Duration = Duration::from_millis(2800);
const HEARTBEAT_IVL: Duration = Duration::from_millis(100);
/// Generous: a loaded CI machine may starve a side for a second.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);

fn secret(n: u8) -> [u8; 32] {
    [n; 32]
}

fn keys(n: u8) -> CurveKeyPair {
    CurveKeyPair::from_secret(CurveSecretKey::from_bytes(secret(n)))
}

fn public(n: u8) -> [u8; 32] {
    *keys(n).public().as_bytes()
}

fn client_options(server: u8, me: u8) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.connection.mechanism = MechanismConfig::CurveClient(CurveClientConfig::new(
        CurvePublicKey::from_bytes(public(server)),
        keys(me),
    ));
    o.linger = Some(Duration::from_secs(2));
    o
}

fn server_options(me: u8, clients: CurveClients) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.connection.mechanism =
        MechanismConfig::CurveServer(CurveServerConfig::new(keys(me), clients));
    o.linger = Some(Duration::from_secs(2));
    o
}

fn with_heartbeats(mut o: SocketOptions) -> SocketOptions {
    o.connection.heartbeat_ivl = Some(HEARTBEAT_IVL);
    o.connection.heartbeat_timeout = Some(HEARTBEAT_TIMEOUT);
    o
}

fn omq_heartbeats(mut o: OmqOptions) -> OmqOptions {
    o.heartbeat = Some((HEARTBEAT_IVL, HEARTBEAT_TIMEOUT));
    o
}

fn failed_with(pred: impl Fn(&Error) -> bool) -> impl FnMut(&SocketEvent) -> bool {
    move |e| matches!(e, SocketEvent::HandshakeFailed { error, .. } if pred(error))
}

fn multi() -> Msg {
    msg(&["first", "", "third frame", "4"])
}

/// The next message on our socket, or a panic that shows what our monitor and omq's saw.
async fn recv_from<D: Driver>(
    sock: &Sock<D>,
    mon: &mut Monitor<D::Runtime>,
    omq: &Omq,
    what: &str,
) -> Msg {
    match timeout::<D, _>(LIMIT, sock.recv()).await {
        Some(got) => got.expect("recv"),
        None => {
            let ours = drain_events::<D, _>(mon).await;
            let theirs = omq.events().await;
            panic!(
                "{}: omq sent no {what} within {LIMIT:?} (our monitor: {ours:?}; omq's: {theirs:?})",
                D::NAME
            )
        }
    }
}

/// Both sides have completed the CURVE handshake (our monitor and omq's); answers omq's view
/// of our long-term key.
async fn handshaken<D: Driver>(mon: &mut Monitor<D::Runtime>, omq: &Omq) -> Option<[u8; 32]> {
    wait_event::<D, _>(mon, LIMIT, "the handshake with omq", is_handshake).await;
    let seen = omq
        .wait_event::<D>(LIMIT, "handshake with us", |e| {
            matches!(e, OmqEvent::HandshakeSucceeded { .. })
        })
        .await;
    seen.iter().find_map(|e| match e {
        OmqEvent::HandshakeSucceeded { curve_key } => *curve_key,
        _ => None,
    })
}

/// `MANY` numbered messages each way (in order, intact), a multi-frame message and a 16 MiB
/// one each way.
async fn exchange<D: Driver>(sock: &Sock<D>, mon: &mut Monitor<D::Runtime>, omq: &Omq) {
    // Ours to omq, while omq receives (our DEALER blocks at its high-water mark meanwhile).
    let send_all = async {
        for i in 0..MANY {
            sock.send(seq_msg(i, SIZE)).await.expect("send");
        }
    };
    join(send_all, omq.recv_seq(MANY, SIZE, LIMIT)).await;
    // omq's to ours.
    let recv_all = async {
        for i in 0..MANY {
            let got = recv_from::<D>(sock, mon, omq, "numbered message").await;
            if let Err(e) = check_seq(&got, i, SIZE) {
                panic!("{}: from omq: {e}", D::NAME);
            }
        }
    };
    join(omq.send_seq(MANY, SIZE), recv_all).await;

    // Multi-frame, with an empty frame, each way.
    sock.send(multi()).await.expect("send multi-frame");
    let got = omq.recv_timeout(LIMIT).await.expect("omq's receive");
    assert_eq!(got, multi(), "{}: multi-frame message at omq", D::NAME);
    omq.send(multi()).await;
    let got = recv_from::<D>(sock, mon, omq, "multi-frame message").await;
    assert_eq!(got, multi(), "{}: multi-frame message from omq", D::NAME);

    // 16 MiB each way.
    let big = big_body(BIG);
    let (sent, got) = join(
        sock.send(Msg::from(big.clone())),
        omq.recv_timeout(LIMIT * 2),
    )
    .await;
    sent.expect("send 16 MiB");
    let got = got.expect("omq's receive of 16 MiB");
    assert_eq!(got.len(), 1, "{}: 16 MiB message at omq: frames", D::NAME);
    if let Err(e) = check_big_body(&got[0], BIG) {
        panic!("{}: 16 MiB message at omq: {e}", D::NAME);
    }
    let started = std::time::Instant::now();
    let (_, got) = join(
        omq.send(Msg::from(big)),
        timeout::<D, _>(LIMIT * 2, sock.recv()),
    )
    .await;
    let Some(got) = got else {
        let ours = drain_events::<D, _>(mon).await;
        let theirs = omq.events().await;
        panic!(
            "{}: no 16 MiB message from omq after {:?} (our monitor: {ours:?}; omq's: {theirs:?})",
            D::NAME,
            started.elapsed()
        );
    };
    let got = got.expect("recv");
    assert_eq!(got.len(), 1, "{}: 16 MiB message from omq: frames", D::NAME);
    if let Err(e) = check_big_body(&got[0], BIG) {
        panic!("{}: 16 MiB message from omq: {e}", D::NAME);
    }
}

/// A fresh connection on which one side PINGs (the caller chose which): both sides idle for
/// [`IDLE`], beyond both heartbeat timeouts, so only the PONGs answering those PINGs (inside
/// MESSAGE, with the COMMAND flag) keep it up; no disconnection on either side, and a last
/// message each way.
///
/// Not done on the connection of [`exchange`]: an unoptimised omq (salsabox) takes about 5 s
/// to seal or open 16 MiB in a debug build, during which it answers no PING, and both omq and
/// we drop a peer silent for longer than the 2 s heartbeat timeout.
async fn idle<D: Driver>(sock: &Sock<D>, mon: &mut Monitor<D::Runtime>, omq: &Omq) {
    wait_event::<D, _>(mon, LIMIT, "the handshake with omq", is_handshake).await;
    D::sleep(IDLE).await;
    let ours = drain_events::<D, _>(mon).await;
    assert!(
        !ours
            .iter()
            .any(|e| matches!(e, MonitorEvent::Socket(SocketEvent::Disconnected { .. }))),
        "{}: disconnected from omq while idle: {ours:?}",
        D::NAME
    );
    let theirs = omq.events().await;
    assert!(
        theirs
            .iter()
            .any(|e| matches!(e, OmqEvent::HandshakeSucceeded { .. }))
            && !theirs
                .iter()
                .any(|e| matches!(e, OmqEvent::Disconnected(_) | OmqEvent::HandshakeFailed(_))),
        "{}: omq lost us while idle: {theirs:?}",
        D::NAME
    );
    sock.send(msg(&["after idle"])).await.expect("send");
    let got = omq.recv_timeout(LIMIT).await.expect("omq's receive");
    assert_eq!(got, msg(&["after idle"]));
    omq.send(msg(&["after idle"])).await;
    let got = recv_from::<D>(sock, mon, omq, "message after the idle time").await;
    assert_eq!(got, msg(&["after idle"]));
}

/// Our DEALER as the CURVE client of an omq DEALER CURVE server whose authenticator admits
/// only our key: omq's authenticator is shown our long-term key (from INITIATE) and omq
/// reports it on its handshake; then 10,000 numbered messages in order, a multi-frame message
/// and a 16 MiB one, each way. Then a new connection on which omq PINGs and we do not, idle
/// beyond omq's heartbeat timeout: only our PONGs keep omq from dropping us (checked by
/// removing them: omq then disconnects); a message each way after it.
pub async fn curve_client_of_omq<D: Driver>() {
    for heartbeats in [false, true] {
        let mut o = OmqOptions::curve(OmqCurve::Server {
            secret: secret(1),
            allow: Some(vec![public(2)]),
        });
        if heartbeats {
            o = omq_heartbeats(o);
        }
        let omq = Omq::new(SocketType::Dealer, o);
        let ep = omq.bind("tcp://127.0.0.1:*").await;
        let sock = D::socket(SocketType::Dealer, client_options(1, 2));
        let mut mon = sock.monitor();
        sock.connect(&ep).await.expect("connect");
        if heartbeats {
            idle::<D>(&sock, &mut mon, &omq).await;
        } else {
            let key = handshaken::<D>(&mut mon, &omq).await;
            assert_eq!(key, Some(public(2)), "{}: our key as omq saw it", D::NAME);
            assert_eq!(
                omq.asked_keys().await,
                vec![public(2)],
                "{}: keys omq's authenticator was shown",
                D::NAME
            );
            exchange::<D>(&sock, &mut mon, &omq).await;
        }
        sock.close().await;
        omq.close().await;
    }
}

/// An omq DEALER as the CURVE client of our DEALER CURVE server, whose allow list holds omq's
/// key and one other; omq reports our key on its handshake; then the same exchange as
/// [`curve_client_of_omq`]. Then a new connection on which we PING and omq does not, idle
/// beyond our heartbeat timeout: only omq's PONGs keep us from dropping it; a message each way
/// after it.
pub async fn curve_server_for_omq<D: Driver>() {
    for heartbeats in [false, true] {
        let mut o = server_options(
            1,
            CurveClients::only([*keys(3).public(), *keys(7).public()]),
        );
        if heartbeats {
            o = with_heartbeats(o);
        }
        let sock = D::socket(SocketType::Dealer, o);
        let mut mon = sock.monitor();
        let ep = sock.bind("tcp://127.0.0.1:*").await.expect("bind");
        let omq = Omq::new(
            SocketType::Dealer,
            OmqOptions::curve(OmqCurve::Client {
                secret: secret(3),
                server: public(1),
            }),
        );
        omq.connect(&ep).await;
        if heartbeats {
            idle::<D>(&sock, &mut mon, &omq).await;
        } else {
            let key = handshaken::<D>(&mut mon, &omq).await;
            assert_eq!(key, Some(public(1)), "{}: our key as omq saw it", D::NAME);
            exchange::<D>(&sock, &mut mon, &omq).await;
        }
        omq.close().await;
        sock.close().await;
    }
}

/// PUB/SUB over CURVE both ways. Our PUB (CURVE server) and an omq SUB subscribed to "A": omq
/// reports our publications only with the prefix (1000 of them, while we publish "A" and "B"
/// alternately), and its SUBSCRIBE reached us inside MESSAGE (we filter on it). Then an omq PUB
/// (CURVE server) and our SUB subscribed to "A": we get only "A" messages, and omq's monitor
/// reports the subscription "A" it decrypted.
pub async fn curve_pub_sub_omq<D: Driver>() {
    let publisher = D::socket(SocketType::Pub, server_options(1, CurveClients::any()));
    let ep = publisher.bind("tcp://127.0.0.1:*").await.expect("bind");
    let sub = Omq::new(
        SocketType::Sub,
        OmqOptions::curve(OmqCurve::Client {
            secret: secret(2),
            server: public(1),
        }),
    );
    sub.subscribe(b"A").await;
    sub.connect(&ep).await;
    let publish = async {
        let mut i = 0u64;
        loop {
            for _ in 0..100 {
                for topic in ["A", "B"] {
                    publisher
                        .send(Msg::from(format!("{topic}{i}").into_bytes()))
                        .await
                        .expect("publish");
                }
                i += 1;
            }
            D::sleep(Duration::from_millis(2)).await;
        }
    };
    let got = match crate::util::select(sub.recv_many(1000, LIMIT), publish).await {
        crate::Either::Left(got) => got,
        crate::Either::Right(never) => never,
    };
    for m in &got {
        assert!(
            m.len() == 1 && m[0].starts_with(b"A"),
            "{}: omq SUB got {m:?}",
            D::NAME
        );
    }
    sub.close().await;
    publisher.close().await;

    let publisher = Omq::new(
        SocketType::Pub,
        OmqOptions::curve(OmqCurve::Server {
            secret: secret(1),
            allow: None,
        }),
    );
    let ep = publisher.bind("tcp://127.0.0.1:*").await;
    let sub = D::socket(SocketType::Sub, client_options(1, 2));
    sub.subscribe(b"A").await.expect("subscribe");
    sub.connect(&ep).await.expect("connect");
    let stop = Arc::new(AtomicBool::new(false));
    let receive = async {
        for _ in 0..1000 {
            let got = within::<D, _>(LIMIT, "omq's publication", sub.recv())
                .await
                .expect("recv");
            assert!(
                got.len() == 1 && got[0].starts_with(b"A"),
                "{}: our SUB got {got:?}",
                D::NAME
            );
        }
        stop.store(true, Ordering::Release);
    };
    let (rounds, ()) = join(
        publisher.publish_until(&[b"A", b"B"], Arc::clone(&stop)),
        receive,
    )
    .await;
    assert!(rounds >= 1000, "{}: omq published {rounds} rounds", D::NAME);
    publisher
        .wait_event::<D>(LIMIT, "our subscription", |e| {
            *e == OmqEvent::SubscribeReceived(bytes::Bytes::from_static(b"A"))
        })
        .await;
    sub.close().await;
    publisher.close().await;
}

/// Nothing arrives on `sock` for a while (a refused peer got nothing through).
async fn nothing_through<D: Driver>(sock: &Sock<D>, who: &str) {
    if let Some(got) = timeout::<D, _>(Duration::from_millis(500), sock.recv()).await {
        panic!("{}: {who} got {got:?} through", D::NAME);
    }
}

/// Refusals, both ways.
/// 1. Our DEALER server with an allow list without omq's key: our monitor reports
///    `AuthenticationFailed`, omq reports our ERROR "400" (and stops redialling, its design),
///    and what omq sent never reaches us.
/// 2. An omq client given the wrong server key (its own key is allowed): we cannot open its
///    HELLO, our monitor reports `Cryptographic`, nothing of omq's reaches us, and omq (which
///    connected) reports no handshake (it redials, as libzmq does). The server then still
///    serves the client it allows, both ways.
/// 3. An omq server whose authenticator refuses our key: our monitor reports omq's ERROR
///    "400", and what we sent never reaches omq.
pub async fn curve_refusals_omq<D: Driver>() {
    let sock = D::socket(
        SocketType::Dealer,
        server_options(1, CurveClients::only([*keys(7).public()])),
    );
    let mut mon = sock.monitor();
    let ep = sock.bind("tcp://127.0.0.1:*").await.expect("bind");

    let stranger = Omq::new(
        SocketType::Dealer,
        OmqOptions::curve(OmqCurve::Client {
            secret: secret(3),
            server: public(1),
        }),
    );
    stranger.connect(&ep).await;
    // omq queues what is sent before a handshake; none of it may reach us.
    stranger.send(msg(&["let me in"])).await;
    wait_event::<D, _>(
        &mut mon,
        LIMIT,
        "refusal of omq's key",
        failed_with(|e| matches!(e, Error::AuthenticationFailed(_))),
    )
    .await;
    stranger
        .wait_event::<D>(LIMIT, "our ERROR 400", |e| {
            *e == OmqEvent::Refused("400".into())
        })
        .await;
    nothing_through::<D>(&sock, "omq with a key not allowed").await;
    stranger.close().await;

    let wrong_key = Omq::new(
        SocketType::Dealer,
        OmqOptions::curve(OmqCurve::Client {
            secret: secret(7),
            server: public(9),
        }),
    );
    wrong_key.connect(&ep).await;
    wrong_key.send(msg(&["let me in"])).await;
    wait_event::<D, _>(
        &mut mon,
        LIMIT,
        "a HELLO for another server key",
        failed_with(|e| matches!(e, Error::Cryptographic(_))),
    )
    .await;
    nothing_through::<D>(&sock, "omq with the wrong server key").await;
    let theirs = wrong_key.events().await;
    assert!(
        theirs.contains(&OmqEvent::Connected)
            && !theirs
                .iter()
                .any(|e| matches!(e, OmqEvent::HandshakeSucceeded { .. })),
        "{}: omq with the wrong server key: {theirs:?}",
        D::NAME
    );
    wrong_key.close().await;

    // The server keeps serving: the client it allows gets through, both ways.
    let friend = Omq::new(
        SocketType::Dealer,
        OmqOptions::curve(OmqCurve::Client {
            secret: secret(7),
            server: public(1),
        }),
    );
    friend.connect(&ep).await;
    friend.send(msg(&["friend"])).await;
    let got = within::<D, _>(LIMIT, "the allowed client's message", sock.recv())
        .await
        .expect("recv");
    assert_eq!(
        got,
        msg(&["friend"]),
        "{}: from the allowed client",
        D::NAME
    );
    sock.send(msg(&["welcome"])).await.expect("send");
    let got = friend.recv_timeout(LIMIT).await.expect("omq's receive");
    assert_eq!(got, msg(&["welcome"]), "{}: at the allowed client", D::NAME);
    friend.close().await;
    sock.close().await;

    let server = Omq::new(
        SocketType::Dealer,
        OmqOptions::curve(OmqCurve::Server {
            secret: secret(1),
            allow: Some(vec![public(7)]),
        }),
    );
    let ep = server.bind("tcp://127.0.0.1:*").await;
    let sock = D::socket(SocketType::Dealer, client_options(1, 2));
    let mut mon = sock.monitor();
    sock.connect(&ep).await.expect("connect");
    sock.send(msg(&["let me in"])).await.expect("send");
    wait_event::<D, _>(
        &mut mon,
        LIMIT,
        "ERROR 400 from omq's authenticator",
        failed_with(|e| matches!(e, Error::PeerError(r) if r == "400")),
    )
    .await;
    assert!(
        server.asked_keys().await.contains(&public(2)),
        "{}: omq's authenticator was not shown our key",
        D::NAME
    );
    if let Ok(got) = server.recv_timeout(Duration::from_millis(500)).await {
        panic!("{}: omq let {got:?} through from a refused client", D::NAME);
    }
    sock.close().await;
    server.close().await;
}
