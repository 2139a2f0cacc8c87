//! Commands (RFC 23/37 "Commands", checklist §1.4): READY, ERROR, SUBSCRIBE, CANCEL, PING, PONG,
//! and the names of mechanism-specific commands, which are handed to the mechanism untouched.

use bytes::{BufMut, Bytes};

use crate::error::Error;
use crate::frame::{encode_header, FLAG_COMMAND};
use crate::metadata::Metadata;

/// Longest PING context we keep or echo (RFC 37: at most 16 bytes).
pub const MAX_PING_CONTEXT: usize = 16;

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `READY` with its metadata (NULL handshake; PLAIN and CURVE have their own).
    Ready(Metadata),
    /// `ERROR` with its reason.
    Error(Bytes),
    /// `SUBSCRIBE` (ZMTP 3.1) with the subscription prefix.
    Subscribe(Bytes),
    /// `CANCEL` (ZMTP 3.1) with the subscription prefix.
    Cancel(Bytes),
    /// `PING` with its TTL in deciseconds and its context (0–16 bytes).
    Ping {
        /// Time to live in tenths of a second (0 = none).
        ttl_ds: u16,
        /// Opaque context to echo in the PONG.
        context: Bytes,
    },
    /// `PONG` with the echoed context.
    Pong(Bytes),
    /// Any other command, name and data as received (mechanism commands, JOIN, LEAVE, ...).
    Other {
        /// Command name.
        name: Bytes,
        /// Command data after the name.
        data: Bytes,
    },
}

/// How libzmq 4.3 starts the ERROR it sends when its ZAP handler refuses a peer: the C string
/// `"\x5ERROR"`, whose hex escape swallows the `E`. The name-length byte reads 0x5E and the
/// name `RROR`, one byte short; the reason follows as usual.
const LIBZMQ_ZAP_ERROR: &[u8] = b"\x5eRROR";

/// Splits a command body into name and data (checklist F6).
///
/// libzmq 4.3's malformed ERROR after a ZAP refusal (`^RROR` + reason, captured from
/// libzmq 4.3.5) is read as the ERROR it means, so the refusal is reported as such.
///
/// ```
/// use bytes::Bytes;
/// use zmtp_proto::fuzzing::{split_name, Command};
///
/// let (name, data) = split_name(&Bytes::from_static(b"\x05READYxyz")).unwrap();
/// assert_eq!((&name[..], &data[..]), (&b"READY"[..], &b"xyz"[..]));
/// let libzmq = Bytes::from_static(b"\x5eRROR\x03400");
/// assert_eq!(Command::parse(&libzmq).unwrap(), Command::Error(Bytes::from_static(b"400")));
/// ```
pub fn split_name(body: &Bytes) -> Result<(Bytes, Bytes), Error> {
    let Some(&name_len) = body.first() else {
        return Err(Error::MalformedCommand("empty command frame"));
    };
    let name_len = usize::from(name_len);
    if name_len == 0 {
        return Err(Error::MalformedCommand("empty command name"));
    }
    if body.len() < 1 + name_len {
        if body.starts_with(LIBZMQ_ZAP_ERROR) {
            return Ok((
                Bytes::from_static(b"ERROR"),
                body.slice(LIBZMQ_ZAP_ERROR.len()..),
            ));
        }
        return Err(Error::MalformedCommand(
            "command name longer than the frame",
        ));
    }
    Ok((body.slice(1..1 + name_len), body.slice(1 + name_len..)))
}

impl Command {
    /// Parses a command frame body.
    ///
    /// ```
    /// use zmtp_proto::fuzzing::Command;
    ///
    /// let ping = bytes::Bytes::from_static(b"\x04PING\x00\x0aab");
    /// assert_eq!(
    ///     Command::parse(&ping).unwrap(),
    ///     Command::Ping { ttl_ds: 10, context: bytes::Bytes::from_static(b"ab") }
    /// );
    /// ```
    pub fn parse(body: &Bytes) -> Result<Self, Error> {
        let (name, data) = split_name(body)?;
        Ok(match &name[..] {
            b"READY" => Self::Ready(Metadata::parse(data)?),
            b"ERROR" => {
                let Some(&len) = data.first() else {
                    return Err(Error::MalformedCommand("ERROR without reason length"));
                };
                let len = usize::from(len);
                if data.len() < 1 + len {
                    return Err(Error::MalformedCommand(
                        "ERROR reason longer than the frame",
                    ));
                }
                Self::Error(data.slice(1..1 + len))
            }
            b"SUBSCRIBE" => Self::Subscribe(data),
            b"CANCEL" => Self::Cancel(data),
            b"PING" => {
                if data.len() < 2 {
                    return Err(Error::MalformedCommand("PING without TTL"));
                }
                let ttl_ds = u16::from_be_bytes([data[0], data[1]]);
                // libzmq truncates a longer context to 16 bytes (checklist H2).
                let end = data.len().min(2 + MAX_PING_CONTEXT);
                Self::Ping {
                    ttl_ds,
                    context: data.slice(2..end),
                }
            }
            // The context echoed in a PONG is at most 16 bytes (RFC 37); keep no more than our
            // encoder would send back.
            b"PONG" => Self::Pong(data.slice(..data.len().min(MAX_PING_CONTEXT))),
            _ => Self::Other { name, data },
        })
    }

    /// Encodes the command as a whole frame (header included) into `out`.
    ///
    /// ```
    /// use zmtp_proto::fuzzing::Command;
    ///
    /// let mut out = Vec::new();
    /// Command::Subscribe(bytes::Bytes::from_static(b"A")).encode(&mut out);
    /// assert_eq!(out, b"\x04\x0b\x09SUBSCRIBEA");
    /// ```
    pub fn encode(&self, out: &mut impl BufMut) {
        match self {
            Self::Ready(meta) => {
                encode_command_header(b"READY", meta.encoded_len(), out);
                meta.encode(out);
            }
            Self::Error(reason) => {
                let reason = &reason[..reason.len().min(255)];
                encode_command_header(b"ERROR", 1 + reason.len(), out);
                out.put_u8(reason.len() as u8);
                out.put_slice(reason);
            }
            Self::Subscribe(topic) => encode_command(b"SUBSCRIBE", topic, out),
            Self::Cancel(topic) => encode_command(b"CANCEL", topic, out),
            Self::Ping { ttl_ds, context } => {
                let context = &context[..context.len().min(MAX_PING_CONTEXT)];
                encode_command_header(b"PING", 2 + context.len(), out);
                out.put_u16(*ttl_ds);
                out.put_slice(context);
            }
            Self::Pong(context) => {
                encode_command(
                    b"PONG",
                    &context[..context.len().min(MAX_PING_CONTEXT)],
                    out,
                );
            }
            Self::Other { name, data } => encode_command(name, data, out),
        }
    }
}

/// Writes the frame header and name of a command whose data is `data_len` bytes long.
pub(crate) fn encode_command_header(name: &[u8], data_len: usize, out: &mut impl BufMut) {
    encode_header(FLAG_COMMAND, 1 + name.len() + data_len, out);
    out.put_u8(name.len() as u8);
    out.put_slice(name);
}

/// Writes a whole command frame.
pub(crate) fn encode_command(name: &[u8], data: &[u8], out: &mut impl BufMut) {
    encode_command_header(name, data.len(), out);
    out.put_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameHeader;

    fn frame_body(wire: &[u8]) -> Bytes {
        let h = FrameHeader::parse(wire).unwrap().unwrap();
        assert!(h.is_command());
        Bytes::copy_from_slice(&wire[h.header_len..])
    }

    /// Checklist N5 / §1.14: libzmq's `zmtp_ready_dealer` fixture, byte for byte.
    #[test]
    fn golden_ready_dealer() {
        let golden: &[u8] =
            b"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00";
        assert_eq!(golden.len(), 43);
        let mut m = Metadata::new();
        m.insert("Socket-Type", "DEALER");
        m.insert("Identity", "");
        let mut out = Vec::new();
        Command::Ready(m.clone()).encode(&mut out);
        assert_eq!(out, golden);
        assert_eq!(
            Command::parse(&frame_body(golden)).unwrap(),
            Command::Ready(m)
        );
    }

    /// Checklist N5: ROUTER's READY (28-byte body).
    #[test]
    fn golden_ready_router() {
        let golden: &[u8] = b"\x04\x1c\x05READY\x0bSocket-Type\x00\x00\x00\x06ROUTER";
        let mut m = Metadata::new();
        m.insert("Socket-Type", "ROUTER");
        let mut out = Vec::new();
        Command::Ready(m).encode(&mut out);
        assert_eq!(out, golden);
    }

    /// Checklist §1.14: `zmtp_ready_xpub` (28 B) and `zmtp_ready_sub` (27 B).
    #[test]
    fn golden_ready_xpub_and_sub() {
        let xpub: &[u8] = b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04XPUB";
        let sub: &[u8] = b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03SUB";
        assert_eq!((xpub.len(), sub.len()), (28, 27));
        for (golden, ty) in [(xpub, "XPUB"), (sub, "SUB")] {
            let mut m = Metadata::new();
            m.insert("Socket-Type", ty);
            let mut out = Vec::new();
            Command::Ready(m).encode(&mut out);
            assert_eq!(out, golden);
        }
    }

    /// Checklist F6: a name longer than the body is malformed.
    #[test]
    fn name_longer_than_body_is_malformed() {
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x09PING")),
            Err(Error::MalformedCommand(
                "command name longer than the frame"
            ))
        );
        assert_eq!(
            Command::parse(&Bytes::new()),
            Err(Error::MalformedCommand("empty command frame"))
        );
    }

    /// Checklist H1/H2: PING needs a TTL; contexts over 16 bytes are truncated.
    #[test]
    fn ping_rules() {
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x04PING\x00")),
            Err(Error::MalformedCommand("PING without TTL"))
        );
        let long = Command::parse(&Bytes::from_static(
            b"\x04PING\x00\x01abcdefghijklmnopqrstu",
        ))
        .unwrap();
        assert_eq!(
            long,
            Command::Ping {
                ttl_ds: 1,
                context: Bytes::from_static(b"abcdefghijklmnop")
            }
        );
    }

    /// Checklist H2: a PONG context is at most 16 bytes; a longer one is truncated on receipt,
    /// so that parsing and re-encoding agree (found by the `frame_decoder` fuzz target).
    #[test]
    fn long_pong_context_is_truncated() {
        let cmd = Command::parse(&Bytes::from_static(b"\x04PONGabcdefghijklmnopqrstu")).unwrap();
        assert_eq!(cmd, Command::Pong(Bytes::from_static(b"abcdefghijklmnop")));
        let mut out = Vec::new();
        cmd.encode(&mut out);
        assert_eq!(Command::parse(&frame_body(&out)).unwrap(), cmd);
    }

    /// Checklist §1.4: ERROR reason length is checked.
    #[test]
    fn error_reason_length_is_checked() {
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x05ERROR\x05abc")),
            Err(Error::MalformedCommand(
                "ERROR reason longer than the frame"
            ))
        );
        assert_eq!(
            Command::parse(&Bytes::from_static(b"\x05ERROR\x03abc")).unwrap(),
            Command::Error(Bytes::from_static(b"abc"))
        );
    }
}
