//! A decimal digit trie: the longest-prefix index behind every table lookup.
//!
//! Country codes, numbering-plan prefixes, short codes and overseas national prefixes
//! are all looked up by walking the digits of a number once, so a lookup costs
//! O(digits) whatever the size of the table (ARCEP's files included). Values are
//! `u32` indexes into the owning table's row vector; the trie stores nothing else.

/// Marks a node that carries no value.
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    /// Child node index per digit; 0 means "no child" (node 0 is the root and is
    /// never anyone's child).
    children: [u32; 10],
    /// Row index stored at this node, or [`NONE`].
    value: u32,
}

impl Node {
    fn empty() -> Node {
        Node {
            children: [0; 10],
            value: NONE,
        }
    }
}

/// A trie over ASCII digit strings mapping prefixes to row indexes.
#[derive(Debug, Clone)]
pub(crate) struct PrefixTrie {
    nodes: Vec<Node>,
}

impl Default for PrefixTrie {
    fn default() -> Self {
        PrefixTrie {
            nodes: vec![Node::empty()],
        }
    }
}

impl PrefixTrie {
    /// Stores `value` at `prefix` (ASCII digits), returning the value it replaces.
    ///
    /// Non-digit bytes are a caller bug; they are rejected by the table loaders
    /// before they get here, and ignored here rather than panicking.
    pub(crate) fn insert(&mut self, prefix: &[u8], value: u32) -> Option<u32> {
        let mut at = 0usize;
        for &b in prefix {
            let Some(d) = digit(b) else { continue };
            let next = self.nodes[at].children[d];
            at = if next == 0 {
                self.nodes.push(Node::empty());
                let idx = (self.nodes.len() - 1) as u32;
                self.nodes[at].children[d] = idx;
                idx as usize
            } else {
                next as usize
            };
        }
        let old = std::mem::replace(&mut self.nodes[at].value, value);
        (old != NONE).then_some(old)
    }

    /// The value at the longest prefix of `digits` that has one, with that prefix's
    /// length.
    pub(crate) fn longest(&self, digits: &[u8]) -> Option<(u32, usize)> {
        let mut best = None;
        self.walk(digits, |value, depth| {
            best = Some((value, depth));
        });
        best
    }

    /// The value stored at exactly `digits`.
    pub(crate) fn exact(&self, digits: &[u8]) -> Option<u32> {
        let mut at = 0usize;
        for &b in digits {
            let d = digit(b)?;
            let next = self.nodes[at].children[d];
            if next == 0 {
                return None;
            }
            at = next as usize;
        }
        let v = self.nodes[at].value;
        (v != NONE).then_some(v)
    }

    /// Calls `f(value, prefix_len)` for every prefix of `digits` that has a value,
    /// shortest first.
    pub(crate) fn walk(&self, digits: &[u8], mut f: impl FnMut(u32, usize)) {
        let mut at = 0usize;
        if self.nodes[0].value != NONE {
            f(self.nodes[0].value, 0);
        }
        for (i, &b) in digits.iter().enumerate() {
            let Some(d) = digit(b) else { return };
            let next = self.nodes[at].children[d];
            if next == 0 {
                return;
            }
            at = next as usize;
            let v = self.nodes[at].value;
            if v != NONE {
                f(v, i + 1);
            }
        }
    }
}

fn digit(b: u8) -> Option<usize> {
    b.is_ascii_digit().then(|| (b - b'0') as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let mut t = PrefixTrie::default();
        t.insert(b"1", 0);
        t.insert(b"1204", 1);
        t.insert(b"33", 2);
        assert_eq!(t.longest(b"12045551234"), Some((1, 4)));
        assert_eq!(t.longest(b"12125551234"), Some((0, 1)));
        assert_eq!(t.longest(b"33123"), Some((2, 2)));
        assert_eq!(t.longest(b"44"), None);
        assert_eq!(t.longest(b""), None);
    }

    #[test]
    fn insert_replaces_and_reports_previous() {
        let mut t = PrefixTrie::default();
        assert_eq!(t.insert(b"33", 1), None);
        assert_eq!(t.insert(b"33", 2), Some(1));
        assert_eq!(t.exact(b"33"), Some(2));
        assert_eq!(t.exact(b"3"), None);
        assert_eq!(t.exact(b"331"), None);
    }

    #[test]
    fn walk_visits_every_matching_prefix_shortest_first() {
        let mut t = PrefixTrie::default();
        t.insert(b"3", 0);
        t.insert(b"33", 1);
        t.insert(b"3370", 2);
        let mut seen = Vec::new();
        t.walk(b"33700", |v, d| seen.push((v, d)));
        assert_eq!(seen, vec![(0, 1), (1, 2), (2, 4)]);
    }

    #[test]
    fn non_digit_stops_the_walk() {
        let mut t = PrefixTrie::default();
        t.insert(b"12", 0);
        assert_eq!(t.longest(b"1x2"), None);
    }
}
