//! Socket semantics: PUB/SUB filtering (S1–S5), ROUTER identities (R3, M4: released when a
//! peer leaves, kept while a peer we connected to is redialled, a live duplicate ignored or
//! handed over), reconnection after the peer restarts (RFC 37 "Socket Semantics": queues exist
//! before the connection and connections are remade), and incompatible socket types refused
//! (M3, §1.7, N4).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::peer::{Peer, PeerEvent, PeerKind, PeerOptions};
use crate::util::{
    drain_events, free_tcp_endpoint, is_disconnect, is_handshake, join, msg, wait_event, within,
    TempDir, Transport,
};
use zmtp_proto::Frame;

use crate::{Driver, Either, Error, MonitorEvent, Msg, SocketEvent, SocketType};

/// The transport a case binds on: tcp, or inproc where both ends are ours (`inproc_semantics.rs`
/// runs the cases that apply over it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Over {
    /// `tcp://127.0.0.1:*`.
    Tcp,
    /// A fresh `inproc://` name.
    Inproc,
}

impl Over {
    /// A fresh endpoint to bind.
    fn endpoint(self) -> String {
        match self {
            Self::Tcp => "tcp://127.0.0.1:*".to_owned(),
            Self::Inproc => crate::cases::inproc::inproc_endpoint("semantics"),
        }
    }
}

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

pub(crate) async fn pubsub_filtering<D: Driver>(kind: PeerKind, over: Over) {
    // 1. The peer publishes, our SUB filters (S1, S2) and unsubscribes.
    eprintln!("-- {kind} PUB -> our SUB");
    let publ = Peer::<D>::new(kind, SocketType::Pub);
    let ep = publ.bind(&over.endpoint()).await;
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
    let ep = publ.bind(&over.endpoint()).await;
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
    let ep = xpub.bind(&over.endpoint()).await;
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
    let ep = publ.bind(&over.endpoint()).await;
    let xsub = Peer::<D>::new(PeerKind::Ours, SocketType::XSub);
    xsub.connect(&ep).await;
    xsub.send(Msg::from(&b"\x01A"[..])).await;
    xsub.send(Msg::from(&b"\x01BB"[..])).await;
    sync_subscription(&publ, &xsub, "A-sync").await;
    check_filtering(&publ, &xsub).await;
    // `0x00 topic` unsubscribes. XSUB does not filter locally (like libzmq, where only SUB
    // sets `options.filter`), so "A" stops only once the publisher has the CANCEL: publish
    // "A" then a marker until a round brings the marker alone.
    xsub.send(Msg::from(&b"\x00A"[..])).await;
    let mut cancelled = false;
    for round in 0..50 {
        let marker = format!("BB-{round}");
        publ.send(msg(&["A3"])).await;
        publ.send(msg(&[&marker])).await;
        let mut saw_a = false;
        loop {
            let m = xsub.recv().await;
            if m == msg(&[&marker]) {
                break;
            }
            assert_eq!(m, msg(&["A3"]), "only A3 or the marker may arrive");
            saw_a = true;
        }
        if !saw_a {
            cancelled = true;
            break;
        }
        D::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        cancelled,
        "S5/S1: the publisher kept sending A after XSUB's 0x00A"
    );
    xsub.close().await;
    publ.close().await;
}

/// PUB/SUB filtering between our sockets.
pub async fn pubsub_filtering_ours<D: Driver>() {
    pubsub_filtering::<D>(PeerKind::Ours, Over::Tcp).await;
}

/// PUB/SUB filtering with libzmq.
pub async fn pubsub_filtering_libzmq<D: Driver>() {
    pubsub_filtering::<D>(PeerKind::Libzmq, Over::Tcp).await;
}

/// PUB/SUB filtering with zmq.rs.
pub async fn pubsub_filtering_zmqrs<D: Driver>() {
    pubsub_filtering::<D>(PeerKind::ZmqRs, Over::Tcp).await;
}

// ---- ROUTER identities ---------------------------------------------------------------------

fn with_id(id: &'static [u8]) -> PeerOptions {
    PeerOptions {
        routing_id: Some(Bytes::from_static(id)),
        ..PeerOptions::default()
    }
}

/// Receives `n` messages on a ROUTER and returns (identity, rest) sorted by the last frame.
async fn recv_routed<D: Driver>(router: &Peer<D>, n: usize) -> Vec<(Frame, Msg)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut m = router.recv().await;
        let id = m.pop_front().expect("identity frame");
        out.push((id, m));
    }
    out.sort_by(|a, b| a.1.last().cmp(&b.1.last()));
    out
}

pub(crate) async fn router_identities<D: Driver>(kind: PeerKind, over: Over) {
    // 1. Our ROUTER: a peer DEALER with a routing id, one without, and a REQ with one.
    eprintln!("-- our ROUTER, {kind} clients");
    let router = Peer::<D>::new(PeerKind::Ours, SocketType::Router);
    let ep = router.bind(&over.endpoint()).await;
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
    let ep = router.bind(&over.endpoint()).await;
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
    router_identities::<D>(PeerKind::Ours, Over::Tcp).await;
}

/// ROUTER identities with libzmq.
pub async fn router_identities_libzmq<D: Driver>() {
    router_identities::<D>(PeerKind::Libzmq, Over::Tcp).await;
}

/// ROUTER identities with zmq.rs.
pub async fn router_identities_zmqrs<D: Driver>() {
    router_identities::<D>(PeerKind::ZmqRs, Over::Tcp).await;
}

// ---- reconnect -----------------------------------------------------------------------------

/// Binds `peer` to `ep`, retrying for a while (a restarted binder may find the address busy
/// for a moment).
pub(crate) async fn bind_retrying<D: Driver>(kind: PeerKind, ty: SocketType, ep: &str) -> Peer<D> {
    bind_retrying_with(kind, ty, ep, &PeerOptions::default()).await
}

/// [`bind_retrying`] with `opts`.
pub(crate) async fn bind_retrying_with<D: Driver>(
    kind: PeerKind,
    ty: SocketType,
    ep: &str,
    opts: &PeerOptions,
) -> Peer<D> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let peer = Peer::<D>::with(kind, ty, opts);
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

pub(crate) fn fixed_endpoint(transport: Transport, dir: &TempDir) -> String {
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

// ---- unbind and disconnect -----------------------------------------------------------------

async fn unbind_disconnect<D: Driver>(kind: PeerKind) {
    // 1. unbind: the endpoint stops taking connections and is free to bind again; the other
    //    endpoint keeps working.
    eprintln!("-- our PULL unbinds one of two endpoints; {kind} PUSH clients");
    let pull = D::socket(SocketType::Pull, PeerOptions::default().to_socket_options());
    let ep1 = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let ep2 = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let a = Peer::<D>::new(kind, SocketType::Push);
    a.connect(&ep2).await;
    a.send(msg(&["via ep2"])).await;
    let got = crate::util::within::<D, _>(Duration::from_secs(10), "recv", pull.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["via ep2"]));
    pull.unbind(&ep1).await.expect("unbind");
    assert!(
        pull.unbind(&ep1).await.is_err(),
        "unbinding twice must fail"
    );
    // Nothing listens on ep1 any more: another socket may take it.
    let other = Peer::<D>::new(PeerKind::Ours, SocketType::Pull);
    assert_eq!(other.bind(&ep1).await, ep1, "ep1 is free after unbind");
    let b = Peer::<D>::new(kind, SocketType::Push);
    b.connect(&ep1).await;
    b.send(msg(&["to the new owner"])).await;
    assert_eq!(other.recv().await, msg(&["to the new owner"]));
    a.send(msg(&["still via ep2"])).await;
    let got = crate::util::within::<D, _>(Duration::from_secs(10), "recv", pull.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["still via ep2"]));
    for p in [a, b, other] {
        p.close().await;
    }
    pull.close().await;

    // 2. disconnect: our PUSH stops sending to the endpoint it left; round-robin then sends
    //    everything to the remaining peer.
    eprintln!("-- our PUSH disconnects from one of two {kind} PULLs");
    let p1 = Peer::<D>::new(kind, SocketType::Pull);
    let ep1 = p1.bind("tcp://127.0.0.1:*").await;
    let p2 = Peer::<D>::new(kind, SocketType::Pull);
    let ep2 = p2.bind("tcp://127.0.0.1:*").await;
    let mut opts = PeerOptions::default().to_socket_options();
    opts.immediate = true;
    let push = D::socket(SocketType::Push, opts);
    let mut mon = push.monitor();
    push.connect(&ep1).await.expect("connect");
    push.connect(&ep2).await.expect("connect");
    for _ in 0..2 {
        wait_event::<D, _>(
            &mut mon,
            Duration::from_secs(10),
            "handshake",
            crate::util::is_handshake,
        )
        .await;
    }
    // Round-robin over both.
    for i in 0..4 {
        push.send(msg(&["rr", &i.to_string()])).await.expect("send");
    }
    let (n1, n2) = (
        p1.drain(Duration::from_millis(200)).await,
        p2.drain(Duration::from_millis(200)).await,
    );
    assert_eq!(n1.len() + n2.len(), 4, "all delivered: {n1:?} {n2:?}");
    assert!(
        !n1.is_empty() && !n2.is_empty(),
        "round-robin used both: {n1:?} {n2:?}"
    );
    push.disconnect(&ep1).await.expect("disconnect");
    assert!(
        push.disconnect(&ep1).await.is_err(),
        "disconnecting twice must fail"
    );
    for i in 0..6 {
        push.send(msg(&["after", &i.to_string()]))
            .await
            .expect("send");
    }
    for i in 0..6 {
        assert_eq!(p2.recv().await, msg(&["after", &i.to_string()]));
    }
    let stray = p1.recv_timeout(Duration::from_millis(200)).await;
    assert!(
        stray.is_none(),
        "a message went to the disconnected endpoint: {stray:?}"
    );
    push.close().await;
    p1.close().await;
    p2.close().await;
}

/// `unbind` and `disconnect` with our own peers.
pub async fn unbind_disconnect_ours<D: Driver>() {
    unbind_disconnect::<D>(PeerKind::Ours).await;
}

/// `unbind` and `disconnect` with libzmq peers.
pub async fn unbind_disconnect_libzmq<D: Driver>() {
    unbind_disconnect::<D>(PeerKind::Libzmq).await;
}

// ---- publishers never block ----------------------------------------------------------------

pub(crate) async fn pub_never_blocks<D: Driver>(kind: PeerKind, over: Over) {
    let small = PeerOptions {
        sndhwm: Some(10),
        rcvhwm: Some(10),
        ..PeerOptions::default()
    };
    let publ = Peer::<D>::with(PeerKind::Ours, SocketType::Pub, &small);
    let ep = publ.bind(&over.endpoint()).await;
    let sub = Peer::<D>::with(kind, SocketType::Sub, &small);
    sub.subscribe(b"").await;
    sub.connect(&ep).await;
    sync_subscription(&publ, &sub, "sync").await;
    let Peer::Ours(ours, _) = &publ else {
        unreachable!()
    };
    // The subscriber reads nothing meanwhile: its queue, the kernel's buffers and our queue
    // fill up, and then PUB drops (§1.12: "drop per subscriber; never blocks").
    const N: u64 = 20_000;
    // A send may yield to the scheduler (cooperative budgets), which is not blocking: blocking
    // would mean waiting for the subscriber, which never reads, so a generous timer tells the
    // two apart.
    for i in 0..N {
        let send = ours.send(crate::util::seq_msg(i, 1024));
        match D::race(send, D::sleep(Duration::from_secs(1))).await {
            Either::Left(r) => r.expect("send"),
            Either::Right(()) => panic!("{}: PUB send {i} blocked", D::NAME),
        }
    }
    // The subscriber got a prefix of the messages in order, with gaps where PUB dropped.
    let got = sub.drain(Duration::from_millis(300)).await;
    assert!(
        !got.is_empty() && (got.len() as u64) < N,
        "{} of {N} delivered",
        got.len()
    );
    let mut last = None;
    for m in &got {
        let i = u64::from_be_bytes(m[0][..8].try_into().expect("sequence number"));
        crate::util::check_seq(m, i, 1024).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            last.is_none_or(|l| i > l),
            "out of order: {i} after {last:?}"
        );
        last = Some(i);
    }
    // The subscriber is still served.
    publ.send(msg(&["end"])).await;
    assert_eq!(sub.recv().await, msg(&["end"]));
    sub.close().await;
    publ.close().await;
}

/// Our PUB never blocks on a stalled subscriber of our own, and keeps serving it.
pub async fn pub_never_blocks_ours<D: Driver>() {
    pub_never_blocks::<D>(PeerKind::Ours, Over::Tcp).await;
}

/// Our PUB never blocks on a stalled libzmq subscriber, and keeps serving it.
pub async fn pub_never_blocks_libzmq<D: Driver>() {
    pub_never_blocks::<D>(PeerKind::Libzmq, Over::Tcp).await;
}

/// Our PUB fans out to four subscribers of the peer kind, each getting every message in order.
pub(crate) async fn fan_out<D: Driver>(kind: PeerKind, over: Over) {
    let publ = Peer::<D>::new(PeerKind::Ours, SocketType::Pub);
    let ep = publ.bind(&over.endpoint()).await;
    let mut subs = Vec::new();
    for _ in 0..4 {
        let sub = Peer::<D>::new(kind, SocketType::Sub);
        sub.subscribe(b"").await;
        sub.connect(&ep).await;
        sync_subscription(&publ, &sub, "sync").await;
        subs.push(sub);
    }
    // Late probes to the first subscribers.
    for sub in &subs {
        for late in sub.drain(Duration::from_millis(50)).await {
            assert_eq!(late, msg(&["sync"]));
        }
    }
    const N: u64 = 500;
    publ.send_seq(N, 64).await;
    for sub in &subs {
        sub.recv_seq(N, 64, 0, Duration::ZERO).await;
    }
    for sub in subs {
        sub.close().await;
    }
    publ.close().await;
}

/// PUB fan-out to four of our subscribers.
pub async fn fan_out_ours<D: Driver>() {
    fan_out::<D>(PeerKind::Ours, Over::Tcp).await;
}

/// PUB fan-out to four libzmq subscribers.
pub async fn fan_out_libzmq<D: Driver>() {
    fan_out::<D>(PeerKind::Libzmq, Over::Tcp).await;
}

/// PUB fan-out to four zmq.rs subscribers.
pub async fn fan_out_zmqrs<D: Driver>() {
    fan_out::<D>(PeerKind::ZmqRs, Over::Tcp).await;
}

// ---- request-reply state machines ----------------------------------------------------------

/// R1/R2: REQ alternates send and receive (a second send, or a receive first, is refused, as
/// libzmq's `EFSM`); REP likewise answers only what it received. Against a libzmq peer.
pub async fn reqrep_state_machine<D: Driver>() {
    let rep = Peer::<D>::new(PeerKind::Libzmq, SocketType::Rep);
    let ep = rep.bind("tcp://127.0.0.1:*").await;
    let req = D::socket(SocketType::Req, PeerOptions::default().to_socket_options());
    req.connect(&ep).await.expect("connect");
    let early = crate::util::timeout::<D, _>(Duration::from_millis(200), req.recv()).await;
    assert!(
        matches!(early, Some(Err(_))),
        "REQ recv before send must fail at once, got {early:?}"
    );
    req.send(msg(&["q1"])).await.expect("send");
    let again =
        crate::util::timeout::<D, _>(Duration::from_millis(200), req.send(msg(&["q2"]))).await;
    assert!(
        matches!(again, Some(Err(_))),
        "a second request before the reply must fail at once, got {again:?}"
    );
    assert_eq!(
        rep.recv().await,
        msg(&["q1"]),
        "only the first request went out"
    );
    rep.send(msg(&["r1"])).await;
    let r = crate::util::within::<D, _>(Duration::from_secs(10), "reply", req.recv()).await;
    assert_eq!(r.expect("recv"), msg(&["r1"]));
    req.send(msg(&["q3"])).await.expect("send after the reply");
    assert_eq!(rep.recv().await, msg(&["q3"]));
    req.close().await;
    rep.close().await;

    let ours_rep = D::socket(SocketType::Rep, PeerOptions::default().to_socket_options());
    let ep = ours_rep.bind("tcp://127.0.0.1:*").await.expect("bind");
    let early =
        crate::util::timeout::<D, _>(Duration::from_millis(200), ours_rep.send(msg(&["x"]))).await;
    assert!(
        matches!(early, Some(Err(_))),
        "REP send before a request must fail at once, got {early:?}"
    );
    let req = Peer::<D>::new(PeerKind::Libzmq, SocketType::Req);
    req.connect(&ep).await;
    req.send(msg(&["q"])).await;
    let q = crate::util::within::<D, _>(Duration::from_secs(10), "request", ours_rep.recv()).await;
    assert_eq!(q.expect("recv"), msg(&["q"]));
    ours_rep.send(msg(&["r"])).await.expect("reply");
    assert_eq!(req.recv().await, msg(&["r"]));
    req.close().await;
    ours_rep.close().await;
}

/// R3: a ROUTER drops a message for an unknown identity, or refuses it with
/// `router_mandatory`; known peers are served either way. Against libzmq DEALERs.
pub async fn router_unroutable<D: Driver>() {
    for mandatory in [false, true] {
        let mut opts = PeerOptions::default().to_socket_options();
        opts.router_mandatory = mandatory;
        let router = D::socket(SocketType::Router, opts);
        let ep = router.bind("tcp://127.0.0.1:*").await.expect("bind");
        let dealer = Peer::<D>::with(PeerKind::Libzmq, SocketType::Dealer, &with_id(b"known"));
        dealer.connect(&ep).await;
        dealer.send(msg(&["hi"])).await;
        let got = crate::util::within::<D, _>(Duration::from_secs(10), "recv", router.recv()).await;
        assert_eq!(got.expect("recv"), msg(&["known", "hi"]));
        let r = crate::util::timeout::<D, _>(
            Duration::from_millis(500),
            router.send(msg(&["nobody", "lost"])),
        )
        .await;
        match (mandatory, r) {
            (false, Some(Ok(()))) => {}
            (true, Some(Err(_))) => {}
            (_, other) => panic!("router_mandatory={mandatory}: unroutable send gave {other:?}"),
        }
        router.send(msg(&["known", "reply"])).await.expect("send");
        assert_eq!(dealer.recv().await, msg(&["reply"]));
        dealer.close().await;
        router.close().await;
    }
}

// ---- many peers ----------------------------------------------------------------------------

/// Fifty of our DEALERs on one ROUTER of ours, each exchanging ten messages: peer tables,
/// identities and routing at a size beyond the trivial.
pub async fn many_peers_ours<D: Driver>() {
    const PEERS: usize = 50;
    let router = D::socket(
        SocketType::Router,
        PeerOptions::default().to_socket_options(),
    );
    let ep = router.bind("tcp://127.0.0.1:*").await.expect("bind");
    let mut dealers = Vec::new();
    for k in 0..PEERS {
        let id = format!("dealer-{k}");
        let opts = PeerOptions {
            routing_id: Some(Bytes::from(id)),
            ..PeerOptions::default()
        };
        let d = D::socket(SocketType::Dealer, opts.to_socket_options());
        d.connect(&ep).await.expect("connect");
        dealers.push(d);
    }
    for round in 0..10 {
        for d in &dealers {
            d.send(msg(&["ping", &round.to_string()]))
                .await
                .expect("send");
        }
        for _ in 0..PEERS {
            let mut m = crate::util::within::<D, _>(Duration::from_secs(10), "ping", router.recv())
                .await
                .expect("recv");
            let id = m.pop_front().expect("identity");
            assert_eq!(m, msg(&["ping", &round.to_string()]));
            let mut reply = msg(&["pong", &String::from_utf8_lossy(&id)]);
            reply.push_front(id);
            router.send(reply).await.expect("send");
        }
        for (k, d) in dealers.iter().enumerate() {
            let m = crate::util::within::<D, _>(Duration::from_secs(10), "pong", d.recv())
                .await
                .expect("recv");
            assert_eq!(m, msg(&["pong", &format!("dealer-{k}")]));
        }
    }
    for d in dealers {
        d.close().await;
    }
    router.close().await;
}

/// Our PULL fair-queues three libzmq PUSH peers sending at once: every message arrives, and
/// each sender's messages arrive in its order.
pub async fn fair_queue_libzmq<D: Driver>() {
    const N: u64 = 3_000;
    let pull = D::socket(SocketType::Pull, PeerOptions::default().to_socket_options());
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let mut senders = Vec::new();
    for _ in 0..3 {
        let p = crate::peer::Libzmq::new(SocketType::Push, &PeerOptions::default());
        p.op(crate::peer::Op::Connect(ep.clone()))
            .await
            .expect("connect");
        senders.push(p);
    }
    // Each sender's frames differ in size, which tells the senders apart.
    let sizes = [16usize, 17, 18];
    let sending = futures_util::future::join_all(senders.iter().zip(sizes).map(|(p, size)| {
        p.op(crate::peer::Op::SendSeq {
            n: N,
            size,
            pause_every: 0,
            pause: Duration::ZERO,
        })
    }));
    let receiving = async {
        let mut next = [0u64; 3];
        for _ in 0..3 * N {
            let m = crate::util::within::<D, _>(Duration::from_secs(10), "message", pull.recv())
                .await
                .expect("recv");
            let k = sizes
                .iter()
                .position(|&s| s == m[0].len())
                .unwrap_or_else(|| panic!("unexpected frame of {} bytes", m[0].len()));
            crate::util::check_seq(&m, next[k], sizes[k])
                .unwrap_or_else(|e| panic!("sender {k}: {e}"));
            next[k] += 1;
        }
        next
    };
    let (sent, next) = join(sending, receiving).await;
    for r in sent {
        r.expect("send_seq");
    }
    assert_eq!(next, [N; 3]);
    for p in senders {
        p.op(crate::peer::Op::Close).await.expect("close");
    }
    pull.close().await;
}

// ---- ROUTER: identities of peers that leave and come back ---------------------------------

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

/// R3: DEALERs of `kind` named "returning" come to our ROUTER one after the other, each after
/// the previous one left. The ROUTER hears each under the id and routes a reply to it, as
/// libzmq does (its `xpipe_terminated` frees the id of a peer that left). Once the last has
/// left, the id is unroutable (`router_mandatory`): the routing table kept nothing.
async fn router_returning_id<D: Driver>(kind: PeerKind) {
    const ROUNDS: usize = 20;
    let mut opts = PeerOptions::default().to_socket_options();
    opts.router_mandatory = true;
    let router = D::socket(SocketType::Router, opts);
    let mut mon = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:*").await.expect("bind");
    for round in 0..ROUNDS {
        let dealer = Peer::<D>::with(kind, SocketType::Dealer, &with_id(b"returning"));
        dealer.connect(&ep).await;
        let hello = format!("hello-{round}");
        dealer.send(msg(&[&hello])).await;
        let got = within::<D, _>(
            Duration::from_secs(5),
            "the returning DEALER's message",
            router.recv(),
        )
        .await
        .expect("recv");
        assert_eq!(
            got,
            msg(&["returning", &hello]),
            "round {round}: R3 the peer's routing id, then its message"
        );
        let reply = format!("reply-{round}");
        router
            .send(msg(&["returning", &reply]))
            .await
            .expect("send");
        assert_eq!(dealer.recv().await, msg(&[&reply]), "round {round}");
        dealer.close().await;
        // The next one comes once the ROUTER has seen this one go (sooner, it would be a
        // live duplicate).
        wait_event::<D, _>(
            &mut mon,
            Duration::from_secs(5),
            "Disconnected",
            is_disconnect,
        )
        .await;
    }
    let r = router.try_send(msg(&["returning", "nobody"]));
    assert!(
        matches!(
            r,
            Err(crate::SendError {
                error: Error::Unroutable,
                ..
            })
        ),
        "the id of a peer that left must be unroutable, got {r:?}"
    );
    router.close().await;
}

/// A ROUTER's returning peer, libzmq DEALERs.
pub async fn router_returning_id_libzmq<D: Driver>() {
    router_returning_id::<D>(PeerKind::Libzmq).await;
}

/// A ROUTER's returning peer, our DEALERs.
pub async fn router_returning_id_ours<D: Driver>() {
    router_returning_id::<D>(PeerKind::Ours).await;
}

/// A peer whose connection events (handshakes completed, connections lost) are counted
/// whatever its kind: from libzmq's monitor, or from our socket's.
struct Watched<D: Driver> {
    peer: Peer<D>,
    monitor: Option<zmtp_async::Monitor<D::Runtime>>,
    handshakes: usize,
    disconnects: usize,
}

impl<D: Driver> Watched<D> {
    fn new(kind: PeerKind, ty: SocketType, opts: &PeerOptions) -> Self {
        let (peer, monitor) = match kind {
            PeerKind::Ours => {
                let s = D::socket(ty, opts.to_socket_options());
                let m = s.monitor();
                (Peer::Ours(s, ty), Some(m))
            }
            _ => (Peer::with(kind, ty, opts), None),
        };
        Self {
            peer,
            monitor,
            handshakes: 0,
            disconnects: 0,
        }
    }

    /// Counts the events recorded so far.
    async fn update(&mut self) {
        match &mut self.monitor {
            Some(m) => {
                for e in drain_events::<D, _>(m).await {
                    match e {
                        MonitorEvent::Socket(SocketEvent::HandshakeSucceeded { .. }) => {
                            self.handshakes += 1;
                        }
                        MonitorEvent::Socket(SocketEvent::Disconnected { .. }) => {
                            self.disconnects += 1;
                        }
                        _ => {}
                    }
                }
            }
            None => {
                for e in self.peer.events().await {
                    match e {
                        PeerEvent::HandshakeSucceeded => self.handshakes += 1,
                        PeerEvent::Disconnected => self.disconnects += 1,
                        _ => {}
                    }
                }
            }
        }
    }

    /// Waits (up to 5 s) until at least this many handshakes and disconnections were counted.
    async fn wait_for(&mut self, handshakes: usize, disconnects: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.update().await;
            if self.handshakes >= handshakes && self.disconnects >= disconnects {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {:?} counted {}/{handshakes} handshakes, {}/{disconnects} disconnections",
                D::NAME,
                self.peer,
                self.handshakes,
                self.disconnects
            );
            D::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// R3, a live duplicate: two DEALERs of `dealer_kind`, both named "dup", connect to a ROUTER
/// of `router_kind` one after the other. Every expectation is what libzmq's ROUTER does (4.3,
/// `router.cpp` `identify_peer`), checked against it first, then against ours.
///
/// * Without `router_handover` the newcomer is ignored; with it, the newcomer takes the id
///   and the first peer is ignored.
/// * The ignored connection completes its handshake and stays open: it is never closed, so
///   its peer never redials (no loop). Nothing it sends reaches the application and nothing
///   is routed to it, even after the holder of the id leaves; a new connection named "dup"
///   then takes the id.
async fn live_duplicate<D: Driver>(router_kind: PeerKind, dealer_kind: PeerKind, handover: bool) {
    eprintln!("-- {router_kind} ROUTER (handover {handover}), {dealer_kind} DEALERs named \"dup\"");
    let mut router = Watched::<D>::new(
        router_kind,
        SocketType::Router,
        &PeerOptions {
            router_handover: handover,
            ..PeerOptions::default()
        },
    );
    let ep = router.peer.bind("tcp://127.0.0.1:*").await;
    let first = Watched::<D>::new(dealer_kind, SocketType::Dealer, &with_id(b"dup"));
    first.peer.connect(&ep).await;
    first.peer.send(msg(&["from-first"])).await;
    assert_eq!(router.peer.recv().await, msg(&["dup", "from-first"]));
    let mut second = Watched::<D>::new(dealer_kind, SocketType::Dealer, &with_id(b"dup"));
    second.peer.connect(&ep).await;
    second.peer.send(msg(&["from-second"])).await;
    second.wait_for(1, 0).await;
    router.wait_for(2, 0).await;
    let (holder, mut ignored) = if handover {
        assert_eq!(
            router.peer.recv().await,
            msg(&["dup", "from-second"]),
            "handover: the newcomer is heard under the id"
        );
        (second, first)
    } else {
        (first, second)
    };
    router.peer.send(msg(&["dup", "to-dup"])).await;
    assert_eq!(
        holder.peer.recv().await,
        msg(&["to-dup"]),
        "the holder of the id gets what is routed to it"
    );
    assert_eq!(
        ignored.peer.recv_timeout(QUIET).await,
        None,
        "nothing is routed to the ignored connection"
    );
    ignored.peer.send(msg(&["from-ignored"])).await;
    assert_eq!(
        router.peer.recv_timeout(QUIET).await,
        None,
        "nothing from the ignored connection reaches the application"
    );
    ignored.update().await;
    assert_eq!(
        (ignored.handshakes, ignored.disconnects),
        (1, 0),
        "the ignored connection stays open: no refusal, no redial"
    );

    // The holder leaves. The ignored connection stays ignored; a new one takes the id.
    holder.peer.close().await;
    router.wait_for(2, 1).await;
    ignored.peer.send(msg(&["from-ignored-after"])).await;
    assert_eq!(
        router.peer.recv_timeout(QUIET).await,
        None,
        "the ignored connection stays ignored once the id is free"
    );
    let third = Peer::<D>::with(dealer_kind, SocketType::Dealer, &with_id(b"dup"));
    third.connect(&ep).await;
    third.send(msg(&["from-third"])).await;
    assert_eq!(
        router.peer.recv().await,
        msg(&["dup", "from-third"]),
        "a new connection takes the free id"
    );
    router.peer.send(msg(&["dup", "to-third"])).await;
    assert_eq!(third.recv().await, msg(&["to-third"]));
    assert_eq!(ignored.peer.recv_timeout(QUIET).await, None);
    ignored.update().await;
    assert_eq!(
        (ignored.handshakes, ignored.disconnects),
        (1, 0),
        "the ignored connection was never closed"
    );
    for p in [ignored.peer, third, router.peer] {
        p.close().await;
    }
}

async fn router_live_duplicate<D: Driver>(dealer_kind: PeerKind) {
    for handover in [false, true] {
        // libzmq's ROUTER first: the reference the expectations are checked against.
        for router_kind in [PeerKind::Libzmq, PeerKind::Ours] {
            live_duplicate::<D>(router_kind, dealer_kind, handover).await;
        }
    }
}

/// A live duplicate routing id (with and without `router_handover`), libzmq DEALERs; libzmq's
/// ROUTER and ours.
pub async fn router_live_duplicate_libzmq<D: Driver>() {
    router_live_duplicate::<D>(PeerKind::Libzmq).await;
}

/// A live duplicate routing id (with and without `router_handover`), our DEALERs; libzmq's
/// ROUTER and ours.
pub async fn router_live_duplicate_ours<D: Driver>() {
    router_live_duplicate::<D>(PeerKind::Ours).await;
}

/// Binds a ROUTER of `kind` named `id` to `ep`, retrying for a while (a restarted binder may
/// find the address busy for a moment).
async fn bind_router_retrying<D: Driver>(kind: PeerKind, id: &'static [u8], ep: &str) -> Peer<D> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let peer = Peer::<D>::with(kind, SocketType::Router, &with_id(id));
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

/// R3, connect side: our ROUTER, connected to a ROUTER of `kind` named "SRV", keeps the id
/// while the server restarts, as libzmq's ROUTER does (its pipe outlives the connection;
/// measured with libzmq 4.3.5): a message routed to "SRV" meanwhile is queued, not
/// unroutable (`router_mandatory`), and reaches the restarted server; the exchange goes on.
async fn router_connect_side_keeps_id<D: Driver>(kind: PeerKind) {
    let ep = free_tcp_endpoint();
    let server = bind_router_retrying::<D>(kind, b"SRV", &ep).await;
    let mut opts = with_id(b"CLI").to_socket_options();
    opts.router_mandatory = true;
    let client = D::socket(SocketType::Router, opts);
    let mut mon = client.monitor();
    client.connect(&ep).await.expect("connect");
    wait_event::<D, _>(&mut mon, Duration::from_secs(5), "handshake", is_handshake).await;
    client.send(msg(&["SRV", "one"])).await.expect("send");
    assert_eq!(server.recv().await, msg(&["CLI", "one"]));
    server.close().await;
    wait_event::<D, _>(
        &mut mon,
        Duration::from_secs(5),
        "Disconnected",
        is_disconnect,
    )
    .await;
    let r = client.try_send(msg(&["SRV", "during-gap"]));
    assert!(
        r.is_ok(),
        "the id of a peer being redialled must stay routable, got {r:?}"
    );
    let server = bind_router_retrying::<D>(kind, b"SRV", &ep).await;
    assert_eq!(
        server.recv().await,
        msg(&["CLI", "during-gap"]),
        "queued while the server was away"
    );
    client.send(msg(&["SRV", "after"])).await.expect("send");
    assert_eq!(server.recv().await, msg(&["CLI", "after"]));
    server.send(msg(&["CLI", "back"])).await;
    let got = within::<D, _>(Duration::from_secs(5), "the server's reply", client.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["SRV", "back"]));
    server.close().await;
    client.close().await;
}

/// A connect-side ROUTER keeps its peer's id across a restart of a libzmq ROUTER.
pub async fn router_connect_side_keeps_id_libzmq<D: Driver>() {
    router_connect_side_keeps_id::<D>(PeerKind::Libzmq).await;
}

/// A connect-side ROUTER keeps its peer's id across a restart of one of our ROUTERs.
pub async fn router_connect_side_keeps_id_ours<D: Driver>() {
    router_connect_side_keeps_id::<D>(PeerKind::Ours).await;
}
