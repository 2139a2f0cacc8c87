//! A program written against the driver crates alone: every type it names comes from
//! `driver_tokio` or `driver_compio`, and the same code compiles against either. It names
//! every public type a user must name (socket, options, messages, events, errors, monitor,
//! the runtime, the process-wide shutdown) and matches on the error variants.

use std::io::ErrorKind;
use std::time::Duration;

/// What a program does with each error a socket call can return: the variants it matches on.
/// The `io::Error` every call returns carries one ([`driver_tokio::Error::of`]).
pub fn describe(e: &std::io::Error) -> &'static str {
    use driver_tokio::Error;
    match Error::of(e) {
        Some(Error::Terminated) => "closed: stop using the socket",
        Some(Error::WouldBlock) => "full: try again later",
        Some(Error::NoPeer) => "no peer yet: wait for one",
        Some(Error::InvalidState(_)) => "out of order (REQ/REP): fix the program",
        Some(Error::NotSupported(_)) => "not for this socket type",
        Some(Error::Unroutable) => "no such peer",
        Some(Error::Endpoint {
            kind: ErrorKind::AddrInUse,
            ..
        }) => "endpoint in use: pick another",
        Some(Error::Endpoint {
            kind: ErrorKind::AddrNotAvailable,
            ..
        }) => "no such host or interface",
        Some(Error::Endpoint {
            kind: ErrorKind::InvalidInput,
            ..
        }) => "not an endpoint",
        Some(Error::Endpoint { .. }) => "endpoint refused",
        Some(Error::MessageTooLarge { .. } | Error::TooManyFrames { .. }) => "too large",
        Some(Error::InvalidOption(_)) => "option refused: wrong socket type or out of range",
        Some(_) => "other socket error",
        None => "operating system error",
    }
}

/// A PUSH/PULL exchange, the refusals a program matches on, and the monitor, on tokio.
///
/// ```
/// api_check::tokio_round().unwrap();
/// ```
pub fn tokio_round() -> std::io::Result<()> {
    use driver_tokio::{Error, Frame, Msg, Runtime, SendError, Socket, SocketOptions, SocketType};
    use driver_tokio::{Monitor, MonitorEvent, PeerId, PeerInfo, SocketEvent, Tokio};

    Tokio::block_on(async {
        let mut options = SocketOptions::default();
        options.sndhwm = 1;
        let push = Socket::with_options(SocketType::Push, options);
        // No peer: PUSH hands the message back, and says why.
        let refused: SendError = push.try_send("early").unwrap_err();
        assert!(matches!(refused.error, Error::NoPeer));
        assert_eq!(refused.msg, Msg::from("early"));
        // Options: read back, changed on the live socket, refused for another socket type.
        push.set_options(|o| o.sndhwm = 2)?;
        assert_eq!(push.options().sndhwm, 2);
        let err = push.set_options(|o| o.xpub_nodrop = true).unwrap_err();
        assert_eq!(
            describe(&err),
            "option refused: wrong socket type or out of range"
        );
        assert!(!push.options().xpub_nodrop);
        let mut probing = SocketOptions::default();
        probing.probe_router = true;
        let err = Socket::try_with_options(SocketType::Pub, probing).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let pull = Socket::new(SocketType::Pull);
        let mut events: Monitor = pull.monitor();
        let endpoint = pull.bind("tcp://127.0.0.1:*").await?;
        assert!(matches!(
            events.next().await,
            Some(MonitorEvent::Listening { .. })
        ));
        // The endpoint is taken: an error naming it.
        let err = Socket::new(SocketType::Pull)
            .bind(&endpoint)
            .await
            .unwrap_err();
        assert_eq!(describe(&err), "endpoint in use: pick another");
        push.connect(&endpoint).await?;
        push.send(
            [Frame::from("a"), Frame::from("b")]
                .into_iter()
                .collect::<Msg>(),
        )
        .await?;
        assert_eq!(pull.recv().await?, Msg::from(["a", "b"]));
        // Borrowed data is copied: no 'static needed.
        let line = format!("line {}", 1);
        push.send(line.as_str()).await?;
        push.send([line.as_str(), "tail"]).await?;
        assert_eq!(pull.recv().await?, Msg::from(line.clone()));
        assert_eq!(pull.recv().await?.len(), 2);
        let accepted = events.next().await;
        let peer: PeerId = match accepted {
            Some(MonitorEvent::Accepted { peer, .. }) => peer,
            other => panic!("{other:?}"),
        };
        match events.next().await {
            Some(MonitorEvent::Socket(SocketEvent::HandshakeSucceeded {
                peer: p,
                info,
                remote,
            })) => {
                assert!(remote.is_some_and(|r| r.starts_with("tcp://127.0.0.1:")));
                let info: PeerInfo = info;
                assert_eq!(p, peer);
                assert_eq!(info.socket_type, SocketType::Push);
            }
            other => panic!("{other:?}"),
        }
        // PULL cannot send: an error a program can match on.
        let err = pull.send("no").await.unwrap_err();
        assert_eq!(describe(&err), "not for this socket type");
        // Closing a socket wakes whoever waits on it.
        let req = Socket::new(SocketType::Req);
        let err = req.recv().await.unwrap_err();
        assert_eq!(describe(&err), "out of order (REQ/REP): fix the program");
        pull.close().await;
        let err = pull.recv().await.unwrap_err();
        assert_eq!(describe(&err), "closed: stop using the socket");
        push.close_with_linger(Duration::ZERO).await;
        tokio_sleep(Duration::from_millis(1)).await;
        std::io::Result::Ok(())
    })?
}

async fn tokio_sleep(d: Duration) {
    use driver_tokio::{Runtime, Tokio};
    Tokio::sleep_until(std::time::Instant::now() + d).await;
}

/// The same program on compio, with the linger chosen after creation and the process-wide
/// shutdown.
///
/// ```
/// api_check::compio_round().unwrap();
/// ```
pub fn compio_round() -> std::io::Result<()> {
    use driver_compio::{Compio, Error, Msg, Runtime, SendError, Socket, SocketType};

    Compio::block_on(async {
        let push = Socket::new(SocketType::Push);
        push.set_linger(Some(Duration::from_millis(100)));
        let refused: SendError = push.try_send("early").unwrap_err();
        assert!(matches!(refused.error, Error::NoPeer));
        let pull = Socket::new(SocketType::Pull);
        let endpoint = pull.bind("tcp://127.0.0.1:*").await?;
        push.connect(&endpoint).await?;
        let buf = vec![7u8; 100];
        push.send(&buf[..]).await?;
        assert_eq!(pull.recv().await?, Msg::from(buf));
        let err = pull.bind("tcp://no-such-host.invalid:*").await.unwrap_err();
        assert_eq!(describe(&err), "no such host or interface");
        assert!(driver_compio::running_sockets() >= 2);
        // STREAM (raw TCP): one socket names its connection with `connect_stream`, the other
        // hears `[its id, ""]` when the connection is made, then the raw bytes.
        let server = Socket::new(SocketType::Stream);
        let raw_endpoint = server.bind("tcp://127.0.0.1:*").await?;
        let client = Socket::new(SocketType::Stream);
        let id = client.connect_stream(&raw_endpoint, Some(b"me")).await?;
        assert_eq!(&id[..], b"me");
        client.send([&id[..], &b"raw bytes"[..]]).await?;
        let hello = server.recv().await?;
        assert!(hello.frames()[1].is_empty());
        let data = server.recv().await?;
        assert_eq!(data.frames()[1], b"raw bytes"[..]);
        std::io::Result::Ok(())
    })?
}

/// Stops every socket of the process (`driver_tokio::shutdown`, libzmq's context term): a
/// `recv` waiting ends with `Error::Terminated`. It reaches every socket of the process, so it
/// runs alone, in `tests/shutdown.rs`.
pub fn shutdown_round() -> std::io::Result<()> {
    use driver_tokio::{Runtime, Socket, SocketType, Tokio};

    Tokio::block_on(async {
        let pull = Socket::new(SocketType::Pull);
        pull.bind("tcp://127.0.0.1:*").await?;
        let stop = async {
            tokio_sleep(Duration::from_millis(20)).await;
            driver_tokio::shutdown(Duration::ZERO)
        };
        let (recv, asked) = futures_join(pull.recv(), stop).await;
        assert!(asked >= 1);
        assert_eq!(
            describe(&recv.unwrap_err()),
            "closed: stop using the socket"
        );
        // libzmq's zmq_ctx_term: wait until every socket's driver task has ended.
        driver_tokio::terminate(Duration::ZERO).await;
        assert_eq!(driver_tokio::running_sockets(), 0);
        std::io::Result::Ok(())
    })?
}

/// Both futures to completion, on one task (no helper crate needed).
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}
