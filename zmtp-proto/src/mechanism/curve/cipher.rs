//! Frames after a CURVE handshake: every frame, message or command, travels as one MESSAGE
//! command (RFC 26) whose box holds a flags byte and the frame's body.
//!
//! ```text
//! MESSAGE = %d7 "MESSAGE" short-nonce(8) box[flags(1) body](C'↔S')
//! flags   = MORE (0x01) | COMMAND (0x02)
//! ```
//!
//! The COMMAND bit carries SUBSCRIBE, CANCEL, PING, PONG and ERROR, encrypted like messages
//! (libzmq's `curve_mechanism_base.cpp` sends it; RFC 26 reserves the bit). The outer frame is
//! an ordinary frame without MORE, as libzmq writes it; its command flag is not looked at.
//! Short nonces count up from the handshake's in each direction, and a MESSAGE whose nonce is
//! not above the last one received ends the connection (checklist C3).

use bytes::{BufMut, BytesMut};
use crypto_box::SalsaBox;

use super::crypto::{open_in_place, seal_in_place, short_nonce, MAC_LEN};
use crate::error::Error;
use crate::frame::encode_header;
use crate::greeting::Version;
use crate::message::Frame;

/// The MESSAGE command's name with its length byte.
const NAME: &[u8; 8] = b"\x07MESSAGE";
/// Name, short nonce, MAC and flags: what a MESSAGE adds to a frame's body.
pub(crate) const OVERHEAD: usize = NAME.len() + 8 + MAC_LEN + 1;

/// MORE inside a MESSAGE.
pub(crate) const MORE: u8 = 0x01;
/// COMMAND inside a MESSAGE.
pub(crate) const COMMAND: u8 = 0x02;

/// The per-frame transform of an established CURVE connection.
pub(crate) struct CurveCipher {
    /// The box between the two short-term keys.
    boxer: SalsaBox,
    send_prefix: &'static [u8; 16],
    recv_prefix: &'static [u8; 16],
    /// The short nonce of the next frame we send.
    next_send: u64,
    /// The short nonce of the last command received (READY or INITIATE, then MESSAGEs).
    last_recv: u64,
}

impl std::fmt::Debug for CurveCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurveCipher")
            .field("next_send", &self.next_send)
            .field("last_recv", &self.last_recv)
            .finish_non_exhaustive()
    }
}

impl CurveCipher {
    /// The cipher of a client (`server == false`) or a server, after a handshake whose last
    /// command we sent with short nonce `next_send - 1` and received with `last_recv`.
    pub(super) fn new(boxer: SalsaBox, server: bool, next_send: u64, last_recv: u64) -> Self {
        let (client_prefix, server_prefix) = (b"CurveZMQMESSAGEC", b"CurveZMQMESSAGES");
        let (send_prefix, recv_prefix) = if server {
            (server_prefix, client_prefix)
        } else {
            (client_prefix, server_prefix)
        };
        Self {
            boxer,
            send_prefix,
            recv_prefix,
            next_send,
            last_recv,
        }
    }

    /// Appends one frame (`flags`: [`MORE`], [`COMMAND`]) as a MESSAGE frame to `out`,
    /// encrypted in place there: no other buffer is touched.
    pub(crate) fn seal_frame(&mut self, flags: u8, body: &[u8], out: &mut BytesMut) {
        let nonce = self.next_send;
        // 2^64 − 1 frames at a million a second take half a million years; refuse to wrap
        // rather than reuse a nonce.
        self.next_send = nonce.checked_add(1).expect("CURVE short nonces exhausted");
        let size = OVERHEAD + body.len();
        out.reserve(9 + size);
        encode_header(0, size, out);
        out.put_slice(NAME);
        out.put_u64(nonce);
        let boxed = out.len();
        out.put_bytes(0, MAC_LEN);
        out.put_u8(flags);
        out.put_slice(body);
        seal_in_place(
            &self.boxer,
            &short_nonce(self.send_prefix, nonce),
            &mut out[boxed..],
        );
    }

    /// Seals the frames of one message, `envelope` first; MORE on all but the last.
    pub(crate) fn seal_message(
        &mut self,
        envelope: &[Frame],
        frames: &[Frame],
        out: &mut BytesMut,
    ) -> Result<(), Error> {
        let Some((last, front)) = frames.split_last() else {
            return Err(Error::InvalidState("a message needs at least one frame"));
        };
        for frame in envelope.iter().chain(front) {
            self.seal_frame(MORE, frame, out);
        }
        self.seal_frame(0, last, out);
        Ok(())
    }

    /// Seals a subscription (or cancellation): a SUBSCRIBE/CANCEL command with the COMMAND
    /// flag for a 3.1 peer, a `0x01`/`0x00` message for a 3.0 peer (checklist C6, V7).
    pub(crate) fn seal_subscription(
        &mut self,
        version: Version,
        topic: &[u8],
        subscribe: bool,
        out: &mut BytesMut,
    ) {
        let mut body = Vec::with_capacity(10 + topic.len());
        let flags = if version.has_commands() {
            let name: &[u8] = if subscribe { b"SUBSCRIBE" } else { b"CANCEL" };
            body.push(name.len() as u8);
            body.extend_from_slice(name);
            COMMAND
        } else {
            body.push(u8::from(subscribe));
            0
        };
        body.extend_from_slice(topic);
        self.seal_frame(flags, &body, out);
    }

    /// Opens the body of a received frame, which must be a MESSAGE, in place: on success the
    /// frame's own body is `frame[OVERHEAD..]` and the flags are returned. The connection
    /// decrypts in its input arena, so a body is then a slice of it, as with NULL.
    pub(crate) fn open_in_place(&mut self, frame: &mut [u8]) -> Result<u8, Error> {
        if !frame.starts_with(NAME) {
            let name = frame
                .first()
                .and_then(|&n| frame.get(1..1 + usize::from(n)))
                .unwrap_or_default();
            return Err(Error::unexpected_command(name));
        }
        if frame.len() < OVERHEAD {
            return Err(Error::MalformedCommand("MESSAGE shorter than 33 bytes"));
        }
        let nonce = u64::from_be_bytes(frame[8..16].try_into().expect("8 bytes"));
        if nonce <= self.last_recv {
            return Err(Error::Cryptographic(
                "MESSAGE nonce is not above the last one",
            ));
        }
        let (mac, text) = frame[16..].split_at_mut(MAC_LEN);
        if !open_in_place(
            &self.boxer,
            &short_nonce(self.recv_prefix, nonce),
            mac,
            text,
        ) {
            return Err(Error::Cryptographic("MESSAGE box does not open"));
        }
        self.last_recv = nonce;
        let flags = text[0];
        if flags & !(MORE | COMMAND) != 0 || flags == MORE | COMMAND {
            return Err(Error::BadFrameFlags(flags));
        }
        Ok(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameHeader;
    use crate::mechanism::curve::crypto::key_box;
    use crate::mechanism::curve::keys::{CurveKeyPair, CurveSecretKey};

    fn pair() -> (CurveCipher, CurveCipher) {
        let c = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([1; 32]));
        let s = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([2; 32]));
        (
            CurveCipher::new(key_box(s.public().as_bytes(), c.secret()), false, 3, 1),
            CurveCipher::new(key_box(c.public().as_bytes(), s.secret()), true, 2, 2),
        )
    }

    fn body(wire: &[u8]) -> &[u8] {
        let h = FrameHeader::parse(wire).unwrap().unwrap();
        assert!(
            !h.is_command() && !h.more(),
            "an ordinary last frame, as libzmq sends"
        );
        &wire[h.header_len..]
    }

    #[test]
    fn frames_round_trip_with_their_flags() {
        let (mut client, mut server) = pair();
        for (flags, payload) in [(0, &b""[..]), (MORE, b"abc"), (COMMAND, &[7u8; 1000][..])] {
            let mut wire = BytesMut::new();
            client.seal_frame(flags, payload, &mut wire);
            assert_eq!(body(&wire).len(), OVERHEAD + payload.len());
            assert_eq!(&body(&wire)[..8], b"\x07MESSAGE");
            let mut frame = body(&wire).to_vec();
            assert_eq!(server.open_in_place(&mut frame), Ok(flags));
            assert_eq!(&frame[OVERHEAD..], payload);
        }
    }

    #[test]
    fn replayed_and_backward_nonces_are_refused() {
        let (mut client, mut server) = pair();
        let (mut first, mut second) = (BytesMut::new(), BytesMut::new());
        client.seal_frame(0, b"1", &mut first);
        client.seal_frame(0, b"2", &mut second);
        let open = |server: &mut CurveCipher, wire: &BytesMut| {
            server.open_in_place(&mut body(wire).to_vec())
        };
        open(&mut server, &second).unwrap();
        assert!(matches!(
            open(&mut server, &first),
            Err(Error::Cryptographic(_))
        ));
        assert!(matches!(
            open(&mut server, &second),
            Err(Error::Cryptographic(_))
        ));
    }

    #[test]
    fn every_tampered_byte_is_refused() {
        let (mut client, _) = pair();
        let mut wire = BytesMut::new();
        client.seal_frame(MORE, b"payload", &mut wire);
        let good = body(&wire).to_vec();
        for at in 0..good.len() {
            let (_, mut server) = pair();
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            assert!(server.open_in_place(&mut bad).is_err(), "byte {at}");
        }
        let (_, mut server) = pair();
        assert!(server
            .open_in_place(&mut good[..OVERHEAD - 1].to_vec())
            .is_err());
        assert!(server.open_in_place(&mut good.clone()).is_ok());
    }

    #[test]
    fn reserved_inner_flags_are_refused() {
        let (mut client, mut server) = pair();
        let mut wire = BytesMut::new();
        client.seal_frame(0x04, b"x", &mut wire);
        assert_eq!(
            server.open_in_place(&mut body(&wire).to_vec()),
            Err(Error::BadFrameFlags(0x04))
        );
    }
}
