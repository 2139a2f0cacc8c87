//! The connection's CURVE frame path: once a CURVE handshake has handed over its cipher,
//! every frame, message or command, is sealed into a MESSAGE on the way out and opened on the
//! way in (`mechanism/curve/cipher.rs` has the format). NULL and PLAIN never come here.

use bytes::{Buf, BytesMut};

use super::Connection;
use crate::command::Command;
use crate::error::Error;
use crate::frame::FrameHeader;
use crate::mechanism::curve::cipher::{self, Opened};

impl Connection {
    /// Decrypts the CURVE MESSAGE at the front of the arena (`total` bytes, its body from
    /// `start`) and handles the frame it holds. The plaintext lands in the cipher's reused
    /// buffer; the arena's bytes are released at once.
    #[inline(never)]
    pub(super) fn open_frame(&mut self, start: usize, total: usize) -> Result<(), Error> {
        let cipher = self.cipher.as_deref_mut().expect("a CURVE connection");
        let Opened { flags, body } = cipher.open_frame(&self.input.arena[start..total])?;
        self.input.arena.advance(total);
        if flags & cipher::COMMAND != 0 {
            return self.handle_active_command(body.to_bytes());
        }
        self.check_message_frame(body.len() as u64)?;
        self.handle_message_frame(flags & cipher::MORE != 0, body)
    }

    /// Queues a command after the handshake: in clear, or inside a CURVE MESSAGE.
    pub(super) fn send_command(&mut self, command: &Command) {
        let Some(cipher) = self.cipher.as_deref_mut() else {
            command.encode(self.output.buf_mut());
            return;
        };
        let mut frame = BytesMut::new();
        command.encode(&mut frame);
        let header = FrameHeader::parse(&frame)
            .ok()
            .flatten()
            .expect("a whole command frame");
        cipher.seal_frame(
            cipher::COMMAND,
            &frame[header.header_len..],
            self.output.buf_mut(),
        );
    }
}
