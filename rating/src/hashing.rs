//! A fast hasher for the engine's in-memory sets and maps, keyed by packed
//! numbers, trunk ids and user numbers that come from our own records (not from an
//! adversary choosing keys to collide). The standard SipHash costs as much as the
//! rest of a call's counting; this is the multiply-rotate hash of rustc's FxHash.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash: one multiply and rotate per word.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// Mixes the high bits down (the murmur3 finaliser): the multiply only carries
    /// low bits upwards, and the table picks buckets with the low bits, so keys
    /// that differ only in later bytes (`t1`, `t2`...) would otherwise collide.
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` with [`FastHasher`].
pub type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_work_and_keys_spread() {
        let mut set: FastSet<u64> = FastSet::default();
        for i in 0..10_000u64 {
            set.insert(i * 2);
        }
        assert_eq!(set.len(), 10_000);
        assert!(set.contains(&19_998) && !set.contains(&19_999));
        let mut map: FastMap<&str, u32> = FastMap::default();
        map.insert("acme-multisite", 1);
        map.insert("acme-multisitf", 2);
        assert_eq!(map["acme-multisite"], 1);
        let h = |s: &str| {
            let mut h = FastHasher::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_ne!(h("t1"), h("t2"));
        assert_ne!(h("abcdefgh1"), h("abcdefgh2"));
        // Ids that differ in later bytes spread over the low bits the table uses.
        let buckets: std::collections::HashSet<u64> =
            (0..5000).map(|i| h(&format!("t{i}")) & 0xfff).collect();
        assert!(
            buckets.len() > 2700,
            "{} distinct low-bit buckets of 4096 (random: about 2890)",
            buckets.len()
        );
    }
}
