//! The connection's output: small frames coalesced into one buffer, large bodies queued as
//! their own `Bytes` for vectored writes, in order.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::Error;
use crate::frame::{encode_header, FLAG_MORE};
use crate::message::{Frame, INLINE_FRAME_BYTES};

/// Pending output: `segments` go out before `buf`; small frames are coalesced in `buf`.
#[derive(Debug)]
pub(super) struct Transmit {
    /// The coalescing buffer (commands and handshake replies are encoded here too).
    buf: BytesMut,
    segments: VecDeque<Bytes>,
    segments_len: usize,
    /// Bodies of this many bytes or more are queued on their own, not copied.
    zero_copy_threshold: usize,
}

impl Transmit {
    pub(super) fn new(capacity: usize, zero_copy_threshold: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(capacity),
            segments: VecDeque::new(),
            segments_len: 0,
            zero_copy_threshold,
        }
    }

    /// The coalescing buffer, for commands (greeting, handshake, PING, PONG, ERROR).
    pub(super) fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Encodes the frames of one message, the frames of `envelope` first (REQ and REP
    /// envelopes, without building the whole message); MORE on all but the last.
    pub(super) fn encode_message(
        &mut self,
        envelope: &[Frame],
        frames: &[Frame],
    ) -> Result<(), Error> {
        let Some((last, front)) = frames.split_last() else {
            return Err(Error::InvalidState("a message needs at least one frame"));
        };
        for frame in envelope.iter().chain(front) {
            self.encode_frame(FLAG_MORE, frame);
        }
        self.encode_frame(0, last);
        Ok(())
    }

    /// Encodes a frame whose body is copied into the coalescing buffer; a short one (the
    /// common small frame) with one reservation, a two-byte header and the body.
    #[inline]
    pub(super) fn encode_copy(&mut self, flags: u8, body: &[u8]) {
        let len = body.len();
        if len <= 255 {
            self.buf.reserve(2 + len);
            self.buf.put_u16(u16::from_be_bytes([flags, len as u8]));
        } else {
            encode_header(flags, len, &mut self.buf);
        }
        self.buf.extend_from_slice(body);
    }

    fn encode_frame(&mut self, flags: u8, body: &Frame) {
        if let Some(data) = body.inline_storage() {
            // A small frame copied at a fixed size (header, bytes and padding), then cut to
            // its length: no variable-length copy per small message.
            let len = usize::from(data[INLINE_FRAME_BYTES]);
            // Word by word, as the frame was built: a wider load of bytes stored moments ago as
            // words (the message was just made) stalls store forwarding.
            let word = |i: usize| u64::from_le_bytes(data[i..i + 8].try_into().expect("8 bytes"));
            let (w0, w1, w2) = (word(0), word(8), word(16));
            let mut frame = [0; INLINE_FRAME_BYTES + 3];
            frame[0] = flags;
            frame[1] = len as u8;
            frame[2..10].copy_from_slice(&w0.to_le_bytes());
            frame[10..18].copy_from_slice(&w1.to_le_bytes());
            frame[18..].copy_from_slice(&w2.to_le_bytes());
            let at = self.buf.len();
            self.buf.extend_from_slice(&frame);
            self.buf.truncate(at + 2 + len);
            return;
        }
        let len = body.len();
        if len <= 255 && len < self.zero_copy_threshold {
            self.encode_copy(flags, body);
            return;
        }
        encode_header(flags, len, &mut self.buf);
        if let Some(shared) = body.as_shared().filter(|_| len >= self.zero_copy_threshold) {
            self.flush_buf_to_segments();
            self.segments_len += len;
            self.segments.push_back(shared.clone());
        } else {
            self.buf.put_slice(body);
        }
    }

    /// Queues `body` as it is, without a frame header (a raw connection, `raw.rs`): a large
    /// shared body as its own segment, anything else copied into the coalescing buffer.
    pub(super) fn write_raw(&mut self, body: &Frame) {
        match body.as_shared() {
            Some(shared) if shared.len() >= self.zero_copy_threshold => {
                self.flush_buf_to_segments();
                self.segments_len += shared.len();
                self.segments.push_back(shared.clone());
            }
            _ => self.buf.extend_from_slice(body),
        }
    }

    fn flush_buf_to_segments(&mut self) {
        if !self.buf.is_empty() {
            let head = self.buf.split().freeze();
            self.segments_len += head.len();
            self.segments.push_back(head);
        }
    }

    /// Bytes waiting to be written.
    pub(super) fn len(&self) -> usize {
        self.segments_len + self.buf.len()
    }

    /// Fills `dst` with the pending output, in order; returns how many slices were filled.
    pub(super) fn chunks<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for seg in &self.segments {
            if n == dst.len() {
                return n;
            }
            dst[n] = IoSlice::new(seg);
            n += 1;
        }
        if !self.buf.is_empty() && n < dst.len() {
            dst[n] = IoSlice::new(&self.buf);
            n += 1;
        }
        n
    }

    /// Marks `n` bytes of the pending output as written.
    pub(super) fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            self.segments_len -= k;
            n -= k;
            if front.is_empty() {
                self.segments.pop_front();
            }
        }
        let k = n.min(self.buf.len());
        self.buf.advance(k);
        debug_assert_eq!(n, k, "advanced past the pending output");
        if self.buf.is_empty() {
            // Reclaim the whole buffer (no allocation when nothing else holds it).
            self.buf.clear();
        }
    }

    /// Moves all pending output into `out` as owned buffers.
    pub(super) fn take(&mut self, out: &mut Vec<Bytes>) {
        self.flush_buf_to_segments();
        out.extend(self.segments.drain(..));
        self.segments_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Msg;

    fn written(t: &mut Transmit) -> Vec<u8> {
        let mut out = Vec::new();
        t.take(&mut out);
        out.concat()
    }

    #[test]
    fn an_envelope_goes_first_and_only_the_last_frame_has_no_more() {
        let mut t = Transmit::new(64, 8192);
        let msg = Msg::from(["b", "c"]);
        t.encode_message(&[Frame::from("a")], msg.frames()).unwrap();
        assert_eq!(
            written(&mut t),
            [1, 1, b'a', 1, 1, b'b', 0, 1, b'c'].to_vec()
        );
        assert!(t.encode_message(&[], &[]).is_err());
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn large_bodies_are_their_own_segments_in_order() {
        let mut t = Transmit::new(64, 1024);
        let big = Bytes::from(vec![7u8; 2000]);
        t.encode_copy(0, b"x");
        t.encode_message(&[], &[Frame::from(big.clone())]).unwrap();
        t.encode_copy(0, b"y");
        assert_eq!(t.len(), 3 + 9 + 2000 + 3);
        let mut dst = [IoSlice::new(&[]); 8];
        assert_eq!(t.chunks(&mut dst), 3, "head, body, tail");
        t.advance(3 + 9 + 2000);
        assert_eq!(written(&mut t), vec![0, 1, b'y']);
    }
}
