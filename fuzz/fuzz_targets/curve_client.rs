//! A CURVE client fed a server's bytes: a recorded valid session's, cut short and followed by
//! arbitrary bytes, or with bytes flipped (`common/curve.rs` says what is checked).
#![no_main]

#[path = "common/curve.rs"]
mod curve;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: curve::Input| {
    let recorded = &curve::session().server;
    curve::run(&input, curve::CLIENT_TYPE, curve::client_config(), curve::CLIENT_ENTROPY, recorded);
});
