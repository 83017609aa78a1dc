//! Parsing what SIP messages and call-record exports contain into a [`Number`].
//!
//! Accepted forms (default country France):
//!
//! | input | result |
//! |---|---|
//! | `+33123456789`, `+33 1 23 45 67 89`, Teams' `+E164` | `+33123456789` |
//! | `0033123456789` (international prefix of the default country) | `+33123456789` |
//! | `0123456789`, `01.23.45.67.89`, `(01) 23-45-67-89` | `+33123456789` |
//! | `+330123456789`, `+33 (0)1 23 45 67 89` (trunk 0 kept after the code) | `+33123456789` |
//! | `0692123456`, `0269…`/`0639…` (Mayotte), `0590…`, `0594…`, `0596…` | `+262692123456`, `+262…`, `+590…`, `+594…`, `+596…` |
//! | `0508411234` (Saint-Pierre-et-Miquelon) | `+508411234` |
//! | `07 00 12 34 56 78 90` (14-digit M2M), `09 12 34 56 78 901` (13-digit 09) | `+337001234567890`, `+33912345678901` |
//! | `33123456789` (no `+`, as many carriers send) | `+33123456789` (home plan codes only) |
//! | `tel:+33123456789`, `tel:0123456789;phone-context=+33`, `+33123456789;ext=12` | `+33123456789` |
//! | `sip:+33123456789@sbc.example.com;user=phone`, `sip:0123456789@10.0.0.1`, `<sips:…>` | `+33123456789` |
//! | `15`, `112`, `3949`, `118712`, `1014` | a [`ShortCode`] |
//!
//! Separators allowed between digits: space, no-break spaces, `.`, `-`, `/`,
//! parentheses. Anything else is a [`ParseError`] naming the input and why; the
//! parser never panics and allocates only to build an error.

use crate::error::{ParseError, ParseErrorKind};
use crate::number::{Number, ShortCode, E164, MAX_E164_DIGITS};
use crate::plan::tables::CountryRow;
use crate::plan::NumberingPlan;

/// Digits kept while scanning; longer inputs are reported as too long.
const SCAN_DIGITS: usize = 24;

/// Bare digit strings at least this long may be an international number sent
/// without its `+` (`33123456789`); shorter ones must be short codes.
const BARE_INTERNATIONAL_MIN: usize = 8;

impl NumberingPlan {
    /// Parses `input` into an E.164 number or a national short code.
    ///
    /// # Errors
    ///
    /// [`ParseError`] naming the input and the [`ParseErrorKind`]: empty, letters,
    /// too short or long for the plan, unknown country code, not a phone URI...
    pub fn parse(&self, input: &str) -> Result<Number, ParseError> {
        self.parse_kind(input)
            .map_err(|k| ParseError::new(input, k))
    }

    /// Parses `input` and requires a full E.164 number.
    ///
    /// # Errors
    ///
    /// As [`NumberingPlan::parse`], and [`ParseErrorKind::NotE164`] for a short code.
    pub fn parse_e164(&self, input: &str) -> Result<E164, ParseError> {
        match self.parse(input)? {
            Number::E164(n) => Ok(n),
            Number::Short(_) => Err(ParseError::new(input, ParseErrorKind::NotE164)),
        }
    }

    fn parse_kind(&self, input: &str) -> Result<Number, ParseErrorKind> {
        let mut s = input.trim();
        if s.is_empty() {
            return Err(ParseErrorKind::Empty);
        }
        if let Some(open) = s.find('<') {
            let inner = &s[open + 1..];
            let close = inner
                .find('>')
                .ok_or_else(|| not_uri("'<' without a closing '>'"))?;
            s = inner[..close].trim();
        }
        if let Some(rest) = strip_prefix_ci(s, "tel:") {
            return self.parse_tel(rest);
        }
        if let Some(rest) = strip_prefix_ci(s, "sips:").or_else(|| strip_prefix_ci(s, "sip:")) {
            return self.parse_sip(rest);
        }
        if s.contains(';') {
            // Parameters without a scheme, as Teams and some CDR exports write
            // them: "+33123456789;ext=12", "0123456789;phone-context=+33".
            return self.parse_tel(s);
        }
        self.parse_plain(s)
    }

    /// RFC 3966: `number[;param]*`, with an optional `phone-context`.
    fn parse_tel(&self, rest: &str) -> Result<Number, ParseErrorKind> {
        let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
        if number.trim().is_empty() {
            return Err(not_uri("tel URI without a number"));
        }
        let context = params
            .split(';')
            .find_map(|p| strip_prefix_ci(p.trim(), "phone-context="));
        match context {
            Some(ctx) if !number.trim_start().starts_with('+') && ctx.starts_with('+') => {
                self.parse_in_context(number, ctx)
            }
            _ => self.parse_plain(number),
        }
    }

    /// RFC 3261 `sip:user[;params]@host[;params]`: the user part must be a number.
    fn parse_sip(&self, rest: &str) -> Result<Number, ParseErrorKind> {
        let Some((user, _host)) = rest.split_once('@') else {
            return Err(not_uri("sip URI without a user part"));
        };
        let decoded;
        let user = if user.contains('%') {
            decoded = percent_decode(user);
            decoded.as_str()
        } else {
            user
        };
        match self.parse_tel(user) {
            Err(ParseErrorKind::Letters { .. } | ParseErrorKind::InvalidCharacter { .. }) => {
                Err(not_uri(&format!(
                    "the sip user part {user:?} is not a telephone number"
                )))
            }
            other => other,
        }
    }

    /// A local number with a global `phone-context` (`+33`, `+1-212`).
    fn parse_in_context(&self, number: &str, ctx: &str) -> Result<Number, ParseErrorKind> {
        let (ctx_plus, ctx_digits) = scan(ctx.trim())?;
        let (plus, digits) = scan(number)?;
        if plus || !ctx_plus || ctx_digits.is_empty() {
            return Err(ParseErrorKind::MisplacedPlus);
        }
        let country = self.country_of(ctx_digits.as_slice()).ok_or_else(|| {
            ParseErrorKind::UnknownCountryCode {
                digits: prefix_text(ctx_digits.as_slice()),
            }
        })?;
        let exact_code = ctx_digits.as_slice() == country.calling_code.as_bytes();
        let d = digits.as_slice();
        if exact_code
            && !country.trunk_prefix.is_empty()
            && d.starts_with(country.trunk_prefix.as_bytes())
        {
            return self.national(country, d);
        }
        if exact_code {
            if let Some(short) = self.short_code(country, d) {
                return Ok(Number::Short(short));
            }
        }
        let mut all = Digits::default();
        all.extend(ctx_digits.as_slice());
        all.extend(d);
        if all.overflow {
            return Err(ParseErrorKind::TooLong {
                digits: ctx_digits.count() + digits.count(),
                max: MAX_E164_DIGITS,
            });
        }
        self.international(all.as_slice())
    }

    /// Digits and separators, maybe a leading `+` or international prefix.
    fn parse_plain(&self, s: &str) -> Result<Number, ParseErrorKind> {
        let (plus, digits) = scan(s)?;
        let d = digits.as_slice();
        if plus {
            return self.international(d);
        }
        let c = &self.countries[self.home];
        if !c.intl_prefix.is_empty() && d.starts_with(c.intl_prefix.as_bytes()) {
            return self.international(&d[c.intl_prefix.len()..]);
        }
        if !c.trunk_prefix.is_empty() && d.starts_with(c.trunk_prefix.as_bytes()) {
            return self.national(c, d);
        }
        if let Some(short) = self.short_code(c, d) {
            return Ok(Number::Short(short));
        }
        if c.trunk_prefix.is_empty() {
            return self.finish(c.calling_code.as_bytes(), d);
        }
        if d.len() >= BARE_INTERNATIONAL_MIN
            && self
                .home_calling_codes
                .iter()
                .any(|cc| d.starts_with(cc.as_bytes()))
        {
            return self.international(d);
        }
        if d.len() < BARE_INTERNATIONAL_MIN {
            Err(ParseErrorKind::UnknownShortNumber { digits: d.len() })
        } else {
            Err(ParseErrorKind::NoPrefix)
        }
    }

    /// `d` is a national number of `c` starting with its trunk prefix.
    fn national(&self, c: &CountryRow, d: &[u8]) -> Result<Number, ParseErrorKind> {
        if self.french_rules && c.plan == self.countries[self.home].plan {
            if let Some((i, _)) = self.overseas_trie.longest(d) {
                let o = &self.overseas[i as usize];
                return self.finish(o.calling_code.as_bytes(), &d[o.drop_digits..]);
            }
        }
        self.finish(c.calling_code.as_bytes(), &d[c.trunk_prefix.len()..])
    }

    /// `d` starts with a calling code.
    fn international(&self, d: &[u8]) -> Result<Number, ParseErrorKind> {
        if d.is_empty() {
            return Err(ParseErrorKind::TooShort { digits: 0, min: 4 });
        }
        let unknown = || ParseErrorKind::UnknownCountryCode {
            digits: prefix_text(d),
        };
        if d[0] == b'0' {
            return Err(unknown());
        }
        let c = self.country_of(d).ok_or_else(unknown)?;
        let cc = c.calling_code.as_bytes();
        let mut nsn = &d[cc.len()..];
        // "+330…", "+33 (0)1…": the trunk 0 kept after the calling code. Only for
        // countries whose trunk prefix is 0, where no national number starts with 0
        // (Italy's do, and Italy has no trunk prefix).
        if c.trunk_prefix == "0" && nsn.first() == Some(&b'0') {
            nsn = &nsn[1..];
        }
        // "+33692…": a national overseas number given the metropolitan code.
        if self.french_rules
            && c.plan == self.countries[self.home].plan
            && cc == self.countries[self.home].calling_code.as_bytes()
        {
            let mut national = Digits::default();
            national.extend(b"0");
            national.extend(nsn);
            if let Some((i, _)) = self.overseas_trie.longest(national.as_slice()) {
                let o = &self.overseas[i as usize];
                return self.finish(
                    o.calling_code.as_bytes(),
                    &national.as_slice()[o.drop_digits..],
                );
            }
        }
        self.finish(cc, nsn)
    }

    /// Checks the national significant number's length against the plan.
    fn finish(&self, cc: &[u8], nsn: &[u8]) -> Result<Number, ParseErrorKind> {
        if nsn.first() == Some(&b'0')
            && self
                .country_of(cc)
                .is_some_and(|c| c.trunk_prefix == "0" && c.calling_code.as_bytes() == cc)
        {
            return Err(ParseErrorKind::LeadingZero);
        }
        let mut all = Digits::default();
        all.extend(cc);
        all.extend(nsn);
        let mut mask = 0u32;
        self.prefix_trie.walk(all.as_slice(), |i, _| {
            let l = self.prefixes[i as usize].lengths;
            if l != 0 {
                mask = l;
            }
        });
        let len = nsn.len();
        if mask != 0 && (len >= 32 || mask & (1 << len) == 0) {
            let min = mask.trailing_zeros() as usize;
            let max = 31 - mask.leading_zeros() as usize;
            return Err(if len < min {
                ParseErrorKind::TooShort { digits: len, min }
            } else if len > max {
                ParseErrorKind::TooLong { digits: len, max }
            } else {
                ParseErrorKind::WrongLength {
                    digits: len,
                    expected: (min..=max)
                        .filter(|n| mask & (1 << n) != 0)
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(" or "),
                }
            });
        }
        if len < 4 {
            return Err(ParseErrorKind::TooShort {
                digits: len,
                min: 4,
            });
        }
        if cc.len() + len > MAX_E164_DIGITS {
            return Err(ParseErrorKind::TooLong {
                digits: len,
                max: MAX_E164_DIGITS - cc.len(),
            });
        }
        E164::from_parts(cc, nsn)
            .map(Number::E164)
            .ok_or(ParseErrorKind::TooLong {
                digits: len,
                max: MAX_E164_DIGITS - cc.len(),
            })
    }

    /// `d` as a short code of `c`'s plan, when the short-code table knows it.
    fn short_code(&self, c: &CountryRow, d: &[u8]) -> Option<ShortCode> {
        if !self.french_rules || c.plan != self.countries[self.home].plan {
            return None;
        }
        self.short_row(d)?;
        ShortCode::new(c.calling_code.parse().ok()?, d)
    }
}

/// Digits collected by [`scan`], inline.
#[derive(Default)]
struct Digits {
    buf: [u8; SCAN_DIGITS],
    len: usize,
    /// Digits seen, including those past the buffer.
    seen: usize,
    overflow: bool,
}

impl Digits {
    fn push(&mut self, b: u8) {
        self.seen += 1;
        if self.len < SCAN_DIGITS {
            self.buf[self.len] = b;
            self.len += 1;
        } else {
            self.overflow = true;
        }
    }

    fn extend(&mut self, s: &[u8]) {
        for &b in s {
            self.push(b);
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn count(&self) -> usize {
        self.seen
    }

    fn is_empty(&self) -> bool {
        self.seen == 0
    }
}

/// Collects the digits of `s`, skipping visual separators; reports a leading `+`.
fn scan(s: &str) -> Result<(bool, Digits), ParseErrorKind> {
    let mut digits = Digits::default();
    let mut plus = false;
    if s.is_ascii() {
        // The common case, byte by byte (positions are the same as in characters).
        for (i, &b) in s.as_bytes().iter().enumerate() {
            match b {
                b'0'..=b'9' => digits.push(b),
                b' ' | b'.' | b'-' | b'/' | b'(' | b')' | b'\t' => {}
                b'+' if digits.is_empty() && !plus => plus = true,
                b'+' => return Err(ParseErrorKind::MisplacedPlus),
                b if b.is_ascii_alphabetic() => {
                    return Err(ParseErrorKind::Letters {
                        ch: char::from(b),
                        position: i + 1,
                    })
                }
                b => {
                    return Err(ParseErrorKind::InvalidCharacter {
                        ch: char::from(b),
                        position: i + 1,
                    })
                }
            }
        }
    } else {
        for (i, ch) in s.chars().enumerate() {
            match ch {
                '0'..='9' => digits.push(ch as u8),
                '+' if digits.is_empty() && !plus => plus = true,
                '+' => return Err(ParseErrorKind::MisplacedPlus),
                ' ' | '.' | '-' | '/' | '(' | ')' | '\t' | '\u{a0}' | '\u{202f}' | '\u{2009}'
                | '\u{2011}' => {}
                c if c.is_alphabetic() => {
                    return Err(ParseErrorKind::Letters {
                        ch: c,
                        position: i + 1,
                    })
                }
                c => {
                    return Err(ParseErrorKind::InvalidCharacter {
                        ch: c,
                        position: i + 1,
                    })
                }
            }
        }
    }
    if digits.is_empty() {
        return Err(ParseErrorKind::NoDigits);
    }
    if digits.overflow {
        return Err(ParseErrorKind::TooLong {
            digits: digits.count(),
            max: MAX_E164_DIGITS,
        });
    }
    Ok((plus, digits))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn not_uri(reason: &str) -> ParseErrorKind {
    ParseErrorKind::NotAPhoneUri {
        reason: reason.to_owned(),
    }
}

/// The first digits of an unknown calling code, for the error message.
fn prefix_text(d: &[u8]) -> String {
    String::from_utf8_lossy(&d[..d.len().min(3)]).into_owned()
}

/// `%2B33…` → `+33…`; invalid escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> &'static NumberingPlan {
        crate::default_plan()
    }

    fn e164(input: &str) -> String {
        match plan().parse(input) {
            Ok(n) => n.to_string(),
            Err(e) => panic!("{e}"),
        }
    }

    fn kind(input: &str) -> ParseErrorKind {
        plan().parse(input).unwrap_err().kind().clone()
    }

    #[test]
    fn every_listed_input_form() {
        for input in [
            "+33123456789",
            "0033123456789",
            "0123456789",
            "+33 1 23 45 67 89",
            "01.23.45.67.89",
            "(01) 23-45-67-89",
            "01/23/45/67/89",
            "01\u{a0}23\u{202f}45 67 89",
            "tel:+33123456789",
            "tel:0123456789;phone-context=+33",
            "TEL:+33-1-23-45-67-89",
            "sip:+33123456789@sbc.example.com;user=phone",
            "sip:0123456789@10.0.0.1",
            "sips:+33123456789@sbc.example.com:5061;transport=tls",
            "sip:0123456789;phone-context=+33@sbc.example.com;user=phone",
            "\"Accueil\" <sip:+33123456789@sbc.example.com>;tag=1234",
            "sip:%2B33123456789@sbc.example.com",
            "+330123456789",
            "+33 (0)1 23 45 67 89",
            "00330123456789",
            "33123456789",
            "  +33123456789  ",
            "+33123456789;ext=12",
            "0123456789;phone-context=+33",
        ] {
            assert_eq!(e164(input), "+33123456789", "{input}");
        }
    }

    #[test]
    fn overseas_national_numbers_get_their_calling_code() {
        assert_eq!(e164("0692123456"), "+262692123456");
        assert_eq!(e164("0262123456"), "+262262123456");
        assert_eq!(e164("0269612345"), "+262269612345");
        assert_eq!(e164("0639123456"), "+262639123456");
        assert_eq!(e164("0590123456"), "+590590123456");
        assert_eq!(e164("0690123456"), "+590690123456");
        assert_eq!(e164("0594123456"), "+594594123456");
        assert_eq!(e164("0596123456"), "+596596123456");
        assert_eq!(e164("0696123456"), "+596696123456");
        assert_eq!(e164("0508411234"), "+508411234");
        assert_eq!(e164("05 08 41 12 34"), "+508411234");
        // The metropolitan code put in front of an overseas national number.
        assert_eq!(e164("+33692123456"), "+262692123456");
        assert_eq!(e164("+330692123456"), "+262692123456");
        // Already international: kept.
        assert_eq!(e164("+262692123456"), "+262692123456");
        assert_eq!(e164("+2620692123456"), "+262692123456");
        assert_eq!(e164("tel:0692123456;phone-context=+262"), "+262692123456");
    }

    #[test]
    fn comoros_is_not_mayotte() {
        let n = plan().parse("+2693212345").unwrap();
        assert_eq!(n.to_string(), "+2693212345");
        assert_eq!(plan().classify(&n).country.as_str(), "KM");
    }

    #[test]
    fn extended_length_numbers() {
        assert_eq!(e164("07 00 12 34 56 78 90"), "+337001234567890");
        assert_eq!(e164("0912345678901"), "+33912345678901");
        assert_eq!(e164("0912345678"), "+33912345678");
        assert!(matches!(
            kind("07001234567"),
            ParseErrorKind::TooShort {
                digits: 10,
                min: 13
            }
        ));
        assert!(matches!(
            kind("09123456789"),
            ParseErrorKind::WrongLength { digits: 10, .. }
        ));
        assert!(matches!(
            kind("0612345678901"),
            ParseErrorKind::TooLong { digits: 12, max: 9 }
        ));
    }

    #[test]
    fn short_codes_stay_national() {
        for code in [
            "15", "17", "18", "112", "114", "115", "116000", "116117", "119", "191", "196", "197",
            "3949", "1014", "118712", "1633",
        ] {
            let n = plan().parse(code).unwrap();
            let s = n
                .as_short()
                .unwrap_or_else(|| panic!("{code} should be short"));
            assert_eq!(s.as_str(), code);
            assert_eq!(s.calling_code(), 33);
        }
        assert!(matches!(
            kind("1234"),
            ParseErrorKind::UnknownShortNumber { digits: 4 }
        ));
        assert!(matches!(
            kind("39490"),
            ParseErrorKind::UnknownShortNumber { digits: 5 }
        ));
        assert!(matches!(
            plan().parse_e164("112").unwrap_err().kind(),
            ParseErrorKind::NotE164
        ));
    }

    #[test]
    fn typed_errors_for_bad_inputs() {
        assert_eq!(kind(""), ParseErrorKind::Empty);
        assert_eq!(kind("   "), ParseErrorKind::Empty);
        assert_eq!(kind("+"), ParseErrorKind::NoDigits);
        assert_eq!(kind("--"), ParseErrorKind::NoDigits);
        assert_eq!(
            kind("0800 FLEURS"),
            ParseErrorKind::Letters {
                ch: 'F',
                position: 6
            }
        );
        assert_eq!(
            kind("01234*5678"),
            ParseErrorKind::InvalidCharacter {
                ch: '*',
                position: 6
            }
        );
        assert_eq!(kind("01+23456789"), ParseErrorKind::MisplacedPlus);
        // Non-ASCII inputs take the character path: positions count characters.
        assert_eq!(
            kind("01 23\u{a0}é5"),
            ParseErrorKind::Letters {
                ch: 'é',
                position: 7
            }
        );
        assert_eq!(kind("01\u{a0}23+5"), ParseErrorKind::MisplacedPlus);
        assert_eq!(
            kind("01\u{a0}23€5"),
            ParseErrorKind::InvalidCharacter {
                ch: '€',
                position: 6
            }
        );
        assert_eq!(kind("0123"), ParseErrorKind::TooShort { digits: 3, min: 9 });
        assert_eq!(
            kind("01234567890"),
            ParseErrorKind::TooLong { digits: 10, max: 9 }
        );
        assert_eq!(
            kind("+2891234567"),
            ParseErrorKind::UnknownCountryCode {
                digits: "289".into()
            }
        );
        assert_eq!(
            kind("+0123"),
            ParseErrorKind::UnknownCountryCode {
                digits: "012".into()
            }
        );
        assert_eq!(kind("612345678"), ParseErrorKind::NoPrefix);
        assert_eq!(kind("0508012345"), ParseErrorKind::LeadingZero);
        assert_eq!(kind("00"), ParseErrorKind::TooShort { digits: 0, min: 4 });
        assert!(matches!(
            kind("+3312345678901234567890123"),
            ParseErrorKind::TooLong { .. }
        ));
        assert!(matches!(kind("+44123"), ParseErrorKind::TooShort { .. }));
        assert!(matches!(
            kind("sip:alice@example.com"),
            ParseErrorKind::NotAPhoneUri { .. }
        ));
        assert!(matches!(
            kind("sip:example.com"),
            ParseErrorKind::NotAPhoneUri { .. }
        ));
        assert!(matches!(
            kind("tel:;phone-context=+33"),
            ParseErrorKind::NotAPhoneUri { .. }
        ));
        assert!(matches!(
            kind("<sip:+33123456789@x"),
            ParseErrorKind::NotAPhoneUri { .. }
        ));
    }

    #[test]
    fn error_message_names_input_and_reason() {
        let e = plan().parse("sip:alice@example.com").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid phone number \"sip:alice@example.com\": the sip user part \"alice\" is not a telephone number"
        );
    }

    #[test]
    fn international_numbers() {
        assert_eq!(e164("+32 470 12 34 56"), "+32470123456");
        assert_eq!(e164("0032470123456"), "+32470123456");
        assert_eq!(e164("+32 (0)470 12 34 56"), "+32470123456");
        assert_eq!(e164("+39 06 1234 5678"), "+390612345678");
        assert_eq!(e164("+1 (212) 555-0123"), "+12125550123");
        assert_eq!(e164("tel:555-0123;phone-context=+1-212"), "+12125550123");
        assert_eq!(e164("+44 20 7946 0958"), "+442079460958");
        assert_eq!(e164("+88216123456"), "+88216123456");
    }

    #[test]
    fn other_default_country() {
        let be = NumberingPlan::builder()
            .default_country("BE")
            .build()
            .unwrap();
        assert_eq!(
            be.parse("0470 12 34 56").unwrap().to_string(),
            "+32470123456"
        );
        assert_eq!(
            be.parse("0033123456789").unwrap().to_string(),
            "+33123456789"
        );
        // French short codes and overseas prefixes are French rules.
        assert!(be.parse("3949").is_err());
        let it = NumberingPlan::builder()
            .default_country("IT")
            .build()
            .unwrap();
        assert_eq!(
            it.parse("06 1234 5678").unwrap().to_string(),
            "+390612345678"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%2B33"), "+33");
        assert_eq!(percent_decode("%2b33%"), "+33%");
        assert_eq!(percent_decode("%zz1"), "%zz1");
    }
}
