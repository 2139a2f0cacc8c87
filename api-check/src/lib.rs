//! A program written against the driver crates alone: every type it names comes from
//! `driver_tokio` or `driver_compio`, and the same code compiles against either.

use std::time::Duration;

/// A PUSH/PULL exchange, the refusals a program matches on, and the monitor, on tokio.
///
/// ```
/// api_check::tokio_round().unwrap();
/// ```
pub fn tokio_round() -> std::io::Result<()> {
    use driver_tokio::{Error, Frame, Msg, Runtime, SendError, Socket, SocketOptions, SocketType};
    use driver_tokio::{MonitorEvent, SocketEvent, Tokio};

    Tokio::block_on(async {
        let mut options = SocketOptions::default();
        options.sndhwm = 1;
        let push = Socket::with_options(SocketType::Push, options);
        // No peer: PUSH hands the message back.
        let refused: SendError = push.try_send("early").unwrap_err();
        assert!(matches!(refused.error, Error::WouldBlock));
        assert_eq!(refused.msg, Msg::from("early"));
        let pull = Socket::new(SocketType::Pull);
        let mut events = pull.monitor();
        let endpoint = pull.bind("tcp://127.0.0.1:*").await?;
        assert!(matches!(
            events.next().await,
            Some(MonitorEvent::Listening { .. })
        ));
        push.connect(&endpoint).await?;
        push.send(
            [Frame::from("a"), Frame::from("b")]
                .into_iter()
                .collect::<Msg>(),
        )
        .await?;
        assert_eq!(pull.recv().await?, Msg::from(["a", "b"]));
        let handshake = events.next().await;
        assert!(
            matches!(handshake, Some(MonitorEvent::Accepted { .. })),
            "{handshake:?}"
        );
        // PULL cannot send: an error a program can match on.
        let err = pull.send("no").await.unwrap_err();
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert!(matches!(inner, Some(Error::NotSupported(_))), "{err:?}");
        let _: Option<SocketEvent> = None;
        tokio_sleep(Duration::from_millis(1)).await;
        std::io::Result::Ok(())
    })?
}

async fn tokio_sleep(d: Duration) {
    use driver_tokio::{Runtime, Tokio};
    Tokio::sleep_until(std::time::Instant::now() + d).await;
}

/// The same program on compio.
///
/// ```
/// api_check::compio_round().unwrap();
/// ```
pub fn compio_round() -> std::io::Result<()> {
    use driver_compio::{Compio, Error, Msg, Runtime, SendError, Socket, SocketType};

    Compio::block_on(async {
        let push = Socket::new(SocketType::Push);
        let refused: SendError = push.try_send("early").unwrap_err();
        assert!(matches!(refused.error, Error::WouldBlock));
        let pull = Socket::new(SocketType::Pull);
        let endpoint = pull.bind("tcp://127.0.0.1:*").await?;
        push.connect(&endpoint).await?;
        push.send("hello").await?;
        assert_eq!(pull.recv().await?, Msg::from("hello"));
        std::io::Result::Ok(())
    })?
}
