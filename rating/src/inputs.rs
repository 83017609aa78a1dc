//! Reading the rating's own CSV inputs in the provisioning directory (`rating/`):
//! the same conventions as the tariff files, so the billing team edits them in the
//! same spreadsheet: a required header row (line 1) naming the columns in any order,
//! fields trimmed, a UTF-8 byte order mark skipped, `#` lines ignored, every
//! problem reported with file, line and column.

use std::collections::HashMap;

use provisioning::{ErrorKind, ProvisioningError};

/// One data row of a CSV input.
#[derive(Debug, Clone)]
pub struct CsvRow {
    /// 1-based line (the header is line 1).
    pub line: usize,
    fields: HashMap<String, String>,
}

impl CsvRow {
    /// The trimmed value of a column (empty when the column is empty).
    pub fn get(&self, column: &str) -> &str {
        self.fields.get(column).map_or("", String::as_str)
    }
}

/// Reads `bytes` (the contents of `file`) whose header must hold exactly
/// `columns`; errors are appended to `errors` and the valid rows returned.
pub fn read_csv(
    file: &str,
    bytes: &[u8],
    columns: &[&str],
    errors: &mut Vec<ProvisioningError>,
) -> Vec<CsvRow> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    // Lines from byte offsets: the csv crate's own line count skips blank lines.
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    // A record's position may point at blank lines before it: skip them.
    let line_of = |byte: u64| {
        let mut at = usize::try_from(byte).unwrap_or(usize::MAX);
        while bytes.get(at).is_some_and(|b| *b == b'\n' || *b == b'\r') {
            at += 1;
        }
        line_starts.partition_point(|&s| s <= at).max(1)
    };
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| line_of(p.byte()));
                errors.push(ProvisioningError::new(
                    ErrorKind::Syntax,
                    file,
                    line,
                    "",
                    "",
                    format!("invalid CSV: {e}"),
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| line_of(p.byte()));
        let values: Vec<String> = record.iter().map(|f| f.trim().to_owned()).collect();
        if values.first().is_some_and(|v| v.starts_with('#')) {
            continue;
        }
        let Some(names) = &header else {
            let mut ok = true;
            for name in &values {
                if !columns.contains(&name.as_str()) {
                    errors.push(ProvisioningError::new(
                        ErrorKind::UnknownField,
                        file,
                        Some(line),
                        "",
                        name.as_str(),
                        format!("unknown column {name:?} (expected: {})", columns.join(", ")),
                    ));
                    ok = false;
                }
            }
            for column in columns {
                if !values.iter().any(|v| v == column) {
                    errors.push(ProvisioningError::new(
                        ErrorKind::MissingField,
                        file,
                        Some(line),
                        "",
                        *column,
                        format!("missing column {column:?}"),
                    ));
                    ok = false;
                }
            }
            if !ok {
                return Vec::new();
            }
            header = Some(values);
            continue;
        };
        if values.iter().all(String::is_empty) {
            continue;
        }
        if values.len() != names.len() {
            errors.push(ProvisioningError::new(
                ErrorKind::Syntax,
                file,
                Some(line),
                "",
                "",
                format!(
                    "{} fields where the header has {}",
                    values.len(),
                    names.len()
                ),
            ));
            continue;
        }
        rows.push(CsvRow {
            line,
            fields: names.iter().cloned().zip(values).collect(),
        });
    }
    if header.is_none() {
        errors.push(ProvisioningError::new(
            ErrorKind::MissingField,
            file,
            Some(1),
            "",
            "",
            format!(
                "the header row is missing (expected: {})",
                columns.join(",")
            ),
        ));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_found_by_name_and_rows_keep_their_line() {
        let mut errors = Vec::new();
        let rows = read_csv(
            "f.csv",
            "\u{feff}b, a\n# a comment\n 2 ,1\n\n4,3\n5\n".as_bytes(),
            &["a", "b"],
            &mut errors,
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].line, rows[0].get("a"), rows[0].get("b")),
            (3, "1", "2")
        );
        assert_eq!(rows[1].line, 5);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "f.csv:6: 1 fields where the header has 2"
        );
    }

    #[test]
    fn header_problems_name_the_columns() {
        let mut errors = Vec::new();
        let rows = read_csv("f.csv", b"a,c\n1,2\n", &["a", "b"], &mut errors);
        assert!(rows.is_empty());
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            text,
            [
                "f.csv:1: c: unknown column \"c\" (expected: a, b)",
                "f.csv:1: b: missing column \"b\""
            ]
        );
        let mut errors = Vec::new();
        read_csv("f.csv", b"", &["a"], &mut errors);
        assert!(errors[0].to_string().contains("header row is missing"));
    }
}
