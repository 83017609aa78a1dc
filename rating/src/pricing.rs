//! Per-minute pricing of a call from the provisioning tariffs.
//!
//! Rules (contract.md §3, "Details settled for the rating engine"):
//! - the rows in force at the call's start (its INVITE; `effective_from` inclusive,
//!   `effective_to` exclusive, Paris calendar dates), then the longest prefix of the
//!   normalised destination (E.164 prefixes for `+` numbers, digit prefixes for
//!   French short codes);
//! - the duration is the answered time in whole seconds (rounding is a setting),
//!   rounded up by the row's increments: the first increment is the minimum billed
//!   (60/60: 61 s bills 120 s; 1/1: 61 s); an answered 0 s call bills the connect
//!   fee only;
//! - amount = connect fee + price per minute × billed seconds / 60, rounded half-up
//!   to the per-call decimals (6 by default);
//! - no row: the call is *unmatched* and listed, never priced at zero silently.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use provisioning::TariffRow;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::settings::MoneySettings;

/// The tariff row a call was priced with, as rated calls name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffRef {
    /// The row's prefix.
    pub prefix: String,
    /// The destination label.
    pub label: String,
    /// The destination class (invoice grouping).
    pub class: String,
    /// `tariffs/x.csv:line`.
    pub source: String,
}

impl TariffRef {
    /// The reference of a row.
    pub fn of(row: &TariffRow) -> Self {
        TariffRef {
            prefix: row.prefix().to_owned(),
            label: row.label().to_owned(),
            class: row.class().to_owned(),
            source: format!("{}:{}", row.file(), row.line()),
        }
    }
}

/// The tariff rows indexed by prefix, each with its [`TariffRef`] built once
/// (the calls priced with a row share it).
#[derive(Debug)]
pub struct TariffIndex<'t> {
    by_prefix: HashMap<&'t str, Vec<(&'t TariffRow, Arc<TariffRef>)>>,
    longest: usize,
}

/// A priced call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price<'t> {
    /// The tariff row used.
    pub row: &'t TariffRow,
    /// Its reference.
    pub reference: Arc<TariffRef>,
    /// Seconds billed after increments.
    pub billed_secs: u64,
    /// The amount, at the per-call decimals.
    pub amount: Decimal,
}

impl<'t> TariffIndex<'t> {
    /// Indexes rows (from [`provisioning::Provisioning::tariffs`]).
    pub fn new(rows: &'t [TariffRow]) -> Self {
        let mut by_prefix: HashMap<&str, Vec<(&TariffRow, Arc<TariffRef>)>> = HashMap::new();
        let mut longest = 0;
        for row in rows {
            longest = longest.max(row.prefix().len());
            by_prefix
                .entry(row.prefix())
                .or_default()
                .push((row, Arc::new(TariffRef::of(row))));
        }
        TariffIndex { by_prefix, longest }
    }

    /// The row for a normalised destination on a Paris date: among the rows in
    /// force that day, the longest prefix of `number`.
    pub fn find(&self, number: &str, date: NaiveDate) -> Option<&'t TariffRow> {
        self.find_with_ref(number, date).map(|(row, _)| *row)
    }

    fn find_with_ref(
        &self,
        number: &str,
        date: NaiveDate,
    ) -> Option<&(&'t TariffRow, Arc<TariffRef>)> {
        let max = number.len().min(self.longest);
        (1..=max).rev().find_map(|len| {
            let prefix = number.get(..len)?;
            self.by_prefix
                .get(prefix)?
                .iter()
                .find(|(row, _)| row.in_force_on(date))
        })
    }

    /// Prices an answered call to `number` that started on the Paris date `date`
    /// and lasted `billable_ms`; `None` when no row matches.
    pub fn price(
        &self,
        number: &str,
        date: NaiveDate,
        billable_ms: u64,
        money: &MoneySettings,
    ) -> Option<Price<'t>> {
        let (row, reference) = self.find_with_ref(number, date)?;
        Some(price_with(row, Arc::clone(reference), billable_ms, money))
    }
}

/// Prices a call of `billable_ms` with one tariff row.
pub fn price_with<'t>(
    row: &'t TariffRow,
    reference: Arc<TariffRef>,
    billable_ms: u64,
    money: &MoneySettings,
) -> Price<'t> {
    let secs = money.duration_rounding.seconds(billable_ms);
    let billed_secs = row.increments().billed_secs(secs);
    let amount =
        row.connect_fee() + row.price_per_minute() * Decimal::from(billed_secs) / Decimal::from(60);
    Price {
        row,
        reference,
        billed_secs,
        amount: amount
            .round_dp_with_strategy(money.call_decimals, RoundingStrategy::MidpointAwayFromZero),
    }
}

/// Rounds an invoice line half-up to the line decimals.
pub fn round_line(amount: Decimal, money: &MoneySettings) -> Decimal {
    let rounded =
        amount.round_dp_with_strategy(money.line_decimals, RoundingStrategy::MidpointAwayFromZero);
    // Keep the scale so that 12 prints as 12.00.
    let mut fixed = rounded;
    fixed.rescale(money.line_decimals);
    fixed
}

/// Rounds a per-call amount half-up to the call decimals, keeping that scale.
pub fn round_call(amount: Decimal, money: &MoneySettings) -> Decimal {
    let mut fixed =
        amount.round_dp_with_strategy(money.call_decimals, RoundingStrategy::MidpointAwayFromZero);
    fixed.rescale(money.call_decimals);
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::DurationRounding;
    use std::path::Path;

    fn money() -> MoneySettings {
        MoneySettings {
            call_decimals: 6,
            line_decimals: 2,
            duration_rounding: DurationRounding::Up,
        }
    }

    fn sample() -> provisioning::Provisioning {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
        provisioning::Provisioning::load(&dir).unwrap()
    }

    fn date(d: &str) -> NaiveDate {
        d.parse().unwrap()
    }

    #[test]
    fn longest_prefix_among_rows_in_force() {
        let p = sample();
        let index = TariffIndex::new(p.tariffs());
        let day = date("2026-10-10");
        assert_eq!(index.find("+33612345678", day).unwrap().prefix(), "+336");
        assert_eq!(
            index.find("+33700123456789", day).unwrap().prefix(),
            "+33700"
        );
        assert_eq!(
            index.find("+262692123456", day).unwrap().prefix(),
            "+262692"
        );
        assert_eq!(index.find("+262262123456", day).unwrap().prefix(), "+262");
        assert_eq!(index.find("118712", day).unwrap().prefix(), "118");
        assert_eq!(index.find("3949", day).unwrap().prefix(), "3949");
        // No row for Japan: unmatched, never zero.
        assert_eq!(index.find("+81312345678", day), None);
        // A short-code prefix never matches an E.164 number and vice versa.
        assert_eq!(index.find("+3949", day), None);
    }

    #[test]
    fn the_tariff_in_force_at_the_call_start_applies() {
        let p = sample();
        let index = TariffIndex::new(p.tariffs());
        let before = index.find("+442012345678", date("2026-10-14")).unwrap();
        let after = index.find("+442012345678", date("2026-10-15")).unwrap();
        assert_eq!(before.price_per_minute(), "0.03".parse().unwrap());
        assert_eq!(after.price_per_minute(), "0.025".parse().unwrap());
    }

    #[test]
    fn increments_60_60_and_1_1_on_the_same_61_second_call() {
        let p = sample();
        let index = TariffIndex::new(p.tariffs());
        let day = date("2026-10-10");
        // 61 s to a mobile at 0.025/min, 60/60: 120 s billed, 0.05.
        let mobile = index.price("+33612345678", day, 61_000, &money()).unwrap();
        assert_eq!(mobile.billed_secs, 120);
        assert_eq!(mobile.amount, "0.05".parse().unwrap());
        // 61 s to 089 at 0.80/min + 0.15, 1/1: 61 s billed, 0.15 + 0.80 × 61/60
        // = 0.15 + 0.813333… = 0.963333 (6 decimals, half-up).
        let premium = index.price("+33890123456", day, 61_000, &money()).unwrap();
        assert_eq!(premium.billed_secs, 61);
        assert_eq!(premium.amount, "0.963333".parse().unwrap());
    }

    #[test]
    fn zero_seconds_bill_the_connect_fee_only_and_ms_round_up() {
        let p = sample();
        let index = TariffIndex::new(p.tariffs());
        let day = date("2026-10-10");
        let zero = index.price("118712", day, 0, &money()).unwrap();
        assert_eq!((zero.billed_secs, zero.amount), (0, "1.5".parse().unwrap()));
        // 60.001 s is 61 s when rounding up, 60 s when rounding down.
        let up = index.price("+33612345678", day, 60_001, &money()).unwrap();
        assert_eq!(up.billed_secs, 120);
        let mut down = money();
        down.duration_rounding = DurationRounding::Down;
        let down = index.price("+33612345678", day, 60_999, &down).unwrap();
        assert_eq!(down.billed_secs, 60);
    }

    #[test]
    fn half_up_rounding_at_the_line() {
        let m = money();
        assert_eq!(round_line("0.125".parse().unwrap(), &m).to_string(), "0.13");
        assert_eq!(
            round_line("0.124999".parse().unwrap(), &m).to_string(),
            "0.12"
        );
        assert_eq!(round_line("12".parse().unwrap(), &m).to_string(), "12.00");
        assert_eq!(
            round_line("-0.125".parse().unwrap(), &m).to_string(),
            "-0.13"
        );
        assert_eq!(
            round_call("0.0000005".parse().unwrap(), &m).to_string(),
            "0.000001"
        );
    }
}
