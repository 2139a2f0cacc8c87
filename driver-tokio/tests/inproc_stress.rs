//! The in-process stress case of the conformance suite on tokio's multi-thread runtime (two
//! workers per runtime): each socket's driver task may then run on another worker than the
//! application task, so every wake-up crosses threads. (`tests/conformance.rs` runs it on the
//! current-thread runtime.) `INPROC_STRESS_ROUNDS` sets the length, as there.
#![allow(missing_docs)] // reason: test crate

use std::future::Future;

use zmtp_conformance::Driver;

struct TokioMulti;

impl Driver for TokioMulti {
    type Runtime = driver_tokio::Tokio;
    const NAME: &'static str = "tokio-multi-thread";

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(f)
    }
}

#[test]
fn inproc_stress_across_threads_multi_thread() {
    zmtp_conformance::run_case::<TokioMulti, _, _>(
        "inproc_stress_across_threads_multi_thread",
        zmtp_conformance::cases::inproc_stress_across_threads::<TokioMulti>,
    );
}
