//! Reading a TOML file field by field while recording every problem with its line.
//!
//! The file is parsed with `toml`'s recoverable parser, which keeps going after a
//! syntax error and gives every key and value a byte span. [`TableReader`] and
//! [`ValueReader`] walk that tree: each accessor checks one field, records an error
//! (file, line, entry, key path, message) when the field is missing or invalid, and
//! returns `None` so that the caller simply skips what depends on it. When a table
//! has been read, [`TableReader::finish`] reports every key nobody asked for as an
//! unknown field, listing the keys the format defines.
//!
//! This is why the TOML files are not read with serde derive and
//! `deny_unknown_fields`: serde stops at the first error, and the billing team
//! should fix a file in one pass.
//!
//! Public because rating reads `plans.toml` of the same directory with it, so that
//! its errors read exactly like provisioning's.

use std::cell::RefCell;
use std::ops::Range;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::calendar::{paris_day_start, parse_date};
use crate::error::{ErrorKind, ProvisioningError};

/// Converts byte offsets into 1-based line numbers.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset at which each line starts; the first is 0.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `text`.
    pub fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { starts }
    }

    /// The 1-based line holding the byte at `offset` (the last line for offsets
    /// past the end).
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset).max(1)
    }
}

/// One TOML file being read: its name, its line index and the errors found so far.
pub struct TomlDoc {
    file: String,
    lines: LineIndex,
    errors: RefCell<Vec<ProvisioningError>>,
}

impl TomlDoc {
    /// Starts reading `text`, the contents of `file` (relative to the provisioning
    /// directory).
    pub fn new(file: &str, text: &str) -> Self {
        TomlDoc {
            file: file.to_owned(),
            lines: LineIndex::new(text),
            errors: RefCell::new(Vec::new()),
        }
    }

    /// Parses `text` (the text given to [`TomlDoc::new`]), recording syntax errors,
    /// and returns what could be parsed.
    pub fn parse<'i>(&self, text: &'i str) -> Spanned<DeTable<'i>> {
        let (root, syntax_errors) = DeTable::parse_recoverable(text);
        for error in syntax_errors {
            let line = error.span().map(|span| self.lines.line(span.start));
            let message = error.message().trim().trim_end_matches('.');
            self.errors.borrow_mut().push(ProvisioningError::new(
                ErrorKind::Syntax,
                &self.file,
                line.or(Some(1)),
                "",
                "",
                format!("invalid TOML: {message}"),
            ));
        }
        root
    }

    /// The 1-based line where `span` starts.
    pub fn line_of(&self, span: Range<usize>) -> usize {
        self.lines.line(span.start)
    }

    /// Records an error at `line`.
    pub fn report(
        &self,
        kind: ErrorKind,
        line: usize,
        entry: &str,
        field: &str,
        message: impl Into<String>,
    ) {
        self.errors.borrow_mut().push(ProvisioningError::new(
            kind,
            &self.file,
            Some(line),
            entry,
            field,
            message,
        ));
    }

    /// A reader for the document's top-level table.
    pub fn root<'a, 'i>(&'a self, root: &'a Spanned<DeTable<'i>>) -> TableReader<'a, 'i> {
        TableReader {
            doc: self,
            table: root.get_ref(),
            line: 1,
            entry: String::new(),
            path: String::new(),
            known: Vec::new(),
        }
    }

    /// The errors recorded, in the order they were found.
    pub fn into_errors(self) -> Vec<ProvisioningError> {
        self.errors.into_inner()
    }
}

/// Reads the fields of one TOML table.
pub struct TableReader<'a, 'i> {
    doc: &'a TomlDoc,
    table: &'a DeTable<'i>,
    /// Where the table starts: its `[header]`, its inline `{`, or its first key.
    line: usize,
    /// The entry errors are reported against, such as `trunk "acme-paris"`.
    entry: String,
    /// The key path of this table inside the entry, such as `identify`; empty for
    /// the entry's own table.
    path: String,
    /// The keys asked for so far, in order; anything else is an unknown field.
    known: Vec<&'static str>,
}

impl<'a, 'i> TableReader<'a, 'i> {
    /// Names the entry this table (and everything read from it from now on)
    /// belongs to, e.g. once its `id` is known.
    pub fn set_entry(&mut self, entry: String) {
        self.entry = entry;
    }

    /// The entry errors are reported against.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The line where the table starts.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Reads an optional field: `None` when absent.
    pub fn optional(&mut self, key: &'static str) -> Option<ValueReader<'a, 'i>> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        let value = self.table.get(key)?;
        Some(ValueReader {
            doc: self.doc,
            value,
            entry: self.entry.clone(),
            path: join_path(&self.path, key),
        })
    }

    /// Reads a required field, recording an error when it is absent.
    pub fn required(&mut self, key: &'static str) -> Option<ValueReader<'a, 'i>> {
        let value = self.optional(key);
        if value.is_none() {
            self.error(
                ErrorKind::MissingField,
                format!("missing required field \"{key}\""),
            );
        }
        value
    }

    /// Records an error about the table as a whole, at the line where it starts.
    pub fn error(&self, kind: ErrorKind, message: impl Into<String>) {
        self.doc
            .report(kind, self.line, &self.entry, &self.path, message);
    }

    /// Reports every key that was not asked for as an unknown field.
    pub fn finish(self) {
        for (key, _) in self.table.iter() {
            let name: &str = key.get_ref();
            if self.known.contains(&name) {
                continue;
            }
            let expected = if self.known.is_empty() {
                "this table has no fields".to_owned()
            } else {
                format!("expected one of: {}", self.known.join(", "))
            };
            self.doc.report(
                ErrorKind::UnknownField,
                self.doc.line_of(key.span()),
                &self.entry,
                &self.path,
                format!("unknown field {name:?} ({expected})"),
            );
        }
    }
}

/// Reads one TOML value, located by its span and key path.
pub struct ValueReader<'a, 'i> {
    doc: &'a TomlDoc,
    value: &'a Spanned<DeValue<'i>>,
    entry: String,
    path: String,
}

impl<'a, 'i> ValueReader<'a, 'i> {
    /// The 1-based line where the value starts.
    pub fn line(&self) -> usize {
        self.doc.line_of(self.value.span())
    }

    /// The key path of the value inside its entry, such as `channels[1].from`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Records an invalid-value error at this value.
    pub fn error(&self, message: impl Into<String>) {
        self.error_kind(ErrorKind::InvalidValue, message);
    }

    /// Records an error of the given kind at this value.
    pub fn error_kind(&self, kind: ErrorKind, message: impl Into<String>) {
        self.doc
            .report(kind, self.line(), &self.entry, &self.path, message);
    }

    fn wrong_type(&self, expected: &str) {
        self.error(format!(
            "expected {expected}, found {}",
            describe(self.value)
        ));
    }

    /// The value as a string.
    pub fn str(&self) -> Option<&'a str> {
        match self.value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong_type("a string");
                None
            }
        }
    }

    /// The value as a string that is not empty or blank.
    pub fn non_empty_str(&self) -> Option<&'a str> {
        let s = self.str()?;
        if s.trim().is_empty() {
            self.error("is empty (expected a non-empty string)");
            return None;
        }
        Some(s)
    }

    /// The value as an integer that fits in an `i64`.
    pub fn integer(&self) -> Option<i64> {
        match self.value.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(format!("{i} is out of range"));
                    None
                }
            },
            _ => {
                self.wrong_type("an integer");
                None
            }
        }
    }

    /// The value as a boolean.
    pub fn bool(&self) -> Option<bool> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type("true or false");
                None
            }
        }
    }

    /// The value as a calendar date: a TOML local date (`2026-10-16`) or a string
    /// `"YYYY-MM-DD"`.
    pub fn date(&self) -> Option<NaiveDate> {
        let date = match self.value.get_ref() {
            DeValue::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => {
                    NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                }
                _ => None,
            },
            DeValue::String(s) => parse_date(s),
            _ => {
                self.wrong_type("a date (YYYY-MM-DD)");
                return None;
            }
        };
        if date.is_none() {
            self.error(format!(
                "{} is not a date (expected YYYY-MM-DD)",
                self.shown()
            ));
        }
        date
    }

    /// The value as an instant: a date (00:00 Europe/Paris on that day, as a TOML
    /// local date or a `"YYYY-MM-DD"` string) or an RFC 3339 date-time with a UTC
    /// offset (a TOML offset date-time or a string).
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        const EXPECTED: &str =
            "expected YYYY-MM-DD or a date-time with offset, e.g. 2026-10-10T08:00:00+02:00";
        let instant = match self.value.get_ref() {
            DeValue::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
                (Some(d), None, None) => {
                    NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                        .map(paris_day_start)
                }
                (Some(d), Some(t), Some(offset)) => {
                    let minutes: i32 = match offset {
                        toml::value::Offset::Z => 0,
                        toml::value::Offset::Custom { minutes } => minutes.into(),
                    };
                    let date = NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into());
                    let time = NaiveTime::from_hms_nano_opt(
                        t.hour.into(),
                        t.minute.into(),
                        t.second.unwrap_or(0).into(),
                        t.nanosecond.unwrap_or(0),
                    );
                    let offset = FixedOffset::east_opt(minutes * 60);
                    match (date, time, offset) {
                        (Some(date), Some(time), Some(offset)) => offset
                            .from_local_datetime(&date.and_time(time))
                            .single()
                            .map(|dt| dt.with_timezone(&Utc)),
                        _ => None,
                    }
                }
                (Some(_), Some(_), None) => {
                    self.error(format!("{dt} has no UTC offset ({EXPECTED})"));
                    return None;
                }
                _ => None,
            },
            DeValue::String(s) => match parse_date(s) {
                Some(date) => Some(paris_day_start(date)),
                None => DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|dt| dt.with_timezone(&Utc)),
            },
            _ => {
                self.wrong_type("a date or a date-time");
                return None;
            }
        };
        if instant.is_none() {
            self.error(format!(
                "{} is not a date or a date-time ({EXPECTED})",
                self.shown()
            ));
        }
        instant
    }

    /// The value as a decimal: a string such as `"12.50"` (exact) or an integer.
    /// Floats are refused: they cannot hold money exactly.
    pub fn decimal(&self) -> Option<rust_decimal::Decimal> {
        match self.value.get_ref() {
            DeValue::String(s) => {
                let parsed = parse_decimal(s.as_ref());
                if parsed.is_none() {
                    self.error(format!(
                        "{} is not a decimal (use digits and a dot, e.g. \"12.50\")",
                        self.shown()
                    ));
                }
                parsed
            }
            DeValue::Integer(_) => self.integer().map(rust_decimal::Decimal::from),
            DeValue::Float(f) => {
                self.error(format!(
                    "float {f} is not exact: write the decimal as a string, e.g. \"{f}\""
                ));
                None
            }
            _ => {
                self.wrong_type("a decimal written as a string (e.g. \"12.50\")");
                None
            }
        }
    }

    /// The value as an array of values, each located at `path[i]`.
    pub fn array(&self) -> Option<Vec<ValueReader<'a, 'i>>> {
        match self.value.get_ref() {
            DeValue::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, value)| ValueReader {
                        doc: self.doc,
                        value,
                        entry: self.entry.clone(),
                        path: format!("{}[{i}]", self.path),
                    })
                    .collect(),
            ),
            _ => {
                self.wrong_type("an array");
                None
            }
        }
    }

    /// The value as a table.
    pub fn table(&self) -> Option<TableReader<'a, 'i>> {
        self.table_as(self.entry.clone(), self.path.clone())
    }

    /// The value as the table of a top-level entry (a `[[trunk]]`): errors inside
    /// it name `entry` and give key paths from the entry.
    pub fn entry_table(&self, entry: String) -> Option<TableReader<'a, 'i>> {
        self.table_as(entry, String::new())
    }

    fn table_as(&self, entry: String, path: String) -> Option<TableReader<'a, 'i>> {
        match self.value.get_ref() {
            DeValue::Table(table) => Some(TableReader {
                doc: self.doc,
                table,
                line: self.line(),
                entry,
                path,
                known: Vec::new(),
            }),
            _ => {
                self.wrong_type("a table");
                None
            }
        }
    }

    /// The value as written, for error messages: strings quoted, other scalars as
    /// TOML writes them.
    pub fn shown(&self) -> String {
        match self.value.get_ref() {
            DeValue::String(s) => format!("{:?}", s.as_ref()),
            DeValue::Integer(i) => i.to_string(),
            DeValue::Float(f) => f.to_string(),
            DeValue::Boolean(b) => b.to_string(),
            DeValue::Datetime(dt) => dt.to_string(),
            DeValue::Array(_) => "an array".to_owned(),
            DeValue::Table(_) => "a table".to_owned(),
        }
    }
}

/// Describes a value of the wrong type: its TOML type and, for scalars, the value.
/// Parses a plain decimal with a dot (`12.5`, `0`, `-3`), no exponent, no spaces.
pub fn parse_decimal(text: &str) -> Option<rust_decimal::Decimal> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let well_formed = !digits.is_empty()
        && !digits.starts_with('.')
        && !digits.ends_with('.')
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1;
    if !well_formed {
        return None;
    }
    text.parse().ok()
}

fn describe(value: &Spanned<DeValue<'_>>) -> String {
    match value.get_ref() {
        DeValue::String(s) => format!("string {:?}", s.as_ref()),
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {f}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(dt) => format!("date-time {dt}"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// `parent.key`, or `key` at the top of an entry.
fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` with `read`, returning the errors as displayed.
    fn errors_of(text: &str, read: impl FnOnce(&mut TableReader<'_, '_>)) -> Vec<String> {
        let doc = TomlDoc::new("t.toml", text);
        let root = doc.parse(text);
        let mut reader = doc.root(&root);
        read(&mut reader);
        reader.finish();
        doc.into_errors().iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn line_index_is_one_based() {
        let lines = LineIndex::new("a\nbb\n\nc");
        assert_eq!(lines.line(0), 1);
        assert_eq!(lines.line(1), 1);
        assert_eq!(lines.line(2), 2);
        assert_eq!(lines.line(5), 3);
        assert_eq!(lines.line(6), 4);
        assert_eq!(lines.line(100), 4);
    }

    #[test]
    fn reads_scalars_and_reports_wrong_types_with_lines() {
        let text = "a = \"x\"\nb = 1_000\nc = \"5\"\nd = -0x10\n";
        let mut got = (None, None, None);
        let errors = errors_of(text, |r| {
            got.0 = r.required("a").and_then(|v| v.str().map(str::to_owned));
            got.1 = r.required("b").and_then(|v| v.integer());
            got.2 = r.required("c").and_then(|v| v.integer());
            let _ = r.optional("d").and_then(|v| v.integer());
        });
        assert_eq!(got, (Some("x".to_owned()), Some(1000), None));
        assert!(errors
            .iter()
            .any(|e| e == "t.toml:3: c: expected an integer, found string \"5\""));
    }

    #[test]
    fn decimals_are_exact_strings_or_integers_never_floats() {
        let mut got = Vec::new();
        let errors = errors_of(
            "a = \"12.50\"\nb = 3\nc = 9.9\nd = \"1e3\"\ne = \"-0.5\"",
            |r| {
                for key in ["a", "b", "c", "d", "e"] {
                    got.push(r.required(key).and_then(|v| v.decimal()));
                }
            },
        );
        let dec = |t: &str| Some(t.parse::<rust_decimal::Decimal>().unwrap());
        assert_eq!(got, [dec("12.50"), dec("3"), None, None, dec("-0.5")]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("t.toml:3: c: float 9.9 is not exact"),
            "{errors:?}"
        );
        assert!(
            errors[1].contains("t.toml:4: d: \"1e3\" is not a decimal"),
            "{errors:?}"
        );
    }

    #[test]
    fn negative_integers_keep_their_sign() {
        let mut got = None;
        let errors = errors_of("n = -5", |r| {
            got = r.required("n").and_then(|v| v.integer())
        });
        assert_eq!(got, Some(-5));
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn missing_and_unknown_fields_are_reported() {
        let text = "[t]\nid = \"a\"\nchanels = 3\n";
        let errors = errors_of(text, |r| {
            let Some(mut t) = r.required("t").and_then(|v| v.table()) else {
                return;
            };
            t.set_entry("thing \"a\"".to_owned());
            let _ = t.required("id");
            let _ = t.required("channels");
            t.finish();
        });
        assert_eq!(
            errors,
            [
                "t.toml:1: thing \"a\": t: missing required field \"channels\"",
                "t.toml:3: thing \"a\": t: unknown field \"chanels\" (expected one of: id, channels)",
            ]
        );
    }

    #[test]
    fn dates_accept_toml_dates_and_strings() {
        let text =
            "a = 2026-10-16\nb = \"2026-10-17\"\nc = \"2026-13-01\"\nd = 2026-10-16T10:00:00Z\n";
        let mut got = Vec::new();
        let errors = errors_of(text, |r| {
            for key in ["a", "b", "c", "d"] {
                got.push(r.required(key).and_then(|v| v.date()));
            }
        });
        assert_eq!(got[0], NaiveDate::from_ymd_opt(2026, 10, 16));
        assert_eq!(got[1], NaiveDate::from_ymd_opt(2026, 10, 17));
        assert_eq!(got[2], None);
        assert_eq!(got[3], None);
        assert_eq!(
            errors,
            [
                "t.toml:3: c: \"2026-13-01\" is not a date (expected YYYY-MM-DD)",
                "t.toml:4: d: 2026-10-16T10:00:00Z is not a date (expected YYYY-MM-DD)",
            ]
        );
    }

    #[test]
    fn instants_accept_dates_and_offset_date_times() {
        let text = "a = 2026-10-16\nb = 2026-10-16T10:00:00+02:00\nc = \"2026-10-16T08:00:00Z\"\nd = 2026-10-16T10:00:00\ne = \"soon\"\n";
        let mut got = Vec::new();
        let errors = errors_of(text, |r| {
            for key in ["a", "b", "c", "d", "e"] {
                got.push(r.required(key).and_then(|v| v.instant()));
            }
        });
        let utc = |h| Some(Utc.with_ymd_and_hms(2026, 10, 16, h, 0, 0).unwrap());
        assert_eq!(
            got[0],
            Some(Utc.with_ymd_and_hms(2026, 10, 15, 22, 0, 0).unwrap())
        );
        assert_eq!(got[1], utc(8));
        assert_eq!(got[2], utc(8));
        assert_eq!((got[3], got[4]), (None, None));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("t.toml:4: d: 2026-10-16T10:00:00 has no UTC offset"));
        assert!(errors[1].starts_with("t.toml:5: e: \"soon\" is not a date or a date-time"));
    }

    #[test]
    fn arrays_index_their_elements() {
        let text = "xs = [\n  \"a\",\n  2,\n]\n";
        let errors = errors_of(text, |r| {
            if let Some(items) = r.required("xs").and_then(|v| v.array()) {
                for item in items {
                    let _ = item.str();
                }
            }
        });
        assert_eq!(
            errors,
            ["t.toml:3: xs[1]: expected a string, found integer 2"]
        );
    }

    #[test]
    fn syntax_errors_are_reported_with_their_line_and_parsing_goes_on() {
        let text = "a = 1\nb = = 2\nc = 3\n";
        let mut c = None;
        let errors = errors_of(text, |r| {
            let _ = r.optional("a");
            let _ = r.optional("b");
            c = r.optional("c").and_then(|v| v.integer());
        });
        assert_eq!(c, Some(3));
        assert!(!errors.is_empty());
        assert!(
            errors
                .iter()
                .all(|e| e.starts_with("t.toml:2: invalid TOML: ")),
            "{errors:?}"
        );
    }

    #[test]
    fn out_of_range_integers_are_errors_not_panics() {
        let errors = errors_of("n = 99999999999999999999", |r| {
            let _ = r.required("n").and_then(|v| v.integer());
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
    }
}
