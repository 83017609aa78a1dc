//! Yearly price revision with the Syntec index (contract.md §6).
//!
//! P(N) = P(N−1) × I(N) / I(N−1), revised prices keeping the per-call decimals
//! (6 by default, half-up). The revision date is a setting: each anniversary of the
//! customer's contract start (default) or each 1 January after it. I(N) is the
//! latest index published strictly before the revision date; I(N−1) the one used at
//! the previous revision, and for the first revision the latest published before
//! the contract start (the price list's base). A revision falls at 00:00 Paris time
//! on its date, so a month holding one is billed at two prices, prorated by days.
//!
//! The indices are a CSV file in the provisioning directory (`rating/syntec.csv`
//! by default, setting `syntec.indices_file`):
//!
//! ```text
//! published,index
//! 2025-09-01,287.4
//! 2025-10-01,288.0
//! ```

use std::path::Path;

use chrono::{Datelike, Months, NaiveDate};
use provisioning::{ErrorKind, ProvisioningError};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::settings::{parse_date, parse_decimal, RevisionDate, SyntecSettings};

/// Published Syntec index values, by publication date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyntecIndices {
    values: Vec<(NaiveDate, Decimal)>,
    file: String,
}

/// One revision of a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The revision date (00:00 Paris).
    pub date: NaiveDate,
    /// I(N−1) and its publication date.
    pub previous_index: (NaiveDate, Decimal),
    /// I(N) and its publication date.
    pub index: (NaiveDate, Decimal),
    /// P(N), the price from that date.
    pub price: Decimal,
}

/// A base price and its revisions up to a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceHistory {
    /// The base price (at the contract start).
    pub base: Decimal,
    /// The revisions, in date order.
    pub revisions: Vec<Revision>,
}

impl PriceHistory {
    /// The price in force on a date.
    pub fn price_on(&self, date: NaiveDate) -> Decimal {
        self.revisions
            .iter()
            .rev()
            .find(|r| r.date <= date)
            .map_or(self.base, |r| r.price)
    }
}

impl SyntecIndices {
    /// Indices from values (tests).
    pub fn from_values(values: &[(&str, &str)]) -> Self {
        let mut values: Vec<(NaiveDate, Decimal)> = values
            .iter()
            .filter_map(|(d, v)| Some((parse_date(d)?, parse_decimal(v)?)))
            .collect();
        values.sort();
        SyntecIndices {
            values,
            file: "syntec".to_owned(),
        }
    }

    /// Loads the index file; an absent file holds no index (a revision then fails
    /// with an error naming it).
    ///
    /// # Errors
    /// Every bad row, in the provisioning error format.
    pub fn load(dir: &Path, settings: &SyntecSettings) -> Result<Self, Vec<ProvisioningError>> {
        let file = settings.indices_file.as_str();
        let bytes = match std::fs::read(dir.join(file)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SyntecIndices {
                    values: Vec::new(),
                    file: file.to_owned(),
                })
            }
            Err(e) => {
                return Err(vec![ProvisioningError::new(
                    ErrorKind::Io,
                    file,
                    None,
                    "",
                    "",
                    format!("cannot read the file: {e}"),
                )])
            }
        };
        let mut errors = Vec::new();
        let mut values: Vec<(NaiveDate, Decimal, usize)> = Vec::new();
        for row in crate::inputs::read_csv(file, &bytes, &["published", "index"], &mut errors) {
            let bad = |field: &str, message: String| {
                ProvisioningError::new(
                    ErrorKind::InvalidValue,
                    file,
                    Some(row.line),
                    "",
                    field,
                    message,
                )
            };
            let date = parse_date(row.get("published"));
            let value = parse_decimal(row.get("index")).filter(|v| *v > Decimal::ZERO);
            match (date, value) {
                (Some(date), Some(value)) => {
                    if let Some((_, _, line)) = values.iter().find(|(d, _, _)| *d == date) {
                        errors.push(ProvisioningError::new(
                            ErrorKind::Conflict,
                            file,
                            Some(row.line),
                            "",
                            "published",
                            format!("{date} already has an index on line {line}"),
                        ));
                    } else {
                        values.push((date, value, row.line));
                    }
                }
                (None, _) => errors.push(bad(
                    "published",
                    format!(
                        "{:?} is not a date (expected YYYY-MM-DD)",
                        row.get("published")
                    ),
                )),
                (_, None) => errors.push(bad(
                    "index",
                    format!(
                        "{:?} is not a positive decimal (use a dot: 287.4)",
                        row.get("index")
                    ),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        values.sort();
        Ok(SyntecIndices {
            values: values.into_iter().map(|(d, v, _)| (d, v)).collect(),
            file: file.to_owned(),
        })
    }

    /// The latest index published strictly before `date`.
    pub fn before(&self, date: NaiveDate) -> Option<(NaiveDate, Decimal)> {
        let i = self.values.partition_point(|(d, _)| *d < date);
        i.checked_sub(1).map(|i| self.values[i])
    }

    /// The revisions of `base` (the price at `contract_start`) up to and including
    /// `until`, prices rounded half-up to `decimals`.
    ///
    /// # Errors
    /// When an index needed for a revision is missing: the message names the date
    /// and the file.
    pub fn history(
        &self,
        base: Decimal,
        contract_start: NaiveDate,
        until: NaiveDate,
        revision_date: RevisionDate,
        decimals: u32,
    ) -> Result<PriceHistory, String> {
        let mut history = PriceHistory {
            base,
            revisions: Vec::new(),
        };
        let dates = revision_dates(contract_start, until, revision_date);
        if dates.is_empty() {
            return Ok(history);
        }
        let missing = |date: NaiveDate| {
            format!(
                "no Syntec index published before {date} in {} (needed to revise prices)",
                self.file
            )
        };
        let mut previous = self
            .before(contract_start)
            .ok_or_else(|| missing(contract_start))?;
        let mut price = base;
        for date in dates {
            let index = self.before(date).ok_or_else(|| missing(date))?;
            price = (price * index.1 / previous.1)
                .round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero);
            history.revisions.push(Revision {
                date,
                previous_index: previous,
                index,
                price,
            });
            previous = index;
        }
        Ok(history)
    }
}

/// The revision dates after `contract_start` up to and including `until`.
pub fn revision_dates(
    contract_start: NaiveDate,
    until: NaiveDate,
    revision_date: RevisionDate,
) -> Vec<NaiveDate> {
    let mut dates = Vec::new();
    for year in 1..=200u32 {
        let date = match revision_date {
            // A 29 February start revises on 28 February in other years.
            RevisionDate::Anniversary => contract_start.checked_add_months(Months::new(12 * year)),
            RevisionDate::JanuaryFirst => {
                NaiveDate::from_ymd_opt(contract_start.year() + year as i32, 1, 1)
            }
        };
        match date {
            Some(d) if d <= until => dates.push(d),
            _ => break,
        }
    }
    dates
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn indices() -> SyntecIndices {
        SyntecIndices::from_values(&[
            ("2024-03-01", "280.0"),
            ("2025-03-01", "287.0"),
            ("2026-03-01", "294.0"),
            ("2026-04-01", "300.0"),
        ])
    }

    #[test]
    fn revises_on_each_anniversary_with_the_latest_index_before_it() {
        let h = indices()
            .history(
                dec("10"),
                d("2024-04-01"),
                d("2026-10-31"),
                RevisionDate::Anniversary,
                6,
            )
            .unwrap();
        // 2025-04-01: 10 × 287/280 = 10.25; 2026-04-01: the index published on
        // 2026-04-01 is not before the date, so I = 294: 10.25 × 294/287 = 10.5.
        assert_eq!(h.revisions.len(), 2);
        assert_eq!(h.revisions[0].price, dec("10.25"));
        assert_eq!(h.revisions[1].index, (d("2026-03-01"), dec("294.0")));
        assert_eq!(h.revisions[1].price, dec("10.5"));
        assert_eq!(h.price_on(d("2025-03-31")), dec("10"));
        assert_eq!(h.price_on(d("2025-04-01")), dec("10.25"));
        assert_eq!(h.price_on(d("2026-10-01")), dec("10.5"));
    }

    #[test]
    fn prices_keep_six_decimals_half_up() {
        let ix = SyntecIndices::from_values(&[("2024-01-01", "3"), ("2025-01-01", "7")]);
        let h = ix
            .history(
                dec("1"),
                d("2024-06-01"),
                d("2025-06-01"),
                RevisionDate::Anniversary,
                6,
            )
            .unwrap();
        // 1 × 7/3 = 2.3333333… → 2.333333
        assert_eq!(h.revisions[0].price, dec("2.333333"));
    }

    #[test]
    fn january_first_is_a_setting() {
        let dates = revision_dates(d("2024-06-15"), d("2026-10-31"), RevisionDate::JanuaryFirst);
        assert_eq!(dates, [d("2025-01-01"), d("2026-01-01")]);
        let dates = revision_dates(d("2024-02-29"), d("2026-10-31"), RevisionDate::Anniversary);
        assert_eq!(dates, [d("2025-02-28"), d("2026-02-28")]);
    }

    #[test]
    fn a_missing_index_is_an_error_naming_the_date() {
        let ix = SyntecIndices::from_values(&[("2025-01-01", "7")]);
        let e = ix
            .history(
                dec("1"),
                d("2024-06-01"),
                d("2025-06-01"),
                RevisionDate::Anniversary,
                6,
            )
            .unwrap_err();
        assert!(
            e.contains("no Syntec index published before 2024-06-01"),
            "{e}"
        );
        // No revision due yet: no index needed.
        let h = ix
            .history(
                dec("1"),
                d("2024-06-01"),
                d("2025-05-31"),
                RevisionDate::Anniversary,
                6,
            )
            .unwrap();
        assert!(h.revisions.is_empty());
    }
}
