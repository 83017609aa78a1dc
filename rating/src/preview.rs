//! `rating preview`: month-to-date counters projected to the month's end, so the
//! billing team can warn a customer before a breach.
//!
//! The month is rated up to the preview instant without writing anything; each
//! measured counter (distinct numbers, eligible hours, forwarded hours per user) is
//! projected linearly to the end of the month (value × month length / elapsed
//! time) and compared with its threshold. Trunks whose projection reaches the
//! warning share (`fair_use.preview_warning_percent`, 80 % by default) of a
//! threshold are listed, highest share first.

use std::path::Path;

use cdr::ClickhouseConfig;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::engine::hours;
use crate::month::BillingMonth;
use crate::run::{rate_month, Inputs, RunError};

/// One counter close to (or above) its threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The customer.
    pub customer_id: String,
    /// The trunk.
    pub trunk_id: String,
    /// `distinct_numbers`, `eligible_hours` or `forwarding`.
    pub rule: &'static str,
    /// The forwarding user, for forwarding.
    pub subject: String,
    /// Month to date.
    pub measured: Decimal,
    /// Projected to the month's end.
    pub projected: Decimal,
    /// The month's threshold.
    pub threshold: Decimal,
    /// Projected / threshold, in percent (2 decimals).
    pub percent: Decimal,
}

/// The preview of a month at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The month.
    pub month: BillingMonth,
    /// The instant.
    pub as_of: DateTime<Utc>,
    /// Share of the month elapsed, 0 to 1.
    pub elapsed: Decimal,
    /// Trunks above the warning share, highest first.
    pub warnings: Vec<Warning>,
    /// Trunks rated.
    pub trunks: usize,
}

/// Computes the preview.
///
/// # Errors
/// See [`RunError`].
pub async fn preview(
    inputs: &Inputs,
    month: BillingMonth,
    as_of: DateTime<Utc>,
    config: &ClickhouseConfig,
    spill_dir: Option<&Path>,
) -> Result<Preview, RunError> {
    let as_of_ms = u64::try_from(as_of.timestamp_millis())
        .unwrap_or(0)
        .clamp(month.start_ms(), month.end_ms());
    let rating = rate_month(
        inputs,
        month,
        config,
        None,
        "preview",
        spill_dir,
        Some(as_of_ms),
    )
    .await?;
    let elapsed_ms = (as_of_ms - month.start_ms()).max(1);
    let total_ms = (month.end_ms() - month.start_ms()).max(1);
    let factor = Decimal::from(total_ms) / Decimal::from(elapsed_ms);
    let warn = inputs.settings.preview_warning_percent;
    let mut warnings = Vec::new();
    for o in &rating.outcomes {
        let c = &o.counters;
        let mut check =
            |rule: &'static str, subject: &str, measured: Decimal, threshold: Decimal| {
                let projected = (measured * factor).round_dp(2);
                let percent = if threshold.is_zero() {
                    if measured.is_zero() {
                        Decimal::ZERO
                    } else {
                        Decimal::from(100_000)
                    }
                } else {
                    (projected * Decimal::from(100) / threshold).round_dp(2)
                };
                if percent >= warn {
                    warnings.push(Warning {
                        customer_id: o.customer_id.clone(),
                        trunk_id: o.trunk_id.clone(),
                        rule,
                        subject: subject.to_owned(),
                        measured: measured.normalize(),
                        projected: projected.normalize(),
                        threshold: threshold.normalize(),
                        percent,
                    });
                }
            };
        if c.counted_calls == 0 {
            continue;
        }
        check(
            "distinct_numbers",
            "",
            Decimal::from(c.distinct_numbers),
            Decimal::from(c.distinct_allowance),
        );
        check(
            "eligible_hours",
            "",
            hours(c.eligible_ms),
            hours(c.eligible_threshold_ms),
        );
        for (user, ms) in &c.forwarding_ms {
            check(
                "forwarding",
                user,
                hours(*ms),
                hours(c.forwarding_threshold_ms),
            );
        }
    }
    warnings.sort_by(|a, b| b.percent.cmp(&a.percent).then(a.trunk_id.cmp(&b.trunk_id)));
    Ok(Preview {
        month,
        as_of,
        elapsed: (Decimal::from(elapsed_ms) / Decimal::from(total_ms)).round_dp(4),
        warnings,
        trunks: rating.outcomes.len(),
    })
}
