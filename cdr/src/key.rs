//! Stable call keys: the identity under which a call record is deduplicated.
//!
//! A key is derived only from what identifies the call attempt at its source, never
//! from fields a re-send or a re-import could change (times written later, trunk
//! resolution, enrichment). The same record re-sent from the spool or re-imported from
//! the same source row therefore always gets the same key, and ClickHouse's
//! ReplacingMergeTree collapses the copies.
//!
//! Derivation (version 1): SHA-256 over `fairtrunk-call-key-v1`, then each part
//! preceded by its length, truncated to 128 bits and written as 32 lowercase hex
//! digits. Length prefixes keep `("ab", "c")` and `("a", "bc")` apart.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The stable identity of one call attempt (32 lowercase hex digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallKey(String);

impl CallKey {
    /// Key of a call attempt seen by an edge node: the node, the SIP Call-ID, the
    /// From tag and the INVITE's CSeq number. The CSeq keeps apart the INVITEs of one
    /// dialog that are separate attempts (an INVITE repeated after a 407 challenge).
    pub fn for_edge(node_id: &str, call_id: &str, from_tag: &str, invite_cseq: u32) -> Self {
        Self::derive(&["edge", node_id, call_id, from_tag, &invite_cseq.to_string()])
    }

    /// Key of an imported record: the import format and the source's own identifier
    /// of the row (Teams `id`, a switch's unique id, or a canonical join of the fields
    /// that identify the row when the source has no id).
    pub fn for_import(format: &str, source_id: &str) -> Self {
        Self::derive(&["import", format, source_id])
    }

    /// Derives a key from identifying parts (see the module doc for the algorithm).
    pub fn derive(parts: &[&str]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"fairtrunk-call-key-v1");
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        // Hand-rolled hex: keys are derived for every imported row, and formatting
        // each byte through `format!` was a visible share of an import's time.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(32);
        for byte in &digest[..16] {
            hex.push(HEX[usize::from(byte >> 4)] as char);
            hex.push(HEX[usize::from(byte & 0x0f)] as char);
        }
        CallKey(hex)
    }

    /// Reads a key back from storage.
    ///
    /// # Errors
    /// When the text is not 32 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(CallKey(text.to_string()))
        } else {
            Err(format!(
                "call key {text:?} is not 32 lowercase hexadecimal digits"
            ))
        }
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 128 bits the key's 32 hex digits write: the keys' text order is the order
    /// of these numbers (the `calls` table's order), and they hash and compare
    /// cheaper than the text.
    pub fn bits(&self) -> u128 {
        self.0.bytes().fold(0u128, |bits, digit| {
            let value = match digit {
                b'0'..=b'9' => digit - b'0',
                b'a'..=b'f' => digit - b'a' + 10,
                _ => 0,
            };
            (bits << 4) | u128::from(value)
        })
    }
}

impl fmt::Display for CallKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_the_number_the_digits_write() {
        let key = CallKey::parse("000102030405060708090a0b0c0d0e0f").unwrap();
        assert_eq!(key.bits(), 0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f);
        let high = CallKey::parse("f0000000000000000000000000000000").unwrap();
        assert!(high.bits() > key.bits() && high.as_str() > key.as_str());
    }

    #[test]
    fn same_parts_same_key() {
        let a = CallKey::for_edge("edge-1", "abc@pbx", "tag1", 1);
        let b = CallKey::for_edge("edge-1", "abc@pbx", "tag1", 1);
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 32);
    }

    #[test]
    fn every_part_matters() {
        let base = CallKey::for_edge("edge-1", "abc@pbx", "tag1", 1);
        assert_ne!(base, CallKey::for_edge("edge-2", "abc@pbx", "tag1", 1));
        assert_ne!(base, CallKey::for_edge("edge-1", "abd@pbx", "tag1", 1));
        assert_ne!(base, CallKey::for_edge("edge-1", "abc@pbx", "tag2", 1));
        assert_ne!(base, CallKey::for_edge("edge-1", "abc@pbx", "tag1", 2));
        assert_ne!(
            CallKey::for_import("teams", "x"),
            CallKey::for_import("csv", "x")
        );
    }

    #[test]
    fn part_boundaries_are_not_ambiguous() {
        assert_ne!(CallKey::derive(&["ab", "c"]), CallKey::derive(&["a", "bc"]));
    }

    #[test]
    fn derivation_is_stable_across_releases() {
        // Stored keys must never change meaning: this value is the v1 derivation.
        let key = CallKey::for_import("teams-json", "0a1b2c");
        assert_eq!(CallKey::parse(key.as_str()), Ok(key.clone()));
        assert_eq!(key.as_str(), EXPECTED_V1);
    }

    // Computed independently with Python: hashlib.sha256(b"fairtrunk-call-key-v1" +
    // each part as <8-byte little-endian length><bytes>).hexdigest()[:32]
    const EXPECTED_V1: &str = "a929bfed24d532f78d07e47442ab9f30";

    #[test]
    fn parse_rejects_non_keys() {
        assert!(CallKey::parse("xyz").is_err());
        assert!(CallKey::parse(&"A".repeat(32)).is_err());
    }
}
