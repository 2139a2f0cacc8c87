//! `zmtp keygen`: a fresh CURVE key pair, printed as libzmq's `curve_keygen` labels it.
//!
//! Stdout carries exactly five lines: the public key's label and the key, an empty line, the
//! secret key's label and the key. Each key is 40 characters of Z85 (RFC 32). Scripts can take
//! the line after each label, as they would from `curve_keygen` (which prints an explanation
//! first; this tool does not).

use std::io::{self, Write};

use zmtp_proto::CurveKeyPair;

use crate::{CmdResult, Failure};

/// The label above the public key, as `curve_keygen` prints it.
pub(crate) const PUBLIC_LABEL: &str = "== CURVE PUBLIC KEY ==";
/// The label above the secret key, as `curve_keygen` prints it.
pub(crate) const SECRET_LABEL: &str = "== CURVE SECRET KEY ==";

/// Runs `zmtp keygen`: one key pair from the operating system's CSPRNG, on stdout.
pub(crate) fn run() -> CmdResult {
    let pair = CurveKeyPair::generate(&mut rand::rngs::OsRng);
    let secret = pair.secret().expose_z85();
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{PUBLIC_LABEL}\n{}\n\n{SECRET_LABEL}\n{}",
        pair.public(),
        &*secret
    )
    .and_then(|()| stdout.flush())
    .map_err(|e| Failure::error(format!("cannot write stdout: {e}")))
}
