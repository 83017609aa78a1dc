//! The per-thread cache of normalised numbers: a customer's own numbers appear in most
//! of its rows, and reading a number against the numbering plan costs far more than a
//! lookup.
//!
//! A fixed table of [`SETS`] sets of two slots, each slot holding the number's text
//! and its normalised form inline (no allocation to remember or to forget a number).
//! A new number takes the first slot of its set and moves the one there to the second;
//! a number found in the second slot moves back to the first. So a number used again
//! and again stays, while the stream of numbers seen once (most callees) only ever
//! evicts the other stream-seen number of its set. Texts or normalised forms longer
//! than [`TEXT_MAX`] bytes are not cached.

/// Sets of the table (8,192 slots, 512 KiB per thread).
pub const SETS: usize = 4_096;

/// Longest text (and normalised form) a slot holds, in bytes.
pub const TEXT_MAX: usize = 30;

/// One remembered number; `text_len` 0 marks an empty slot (blank texts are never
/// normalised, so never cached).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    text_len: u8,
    normalised_len: u8,
    /// 0: not asked, 1: not an emergency number, 2: an emergency number.
    emergency: u8,
    text: [u8; TEXT_MAX],
    normalised: [u8; TEXT_MAX],
}

impl Slot {
    const EMPTY: Slot = Slot {
        text_len: 0,
        normalised_len: 0,
        emergency: 0,
        text: [0; TEXT_MAX],
        normalised: [0; TEXT_MAX],
    };

    fn holds(&self, text: &[u8]) -> bool {
        usize::from(self.text_len) == text.len() && &self.text[..text.len()] == text
    }

    fn emergency(&self) -> Option<bool> {
        match self.emergency {
            0 => None,
            flag => Some(flag == 2),
        }
    }

    fn normalised(&self) -> &str {
        // Only `put` fills slots, from a `&str` that fits whole.
        std::str::from_utf8(&self.normalised[..usize::from(self.normalised_len)])
            .unwrap_or_default()
    }
}

/// What the cache knows of a number.
#[derive(Debug, PartialEq, Eq)]
pub struct Known<'a> {
    /// The normalised form.
    pub normalised: &'a str,
    /// Whether it is an emergency number, when that was asked.
    pub emergency: Option<bool>,
}

/// Normalised numbers by their text (see the module documentation).
pub struct NumberCache {
    slots: Box<[Slot]>,
}

impl Default for NumberCache {
    fn default() -> Self {
        NumberCache {
            slots: vec![Slot::EMPTY; 2 * SETS].into_boxed_slice(),
        }
    }
}

impl NumberCache {
    /// The number `text` normalises to, if remembered (and, when `with_emergency`,
    /// remembered with its emergency flag).
    pub fn get(&mut self, text: &str, with_emergency: bool) -> Option<Known<'_>> {
        let first = set_of(text.as_bytes()) * 2;
        let way = (0..2).find(|way| {
            let slot = &self.slots[first + way];
            slot.holds(text.as_bytes()) && (!with_emergency || slot.emergency != 0)
        })?;
        if way == 1 {
            self.slots.swap(first, first + 1);
        }
        let slot = &self.slots[first];
        Some(Known {
            normalised: slot.normalised(),
            emergency: slot.emergency(),
        })
    }

    /// Remembers that `text` normalises to `normalised` (and whether it is an
    /// emergency number, when known), unless either is longer than [`TEXT_MAX`].
    pub fn put(&mut self, text: &str, normalised: &str, emergency: Option<bool>) {
        if text.is_empty() || text.len() > TEXT_MAX || normalised.len() > TEXT_MAX {
            return;
        }
        let mut slot = Slot::EMPTY;
        slot.text_len = text.len() as u8;
        slot.text[..text.len()].copy_from_slice(text.as_bytes());
        slot.normalised_len = normalised.len() as u8;
        slot.normalised[..normalised.len()].copy_from_slice(normalised.as_bytes());
        slot.emergency = match emergency {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        let first = set_of(text.as_bytes()) * 2;
        // A copy in the second slot is overwritten by the shift.
        if !self.slots[first].holds(text.as_bytes()) {
            self.slots[first + 1] = self.slots[first];
        }
        self.slots[first] = slot;
    }
}

/// The set of a text: a multiply-rotate hash (the Firefox/rustc "Fx" hash). Number
/// texts are short and not chosen by someone who could gain from collisions: at worst
/// a number is parsed again.
fn set_of(bytes: &[u8]) -> usize {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut hash = 0u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        hash = (hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
    for byte in chunks.remainder() {
        hash = (hash.rotate_left(5) ^ u64::from(*byte)).wrapping_mul(SEED);
    }
    // The high bits are the well-mixed ones.
    (hash >> 40) as usize % SETS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(cache: &mut NumberCache, text: &str) -> Option<String> {
        cache.get(text, false).map(|k| k.normalised.to_string())
    }

    /// Texts that share `text`'s set, as many as asked.
    fn same_set(text: &str, count: usize) -> Vec<String> {
        let set = set_of(text.as_bytes());
        (0u64..)
            .map(|n| format!("0{:09}", 600_000_000 + n))
            .filter(|t| t != text && set_of(t.as_bytes()) == set)
            .take(count)
            .collect()
    }

    #[test]
    fn a_number_put_is_found_with_its_flag() {
        let mut cache = NumberCache::default();
        assert_eq!(cache.get("0612345678", false), None);
        cache.put("0612345678", "+33612345678", None);
        assert_eq!(
            cache.get("0612345678", false),
            Some(Known {
                normalised: "+33612345678",
                emergency: None
            })
        );
        assert_eq!(
            cache.get("0612345678", true),
            None,
            "the flag was not asked"
        );
        cache.put("0612345678", "+33612345678", Some(false));
        cache.put("112", "112", Some(true));
        assert_eq!(
            cache.get("0612345678", true).unwrap().emergency,
            Some(false)
        );
        assert_eq!(cache.get("112", true).unwrap().emergency, Some(true));
        assert_eq!(cache.get("06123456789", false), None);
        assert_eq!(cache.get("061234567", false), None);
    }

    #[test]
    fn a_number_in_use_survives_a_stream_of_new_ones() {
        let mut cache = NumberCache::default();
        cache.put("0140000001", "+33140000001", None);
        for other in same_set("0140000001", 50) {
            cache.put(&other, "+33600000000", None);
            assert_eq!(
                normalised(&mut cache, "0140000001").as_deref(),
                Some("+33140000001")
            );
        }
    }

    #[test]
    fn the_least_recently_used_of_a_set_is_forgotten() {
        let mut cache = NumberCache::default();
        let others = same_set("0140000001", 2);
        cache.put("0140000001", "+33140000001", None);
        cache.put(&others[0], "+33600000001", None);
        cache.put(&others[1], "+33600000002", None);
        assert_eq!(normalised(&mut cache, "0140000001"), None);
        assert_eq!(
            normalised(&mut cache, &others[0]).as_deref(),
            Some("+33600000001")
        );
        assert_eq!(
            normalised(&mut cache, &others[1]).as_deref(),
            Some("+33600000002")
        );
    }

    #[test]
    fn putting_a_number_again_keeps_one_copy() {
        let mut cache = NumberCache::default();
        let other = &same_set("0140000001", 1)[0];
        cache.put("0140000001", "+33140000001", None);
        cache.put(other, "+33600000001", None);
        // Again, now with its flag: it replaces its own slot, the other stays.
        cache.put("0140000001", "+33140000001", Some(false));
        assert_eq!(
            cache.get("0140000001", true).unwrap().emergency,
            Some(false)
        );
        assert_eq!(
            normalised(&mut cache, other).as_deref(),
            Some("+33600000001")
        );
    }

    #[test]
    fn long_texts_are_not_cached() {
        let mut cache = NumberCache::default();
        let long = "+33 6 12 34 56 78 ;ext=12345678";
        assert!(long.len() > TEXT_MAX);
        cache.put(long, "+33612345678", None);
        assert_eq!(normalised(&mut cache, long), None);
        cache.put("0612345678", &"9".repeat(TEXT_MAX + 1), None);
        assert_eq!(normalised(&mut cache, "0612345678"), None);
        let fits = "1".repeat(TEXT_MAX);
        cache.put(&fits, &fits, None);
        assert_eq!(normalised(&mut cache, &fits), Some(fits.clone()));
    }
}
