//! The connection's CURVE frame path: once a CURVE handshake has handed over its cipher,
//! every frame, message or command, is sealed into a MESSAGE on the way out and opened on the
//! way in (`mechanism/curve/cipher.rs` has the format). NULL and PLAIN never come here.

use bytes::{Buf, BytesMut};

use super::Connection;
use crate::command::Command;
use crate::error::Error;
use crate::frame::FrameHeader;
use crate::mechanism::curve::cipher;
use crate::message::{Frame, INLINE_FRAME_BYTES};

impl Connection {
    /// Decrypts the CURVE MESSAGE at the front of the arena (`total` bytes, its body from
    /// `start`) in place and handles the frame it holds: a small body is copied out inline, a
    /// larger one is a slice of the arena, as on the NULL path.
    #[inline(never)]
    pub(super) fn open_frame(&mut self, start: usize, total: usize) -> Result<(), Error> {
        let cipher = self.cipher.as_deref_mut().expect("a CURVE connection");
        let flags = cipher.open_in_place(&mut self.input.arena[start..total])?;
        let from = start + cipher::OVERHEAD;
        let body = if total - from <= INLINE_FRAME_BYTES {
            let body = Frame::copy_from_slice(&self.input.arena[from..total]);
            self.input.arena.advance(total);
            body
        } else {
            let mut body = self.input.arena.split_to(total).freeze();
            body.advance(from);
            Frame::from(body)
        };
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
