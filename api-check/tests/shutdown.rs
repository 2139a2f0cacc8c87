//! The process-wide shutdown, alone in its test binary (it reaches every socket of the
//! process).
#![allow(missing_docs)] // reason: test crate

#[test]
fn shutdown_round() {
    api_check::shutdown_round().unwrap();
}
