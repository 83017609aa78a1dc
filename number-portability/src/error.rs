//! Errors of this crate: why an input is not a phone number, and why a data table
//! could not be loaded.
//!
//! Messages are lowercase, name the bad input and, where there is one, say how to
//! fix it. Parsing never panics: every way an input can be wrong is a
//! [`ParseErrorKind`].

use std::fmt;

/// An input that is not a usable phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid phone number {input:?}: {kind}")]
pub struct ParseError {
    input: String,
    kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(input: &str, kind: ParseErrorKind) -> ParseError {
        ParseError {
            input: input.to_owned(),
            kind,
        }
    }

    /// The input as it was given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it was refused.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

/// Why an input is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Nothing but white space.
    Empty,
    /// Separators or a `+` but no digit.
    NoDigits,
    /// A letter: vanity numbers and names are not numbers.
    Letters {
        /// The first letter found.
        ch: char,
        /// Its 1-based character position in the number part.
        position: usize,
    },
    /// A character that is neither a digit, a `+` nor a visual separator.
    InvalidCharacter {
        /// The character.
        ch: char,
        /// Its 1-based character position in the number part.
        position: usize,
    },
    /// A `+` after the first digit.
    MisplacedPlus,
    /// Fewer digits than the plan allows.
    TooShort {
        /// Digits found (national significant number for full numbers).
        digits: usize,
        /// The fewest the plan allows.
        min: usize,
    },
    /// More digits than the plan allows.
    TooLong {
        /// Digits found (national significant number for full numbers).
        digits: usize,
        /// The most the plan allows.
        max: usize,
    },
    /// A length between the allowed ones (10 digits where 9 or 12 are allowed).
    WrongLength {
        /// Digits of the national significant number.
        digits: usize,
        /// The allowed lengths, e.g. `9 or 12`.
        expected: String,
    },
    /// The digits after `+` or `00` start no ITU country code.
    UnknownCountryCode {
        /// The first digits after the international prefix.
        digits: String,
    },
    /// Fewer digits than any full number and not a known short number.
    UnknownShortNumber {
        /// Digits found.
        digits: usize,
    },
    /// A full-length digit string with neither `+`, international prefix, trunk
    /// prefix nor a calling code of the home plan: its country cannot be told.
    NoPrefix,
    /// A national significant number starting with 0 in a country whose trunk
    /// prefix is 0, where no number does (`0508 012345`).
    LeadingZero,
    /// A short number where a full E.164 number is required.
    NotE164,
    /// A SIP or tel URI that does not carry a telephone number.
    NotAPhoneUri {
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::Empty => {
                f.write_str("empty input; give a number such as +33123456789 or 0123456789")
            }
            ParseErrorKind::NoDigits => f.write_str("no digits found"),
            ParseErrorKind::Letters { ch, position } => write!(
                f,
                "contains the letter {ch:?} at position {position}; only digits, a leading '+' \
                 and separators (space . - / parentheses) are allowed"
            ),
            ParseErrorKind::InvalidCharacter { ch, position } => write!(
                f,
                "unexpected character {ch:?} at position {position}; only digits, a leading '+' \
                 and separators (space . - / parentheses) are allowed"
            ),
            ParseErrorKind::MisplacedPlus => f.write_str("'+' may only start the number"),
            ParseErrorKind::TooShort { digits, min } => write!(
                f,
                "too short: {digits} digits after the country code or trunk prefix where at \
                 least {min} are expected"
            ),
            ParseErrorKind::TooLong { digits, max } => {
                write!(f, "too long: {digits} digits after the country code or trunk prefix where at most \
                 {max} are allowed")
            }
            ParseErrorKind::WrongLength { digits, expected } => write!(
                f,
                "wrong length: {digits} digits after the country code where {expected} are \
                 expected for this prefix"
            ),
            ParseErrorKind::UnknownCountryCode { digits } => write!(
                f,
                "unknown country code: no ITU country code starts +{digits}; \
                 check the international prefix"
            ),
            ParseErrorKind::UnknownShortNumber { digits } => write!(
                f,
                "not a known short number, and {digits} digits are too few for a full number"
            ),
            ParseErrorKind::NoPrefix => f.write_str(
                "no prefix: add '+' or 00 and the country code for an international number, \
                 or the trunk prefix 0 for a national one",
            ),
            ParseErrorKind::LeadingZero => f.write_str(
                "the digits after the country code or trunk prefix start with 0, which no \
                 number of this country does; remove the extra 0",
            ),
            ParseErrorKind::NotE164 => {
                f.write_str("a national short number has no E.164 form; a full number is required")
            }
            ParseErrorKind::NotAPhoneUri { reason } => f.write_str(reason),
        }
    }
}

/// A data table (numbering plan CSV) that could not be loaded.
///
/// Every problem of every table is listed, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("numbering plan data has {} error(s):\n{}", .problems.len(), render(.problems))]
pub struct PlanError {
    problems: Vec<TableProblem>,
}

impl PlanError {
    pub(crate) fn new(problems: Vec<TableProblem>) -> PlanError {
        PlanError { problems }
    }

    /// Every problem found, in table then line order.
    pub fn problems(&self) -> &[TableProblem] {
        &self.problems
    }
}

fn render(problems: &[TableProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One bad line of a data table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProblem {
    /// Table name (file name when loaded from disk).
    pub table: String,
    /// 1-based line number, 0 when the problem is not tied to a line.
    pub line: u64,
    /// What is wrong, lowercase, naming the bad value.
    pub message: String,
}

impl fmt::Display for TableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.table, self.line, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_input_and_reason() {
        let e = ParseError::new("01234", ParseErrorKind::TooShort { digits: 4, min: 9 });
        let msg = e.to_string();
        assert!(
            msg.starts_with("invalid phone number \"01234\": too short"),
            "{msg}"
        );
        assert_eq!(e.input(), "01234");
        assert!(matches!(
            e.kind(),
            ParseErrorKind::TooShort { digits: 4, min: 9 }
        ));
    }

    #[test]
    fn plan_error_lists_every_problem_with_location() {
        let e = PlanError::new(vec![
            TableProblem {
                table: "countries.csv".into(),
                line: 3,
                message: "bad calling code \"x\"".into(),
            },
            TableProblem {
                table: "prefixes.csv".into(),
                line: 9,
                message: "unknown category \"foo\"".into(),
            },
        ]);
        let msg = e.to_string();
        assert!(msg.contains("2 error(s)"), "{msg}");
        assert!(msg.contains("countries.csv:3: bad calling code"), "{msg}");
        assert!(msg.contains("prefixes.csv:9: unknown category"), "{msg}");
    }
}
