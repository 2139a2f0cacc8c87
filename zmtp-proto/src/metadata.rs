//! Metadata properties carried by READY and INITIATE (RFC 23/37 "Metadata", checklist §1.6).

use bytes::{BufMut, Bytes};

use crate::error::Error;

/// The `Socket-Type` property name.
pub(crate) const SOCKET_TYPE: &str = "Socket-Type";
/// The `Identity` property name.
pub(crate) const IDENTITY: &str = "Identity";

/// An ordered list of `name = value` properties.
///
/// Names are compared case-insensitively on receipt (checklist M2) and sent in the spelling
/// they were given.
///
/// ```
/// use zmtp_proto::Metadata;
///
/// let mut m = Metadata::new();
/// m.insert("Socket-Type", "DEALER");
/// m.insert("Identity", "");
/// let mut wire = Vec::new();
/// m.encode(&mut wire);
/// let back = Metadata::parse(bytes::Bytes::from(wire)).unwrap();
/// assert_eq!(back.get("socket-type").unwrap(), &b"DEALER"[..]);
/// assert_eq!(back.get("IDENTITY").unwrap(), &b""[..]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    props: Vec<(Bytes, Bytes)>,
}

impl Metadata {
    /// No properties.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a property (names must be 1–255 bytes of `ALPHA DIGIT - _ . +`).
    pub fn insert(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.props.push((name.into(), value.into()));
    }

    /// The value of the first property whose name matches `name` case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Iterates over `(name, value)` pairs in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.props.iter().map(|(n, v)| (n, v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    /// True if there are no properties.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// Size of the wire encoding.
    pub fn encoded_len(&self) -> usize {
        self.props
            .iter()
            .map(|(n, v)| 1 + n.len() + 4 + v.len())
            .sum()
    }

    /// Appends the wire encoding: `name-len(1) name value-len(4, BE) value` per property.
    pub fn encode(&self, out: &mut impl BufMut) {
        for (name, value) in &self.props {
            debug_assert!(!name.is_empty() && name.len() <= 255);
            out.put_u8(name.len() as u8);
            out.put_slice(name);
            out.put_u32(value.len() as u32);
            out.put_slice(value);
        }
    }

    /// Parses properties that fill `data` exactly. Values are zero-copy slices of `data`.
    ///
    /// Every length is checked against what remains before slicing (checklist M7), a
    /// zero-length or non-token name is refused (M1), and so are trailing bytes.
    pub fn parse(mut data: Bytes) -> Result<Self, Error> {
        let mut props = Vec::new();
        while !data.is_empty() {
            let name_len = usize::from(data[0]);
            if name_len == 0 {
                return Err(Error::MalformedMetadata("empty property name"));
            }
            if data.len() < 1 + name_len + 4 {
                return Err(Error::MalformedMetadata("truncated property"));
            }
            let name = data.slice(1..1 + name_len);
            if !name.iter().all(|&c| is_name_char(c)) {
                return Err(Error::MalformedMetadata(
                    "invalid character in property name",
                ));
            }
            let len_at = 1 + name_len;
            let value_len = u32::from_be_bytes(
                data[len_at..len_at + 4]
                    .try_into()
                    .expect("length checked above"),
            ) as usize;
            if value_len > i32::MAX as usize {
                return Err(Error::MalformedMetadata(
                    "property value longer than 2^31-1",
                ));
            }
            let value_at = len_at + 4;
            if data.len() - value_at < value_len {
                return Err(Error::MalformedMetadata(
                    "property value longer than the command",
                ));
            }
            let value = data.slice(value_at..value_at + value_len);
            props.push((name, value));
            let _ = data.split_to(value_at + value_len);
        }
        Ok(Self { props })
    }
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checklist M7: a value length beyond the end is an error, not a panic (zmq.rs #286).
    #[test]
    fn value_length_beyond_end_is_rejected() {
        let mut wire = vec![4];
        wire.extend_from_slice(b"Name");
        wire.extend_from_slice(&100u32.to_be_bytes());
        wire.extend_from_slice(b"short");
        assert_eq!(
            Metadata::parse(Bytes::from(wire)),
            Err(Error::MalformedMetadata(
                "property value longer than the command"
            ))
        );
    }

    /// Checklist M1: zero-length names are invalid.
    #[test]
    fn empty_name_is_rejected() {
        assert_eq!(
            Metadata::parse(Bytes::from_static(&[0, 0, 0, 0, 0])),
            Err(Error::MalformedMetadata("empty property name"))
        );
    }

    /// Checklist M7: a truncated property is rejected.
    #[test]
    fn truncated_property_is_rejected() {
        assert_eq!(
            Metadata::parse(Bytes::from_static(&[3, b'a', b'b'])),
            Err(Error::MalformedMetadata("truncated property"))
        );
    }

    /// Checklist M2: names match case-insensitively on receipt.
    #[test]
    fn names_are_case_insensitive() {
        let mut m = Metadata::new();
        m.insert("socket-TYPE", "PUB");
        assert_eq!(m.get(SOCKET_TYPE).unwrap(), &b"PUB"[..]);
    }
}
