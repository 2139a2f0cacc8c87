//! `futures::Stream` and `futures::Sink` on sockets.
#![allow(missing_docs)]

use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use driver_tokio::{Msg, Socket, SocketType};
use futures_core::Stream;
use futures_sink::Sink;

/// Sends through the `Sink` interface: poll_ready, start_send, poll_flush.
async fn sink_send(sock: &mut Socket, msg: Msg) {
    std::future::poll_fn(|cx| Sink::<Msg>::poll_ready(Pin::new(&mut *sock), cx))
        .await
        .unwrap();
    Sink::<Msg>::start_send(Pin::new(&mut *sock), msg).unwrap();
    std::future::poll_fn(|cx| Sink::<Msg>::poll_flush(Pin::new(&mut *sock), cx))
        .await
        .unwrap();
}

#[tokio::test]
async fn push_sink_to_pull_stream_in_order() {
    let mut pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    for i in 0..1000u32 {
        sink_send(&mut push, Msg::from(i.to_be_bytes().to_vec())).await;
    }
    for i in 0..1000u32 {
        let next = tokio::time::timeout(
            Duration::from_secs(5),
            std::future::poll_fn(|cx| Pin::new(&mut pull).poll_next(cx)),
        )
        .await
        .expect("stream stalled")
        .expect("sockets never end their stream")
        .unwrap();
        assert_eq!(&next[0][..], &i.to_be_bytes());
    }
    // Nothing more: the stream is pending, not ended.
    let pending = std::future::poll_fn(|cx| match Pin::new(&mut pull).poll_next(cx) {
        Poll::Pending => Poll::Ready(true),
        Poll::Ready(_) => Poll::Ready(false),
    })
    .await;
    assert!(pending);
}

#[tokio::test]
async fn sink_waits_at_the_high_water_mark_and_loses_nothing() {
    let mut options = driver_tokio::SocketOptions::default();
    options.sndhwm = 2;
    let mut push = Socket::with_options(SocketType::Push, options);
    // A peer that never connects: the queue fills at the HWM.
    push.connect("tcp://127.0.0.1:9").await.unwrap();
    sink_send(&mut push, Msg::from("a")).await;
    sink_send(&mut push, Msg::from("b")).await;
    let ready = tokio::time::timeout(
        Duration::from_millis(100),
        std::future::poll_fn(|cx| Sink::<Msg>::poll_ready(Pin::new(&mut push), cx)),
    )
    .await;
    assert!(ready.is_ok(), "poll_ready with no buffered item is ready");
    Sink::<Msg>::start_send(Pin::new(&mut push), Msg::from("c")).unwrap();
    let flushed = tokio::time::timeout(
        Duration::from_millis(100),
        std::future::poll_fn(|cx| Sink::<Msg>::poll_flush(Pin::new(&mut push), cx)),
    )
    .await;
    assert!(
        flushed.is_err(),
        "the third message waits at the high-water mark"
    );
}
