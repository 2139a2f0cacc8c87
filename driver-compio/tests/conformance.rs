//! The shared conformance suite (`zmtp-conformance`) for the compio driver, twice: on compio's
//! io_uring driver (`io_uring::*`; it falls back to epoll where io_uring is unavailable) and on
//! its polling driver forced (`epoll::*`), the fallback users get on older kernels.
#![allow(missing_docs)] // reason: test crate

use std::future::Future;
use std::io;
use std::time::Duration;

use driver_compio::{Msg, SocketOptions, SocketType};
use zmtp_conformance::{Driver, MonitorEvent, SendError, TestMonitor, TestSocket};

/// The compio driver on a fresh runtime per case; `EPOLL` forces compio's polling driver.
struct Compio<const EPOLL: bool>;

struct Sock(driver_compio::Socket);

struct Mon(driver_compio::Monitor);

impl<const EPOLL: bool> Driver for Compio<EPOLL> {
    type Socket = Sock;
    const NAME: &'static str = if EPOLL { "compio-epoll" } else { "compio" };

    fn run<F: Future>(f: F) -> F::Output {
        let mut proactor = compio::driver::ProactorBuilder::new();
        if EPOLL {
            proactor.driver_type(compio::driver::DriverType::Poll);
        }
        let runtime = compio::runtime::RuntimeBuilder::new()
            .with_proactor(proactor)
            .build()
            .expect("compio runtime");
        if EPOLL {
            assert!(
                runtime.driver_type().is_polling(),
                "epoll driver not in use"
            );
        }
        runtime.block_on(f)
    }

    fn socket(ty: SocketType, options: SocketOptions) -> Sock {
        Sock(driver_compio::Socket::with_options(ty, options))
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> {
        compio::time::sleep(d)
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
            driver_compio::MonitorEvent::Socket(e) => MonitorEvent::Socket(e),
            driver_compio::MonitorEvent::Listening { endpoint } => {
                MonitorEvent::Listening(endpoint)
            }
            driver_compio::MonitorEvent::Accepted { endpoint, .. } => {
                MonitorEvent::Accepted(endpoint)
            }
            _ => MonitorEvent::Other,
        })
    }
}

mod io_uring {
    zmtp_conformance::conformance_tests!(super::Compio<false>);
}

mod epoll {
    zmtp_conformance::conformance_tests!(super::Compio<true>);
}
