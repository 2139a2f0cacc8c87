//! The socket API as libzmq's users expect it (issue 21): closing a shared socket wakes whoever
//! waits on it with [`Error::Terminated`] (libzmq's `ETERM`); the linger time, chosen after
//! creation or at close time, bounds `close` and ends a dropped socket's dialling; the
//! process-wide [`zmtp_async::shutdown`]; errors a program matches on (the endpoint named, a
//! full queue told apart from no peer, misuse from what a type cannot do, why a dial failed);
//! every monitor gets every event, unbinding and closing included, and events name the remote
//! address; borrowed data is sent without a `'static` bound.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::peer::{Peer, PeerKind};
use crate::util::{free_tcp_endpoint, join, timeout, wait_event, within};
use zmtp_proto::EndpointOp;

use crate::{Driver, Error, MonitorEvent, Msg, SocketEvent, SocketOptions, SocketType};

/// The socket's error inside an `io::Error` a call returned.
fn ours(e: &std::io::Error) -> &Error {
    Error::of(e).unwrap_or_else(|| panic!("not a socket error: {e:?}"))
}

/// `close` (through `&self`) while one future waits in `recv` and another in `send` (a bound
/// PUSH with no peer blocks): both end with `Error::Terminated`, as does every later call; as a
/// `Stream` the socket ends; closing again is harmless.
pub async fn close_wakes_waiters<D: Driver>() {
    let pull = D::socket(SocketType::Pull, SocketOptions::default());
    pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let push = D::socket(SocketType::Push, SocketOptions::default());
    push.bind("tcp://127.0.0.1:*").await.expect("bind");
    let waiters = join(pull.recv(), push.send("nobody takes this"));
    let closer = async {
        D::sleep(Duration::from_millis(50)).await;
        join(pull.close(), push.close()).await;
    };
    let ((recv, send), ()) = within::<D, _>(
        Duration::from_secs(5),
        "close to wake the waiters",
        join(waiters, closer),
    )
    .await;
    let recv = recv.expect_err("recv after close");
    assert_eq!(ours(&recv), &Error::Terminated, "{}: recv", D::NAME);
    assert_eq!(recv.kind(), ErrorKind::ConnectionAborted);
    let send = send.expect_err("send after close");
    assert_eq!(ours(&send), &Error::Terminated, "{}: send", D::NAME);
    // Every later call.
    assert_eq!(ours(&pull.recv().await.unwrap_err()), &Error::Terminated);
    assert_eq!(ours(&pull.try_recv().unwrap_err()), &Error::Terminated);
    assert_eq!(push.try_send("late").unwrap_err().error, Error::Terminated);
    assert_eq!(
        ours(&push.send("late").await.unwrap_err()),
        &Error::Terminated
    );
    let bind = push.bind("tcp://127.0.0.1:*").await.unwrap_err();
    assert_eq!(ours(&bind), &Error::Terminated);
    let mut pull = pull;
    assert!(pull.next().await.is_none(), "the Stream ends once closed");
    within::<D, _>(Duration::from_secs(1), "a second close", pull.close()).await;
}

/// A REQ whose request waits for a server that never comes: `close_with_linger` returns after
/// about that linger although the linger option is infinite (the default), and `set_linger`
/// after creation bounds a plain `close`.
pub async fn close_with_linger_bounds_close<D: Driver>() {
    let absent = free_tcp_endpoint();
    let req = D::socket(SocketType::Req, SocketOptions::default());
    assert_eq!(req.linger(), None, "libzmq's default: forever");
    req.connect(&absent).await.expect("connect");
    req.send("never answered").await.expect("send");
    let started = Instant::now();
    within::<D, _>(
        Duration::from_secs(5),
        "close_with_linger",
        req.close_with_linger(Duration::from_millis(100)),
    )
    .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(90) && took < Duration::from_secs(1),
        "{}: close_with_linger(100 ms) took {took:?}",
        D::NAME
    );

    let req = D::socket(SocketType::Req, SocketOptions::default());
    req.connect(&absent).await.expect("connect");
    req.send("never answered").await.expect("send");
    req.set_linger(Some(Duration::from_millis(50)));
    assert_eq!(req.linger(), Some(Duration::from_millis(50)));
    let started = Instant::now();
    within::<D, _>(Duration::from_secs(5), "close", req.close()).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{}: close after set_linger(50 ms) took {:?}",
        D::NAME,
        started.elapsed()
    );
}

/// A dropped REQ with a request queued for an absent server stops dialling once its linger
/// (set after creation) has run out, and its request is discarded: a server that starts 200 ms
/// later receives nothing (it would within one `reconnect_ivl`, 100 ms, of a socket still
/// dialling).
pub async fn dropped_socket_stops_dialling<D: Driver>() {
    const LINGER: Duration = Duration::from_millis(100);
    let absent = free_tcp_endpoint();
    let req = D::socket(SocketType::Req, SocketOptions::default());
    req.set_linger(Some(LINGER));
    req.connect(&absent).await.expect("connect");
    req.send("stale request").await.expect("send");
    drop(req);
    D::sleep(LINGER + Duration::from_millis(200)).await;
    let rep = D::socket(SocketType::Rep, SocketOptions::default());
    rep.bind(&absent).await.expect("bind the late server");
    let got = timeout::<D, _>(Duration::from_millis(700), rep.recv()).await;
    assert!(
        got.is_none(),
        "{}: the dropped socket delivered {got:?} after its linger",
        D::NAME
    );
}

/// The control: the same dropped REQ with an infinite linger keeps dialling and delivers its
/// request to the server that starts late (libzmq does the same until its context is
/// terminated): what `dropped_socket_stops_dialling` shows is the linger's doing.
pub async fn dropped_socket_lingers_forever_by_default<D: Driver>() {
    let absent = free_tcp_endpoint();
    let req = D::socket(SocketType::Req, SocketOptions::default());
    req.connect(&absent).await.expect("connect");
    req.send("late but delivered").await.expect("send");
    drop(req);
    D::sleep(Duration::from_millis(300)).await;
    let rep = D::socket(SocketType::Rep, SocketOptions::default());
    rep.bind(&absent).await.expect("bind the late server");
    let got = within::<D, _>(Duration::from_secs(5), "the request", rep.recv()).await;
    assert_eq!(&got.expect("recv")[0][..], b"late but delivered");
    // Delivered, the dropped REQ has nothing left to flush and ends by itself.
    rep.close_with_linger(Duration::ZERO).await;
}

/// The process-wide [`zmtp_async::shutdown`]: a `recv` waiting on a live socket ends with
/// `Error::Terminated`, a dropped REQ that would linger forever stops dialling (the server that
/// starts later receives nothing), and [`zmtp_async::terminate`] returns once every driver task
/// has ended. Run alone in its process (the
/// shutdown reaches every socket of the process): `tests/shutdown.rs` of each driver.
pub async fn process_shutdown<D: Driver>() {
    let absent = free_tcp_endpoint();
    let req = D::socket(SocketType::Req, SocketOptions::default());
    req.connect(&absent).await.expect("connect");
    req.send("stale request").await.expect("send");
    drop(req); // infinite linger: it keeps dialling
    let pull = D::socket(SocketType::Pull, SocketOptions::default());
    pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    D::sleep(Duration::from_millis(50)).await;
    assert!(zmtp_async::running_sockets() >= 2);
    let stop = async {
        D::sleep(Duration::from_millis(50)).await;
        zmtp_async::shutdown(Duration::ZERO)
    };
    let (recv, asked) = within::<D, _>(
        Duration::from_secs(5),
        "shutdown to wake recv",
        join(pull.recv(), stop),
    )
    .await;
    assert!(asked >= 2, "{}: {asked} sockets asked", D::NAME);
    assert_eq!(ours(&recv.unwrap_err()), &Error::Terminated, "{}", D::NAME);
    within::<D, _>(Duration::from_secs(1), "close after shutdown", pull.close()).await;
    drop(pull);
    // `terminate` (libzmq's `zmq_ctx_term`) waits for every driver task to end: the dropped
    // REQ's included.
    within::<D, _>(
        Duration::from_secs(2),
        "terminate",
        zmtp_async::terminate(Duration::ZERO),
    )
    .await;
    assert_eq!(zmtp_async::running_sockets(), 0, "{}", D::NAME);
    // Sockets made after the shutdown work.
    let rep = D::socket(SocketType::Rep, SocketOptions::default());
    rep.bind(&absent).await.expect("bind the late server");
    let got = timeout::<D, _>(Duration::from_millis(500), rep.recv()).await;
    assert!(
        got.is_none(),
        "{}: delivered {got:?} after shutdown",
        D::NAME
    );
}

/// Errors a program matches on: endpoint calls name their endpoint and say why in their kind;
/// REQ misuse (`InvalidState`, kind `InvalidInput`) differs from what a type cannot do
/// (`NotSupported`, kind `Unsupported`); a PUSH with no peer says `NoPeer`, a full one
/// `WouldBlock`.
pub async fn errors_to_match_on<D: Driver>() {
    let pull = D::socket(SocketType::Pull, SocketOptions::default());
    let taken = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let other = D::socket(SocketType::Pull, SocketOptions::default());
    let e = other.bind(&taken).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
    assert!(
        matches!(ours(&e), Error::Endpoint { operation: EndpointOp::Bind, endpoint, kind: ErrorKind::AddrInUse, .. } if *endpoint == taken),
        "{e:?}"
    );
    assert!(e.to_string().contains(&taken), "{e}");
    // A name that is no host (nor interface): a kind of its own, not `Uncategorized`.
    let e = other
        .bind("tcp://no-such-host.invalid:*")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{e:?}");
    assert!(
        matches!(ours(&e), Error::Endpoint { operation: EndpointOp::Bind, endpoint, .. } if endpoint == "tcp://no-such-host.invalid:*")
    );
    let e = other.bind("udp://127.0.0.1:1").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(matches!(
        ours(&e),
        Error::Endpoint {
            operation: EndpointOp::Bind,
            ..
        }
    ));
    let e = other.connect("tcp://*:5555").await.unwrap_err();
    assert!(
        matches!(ours(&e), Error::Endpoint { operation: EndpointOp::Connect, endpoint, kind: ErrorKind::InvalidInput, .. } if endpoint == "tcp://*:5555")
    );
    let e = other.unbind(&taken).await.unwrap_err();
    assert!(matches!(
        ours(&e),
        Error::Endpoint {
            operation: EndpointOp::Unbind,
            kind: ErrorKind::NotFound,
            ..
        }
    ));
    let e = other.disconnect("tcp://127.0.0.1:1").await.unwrap_err();
    assert!(matches!(
        ours(&e),
        Error::Endpoint {
            operation: EndpointOp::Disconnect,
            kind: ErrorKind::NotFound,
            ..
        }
    ));

    // REQ misuse against what PUB cannot do.
    let req = D::socket(SocketType::Req, SocketOptions::default());
    let e = req.recv().await.unwrap_err();
    assert!(matches!(ours(&e), Error::InvalidState(_)), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let publisher = D::socket(SocketType::Pub, SocketOptions::default());
    let e = publisher.recv().await.unwrap_err();
    assert!(matches!(ours(&e), Error::NotSupported(_)), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Unsupported);

    // No peer against a full queue.
    let mut options = SocketOptions::default();
    options.sndhwm = 1;
    let push = D::socket(SocketType::Push, options);
    let refused = push.try_send("nobody").unwrap_err();
    assert_eq!(refused.error, Error::NoPeer, "{}", refused);
    assert!(refused.to_string().contains("no peer"), "{refused}");
    assert_eq!(
        std::io::Error::from(refused.error.clone()).kind(),
        ErrorKind::WouldBlock
    );
    push.connect(&free_tcp_endpoint()).await.expect("connect");
    push.try_send("queued")
        .expect("the connect-side peer takes one");
    assert_eq!(push.try_send("full").unwrap_err().error, Error::WouldBlock);
    push.close_with_linger(Duration::ZERO).await;
}

/// `ConnectRetried` carries why the dial failed: a refused connection (`ConnectionRefused`)
/// and a host name that does not resolve (`NotFound`), each naming the endpoint.
pub async fn connect_retried_says_why<D: Driver>() {
    for (endpoint, kind) in [
        (free_tcp_endpoint(), ErrorKind::ConnectionRefused),
        (
            "tcp://no-such-host.invalid:5555".to_owned(),
            ErrorKind::NotFound,
        ),
    ] {
        let push = D::socket(SocketType::Push, SocketOptions::default());
        let mut events = push.monitor();
        push.connect(&endpoint).await.expect("connect");
        let e = wait_event::<D, _>(
            &mut events,
            Duration::from_secs(10),
            "ConnectRetried",
            |e| matches!(e, SocketEvent::ConnectRetried { .. }),
        )
        .await;
        let SocketEvent::ConnectRetried { error, .. } = e else {
            unreachable!()
        };
        match &error {
            Error::Endpoint {
                endpoint: named,
                kind: k,
                reason,
                ..
            } => {
                assert_eq!(*named, endpoint);
                assert_eq!(*k, kind, "{}: {endpoint}: {reason}", D::NAME);
            }
            other => panic!("{}: {endpoint}: cause {other:?}", D::NAME),
        }
        push.close_with_linger(Duration::ZERO).await;
    }
}

/// Every monitor gets every event: two monitors see listening, the listener closed by
/// `unbind` and, at close, the other listener closed and `Closed`, then their streams end.
pub async fn every_monitor_gets_every_event<D: Driver>() {
    let pull = D::socket(SocketType::Pull, SocketOptions::default());
    let mut first = pull.monitor();
    let mut second = pull.monitor();
    let a = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let b = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    pull.unbind(&a).await.expect("unbind");
    pull.close().await;
    let expected = vec![
        MonitorEvent::Listening {
            endpoint: a.clone(),
        },
        MonitorEvent::Listening {
            endpoint: b.clone(),
        },
        MonitorEvent::ListenerClosed { endpoint: a },
        MonitorEvent::ListenerClosed { endpoint: b },
        MonitorEvent::Closed,
    ];
    for events in [&mut first, &mut second] {
        let mut seen = Vec::new();
        while let Some(e) = within::<D, _>(Duration::from_secs(5), "an event", events.next()).await
        {
            seen.push(e);
        }
        assert_eq!(seen, expected, "{}", D::NAME);
    }
}

/// The remote address of `e`, for the events that carry one.
fn remote_of(e: &MonitorEvent) -> Option<Option<&str>> {
    match e {
        MonitorEvent::Accepted { remote, .. }
        | MonitorEvent::Socket(
            SocketEvent::HandshakeSucceeded { remote, .. }
            | SocketEvent::HandshakeFailed { remote, .. }
            | SocketEvent::Disconnected { remote, .. },
        ) => Some(remote.as_deref()),
        _ => None,
    }
}

/// Monitor events carry the remote address: on our bound PULL, the accepted connection's
/// `Accepted`, `HandshakeSucceeded` and (when the peer goes) `Disconnected` all name the
/// peer's `tcp://127.0.0.1:port`; on our connecting PUSH, the endpoint it dialled. The peer
/// is libzmq (its address comes from the operating system) and ours.
async fn events_carry_remote<D: Driver>(kind: PeerKind) {
    let pull = D::socket(SocketType::Pull, SocketOptions::default());
    let mut events = pull.monitor();
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let peer = Peer::<D>::new(kind, SocketType::Push);
    peer.connect(&ep).await;
    peer.send(Msg::from("hello")).await;
    within::<D, _>(Duration::from_secs(5), "recv", pull.recv())
        .await
        .expect("recv");
    peer.close().await;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|e| matches!(e, MonitorEvent::Socket(SocketEvent::Disconnected { .. })))
    {
        let e = within::<D, _>(Duration::from_secs(5), "Disconnected", events.next()).await;
        seen.push(e.expect("the monitor ended early"));
    }
    let remotes: Vec<Option<&str>> = seen.iter().filter_map(remote_of).collect();
    assert_eq!(remotes.len(), 3, "{}: {seen:?}", D::NAME);
    let first = remotes[0].expect("the accepted peer's address");
    assert!(
        first.starts_with("tcp://127.0.0.1:") && first != ep,
        "{}: remote {first} (listening on {ep})",
        D::NAME
    );
    assert!(
        remotes.iter().all(|r| *r == Some(first)),
        "{}: {remotes:?}",
        D::NAME
    );

    // The dialling side: the endpoint dialled.
    let rep = D::socket(SocketType::Rep, SocketOptions::default());
    let ep = rep.bind("tcp://127.0.0.1:*").await.expect("bind");
    let req = D::socket(SocketType::Req, SocketOptions::default());
    let mut events = req.monitor();
    req.connect(&ep).await.expect("connect");
    let e = wait_event::<D, _>(&mut events, Duration::from_secs(5), "a handshake", |e| {
        matches!(e, SocketEvent::HandshakeSucceeded { .. })
    })
    .await;
    assert!(
        matches!(&e, SocketEvent::HandshakeSucceeded { remote: Some(r), .. } if **r == *ep),
        "{}: {e:?}",
        D::NAME
    );
}

/// [`events_carry_remote`] with a libzmq peer.
pub async fn events_carry_remote_libzmq<D: Driver>() {
    events_carry_remote::<D>(PeerKind::Libzmq).await;
}

/// [`events_carry_remote`] with a peer of ours.
pub async fn events_carry_remote_ours<D: Driver>() {
    events_carry_remote::<D>(PeerKind::Ours).await;
}

/// Borrowed data is sent without a `'static` bound, copied as `zmq_send` copies: a `&str` from
/// a `String`, a slice of a buffer, a `&Vec<u8>`, an array of borrowed parts (multi-frame),
/// through `send` and `try_send`, from a DEALER (the coalescing path) and a REQ (the message
/// path), received intact by libzmq; the buffers are reused between sends.
pub async fn borrowed_sends_libzmq<D: Driver>() {
    let router = Peer::<D>::new(PeerKind::Libzmq, SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:*").await;
    let dealer = D::socket(SocketType::Dealer, SocketOptions::default());
    dealer.connect(&ep).await.expect("connect");
    let mut line = String::new();
    let mut buf = vec![0u8; 10_000];
    for i in 0..3u8 {
        line.clear();
        line.push_str(&format!("line {i}"));
        buf.fill(i);
        dealer.send(line.as_str()).await.expect("send &str");
        dealer.send(&buf[..100]).await.expect("send &[u8]");
        dealer.send(&buf).await.expect("send &Vec<u8> (10 kB)");
        dealer
            .send([line.as_str(), "", &line[..4]])
            .await
            .expect("send borrowed parts");
        let bytes: &[u8] = &buf[..3];
        dealer.send([bytes, bytes]).await.expect("send [&[u8]; 2]");
        loop {
            match dealer.try_send(line.as_str()) {
                Ok(()) => break,
                Err(e) => assert_eq!(e.error, Error::NoPeer, "{}", D::NAME),
            }
            D::sleep(Duration::from_millis(5)).await;
        }
        let expected: [Vec<Vec<u8>>; 6] = [
            vec![line.clone().into_bytes()],
            vec![vec![i; 100]],
            vec![vec![i; 10_000]],
            vec![line.clone().into_bytes(), vec![], b"line".to_vec()],
            vec![vec![i; 3], vec![i; 3]],
            vec![line.clone().into_bytes()],
        ];
        for want in expected {
            let got = router.recv().await;
            let frames: Vec<Vec<u8>> = got.iter().skip(1).map(|f| f.to_vec()).collect();
            assert_eq!(frames, want, "{}: round {i}", D::NAME);
        }
    }
    // REQ takes the message path (an envelope is added), borrowed all the same.
    let rep = Peer::<D>::new(PeerKind::Libzmq, SocketType::Rep);
    let ep = rep.bind("tcp://127.0.0.1:*").await;
    let req = D::socket(SocketType::Req, SocketOptions::default());
    req.connect(&ep).await.expect("connect");
    let question = String::from("borrowed question");
    req.send(question.as_str()).await.expect("send");
    assert_eq!(rep.recv().await, Msg::from(question.clone()));
    rep.send(Msg::from("answer")).await;
    let answer = within::<D, _>(Duration::from_secs(5), "the reply", req.recv()).await;
    assert_eq!(answer.expect("recv"), Msg::from("answer"));
    router.close().await;
    rep.close().await;
}
