//! CURVE (RFC 25/26, checklist §1.9 C1–C8) between our sockets and against libzmq 4.3.5, run
//! as a pyzmq process ([`crate::pyzmq`]) because the `zmq` crate's static libzmq has no CURVE.
//! Both roles against libzmq, 100,000 messages in order and a 16 MiB one each way, heartbeats
//! both ways while idle (PING/PONG inside MESSAGE, COMMAND flag), PUB/SUB subscriptions
//! (SUBSCRIBE inside MESSAGE), and refusals: a client key our server does not allow (libzmq
//! sees ERROR 400) and libzmq's ZAP handler refusing our client.

use std::time::Duration;

use crate::pyzmq::PyPeer;
use crate::util::{msg, timeout, wait_event, within};
use crate::{Driver, Error, Msg, Sock, SocketEvent, SocketOptions, SocketType};
use zmtp_async::Monitor;
use zmtp_proto::MechanismConfig;
use zmtp_proto::{
    CurveClientConfig, CurveClients, CurveKeyPair, CurvePublicKey, CurveSecretKey,
    CurveServerConfig,
};

const LIMIT: Duration = Duration::from_secs(20);
/// Messages each way in the libzmq pipe cases.
const MANY: usize = 100_000;
const BIG: usize = 16 << 20;

fn keys(n: u8) -> CurveKeyPair {
    CurveKeyPair::from_secret(CurveSecretKey::from_bytes([n; 32]))
}

fn with_heartbeats(mut o: SocketOptions) -> SocketOptions {
    o.connection.heartbeat_ivl = Some(Duration::from_millis(100));
    // Shorter than libzmq's idle time, so a PONG that never comes is noticed.
    o.connection.heartbeat_timeout = Some(Duration::from_millis(1500));
    o
}

fn client_options(server: CurvePublicKey, me: CurveKeyPair) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.connection.mechanism = MechanismConfig::CurveClient(CurveClientConfig::new(server, me));
    o.linger = Some(Duration::from_secs(2));
    o
}

fn server_options(me: CurveKeyPair, clients: CurveClients) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.connection.mechanism = MechanismConfig::CurveServer(CurveServerConfig::new(me, clients));
    o.linger = Some(Duration::from_secs(2));
    o
}

fn big_body() -> Vec<u8> {
    (0..BIG).map(|i| i as u8).collect()
}

/// Starts a libzmq peer that binds (`args`: its scenario and arguments); returns it, its
/// endpoint and its public key.
async fn binding_peer<D: Driver>(args: &[&str]) -> (PyPeer, String, CurvePublicKey) {
    let mut peer = PyPeer::spawn("curve_peer.py", args);
    let port = peer.line::<D>("PORT ", LIMIT).await;
    let key = CurvePublicKey::from_z85(&peer.line::<D>("KEY ", LIMIT).await).expect("Z85 key");
    (peer, format!("tcp://127.0.0.1:{port}"), key)
}

fn port_of(endpoint: &str) -> &str {
    endpoint.rsplit(':').next().expect("tcp endpoint")
}

fn failed_with(pred: impl Fn(&Error) -> bool) -> impl FnMut(&SocketEvent) -> bool {
    move |e| matches!(e, SocketEvent::HandshakeFailed { error, .. } if pred(error))
}

/// The next message, or a panic that shows what the libzmq peer said and our monitor saw.
async fn recv_from<D: Driver>(
    sock: &Sock<D>,
    mon: &mut Monitor<D::Runtime>,
    peer: &mut PyPeer,
    what: &str,
) -> Msg {
    match timeout::<D, _>(LIMIT, sock.recv()).await {
        Some(got) => got.expect("recv"),
        None => {
            let events = crate::util::drain_events::<D, _>(mon).await;
            peer.fail::<D>(&format!(
                "sent no {what} within {LIMIT:?} (our monitor: {events:?})"
            ))
        }
    }
}

/// Sends `MANY` numbered messages and a 16 MiB one to libzmq, then receives the same back, in
/// order, then says "bye".
async fn pipe<D: Driver>(sock: &Sock<D>, peer: &mut PyPeer) {
    let big = big_body();
    let mut mon = sock.monitor();
    for i in 0..MANY {
        sock.send(Msg::from(i.to_string().into_bytes()))
            .await
            .expect("send");
    }
    sock.send(Msg::from(big.clone())).await.expect("send big");
    for i in 0..MANY {
        let got = recv_from::<D>(sock, &mut mon, peer, "libzmq's message").await;
        assert_eq!(got, Msg::from(i.to_string().into_bytes()), "message {i}");
    }
    let got = recv_from::<D>(sock, &mut mon, peer, "libzmq's 16 MiB").await;
    assert!(got.len() == 1 && got[0][..] == big[..], "16 MiB message");
    sock.send(msg(&["bye"])).await.expect("send");
    peer.passes::<D>(LIMIT).await;
}

/// Hellos both ways, then both sides idle past the PINGing side's heartbeat timeout: the
/// other side sends nothing but PONGs (inside MESSAGE, COMMAND flag), which must keep the
/// connection up on both sides.
async fn idle<D: Driver>(sock: &Sock<D>, peer: &mut PyPeer) {
    let mut mon = sock.monitor();
    sock.send(msg(&["hello"])).await.expect("send");
    assert_eq!(
        recv_from::<D>(sock, &mut mon, peer, "hello").await,
        msg(&["hello"])
    );
    assert_eq!(
        recv_from::<D>(sock, &mut mon, peer, "still here").await,
        msg(&["still here"])
    );
    let events = crate::util::drain_events::<D, _>(&mut mon).await;
    assert!(
        !events.iter().any(|e| matches!(
            e,
            crate::MonitorEvent::Socket(SocketEvent::Disconnected { .. })
        )),
        "{}: disconnected from libzmq while idle: {events:?}",
        D::NAME
    );
    sock.send(msg(&["bye"])).await.expect("send");
    peer.passes::<D>(LIMIT).await;
}

/// C1–C5 against libzmq as the CURVE server: our DEALER client exchanges 100,000 messages and
/// a 16 MiB one each way with a libzmq DEALER whose key libzmq made.
pub async fn curve_client_of_libzmq<D: Driver>() {
    let (mut peer, endpoint, key) = binding_peer::<D>(&["pipe-server", &MANY.to_string()]).await;
    let sock = D::socket(SocketType::Dealer, client_options(key, keys(2)));
    sock.connect(&endpoint).await.expect("connect");
    pipe::<D>(&sock, &mut peer).await;
    sock.close().await;
}

/// The same with our DEALER as the CURVE server and libzmq as the client.
pub async fn curve_server_for_libzmq<D: Driver>() {
    let me = keys(1);
    let sock = D::socket(
        SocketType::Dealer,
        server_options(me.clone(), CurveClients::any()),
    );
    let ep = sock.bind("tcp://127.0.0.1:*").await.expect("bind");
    let mut peer = PyPeer::spawn(
        "curve_peer.py",
        &[
            "pipe-client",
            &MANY.to_string(),
            port_of(&ep),
            &me.public().to_z85(),
        ],
    );
    pipe::<D>(&sock, &mut peer).await;
    sock.close().await;
}

/// C6, heartbeats over CURVE, one side PINGing at a time so that a PONG that does not arrive is
/// seen: libzmq's server PINGs our client, which sends nothing else while idle; then our server
/// PINGs libzmq's client. (Checked: with our PONG removed, the first half fails.)
pub async fn curve_heartbeats_libzmq<D: Driver>() {
    let (mut peer, endpoint, key) = binding_peer::<D>(&["ping-server"]).await;
    let sock = D::socket(SocketType::Dealer, client_options(key, keys(2)));
    sock.connect(&endpoint).await.expect("connect");
    idle::<D>(&sock, &mut peer).await;
    sock.close().await;

    let me = keys(1);
    let sock = D::socket(
        SocketType::Dealer,
        with_heartbeats(server_options(me.clone(), CurveClients::any())),
    );
    let ep = sock.bind("tcp://127.0.0.1:*").await.expect("bind");
    let mut peer = PyPeer::spawn(
        "curve_peer.py",
        &["ping-client", port_of(&ep), &me.public().to_z85()],
    );
    idle::<D>(&sock, &mut peer).await;
    sock.close().await;
}

/// C6: our PUB (CURVE server) and a libzmq SUB: the subscription arrives inside MESSAGE with
/// the COMMAND flag, so libzmq gets the "A" messages and none of the "B" ones. Then a libzmq
/// PUB and our SUB.
pub async fn curve_pub_sub_libzmq<D: Driver>() {
    let me = keys(1);
    let publisher = D::socket(
        SocketType::Pub,
        server_options(me.clone(), CurveClients::any()),
    );
    let ep = publisher.bind("tcp://127.0.0.1:*").await.expect("bind");
    let mut peer = PyPeer::spawn(
        "curve_peer.py",
        &["sub", port_of(&ep), &me.public().to_z85()],
    );
    let deadline = std::time::Instant::now() + LIMIT;
    let mut i = 0u64;
    while !peer.has_exited() {
        assert!(
            std::time::Instant::now() < deadline,
            "libzmq SUB never finished"
        );
        for _ in 0..100 {
            publisher
                .send(Msg::from(format!("A{i}").into_bytes()))
                .await
                .expect("send");
            publisher
                .send(Msg::from(format!("B{i}").into_bytes()))
                .await
                .expect("send");
            i += 1;
        }
        D::sleep(Duration::from_millis(2)).await;
    }
    peer.passes::<D>(LIMIT).await;
    publisher.close().await;

    let (_publisher, endpoint, key) = binding_peer::<D>(&["pub"]).await;
    let sub = D::socket(
        SocketType::Sub,
        with_heartbeats(client_options(key, keys(2))),
    );
    sub.subscribe(b"A").await.expect("subscribe");
    sub.connect(&endpoint).await.expect("connect");
    for _ in 0..1000 {
        let got = within::<D, _>(LIMIT, "libzmq's publication", sub.recv())
            .await
            .expect("recv");
        assert!(got[0].starts_with(b"A"), "{got:?}");
    }
    sub.close().await;
}

/// C5 against libzmq: a libzmq client whose key our server does not allow gets ERROR 400
/// (libzmq reports EVENT_HANDSHAKE_FAILED_AUTH with status 400) and our monitor says why; a
/// libzmq server whose ZAP handler refuses our client makes our monitor report ERROR 400.
pub async fn curve_refusals_libzmq<D: Driver>() {
    let me = keys(1);
    let sock = D::socket(
        SocketType::Dealer,
        server_options(me.clone(), CurveClients::only([*keys(7).public()])),
    );
    let mut mon = sock.monitor();
    let ep = sock.bind("tcp://127.0.0.1:*").await.expect("bind");
    let mut peer = PyPeer::spawn(
        "curve_peer.py",
        &["refused", port_of(&ep), &me.public().to_z85()],
    );
    wait_event::<D, _>(
        &mut mon,
        LIMIT,
        "refusal of libzmq's key",
        failed_with(|e| matches!(e, Error::AuthenticationFailed(_))),
    )
    .await;
    peer.passes::<D>(LIMIT).await;
    sock.close().await;

    let (mut peer, endpoint, key) = binding_peer::<D>(&["zap-refuses"]).await;
    let sock = D::socket(SocketType::Dealer, client_options(key, keys(2)));
    let mut mon = sock.monitor();
    sock.connect(&endpoint).await.expect("connect");
    wait_event::<D, _>(
        &mut mon,
        LIMIT,
        "ERROR 400 from libzmq's ZAP handler",
        failed_with(|e| matches!(e, Error::PeerError(r) if r == "400")),
    )
    .await;
    peer.passes::<D>(LIMIT).await;
    sock.close().await;
}

/// C1–C7 between our sockets: REQ/REP round trips with heartbeats; a client with the wrong
/// server key is dropped (the server cannot open its HELLO); a NULL client is refused with
/// both mechanisms named; a client whose key is not allowed gets ERROR 400, each side's
/// monitor saying why; the server keeps serving.
pub async fn curve_ours<D: Driver>() {
    let me = keys(1);
    let rep = D::socket(
        SocketType::Rep,
        with_heartbeats(server_options(
            me.clone(),
            CurveClients::only([*keys(2).public()]),
        )),
    );
    let mut rep_mon = rep.monitor();
    let ep = rep.bind("tcp://127.0.0.1:*").await.expect("bind");

    let wrong_key = D::socket(SocketType::Req, client_options(*keys(9).public(), keys(2)));
    wrong_key.connect(&ep).await.expect("connect");
    wait_event::<D, _>(
        &mut rep_mon,
        LIMIT,
        "a HELLO for another server key",
        failed_with(|e| matches!(e, Error::Cryptographic(_))),
    )
    .await;

    // Downgrade: a NULL client is refused, and the monitor names both mechanisms.
    let null = D::socket(SocketType::Req, SocketOptions::default());
    null.connect(&ep).await.expect("connect");
    wait_event::<D, _>(
        &mut rep_mon,
        LIMIT,
        "a NULL client refused by name",
        failed_with(
            |e| matches!(e, Error::MechanismMismatch { ours: "CURVE", theirs } if theirs == "NULL"),
        ),
    )
    .await;

    let stranger = D::socket(SocketType::Req, client_options(*me.public(), keys(3)));
    let mut stranger_mon = stranger.monitor();
    stranger.connect(&ep).await.expect("connect");
    wait_event::<D, _>(
        &mut stranger_mon,
        LIMIT,
        "ERROR 400",
        failed_with(|e| matches!(e, Error::PeerError(r) if r == "400")),
    )
    .await;
    wait_event::<D, _>(
        &mut rep_mon,
        LIMIT,
        "refusal of the stranger",
        failed_with(|e| matches!(e, Error::AuthenticationFailed(_))),
    )
    .await;

    let req = D::socket(
        SocketType::Req,
        with_heartbeats(client_options(*me.public(), keys(2))),
    );
    req.connect(&ep).await.expect("connect");
    for i in 0..100 {
        req.send(Msg::from(format!("ping {i}").into_bytes()))
            .await
            .expect("send");
        let got = within::<D, _>(LIMIT, "request", rep.recv())
            .await
            .expect("recv");
        assert_eq!(got, Msg::from(format!("ping {i}").into_bytes()));
        rep.send(msg(&["pong"])).await.expect("send");
        let got = within::<D, _>(LIMIT, "reply", req.recv())
            .await
            .expect("recv");
        assert_eq!(got, msg(&["pong"]));
    }
    for s in [wrong_key, null, stranger, req, rep] {
        s.close().await;
    }
}
