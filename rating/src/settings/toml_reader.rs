//! Reading a TOML file field by field while recording every problem with its line.
//!
//! Adapted from the provisioning crate's private reader (same behaviour, same error
//! format) so that `plans.toml` errors look exactly like provisioning errors.
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

use std::cell::RefCell;
use std::ops::Range;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use provisioning::{paris_day_start, ErrorKind, ProvisioningError};

/// Converts byte offsets into 1-based line numbers.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    /// Byte offset at which each line starts; the first is 0.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `text`.
    pub(crate) fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { starts }
    }

    /// The 1-based line holding the byte at `offset` (the last line for offsets
    /// past the end).
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset).max(1)
    }
}

/// One TOML file being read: its name, its line index and the errors found so far.
pub(crate) struct TomlDoc {
    file: String,
    lines: LineIndex,
    errors: RefCell<Vec<ProvisioningError>>,
}

impl TomlDoc {
    /// Starts reading `text`, the contents of `file` (relative to the provisioning
    /// directory).
    pub(crate) fn new(file: &str, text: &str) -> Self {
        TomlDoc {
            file: file.to_owned(),
            lines: LineIndex::new(text),
            errors: RefCell::new(Vec::new()),
        }
    }

    /// Parses `text` (the text given to [`TomlDoc::new`]), recording syntax errors,
    /// and returns what could be parsed.
    pub(crate) fn parse<'i>(&self, text: &'i str) -> Spanned<DeTable<'i>> {
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
    pub(crate) fn line_of(&self, span: Range<usize>) -> usize {
        self.lines.line(span.start)
    }

    /// Records an error at `line`.
    pub(crate) fn report(
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
    pub(crate) fn root<'a, 'i>(&'a self, root: &'a Spanned<DeTable<'i>>) -> TableReader<'a, 'i> {
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
    pub(crate) fn into_errors(self) -> Vec<ProvisioningError> {
        self.errors.into_inner()
    }
}

/// Reads the fields of one TOML table.
pub(crate) struct TableReader<'a, 'i> {
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
    /// The line where the table starts.
    pub(crate) fn line(&self) -> usize {
        self.line
    }

    /// Reads an optional field: `None` when absent.
    pub(crate) fn optional(&mut self, key: &'static str) -> Option<ValueReader<'a, 'i>> {
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
    pub(crate) fn required(&mut self, key: &'static str) -> Option<ValueReader<'a, 'i>> {
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
    pub(crate) fn error(&self, kind: ErrorKind, message: impl Into<String>) {
        self.doc
            .report(kind, self.line, &self.entry, &self.path, message);
    }

    /// Reports every key that was not asked for as an unknown field.
    pub(crate) fn finish(self) {
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
pub(crate) struct ValueReader<'a, 'i> {
    doc: &'a TomlDoc,
    value: &'a Spanned<DeValue<'i>>,
    entry: String,
    path: String,
}

impl<'a, 'i> ValueReader<'a, 'i> {
    /// The 1-based line where the value starts.
    pub(crate) fn line(&self) -> usize {
        self.doc.line_of(self.value.span())
    }

    /// Records an invalid-value error at this value.
    pub(crate) fn error(&self, message: impl Into<String>) {
        self.error_kind(ErrorKind::InvalidValue, message);
    }

    /// Records an error of the given kind at this value.
    pub(crate) fn error_kind(&self, kind: ErrorKind, message: impl Into<String>) {
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
    pub(crate) fn str(&self) -> Option<&'a str> {
        match self.value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong_type("a string");
                None
            }
        }
    }

    /// The value as a string that is not empty or blank.
    pub(crate) fn non_empty_str(&self) -> Option<&'a str> {
        let s = self.str()?;
        if s.trim().is_empty() {
            self.error("is empty (expected a non-empty string)");
            return None;
        }
        Some(s)
    }

    /// The value as an integer that fits in an `i64`.
    pub(crate) fn integer(&self) -> Option<i64> {
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
    pub(crate) fn bool(&self) -> Option<bool> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type("true or false");
                None
            }
        }
    }

    /// The value as an instant: a date (00:00 Europe/Paris on that day, as a TOML
    /// local date or a `"YYYY-MM-DD"` string) or an RFC 3339 date-time with a UTC
    /// offset (a TOML offset date-time or a string).
    pub(crate) fn instant(&self) -> Option<DateTime<Utc>> {
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
    pub(crate) fn decimal(&self) -> Option<rust_decimal::Decimal> {
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
    pub(crate) fn array(&self) -> Option<Vec<ValueReader<'a, 'i>>> {
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
    pub(crate) fn table(&self) -> Option<TableReader<'a, 'i>> {
        self.table_as(self.entry.clone(), self.path.clone())
    }

    /// The value as the table of a top-level entry (a `[[trunk]]`): errors inside
    /// it name `entry` and give key paths from the entry.
    pub(crate) fn entry_table(&self, entry: String) -> Option<TableReader<'a, 'i>> {
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
    pub(crate) fn shown(&self) -> String {
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

/// Parses a date written exactly `YYYY-MM-DD`, the only date format the files accept.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let well_formed = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let year = text.get(0..4)?.parse().ok()?;
    let month = text.get(5..7)?.parse().ok()?;
    let day = text.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Parses a plain decimal with a dot (`12.5`, `0`, `-3`), no exponent, no spaces.
pub(crate) fn parse_decimal(text: &str) -> Option<rust_decimal::Decimal> {
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

/// Describes a value of the wrong type: its TOML type and, for scalars, the value.
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
