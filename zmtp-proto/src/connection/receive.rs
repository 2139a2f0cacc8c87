//! The connection's input: the arena bytes are read into, the scan for whole frames, and the
//! queue of decoded messages with its high-water mark.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::frame::{FLAG_COMMAND, FLAG_LONG, FLAG_MORE};
use crate::message::{Frame, Msg, INLINE_FRAME_BYTES};

/// Largest amount the arena grows by in one step while a large frame arrives, so that a size
/// declared by the peer is never allocated up front.
const LARGE_FRAME_STEP: usize = 8 * 1024 * 1024;

/// A new arena slab holds this many frames of the largest size seen arriving in pieces...
pub(super) const SLAB_FRAMES: usize = 8;
/// ...up to this size.
const MAX_SLAB: usize = 4 * 1024 * 1024;

/// Decoding pauses (and the driver stops reading) once decoded messages not yet taken hold
/// this many bytes in frames too large to be inline, even below the receive high-water mark:
/// the kernel's socket buffer holds what comes next, and the receiver's working set stays in
/// the caches (`docs/benchmarks.md` has the measurements behind it).
pub const MAX_INBOUND_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of a message's frames that are not inline (see [`MAX_INBOUND_BYTES`]).
pub(super) fn shared_bytes(msg: &Msg) -> usize {
    msg.iter()
        .filter_map(Frame::as_shared)
        .map(Bytes::len)
        .sum()
}

/// The arena and what was decoded from it.
#[derive(Debug)]
pub(super) struct Receive {
    /// Bytes read and not decoded yet; decoded bodies are zero-copy slices of it.
    pub(super) arena: BytesMut,
    /// `arena.len()` after the last decode, to notice new bytes written by a driver.
    seen: usize,
    /// Total length (header + body) of the frame at the front of the arena, once its header
    /// is known.
    pub(super) frame_len: usize,
    /// Size of the next arena slab: `read_chunk`, grown while large frames arrive.
    slab: usize,
    /// The frames of a message not complete yet.
    pub(super) partial: Msg,
    pub(super) partial_bytes: u64,
    /// Trailing frames of a subscription message (ZMTP 3.0) follow.
    pub(super) partial_is_subscription: bool,
    /// Whole messages for the application.
    pub(super) inbound: VecDeque<Msg>,
    /// Bytes of the non-inline frames in `inbound` (see [`MAX_INBOUND_BYTES`]).
    pub(super) inbound_bytes: usize,
    /// Decoding stopped at the receive high-water mark with bytes left in the arena.
    pub(super) paused: bool,
    /// While paused, decoding resumes once fewer messages than this wait (half the receive
    /// high-water mark, plus one); 0 while not paused.
    pub(super) resume_below: usize,
    /// Set when taking a message resumed decoding (see [`Receive::take_resumed`]).
    pub(super) resumed: bool,
}

impl Receive {
    pub(super) fn new(read_chunk: usize) -> Self {
        Self {
            arena: BytesMut::with_capacity(read_chunk),
            seen: 0,
            frame_len: 0,
            slab: read_chunk.max(64),
            partial: Msg::new(),
            partial_bytes: 0,
            partial_is_subscription: false,
            inbound: VecDeque::new(),
            inbound_bytes: 0,
            paused: false,
            resume_below: 0,
            resumed: false,
        }
    }

    /// True if bytes arrived since the last decode.
    pub(super) fn has_new_bytes(&self) -> bool {
        self.arena.len() > self.seen
    }

    /// Every byte in the arena has been looked at.
    pub(super) fn mark_seen(&mut self) {
        self.seen = self.arena.len();
    }

    /// True while the queue holds `rcvhwm` messages (0: no limit) or the byte budget.
    #[inline]
    pub(super) fn is_full(&self, rcvhwm: usize) -> bool {
        (rcvhwm != 0 && self.inbound.len() >= rcvhwm) || self.inbound_bytes >= MAX_INBOUND_BYTES
    }

    /// Stops decoding with the queue full; it resumes once half of what is held was taken (a
    /// low-water mark, as libzmq's pipes have), by count at the high-water mark, else by bytes.
    pub(super) fn pause(&mut self, rcvhwm: usize) {
        self.paused = true;
        self.resume_below = if self.inbound_bytes >= MAX_INBOUND_BYTES {
            self.inbound.len() / 2 + 1
        } else {
            rcvhwm / 2 + 1
        };
    }

    /// Makes room in the arena for the next read of about `read_chunk` bytes, or for the rest
    /// of a large frame whose header arrived.
    pub(super) fn reserve(&mut self, read_chunk: usize) {
        let chunk = read_chunk.max(64);
        let spare = self.arena.capacity() - self.arena.len();
        let want = if self.frame_len > self.arena.len() {
            // A frame larger than what we hold is arriving: make room for it (bounded per step,
            // the limits were checked on its header). The upper bound is never below the
            // lower one, or `clamp` panics when read_chunk exceeds 4 * LARGE_FRAME_STEP.
            (self.frame_len - self.arena.len()).clamp(chunk / 4, LARGE_FRAME_STEP.max(chunk / 4))
        } else {
            chunk / 4
        };
        if spare < want {
            // A new slab. The bytes of a frame that straddles the old slab's end are moved into
            // it, so slabs hold several frames of the size seen lately: large messages are then
            // moved once per slab, not once per message.
            self.arena.reserve(want.max(self.slab));
        }
    }

    /// Notes a frame of `total` bytes that did not fit in the current read: later slabs are
    /// sized for it.
    pub(super) fn note_incomplete_frame(&mut self, total: usize) {
        self.frame_len = total;
        if total > self.slab / SLAB_FRAMES {
            let wanted = total.saturating_mul(SLAB_FRAMES).min(MAX_SLAB);
            if wanted > self.slab {
                self.slab = wanted;
            }
        }
    }

    /// Queues a whole message.
    #[inline(always)]
    pub(super) fn push(&mut self, msg: Msg, conflate: bool) {
        if conflate {
            self.inbound.clear();
            self.inbound_bytes = 0;
        }
        self.inbound_bytes += shared_bytes(&msg);
        self.inbound.push_back(msg);
    }

    /// Queues a one-frame message, built in its slot: a message assembled on the stack with
    /// word stores and then moved in with wider loads stalled store forwarding on every small
    /// message.
    #[inline(always)]
    pub(super) fn push_single(&mut self, body: Frame, conflate: bool) {
        if conflate {
            self.inbound.clear();
            self.inbound_bytes = 0;
        }
        if !body.is_inline() {
            self.inbound_bytes += body.len();
        }
        self.inbound.push_back(Msg::new());
        self.inbound.back_mut().expect("just pushed").push(body);
    }

    /// Accounts for `msg`, just taken out of `inbound`, leaving the queue.
    #[inline]
    pub(super) fn took(&mut self, msg: &Msg) {
        if self.inbound_bytes != 0 {
            self.inbound_bytes -= shared_bytes(msg);
        }
    }

    /// True if decoding paused at the high-water mark should resume: half of what was held
    /// was taken.
    #[inline]
    pub(super) fn should_resume(&self) -> bool {
        self.paused && self.inbound.len() < self.resume_below
    }

    /// True once after taking a message resumed decoding.
    #[inline]
    pub(super) fn take_resumed(&mut self) -> bool {
        std::mem::take(&mut self.resumed)
    }
}

/// Length of the run of whole frames at the front of `buf`, stopping after the frame that ends
/// the `room`-th message or that brings the bodies of message frames too large to be inline to
/// `byte_room` bytes (so decoding them cannot overfill the receive queue; commands and
/// subscriptions count as nothing or as messages, which only ends the run early). Frames with
/// invalid flags end the run: the careful path reports them.
pub(super) fn complete_frames(buf: &[u8], mut room: usize, mut byte_room: usize) -> usize {
    let mut pos = 0;
    while let Some(&flags) = buf.get(pos) {
        let left = buf.len() - pos;
        let (header_len, size) = if flags & FLAG_LONG == 0 {
            let Some(&size) = buf.get(pos + 1) else {
                break;
            };
            (2, usize::from(size))
        } else {
            let Some(size) = buf.get(pos + 1..pos + 9) else {
                break;
            };
            let size = u64::from_be_bytes(size.try_into().expect("8 bytes"));
            if size >= left as u64 {
                break;
            }
            (9, size as usize)
        };
        if flags & FLAG_COMMAND != 0 && flags & FLAG_MORE != 0 {
            break;
        }
        let total = header_len + size;
        if left < total {
            break;
        }
        pos += total;
        if flags & FLAG_COMMAND == 0 && size > INLINE_FRAME_BYTES {
            byte_room = byte_room.saturating_sub(size);
            if byte_room == 0 {
                break;
            }
        }
        if flags & (FLAG_MORE | FLAG_COMMAND) == 0 {
            room -= 1;
            if room == 0 {
                break;
            }
        }
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::complete_frames;

    #[test]
    fn complete_frames_takes_whole_frames_only() {
        // Two one-frame messages and the start of a third.
        let buf = [0, 1, b'a', 0, 0, 0, 5, b'x'];
        assert_eq!(complete_frames(&buf, usize::MAX, usize::MAX), 5);
        // Stops after the frame that ends the `room`-th message.
        assert_eq!(complete_frames(&buf, 1, usize::MAX), 3);
        // MORE frames and commands do not count as messages.
        let buf = [1, 1, b'a', 4, 0, 0, 1, b'b'];
        assert_eq!(complete_frames(&buf, 1, usize::MAX), 8);
        // A long header, whole and cut short; a size beyond what is held.
        let mut long = vec![2, 0, 0, 0, 0, 0, 0, 0, 1, b'z'];
        assert_eq!(complete_frames(&long, usize::MAX, usize::MAX), 10);
        assert_eq!(complete_frames(&long[..9], usize::MAX, usize::MAX), 0);
        assert_eq!(complete_frames(&long[..5], usize::MAX, usize::MAX), 0);
        long[1] = 0x80;
        assert_eq!(complete_frames(&long, usize::MAX, usize::MAX), 0);
        // A command with MORE is left to the careful path, which reports it.
        assert_eq!(complete_frames(&[0, 0, 5, 0], usize::MAX, usize::MAX), 2);
        // Bodies too large to be inline count against the byte budget; inline ones do not.
        let mut two = vec![0, 30];
        two.extend_from_slice(&[7; 30]);
        two.extend_from_within(..);
        assert_eq!(complete_frames(&two, usize::MAX, 30), 32);
        assert_eq!(complete_frames(&two, usize::MAX, 31), 64);
        let small = [0, 3, 1, 2, 3, 0, 3, 4, 5, 6];
        assert_eq!(complete_frames(&small, usize::MAX, 1), 10);
    }
}
