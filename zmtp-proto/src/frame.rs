//! The frame codec (RFC 23/37 "Framing", checklist §1.3).
//!
//! A frame is a flags byte, a size (1 byte, or 8 bytes big-endian with the LONG flag) and a body.
//! This module only knows about headers; the connection decodes bodies straight out of its input
//! arena so that they become zero-copy [`bytes::Bytes`] views.

use crate::error::Error;

/// MORE flag: more frames of the same message follow.
pub const FLAG_MORE: u8 = 0x01;
/// LONG flag: the size is 8 bytes.
pub(crate) const FLAG_LONG: u8 = 0x02;
/// COMMAND flag: the frame is a command.
pub const FLAG_COMMAND: u8 = 0x04;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Flags byte with the reserved bits cleared.
    pub flags: u8,
    /// Body size in bytes.
    pub size: u64,
    /// Header length on the wire (2 or 9).
    pub header_len: usize,
}

impl FrameHeader {
    /// True if more frames of the same message follow.
    pub fn more(&self) -> bool {
        self.flags & FLAG_MORE != 0
    }

    /// True if this is a command frame.
    pub fn is_command(&self) -> bool {
        self.flags & FLAG_COMMAND != 0
    }

    /// Parses a header from the front of `input`.
    ///
    /// Returns `Ok(None)` if `input` is too short (not an error: wait for more bytes), and an
    /// error for a command with MORE set (checklist F1) or a size of 2^63 or more (F3). Reserved
    /// bits are ignored, as libzmq's decoder does.
    ///
    /// ```
    /// use zmtp_proto::fuzzing::FrameHeader;
    ///
    /// let h = FrameHeader::parse(&[0x01, 0x05, b'h']).unwrap().unwrap();
    /// assert!(h.more() && !h.is_command());
    /// assert_eq!((h.size, h.header_len), (5, 2));
    /// assert_eq!(FrameHeader::parse(&[0x02, 0, 0]).unwrap(), None);
    /// ```
    pub fn parse(input: &[u8]) -> Result<Option<Self>, Error> {
        let Some(&raw) = input.first() else {
            return Ok(None);
        };
        let flags = raw & (FLAG_MORE | FLAG_LONG | FLAG_COMMAND);
        if flags & FLAG_COMMAND != 0 && flags & FLAG_MORE != 0 {
            return Err(Error::BadFrameFlags(raw));
        }
        if flags & FLAG_LONG != 0 {
            let Some(size) = input.get(1..9) else {
                return Ok(None);
            };
            let size = u64::from_be_bytes(size.try_into().expect("8 bytes"));
            if size > i64::MAX as u64 {
                return Err(Error::FrameTooLong(size));
            }
            Ok(Some(Self {
                flags,
                size,
                header_len: 9,
            }))
        } else {
            let Some(&size) = input.get(1) else {
                return Ok(None);
            };
            Ok(Some(Self {
                flags,
                size: u64::from(size),
                header_len: 2,
            }))
        }
    }
}

/// Writes a frame header for a body of `size` bytes into `out`; the short form is used for sizes
/// up to 255 (checklist F2). `flags` may contain [`FLAG_MORE`] and [`FLAG_COMMAND`].
///
/// ```
/// let mut out = Vec::new();
/// zmtp_proto::fuzzing::encode_header(zmtp_proto::fuzzing::FLAG_MORE, 3, &mut out);
/// zmtp_proto::fuzzing::encode_header(0, 256, &mut out);
/// assert_eq!(out, [0x01, 3, 0x02, 0, 0, 0, 0, 0, 0, 1, 0]);
/// ```
pub fn encode_header(flags: u8, size: usize, out: &mut impl bytes::BufMut) {
    if size <= 255 {
        out.put_u8(flags & !FLAG_LONG);
        out.put_u8(size as u8);
    } else {
        out.put_u8(flags | FLAG_LONG);
        out.put_u64(size as u64);
    }
}

/// Writes a whole frame (header and body) into `out`.
pub fn encode_frame(flags: u8, body: &[u8], out: &mut impl bytes::BufMut) {
    encode_header(flags, body.len(), out);
    out.put_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checklist F2: a LONG frame with a small body is accepted.
    #[test]
    fn long_header_with_small_size_is_accepted() {
        let h = FrameHeader::parse(&[0x02, 0, 0, 0, 0, 0, 0, 0, 5])
            .unwrap()
            .unwrap();
        assert_eq!((h.size, h.header_len), (5, 9));
    }

    /// Checklist F3: sizes of 2^63 and above are rejected before any allocation.
    #[test]
    fn size_above_2_pow_63_is_rejected() {
        let mut h = vec![0x02];
        h.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(FrameHeader::parse(&h), Err(Error::FrameTooLong(1 << 63)));
        h[1..].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(FrameHeader::parse(&h), Err(Error::FrameTooLong(u64::MAX)));
    }

    /// Checklist F1: MORE on a command frame is invalid.
    #[test]
    fn command_with_more_is_rejected() {
        assert_eq!(
            FrameHeader::parse(&[0x05, 0]),
            Err(Error::BadFrameFlags(0x05))
        );
    }

    /// Checklist §1.3 (LZ): reserved flag bits are ignored like libzmq does.
    #[test]
    fn reserved_bits_are_ignored() {
        let h = FrameHeader::parse(&[0xf1, 1]).unwrap().unwrap();
        assert_eq!(h.flags, FLAG_MORE);
    }

    #[test]
    fn short_and_long_encodings() {
        let mut out = Vec::new();
        encode_frame(FLAG_COMMAND, &[7; 255], &mut out);
        assert_eq!(&out[..2], &[0x04, 255]);
        out.clear();
        encode_frame(FLAG_COMMAND, &[7; 256], &mut out);
        assert_eq!(&out[..9], &[0x06, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(out.len(), 9 + 256);
    }
}
