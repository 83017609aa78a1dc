//! The RIO (relevé d'identité opérateur): the 12-character code a subscriber gives
//! the new operator to port a French number, checked for format and key.
//!
//! Layout `OO Q RRRRRR CCC`:
//!
//! | chars | field | values |
//! |---|---|---|
//! | 1-2 | `OO` operator code (MAJRIO for fixed lines: `01` Orange, `02` SFR...) | `A-Z0-9` |
//! | 3 | `Q` contract type: `E`/`P` (business/consumer) on mobiles, `F` to `Z` on fixed lines | `E-Z` |
//! | 4-9 | `RRRRRR` contract reference at the operator | `A-Z0-9+` |
//! | 10-12 | `CCC` key | `A-Z0-9+` |
//!
//! The key ties the RIO to one number, so that a RIO copied for the wrong line is
//! caught. It is computed over the 19 characters `OO Q RRRRRR` + the 10-digit
//! national number (`0612345678`, `0262620000` for +262262620000), each taken as
//! its position `p` in the 37-symbol alphabet `A-Z0-9+` (A = 0, Z = 25, 0 = 26,
//! 9 = 35, + = 36). Three running values start at 0 and, for each character in
//! order, become `a = (a + p) mod 37`, `b = (2b + p) mod 37`, `c = (4c + p) mod 37`;
//! the key is the symbols of `a`, `b` and `c`. This is the public algorithm of the
//! inter-operator portability specifications (also published by operators and in
//! ARCEP's consumer material); this module implements it from that description.
//!
//! Input is read leniently (spaces removed, lowercase accepted) and kept
//! uppercase.

use std::fmt;

use crate::number::E164;

/// The 37 symbols of RIO fields and keys, in key order.
pub const RIO_ALPHABET: &[u8; 37] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+";

/// A RIO whose format is valid (12 characters, fields of the right symbols). Its
/// key is checked against a number with [`Rio::check_number`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rio {
    text: [u8; 12],
}

/// Why a RIO was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RIO {input:?}: {kind}")]
pub struct RioError {
    input: String,
    kind: RioErrorKind,
}

impl RioError {
    fn new(input: &str, kind: RioErrorKind) -> RioError {
        RioError {
            input: input.to_owned(),
            kind,
        }
    }

    /// The RIO as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was refused.
    pub fn kind(&self) -> &RioErrorKind {
        &self.kind
    }

    /// True when the RIO is well formed but its key does not match the number: the
    /// donor's rejection reason "RIO inconsistent".
    pub fn is_key_mismatch(&self) -> bool {
        matches!(self.kind, RioErrorKind::KeyMismatch { .. })
    }
}

/// Why a RIO was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RioErrorKind {
    /// No RIO was given.
    Missing,
    /// Not 12 characters (spaces not counted).
    Length(usize),
    /// A character outside `A-Z0-9+`.
    Character {
        /// The character.
        ch: char,
        /// Its 1-based position.
        position: usize,
    },
    /// The operator code is not 2 letters or digits (`+` is not allowed there).
    OperatorCode(String),
    /// The contract type is not a letter `E` to `Z`.
    ContractType(char),
    /// The number has no 10-digit French national form.
    Number(String),
    /// The key does not match the number.
    KeyMismatch {
        /// The key the RIO carries.
        found: String,
        /// The key computed for the number.
        expected: String,
        /// The national number it was computed with.
        national: String,
    },
}

impl fmt::Display for RioErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RioErrorKind::Missing => f.write_str(
                "no RIO given; the subscriber gets it from the current operator (3179, invoice)",
            ),
            RioErrorKind::Length(n) => write!(
                f,
                "{n} characters where a RIO has 12 (operator code 2, contract type 1, reference 6, key 3)"
            ),
            RioErrorKind::Character { ch, position } => write!(
                f,
                "character {ch:?} at position {position} is not a letter, digit or '+'"
            ),
            RioErrorKind::OperatorCode(code) => write!(
                f,
                "operator code {code:?} must be 2 letters or digits"
            ),
            RioErrorKind::ContractType(ch) => write!(
                f,
                "contract type {ch:?} must be a letter E to Z (E/P on mobiles, F-Z on fixed lines)"
            ),
            RioErrorKind::Number(n) => write!(
                f,
                "{n} has no 10-digit French national number to check the key with"
            ),
            RioErrorKind::KeyMismatch {
                found,
                expected,
                national,
            } => write!(
                f,
                "key {found} does not match number {national} (expected {expected}); the RIO belongs to another line or was mistyped"
            ),
        }
    }
}

impl Rio {
    /// Checks the format of a RIO: spaces are removed and letters uppercased.
    ///
    /// # Errors
    ///
    /// [`RioError`] naming the input: empty, wrong length, bad character, bad
    /// operator code or contract type.
    pub fn parse(input: &str) -> Result<Rio, RioError> {
        let cleaned: Vec<char> = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if cleaned.is_empty() {
            return Err(RioError::new(input, RioErrorKind::Missing));
        }
        if cleaned.len() != 12 {
            return Err(RioError::new(input, RioErrorKind::Length(cleaned.len())));
        }
        let mut text = [0u8; 12];
        for (i, &ch) in cleaned.iter().enumerate() {
            if !ch.is_ascii() || symbol_value(ch as u8).is_none() {
                return Err(RioError::new(
                    input,
                    RioErrorKind::Character {
                        ch,
                        position: i + 1,
                    },
                ));
            }
            text[i] = ch as u8;
        }
        if text[..2].contains(&b'+') {
            let code = String::from_utf8_lossy(&text[..2]).into_owned();
            return Err(RioError::new(input, RioErrorKind::OperatorCode(code)));
        }
        if !(b'E'..=b'Z').contains(&text[2]) {
            return Err(RioError::new(
                input,
                RioErrorKind::ContractType(char::from(text[2])),
            ));
        }
        Ok(Rio { text })
    }

    /// Builds the RIO of a number: operator code, contract type and reference, and
    /// the key computed for the number.
    ///
    /// # Errors
    ///
    /// [`RioError`] when a field is malformed or the number has no 10-digit French
    /// national form.
    pub fn issue(
        operator_code: &str,
        contract_type: char,
        reference: &str,
        number: &E164,
    ) -> Result<Rio, RioError> {
        let head = format!("{operator_code}{contract_type}{reference}");
        let national = national_of(number)
            .ok_or_else(|| RioError::new(&head, RioErrorKind::Number(number.to_string())))?;
        let key = rio_key(&head, &national)
            .ok_or_else(|| RioError::new(&head, RioErrorKind::Length(head.chars().count() + 3)))?;
        Rio::parse(&format!("{head}{key}"))
    }

    /// The 12 characters.
    pub fn as_str(&self) -> &str {
        // Only ASCII symbols of the alphabet are stored.
        std::str::from_utf8(&self.text).unwrap_or("")
    }

    /// `OO`: the operator code (MAJRIO for fixed lines).
    pub fn operator_code(&self) -> &str {
        &self.as_str()[..2]
    }

    /// `Q`: the contract type.
    pub fn contract_type(&self) -> char {
        char::from(self.text[2])
    }

    /// `RRRRRR`: the contract reference.
    pub fn reference(&self) -> &str {
        &self.as_str()[3..9]
    }

    /// `CCC`: the key.
    pub fn key(&self) -> &str {
        &self.as_str()[9..]
    }

    /// Checks the key against a 10-digit national number (`0612345678`).
    ///
    /// # Errors
    ///
    /// [`RioErrorKind::Number`] when `national` is not 10 digits,
    /// [`RioErrorKind::KeyMismatch`] when the key differs.
    pub fn check_national(&self, national: &str) -> Result<(), RioError> {
        let expected = rio_key(&self.as_str()[..9], national).ok_or_else(|| {
            RioError::new(self.as_str(), RioErrorKind::Number(national.to_owned()))
        })?;
        if expected != self.key() {
            return Err(RioError::new(
                self.as_str(),
                RioErrorKind::KeyMismatch {
                    found: self.key().to_owned(),
                    expected,
                    national: national.to_owned(),
                },
            ));
        }
        Ok(())
    }

    /// Checks the key against a number of the French plan (overseas included:
    /// +262262620000 is checked as 0262620000).
    ///
    /// # Errors
    ///
    /// As [`Rio::check_national`]; numbers of other countries have no national form.
    pub fn check_number(&self, number: &E164) -> Result<(), RioError> {
        let national = national_of(number).ok_or_else(|| {
            RioError::new(self.as_str(), RioErrorKind::Number(number.to_string()))
        })?;
        self.check_national(&national)
    }
}

impl fmt::Display for Rio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Rio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rio({})", self.as_str())
    }
}

impl std::str::FromStr for Rio {
    type Err = RioError;
    fn from_str(s: &str) -> Result<Rio, RioError> {
        Rio::parse(s)
    }
}

/// The 10-digit national form of a French number, as the key uses it.
fn national_of(number: &E164) -> Option<String> {
    crate::default_plan()
        .to_national(number)
        .filter(|n| n.len() == 10)
}

/// The position of a symbol in [`RIO_ALPHABET`].
fn symbol_value(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'0'..=b'9' => Some(26 + u32::from(b - b'0')),
        b'+' => Some(36),
        _ => None,
    }
}

/// The 3-character key of a RIO whose first 9 characters are `head`, for the
/// 10-digit national number `national`. `None` unless `head` is 9 symbols of the
/// alphabet and `national` 10 digits.
pub fn rio_key(head: &str, national: &str) -> Option<String> {
    if head.len() != 9 || national.len() != 10 || !national.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (mut a, mut b, mut c) = (0u32, 0u32, 0u32);
    for ch in head.bytes().chain(national.bytes()) {
        let p = symbol_value(ch)?;
        a = (a + p) % 37;
        b = (2 * b + p) % 37;
        c = (4 * c + p) % 37;
    }
    let sym = |v: u32| char::from(RIO_ALPHABET[v as usize]);
    Some([sym(a), sym(b), sym(c)].iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Worked example 1, computed by hand (positions: '0' = 26 ... '9' = 35,
    // 'P' = 15). Characters of "01P123456" + "0612345678":
    //   p = 26 27 15 27 28 29 30 31 32 26 32 27 28 29 30 31 32 33 34
    //   a = sum mod 37 = 547 mod 37 = 29 -> '3'
    //   b (b = 2b + p mod 37): 26 5 25 3 34 23 2 35 28 8 11 12 15 22 0 31 20 36 32 -> '6'
    //   c (c = 4c + p mod 37): 26 20 21 0 28 30 2 2 3 1 36 23 9 28 31 7 23 14 16 -> 'Q'
    // so the key is "36Q".
    #[test]
    fn worked_example_mobile() {
        assert_eq!(rio_key("01P123456", "0612345678").as_deref(), Some("36Q"));
        let rio = Rio::parse("01P12345636Q").unwrap();
        assert_eq!(rio.operator_code(), "01");
        assert_eq!(rio.contract_type(), 'P');
        assert_eq!(rio.reference(), "123456");
        assert_eq!(rio.key(), "36Q");
        rio.check_number(&E164::parse("06 12 34 56 78").unwrap())
            .unwrap();
    }

    // Worked example 2, a fixed line with letters and '+' in the reference:
    // "AAF" + "A+A+A+" + "0100000000". Positions:
    //   A A F A + A + A + 0 1 0 0 0 0 0 0 0 0
    //   0 0 5 0 36 0 36 0 36 26 27 26 26 26 26 26 26 26 26
    //   a = 5 + 3*36 + 27 + 9*26 = 5 + 108 + 27 + 234 = 374; 374 - 370 = 4 -> 'E'
    //   b: 0 0 5 10 56%37=19 38%37=1 2+36=38%37=1 2 4+36=40%37=3 6+26=32
    //      64+27=91%37=17 34+26=60%37=23 46+26=72%37=35 70+26=96%37=22
    //      44+26=70%37=33 66+26=92%37=18 36+26=62%37=25 50+26=76%37=2 4+26=30 -> '4'
    //   c: 0 0 5 20 80+36=116%37=5 20 80+36=116%37=5 20 80+36=116%37=5
    //      20+26=46%37=9 36+27=63%37=26 104+26=130%37=19 76+26=102%37=28
    //      112+26=138%37=27 108+26=134%37=23 92+26=118%37=7 28+26=54%37=17
    //      68+26=94%37=20 80+26=106%37=32 -> '6'
    // so the key is "E46".
    #[test]
    fn worked_example_fixed_with_plus() {
        assert_eq!(rio_key("AAFA+A+A+", "0100000000").as_deref(), Some("E46"));
        let rio = Rio::parse("aaf a+a+a+ e46").unwrap();
        assert_eq!(rio.as_str(), "AAFA+A+A+E46");
        rio.check_national("0100000000").unwrap();
    }

    #[test]
    fn key_is_tied_to_the_number() {
        let rio = Rio::parse("01P12345636Q").unwrap();
        let err = rio
            .check_number(&E164::parse("0612345679").unwrap())
            .unwrap_err();
        assert!(err.is_key_mismatch());
        assert!(
            err.to_string()
                .contains("key 36Q does not match number 0612345679"),
            "{err}"
        );
        // One character mistyped in the reference.
        let err = Rio::parse("01P12345736Q")
            .unwrap()
            .check_national("0612345678")
            .unwrap_err();
        assert!(err.is_key_mismatch());
    }

    #[test]
    fn overseas_numbers_use_their_national_form() {
        let n = E164::parse("+262262620000").unwrap();
        let rio = Rio::issue("FA", 'F', "ACME01", &n).unwrap();
        assert_eq!(
            rio.key(),
            rio_key("FAFACME01", "0262620000").unwrap().as_str()
        );
        rio.check_number(&n).unwrap();
        let foreign = E164::parse("+32470123456").unwrap();
        assert!(matches!(
            rio.check_number(&foreign).unwrap_err().kind(),
            RioErrorKind::Number(_)
        ));
    }

    #[test]
    fn format_errors_name_the_input() {
        let cases = [
            ("", "no RIO given"),
            ("01P12345636", "11 characters"),
            ("01P1234563#Q", "character '#' at position 11"),
            ("0+P12345636Q", "operator code \"0+\""),
            ("01A12345636Q", "contract type 'A'"),
            ("01é12345636Q", "character 'é' at position 3"),
        ];
        for (input, phrase) in cases {
            let err = Rio::parse(input).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(phrase), "{input}: {msg}");
            assert!(msg.starts_with(&format!("invalid RIO {input:?}")), "{msg}");
        }
        assert_eq!(rio_key("01P12345", "0612345678"), None);
        assert_eq!(rio_key("01P123456", "061234567"), None);
        assert_eq!(rio_key("01P12345#", "0612345678"), None);
    }
}
