//! Socket semantics: PUB/SUB filtering (S1–S5), ROUTER identities (R3, M4), reconnection
//! after the peer restarts (RFC 37 "Socket Semantics": queues exist before the connection and
//! connections are remade), and incompatible socket types refused (M3, §1.7, N4).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::peer::{Peer, PeerEvent, PeerKind, PeerOptions};
use crate::util::{free_tcp_endpoint, is_disconnect, join, msg, wait_event, TempDir, Transport};
use crate::{Driver, Error, Msg, SocketEvent, SocketType, TestSocket};

// ---- PUB/SUB filtering ---------------------------------------------------------------------

/// Publishes `probe` every 100 ms until `sub` receives it (subscriptions travel
/// asynchronously), then swallows late copies.
async fn sync_subscription<D: Driver>(publ: &Peer<D>, sub: &Peer<D>, probe: &str) {
    for _ in 0..100 {
        publ.send(msg(&[probe])).await;
        if let Some(got) = sub.recv_timeout(Duration::from_millis(100)).await {
            assert_eq!(got, msg(&[probe]), "first message after subscribing");
            for late in sub.drain(Duration::from_millis(50)).await {
                assert_eq!(late, msg(&[probe]), "only probes expected");
            }
            return;
        }
    }
    panic!("{}: subscription never took effect", D::NAME);
}

/// Sends the filtering sequence and checks what `sub` (subscribed to "A" and "BB") gets.
async fn check_filtering<D: Driver>(publ: &Peer<D>, sub: &Peer<D>) {
    for topic in ["A1", "B1", "BB1", "C1", "", "Bb", "A2"] {
        publ.send(msg(&[topic, "body"])).await;
    }
    publ.send(msg(&["BB-end"])).await;
    let mut got = Vec::new();
    loop {
        let m = sub.recv().await;
        let end = m == msg(&["BB-end"]);
        got.push(m);
        if end {
            break;
        }
    }
    let want = vec![
        msg(&["A1", "body"]),
        msg(&["BB1", "body"]),
        msg(&["A2", "body"]),
        msg(&["BB-end"]),
    ];
    assert_eq!(got, want, "S1: prefix filtering on the first frame");
}

async fn pubsub_filtering<D: Driver>(kind: PeerKind) {
    // 1. The peer publishes, our SUB filters (S1, S2) and unsubscribes.
    eprintln!("-- {kind} PUB -> our SUB");
    let publ = Peer::<D>::new(kind, SocketType::Pub);
    let ep = publ.bind("tcp://127.0.0.1:*").await;
    let sub = Peer::<D>::new(PeerKind::Ours, SocketType::Sub);
    sub.subscribe(b"A").await;
    sub.subscribe(b"BB").await;
    sub.connect(&ep).await;
    sync_subscription(&publ, &sub, "A-sync").await;
    check_filtering(&publ, &sub).await;
    // S2: after unsubscribing, our SUB drops "A" at once even if the publisher still sends it.
    sub.unsubscribe(b"A").await;
    publ.send(msg(&["A3"])).await;
    publ.send(msg(&["BB3"])).await;
    assert_eq!(
        sub.recv().await,
        msg(&["BB3"]),
        "unsubscribed topic filtered"
    );
    sub.close().await;
    publ.close().await;

    // 2. Our PUB filters for the peer's SUB.
    eprintln!("-- our PUB -> {kind} SUB");
    let publ = Peer::<D>::new(PeerKind::Ours, SocketType::Pub);
    let ep = publ.bind("tcp://127.0.0.1:*").await;
    let sub = Peer::<D>::new(kind, SocketType::Sub);
    sub.subscribe(b"A").await;
    sub.subscribe(b"BB").await;
    sub.connect(&ep).await;
    sync_subscription(&publ, &sub, "A-sync").await;
    check_filtering(&publ, &sub).await;
    sub.close().await;
    publ.close().await;

    // 3. Our XPUB sees the peer's subscriptions and cancellations (S4).
    eprintln!("-- our XPUB <- {kind} SUB");
    let xpub = Peer::<D>::new(PeerKind::Ours, SocketType::XPub);
    let ep = xpub.bind("tcp://127.0.0.1:*").await;
    let sub = Peer::<D>::new(kind, SocketType::Sub);
    sub.connect(&ep).await;
    sub.subscribe(b"news").await;
    assert_eq!(
        xpub.recv().await,
        Msg::from(&b"\x01news"[..]),
        "subscribe notice"
    );
    sync_subscription(&xpub, &sub, "news-sync").await;
    sub.unsubscribe(b"news").await;
    assert_eq!(
        xpub.recv().await,
        Msg::from(&b"\x00news"[..]),
        "cancel notice"
    );
    sub.close().await;
    xpub.close().await;

    // 4. Our XSUB subscribes with `0x01 topic` messages (S5).
    eprintln!("-- {kind} PUB -> our XSUB");
    let publ = Peer::<D>::new(kind, SocketType::Pub);
    let ep = publ.bind("tcp://127.0.0.1:*").await;
    let xsub = Peer::<D>::new(PeerKind::Ours, SocketType::XSub);
    xsub.connect(&ep).await;
    xsub.send(Msg::from(&b"\x01A"[..])).await;
    xsub.send(Msg::from(&b"\x01BB"[..])).await;
    sync_subscription(&publ, &xsub, "A-sync").await;
    check_filtering(&publ, &xsub).await;
    xsub.close().await;
    publ.close().await;
}

/// PUB/SUB filtering between our sockets.
pub async fn pubsub_filtering_ours<D: Driver>() {
    pubsub_filtering::<D>(PeerKind::Ours).await;
}

/// PUB/SUB filtering with libzmq.
pub async fn pubsub_filtering_libzmq<D: Driver>() {
    pubsub_filtering::<D>(PeerKind::Libzmq).await;
}

/// PUB/SUB filtering with zmq.rs.
pub async fn pubsub_filtering_zmqrs<D: Driver>() {
    pubsub_filtering::<D>(PeerKind::ZmqRs).await;
}

// ---- ROUTER identities ---------------------------------------------------------------------

fn with_id(id: &'static [u8]) -> PeerOptions {
    PeerOptions {
        routing_id: Some(Bytes::from_static(id)),
        ..PeerOptions::default()
    }
}

/// Receives `n` messages on a ROUTER and returns (identity, rest) sorted by the last frame.
async fn recv_routed<D: Driver>(router: &Peer<D>, n: usize) -> Vec<(Bytes, Msg)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut m = router.recv().await;
        let id = m.pop_front().expect("identity frame");
        out.push((id, m));
    }
    out.sort_by(|a, b| a.1.last().cmp(&b.1.last()));
    out
}

async fn router_identities<D: Driver>(kind: PeerKind) {
    // 1. Our ROUTER: a peer DEALER with a routing id, one without, and a REQ with one.
    eprintln!("-- our ROUTER, {kind} clients");
    let router = Peer::<D>::new(PeerKind::Ours, SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:*").await;
    let named = Peer::<D>::with(kind, SocketType::Dealer, &with_id(b"client-1"));
    let anon = Peer::<D>::new(kind, SocketType::Dealer);
    let req = Peer::<D>::with(kind, SocketType::Req, &with_id(b"req-3"));
    for p in [&named, &anon, &req] {
        p.connect(&ep).await;
    }
    named.send(msg(&["from-1"])).await;
    anon.send(msg(&["from-2"])).await;
    req.send(msg(&["from-3"])).await;
    let got = recv_routed(&router, 3).await;
    assert_eq!(
        got[0].0,
        &b"client-1"[..],
        "R3/M4: the identity the peer set"
    );
    assert_eq!(got[0].1, msg(&["from-1"]));
    let generated = got[1].0.clone();
    assert_eq!(got[1].1, msg(&["from-2"]));
    assert!(
        !generated.is_empty() && generated[0] == 0,
        "R3: a generated identity starts with 0x00 (libzmq's form), got {generated:?}"
    );
    assert_eq!(got[2].0, &b"req-3"[..]);
    assert_eq!(got[2].1, msg(&["", "from-3"]), "REQ envelope delimiter");
    router.send(msg(&["client-1", "to-1"])).await;
    let mut to_anon = msg(&["to-2"]);
    to_anon.push_front(generated.clone());
    router.send(to_anon).await;
    router.send(msg(&["req-3", "", "to-3"])).await;
    assert_eq!(named.recv().await, msg(&["to-1"]));
    assert_eq!(anon.recv().await, msg(&["to-2"]));
    assert_eq!(req.recv().await, msg(&["to-3"]));
    for p in [named, anon, req, router] {
        p.close().await;
    }

    // 2. A peer ROUTER sees our routing id, or makes one up for us.
    eprintln!("-- {kind} ROUTER, our clients");
    let router = Peer::<D>::new(kind, SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:*").await;
    let named = Peer::<D>::with(PeerKind::Ours, SocketType::Dealer, &with_id(b"ours-1"));
    let anon = Peer::<D>::new(PeerKind::Ours, SocketType::Dealer);
    named.connect(&ep).await;
    anon.connect(&ep).await;
    named.send(msg(&["from-1"])).await;
    anon.send(msg(&["from-2"])).await;
    let got = recv_routed(&router, 2).await;
    assert_eq!(
        got[0].0,
        &b"ours-1"[..],
        "the peer ROUTER sees our Identity"
    );
    let generated = got[1].0.clone();
    assert!(!generated.is_empty() && generated != got[0].0);
    router.send(msg(&["ours-1", "to-1"])).await;
    let mut to_anon = msg(&["to-2"]);
    to_anon.push_front(generated);
    router.send(to_anon).await;
    assert_eq!(named.recv().await, msg(&["to-1"]));
    assert_eq!(anon.recv().await, msg(&["to-2"]));
    for p in [named, anon, router] {
        p.close().await;
    }
}

/// ROUTER identities between our sockets.
pub async fn router_identities_ours<D: Driver>() {
    router_identities::<D>(PeerKind::Ours).await;
}

/// ROUTER identities with libzmq.
pub async fn router_identities_libzmq<D: Driver>() {
    router_identities::<D>(PeerKind::Libzmq).await;
}

/// ROUTER identities with zmq.rs.
pub async fn router_identities_zmqrs<D: Driver>() {
    router_identities::<D>(PeerKind::ZmqRs).await;
}

// ---- reconnect -----------------------------------------------------------------------------

/// Binds `peer` to `ep`, retrying for a while (a restarted binder may find the address busy
/// for a moment).
async fn bind_retrying<D: Driver>(kind: PeerKind, ty: SocketType, ep: &str) -> Peer<D> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let peer = Peer::<D>::new(kind, ty);
        let r = match &peer {
            Peer::Ours(s, _) => s.bind(ep).await.map(drop).map_err(|e| e.to_string()),
            Peer::Libzmq(p, _) => p.op(crate::peer::Op::Bind(ep.to_owned())).await.map(drop),
            Peer::ZmqRs(p, _) => p.op(crate::peer::Op::Bind(ep.to_owned())).await.map(drop),
        };
        match r {
            Ok(()) => return peer,
            Err(e) if Instant::now() < deadline => {
                eprintln!("re-bind {ep}: {e}; retrying");
                peer.close().await;
                D::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{}: cannot re-bind {ep} for {kind}: {e}", D::NAME),
        }
    }
}

fn fixed_endpoint(transport: Transport, dir: &TempDir) -> String {
    match transport {
        Transport::Tcp => free_tcp_endpoint(),
        Transport::Ipc => dir.ipc("restart.sock"),
    }
}

async fn reconnect<D: Driver>(kind: PeerKind) {
    for transport in Transport::ALL {
        let dir = TempDir::new();
        // A. The peer binds and restarts; our PUSH reconnects and delivers what it queued.
        eprintln!("-- {transport:?}: {kind} PULL restarts, our PUSH connects");
        let ep = fixed_endpoint(transport, &dir);
        let pull = bind_retrying::<D>(kind, SocketType::Pull, &ep).await;
        let push = D::socket(SocketType::Push, PeerOptions::default().to_socket_options());
        let mut mon = push.monitor();
        push.connect(&ep).await.expect("connect");
        push.send(msg(&["before"])).await.expect("send");
        assert_eq!(pull.recv().await, msg(&["before"]));
        pull.close().await;
        wait_event::<D, _>(
            &mut mon,
            Duration::from_secs(5),
            "Disconnected",
            is_disconnect,
        )
        .await;
        for i in 0..5 {
            // Queued while disconnected: the connect-side queue outlives the connection.
            push.send(msg(&["queued", &i.to_string()]))
                .await
                .expect("send");
        }
        let pull = bind_retrying::<D>(kind, SocketType::Pull, &ep).await;
        for i in 0..5 {
            assert_eq!(pull.recv().await, msg(&["queued", &i.to_string()]));
        }
        push.send(msg(&["after"])).await.expect("send");
        assert_eq!(pull.recv().await, msg(&["after"]));
        pull.close().await;
        push.close().await;

        // C. The peer's PUB restarts; our SUB reconnects and subscribes again (S3).
        eprintln!("-- {transport:?}: {kind} PUB restarts, our SUB connects");
        let ep = fixed_endpoint(transport, &dir);
        let publ = bind_retrying::<D>(kind, SocketType::Pub, &ep).await;
        let sub = D::socket(SocketType::Sub, PeerOptions::default().to_socket_options());
        let mut mon = sub.monitor();
        sub.subscribe(b"t").await.expect("subscribe");
        sub.connect(&ep).await.expect("connect");
        let sub = Peer::<D>::Ours(sub, SocketType::Sub);
        sync_subscription(&publ, &sub, "t-before").await;
        publ.close().await;
        wait_event::<D, _>(
            &mut mon,
            Duration::from_secs(5),
            "Disconnected",
            is_disconnect,
        )
        .await;
        let publ = bind_retrying::<D>(kind, SocketType::Pub, &ep).await;
        sync_subscription(&publ, &sub, "t-after").await;
        publ.close().await;
        sub.close().await;

        if kind == PeerKind::ZmqRs {
            // zmq.rs 0.7 reconnects only its SUB and XSUB sockets: restart our PUB under its
            // SUB instead of our PULL under its PUSH.
            eprintln!("-- {transport:?}: our PUB restarts, zmq.rs SUB connects");
            let ep = fixed_endpoint(transport, &dir);
            let publ = bind_retrying::<D>(PeerKind::Ours, SocketType::Pub, &ep).await;
            let sub = Peer::<D>::new(kind, SocketType::Sub);
            sub.subscribe(b"t").await;
            sub.connect(&ep).await;
            sync_subscription(&publ, &sub, "t-before").await;
            publ.close().await;
            let publ = bind_retrying::<D>(PeerKind::Ours, SocketType::Pub, &ep).await;
            sync_subscription(&publ, &sub, "t-after").await;
            publ.close().await;
            sub.close().await;
            continue;
        }

        // B. We bind and restart; the peer's PUSH reconnects to the new socket.
        eprintln!("-- {transport:?}: our PULL restarts, {kind} PUSH connects");
        let ep = fixed_endpoint(transport, &dir);
        let pull = bind_retrying::<D>(PeerKind::Ours, SocketType::Pull, &ep).await;
        let push = Peer::<D>::new(kind, SocketType::Push);
        push.connect(&ep).await;
        push.send(msg(&["before"])).await;
        assert_eq!(pull.recv().await, msg(&["before"]));
        pull.close().await;
        // Let the peer notice the disconnection before it sends again (a message written
        // into a connection that is being torn down is lost, with libzmq too).
        D::sleep(Duration::from_millis(300)).await;
        let (_, pull) = join(
            async {
                for i in 0..5 {
                    push.send(msg(&["queued", &i.to_string()])).await;
                }
            },
            async {
                D::sleep(Duration::from_millis(100)).await;
                bind_retrying::<D>(PeerKind::Ours, SocketType::Pull, &ep).await
            },
        )
        .await;
        for i in 0..5 {
            assert_eq!(pull.recv().await, msg(&["queued", &i.to_string()]));
        }
        push.send(msg(&["after"])).await;
        assert_eq!(pull.recv().await, msg(&["after"]));
        push.close().await;
        pull.close().await;
    }
}

/// Reconnection between our sockets.
pub async fn reconnect_ours<D: Driver>() {
    reconnect::<D>(PeerKind::Ours).await;
}

/// Reconnection with libzmq.
pub async fn reconnect_libzmq<D: Driver>() {
    reconnect::<D>(PeerKind::Libzmq).await;
}

/// Reconnection with zmq.rs.
pub async fn reconnect_zmqrs<D: Driver>() {
    reconnect::<D>(PeerKind::ZmqRs).await;
}

// ---- incompatible socket types -------------------------------------------------------------

fn is_incompatible(e: &SocketEvent) -> bool {
    matches!(
        e,
        SocketEvent::HandshakeFailed {
            error: Error::IncompatibleSocketType { .. },
            ..
        }
    )
}

async fn incompatible_refused<D: Driver>(kind: PeerKind) {
    // 1. We bind a PULL; a compatible PUSH and an incompatible PULL and PUB connect.
    eprintln!("-- our PULL binds; {kind} PUSH, PULL and PUB connect");
    let pull = D::socket(SocketType::Pull, PeerOptions::default().to_socket_options());
    let mut mon = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let good = Peer::<D>::new(kind, SocketType::Push);
    good.connect(&ep).await;
    good.send(msg(&["one"])).await;
    assert_eq!(
        crate::util::within::<D, _>(Duration::from_secs(10), "recv", pull.recv())
            .await
            .expect("recv"),
        msg(&["one"])
    );
    // zmq.rs's connect waits for the handshake, so it reports the refusal itself.
    let bad = Peer::<D>::new(kind, SocketType::Pull);
    let refused = bad.try_connect(&ep).await;
    let bad2 = Peer::<D>::new(kind, SocketType::Pub);
    let refused2 = bad2.try_connect(&ep).await;
    if kind == PeerKind::ZmqRs {
        assert!(
            refused.is_err() && refused2.is_err(),
            "zmq.rs connected: {refused:?} {refused2:?}"
        );
    } else {
        refused.expect("connect");
        refused2.expect("connect");
    }
    let e = wait_event::<D, _>(
        &mut mon,
        Duration::from_secs(10),
        "HandshakeFailed(IncompatibleSocketType)",
        is_incompatible,
    )
    .await;
    eprintln!("refused: {e:?}");
    // The compatible peer is still served.
    for i in 0..10 {
        good.send(msg(&["more", &i.to_string()])).await;
    }
    for i in 0..10 {
        let m = crate::util::within::<D, _>(Duration::from_secs(10), "recv", pull.recv())
            .await
            .expect("recv");
        assert_eq!(m, msg(&["more", &i.to_string()]));
    }
    if kind == PeerKind::Libzmq {
        // libzmq saw its handshake fail too, and never succeed, on the refused socket.
        let events = bad.events().await;
        assert!(
            !events.contains(&PeerEvent::HandshakeSucceeded),
            "libzmq PULL must not complete a handshake with our PULL: {events:?}"
        );
    }
    for p in [good, bad, bad2] {
        p.close().await;
    }

    // 2. Our PUSH connects to an incompatible binder and to a compatible one.
    eprintln!("-- our PUSH connects to {kind} PUSH (refused) and {kind} PULL");
    let bad = Peer::<D>::new(kind, SocketType::Push);
    let bad_ep = bad.bind("tcp://127.0.0.1:*").await;
    let good = Peer::<D>::new(kind, SocketType::Pull);
    let good_ep = good.bind("tcp://127.0.0.1:*").await;
    let mut opts = PeerOptions::default().to_socket_options();
    // Only completed connections take messages, so none is stranded on the refused peer.
    opts.immediate = true;
    let push = D::socket(SocketType::Push, opts);
    let mut mon2 = push.monitor();
    push.connect(&bad_ep).await.expect("connect");
    push.connect(&good_ep).await.expect("connect");
    wait_event::<D, _>(
        &mut mon2,
        Duration::from_secs(10),
        "HandshakeFailed(IncompatibleSocketType)",
        is_incompatible,
    )
    .await;
    for i in 0..10 {
        crate::util::within::<D, _>(
            Duration::from_secs(10),
            "send",
            push.send(msg(&["x", &i.to_string()])),
        )
        .await
        .expect("send");
    }
    for i in 0..10 {
        assert_eq!(good.recv().await, msg(&["x", &i.to_string()]));
    }
    push.close().await;
    pull.close().await;
    good.close().await;
    bad.close().await;
}

/// Incompatible socket types refused, between our sockets.
pub async fn incompatible_refused_ours<D: Driver>() {
    incompatible_refused::<D>(PeerKind::Ours).await;
}

/// Incompatible socket types refused, with libzmq.
pub async fn incompatible_refused_libzmq<D: Driver>() {
    incompatible_refused::<D>(PeerKind::Libzmq).await;
}

/// Incompatible socket types refused, with zmq.rs.
pub async fn incompatible_refused_zmqrs<D: Driver>() {
    incompatible_refused::<D>(PeerKind::ZmqRs).await;
}
