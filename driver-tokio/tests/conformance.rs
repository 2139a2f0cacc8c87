//! The shared conformance suite (`zmtp-conformance`) for the tokio driver: every case runs
//! on a current-thread runtime, and the cancel-safety cases race with `tokio::select!`.
#![allow(missing_docs)] // reason: test crate

use std::future::Future;
use std::io;
use std::time::Duration;

use driver_tokio::{Msg, SocketOptions, SocketType};
use zmtp_conformance::{
    conformance_tests, Driver, Either, MonitorEvent, SendError, TestMonitor, TestSocket,
};

struct Tokio;

struct Sock(driver_tokio::Socket);

struct Mon(driver_tokio::Monitor);

impl Driver for Tokio {
    type Socket = Sock;
    const NAME: &'static str = "tokio";

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f)
    }

    fn socket(ty: SocketType, options: SocketOptions) -> Sock {
        Sock(driver_tokio::Socket::with_options(ty, options))
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(d)
    }

    async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
        tokio::select! {
            x = a => Either::Left(x),
            y = b => Either::Right(y),
        }
    }
}

impl TestSocket for Sock {
    type Monitor = Mon;

    async fn bind(&self, endpoint: &str) -> io::Result<String> {
        self.0.bind(endpoint).await
    }
    async fn connect(&self, endpoint: &str) -> io::Result<()> {
        self.0.connect(endpoint).await
    }
    async fn unbind(&self, endpoint: &str) -> io::Result<()> {
        self.0.unbind(endpoint).await
    }
    async fn disconnect(&self, endpoint: &str) -> io::Result<()> {
        self.0.disconnect(endpoint).await
    }
    async fn send(&self, msg: Msg) -> io::Result<()> {
        self.0.send(msg).await
    }
    async fn recv(&self) -> io::Result<Msg> {
        self.0.recv().await
    }
    fn try_send(&self, msg: Msg) -> Result<(), SendError> {
        self.0.try_send(msg)
    }
    fn try_recv(&self) -> io::Result<Option<Msg>> {
        self.0.try_recv()
    }
    async fn subscribe(&self, topic: &[u8]) -> io::Result<()> {
        self.0.subscribe(topic).await
    }
    async fn unsubscribe(&self, topic: &[u8]) -> io::Result<()> {
        self.0.unsubscribe(topic).await
    }
    fn monitor(&self) -> Mon {
        Mon(self.0.monitor())
    }
    async fn close(self) {
        self.0.close().await;
    }
}

impl TestMonitor for Mon {
    async fn next(&mut self) -> Option<MonitorEvent> {
        Some(match self.0.next().await? {
            driver_tokio::MonitorEvent::Socket(e) => MonitorEvent::Socket(e),
            driver_tokio::MonitorEvent::Listening { endpoint } => MonitorEvent::Listening(endpoint),
            driver_tokio::MonitorEvent::Accepted { endpoint, .. } => {
                MonitorEvent::Accepted(endpoint)
            }
            _ => MonitorEvent::Other,
        })
    }
}

conformance_tests!(Tokio);
