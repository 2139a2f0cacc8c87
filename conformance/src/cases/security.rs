//! Security mechanisms: PLAIN (RFC 24, checklist §1.8 P1–P5) between our sockets and against
//! libzmq, whose PLAIN server checks credentials through a ZAP handler (RFC 27) that the peer
//! runs. zmq.rs has no security mechanisms, so it has no case here.

use std::time::Duration;

use crate::peer::{Peer, PeerEvent, PeerKind, PeerOptions, Plain};
use crate::util::{msg, wait_event, within};
use crate::{Driver, Error, SocketEvent, SocketType};

const LIMIT: Duration = Duration::from_secs(10);

fn client(username: &str, password: &str) -> PeerOptions {
    PeerOptions {
        plain: Some(Plain::Client {
            username: username.into(),
            password: password.into(),
        }),
        ..PeerOptions::default()
    }
}

fn server() -> PeerOptions {
    PeerOptions {
        plain: Some(Plain::Server {
            users: vec![("admin".into(), "secret".into())],
        }),
        ..PeerOptions::default()
    }
}

fn server_without_users() -> PeerOptions {
    PeerOptions {
        plain: Some(Plain::ServerWithoutUsers),
        ..PeerOptions::default()
    }
}

/// Waits until a libzmq peer's monitor reports a failed handshake (either side's).
async fn libzmq_handshake_fails<D: Driver>(peer: &Peer<D>, what: &str) {
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen.extend(peer.events().await);
        if seen.contains(&PeerEvent::HandshakeFailed) {
            return;
        }
        D::sleep(Duration::from_millis(50)).await;
    }
    panic!("{}: {what}: libzmq saw {seen:?}", D::NAME);
}

fn refused_by_peer(e: &SocketEvent) -> bool {
    matches!(e, SocketEvent::HandshakeFailed { error: Error::PeerError(reason), .. } if reason == "400")
}

fn refused_here(e: &SocketEvent) -> bool {
    matches!(
        e,
        SocketEvent::HandshakeFailed {
            error: Error::AuthenticationFailed(_),
            ..
        }
    )
}

/// P2/P5 between our sockets: a REQ with a wrong password is refused (ERROR 400; each side's
/// monitor says why), and the REP server goes on to serve a REQ with the right one.
pub async fn plain_ours<D: Driver>() {
    let rep = D::socket(SocketType::Rep, server().to_socket_options());
    let mut rep_mon = rep.monitor();
    let ep = rep.bind("tcp://127.0.0.1:*").await.expect("bind");

    let bad = D::socket(
        SocketType::Req,
        client("admin", "guess").to_socket_options(),
    );
    let mut bad_mon = bad.monitor();
    bad.connect(&ep).await.expect("connect");
    wait_event::<D, _>(&mut bad_mon, LIMIT, "client refused", refused_by_peer).await;
    wait_event::<D, _>(&mut rep_mon, LIMIT, "server refusal", refused_here).await;

    let good = D::socket(
        SocketType::Req,
        client("admin", "secret").to_socket_options(),
    );
    good.connect(&ep).await.expect("connect");
    good.send(msg(&["ping"])).await.expect("send");
    let got = within::<D, _>(LIMIT, "request", rep.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["ping"]));
    rep.send(msg(&["pong"])).await.expect("send");
    let got = within::<D, _>(LIMIT, "reply", good.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["pong"]));
    for s in [bad, good, rep] {
        s.close().await;
    }
}

/// P1–P5 against libzmq, both roles:
/// * libzmq PLAIN clients to our ROUTER server: the right password exchanges messages both
///   ways; a wrong one is refused, and libzmq reports a failed handshake;
/// * our PLAIN clients to a libzmq REP server with a ZAP handler: the right password gets a
///   reply; a wrong one is refused with libzmq's ZAP status code (400) as the ERROR reason.
pub async fn plain_libzmq<D: Driver>() {
    // libzmq clients, our server.
    let router = D::socket(SocketType::Router, server().to_socket_options());
    let mut mon = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:*").await.expect("bind");
    let good = Peer::<D>::with(
        PeerKind::Libzmq,
        SocketType::Dealer,
        &client("admin", "secret"),
    );
    good.connect(&ep).await;
    good.send(msg(&["hi"])).await;
    let got = within::<D, _>(LIMIT, "libzmq's message", router.recv())
        .await
        .expect("recv");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(&got[1][..], b"hi");
    let mut back = crate::Msg::new();
    back.push(got[0].clone());
    back.push(&b"back"[..]);
    router.send(back).await.expect("send");
    assert_eq!(good.recv().await, msg(&["back"]));

    let bad = Peer::<D>::with(
        PeerKind::Libzmq,
        SocketType::Dealer,
        &client("admin", "nope"),
    );
    bad.connect(&ep).await;
    wait_event::<D, _>(&mut mon, LIMIT, "refusal of libzmq", refused_here).await;
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen.extend(bad.events().await);
        if seen.contains(&PeerEvent::HandshakeFailed) {
            break;
        }
        D::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen.contains(&PeerEvent::HandshakeFailed),
        "libzmq saw {seen:?}"
    );
    // The refused client cost the good one nothing.
    good.send(msg(&["still"])).await;
    let got = within::<D, _>(LIMIT, "after the refusal", router.recv())
        .await
        .expect("recv");
    assert_eq!(&got[1][..], b"still");

    // Our clients, libzmq's server.
    let rep = Peer::<D>::with(PeerKind::Libzmq, SocketType::Rep, &server());
    let ep = rep.bind("tcp://127.0.0.1:*").await;
    let req = D::socket(
        SocketType::Req,
        client("admin", "secret").to_socket_options(),
    );
    req.connect(&ep).await.expect("connect");
    req.send(msg(&["question"])).await.expect("send");
    assert_eq!(rep.recv().await, msg(&["question"]));
    rep.send(msg(&["answer"])).await;
    let got = within::<D, _>(LIMIT, "libzmq's reply", req.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["answer"]));

    let wrong = D::socket(
        SocketType::Req,
        client("admin", "wrong").to_socket_options(),
    );
    let mut wrong_mon = wrong.monitor();
    wrong.connect(&ep).await.expect("connect");
    wait_event::<D, _>(&mut wrong_mon, LIMIT, "refusal by libzmq", refused_by_peer).await;

    for p in [good, bad, rep] {
        p.close().await;
    }
    for s in [router, req, wrong] {
        s.close().await;
    }
}

/// A PLAIN server given no users refuses every client, as libzmq's PLAIN server does when no
/// ZAP handler runs (issue 18). First the reference, libzmq against itself: the server's
/// monitor reports the failed handshake and the client's message is never delivered (libzmq
/// 4.3 closes the connection after HELLO without an ERROR; its client usually reports a failed
/// handshake and redials, but under load it was seen to report nothing for seconds, so the
/// server's report is the one checked). Then our ROUTER server
/// against the same libzmq client: refused too, with ERROR 400 as for unknown credentials
/// (libzmq 4.3.5 reports a failed handshake, `HANDSHAKE_FAILED_PROTOCOL`, and does not
/// redial), our monitor says why, and nothing reaches the application.
pub async fn plain_without_users_libzmq<D: Driver>() {
    // The reference: libzmq's server, no ZAP handler in its context.
    let lz = Peer::<D>::with(
        PeerKind::Libzmq,
        SocketType::Router,
        &server_without_users(),
    );
    let ep = lz.bind("tcp://127.0.0.1:*").await;
    let dealer = Peer::<D>::with(
        PeerKind::Libzmq,
        SocketType::Dealer,
        &client("anyone", "anything"),
    );
    dealer.connect(&ep).await;
    // As below: the refused client may have no pipe left to send on.
    let _ = dealer.try_send(msg(&["let me in"])).await;
    libzmq_handshake_fails(&lz, "libzmq's server without ZAP").await;
    assert_eq!(lz.recv_timeout(Duration::from_millis(300)).await, None);
    for p in [dealer, lz] {
        p.close().await;
    }

    // Ours, against the same client.
    let router = D::socket(
        SocketType::Router,
        server_without_users().to_socket_options(),
    );
    let mut mon = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:*").await.expect("bind");
    let dealer = Peer::<D>::with(
        PeerKind::Libzmq,
        SocketType::Dealer,
        &client("anyone", "anything"),
    );
    dealer.connect(&ep).await;
    // The refusal may already have dropped the client's only pipe (libzmq does not redial
    // after an ERROR), so this send may block and fail: what matters is that nothing
    // reaches our application.
    let _ = dealer.try_send(msg(&["let me in"])).await;
    wait_event::<D, _>(&mut mon, LIMIT, "refusal of libzmq", refused_here).await;
    libzmq_handshake_fails(&dealer, "our server without users").await;
    let got = crate::util::timeout::<D, _>(Duration::from_millis(300), router.recv()).await;
    assert!(got.is_none(), "our server let the client in: {got:?}");
    dealer.close().await;
    router.close().await;
}
