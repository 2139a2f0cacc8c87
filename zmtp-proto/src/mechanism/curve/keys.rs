//! CURVE keys: Curve25519 public and secret keys, in bytes or Z85 text (RFC 32).
//!
//! Secret keys are zeroed when dropped, compared in constant time, and never shown: their
//! `Debug` prints `<redacted>` and they have no `Display`. Turning one back into text takes
//! the explicitly named [`CurveSecretKey::expose_z85`].

use std::fmt;

use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::Error;
use crate::z85;

/// Bytes in a Curve25519 key.
pub(crate) const KEY_LEN: usize = 32;
/// Characters in a Z85-encoded key.
pub(super) const Z85_KEY_LEN: usize = 40;

/// A Curve25519 public key (a CURVE server's or client's long-term key). Not a secret: `==`
/// is an ordinary comparison; the handshake's own checks use constant-time ones.
///
/// ```
/// use zmtp_proto::CurvePublicKey;
///
/// let key = CurvePublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").unwrap();
/// assert_eq!(key.to_z85(), "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
/// assert_eq!(key.to_string(), key.to_z85());
/// assert!(CurvePublicKey::from_z85("too short").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CurvePublicKey([u8; KEY_LEN]);

impl CurvePublicKey {
    /// The key whose 32 bytes are `bytes`.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses a 40-character Z85 key (libzmq's `ZMQ_CURVE_SERVERKEY` and friends as text).
    pub fn from_z85(text: &str) -> Result<Self, Error> {
        let mut bytes = Zeroizing::new(Vec::new());
        decode_key(text, &mut bytes)?;
        Ok(Self(bytes[..].try_into().expect("32 bytes")))
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key as 40 characters of Z85.
    pub fn to_z85(&self) -> String {
        z85::encode(&self.0).expect("32 is a multiple of 4")
    }

    /// Constant-time equality.
    pub(crate) fn ct_eq_bytes(&self, other: &[u8]) -> bool {
        other.len() == KEY_LEN && bool::from(self.0.ct_eq(other))
    }
}

impl fmt::Debug for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurvePublicKey({})", self.to_z85())
    }
}

impl fmt::Display for CurvePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

/// A Curve25519 secret key. Zeroed on drop; never printed.
///
/// ```
/// use zmtp_proto::CurveSecretKey;
///
/// let secret = CurveSecretKey::from_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6").unwrap();
/// assert_eq!(format!("{secret:?}"), "CurveSecretKey(<redacted>)");
/// // Its public key, as libzmq's zmq_curve_public derives it.
/// assert_eq!(secret.public_key().to_z85(), "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
/// ```
#[derive(Clone)]
pub struct CurveSecretKey(Zeroizing<[u8; KEY_LEN]>);

impl CurveSecretKey {
    /// The key whose 32 bytes are `bytes` (any 32 bytes are a valid X25519 secret).
    pub fn from_bytes(mut bytes: [u8; KEY_LEN]) -> Self {
        let key = Self(Zeroizing::new(bytes));
        bytes.zeroize();
        key
    }

    /// Parses a 40-character Z85 secret key.
    pub fn from_z85(text: &str) -> Result<Self, Error> {
        let mut bytes = Zeroizing::new(Vec::new());
        decode_key(text, &mut bytes)?;
        let mut key = Zeroizing::new([0; KEY_LEN]);
        key.copy_from_slice(&bytes);
        Ok(Self(key))
    }

    /// A fresh key from a cryptographically secure generator.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut key = Zeroizing::new([0; KEY_LEN]);
        rng.fill_bytes(&mut key[..]);
        Self(key)
    }

    /// The public key that goes with this secret key (X25519 of the base point).
    pub fn public_key(&self) -> CurvePublicKey {
        CurvePublicKey(self.to_crypto().public_key().to_bytes())
    }

    /// The secret as 40 characters of Z85, in a string zeroed when dropped. Named so that
    /// every place that reveals a secret says so.
    pub fn expose_z85(&self) -> Zeroizing<String> {
        Zeroizing::new(z85::encode(&self.0[..]).expect("32 is a multiple of 4"))
    }

    /// The key's bytes (the cookie carries the server's transient secret).
    pub(super) fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key's bytes, for the crypto crate.
    pub(super) fn to_crypto(&self) -> crypto_box::SecretKey {
        crypto_box::SecretKey::from_bytes(*self.0)
    }
}

impl PartialEq for CurveSecretKey {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.ct_eq(&other.0[..]))
    }
}

impl Eq for CurveSecretKey {}

impl fmt::Debug for CurveSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveSecretKey(<redacted>)")
    }
}

/// A long-term key pair: what libzmq's `zmq_curve_keypair` makes and `ZMQ_CURVE_PUBLICKEY` +
/// `ZMQ_CURVE_SECRETKEY` set.
///
/// ```
/// use zmtp_proto::{CurveKeyPair, CurveSecretKey};
///
/// let pair = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([7; 32]));
/// assert_eq!(pair.public(), &pair.secret().public_key());
/// assert!(!format!("{pair:?}").contains(&*pair.secret().expose_z85()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CurveKeyPair {
    public: CurvePublicKey,
    secret: CurveSecretKey,
}

impl CurveKeyPair {
    /// The pair for `secret` (its public key is derived).
    pub fn from_secret(secret: CurveSecretKey) -> Self {
        Self {
            public: secret.public_key(),
            secret,
        }
    }

    /// A fresh pair from a cryptographically secure generator (e.g. `rand::rngs::OsRng`).
    ///
    /// ```
    /// use rand::rngs::OsRng;
    /// use zmtp_proto::CurveKeyPair;
    ///
    /// let (a, b) = (CurveKeyPair::generate(&mut OsRng), CurveKeyPair::generate(&mut OsRng));
    /// assert_ne!(a.public(), b.public());
    /// ```
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self::from_secret(CurveSecretKey::generate(rng))
    }

    /// Both keys as Z85 text, checking that `public` belongs to `secret`.
    pub fn from_z85(public: &str, secret: &str) -> Result<Self, Error> {
        let pair = Self::from_secret(CurveSecretKey::from_z85(secret)?);
        if pair.public != CurvePublicKey::from_z85(public)? {
            return Err(Error::InvalidOption(
                "the CURVE public key does not belong to the secret key",
            ));
        }
        Ok(pair)
    }

    /// The public key.
    pub fn public(&self) -> &CurvePublicKey {
        &self.public
    }

    /// The secret key.
    pub fn secret(&self) -> &CurveSecretKey {
        &self.secret
    }
}

impl fmt::Debug for CurveKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveKeyPair")
            .field("public", &self.public)
            .field("secret", &self.secret)
            .finish()
    }
}

fn decode_key(text: &str, out: &mut Vec<u8>) -> Result<(), Error> {
    if text.len() != Z85_KEY_LEN {
        return Err(Error::InvalidOption(
            "a CURVE key is 40 characters of Z85 (32 bytes)",
        ));
    }
    z85::decode_into(text, out)
        .map_err(|_| Error::InvalidOption("a CURVE key must be valid Z85 (RFC 32)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example key pairs of RFC 26/27 and libzmq's tests: each public key is the one
    /// derived from its secret key.
    #[test]
    fn libzmq_example_pairs_match() {
        for (public, secret) in [
            (
                "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
                "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6",
            ),
            (
                "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
                "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
            ),
        ] {
            let pair = CurveKeyPair::from_z85(public, secret).unwrap();
            assert_eq!(pair.public().to_z85(), public);
            assert_eq!(&*pair.secret().expose_z85(), secret);
        }
        assert!(CurveKeyPair::from_z85(
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
            "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs",
        )
        .is_err());
    }

    #[test]
    fn debug_never_shows_secret_bytes() {
        let secret = CurveSecretKey::from_bytes([0xAB; 32]);
        let pair = CurveKeyPair::from_secret(secret.clone());
        for text in [
            format!("{secret:?}"),
            format!("{pair:?}"),
            format!("{pair:#?}"),
        ] {
            assert!(!text.contains(&*secret.expose_z85()), "{text}");
            assert!(!text.to_lowercase().contains("abab"), "{text}");
            assert!(!text.contains("171"), "{text}");
        }
    }

    #[test]
    fn key_text_is_validated() {
        assert!(CurvePublicKey::from_z85("").is_err());
        assert!(CurvePublicKey::from_z85(&"0".repeat(39)).is_err());
        assert!(CurvePublicKey::from_z85(&"0".repeat(45)).is_err());
        assert!(CurvePublicKey::from_z85(&format!("{}~", "0".repeat(39))).is_err());
        assert!(CurveSecretKey::from_z85(&"#".repeat(40)).is_err());
        assert_eq!(
            CurvePublicKey::from_z85(&"0".repeat(40)).unwrap(),
            CurvePublicKey::from_bytes([0; 32])
        );
    }
}
