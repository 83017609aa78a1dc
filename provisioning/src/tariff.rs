//! Per-minute tariffs: `tariffs/*.csv`, one row per destination prefix and period.
//!
//! Every `.csv` file directly in `tariffs/` is read, in file name order. The header
//! row is required and columns are found by name, in any order:
//!
//! ```text
//! prefix,label,class,price_per_minute,connect_fee,increments,effective_from,effective_to
//! +331,France fixe Île-de-France,fixed,0.012,,60/60,2024-01-01,
//! +44,Royaume-Uni fixe,international,0.025,0,30/6,2024-01-01,2026-10-15
//! 3949,France Travail,short,0.012,,60/60,2024-01-01,
//! ```
//!
//! - `prefix`: `+` and 1 to 15 digits (an E.164 prefix), or 1 to 6 digits for a
//!   French national short number (3BPQ, 118XYZ, 10XY);
//! - `label`: non-empty; `class`: `[a-z0-9_]+` (fixed, mobile, special, premium,
//!   international, international_mobile, short...);
//! - `price_per_minute`, `connect_fee`: decimals with a dot, 0 or more, at most 6
//!   decimal places, in the customer's currency; an empty `connect_fee` is 0;
//! - `increments`: `A/B` seconds, both at least 1: the first A seconds are the
//!   minimum billed, then steps of B (60/60, 30/6, 1/1);
//! - `effective_from`: `YYYY-MM-DD`, inclusive from 00:00 Europe/Paris;
//!   `effective_to`: `YYYY-MM-DD`, exclusive, or empty for open-ended; after
//!   `effective_from`;
//! - two rows with the same prefix must not be in force at the same time (in any
//!   files); a price change ends the old row on the day the new one starts.
//!
//! The header is line 1. A UTF-8 byte order mark (as spreadsheets write) is
//! skipped and fields are trimmed. This module owns reading and checking the rows;
//! pricing (longest prefix among the rows in force) belongs to the rating crate.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::calendar::{paris_date, parse_date};
use crate::error::{ErrorKind, ProvisioningError};
use crate::names::{is_digits, is_e164_prefix};

/// The columns of a tariff file.
pub const TARIFF_COLUMNS: [&str; 8] = [
    "prefix",
    "label",
    "class",
    "price_per_minute",
    "connect_fee",
    "increments",
    "effective_from",
    "effective_to",
];

/// The most decimal places a price may have.
pub const MAX_PRICE_DECIMALS: u32 = 6;

/// One tariff row: the price of calls to a prefix during a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffRow {
    file: String,
    line: usize,
    prefix: String,
    label: String,
    class: String,
    price_per_minute: Decimal,
    connect_fee: Decimal,
    increments: Increments,
    effective_from: NaiveDate,
    effective_to: Option<NaiveDate>,
}

impl TariffRow {
    /// The file the row comes from, relative to the provisioning directory
    /// (`tariffs/standard.csv`): with [`line`](Self::line), it lets an invoice line
    /// name the tariff it was priced with.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The row's 1-based line in its file (the header is line 1).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The destination prefix: `+` and digits (E.164), or digits alone for a
    /// French short number.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// True for a French short number prefix (written without `+`).
    pub fn is_short_number(&self) -> bool {
        !self.prefix.starts_with('+')
    }

    /// The destination's description, for invoices.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The destination class, such as `mobile` or `premium`.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// The price of one minute, in the customer's currency.
    pub fn price_per_minute(&self) -> Decimal {
        self.price_per_minute
    }

    /// The price charged once per answered call (0 when the column is empty).
    pub fn connect_fee(&self) -> Decimal {
        self.connect_fee
    }

    /// How the call duration is rounded up.
    pub fn increments(&self) -> Increments {
        self.increments
    }

    /// The first Paris calendar date the row is in force (from 00:00 Paris).
    pub fn effective_from(&self) -> NaiveDate {
        self.effective_from
    }

    /// The first Paris calendar date the row is no longer in force, or `None`
    /// when open-ended.
    pub fn effective_to(&self) -> Option<NaiveDate> {
        self.effective_to
    }

    /// True when the row is in force on a Paris calendar date.
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.effective_from <= date && self.effective_to.is_none_or(|to| date < to)
    }

    /// True when the row is in force at an instant (a call's start): periods begin
    /// and end at 00:00 Europe/Paris.
    pub fn in_force_at(&self, instant: DateTime<Utc>) -> bool {
        self.in_force_on(paris_date(instant))
    }
}

/// Billing increments `A/B`: the first `A` seconds are the minimum billed, then
/// the duration is rounded up to steps of `B` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Increments {
    first: u32,
    step: u32,
}

impl Increments {
    /// The minimum billed duration in seconds, at least 1.
    pub fn first_secs(&self) -> u32 {
        self.first
    }

    /// The step the rest of the duration is rounded up to, at least 1.
    pub fn step_secs(&self) -> u32 {
        self.step
    }

    /// The seconds billed for a call lasting `duration_secs`: 0 for 0 (an answered
    /// 0 s call bills the connect fee only), at least the first increment, then
    /// whole steps. With 60/60 a 61 s call bills 120 s; with 1/1, 61 s; with 30/6,
    /// 10 s bills 30 s and 31 s bills 36 s.
    pub fn billed_secs(&self, duration_secs: u64) -> u64 {
        let first = u64::from(self.first);
        let step = u64::from(self.step.max(1));
        if duration_secs == 0 {
            0
        } else if duration_secs <= first {
            first
        } else {
            let steps = (duration_secs - first).div_ceil(step);
            first.saturating_add(steps.saturating_mul(step))
        }
    }
}

impl fmt::Display for Increments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.first, self.step)
    }
}

/// Reads one tariff file. `file` is its path relative to the provisioning
/// directory. Returns the valid rows and an error for every problem.
pub(crate) fn read_tariff_file(
    file: &str,
    bytes: &[u8],
) -> (Vec<TariffRow>, Vec<ProvisioningError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let error = |line: Option<usize>, kind: ErrorKind, field: &str, message: String| {
        ProvisioningError::new(kind, file, line, "", field, message)
    };

    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut records = reader.byte_records();

    let header = match records.next() {
        None => {
            errors.push(error(
                Some(1),
                ErrorKind::MissingField,
                "",
                format!(
                    "the file is empty (expected a header row: {})",
                    TARIFF_COLUMNS.join(",")
                ),
            ));
            return (rows, errors);
        }
        Some(Err(e)) => {
            errors.push(csv_error(file, &e));
            return (rows, errors);
        }
        Some(Ok(header)) => header,
    };
    let Some(columns) = read_header(&header, &mut |kind, field, message| {
        errors.push(error(Some(1), kind, field, message))
    }) else {
        return (rows, errors);
    };

    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                errors.push(csv_error(file, &e));
                // The csv reader cannot resynchronise after an I/O error.
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
                continue;
            }
        };
        let line = record
            .position()
            .and_then(|p| usize::try_from(p.line()).ok())
            .unwrap_or(0);
        let mut report = |field: &str, message: String| {
            errors.push(error(Some(line), ErrorKind::InvalidValue, field, message));
        };
        if record.len() != header.len() {
            report(
                "",
                format!(
                    "the row has {} fields, the header has {}",
                    record.len(),
                    header.len()
                ),
            );
            continue;
        }
        let Ok(fields) = record
            .iter()
            .map(std::str::from_utf8)
            .collect::<Result<Vec<&str>, _>>()
        else {
            report(
                "",
                "the row is not UTF-8 text (save the file as \"CSV UTF-8\")".to_owned(),
            );
            continue;
        };
        let get = |name: &str| columns.get(name).map_or("", |&i| fields[i]);
        if let Some(row) = read_row(file, line, get, &mut report) {
            rows.push(row);
        }
    }
    (rows, errors)
}

/// Maps column names to their index, reporting unknown, duplicate and missing
/// columns. Returns `None` when rows cannot be read (a column is missing).
fn read_header(
    header: &csv::ByteRecord,
    report: &mut dyn FnMut(ErrorKind, &str, String),
) -> Option<HashMap<&'static str, usize>> {
    let mut columns = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(name);
        match TARIFF_COLUMNS.iter().find(|c| **c == name) {
            Some(&column) => {
                if columns.insert(column, i).is_some() {
                    report(
                        ErrorKind::Conflict,
                        "",
                        format!("column {name:?} appears twice in the header"),
                    );
                }
            }
            None if header.len() == 1 && name.contains(';') => {
                report(
                    ErrorKind::Syntax,
                    "",
                    "the header uses \";\" as separator (expected \",\": save as \"CSV UTF-8 (comma delimited)\")".to_owned(),
                );
                return None;
            }
            None => report(
                ErrorKind::UnknownField,
                "",
                format!(
                    "unknown column {name:?} (expected: {})",
                    TARIFF_COLUMNS.join(", ")
                ),
            ),
        }
    }
    let mut complete = true;
    for column in TARIFF_COLUMNS {
        if !columns.contains_key(column) {
            report(
                ErrorKind::MissingField,
                "",
                format!("missing column {column:?} in the header"),
            );
            complete = false;
        }
    }
    complete.then_some(columns)
}

/// Checks one row; `get` gives a column's (trimmed) text.
fn read_row<'r>(
    file: &str,
    line: usize,
    get: impl Fn(&str) -> &'r str,
    report: &mut dyn FnMut(&str, String),
) -> Option<TariffRow> {
    let prefix = get("prefix");
    let prefix_ok = is_e164_prefix(prefix, 15) || is_digits(prefix, 1, 6);
    if !prefix_ok {
        report(
            "prefix",
            format!(
                "{prefix:?} is not a prefix (expected \"+\" and 1 to 15 digits, or 1 to 6 digits for a French short number such as 3949)"
            ),
        );
    }

    let label = get("label");
    if label.is_empty() {
        report(
            "label",
            "is empty (expected the destination's description)".to_owned(),
        );
    }

    let class = get("class");
    let class_ok = !class.is_empty()
        && class
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !class_ok {
        report(
            "class",
            format!(
                "{class:?} is not a class (expected lowercase letters, digits and '_', e.g. fixed, mobile, premium)"
            ),
        );
    }

    let price = parse_amount(get("price_per_minute"))
        .map_err(|message| report("price_per_minute", message))
        .ok();
    let connect_fee = match get("connect_fee") {
        "" => Some(Decimal::ZERO),
        text => parse_amount(text)
            .map_err(|message| report("connect_fee", message))
            .ok(),
    };
    let increments = parse_increments(get("increments"))
        .map_err(|message| report("increments", message))
        .ok();

    let from_text = get("effective_from");
    let from = parse_date(from_text);
    if from.is_none() {
        report(
            "effective_from",
            format!("{from_text:?} is not a date (expected YYYY-MM-DD)"),
        );
    }
    let to = match get("effective_to") {
        "" => Some(None),
        text => match (parse_date(text), from) {
            (None, _) => {
                report(
                    "effective_to",
                    format!(
                        "{text:?} is not a date (expected YYYY-MM-DD, or empty for open-ended)"
                    ),
                );
                None
            }
            (Some(to), Some(from)) if to <= from => {
                report(
                    "effective_to",
                    format!("{to} is not after effective_from {from} (effective_to is exclusive)"),
                );
                None
            }
            (Some(to), _) => Some(Some(to)),
        },
    };

    if !(prefix_ok && !label.is_empty() && class_ok) {
        return None;
    }
    Some(TariffRow {
        file: file.to_owned(),
        line,
        prefix: prefix.to_owned(),
        label: label.to_owned(),
        class: class.to_owned(),
        price_per_minute: price?,
        connect_fee: connect_fee?,
        increments: increments?,
        effective_from: from?,
        effective_to: to?,
    })
}

/// Parses a price: digits with an optional dot and decimals, 0 or more, at most
/// [`MAX_PRICE_DECIMALS`] decimal places. The error is the message to report.
fn parse_amount(text: &str) -> Result<Decimal, String> {
    fn well_formed(text: &str) -> bool {
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match unsigned.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (unsigned, None),
        };
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    }
    if text.is_empty() {
        return Err("is empty (expected a decimal such as 0.012)".to_owned());
    }
    if !well_formed(text) {
        let with_dot = text.replacen(',', ".", 1);
        return Err(if text.contains(',') && well_formed(&with_dot) {
            format!("{text:?} is not a decimal (use a dot: {with_dot})")
        } else {
            format!("{text:?} is not a decimal (expected e.g. 0.012)")
        });
    }
    let amount = Decimal::from_str_exact(text)
        .map_err(|_| format!("{text:?} is out of range"))?
        .normalize();
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(format!("{text:?} is negative (expected 0 or more)"));
    }
    if amount.scale() > MAX_PRICE_DECIMALS {
        return Err(format!(
            "{text:?} has more than {MAX_PRICE_DECIMALS} decimal places"
        ));
    }
    Ok(amount.abs())
}

/// Parses `A/B` increments. The error is the message to report.
fn parse_increments(text: &str) -> Result<Increments, String> {
    let expected = "expected A/B seconds with A and B at least 1, e.g. 60/60, 30/6 or 1/1";
    let parse = |s: &str| {
        if is_digits(s, 1, 9) {
            s.parse::<u32>().ok()
        } else {
            None
        }
    };
    let Some((first, step)) = text.split_once('/') else {
        return Err(format!("{text:?} is not increments ({expected})"));
    };
    match (parse(first.trim()), parse(step.trim())) {
        (Some(first), Some(step)) if first >= 1 && step >= 1 => Ok(Increments { first, step }),
        (Some(_), Some(_)) => Err(format!("{text:?} has a zero increment ({expected})")),
        _ => Err(format!("{text:?} is not increments ({expected})")),
    }
}

/// A CSV syntax error with its line.
fn csv_error(file: &str, error: &csv::Error) -> ProvisioningError {
    let line = error
        .position()
        .and_then(|p| usize::try_from(p.line()).ok());
    let message = match error.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "the row is not UTF-8 text (save the file as \"CSV UTF-8\")".to_owned()
        }
        _ => format!("invalid CSV: {error}"),
    };
    ProvisioningError::new(ErrorKind::Syntax, file, line, "", "", message)
}

/// Reports rows of the same prefix whose periods overlap, in any files. The error
/// goes on the row that starts later and names the other row's file and line.
pub(crate) fn check_overlaps(rows: &[TariffRow]) -> Vec<ProvisioningError> {
    let mut by_prefix: HashMap<&str, Vec<&TariffRow>> = HashMap::new();
    for row in rows {
        by_prefix.entry(&row.prefix).or_default().push(row);
    }
    let mut errors = Vec::new();
    for group in by_prefix.values_mut() {
        group.sort_by(|a, b| {
            (a.effective_from, &a.file, a.line).cmp(&(b.effective_from, &b.file, b.line))
        });
        // The row reaching furthest so far; None as an end means open-ended.
        let mut furthest: Option<&TariffRow> = None;
        for &row in group.iter() {
            if let Some(previous) = furthest {
                if previous
                    .effective_to
                    .is_none_or(|to| row.effective_from < to)
                {
                    errors.push(ProvisioningError::new(
                        ErrorKind::Conflict,
                        &row.file,
                        Some(row.line),
                        "",
                        "effective_from",
                        format!(
                            "prefix {:?} ({}) overlaps {}:{} ({}); rows of one prefix must not be in force at the same time",
                            row.prefix,
                            period(row),
                            previous.file,
                            previous.line,
                            period(previous)
                        ),
                    ));
                }
                let reaches_further = match (previous.effective_to, row.effective_to) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(a), Some(b)) => b > a,
                };
                if reaches_further {
                    furthest = Some(row);
                }
            } else {
                furthest = Some(row);
            }
        }
    }
    errors
}

/// `from 2026-01-01 to 2026-10-15` or `from 2026-01-01, open-ended`.
fn period(row: &TariffRow) -> String {
    match row.effective_to {
        Some(to) => format!("from {} to {to}", row.effective_from),
        None => format!("from {}, open-ended", row.effective_from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "prefix,label,class,price_per_minute,connect_fee,increments,effective_from,effective_to\n";

    fn read(body: &str) -> (Vec<TariffRow>, Vec<String>) {
        let (rows, errors) = read_tariff_file("tariffs/t.csv", body.as_bytes());
        (rows, errors.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn reads_valid_rows_in_any_column_order() {
        let (rows, errors) = read(
            "\u{feff}label,prefix,class,price_per_minute,connect_fee,increments,effective_from,effective_to\n\
             France fixe,+331,fixed,0.0120,,60/60,2024-01-01,\n\
             \"Royaume-Uni, fixe\", +44 ,international,0.025,0.05,30/6,2024-01-01,2026-10-15\n\
             Pôle emploi,3949,short,0.15,0,1/1,2024-01-01,\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows.len(), 3);
        let fixed = &rows[0];
        assert_eq!((fixed.prefix(), fixed.line()), ("+331", 2));
        assert_eq!(fixed.price_per_minute().to_string(), "0.012");
        assert_eq!(fixed.connect_fee(), Decimal::ZERO);
        assert_eq!(fixed.effective_to(), None);
        let uk = &rows[1];
        assert_eq!((uk.prefix(), uk.label()), ("+44", "Royaume-Uni, fixe"));
        assert_eq!(uk.increments().to_string(), "30/6");
        assert_eq!(uk.effective_to(), NaiveDate::from_ymd_opt(2026, 10, 15));
        assert!(rows[2].is_short_number());
        assert!(!uk.is_short_number());
    }

    #[test]
    fn reports_each_bad_field_and_keeps_checking_other_rows() {
        let (rows, errors) = read(&format!(
            "{HEADER}\
             +33 1,,Fixed,\"0,12\",-1,60/0,2026-13-01,\n\
             +336,Mobiles,mobile,0.1234567,0.1.2,60,2026-01-01,2025-01-01\n\
             +337,Mobiles,mobile,0.02,,60/60,2026-01-01,\n"
        ));
        assert_eq!(rows.len(), 1);
        assert_eq!(
            errors,
            [
                "tariffs/t.csv:2: prefix: \"+33 1\" is not a prefix (expected \"+\" and 1 to 15 digits, or 1 to 6 digits for a French short number such as 3949)",
                "tariffs/t.csv:2: label: is empty (expected the destination's description)",
                "tariffs/t.csv:2: class: \"Fixed\" is not a class (expected lowercase letters, digits and '_', e.g. fixed, mobile, premium)",
                "tariffs/t.csv:2: price_per_minute: \"0,12\" is not a decimal (use a dot: 0.12)",
                "tariffs/t.csv:2: connect_fee: \"-1\" is negative (expected 0 or more)",
                "tariffs/t.csv:2: increments: \"60/0\" has a zero increment (expected A/B seconds with A and B at least 1, e.g. 60/60, 30/6 or 1/1)",
                "tariffs/t.csv:2: effective_from: \"2026-13-01\" is not a date (expected YYYY-MM-DD)",
                "tariffs/t.csv:3: price_per_minute: \"0.1234567\" has more than 6 decimal places",
                "tariffs/t.csv:3: connect_fee: \"0.1.2\" is not a decimal (expected e.g. 0.012)",
                "tariffs/t.csv:3: increments: \"60\" is not increments (expected A/B seconds with A and B at least 1, e.g. 60/60, 30/6 or 1/1)",
                "tariffs/t.csv:3: effective_to: 2025-01-01 is not after effective_from 2026-01-01 (effective_to is exclusive)",
            ]
        );
    }

    #[test]
    fn header_problems_are_reported() {
        let (rows, errors) = read("prefix,label,clas,price_per_minute,increments,effective_from,effective_to,prefix\n+33,x,y,1,60/60,2024-01-01,,+33\n");
        assert!(rows.is_empty());
        assert_eq!(
            errors,
            [
                "tariffs/t.csv:1: unknown column \"clas\" (expected: prefix, label, class, price_per_minute, connect_fee, increments, effective_from, effective_to)",
                "tariffs/t.csv:1: column \"prefix\" appears twice in the header",
                "tariffs/t.csv:1: missing column \"class\" in the header",
                "tariffs/t.csv:1: missing column \"connect_fee\" in the header",
            ]
        );
        let (_, errors) = read("prefix;label;class\n");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("uses \";\" as separator"));
        let (_, errors) = read("");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("tariffs/t.csv:1: the file is empty"));
    }

    #[test]
    fn ragged_and_non_utf8_rows_are_reported() {
        let mut body = format!("{HEADER}+33,x,fixed,0.01\n").into_bytes();
        body.extend_from_slice(b"+34,Espagne \xE9,international,0.01,,60/60,2024-01-01,\n");
        body.extend_from_slice(b"+35,ok,international,0.01,,60/60,2024-01-01,\n");
        let (rows, errors) = read_tariff_file("tariffs/t.csv", &body);
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(rows.len(), 1, "{errors:?}");
        assert_eq!(
            errors,
            [
                "tariffs/t.csv:2: the row has 4 fields, the header has 8",
                "tariffs/t.csv:3: the row is not UTF-8 text (save the file as \"CSV UTF-8\")",
            ]
        );
    }

    #[test]
    fn increments_round_durations_up() {
        let inc = |s| parse_increments(s).unwrap();
        assert_eq!(inc("60/60").billed_secs(0), 0);
        assert_eq!(inc("60/60").billed_secs(1), 60);
        assert_eq!(inc("60/60").billed_secs(60), 60);
        assert_eq!(inc("60/60").billed_secs(61), 120);
        assert_eq!(inc("1/1").billed_secs(61), 61);
        assert_eq!(inc("30/6").billed_secs(10), 30);
        assert_eq!(inc("30/6").billed_secs(31), 36);
        assert_eq!(inc("30/6").billed_secs(u64::MAX), u64::MAX);
        assert!(parse_increments("0/60").is_err());
        assert!(parse_increments("a/b").is_err());
        assert!(parse_increments("60/-6").is_err());
    }

    #[test]
    fn amounts() {
        assert_eq!(parse_amount("0").unwrap(), Decimal::ZERO);
        assert_eq!(parse_amount("-0").unwrap(), Decimal::ZERO);
        assert_eq!(parse_amount("0.120000").unwrap().to_string(), "0.12");
        assert_eq!(parse_amount("1.000001").unwrap().to_string(), "1.000001");
        for bad in [
            "",
            ".5",
            "5.",
            "1e3",
            "1_000",
            "+1",
            " 1",
            "0x10",
            "99999999999999999999999999999999",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overlapping_periods_of_a_prefix_are_reported_once_per_row() {
        let (rows, errors) = read(&format!(
            "{HEADER}\
             +44,UK,international,0.03,,60/60,2024-01-01,2026-10-15\n\
             +44,UK,international,0.025,,60/60,2026-10-15,\n\
             +44,UK,international,0.02,,60/60,2026-10-01,2026-10-10\n\
             +41,CH,international,0.03,,60/60,2024-01-01,\n"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let errors: Vec<String> = check_overlaps(&rows)
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errors,
            ["tariffs/t.csv:4: effective_from: prefix \"+44\" (from 2026-10-01 to 2026-10-10) overlaps tariffs/t.csv:2 (from 2024-01-01 to 2026-10-15); rows of one prefix must not be in force at the same time"]
        );
    }

    #[test]
    fn a_price_change_is_in_force_from_its_date() {
        let (rows, _) = read(&format!(
            "{HEADER}\
             +44,UK,international,0.03,,60/60,2024-01-01,2026-10-15\n\
             +44,UK,international,0.025,,60/60,2026-10-15,\n"
        ));
        assert!(check_overlaps(&rows).is_empty());
        let day = |d| NaiveDate::from_ymd_opt(2026, 10, d).unwrap();
        assert!(rows[0].in_force_on(day(14)) && !rows[1].in_force_on(day(14)));
        assert!(!rows[0].in_force_on(day(15)) && rows[1].in_force_on(day(15)));
        // 00:00 Paris on 15 October 2026 is 22:00 UTC on the 14th.
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 10, 14, 22, 0, 0).unwrap();
        assert!(rows[1].in_force_at(t));
        assert!(rows[0].in_force_at(t - chrono::Duration::seconds(1)));
    }
}
