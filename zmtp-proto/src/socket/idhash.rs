//! A keyed hash for the ROUTER's identity map.
//!
//! Identities are short byte strings (our generated ones are five bytes) and a peer chooses its
//! own, so the map needs a hash that is cheap for short keys yet keyed per socket, so that a
//! peer cannot pick identities that collide without knowing the key (HashDoS). std's SipHash-1-3
//! is keyed but costs ~150 instructions for a five-byte key through the streaming `Hasher`
//! interface; this is the folded-multiply construction of foldhash / aHash's fallback: every
//! input word is XORed with a secret 64-bit key and multiplied as 128 bits by another keyed
//! word, the two halves of the product folded together. The four keys come from std's
//! `RandomState` (random per process and per instance), never from a configurable value.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A fixed odd constant (the golden ratio) to spread the length word.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn read8(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn read4(b: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes(b[..4].try_into().expect("4 bytes")))
}

/// Builds [`IdentityHasher`]s with keys drawn once per map.
#[derive(Debug, Clone)]
pub(crate) struct IdentityHash {
    keys: [u64; 4],
}

impl IdentityHash {
    /// Fresh random keys.
    pub(crate) fn new() -> Self {
        let state = RandomState::new();
        let mut keys = [0u64; 4];
        let mut prev = 0x243f_6a88_85a3_08d3_u64;
        for k in &mut keys {
            prev = state.hash_one(prev);
            // An odd multiplier key can never zero the product of a non-zero word.
            *k = prev | 1;
        }
        Self { keys }
    }
}

impl Default for IdentityHash {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildHasher for IdentityHash {
    type Hasher = IdentityHasher;

    #[inline]
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher {
            acc: self.keys[0],
            keys: [self.keys[1], self.keys[2], self.keys[3]],
        }
    }
}

/// The streaming state: one accumulator folded with each input.
#[derive(Debug, Clone)]
pub(crate) struct IdentityHasher {
    acc: u64,
    keys: [u64; 3],
}

impl IdentityHasher {
    #[inline(always)]
    fn mix(&mut self, a: u64, b: u64) {
        self.acc = folded_multiply(a ^ self.acc ^ self.keys[0], b ^ self.keys[1]);
    }
}

impl Hasher for IdentityHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let len = bytes.len();
        // Every length is mixed in too, so that overlapping reads of different lengths differ.
        self.acc = self.acc.wrapping_add((len as u64).wrapping_mul(SPREAD));
        if len <= 16 {
            let (a, b) = if len >= 8 {
                (read8(bytes), read8(&bytes[len - 8..]))
            } else if len >= 4 {
                (read4(bytes), read4(&bytes[len - 4..]))
            } else if len > 0 {
                let (lo, mid, hi) = (bytes[0], bytes[len / 2], bytes[len - 1]);
                (u64::from(lo) | u64::from(mid) << 8 | u64::from(hi) << 16, 0)
            } else {
                (0, 0)
            };
            self.mix(a, b);
            return;
        }
        let mut rest = bytes;
        while rest.len() > 16 {
            self.mix(read8(rest), read8(&rest[8..]));
            rest = &rest[16..];
        }
        // The last 16 bytes (overlapping what was already mixed when `len` is not a multiple).
        let tail = &bytes[len - 16..];
        self.mix(read8(tail), read8(&tail[8..]));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        // Nonlinear: a plain multiply would let a length cancel the one `write` adds.
        self.acc = folded_multiply(self.acc ^ n as u64, SPREAD);
    }

    #[inline]
    fn finish(&self) -> u64 {
        folded_multiply(self.acc, self.keys[2])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::IdentityHash;

    #[test]
    fn distinct_short_keys_hash_apart() {
        let h = IdentityHash::new();
        let mut seen = HashSet::new();
        // Every 0-, 1- and 2-byte key and the generated-identity shape.
        seen.insert(h.hash_one(&b""[..]));
        for a in 0..=255u8 {
            assert!(seen.insert(h.hash_one(&[a][..])));
            for b in 0..=255u8 {
                assert!(seen.insert(h.hash_one(&[a, b][..])));
            }
        }
        for n in 0..100_000u32 {
            let mut id = vec![0u8];
            id.extend_from_slice(&n.to_be_bytes());
            assert!(seen.insert(h.hash_one(&id[..])));
        }
    }

    #[test]
    fn keys_differ_per_instance_and_long_keys_work() {
        let (a, b) = (IdentityHash::new(), IdentityHash::new());
        let long = [7u8; 100];
        assert_ne!(a.hash_one(&long[..]), b.hash_one(&long[..]));
        let mut other = long;
        other[99] = 8;
        assert_ne!(a.hash_one(&long[..]), a.hash_one(&other[..]));
        other = long;
        other[3] = 8;
        assert_ne!(a.hash_one(&long[..]), a.hash_one(&other[..]));
    }
}
