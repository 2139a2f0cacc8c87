//! What a socket does around the protocol, on every driver: listeners released by `unbind`,
//! `close` bounded by the linger time, ipc files removed, the monitor's events and its end,
//! reading paused at the receive high-water mark and resumed, and the `Stream`/`Sink`
//! interfaces (the futures crate's traits) keeping order and the high-water mark.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::{Sink, Stream};

use crate::util::{join, msg, timeout, within, TempDir};
use crate::{Driver, MonitorEvent, Msg, SocketEvent, SocketOptions, SocketType};

/// `unbind` closes the listening socket: the same endpoint can be bound again at once, and the
/// new listener serves.
pub async fn unbind_releases_the_port<D: Driver>() {
    let pull = D::socket(SocketType::Pull, SocketOptions::default());
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    pull.unbind(&ep).await.expect("unbind");
    let mut rebound = None;
    for _ in 0..50 {
        D::sleep(Duration::from_millis(10)).await;
        if let Ok(e) = pull.bind(&ep).await {
            rebound = Some(e);
            break;
        }
    }
    assert_eq!(rebound.as_deref(), Some(ep.as_str()), "{}", D::NAME);
    let push = D::socket(SocketType::Push, SocketOptions::default());
    push.connect(&ep).await.expect("connect");
    push.send("again").await.expect("send");
    let got = within::<D, _>(Duration::from_secs(5), "recv", pull.recv()).await;
    assert_eq!(got.expect("recv"), msg(&["again"]));
}

/// `close` with a message that can never leave returns once the linger time has passed.
pub async fn close_gives_up_after_linger<D: Driver>() {
    let mut options = SocketOptions::default();
    options.linger = Some(Duration::from_millis(50));
    let push = D::socket(SocketType::Push, options);
    // Nobody listens there: the message can never leave.
    push.connect("tcp://127.0.0.1:9").await.expect("connect");
    push.send("stuck").await.expect("send");
    let started = Instant::now();
    within::<D, _>(Duration::from_secs(5), "close", push.close()).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{}: close took {:?} with a 50 ms linger",
        D::NAME,
        started.elapsed()
    );
}

/// The ipc socket file goes when the socket closes; a stale file is replaced on bind.
pub async fn ipc_file_removed_on_close<D: Driver>() {
    let dir = TempDir::new();
    let ep = dir.ipc("life.sock");
    let path = std::path::PathBuf::from(ep.strip_prefix("ipc://").expect("ipc endpoint"));
    let rep = D::socket(SocketType::Rep, SocketOptions::default());
    rep.bind(&ep).await.expect("bind");
    assert!(path.exists());
    rep.close().await;
    assert!(
        !path.exists(),
        "{}: the ipc file outlived its socket",
        D::NAME
    );
    std::fs::write(&path, b"stale").expect("write");
    let rep = D::socket(SocketType::Rep, SocketOptions::default());
    assert_eq!(rep.bind(&ep).await.expect("bind over a stale file"), ep);
    rep.close().await;
}

/// The monitor reports listening, the accepted connection and its handshake, in that order,
/// and ends after the socket closes.
pub async fn monitor_reports_and_ends<D: Driver>() {
    let rep = D::socket(SocketType::Rep, SocketOptions::default());
    let mut events = rep.monitor();
    let ep = rep.bind("tcp://127.0.0.1:*").await.expect("bind");
    let req = D::socket(SocketType::Req, SocketOptions::default());
    req.connect(&ep).await.expect("connect");
    req.send("hi").await.expect("send");
    within::<D, _>(Duration::from_secs(5), "recv", rep.recv())
        .await
        .expect("recv");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = within::<D, _>(Duration::from_secs(5), "an event", events.next()).await;
        seen.push(e.expect("the monitor ended early"));
    }
    assert_eq!(
        seen[0],
        MonitorEvent::Listening {
            endpoint: ep.clone()
        }
    );
    assert!(matches!(&seen[1], MonitorEvent::Accepted { endpoint, .. } if *endpoint == ep));
    assert!(matches!(
        &seen[2],
        MonitorEvent::Socket(SocketEvent::HandshakeSucceeded { .. })
    ));
    drop(req);
    rep.close().await;
    // After close: maybe a Disconnected, then the end.
    let mut rest = Vec::new();
    while let Some(e) = within::<D, _>(Duration::from_secs(5), "the end", events.next()).await {
        rest.push(e);
    }
    assert!(rest.len() <= 2, "{}: unexpected events: {rest:?}", D::NAME);
}

/// A PULL with a receive high-water mark of 5 under a fast PUSH: reading pauses while the
/// application sleeps, resumes as it takes messages, and every message arrives in order.
pub async fn slow_receiver_pauses_and_resumes<D: Driver>() {
    const N: u32 = 20_000;
    let mut options = SocketOptions::default();
    options.connection.rcvhwm = 5;
    let pull = D::socket(SocketType::Pull, options);
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let push = D::socket(SocketType::Push, SocketOptions::default());
    push.connect(&ep).await.expect("connect");
    let send = async {
        for i in 0..N {
            push.send(i.to_be_bytes().to_vec()).await.expect("send");
        }
    };
    let receive = async {
        // Let the receive high-water mark fill up and reading pause, then drain everything.
        D::sleep(Duration::from_millis(50)).await;
        for i in 0..N {
            let m = within::<D, _>(Duration::from_secs(5), "reading to resume", pull.recv())
                .await
                .expect("recv");
            assert_eq!(&m[0][..], &i.to_be_bytes());
        }
    };
    join(send, receive).await;
    push.close().await;
}

/// Sends through the `Sink` interface: `poll_ready`, `start_send`, `poll_flush`.
async fn sink_send<S: Sink<Msg, Error = std::io::Error> + Unpin>(sink: &mut S, m: Msg) {
    poll_fn(|cx| Pin::new(&mut *sink).poll_ready(cx))
        .await
        .expect("ready");
    Pin::new(&mut *sink).start_send(m).expect("start_send");
    poll_fn(|cx| Pin::new(&mut *sink).poll_flush(cx))
        .await
        .expect("flush");
}

/// A PUSH used as a `Sink` feeds a PULL used as a `Stream`, in order; with nothing left, the
/// stream is pending, not ended.
pub async fn stream_and_sink_in_order<D: Driver>() {
    let mut pull = D::socket(SocketType::Pull, SocketOptions::default());
    let ep = pull.bind("tcp://127.0.0.1:*").await.expect("bind");
    let mut push = D::socket(SocketType::Push, SocketOptions::default());
    push.connect(&ep).await.expect("connect");
    for i in 0..1000u32 {
        sink_send(&mut push, Msg::from(i.to_be_bytes().to_vec())).await;
    }
    for i in 0..1000u32 {
        let next = within::<D, _>(
            Duration::from_secs(5),
            "the stream",
            poll_fn(|cx| Pin::new(&mut pull).poll_next(cx)),
        )
        .await
        .expect("sockets never end their stream")
        .expect("recv");
        assert_eq!(&next[0][..], &i.to_be_bytes());
    }
    let pending = poll_fn(|cx| match Pin::new(&mut pull).poll_next(cx) {
        Poll::Pending => Poll::Ready(true),
        Poll::Ready(_) => Poll::Ready(false),
    })
    .await;
    assert!(pending, "{}: the stream yielded with nothing sent", D::NAME);
}

/// A `Sink` at the high-water mark: `poll_flush` waits with the message still buffered.
pub async fn sink_waits_at_the_high_water_mark<D: Driver>() {
    let mut options = SocketOptions::default();
    options.sndhwm = 2;
    let mut push = D::socket(SocketType::Push, options);
    // A peer that never answers: the queue fills at the HWM.
    push.connect("tcp://127.0.0.1:9").await.expect("connect");
    sink_send(&mut push, msg(&["a"])).await;
    sink_send(&mut push, msg(&["b"])).await;
    let ready = timeout::<D, _>(
        Duration::from_millis(100),
        poll_fn(|cx| Sink::<Msg>::poll_ready(Pin::new(&mut push), cx)),
    )
    .await;
    assert!(ready.is_some(), "poll_ready with no buffered item is ready");
    Sink::<Msg>::start_send(Pin::new(&mut push), msg(&["c"])).expect("start_send");
    let flushed = timeout::<D, _>(
        Duration::from_millis(100),
        poll_fn(|cx| Sink::<Msg>::poll_flush(Pin::new(&mut push), cx)),
    )
    .await;
    assert!(
        flushed.is_none(),
        "{}: the third message waits at the high-water mark",
        D::NAME
    );
}
