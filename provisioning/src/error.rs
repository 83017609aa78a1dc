//! Validation errors: one [`ProvisioningError`] per problem found, all of them
//! gathered in [`ProvisioningErrors`].
//!
//! Every error says where the problem is (the file relative to the provisioning
//! directory, the 1-based line when there is one, the entry and the field) and what
//! is wrong with the value it found. Messages are lowercase, have no final period,
//! and name what was expected, so that the person editing the file can fix every
//! problem in one pass:
//!
//! ```text
//! trunks.toml:14: trunk "acme-paris": channels[1].from: "2026-13-01" is not a date (expected YYYY-MM-DD)
//! tariffs/standard.csv:7: price_per_minute: "0,12" is not a decimal (use a dot: 0.12)
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of problem a [`ProvisioningError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file or directory is missing or cannot be read.
    Io,
    /// The file is not valid TOML or CSV.
    Syntax,
    /// A required field (or CSV column) is absent.
    MissingField,
    /// A field (or CSV column) that the format does not define.
    UnknownField,
    /// A field has the wrong type or a value outside what the format allows.
    InvalidValue,
    /// Two entries clash: a duplicate id, overlapping source addresses or tariff
    /// periods, an identifier used by two trunks.
    Conflict,
    /// An entry refers to something that does not exist (a trunk's customer).
    UnknownReference,
}

/// One problem found in the provisioning directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningError {
    kind: ErrorKind,
    file: PathBuf,
    line: Option<usize>,
    entry: String,
    field: String,
    message: String,
}

impl ProvisioningError {
    /// Builds an error. `file` is relative to the provisioning directory, `line` is
    /// 1-based, `entry` names the entry (`trunk "acme-paris"`) and `field` the key
    /// path inside it (`channels[1].from`); either may be empty. Public so that
    /// crates validating their own files of the directory (`plans.toml`,
    /// `numbers/`) report errors in the same format.
    pub fn new(
        kind: ErrorKind,
        file: impl Into<PathBuf>,
        line: Option<usize>,
        entry: impl Into<String>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ProvisioningError {
            kind,
            file: file.into(),
            line,
            entry: entry.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// The kind of problem.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file, relative to the provisioning directory (`trunks.toml`,
    /// `tariffs/standard.csv`); `.` for the directory itself.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The 1-based line in [`file`](Self::file), when the problem has one (a missing
    /// file has none). In CSV files the header is line 1.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The entry the problem is in, such as `trunk "acme-paris"` or `customer #3`
    /// (the third entry, when its id is itself unusable); empty for file-level
    /// problems and for CSV rows (the line identifies the row).
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The key path inside the entry, such as `channels[1].from`,
    /// `identify.source_addresses[0]` or `site[0].insee_code` (array indexes are
    /// 0-based), or the CSV column; empty when the problem is about the whole entry.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The entry and field joined as they are displayed:
    /// `trunk "acme-paris": channels[1].from`.
    pub fn key_path(&self) -> String {
        match (self.entry.is_empty(), self.field.is_empty()) {
            (true, _) => self.field.clone(),
            (false, true) => self.entry.clone(),
            (false, false) => format!("{}: {}", self.entry, self.field),
        }
    }

    /// What is wrong, naming the value found and what was expected.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ProvisioningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        let key_path = self.key_path();
        if !key_path.is_empty() {
            write!(f, ": {key_path}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ProvisioningError {}

/// Every problem found while loading a provisioning directory, sorted by file, then
/// line (file-level problems first), then the order they were found in.
///
/// `Display` prints one error per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", DisplayLines(.errors))]
pub struct ProvisioningErrors {
    errors: Vec<ProvisioningError>,
}

impl ProvisioningErrors {
    /// Collects errors, sorting them into display order.
    pub fn new(mut errors: Vec<ProvisioningError>) -> Self {
        // A stable sort keeps the order of discovery for errors on the same line.
        errors.sort_by(|a, b| a.file.cmp(&b.file).then(a.line.cmp(&b.line)));
        ProvisioningErrors { errors }
    }

    /// The errors, in display order.
    pub fn errors(&self) -> &[ProvisioningError] {
        &self.errors
    }

    /// How many errors were found (never 0 for an error returned by
    /// [`Provisioning::load`](crate::Provisioning::load)).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// True when there is no error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Iterates over the errors in display order.
    pub fn iter(&self) -> std::slice::Iter<'_, ProvisioningError> {
        self.errors.iter()
    }
}

impl<'a> IntoIterator for &'a ProvisioningErrors {
    type Item = &'a ProvisioningError;
    type IntoIter = std::slice::Iter<'a, ProvisioningError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl IntoIterator for ProvisioningErrors {
    type Item = ProvisioningError;
    type IntoIter = std::vec::IntoIter<ProvisioningError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

/// Displays errors one per line, without a trailing newline.
struct DisplayLines<'a>(&'a [ProvisioningError]);

impl fmt::Display for DisplayLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(file: &str, line: Option<usize>, entry: &str, field: &str) -> ProvisioningError {
        ProvisioningError::new(ErrorKind::InvalidValue, file, line, entry, field, "bad")
    }

    #[test]
    fn display_joins_location_entry_field_and_message() {
        let e = ProvisioningError::new(
            ErrorKind::InvalidValue,
            "trunks.toml",
            Some(14),
            "trunk \"acme-paris\"",
            "channels[1].from",
            "\"2026-13-01\" is not a date (expected YYYY-MM-DD)",
        );
        assert_eq!(
            e.to_string(),
            "trunks.toml:14: trunk \"acme-paris\": channels[1].from: \"2026-13-01\" is not a date (expected YYYY-MM-DD)"
        );
        assert_eq!(e.key_path(), "trunk \"acme-paris\": channels[1].from");
    }

    #[test]
    fn display_omits_missing_parts() {
        let e = ProvisioningError::new(ErrorKind::Io, "customers.toml", None, "", "", "missing");
        assert_eq!(e.to_string(), "customers.toml: missing");
        let e = err("tariffs/a.csv", Some(3), "", "prefix");
        assert_eq!(e.to_string(), "tariffs/a.csv:3: prefix: bad");
        let e = err("trunks.toml", Some(3), "trunk \"a\"", "");
        assert_eq!(e.to_string(), "trunks.toml:3: trunk \"a\": bad");
    }

    #[test]
    fn errors_sort_by_file_then_line_keeping_discovery_order() {
        let errors = ProvisioningErrors::new(vec![
            err("trunks.toml", Some(9), "", "b"),
            err("customers.toml", Some(4), "", "a"),
            err("trunks.toml", Some(2), "", "c"),
            err("trunks.toml", None, "", "d"),
            err("trunks.toml", Some(9), "", "a"),
        ]);
        let order: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            order,
            [
                "customers.toml:4: a: bad",
                "trunks.toml: d: bad",
                "trunks.toml:2: c: bad",
                "trunks.toml:9: b: bad",
                "trunks.toml:9: a: bad",
            ]
        );
        assert_eq!(errors.to_string().lines().count(), 5);
        assert!(!errors.to_string().ends_with('\n'));
    }
}
