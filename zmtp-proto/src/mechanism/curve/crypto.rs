//! The NaCl boxes CurveZMQ is built from, in libsodium's "easy" layout: a 16-byte MAC, then the
//! ciphertext, which is as long as the plaintext. `crypto_box` (X25519 + XSalsa20-Poly1305,
//! with the shared key computed once) for the boxes between two key pairs, `crypto_secretbox`
//! for the server's cookie.

use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::{AeadInPlace, KeyInit};
use crypto_box::{PublicKey, SalsaBox};
use crypto_secretbox::XSalsa20Poly1305;
use salsa20::cipher::{KeyIvInit, StreamCipher};
use salsa20::XSalsa20;
use zeroize::Zeroizing;

use super::keys::{CurveSecretKey, KEY_LEN};

/// A cryptographically secure generator: the XSalsa20 keystream under a 32-byte seed from
/// the OS (the driver reads it; the core has no OS access). Its state is zeroed when dropped,
/// unlike a general-purpose generator's, so a dropped connection leaves no key material behind.
pub(crate) struct Keystream(XSalsa20);

impl Keystream {
    /// The keystream of `seed`.
    pub(crate) fn new(seed: &[u8; 32]) -> Self {
        Self(XSalsa20::new(seed.into(), &[0; 24].into()))
    }

    /// Fills `out` with the next bytes of the keystream.
    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        out.fill(0);
        self.0.apply_keystream(out);
    }

    /// The next 32 bytes, as a secret key.
    pub(crate) fn secret_key(&mut self) -> CurveSecretKey {
        let mut key = Zeroizing::new([0; KEY_LEN]);
        self.fill(&mut key[..]);
        CurveSecretKey::from_bytes(*key)
    }
}

impl std::fmt::Debug for Keystream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keystream(..)")
    }
}

/// Bytes a box adds to its plaintext (the Poly1305 MAC).
pub(super) const MAC_LEN: usize = 16;

/// A 24-byte nonce: a 16-byte prefix and an 8-byte big-endian counter ("short nonce").
pub(super) fn short_nonce(prefix: &[u8; 16], counter: u64) -> [u8; 24] {
    let mut nonce = [0; 24];
    nonce[..16].copy_from_slice(prefix);
    nonce[16..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// A 24-byte nonce: an 8-byte prefix and 16 bytes from the peer or our generator ("long
/// nonce").
pub(super) fn long_nonce(prefix: &[u8; 8], random: &[u8]) -> [u8; 24] {
    let mut nonce = [0; 24];
    nonce[..8].copy_from_slice(prefix);
    nonce[8..].copy_from_slice(&random[..16]);
    nonce
}

/// A box between our secret key and a peer's public key (the shared key is computed once, as
/// libsodium's `crypto_box_beforenm`).
pub(super) fn key_box(theirs: &[u8; KEY_LEN], ours: &CurveSecretKey) -> SalsaBox {
    SalsaBox::new(&PublicKey::from_bytes(*theirs), &ours.to_crypto())
}

/// The secret box of a server's cookie key.
pub(super) fn cookie_box(key: &[u8; KEY_LEN]) -> XSalsa20Poly1305 {
    XSalsa20Poly1305::new(GenericArray::from_slice(key))
}

/// Appends `MAC ‖ ciphertext` of `plaintext` to `out`.
pub(super) fn seal(
    cipher: &impl AeadInPlace,
    nonce: &[u8; 24],
    plaintext: &[u8],
    out: &mut bytes::BytesMut,
) {
    let at = out.len();
    out.reserve(MAC_LEN + plaintext.len());
    out.extend_from_slice(&[0; MAC_LEN]);
    out.extend_from_slice(plaintext);
    seal_in_place(cipher, nonce, &mut out[at..]);
}

/// Encrypts `buf[MAC_LEN..]` in place and writes its MAC into `buf[..MAC_LEN]`.
pub(super) fn seal_in_place(cipher: &impl AeadInPlace, nonce: &[u8; 24], buf: &mut [u8]) {
    let (mac, text) = buf.split_at_mut(MAC_LEN);
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), b"", text)
        .expect("XSalsa20-Poly1305 takes any length up to 2^38 bytes");
    mac.copy_from_slice(&tag);
}

/// Opens `boxed` (`MAC ‖ ciphertext`); the plaintext is zeroed when dropped. `None` if the box
/// is too short or its MAC does not verify.
pub(super) fn open(
    cipher: &impl AeadInPlace,
    nonce: &[u8; 24],
    boxed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if boxed.len() < MAC_LEN {
        return None;
    }
    let mut text = Zeroizing::new(boxed[MAC_LEN..].to_vec());
    open_in_place(cipher, nonce, &boxed[..MAC_LEN], &mut text).then_some(text)
}

/// Decrypts `text` in place if `mac` verifies; false (and `text` unchanged) otherwise.
pub(super) fn open_in_place(
    cipher: &impl AeadInPlace,
    nonce: &[u8; 24],
    mac: &[u8],
    text: &mut [u8],
) -> bool {
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            b"",
            text,
            GenericArray::from_slice(mac),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::curve::keys::CurveKeyPair;

    #[test]
    fn keystreams_differ_by_seed_and_never_repeat() {
        let (mut a, mut b) = (Keystream::new(&[1; 32]), Keystream::new(&[2; 32]));
        let (mut x, mut y, mut z) = ([0; 32], [0; 32], [0; 32]);
        a.fill(&mut x);
        a.fill(&mut y);
        b.fill(&mut z);
        assert!(x != y && x != z && y != z);
        assert_ne!(x, [0; 32]);
        assert_eq!(format!("{a:?}"), "Keystream(..)");
    }

    #[test]
    fn a_box_opens_only_with_the_right_keys_and_nonce() {
        let a = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([1; 32]));
        let b = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([2; 32]));
        let c = CurveKeyPair::from_secret(CurveSecretKey::from_bytes([3; 32]));
        let nonce = short_nonce(b"CurveZMQMESSAGEC", 7);
        let mut boxed = bytes::BytesMut::new();
        seal(
            &key_box(b.public().as_bytes(), a.secret()),
            &nonce,
            b"hi",
            &mut boxed,
        );
        assert_eq!(boxed.len(), MAC_LEN + 2);
        let ba = key_box(a.public().as_bytes(), b.secret());
        assert_eq!(&open(&ba, &nonce, &boxed).unwrap()[..], b"hi");
        assert!(open(&ba, &short_nonce(b"CurveZMQMESSAGEC", 8), &boxed).is_none());
        assert!(open(&key_box(a.public().as_bytes(), c.secret()), &nonce, &boxed).is_none());
        assert!(open(&ba, &nonce, &boxed[..15]).is_none());
    }
}
