//! The shared conformance suite (`zmtp-conformance`) for the tokio driver: every case runs
//! on a current-thread runtime, and the cancel-safety cases race with `tokio::select!`.
#![allow(missing_docs)] // reason: test crate

use std::future::Future;

use zmtp_conformance::{conformance_tests, Driver, Either};

struct Tokio;

impl Driver for Tokio {
    type Runtime = driver_tokio::Tokio;
    const NAME: &'static str = "tokio";

    async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
        tokio::select! {
            x = a => Either::Left(x),
            y = b => Either::Right(y),
        }
    }
}

conformance_tests!(Tokio);
