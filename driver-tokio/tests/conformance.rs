//! The shared conformance suite (`zmtp-conformance`) for the tokio driver: every case runs
//! on a current-thread runtime, and the cancel-safety cases race with `tokio::select!`.
#![allow(missing_docs)] // reason: test crate

use std::future::Future;
use std::time::Duration;

use driver_tokio::{SocketOptions, SocketType};
use zmtp_conformance::{conformance_tests, Driver, Either};

struct Tokio;

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

zmtp_conformance::test_socket!(driver_tokio);

conformance_tests!(Tokio);
