//! Number values: what parsing produces and what other components store and key on.
//!
//! - [`E164`]: a full international number, `+` then at most 15 digits, kept inline
//!   (no allocation, `Copy`, cheap `Hash`/`Eq`) so it can key the number inventory and
//!   routing maps. It is only built by the parser, so an `E164` is always normalised:
//!   same number, same bytes.
//! - [`ShortCode`]: a national short number (15, 112, 3949, 118712...). Short codes
//!   have no E.164 form: they only mean something inside their country, so they keep
//!   the calling code of the plan they were dialled in.
//! - [`Number`]: either of the two.
//!
//! Formatting lives here too; every format re-parses to the same value (a property
//! test checks it).

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;

/// The most digits an E.164 number may have (ITU-T E.164 §6).
pub const MAX_E164_DIGITS: usize = 15;

/// The most digits a [`ShortCode`] may have.
pub const MAX_SHORT_CODE_DIGITS: usize = 8;

/// A normalised international number: `+`, calling code, national significant number.
///
/// Ordering is the ordering of the `+digits` strings.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164 {
    /// `+` then the digits, zero bytes after `len`.
    buf: [u8; MAX_E164_DIGITS + 1],
    /// Bytes used in `buf`, the `+` included.
    len: u8,
    /// Digits of the calling code (1 to 3).
    cc_len: u8,
}

impl E164 {
    /// Builds a number from its calling code and national significant number.
    ///
    /// The parser validates before calling this; `None` if the parts are not digits,
    /// empty or too long together.
    pub(crate) fn from_parts(calling_code: &[u8], nsn: &[u8]) -> Option<E164> {
        let total = calling_code.len() + nsn.len();
        if calling_code.is_empty()
            || calling_code.len() > 3
            || nsn.is_empty()
            || total > MAX_E164_DIGITS
            || !calling_code.iter().chain(nsn).all(u8::is_ascii_digit)
        {
            return None;
        }
        let mut buf = [0u8; MAX_E164_DIGITS + 1];
        buf[0] = b'+';
        buf[1..1 + calling_code.len()].copy_from_slice(calling_code);
        buf[1 + calling_code.len()..1 + total].copy_from_slice(nsn);
        Some(E164 {
            buf,
            len: (total + 1) as u8,
            cc_len: calling_code.len() as u8,
        })
    }

    /// Parses with the default (French) plan and requires an E.164 result.
    ///
    /// # Errors
    ///
    /// Any [`ParseError`] of [`crate::parse`], and
    /// [`crate::ParseErrorKind::NotE164`] for a short code.
    pub fn parse(input: &str) -> Result<E164, ParseError> {
        crate::default_plan().parse_e164(input)
    }

    /// `+33123456789`.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and '+' are ever written into `buf`.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }

    /// The digits without the `+`: `33123456789`.
    pub fn digits(&self) -> &str {
        &self.as_str()[1..]
    }

    /// The calling code digits: `33`, `262`, `1`.
    pub fn calling_code_str(&self) -> &str {
        &self.as_str()[1..1 + self.cc_len as usize]
    }

    /// The calling code as a number: 33, 262, 1.
    pub fn calling_code(&self) -> u16 {
        self.calling_code_str()
            .bytes()
            .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'))
    }

    /// The national significant number, without calling code or trunk prefix:
    /// `123456789` for `+33123456789`.
    pub fn national_number(&self) -> &str {
        &self.as_str()[1 + self.cc_len as usize..]
    }

    /// International format with a space after the calling code: `+33 123456789`.
    pub fn format_international(&self) -> String {
        format!("+{} {}", self.calling_code_str(), self.national_number())
    }

    /// An RFC 3966 global `tel:` URI: `tel:+33123456789`.
    pub fn to_tel_uri(&self) -> String {
        format!("tel:{}", self.as_str())
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.as_str())
    }
}

impl FromStr for E164 {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<E164, ParseError> {
        E164::parse(s)
    }
}

/// A national short number (emergency, 10XY, 3BPQ, 118XYZ, carrier selection),
/// valid only inside the country whose plan it was dialled in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortCode {
    /// Calling code of the plan it belongs to (33 for France).
    calling_code: u16,
    /// ASCII digits, zero bytes after `len`.
    buf: [u8; MAX_SHORT_CODE_DIGITS],
    /// Digits used in `buf`.
    len: u8,
}

impl ShortCode {
    /// `None` unless `digits` are 1 to [`MAX_SHORT_CODE_DIGITS`] ASCII digits.
    pub(crate) fn new(calling_code: u16, digits: &[u8]) -> Option<ShortCode> {
        if digits.is_empty()
            || digits.len() > MAX_SHORT_CODE_DIGITS
            || !digits.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let mut buf = [0u8; MAX_SHORT_CODE_DIGITS];
        buf[..digits.len()].copy_from_slice(digits);
        Some(ShortCode {
            calling_code,
            buf,
            len: digits.len() as u8,
        })
    }

    /// The digits as dialled: `112`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }

    /// Calling code of the national plan the code belongs to.
    pub fn calling_code(&self) -> u16 {
        self.calling_code
    }
}

impl fmt::Display for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShortCode(+{} {})", self.calling_code, self.as_str())
    }
}

/// A parsed number: a full E.164 number or a national short code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Number {
    /// A full international number.
    E164(E164),
    /// A national short number (emergency, services, directory...).
    Short(ShortCode),
}

impl Number {
    /// The E.164 number, `None` for a short code.
    pub fn as_e164(&self) -> Option<&E164> {
        match self {
            Number::E164(n) => Some(n),
            Number::Short(_) => None,
        }
    }

    /// The short code, `None` for an E.164 number.
    pub fn as_short(&self) -> Option<&ShortCode> {
        match self {
            Number::E164(_) => None,
            Number::Short(s) => Some(s),
        }
    }

    /// The normalised text: `+33123456789` or `112`. Parsing it gives back `self`.
    pub fn as_str(&self) -> &str {
        match self {
            Number::E164(n) => n.as_str(),
            Number::Short(s) => s.as_str(),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Number {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Number, ParseError> {
        crate::parse(s)
    }
}

impl From<E164> for Number {
    fn from(n: E164) -> Number {
        Number::E164(n)
    }
}

impl From<ShortCode> for Number {
    fn from(s: ShortCode) -> Number {
        Number::Short(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_parts_and_formats() {
        let n = E164::from_parts(b"262", b"692123456").unwrap();
        assert_eq!(n.as_str(), "+262692123456");
        assert_eq!(n.digits(), "262692123456");
        assert_eq!(n.calling_code(), 262);
        assert_eq!(n.calling_code_str(), "262");
        assert_eq!(n.national_number(), "692123456");
        assert_eq!(n.format_international(), "+262 692123456");
        assert_eq!(n.to_tel_uri(), "tel:+262692123456");
        assert_eq!(format!("{n:?}"), "E164(+262692123456)");
    }

    #[test]
    fn e164_rejects_bad_parts() {
        assert!(E164::from_parts(b"", b"123").is_none());
        assert!(E164::from_parts(b"33", b"").is_none());
        assert!(E164::from_parts(b"3333", b"1").is_none());
        assert!(E164::from_parts(b"33", b"1234567890123x").is_none());
        // 16 digits in all.
        assert!(E164::from_parts(b"33", b"12345678901234").is_none());
        assert!(E164::from_parts(b"33", b"7001234567890").is_some());
    }

    #[test]
    fn e164_order_is_string_order() {
        let a = E164::from_parts(b"33", b"1").unwrap();
        let b = E164::from_parts(b"33", b"12").unwrap();
        let c = E164::from_parts(b"34", b"1").unwrap();
        assert!(a < b && b < c);
    }

    #[test]
    fn short_code_keeps_its_plan() {
        let s = ShortCode::new(33, b"112").unwrap();
        assert_eq!(s.as_str(), "112");
        assert_eq!(s.calling_code(), 33);
        assert_ne!(s, ShortCode::new(32, b"112").unwrap());
        assert!(ShortCode::new(33, b"123456789").is_none());
        assert!(ShortCode::new(33, b"").is_none());
    }

    #[test]
    fn number_accessors() {
        let n: Number = E164::from_parts(b"33", b"123456789").unwrap().into();
        assert!(n.as_e164().is_some() && n.as_short().is_none());
        let s: Number = ShortCode::new(33, b"15").unwrap().into();
        assert_eq!(s.as_str(), "15");
        assert!(s.as_e164().is_none());
    }
}
