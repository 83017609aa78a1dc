//! Reading ARCEP CSV files as published: ISO-8859-1 (or UTF-8), `;` separated,
//! quoted fields, `DD/MM/YYYY` dates, columns found by header name.
//!
//! Header names are matched after folding: lowercase, accents removed, everything
//! but letters and digits dropped, so `Mnémo`, `MNEMO` and `Mnemo` are one column and
//! `Date d'effet (attribution)` is `datedeffetattribution`. Each logical column has a
//! list of accepted names, because ARCEP has renamed columns over the years.

use chrono::NaiveDate;

use super::BadRow;

/// Decodes a file's bytes: UTF-8 (BOM stripped) when valid, else ISO-8859-1, which
/// is what ARCEP publishes (decoded as windows-1252, its superset, as browsers do).
/// CRLF line ends become LF: the csv crate numbers CRLF lines one too low.
pub(crate) fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    };
    text.replace("\r\n", "\n")
}

/// Folds a header name for matching: `Mnémo` → `mnemo`.
pub(crate) fn fold(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let c = match c {
                'à' | 'â' | 'ä' | 'À' | 'Â' | 'Ä' => 'a',
                'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
                'î' | 'ï' | 'Î' | 'Ï' => 'i',
                'ô' | 'ö' | 'Ô' | 'Ö' => 'o',
                'ù' | 'û' | 'ü' | 'Ù' | 'Û' | 'Ü' => 'u',
                'ç' | 'Ç' => 'c',
                c => c,
            };
            c.is_ascii_alphanumeric().then(|| c.to_ascii_lowercase())
        })
        .collect()
}

/// A column to find: its role in messages and the folded names it may have.
pub(crate) struct Column {
    pub(crate) role: &'static str,
    pub(crate) names: &'static [&'static str],
    pub(crate) required: bool,
}

/// Calls `row(line, values)` for each data row of `text`, `values[i]` being the
/// value of `columns[i]` (empty when an optional column is absent). Unreadable rows
/// and rows with too few fields become [`BadRow`]s; a missing required column is a
/// single bad row at line 1 and no data row is read.
pub(crate) fn read_rows(
    text: &str,
    columns: &[Column],
    bad: &mut Vec<BadRow>,
    mut row: impl FnMut(u64, &[&str]) -> Result<(), String>,
) -> usize {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(fold).collect(),
        Err(e) => {
            bad.push(BadRow {
                line: 1,
                reason: format!("unreadable header: {e}"),
            });
            return 0;
        }
    };
    let mut idx = Vec::with_capacity(columns.len());
    let mut missing = Vec::new();
    for col in columns {
        let pos = col
            .names
            .iter()
            .find_map(|n| headers.iter().position(|h| h == n));
        if pos.is_none() && col.required {
            missing.push(col.role);
        }
        idx.push(pos);
    }
    if !missing.is_empty() {
        bad.push(BadRow {
            line: 1,
            reason: format!(
                "missing column(s) {}; the header has {}",
                missing.join(", "),
                headers.join(";")
            ),
        });
        return 0;
    }
    let mut imported = 0;
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                bad.push(BadRow {
                    line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let mut values = Vec::with_capacity(idx.len());
        let mut short = None;
        for (i, col) in idx.iter().zip(columns) {
            match i.map(|i| rec.get(i)) {
                Some(Some(v)) => values.push(v),
                Some(None) if col.required => {
                    short = Some(col.role);
                    values.push("");
                }
                _ => values.push(""),
            }
        }
        if let Some(role) = short {
            bad.push(BadRow {
                line,
                reason: format!("{} fields, no {role}", rec.len()),
            });
            continue;
        }
        match row(line, &values) {
            Ok(()) => imported += 1,
            Err(reason) => bad.push(BadRow { line, reason }),
        }
    }
    imported
}

/// `DD/MM/YYYY`, empty → `None`.
pub(crate) fn date(s: &str) -> Result<Option<NaiveDate>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%d/%m/%Y")
        .map(Some)
        .map_err(|_| format!("bad date {s:?}: DD/MM/YYYY expected"))
}

/// Digits only, `min..=max` of them.
pub(crate) fn digits(what: &str, s: &str, min: usize, max: usize) -> Result<(), String> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if min == max {
            format!("bad {what} {s:?}: {min} digits expected")
        } else {
            format!("bad {what} {s:?}: {min} to {max} digits expected")
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_latin1_and_utf8() {
        assert_eq!(decode(b"Mn\xe9mo"), "Mnémo");
        assert_eq!(decode("Mnémo".as_bytes()), "Mnémo");
        assert_eq!(decode(b"\xEF\xBB\xBFMn\xC3\xA9mo"), "Mnémo");
        assert_eq!(decode(b"a;b\r\n1;2\r\n"), "a;b\n1;2\n");
    }

    #[test]
    fn folds_header_names() {
        assert_eq!(fold("Mnémo"), "mnemo");
        assert_eq!(fold("Tranche_Debut"), "tranchedebut");
        assert_eq!(fold("Date d'effet (attribution)"), "datedeffetattribution");
        assert_eq!(fold("\"Territoire\""), "territoire");
    }

    #[test]
    fn dates_are_day_first() {
        assert_eq!(
            date("02/01/2020").unwrap(),
            NaiveDate::from_ymd_opt(2020, 1, 2)
        );
        assert_eq!(date("").unwrap(), None);
        assert!(date("2020-01-02").unwrap_err().contains("\"2020-01-02\""));
        assert!(date("31/02/2020").is_err());
    }

    #[test]
    fn missing_required_column_is_one_bad_row() {
        let cols = [Column {
            role: "operator",
            names: &["mnemo"],
            required: true,
        }];
        let mut bad = Vec::new();
        let n = read_rows("a;b\n1;2\n", &cols, &mut bad, |_, _| Ok(()));
        assert_eq!(n, 0);
        assert_eq!(bad[0].line, 1);
        assert!(
            bad[0].reason.contains("missing column(s) operator"),
            "{}",
            bad[0].reason
        );
    }

    #[test]
    fn quoted_fields_and_short_rows() {
        let cols = [
            Column {
                role: "a",
                names: &["a"],
                required: true,
            },
            Column {
                role: "b",
                names: &["b"],
                required: true,
            },
        ];
        let mut bad = Vec::new();
        let mut seen = Vec::new();
        let n = read_rows(
            "\"a\";\"b\"\n\"x;y\";\"2\"\nonly\n",
            &cols,
            &mut bad,
            |line, v| {
                seen.push((line, v[0].to_owned(), v[1].to_owned()));
                Ok(())
            },
        );
        assert_eq!(n, 1);
        assert_eq!(seen, vec![(2, "x;y".to_owned(), "2".to_owned())]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
    }
}
