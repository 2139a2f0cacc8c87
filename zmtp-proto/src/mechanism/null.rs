//! The NULL mechanism (RFC 23/37 "NULL Security Mechanism", checklist §1.5).
//!
//! Symmetric: each side sends READY as soon as the greeting is exchanged and accepts the peer's
//! READY before or after its own (N2). Anything but READY or ERROR during the handshake is a
//! protocol error, like libzmq (N4b).

use bytes::{Bytes, BytesMut};

use crate::command::Command;
use crate::error::Error;
use crate::metadata::Metadata;

/// State of the NULL handshake.
#[derive(Debug, Default)]
pub(crate) struct Null {
    sent_ready: bool,
}

impl Null {
    /// A NULL handshake that has not started.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn start(&mut self, ours: &Metadata, out: &mut BytesMut) {
        Command::Ready(ours.clone()).encode(out);
        self.sent_ready = true;
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        _out: &mut BytesMut,
    ) -> Result<Option<Metadata>, Error> {
        debug_assert!(self.sent_ready);
        match Command::parse(&body)? {
            Command::Ready(meta) => Ok(Some(meta)),
            Command::Error(reason) => Err(Error::from_peer_reason(&reason)),
            Command::Other { name, .. } => Err(Error::unexpected_command(&name)),
            other => Err(Error::UnexpectedCommand(command_name(&other).to_owned())),
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Ready(_) => "READY",
        Command::Error(_) => "ERROR",
        Command::Subscribe(_) => "SUBSCRIBE",
        Command::Cancel(_) => "CANCEL",
        Command::Ping { .. } => "PING",
        Command::Pong(_) => "PONG",
        Command::Other { .. } => "?",
    }
}
