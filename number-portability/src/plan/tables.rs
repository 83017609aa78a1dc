//! Loading the numbering plan tables from their CSV text.
//!
//! The tables are `;`-separated UTF-8 CSV with a header line; lines starting with `#`
//! are comments. Columns are found by header name, so columns may be reordered and
//! extra columns are ignored. Every bad line is reported with its line number; a
//! table with problems is not used (a half-loaded numbering plan would misclassify
//! silently).

use crate::error::TableProblem;
use crate::number::MAX_E164_DIGITS;
use crate::plan::category::{Category, CountryId, Region};

/// One row of `countries.csv`.
#[derive(Debug, Clone)]
pub(crate) struct CountryRow {
    pub(crate) calling_code: String,
    pub(crate) area: String,
    pub(crate) id: CountryId,
    pub(crate) name: String,
    pub(crate) intl_prefix: String,
    pub(crate) trunk_prefix: String,
    pub(crate) plan: CountryId,
}

/// One row of `prefixes.csv`.
#[derive(Debug, Clone)]
pub(crate) struct PrefixRow {
    pub(crate) prefix: String,
    pub(crate) category: Category,
    pub(crate) region: Option<Region>,
    /// Bit n set: a national significant number of n digits is allowed; 0: no rule.
    pub(crate) lengths: u32,
}

/// One row of `fr_short_codes.csv`.
#[derive(Debug, Clone)]
pub(crate) struct ShortRow {
    pub(crate) code: String,
    pub(crate) length: usize,
    pub(crate) category: Category,
    pub(crate) label: String,
}

/// One row of `fr_overseas.csv`.
#[derive(Debug, Clone)]
pub(crate) struct OverseasRow {
    pub(crate) national_prefix: String,
    pub(crate) calling_code: String,
    pub(crate) drop_digits: usize,
}

/// A CSV table being read: named columns, problems collected with line numbers.
struct Table<'a> {
    name: &'a str,
    problems: &'a mut Vec<TableProblem>,
}

impl Table<'_> {
    fn problem(&mut self, line: u64, message: String) {
        self.problems.push(TableProblem {
            table: self.name.to_owned(),
            line,
            message,
        });
    }

    /// Reads `text`, calling `row(line, get)` for each record, where `get(i)` is the
    /// value of `columns[i]` (empty when the column is optional and absent).
    fn read(
        &mut self,
        text: &str,
        required: &[&str],
        optional: &[&str],
        mut row: impl FnMut(&mut Self, u64, &[&str]),
    ) {
        // The csv crate numbers CRLF lines one too low.
        let text = text.replace("\r\n", "\n");
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(b';')
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers = match rdr.headers() {
            Ok(h) => h.clone(),
            Err(e) => {
                self.problem(1, format!("unreadable header: {e}"));
                return;
            }
        };
        let mut idx = Vec::with_capacity(required.len() + optional.len());
        let mut missing = false;
        for (i, col) in required.iter().chain(optional).enumerate() {
            let pos = headers.iter().position(|h| h.eq_ignore_ascii_case(col));
            if pos.is_none() && i < required.len() {
                let found: Vec<&str> = headers.iter().collect();
                self.problem(
                    1,
                    format!("missing column {col:?} (header has {})", found.join(";")),
                );
                missing = true;
            }
            idx.push(pos);
        }
        if missing {
            return;
        }
        for rec in rdr.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    self.problem(line, format!("unreadable line: {e}"));
                    continue;
                }
            };
            let line = rec.position().map_or(0, |p| p.line());
            let values: Vec<&str> = idx
                .iter()
                .map(|i| i.and_then(|i| rec.get(i)).unwrap_or(""))
                .collect();
            row(self, line, &values);
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `countries.csv`.
pub(crate) fn countries(
    name: &str,
    text: &str,
    problems: &mut Vec<TableProblem>,
) -> Vec<CountryRow> {
    let mut out = Vec::new();
    let mut t = Table { name, problems };
    t.read(
        text,
        &["calling_code", "iso"],
        &["area", "name", "intl_prefix", "trunk_prefix", "plan"],
        |t, line, v| {
            let (cc, iso, area) = (v[0], v[1], v[2]);
            if !is_digits(cc) || cc.len() > 3 || cc.starts_with('0') {
                return t.problem(
                    line,
                    format!("bad calling code {cc:?}: 1 to 3 digits, not starting with 0"),
                );
            }
            if !area.is_empty() && !is_digits(area) {
                return t.problem(line, format!("bad area {area:?}: digits or empty"));
            }
            let Some(id) = CountryId::new(iso) else {
                return t.problem(
                    line,
                    format!("bad iso code {iso:?}: two uppercase letters or 001"),
                );
            };
            for (what, p) in [("intl_prefix", v[4]), ("trunk_prefix", v[5])] {
                if !p.is_empty() && !is_digits(p) {
                    return t.problem(line, format!("bad {what} {p:?}: digits or empty"));
                }
            }
            let plan = if v[6].is_empty() {
                id
            } else if let Some(p) = CountryId::new(v[6]) {
                p
            } else {
                return t.problem(line, format!("bad plan {:?}: an iso code or empty", v[6]));
            };
            out.push(CountryRow {
                calling_code: cc.to_owned(),
                area: area.to_owned(),
                id,
                name: v[3].to_owned(),
                intl_prefix: v[4].to_owned(),
                trunk_prefix: v[5].to_owned(),
                plan,
            });
        },
    );
    out
}

/// Parses `prefixes.csv`.
pub(crate) fn prefixes(name: &str, text: &str, problems: &mut Vec<TableProblem>) -> Vec<PrefixRow> {
    let mut out = Vec::new();
    let mut t = Table { name, problems };
    t.read(
        text,
        &["prefix", "category"],
        &["region", "lengths"],
        |t, line, v| {
            let prefix = v[0];
            if !is_digits(prefix) || prefix.len() > MAX_E164_DIGITS {
                return t.problem(line, format!("bad prefix {prefix:?}: 1 to 15 digits"));
            }
            let category = match v[1].parse::<Category>() {
                Ok(c) => c,
                Err(e) => return t.problem(line, e),
            };
            let region = if v[2].is_empty() {
                None
            } else {
                match v[2].parse::<Region>() {
                    Ok(r) => Some(r),
                    Err(e) => return t.problem(line, e),
                }
            };
            let mut lengths = 0u32;
            if !v[3].is_empty() {
                for part in v[3].split('|') {
                    match part.trim().parse::<u32>() {
                        Ok(n) if (1..=14).contains(&n) => lengths |= 1 << n,
                        _ => {
                            return t.problem(
                                line,
                                format!("bad lengths {:?}: numbers 1 to 14 separated by |", v[3]),
                            )
                        }
                    }
                }
            }
            out.push(PrefixRow {
                prefix: prefix.to_owned(),
                category,
                region,
                lengths,
            });
        },
    );
    out
}

/// Parses `fr_short_codes.csv`.
pub(crate) fn short_codes(
    name: &str,
    text: &str,
    problems: &mut Vec<TableProblem>,
) -> Vec<ShortRow> {
    let mut out = Vec::new();
    let mut t = Table { name, problems };
    t.read(
        text,
        &["code", "length", "category"],
        &["label"],
        |t, line, v| {
            let code = v[0];
            if !is_digits(code) {
                return t.problem(line, format!("bad code {code:?}: digits expected"));
            }
            let length = match v[1].parse::<usize>() {
                Ok(n) if n >= code.len() && n <= crate::number::MAX_SHORT_CODE_DIGITS => n,
                _ => {
                    return t.problem(
                        line,
                        format!(
                            "bad length {:?}: at least the code's digits and at most 8",
                            v[1]
                        ),
                    )
                }
            };
            let category = match v[2].parse::<Category>() {
                Ok(c) => c,
                Err(e) => return t.problem(line, e),
            };
            out.push(ShortRow {
                code: code.to_owned(),
                length,
                category,
                label: v[3].to_owned(),
            });
        },
    );
    out
}

/// Parses `fr_overseas.csv`.
pub(crate) fn overseas(
    name: &str,
    text: &str,
    problems: &mut Vec<TableProblem>,
) -> Vec<OverseasRow> {
    let mut out = Vec::new();
    let mut t = Table { name, problems };
    t.read(
        text,
        &["national_prefix", "calling_code", "drop_digits"],
        &[],
        |t, line, v| {
            let (prefix, cc) = (v[0], v[1]);
            if !is_digits(prefix) {
                return t.problem(
                    line,
                    format!("bad national prefix {prefix:?}: digits expected"),
                );
            }
            if !is_digits(cc) || cc.len() > 3 {
                return t.problem(line, format!("bad calling code {cc:?}: 1 to 3 digits"));
            }
            match v[2].parse::<usize>() {
                Ok(d) if d >= 1 && d <= prefix.len() => out.push(OverseasRow {
                    national_prefix: prefix.to_owned(),
                    calling_code: cc.to_owned(),
                    drop_digits: d,
                }),
                _ => t.problem(
                    line,
                    format!("bad drop_digits {:?}: 1 to the prefix length", v[2]),
                ),
            }
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_found_by_name_in_any_order() {
        let mut p = Vec::new();
        let rows = prefixes(
            "t",
            "# comment\nlengths;category;prefix\n9;mobile;336\n;fixed_geographic;331\n",
            &mut p,
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].prefix, "336");
        assert_eq!(rows[0].lengths, 1 << 9);
        assert_eq!(rows[1].category, Category::FixedGeographic);
    }

    #[test]
    fn bad_rows_reported_with_line_numbers() {
        let mut p = Vec::new();
        let rows = prefixes(
            "prefixes.csv",
            "prefix;category;region;lengths\n33;mobile;;\n3x;mobile;;\n34;flying;;\n35;mobile;mars;\n36;mobile;;99\n",
            &mut p,
        );
        assert_eq!(rows.len(), 1);
        let lines: Vec<u64> = p.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(p[0].message.contains("\"3x\""));
        assert!(p[1].message.contains("\"flying\""));
    }

    #[test]
    fn crlf_line_numbers() {
        let mut p = Vec::new();
        prefixes("t", "prefix;category\r\n33;mobile\r\n3x;mobile\r\n", &mut p);
        assert_eq!(p[0].line, 3, "{p:?}");
    }

    #[test]
    fn missing_column_named() {
        let mut p = Vec::new();
        let rows = countries("countries.csv", "code;iso\n33;FR\n", &mut p);
        assert!(rows.is_empty());
        assert!(
            p[0].message.contains("missing column \"calling_code\""),
            "{p:?}"
        );
    }

    #[test]
    fn country_plan_defaults_to_itself() {
        let mut p = Vec::new();
        let rows = countries(
            "c",
            "calling_code;area;iso;plan\n33;;FR;\n262;269;YT;FR\n",
            &mut p,
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(rows[0].plan.as_str(), "FR");
        assert_eq!(rows[1].plan.as_str(), "FR");
        assert_eq!(rows[1].area, "269");
    }

    #[test]
    fn short_code_length_must_cover_code() {
        let mut p = Vec::new();
        let rows = short_codes(
            "s",
            "code;length;category\n118;2;directory\n15;2;emergency\n",
            &mut p,
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(p[0].line, 2);
    }

    #[test]
    fn overseas_drop_digits_checked() {
        let mut p = Vec::new();
        let rows = overseas(
            "o",
            "national_prefix;calling_code;drop_digits\n0508;508;4\n0692;262;5\n",
            &mut p,
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(p[0].line, 3);
    }
}
