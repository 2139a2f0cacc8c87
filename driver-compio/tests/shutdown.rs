//! The process-wide `zmtp_async::shutdown` reaches every socket of the process, so its case
//! runs alone here, in a test binary of its own (`cargo test -p driver-compio --test shutdown`).
#![allow(missing_docs)] // reason: test crate

use zmtp_conformance::{run_case, Driver};

struct Compio;

impl Driver for Compio {
    type Runtime = driver_compio::Compio;
    const NAME: &'static str = "compio";
}

#[test]
fn process_shutdown() {
    run_case::<Compio, _, _>(
        "process_shutdown",
        zmtp_conformance::cases::process_shutdown::<Compio>,
    );
}
