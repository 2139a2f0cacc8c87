//! The proxy ([`zmtp_async::Proxy`], libzmq's `zmq_proxy`/`zmq_proxy_steerable`) with libzmq
//! 4.3.5 peers (pyzmq, `conformance/py/proxy_peer.py`) on both ends: a queue (ROUTER↔DEALER,
//! REQ clients and a REP worker), a forwarder (XSUB↔XPUB: the subscription travels back
//! through the proxy), a streamer (PULL→PUSH) with a capture socket, steering (PAUSE, RESUME,
//! STATISTICS, an unknown command, TERMINATE over a REP control socket), high-water marks
//! holding back a producer when the consumer stops reading, and the proxy's future dropped
//! every millisecond without losing or duplicating a message. TCP and IPC mixed.

use std::time::Duration;

use zmtp_async::Proxy;

use crate::pyzmq::PyPeer;
use crate::util::{bind_endpoint, timeout, TempDir, Transport};
use crate::{Driver, Either, Msg, Sock, SocketOptions, SocketType};

const LIMIT: Duration = Duration::from_secs(30);

fn socket<D: Driver>(ty: SocketType) -> Sock<D> {
    let mut o = SocketOptions::default();
    o.linger = Some(Duration::from_secs(2));
    D::socket(ty, o)
}

/// Binds a socket of type `ty` on `transport`; returns it and its endpoint.
async fn bound<D: Driver>(
    ty: SocketType,
    options: SocketOptions,
    transport: Transport,
    dir: &TempDir,
    name: &str,
) -> (Sock<D>, String) {
    let s = D::socket(ty, options);
    let ep = s
        .bind(&bind_endpoint(transport, dir, name))
        .await
        .expect("bind");
    (s, ep)
}

fn linger() -> SocketOptions {
    let mut o = SocketOptions::default();
    o.linger = Some(Duration::from_secs(2));
    o
}

/// Runs `proxy` until the libzmq peer passes its scenario; the proxy must not end first.
async fn serve<D: Driver>(proxy: &mut Proxy<'_, D::Runtime>, peer: &mut PyPeer) {
    if let Either::Left(end) = D::race(proxy.run(), peer.passes::<D>(LIMIT)).await {
        peer.fail::<D>(&format!("saw our proxy end early: {end:?}"));
    }
}

/// The streamer scenario's message `i` (as `proxy_peer.py` builds it).
fn streamer_message(i: usize) -> Msg {
    let mut msg = Msg::from(i.to_string().into_bytes());
    for _ in 0..i % 4 {
        msg.push(vec![(i % 256) as u8; (i * 37) % 5000]);
    }
    msg
}

/// A queue: libzmq REQ clients → our ROUTER (tcp) → our DEALER (ipc) → a libzmq REP worker.
pub async fn proxy_queue_libzmq<D: Driver>() {
    let dir = TempDir::new();
    let (front, front_ep) =
        bound::<D>(SocketType::Router, linger(), Transport::Tcp, &dir, "f").await;
    let (back, back_ep) = bound::<D>(SocketType::Dealer, linger(), Transport::Ipc, &dir, "b").await;
    let mut peer = PyPeer::spawn("proxy_peer.py", &["queue", &front_ep, &back_ep, "300"]);
    let mut proxy = Proxy::new(&front, &back);
    serve::<D>(&mut proxy, &mut peer).await;
    let stats = proxy.statistics();
    // 900 requests and 900 replies of 5 frames each way: identity, delimiter, body, empty
    // frame, padding.
    assert_eq!(stats.frontend_received_frames, 900 * 5, "{stats:?}");
    assert_eq!(stats.backend_sent_frames, 900 * 5, "{stats:?}");
    assert_eq!(stats.backend_received_frames, 900 * 5, "{stats:?}");
    assert_eq!(stats.frontend_sent_frames, 900 * 5, "{stats:?}");
}

/// A forwarder: a libzmq PUB → our XSUB (ipc) → our XPUB (tcp) → a libzmq SUB; the SUB's
/// subscription reaches the PUB through the proxy, and filtering holds.
pub async fn proxy_forwarder_libzmq<D: Driver>() {
    let dir = TempDir::new();
    let (front, front_ep) = bound::<D>(SocketType::XSub, linger(), Transport::Ipc, &dir, "f").await;
    let (back, back_ep) = bound::<D>(SocketType::XPub, linger(), Transport::Tcp, &dir, "b").await;
    let mut peer = PyPeer::spawn("proxy_peer.py", &["forwarder", &front_ep, &back_ep, "2000"]);
    let mut proxy = Proxy::new(&front, &back);
    serve::<D>(&mut proxy, &mut peer).await;
    let stats = proxy.statistics();
    assert!(
        stats.backend_received_frames >= 1,
        "the subscription went through: {stats:?}"
    );
    assert_eq!(stats.frontend_sent_frames, stats.backend_received_frames);
}

/// A streamer with a capture socket: a libzmq PUSH → our PULL (tcp) → our PUSH (tcp) → a
/// libzmq PULL; every message also reaches our capture PUSH, read by one of our PULLs.
pub async fn proxy_streamer_capture_libzmq<D: Driver>() {
    const N: usize = 1000;
    let dir = TempDir::new();
    let (front, front_ep) = bound::<D>(SocketType::Pull, linger(), Transport::Tcp, &dir, "f").await;
    let (back, back_ep) = bound::<D>(SocketType::Push, linger(), Transport::Tcp, &dir, "b").await;
    let (capture, capture_ep) =
        bound::<D>(SocketType::Push, linger(), Transport::Ipc, &dir, "c").await;
    let tap = socket::<D>(SocketType::Pull);
    tap.connect(&capture_ep).await.expect("connect");
    let mut peer = PyPeer::spawn(
        "proxy_peer.py",
        &["streamer", &front_ep, &back_ep, &N.to_string()],
    );
    let mut proxy = Proxy::new(&front, &back).with_capture(&capture);
    let tapped = async {
        for i in 0..N {
            let got = tap.recv().await.expect("recv from the capture");
            assert_eq!(got, streamer_message(i), "captured message {i}");
        }
    };
    let both = crate::util::join(peer.passes::<D>(LIMIT), tapped);
    if let Either::Left(end) = D::race(proxy.run(), both).await {
        panic!("{}: the proxy ended early: {end:?}", D::NAME);
    }
    let stats = proxy.statistics();
    assert_eq!(stats.frontend_received_frames, stats.backend_sent_frames);
    assert_eq!(stats.backend_received_frames, 0, "PUSH cannot receive");
    assert_eq!(
        stats.frontend_received_frames,
        (0..N).map(|i| 1 + (i % 4) as u64).sum::<u64>()
    );
}

/// Steering over a REP control socket, driven by a libzmq REQ: PAUSE holds messages back,
/// STATISTICS reports libzmq's eight counters, RESUME releases them, an unknown command is
/// ignored, TERMINATE ends the proxy with `Ok`.
pub async fn proxy_steerable_libzmq<D: Driver>() {
    let dir = TempDir::new();
    let (front, front_ep) = bound::<D>(SocketType::Pull, linger(), Transport::Ipc, &dir, "f").await;
    let (back, back_ep) = bound::<D>(SocketType::Push, linger(), Transport::Tcp, &dir, "b").await;
    let (control, control_ep) =
        bound::<D>(SocketType::Rep, linger(), Transport::Tcp, &dir, "c").await;
    let mut peer = PyPeer::spawn(
        "proxy_peer.py",
        &["steer", &front_ep, &back_ep, &control_ep],
    );
    let mut proxy = Proxy::new(&front, &back).with_control(&control);
    match timeout::<D, _>(LIMIT, proxy.run()).await {
        Some(Ok(())) => {}
        Some(Err(e)) => peer.fail::<D>(&format!("saw our proxy fail: {e}")),
        None => peer.fail::<D>("never had our proxy TERMINATE"),
    }
    peer.passes::<D>(LIMIT).await;
    assert!(!proxy.is_paused());
    assert_eq!(proxy.statistics().to_frames(), [21, 63, 0, 0, 0, 0, 21, 63]);
}

/// High-water marks hold through the proxy: with the libzmq consumer not reading, the proxy
/// stops taking from the frontend, so the libzmq producer blocks after a bounded number of
/// 64 KiB messages (HWM 10 everywhere; the rest is the kernel's socket buffers). Then every
/// message arrives, in order.
pub async fn proxy_hwm_backpressure_libzmq<D: Driver>() {
    let dir = TempDir::new();
    let mut o = linger();
    o.connection.rcvhwm = 10;
    o.sndhwm = 10;
    let (front, front_ep) =
        bound::<D>(SocketType::Pull, o.clone(), Transport::Tcp, &dir, "f").await;
    let (back, back_ep) = bound::<D>(SocketType::Push, o, Transport::Ipc, &dir, "b").await;
    let mut peer = PyPeer::spawn("proxy_peer.py", &["hwm", &front_ep, &back_ep, "65536"]);
    let mut proxy = Proxy::new(&front, &back);
    let blocked = match D::race(proxy.run(), peer.line::<D>("BLOCKED ", LIMIT)).await {
        Either::Left(end) => peer.fail::<D>(&format!("saw our proxy end: {end:?}")),
        Either::Right(n) => n.parse::<u64>().expect("a count"),
    };
    // 10 + 10 in our sockets and the peers' each, plus what the kernel buffers of two
    // connections hold (a few MiB on the loopback).
    assert!(blocked < 1000, "{}: producer sent {blocked}", D::NAME);
    let taken = proxy.statistics().frontend_received_frames;
    assert!(
        taken <= blocked,
        "the proxy took {taken} of {blocked} messages"
    );
    serve::<D>(&mut proxy, &mut peer).await;
    assert_eq!(proxy.statistics().backend_sent_frames, blocked);
}

/// The proxy's future dropped every millisecond while a libzmq streamer pushes 3000 messages
/// through it: each arrives once, in order (the peer checks), and the counters agree.
pub async fn proxy_cancel_safe_libzmq<D: Driver>() {
    const N: usize = 3000;
    let dir = TempDir::new();
    let (front, front_ep) = bound::<D>(SocketType::Pull, linger(), Transport::Tcp, &dir, "f").await;
    let (back, back_ep) = bound::<D>(SocketType::Push, linger(), Transport::Ipc, &dir, "b").await;
    let mut peer = PyPeer::spawn(
        "proxy_peer.py",
        &["streamer", &front_ep, &back_ep, &N.to_string()],
    );
    let mut proxy = Proxy::new(&front, &back);
    let mut cancelled = 0u32;
    while !peer.has_exited() {
        if let Either::Left(end) = D::race(proxy.run(), D::sleep(Duration::from_millis(1))).await {
            panic!("{}: the proxy ended: {end:?}", D::NAME);
        }
        cancelled += 1;
        assert!(
            cancelled < 60_000,
            "{}: the streamer did not finish",
            D::NAME
        );
    }
    peer.passes::<D>(LIMIT).await;
    let stats = proxy.statistics();
    let frames = (0..N).map(|i| 1 + (i % 4) as u64).sum::<u64>();
    assert_eq!(stats.frontend_received_frames, frames, "{stats:?}");
    assert_eq!(stats.backend_sent_frames, frames, "{stats:?}");
}

/// A message its destination refuses for good (an unknown routing id at a `router_mandatory`
/// ROUTER backend) is dropped and not counted as sent; the proxy carries on with the next.
pub async fn proxy_drops_unroutable_ours<D: Driver>() {
    let dir = TempDir::new();
    let (front, front_ep) =
        bound::<D>(SocketType::Dealer, linger(), Transport::Tcp, &dir, "f").await;
    let mut o = linger();
    o.router_mandatory = true;
    let (back, back_ep) = bound::<D>(SocketType::Router, o, Transport::Ipc, &dir, "b").await;
    let mut w = linger();
    w.connection.routing_id = bytes::Bytes::from_static(b"worker");
    let worker = D::socket(SocketType::Dealer, w);
    worker.connect(&back_ep).await.expect("connect");
    // Once the ROUTER has its message, it knows the worker's routing id.
    worker.send("here").await.expect("send");
    let hello = timeout::<D, _>(LIMIT, back.recv()).await.expect("in time");
    assert_eq!(hello.expect("recv"), Msg::from(["worker", "here"]));
    let client = socket::<D>(SocketType::Dealer);
    client.connect(&front_ep).await.expect("connect");
    client.send(["nobody", "lost"]).await.expect("send");
    client.send(["worker", "found"]).await.expect("send");
    let mut proxy = Proxy::new(&front, &back);
    let got = match D::race(proxy.run(), timeout::<D, _>(LIMIT, worker.recv())).await {
        Either::Left(end) => panic!("{}: the proxy ended: {end:?}", D::NAME),
        Either::Right(got) => got.expect("the worker's message in time").expect("recv"),
    };
    assert_eq!(got, Msg::from(["found"]));
    let stats = proxy.statistics();
    assert_eq!(stats.frontend_received_frames, 4, "{stats:?}");
    assert_eq!(stats.backend_sent_frames, 2, "{stats:?}");
}
