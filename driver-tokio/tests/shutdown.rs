//! The process-wide `zmtp_async::shutdown` reaches every socket of the process, so its case
//! runs alone here, in a test binary of its own (`cargo test -p driver-tokio --test shutdown`).
#![allow(missing_docs)] // reason: test crate

use zmtp_conformance::{run_case, Driver};

struct Tokio;

impl Driver for Tokio {
    type Runtime = driver_tokio::Tokio;
    const NAME: &'static str = "tokio";
}

#[test]
fn process_shutdown() {
    run_case::<Tokio, _, _>(
        "process_shutdown",
        zmtp_conformance::cases::process_shutdown::<Tokio>,
    );
}
