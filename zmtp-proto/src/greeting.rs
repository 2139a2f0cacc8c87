//! The 64-byte greeting (RFC 23/37 "Greeting", checklist §1.1 and §1.2).
//!
//! The greeting is read incrementally: the peer may send it in any split (libzmq sends 10, then 1,
//! then 53 bytes, waiting for ours in between, checklist G3), so [`GreetingReader`] accepts any
//! number of bytes at a time and checks each field as soon as it is complete.

use crate::error::Error;

/// Length of a ZMTP 3 greeting.
pub const GREETING_LEN: usize = 64;

/// The ZMTP version we announce: 3.1.
pub(crate) const OUR_VERSION: (u8, u8) = (3, 1);

/// Length of the mechanism field.
pub(crate) const MECHANISM_LEN: usize = 20;

/// A protocol version announced in a greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major version (3 for every peer we talk to).
    pub major: u8,
    /// Minor version (0 or 1; higher minors are treated as 3.1).
    pub minor: u8,
}

impl Version {
    /// ZMTP 3.0.
    pub const V3_0: Self = Self { major: 3, minor: 0 };
    /// ZMTP 3.1.
    pub const V3_1: Self = Self { major: 3, minor: 1 };

    /// True if the peer understands ZMTP 3.1 commands (SUBSCRIBE, CANCEL, PING, PONG).
    pub fn has_commands(self) -> bool {
        self >= Self::V3_1
    }
}

/// Encodes our greeting into a 64-byte array.
///
/// ```
/// let g = zmtp_proto::fuzzing::encode_greeting(b"NULL", false);
/// assert_eq!(g[0], 0xff);
/// assert_eq!(g[9], 0x7f);
/// assert_eq!(&g[10..12], &[3, 1]);
/// assert_eq!(&g[12..16], b"NULL");
/// assert_eq!(g[32], 0);
/// ```
pub fn encode(mechanism: &[u8], as_server: bool) -> [u8; GREETING_LEN] {
    debug_assert!(mechanism.len() <= MECHANISM_LEN);
    let mut g = [0u8; GREETING_LEN];
    g[0] = 0xff;
    // Padding: zeros with the last byte 1, like libzmq's "routing id length + 1" trick; receivers
    // must not interpret it (RFC 23).
    g[8] = 0x01;
    g[9] = 0x7f;
    g[10] = OUR_VERSION.0;
    g[11] = OUR_VERSION.1;
    g[12..12 + mechanism.len()].copy_from_slice(mechanism);
    g[32] = u8::from(as_server);
    g
}

/// What we learnt from the peer's greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerGreeting {
    /// The peer's version.
    pub version: Version,
    /// The peer's mechanism field, NUL padded.
    pub mechanism: [u8; MECHANISM_LEN],
    /// The peer's as-server flag.
    pub as_server: bool,
}

impl PeerGreeting {
    /// The mechanism name without its NUL padding.
    pub fn mechanism_name(&self) -> &[u8] {
        let end = self
            .mechanism
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(MECHANISM_LEN);
        &self.mechanism[..end]
    }
}

/// Incremental reader of the peer's greeting.
///
/// ```
/// use zmtp_proto::fuzzing::{encode_greeting, GreetingReader};
///
/// let bytes = encode_greeting(b"NULL", false);
/// let mut r = GreetingReader::new();
/// // libzmq's split: 10 + 1 + 53 bytes.
/// assert_eq!(r.feed(&bytes[..10]).unwrap(), 10);
/// assert!(r.is_signature_complete() && !r.is_complete());
/// r.feed(&bytes[10..11]).unwrap();
/// r.feed(&bytes[11..]).unwrap();
/// assert_eq!(r.greeting().unwrap().mechanism_name(), b"NULL");
/// ```
#[derive(Debug, Clone)]
pub struct GreetingReader {
    buf: [u8; GREETING_LEN],
    len: usize,
}

impl Default for GreetingReader {
    fn default() -> Self {
        Self::new()
    }
}

impl GreetingReader {
    /// A reader that has seen no bytes.
    pub fn new() -> Self {
        Self {
            buf: [0; GREETING_LEN],
            len: 0,
        }
    }

    /// Number of greeting bytes received so far.
    pub fn received(&self) -> usize {
        self.len
    }

    /// True once the 10-byte signature has arrived.
    pub fn is_signature_complete(&self) -> bool {
        self.len >= 10
    }

    /// True once all 64 bytes have arrived.
    pub fn is_complete(&self) -> bool {
        self.len == GREETING_LEN
    }

    /// Consumes up to the rest of the greeting from `input`, validating each field as soon as
    /// it is complete. Returns how many bytes were consumed.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, Error> {
        let take = input.len().min(GREETING_LEN - self.len);
        let start = self.len;
        self.buf[start..start + take].copy_from_slice(&input[..take]);
        self.len += take;
        // Signature: byte 0 is 0xFF, byte 9 has bit 0 set (checklist V5: otherwise a 1.0 peer).
        if start == 0 && self.len >= 1 && self.buf[0] != 0xff {
            return Err(Error::BadSignature);
        }
        if start < 10 && self.len >= 10 && self.buf[9] & 0x01 == 0 {
            return Err(Error::BadSignature);
        }
        // Major version (checklist V1/V3): we do not downgrade, so anything below 3 is refused.
        if start < 11 && self.len >= 11 && self.buf[10] < 3 {
            return Err(Error::UnsupportedVersion {
                major: self.buf[10],
                minor: if self.len >= 12 { self.buf[11] } else { 0 },
            });
        }
        Ok(take)
    }

    /// The parsed greeting, once complete.
    pub fn greeting(&self) -> Option<PeerGreeting> {
        if !self.is_complete() {
            return None;
        }
        let mut mechanism = [0; MECHANISM_LEN];
        mechanism.copy_from_slice(&self.buf[12..12 + MECHANISM_LEN]);
        Some(PeerGreeting {
            version: Version {
                major: self.buf[10],
                minor: self.buf[11],
            },
            mechanism,
            as_server: self.buf[32] != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checklist §1.14: libzmq's NULL 3.0 greeting fixture.
    #[test]
    fn golden_null_3_0_greeting_from_libzmq_is_accepted() {
        let mut g = [0u8; 64];
        g[0] = 0xff;
        g[9] = 0x7f;
        g[10] = 3;
        g[11] = 0;
        g[12..16].copy_from_slice(b"NULL");
        let mut r = GreetingReader::new();
        assert_eq!(r.feed(&g).unwrap(), 64);
        let pg = r.greeting().unwrap();
        assert_eq!(pg.version, Version::V3_0);
        assert!(!pg.version.has_commands());
        assert_eq!(pg.mechanism_name(), b"NULL");
        assert!(!pg.as_server);
    }

    /// Our greeting, byte for byte (checklist §1.1).
    #[test]
    fn golden_our_null_greeting() {
        let g = encode(b"NULL", false);
        let mut expected = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
        expected.extend_from_slice(b"NULL");
        expected.extend_from_slice(&[0; 16]);
        expected.push(0);
        expected.extend_from_slice(&[0; 31]);
        assert_eq!(&g[..], &expected[..]);
    }

    /// Checklist V5: a first byte other than 0xFF is a ZMTP 1.0 peer; refused at once.
    #[test]
    fn bad_first_byte_is_refused_after_one_byte() {
        let mut r = GreetingReader::new();
        assert_eq!(r.feed(&[0x01]), Err(Error::BadSignature));
    }

    /// Checklist V5: byte 9 with bit 0 clear is refused once byte 9 arrives.
    #[test]
    fn bad_tenth_byte_is_refused() {
        let mut r = GreetingReader::new();
        let mut g = encode(b"NULL", false);
        g[9] = 0x7e;
        r.feed(&g[..5]).unwrap();
        assert_eq!(r.feed(&g[5..10]), Err(Error::BadSignature));
    }

    /// Checklist V3: a 2.0 peer is refused with the version it announced.
    #[test]
    fn zmtp_2_peer_is_refused() {
        let mut g = encode(b"NULL", false);
        g[10] = 1;
        let mut r = GreetingReader::new();
        assert_eq!(
            r.feed(&g[..11]),
            Err(Error::UnsupportedVersion { major: 1, minor: 0 })
        );
    }

    /// Checklist V1: versions above 3.1 are accepted.
    #[test]
    fn newer_versions_are_accepted() {
        let mut g = encode(b"NULL", false);
        g[10] = 4;
        g[11] = 7;
        let mut r = GreetingReader::new();
        r.feed(&g).unwrap();
        assert!(r.greeting().unwrap().version.has_commands());
    }

    /// Checklist G3: any split is accepted, one byte at a time included.
    #[test]
    fn greeting_one_byte_at_a_time() {
        let g = encode(b"CURVE", true);
        let mut r = GreetingReader::new();
        for b in g {
            assert_eq!(r.feed(&[b]).unwrap(), 1);
        }
        let pg = r.greeting().unwrap();
        assert_eq!(pg.mechanism_name(), b"CURVE");
        assert!(pg.as_server);
        assert_eq!(r.feed(&[1, 2, 3]).unwrap(), 0);
    }
}
