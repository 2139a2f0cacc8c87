//! Z85, ZeroMQ's printable encoding of binary keys (RFC 32/Z85).
//!
//! Four bytes become five characters from an 85-character alphabet that needs no quoting in
//! source code or on a command line. Decoding is strict: a length that is not a multiple of
//! five, a character outside the alphabet, or a group whose value exceeds 2^32 − 1 is an error
//! (libzmq's `zmq_z85_decode` rejects the same). A CURVE key is 32 bytes, 40 characters.
//!
//! ```
//! use zmtp_proto::fuzzing::z85;
//!
//! // RFC 32's test vector.
//! let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
//! assert_eq!(z85::encode(&data).unwrap(), "HelloWorld");
//! assert_eq!(z85::decode("HelloWorld").unwrap(), data);
//! assert!(z85::decode("Hello").is_ok());
//! assert!(z85::decode("Hell").is_err()); // not a multiple of five
//! assert!(z85::decode("Hell~").is_err()); // `~` is not in the alphabet
//! ```

use std::fmt;

/// The 85 characters, in value order.
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// The value of each ASCII character, or `NONE` for characters outside the alphabet.
const DECODE: [u8; 128] = {
    let mut table = [NONE; 128];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const NONE: u8 = 0xFF;

/// Why a Z85 string or byte string could not be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Z85Error {
    /// Binary input must be a multiple of 4 bytes long, text a multiple of 5 characters.
    BadLength(usize),
    /// A character outside the Z85 alphabet, at this byte offset.
    BadCharacter(usize),
    /// The five characters starting at this offset encode a value above 2^32 − 1.
    Overflow(usize),
}

impl fmt::Display for Z85Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength(n) => write!(
                f,
                "Z85 length {n} is not a multiple of 5 (text) or 4 (binary)"
            ),
            Self::BadCharacter(at) => write!(f, "invalid Z85 character at offset {at}"),
            Self::Overflow(at) => write!(f, "Z85 group at offset {at} exceeds 32 bits"),
        }
    }
}

impl std::error::Error for Z85Error {}

/// Encodes `data`, whose length must be a multiple of 4.
///
/// ```
/// assert_eq!(zmtp_proto::fuzzing::z85::encode(&[0; 4]).unwrap(), "00000");
/// assert!(zmtp_proto::fuzzing::z85::encode(&[0; 3]).is_err());
/// ```
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if data.len() % 4 != 0 {
        return Err(Z85Error::BadLength(data.len()));
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for group in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes(group.try_into().expect("4 bytes"));
        let mut chars = [0u8; 5];
        for c in chars.iter_mut().rev() {
            *c = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        out.extend(chars.iter().map(|&c| char::from(c)));
    }
    Ok(out)
}

/// Decodes `text`, whose length must be a multiple of 5, into `out` (cleared first). Use this
/// form for secrets: the caller owns, and can zero, the only copy.
///
/// ```
/// let mut out = Vec::new();
/// zmtp_proto::fuzzing::z85::decode_into("00000", &mut out).unwrap();
/// assert_eq!(out, [0; 4]);
/// ```
pub fn decode_into(text: &str, out: &mut Vec<u8>) -> Result<(), Z85Error> {
    let text = text.as_bytes();
    if text.len() % 5 != 0 {
        return Err(Z85Error::BadLength(text.len()));
    }
    out.clear();
    out.reserve(text.len() / 5 * 4);
    for (g, group) in text.chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (i, &c) in group.iter().enumerate() {
            let digit = DECODE.get(usize::from(c)).copied().unwrap_or(NONE);
            if digit == NONE {
                return Err(Z85Error::BadCharacter(g * 5 + i));
            }
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow(g * 5))?;
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(())
}

/// Decodes `text`, whose length must be a multiple of 5.
///
/// ```
/// assert_eq!(zmtp_proto::fuzzing::z85::decode("00000").unwrap(), [0; 4]);
/// ```
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let mut out = Vec::new();
    decode_into(text, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 32's test vector.
    #[test]
    fn rfc32_hello_world() {
        let data = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&data).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), data);
    }

    /// The key pair printed in RFC 26/27's examples and libzmq's `test_security_curve.cpp`.
    #[test]
    fn libzmq_test_keys_decode_to_32_bytes() {
        for key in [
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
            "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
        ] {
            let bytes = decode(key).unwrap();
            assert_eq!(bytes.len(), 32);
            assert_eq!(encode(&bytes).unwrap(), key);
        }
    }

    #[test]
    fn extremes() {
        assert_eq!(encode(&[0xFF; 4]).unwrap(), "%nSc0");
        assert_eq!(decode("%nSc0").unwrap(), [0xFF; 4]);
        // One past 2^32 − 1.
        assert_eq!(decode("%nSc1"), Err(Z85Error::Overflow(0)));
        assert_eq!(decode("#####"), Err(Z85Error::Overflow(0)));
        assert_eq!(encode(&[]).unwrap(), "");
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn strict_validation() {
        assert_eq!(decode("abcd"), Err(Z85Error::BadLength(4)));
        assert_eq!(decode("abcde0"), Err(Z85Error::BadLength(6)));
        assert_eq!(decode("0000 "), Err(Z85Error::BadCharacter(4)));
        assert_eq!(decode("00000\"0000"), Err(Z85Error::BadCharacter(5)));
        assert_eq!(decode("0000é"), Err(Z85Error::BadLength(6)));
        assert_eq!(decode("000\u{7f}0"), Err(Z85Error::BadCharacter(3)));
        for bad in [b'"', b'\'', b',', b';', b'\\', b'_', b'`', b'|', b'~', b' '] {
            let text = format!("0000{}", char::from(bad));
            assert_eq!(decode(&text), Err(Z85Error::BadCharacter(4)), "{text}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<[u8; 4]>(), 0..16)) {
            let data: Vec<u8> = data.concat();
            let text = encode(&data).unwrap();
            prop_assert_eq!(text.len(), data.len() / 4 * 5);
            prop_assert_eq!(decode(&text).unwrap(), data);
        }

        #[test]
        fn decode_never_panics(text in "\\PC{0,45}") {
            let _ = decode(&text);
        }
    }
}
