//! The in-process transport (`inproc://`): every compatible pair of socket types, bind before
//! connect and connect before bind, same task, other threads (each with a runtime of its own,
//! compio's thread-per-core runtimes included); high-water marks (blocking and dropping, the
//! sum of both sides' marks), disconnect and unbind, close with messages queued, cancel
//! safety, PUB/SUB filtering, ROUTER identities, the monitor, and the names' registry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::cases::pairs::{exchange, Pattern};
use crate::peer::{Peer, PeerKind, PeerOptions};
use crate::util::{msg, timeout};
use crate::{Driver, Msg, SocketOptions, SocketType};

/// A name no other case of this process uses.
pub fn inproc_endpoint(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("inproc://{tag}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

const PATTERNS: [Pattern; 12] = [
    Pattern::ReqRep,
    Pattern::ReqRouter,
    Pattern::DealerRep,
    Pattern::DealerRouter,
    Pattern::DealerDealer,
    Pattern::RouterRouter,
    Pattern::PubSub,
    Pattern::PubXSub,
    Pattern::XPubSub,
    Pattern::XPubXSub,
    Pattern::PushPull,
    Pattern::Pair,
];

fn pattern_options(pat: Pattern) -> (PeerOptions, PeerOptions) {
    let mut a = PeerOptions::default();
    let mut b = PeerOptions::default();
    if pat == Pattern::RouterRouter {
        a.routing_id = Some(bytes::Bytes::from_static(b"router-a"));
        b.routing_id = Some(bytes::Bytes::from_static(b"router-b"));
    }
    (a, b)
}

/// Every compatible pair on one task: either side binding, bind before connect and connect
/// before bind (the pattern's exchange of multipart messages with empty frames, as over tcp).
pub async fn inproc_pairs_same_task<D: Driver>() {
    for pat in PATTERNS {
        let (ta, tb) = pat.types();
        let (oa, ob) = pattern_options(pat);
        for a_binds in [true, false] {
            for bind_first in [true, false] {
                eprintln!("-- {pat:?} over inproc: a binds {a_binds}, bind first {bind_first}");
                let a = Peer::<D>::with(PeerKind::Ours, ta, &oa);
                let b = Peer::<D>::with(PeerKind::Ours, tb, &ob);
                let (binder, connecter) = if a_binds { (&a, &b) } else { (&b, &a) };
                let ep = inproc_endpoint("pairs");
                if bind_first {
                    assert_eq!(binder.bind(&ep).await, ep);
                    connecter.connect(&ep).await;
                } else {
                    connecter.connect(&ep).await;
                    assert_eq!(binder.bind(&ep).await, ep);
                }
                exchange(pat, &a, &b).await;
                a.close().await;
                b.close().await;
            }
        }
    }
}

/// Runs `f` on a new thread with a runtime of `D`'s kind of its own (for compio, another
/// thread-per-core runtime); its result comes back without blocking the caller's runtime.
pub fn on_thread<D: Driver, T: Send + 'static, F>(
    f: impl FnOnce() -> F + Send + 'static,
) -> crate::util::OneshotReceiver<T>
where
    F: std::future::Future<Output = T>,
{
    let (tx, rx) = crate::util::oneshot();
    std::thread::spawn(move || {
        let value = D::run(f());
        tx.send(value);
    });
    rx
}

fn sock<D: Driver>(ty: SocketType) -> crate::Sock<D> {
    D::socket(ty, SocketOptions::default())
}

async fn recv<D: Driver>(s: &crate::Sock<D>) -> Msg {
    timeout::<D, _>(Duration::from_secs(10), s.recv())
        .await
        .expect("a message within 10 s")
        .expect("recv")
}

/// Every compatible pair with one side on another thread and runtime, that side binding or
/// connecting, bind before connect and connect before bind: the requesting side's messages
/// go across, each answered (or, for one-way patterns, counted) on the other thread.
pub async fn inproc_pairs_across_threads<D: Driver>() {
    use SocketType::*;
    const N: usize = 200;
    // (ours, theirs): theirs echoes (REP, ROUTER, DEALER, PAIR) or counts (PULL, SUB, XSUB).
    let pairs = [
        (Req, Rep),
        (Req, Router),
        (Dealer, Rep),
        (Dealer, Router),
        (Dealer, Dealer),
        (Pair, Pair),
        (Push, Pull),
        (Pub, Sub),
        (XPub, Sub),
        (Pub, XSub),
        (XPub, XSub),
        (Router, Dealer),
    ];
    for (ours, theirs) in pairs {
        for we_bind in [true, false] {
            for bind_first in [true, false] {
                eprintln!(
                    "-- {ours:?} here, {theirs:?} on a thread: we bind {we_bind}, bind first {bind_first}"
                );
                let ep = inproc_endpoint("threads");
                let a = sock::<D>(ours);
                if we_bind && bind_first {
                    a.bind(&ep).await.unwrap();
                }
                let (ready_tx, ready_rx) = crate::util::oneshot();
                let (probed_tx, probed_rx) = crate::util::oneshot();
                let ep2 = ep.clone();
                let done = on_thread::<D, usize, _>(move || async move {
                    let mut o = SocketOptions::default();
                    o.connection.routing_id = bytes::Bytes::from_static(b"far");
                    let b = D::socket(theirs, o);
                    serve::<D>(b, &ep2, we_bind, ready_tx, probed_tx, N).await
                });
                ready_rx.await.expect("the thread is ready");
                if we_bind && !bind_first {
                    a.bind(&ep).await.unwrap();
                } else if !we_bind {
                    a.connect(&ep).await.unwrap();
                }
                drive::<D>(&a, ours, N, probed_rx).await;
                let got = timeout::<D, _>(Duration::from_secs(20), done)
                    .await
                    .expect("the thread finished")
                    .expect("the thread answered");
                assert_eq!(
                    got, N,
                    "{ours:?}→{theirs:?}: messages seen on the other thread"
                );
                a.close().await;
            }
        }
    }
}

/// The other thread's side: connects (`they_bind`: the test side binds) or binds, says it is
/// ready, then serves `n` messages besides probes (it says when it saw the first); returns how
/// many it saw.
async fn serve<D: Driver>(
    b: crate::Sock<D>,
    ep: &str,
    they_bind: bool,
    ready: crate::util::OneshotSender<()>,
    probed: crate::util::OneshotSender<()>,
    n: usize,
) -> usize {
    use SocketType::*;
    if they_bind {
        b.connect(ep).await.unwrap();
    } else {
        b.bind(ep).await.unwrap();
    }
    let ty = b.socket_type();
    if ty == Sub {
        b.subscribe(b"").await.unwrap();
    }
    if ty == XSub {
        b.send(Msg::from(&b"\x01"[..])).await.unwrap();
    }
    ready.send(());
    let mut probed = Some(probed);
    let mut seen = 0;
    while seen < n {
        let m = recv::<D>(&b).await;
        let is_probe = m.last().is_some_and(|f| &f[..] == b"probe");
        if is_probe {
            if let Some(p) = probed.take() {
                p.send(());
            }
        }
        match ty {
            Sub | XSub | Pull if is_probe => continue,
            Sub | XSub | Pull => assert_eq!(m, msg(&["data", &seen.to_string()])),
            _ => b.send(m).await.unwrap(),
        }
        if !is_probe {
            seen += 1;
        }
    }
    b.close().await;
    seen
}

/// The test side: `n` requests answered, or `n` messages one way. Where a message could be
/// dropped before the connection is up (PUB before the subscription arrived, ROUTER before it
/// knows the identity) it probes until the other side saw a probe.
async fn drive<D: Driver>(
    a: &crate::Sock<D>,
    ty: SocketType,
    n: usize,
    probed: crate::util::OneshotReceiver<()>,
) {
    use SocketType::*;
    if matches!(ty, Pub | XPub | Router) {
        if ty == XPub {
            assert_eq!(recv::<D>(a).await, Msg::from(&b"\x01"[..]), "XPUB notice");
        }
        let mut probed = std::pin::pin!(probed);
        loop {
            let probe = if ty == Router {
                msg(&["far", "", "probe"])
            } else {
                msg(&["probe"])
            };
            a.send(probe).await.unwrap();
            let seen = D::race(probed.as_mut(), D::sleep(Duration::from_millis(20))).await;
            if matches!(seen, crate::Either::Left(_)) {
                break;
            }
        }
        if ty == Router {
            // Every probe is echoed: take them all before the real exchange.
            while let Some(m) = timeout::<D, _>(Duration::from_millis(200), a.recv()).await {
                assert_eq!(m.unwrap(), msg(&["far", "", "probe"]));
            }
        }
    }
    for i in 0..n {
        let body = i.to_string();
        match ty {
            Req => {
                a.send(msg(&["q", &body])).await.unwrap();
                assert_eq!(recv::<D>(a).await, msg(&["q", &body]));
            }
            Dealer => {
                a.send(msg(&["", &body])).await.unwrap();
                assert_eq!(recv::<D>(a).await, msg(&["", &body]));
            }
            Pair => {
                a.send(msg(&["p", &body])).await.unwrap();
                assert_eq!(recv::<D>(a).await, msg(&["p", &body]));
            }
            Router => {
                a.send(msg(&["far", "", &body])).await.unwrap();
                assert_eq!(recv::<D>(a).await, msg(&["far", "", &body]));
            }
            Push | Pub | XPub => a.send(msg(&["data", &body])).await.unwrap(),
            other => unreachable!("{other:?}"),
        }
    }
}

fn hwm_options(sndhwm: usize, rcvhwm: usize) -> SocketOptions {
    let mut o = SocketOptions::default();
    o.sndhwm = sndhwm;
    o.connection.rcvhwm = rcvhwm;
    o
}

/// A direction holds the sender's `sndhwm` plus the receiver's `rcvhwm` messages, as libzmq's
/// inproc does (`test_hwm.cpp`): PUSH blocks after exactly that many (with either side
/// binding first), and takes more once the receiver took some; nothing is lost or reordered.
pub async fn inproc_hwm_blocks_at_the_sum<D: Driver>() {
    for bind_first in [true, false] {
        let push = D::socket(SocketType::Push, hwm_options(5, 1000));
        let pull = D::socket(SocketType::Pull, hwm_options(1000, 7));
        let ep = inproc_endpoint("hwm");
        if bind_first {
            pull.bind(&ep).await.unwrap();
            push.connect(&ep).await.unwrap();
        } else {
            push.connect(&ep).await.unwrap();
            pull.bind(&ep).await.unwrap();
        }
        // Let the connection be made (a round on each side).
        D::sleep(Duration::from_millis(20)).await;
        let mut sent = 0;
        while push.try_send(msg(&[&sent.to_string()])).is_ok() {
            sent += 1;
            assert!(sent <= 12, "more than sndhwm + rcvhwm taken");
        }
        assert_eq!(sent, 12, "sndhwm 5 + rcvhwm 7");

        // `send` waits now...
        let late = timeout::<D, _>(Duration::from_millis(50), push.send(msg(&["late"]))).await;
        assert!(late.is_none(), "send must wait at the high-water mark");
        // ...until the receiver took some.
        for i in 0..12 {
            assert_eq!(recv::<D>(&pull).await, msg(&[&i.to_string()]));
        }
        // Room again for the whole sum.
        for i in 12..24 {
            push.send(msg(&[&i.to_string()])).await.unwrap();
        }
        for i in 12..24 {
            assert_eq!(recv::<D>(&pull).await, msg(&[&i.to_string()]));
        }
        push.close().await;
        pull.close().await;
    }
}

/// PUB drops for a subscriber whose pipe is full (sndhwm + rcvhwm messages kept), and never
/// blocks; the subscriber gets the oldest messages, in order.
pub async fn inproc_hwm_drops_for_pub<D: Driver>() {
    // XPUB drops as PUB does, and says when the subscription arrived: no probe has to use
    // up part of the window first.
    let publisher = D::socket(SocketType::XPub, hwm_options(5, 1000));
    let sub = D::socket(SocketType::Sub, hwm_options(1000, 7));
    let ep = inproc_endpoint("pubhwm");
    publisher.bind(&ep).await.unwrap();
    sub.connect(&ep).await.unwrap();
    sub.subscribe(b"").await.unwrap();
    assert_eq!(recv::<D>(&publisher).await, Msg::from(&b"\x01"[..]));
    for i in 0..100 {
        timeout::<D, _>(
            Duration::from_secs(1),
            publisher.send(msg(&[&i.to_string()])),
        )
        .await
        .expect("PUB never blocks")
        .unwrap();
    }
    for i in 0..12 {
        assert_eq!(recv::<D>(&sub).await, msg(&[&i.to_string()]));
    }
    let extra = timeout::<D, _>(Duration::from_millis(100), sub.recv()).await;
    assert!(extra.is_none(), "kept more than 5 + 7: {extra:?}");
    publisher.close().await;
    sub.close().await;
}

/// PUB/SUB filtering (S1, S2) and XPUB's subscription messages (S4, S5) over inproc: a SUB's
/// subscriptions reach the publisher, which sends it only what matches; cancelling stops it.
pub async fn inproc_pubsub_filtering<D: Driver>() {
    let xpub = sock::<D>(SocketType::XPub);
    let sub = sock::<D>(SocketType::Sub);
    let ep = inproc_endpoint("filter");
    sub.connect(&ep).await.unwrap();
    sub.subscribe(b"a").await.unwrap();
    xpub.bind(&ep).await.unwrap();
    assert_eq!(
        recv::<D>(&xpub).await,
        Msg::from(&b"\x01a"[..]),
        "XPUB notice"
    );
    for m in ["b1", "a1", "c1", "a2"] {
        xpub.send(msg(&[m, "body"])).await.unwrap();
    }
    assert_eq!(recv::<D>(&sub).await, msg(&["a1", "body"]));
    assert_eq!(recv::<D>(&sub).await, msg(&["a2", "body"]));
    sub.unsubscribe(b"a").await.unwrap();
    assert_eq!(
        recv::<D>(&xpub).await,
        Msg::from(&b"\x00a"[..]),
        "XPUB cancel notice"
    );
    xpub.send(msg(&["a3"])).await.unwrap();
    let none = timeout::<D, _>(Duration::from_millis(100), sub.recv()).await;
    assert!(none.is_none(), "cancelled topic delivered: {none:?}");
    // A subscriber that goes away: XPUB reports the topics nobody holds any more.
    sub.subscribe(b"z").await.unwrap();
    assert_eq!(recv::<D>(&xpub).await, Msg::from(&b"\x01z"[..]));
    sub.close().await;
    assert_eq!(
        recv::<D>(&xpub).await,
        Msg::from(&b"\x00z"[..]),
        "unsubscribed on close"
    );
    xpub.close().await;
}

/// ROUTER identities over inproc: a DEALER's routing id as it set it, a generated one (five
/// bytes, `0x00` first) otherwise; replies routed by them; a second peer with an identity in
/// use is ignored (R3/R4).
pub async fn inproc_router_ids<D: Driver>() {
    let router = sock::<D>(SocketType::Router);
    let ep = inproc_endpoint("router");
    router.bind(&ep).await.unwrap();
    let mut o = SocketOptions::default();
    o.connection.routing_id = bytes::Bytes::from_static(b"worker-1");
    let named = D::socket(SocketType::Dealer, o.clone());
    let anon = sock::<D>(SocketType::Dealer);
    named.connect(&ep).await.unwrap();
    anon.connect(&ep).await.unwrap();
    named.send(msg(&["from named"])).await.unwrap();
    anon.send(msg(&["from anon"])).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut m = recv::<D>(&router).await;
        let id = m.pop_front().unwrap();
        match &m[0][..] {
            b"from named" => assert_eq!(&id[..], b"worker-1"),
            b"from anon" => {
                assert_eq!(id.len(), 5, "generated id");
                assert_eq!(id[0], 0);
            }
            other => panic!("unexpected {other:?}"),
        }
        ids.push(id);
    }
    for id in &ids {
        let mut reply = msg(&["reply"]);
        reply.push_front(id.clone());
        router.send(reply).await.unwrap();
    }
    assert_eq!(recv::<D>(&named).await, msg(&["reply"]));
    assert_eq!(recv::<D>(&anon).await, msg(&["reply"]));
    // A live duplicate of "worker-1" is kept but ignored, as libzmq 4.3 does.
    let dup = D::socket(SocketType::Dealer, o);
    dup.connect(&ep).await.unwrap();
    dup.send(msg(&["from dup"])).await.unwrap();
    named.send(msg(&["named again"])).await.unwrap();
    let mut m = recv::<D>(&router).await;
    assert_eq!(&m.pop_front().unwrap()[..], b"worker-1");
    assert_eq!(m, msg(&["named again"]));
    let none = timeout::<D, _>(Duration::from_millis(100), router.recv()).await;
    assert!(
        none.is_none(),
        "the duplicate's message was delivered: {none:?}"
    );
    for s in [named, anon, dup, router] {
        s.close().await;
    }
}

/// Names: binding a taken name fails with `AddrInUse` naming it; `unbind` frees it (another
/// socket may bind it) while the connection already made stays; closing frees it too; a
/// connection made before the name was bound waits for it; `disconnect` ends a connection.
pub async fn inproc_names_unbind_disconnect<D: Driver>() {
    let ep = inproc_endpoint("names");
    let first = sock::<D>(SocketType::Pull);
    first.bind(&ep).await.unwrap();
    let second = sock::<D>(SocketType::Pull);
    let err = second.bind(&ep).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(
        err.to_string().contains(&ep),
        "the error names the endpoint: {err}"
    );
    assert!(
        first.bind("inproc://").await.is_err(),
        "an empty name is refused"
    );
    let push = sock::<D>(SocketType::Push);
    push.connect(&ep).await.unwrap();
    push.send(msg(&["one"])).await.unwrap();
    assert_eq!(recv::<D>(&first).await, msg(&["one"]));
    // Unbind: the name is free, the connection stays.
    first.unbind(&ep).await.unwrap();
    assert!(first.unbind(&ep).await.is_err());
    second.bind(&ep).await.unwrap();
    push.send(msg(&["two"])).await.unwrap();
    assert_eq!(recv::<D>(&first).await, msg(&["two"]));
    // A second connection now reaches the new binder: PUSH round-robins over both.
    let push2 = sock::<D>(SocketType::Push);
    push2.connect(&ep).await.unwrap();
    push2.send(msg(&["three"])).await.unwrap();
    assert_eq!(recv::<D>(&second).await, msg(&["three"]));
    // Disconnect: nothing more reaches `first` from `push`, whose queue is gone.
    push.disconnect(&ep).await.unwrap();
    let none = timeout::<D, _>(Duration::from_millis(50), push.send(msg(&["four"]))).await;
    assert!(none.is_none(), "PUSH without a peer waits");
    // Close frees the name.
    second.close().await;
    // push2 notices (its peer is gone) and keeps what it sends from now on for the redial.
    D::sleep(Duration::from_millis(30)).await;
    let third = sock::<D>(SocketType::Pull);
    third.bind(&ep).await.unwrap();
    // push2 redials (as over tcp) and reaches the new binder.
    push2.send(msg(&["five"])).await.unwrap();
    assert_eq!(recv::<D>(&third).await, msg(&["five"]));
    for s in [first, third, push, push2] {
        s.close().await;
    }
}

/// Close with messages queued: what a PUSH sent before `close` is delivered (linger), even
/// when the PULL takes it only after the PUSH is closed; a PUSH closed before anyone bound
/// gives up after its linger.
pub async fn inproc_close_with_messages_queued<D: Driver>() {
    let ep = inproc_endpoint("close");
    let pull = D::socket(SocketType::Pull, hwm_options(1000, 10));
    pull.bind(&ep).await.unwrap();
    let push = sock::<D>(SocketType::Push);
    push.connect(&ep).await.unwrap();
    for i in 0..100 {
        push.send(msg(&[&i.to_string()])).await.unwrap();
    }
    // 10 fit the receiver's window; the other 90 wait in the PUSH until it takes some, so the
    // close finishes only while the PULL receives.
    let closing = push.close();
    let receiving = async {
        for i in 0..100 {
            assert_eq!(recv::<D>(&pull).await, msg(&[&i.to_string()]));
        }
    };
    let ((), ()) = crate::util::join(closing, receiving).await;
    // Never bound: linger decides.
    let mut o = SocketOptions::default();
    o.linger = Some(Duration::from_millis(50));
    let lonely = D::socket(SocketType::Push, o);
    lonely.connect(&inproc_endpoint("nobody")).await.unwrap();
    lonely.send(msg(&["lost"])).await.unwrap();
    timeout::<D, _>(Duration::from_secs(2), lonely.close())
        .await
        .expect("close gives up after linger");
    pull.close().await;
}

/// Cancel safety over inproc: `send` at the high-water mark and `recv` raced against short
/// timers, thousands of times: every message arrives once, in order.
pub async fn inproc_cancel_safety<D: Driver>() {
    const N: u64 = 3000;
    let push = D::socket(SocketType::Push, hwm_options(1, 1000));
    let pull = D::socket(SocketType::Pull, hwm_options(1000, 1));
    let ep = inproc_endpoint("cancel");
    pull.bind(&ep).await.unwrap();
    push.connect(&ep).await.unwrap();
    let sender = async {
        let mut i = 0;
        while i < N {
            let sent = D::race(
                push.send(msg(&[&i.to_string()])),
                D::sleep(Duration::from_micros(50)),
            )
            .await;
            if let crate::Either::Left(r) = sent {
                r.unwrap();
                i += 1;
            }
        }
    };
    let receiver = async {
        let mut next = 0;
        while next < N {
            let got = D::race(pull.recv(), D::sleep(Duration::from_micros(50))).await;
            if let crate::Either::Left(m) = got {
                assert_eq!(m.unwrap(), msg(&[&next.to_string()]), "lost or duplicated");
                next += 1;
            }
        }
    };
    crate::util::join(sender, receiver).await;
    push.close().await;
    pull.close().await;
}

/// The monitor over inproc: the binder reports listening and the accepted peer, the connector
/// the connection and the (immediate) handshake; a peer that closes is reported disconnected.
pub async fn inproc_monitor_events<D: Driver>() {
    use crate::{MonitorEvent, SocketEvent};
    let rep = sock::<D>(SocketType::Rep);
    let req = sock::<D>(SocketType::Req);
    let mut rep_events = rep.monitor();
    let mut req_events = req.monitor();
    let ep = inproc_endpoint("monitor");
    rep.bind(&ep).await.unwrap();
    req.connect(&ep).await.unwrap();
    req.send(msg(&["ping"])).await.unwrap();
    assert_eq!(recv::<D>(&rep).await, msg(&["ping"]));
    rep.send(msg(&["pong"])).await.unwrap();
    assert_eq!(recv::<D>(&req).await, msg(&["pong"]));
    let rep_seen = crate::util::drain_events::<D, _>(&mut rep_events).await;
    let req_seen = crate::util::drain_events::<D, _>(&mut req_events).await;
    assert!(
        matches!(&rep_seen[..], [MonitorEvent::Listening { endpoint }, MonitorEvent::Accepted { endpoint: e2, .. }, MonitorEvent::Socket(SocketEvent::HandshakeSucceeded { .. })] if *endpoint == ep && *e2 == ep),
        "{rep_seen:?}"
    );
    assert!(
        matches!(&req_seen[..], [MonitorEvent::Socket(SocketEvent::Connected { endpoint, .. }), MonitorEvent::Socket(SocketEvent::HandshakeSucceeded { info, .. })] if **endpoint == *ep && info.socket_type == SocketType::Rep),
        "{req_seen:?}"
    );
    req.close().await;
    let after = crate::util::drain_events::<D, _>(&mut rep_events).await;
    assert!(
        after
            .iter()
            .any(|e| matches!(e, MonitorEvent::Socket(SocketEvent::Disconnected { .. }))),
        "{after:?}"
    );
    rep.close().await;
}

/// Proof that inproc moves messages, not bytes: a large body received is the very allocation
/// that was sent (no copy, no encode). (That a pair opens no file descriptor is shown by
/// `zmtp-async/tests/inproc_no_fd.rs`, alone in its process: `/proc/self/fd` counts the
/// descriptors of every test running beside it here.)
pub async fn inproc_no_copy<D: Driver>() {
    let pull = sock::<D>(SocketType::Pull);
    let push = sock::<D>(SocketType::Push);
    let ep = inproc_endpoint("nocopy");
    pull.bind(&ep).await.unwrap();
    push.connect(&ep).await.unwrap();
    for size in [1 << 10, 1 << 20, 16 << 20] {
        let body = bytes::Bytes::from(vec![7u8; size]);
        let sent_at = body.as_ptr();
        push.send(Msg::from(body)).await.unwrap();
        let got = recv::<D>(&pull).await;
        assert_eq!(got[0].len(), size);
        assert_eq!(
            got[0].as_ptr(),
            sent_at,
            "the body received is the allocation sent"
        );
    }
    push.close().await;
    pull.close().await;
}
