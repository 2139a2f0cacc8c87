//! The line format of `zmtp cat`: one message per line, frames separated by one TAB, an empty
//! frame an empty field; with `--hex` every field is lower-case hex (upper case is accepted on
//! input), so any bytes pass through.

use bytes::Bytes;
use zmtp_proto::Msg;

/// Parses one input line (without its `\n`) into a message.
pub(crate) fn parse_line(line: &[u8], hex: bool) -> Result<Msg, String> {
    line.split(|&b| b == b'\t')
        .map(|field| {
            if hex {
                decode_hex(field).map(Bytes::from)
            } else {
                Ok(Bytes::copy_from_slice(field))
            }
        })
        .collect()
}

/// Appends a message as one output line (with its `\n`) to `out`.
pub(crate) fn format_msg(msg: &Msg, hex: bool, out: &mut Vec<u8>) {
    for (i, frame) in msg.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        if hex {
            encode_hex(frame, out);
        } else {
            out.extend_from_slice(frame);
        }
    }
    out.push(b'\n');
}

/// Appends the lower-case hex form of `bytes` to `out`.
pub(crate) fn encode_hex(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0xf)]);
    }
}

/// Decodes hex digits (either case); the error names what is wrong.
pub(crate) fn decode_hex(text: &[u8]) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 {
        return Err(format!(
            "invalid hex {:?}: odd number of digits",
            String::from_utf8_lossy(text)
        ));
    }
    text.chunks_exact(2)
        .map(|pair| match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => Err(format!(
                "invalid hex {:?}: {:?} is not a hex digit pair",
                String::from_utf8_lossy(text),
                String::from_utf8_lossy(pair)
            )),
        })
        .collect()
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(msg: &Msg, hex: bool) -> Vec<u8> {
        let mut out = Vec::new();
        format_msg(msg, hex, &mut out);
        out
    }

    #[test]
    fn raw_frames_split_on_tabs_with_empty_fields() {
        let msg = parse_line(b"a\t\tb c", false).unwrap();
        assert_eq!(msg, Msg::from(["a", "", "b c"]));
        assert_eq!(line(&msg, false), b"a\t\tb c\n");
        assert_eq!(parse_line(b"", false).unwrap(), Msg::from([""]));
    }

    #[test]
    fn hex_round_trips_any_bytes() {
        let msg = Msg::from_frames([vec![0u8, 9, 10, 255], vec![], b"\t\n".to_vec()]);
        let text = line(&msg, true);
        assert_eq!(text, b"00090aff\t\t090a\n");
        assert_eq!(parse_line(&text[..text.len() - 1], true).unwrap(), msg);
        assert_eq!(decode_hex(b"ABcd").unwrap(), vec![0xab, 0xcd]);
    }

    #[test]
    fn bad_hex_is_reported() {
        assert!(decode_hex(b"abc").unwrap_err().contains("odd number"));
        assert!(decode_hex(b"zz").unwrap_err().contains("\"zz\""));
        assert!(parse_line(b"00\tx0", true).is_err());
    }
}
