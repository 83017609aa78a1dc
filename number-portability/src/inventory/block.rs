//! [`NumberBlock`]: one number, or an aligned SDA block of 10, 100 or 1000 numbers,
//! the unit the inventory stores and looks up.
//!
//! A block of 10^k numbers starts on a number whose last k digits are 0
//! (`+33145233100` to `+33145233199` is a block of 100), as SDA ranges are sold
//! and as ARCEP assigns blocks. Alignment is what makes lookups O(1): the block
//! that may hold a number starts at that number with its last 1, 2 or 3 digits set
//! to 0, so finding the holder of a DID is at most four hash lookups, whatever the
//! size of the inventory.
//!
//! Text form (files and command line): `+33145233100` for one number,
//! `+33145233100..+33145233199` for a block. On the command line any range
//! `first..last` of numbers of the same length is accepted and cut into the fewest
//! aligned blocks ([`NumberBlock::cover`]).

use std::fmt;

use crate::number::E164;

/// The largest block exponent: blocks hold 10^0 to 10^3 numbers.
pub const MAX_BLOCK_EXP: u8 = 3;

/// The most numbers a range given on the command line may hold.
pub const MAX_RANGE_NUMBERS: u64 = 100_000;

/// One number or an aligned block of 10, 100 or 1000 numbers.
///
/// Ordered by first number, then size (smaller first).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NumberBlock {
    first: E164,
    /// The block holds 10^exp numbers.
    exp: u8,
}

impl NumberBlock {
    /// The block holding only `number`.
    pub fn single(number: E164) -> NumberBlock {
        NumberBlock {
            first: number,
            exp: 0,
        }
    }

    /// The aligned block of `size` numbers (1, 10, 100 or 1000) starting at `first`.
    ///
    /// # Errors
    ///
    /// A message naming the number when `size` is not one of the four sizes, or
    /// `first` does not end in as many zeros as the block needs, or the number is
    /// too short for such a block.
    pub fn new(first: E164, size: u32) -> Result<NumberBlock, String> {
        let exp = match size {
            1 => 0,
            10 => 1,
            100 => 2,
            1000 => 3,
            _ => {
                return Err(format!(
                    "block size {size} is not 1, 10, 100 or 1000 (SDA blocks are aligned blocks of 10, 100 or 1000 numbers)"
                ))
            }
        };
        NumberBlock::with_exp(first, exp)
    }

    fn with_exp(first: E164, exp: u8) -> Result<NumberBlock, String> {
        let nsn = first.national_number().as_bytes();
        let k = usize::from(exp);
        if nsn.len() <= k {
            return Err(format!(
                "{first} is too short for a block of {}",
                10u32.pow(exp.into())
            ));
        }
        if nsn[nsn.len() - k..].iter().any(|&b| b != b'0') {
            return Err(format!(
                "a block of {} must start on a number ending in {}, not {first}",
                10u32.pow(exp.into()),
                "0".repeat(k)
            ));
        }
        Ok(NumberBlock { first, exp })
    }

    /// The block of 10^`exp` numbers (`exp` 0 to 3) that holds `number`, if the
    /// number is long enough. No allocation: this is the lookup's hot path.
    pub(crate) fn around(number: &E164, exp: u8) -> Option<NumberBlock> {
        if exp == 0 {
            return Some(NumberBlock::single(*number));
        }
        let first = with_last_digits(number, usize::from(exp), b'0')?;
        Some(NumberBlock { first, exp })
    }

    /// The first number.
    pub fn first(&self) -> E164 {
        self.first
    }

    /// The last number.
    pub fn last(&self) -> E164 {
        // A block is only built when its number is long enough.
        with_last_digits(&self.first, usize::from(self.exp), b'9').unwrap_or(self.first)
    }

    /// How many numbers: 1, 10, 100 or 1000.
    pub fn size(&self) -> u32 {
        10u32.pow(u32::from(self.exp))
    }

    /// The block's numbers, in order.
    pub fn numbers(&self) -> impl Iterator<Item = E164> {
        let (first, k) = (self.first, usize::from(self.exp));
        (0..self.size()).filter_map(move |i| {
            let nsn = first.national_number().as_bytes();
            let mut digits = [0u8; 15];
            digits[..nsn.len()].copy_from_slice(nsn);
            // The last k digits of an aligned block's first number are 0: write i there.
            let mut rest = i;
            for d in digits[nsn.len() - k..nsn.len()].iter_mut().rev() {
                *d = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            E164::from_parts(first.calling_code_str().as_bytes(), &digits[..nsn.len()])
        })
    }

    /// The size as a power of ten: 0 to 3.
    pub fn exp(&self) -> u8 {
        self.exp
    }

    /// True for a single number.
    pub fn is_single(&self) -> bool {
        self.exp == 0
    }

    /// True when `number` is one of the block's numbers.
    pub fn contains(&self, number: &E164) -> bool {
        NumberBlock::around(number, self.exp).is_some_and(|b| b == *self)
    }

    /// True when every number of `other` is in this block.
    pub fn contains_block(&self, other: &NumberBlock) -> bool {
        other.exp <= self.exp && self.contains(&other.first)
    }

    /// True when the blocks share a number (aligned blocks either nest or are
    /// disjoint).
    pub fn overlaps(&self, other: &NumberBlock) -> bool {
        self.contains_block(other) || other.contains_block(self)
    }

    /// The ten blocks one size smaller that make up this block; empty for a single
    /// number.
    pub fn children(&self) -> Vec<NumberBlock> {
        if self.exp == 0 {
            return Vec::new();
        }
        let exp = self.exp - 1;
        let nsn = self.first.national_number().as_bytes();
        let pos = nsn.len() - usize::from(self.exp);
        (b'0'..=b'9')
            .filter_map(|d| {
                let mut digits = [0u8; 15];
                digits[..nsn.len()].copy_from_slice(nsn);
                digits[pos] = d;
                let first = E164::from_parts(
                    self.first.calling_code_str().as_bytes(),
                    &digits[..nsn.len()],
                )?;
                Some(NumberBlock { first, exp })
            })
            .collect()
    }

    /// The pieces of this block that are not in `hole`: aligned blocks, largest
    /// first, that together with `hole` make up `self`. `[self]` when they do not
    /// overlap, empty when `hole` holds all of `self`.
    pub fn without(&self, hole: &NumberBlock) -> Vec<NumberBlock> {
        if hole.contains_block(self) {
            return Vec::new();
        }
        if !self.contains_block(hole) {
            return vec![*self];
        }
        let mut out = Vec::new();
        for child in self.children() {
            if child.contains_block(hole) {
                out.extend(child.without(hole));
            } else {
                out.push(child);
            }
        }
        out
    }

    /// The fewest aligned blocks (of at most 1000 numbers) making up the range
    /// `first..=last`.
    ///
    /// # Errors
    ///
    /// A message naming both numbers when they differ in calling code or length,
    /// when `last` is before `first`, or when the range holds more than
    /// [`MAX_RANGE_NUMBERS`].
    pub fn cover(first: E164, last: E164) -> Result<Vec<NumberBlock>, String> {
        let (a, b) = (first.national_number(), last.national_number());
        if first.calling_code_str() != last.calling_code_str() || a.len() != b.len() {
            return Err(format!(
                "range {first}..{last}: both ends must have the same country code and length"
            ));
        }
        if last < first {
            return Err(format!(
                "range {first}..{last}: the last number is before the first"
            ));
        }
        let (start, end): (u64, u64) = match (a.parse(), b.parse()) {
            (Ok(s), Ok(e)) => (s, e),
            _ => {
                return Err(format!(
                    "range {first}..{last}: numbers too long for a range"
                ))
            }
        };
        if end - start >= MAX_RANGE_NUMBERS {
            return Err(format!(
                "range {first}..{last} holds {} numbers, more than {MAX_RANGE_NUMBERS}; give it in parts",
                end - start + 1
            ));
        }
        let cc = first.calling_code_str().as_bytes();
        let width = a.len();
        let mut out = Vec::new();
        let mut cur = start;
        while cur <= end {
            let mut exp = 0u8;
            while exp < MAX_BLOCK_EXP && usize::from(exp + 1) < width {
                let size = 10u64.pow(u32::from(exp) + 1);
                if cur % size != 0 || cur + size - 1 > end {
                    break;
                }
                exp += 1;
            }
            let digits = format!("{cur:0width$}");
            let Some(n) = E164::from_parts(cc, digits.as_bytes()) else {
                return Err(format!(
                    "range {first}..{last}: cannot build number {digits}"
                ));
            };
            out.push(NumberBlock { first: n, exp });
            cur += 10u64.pow(u32::from(exp));
        }
        Ok(out)
    }

    /// Parses the file form: `+33145233100` or `+33145233100..+33145233199`
    /// (an aligned block). National forms (`0145233100`) are accepted too.
    ///
    /// # Errors
    ///
    /// A message naming the text: not a number, not an aligned block.
    pub fn parse(text: &str) -> Result<NumberBlock, String> {
        let blocks = NumberBlock::parse_range(text)?;
        match blocks.as_slice() {
            [one] => Ok(*one),
            _ => Err(format!(
                "{text:?} is not one number or an aligned block of 10, 100 or 1000 (e.g. +33145233100..+33145233199); \
                 write it as {} rows: {}",
                blocks.len(),
                blocks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// Parses the command-line form: a number, or any range `first..last`, cut into
    /// aligned blocks.
    ///
    /// # Errors
    ///
    /// A message naming the text when a number does not parse or the range is not
    /// valid ([`NumberBlock::cover`]).
    pub fn parse_range(text: &str) -> Result<Vec<NumberBlock>, String> {
        let number = |s: &str| E164::parse(s.trim()).map_err(|e| e.to_string());
        match text.split_once("..") {
            None => Ok(vec![NumberBlock::single(number(text)?)]),
            Some((a, b)) => NumberBlock::cover(number(a)?, number(b)?),
        }
    }
}

/// `number` with its last `k` national digits replaced by `fill`; `None` when the
/// national number is not longer than `k`.
fn with_last_digits(number: &E164, k: usize, fill: u8) -> Option<E164> {
    let nsn = number.national_number().as_bytes();
    if nsn.len() <= k {
        return None;
    }
    let mut digits = [0u8; 15];
    digits[..nsn.len()].copy_from_slice(nsn);
    digits[nsn.len() - k..nsn.len()].fill(fill);
    E164::from_parts(number.calling_code_str().as_bytes(), &digits[..nsn.len()])
}

impl fmt::Display for NumberBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exp == 0 {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}..{}", self.first, self.last())
        }
    }
}

impl fmt::Debug for NumberBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NumberBlock({self})")
    }
}

impl std::str::FromStr for NumberBlock {
    type Err = String;
    fn from_str(s: &str) -> Result<NumberBlock, String> {
        NumberBlock::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> E164 {
        E164::parse(s).unwrap()
    }

    fn b(s: &str) -> NumberBlock {
        NumberBlock::parse(s).unwrap()
    }

    #[test]
    fn aligned_blocks_only() {
        let block = NumberBlock::new(n("+33145233100"), 100).unwrap();
        assert_eq!(block.to_string(), "+33145233100..+33145233199");
        assert_eq!(block.last(), n("+33145233199"));
        assert_eq!(block.size(), 100);
        let err = NumberBlock::new(n("+33145233150"), 100).unwrap_err();
        assert!(err.contains("ending in 00, not +33145233150"), "{err}");
        assert!(NumberBlock::new(n("+33145233100"), 50)
            .unwrap_err()
            .contains("not 1, 10, 100 or 1000"));
    }

    #[test]
    fn numbers_lists_the_block_in_order() {
        let numbers: Vec<String> = b("+33145233100..+33145233199")
            .numbers()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(numbers.len(), 100);
        assert_eq!(numbers[0], "+33145233100");
        assert_eq!(numbers[42], "+33145233142");
        assert_eq!(numbers[99], "+33145233199");
        let single: Vec<E164> = b("+262262123456").numbers().collect();
        assert_eq!(single, [n("+262262123456")]);
        assert!(b("+33145233000..+33145233999")
            .numbers()
            .all(|x| b("+33145233000..+33145233999").contains(&x)));
    }

    #[test]
    fn contains_and_around() {
        let block = b("+33145233100..+33145233199");
        assert!(block.contains(&n("+33145233100")));
        assert!(block.contains(&n("+33145233199")));
        assert!(!block.contains(&n("+33145233200")));
        assert!(!block.contains(&n("+33145233099")));
        // Same digits, other country code.
        assert!(!block.contains(&n("+262145233150")));
        assert_eq!(NumberBlock::around(&n("+33145233142"), 2), Some(block));
        assert!(block.contains_block(&b("+33145233140..+33145233149")));
        assert!(!b("+33145233140..+33145233149").contains_block(&block));
        assert!(block.overlaps(&b("+33145233142")));
        assert!(!block.overlaps(&b("+33145233242")));
    }

    #[test]
    fn file_form_round_trips_and_refuses_unaligned_ranges() {
        for text in [
            "+33145233100",
            "+33145233100..+33145233199",
            "+262262620000..+262262620999",
        ] {
            assert_eq!(b(text).to_string(), text);
        }
        assert_eq!(b("01 45 23 31 00").to_string(), "+33145233100");
        let err = NumberBlock::parse("+33145233100..+33145233149").unwrap_err();
        assert!(err.contains("write it as 5 rows"), "{err}");
        assert!(NumberBlock::parse("+3314523310x").is_err());
    }

    #[test]
    fn ranges_are_cut_into_the_fewest_blocks() {
        let blocks = NumberBlock::parse_range("0145233105..0145233123").unwrap();
        let texts: Vec<String> = blocks.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "+33145233105",
                "+33145233106",
                "+33145233107",
                "+33145233108",
                "+33145233109",
                "+33145233110..+33145233119",
                "+33145233120",
                "+33145233121",
                "+33145233122",
                "+33145233123",
            ]
        );
        let blocks = NumberBlock::parse_range("+33145233000..+33145234999").unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].size(), 1000);
        assert!(NumberBlock::parse_range("+33145233100..+33145233099")
            .unwrap_err()
            .contains("before the first"));
        assert!(NumberBlock::parse_range("+33145233100..+262262620000")
            .unwrap_err()
            .contains("same country code"));
        assert!(NumberBlock::parse_range("+33100000000..+33199999999")
            .unwrap_err()
            .contains("more than 100000"));
    }

    #[test]
    fn without_carves_a_hole() {
        let block = b("+33145233100..+33145233199");
        let pieces = block.without(&b("+33145233142"));
        // 9 blocks of 10 and 9 single numbers.
        assert_eq!(pieces.len(), 18);
        let total: u32 = pieces.iter().map(NumberBlock::size).sum();
        assert_eq!(total, 99);
        assert!(pieces.iter().all(|p| !p.contains(&n("+33145233142"))));
        assert_eq!(block.without(&block), vec![]);
        assert_eq!(block.without(&b("+33145233200")), vec![block]);
        assert_eq!(block.children().len(), 10);
        assert!(b("+33145233142").children().is_empty());
    }
}
