//! Invoice lines per customer and month.
//!
//! For each of the customer's trunks, in trunk id order:
//! 1. **subscription**: one line per period of constant channel count and price —
//!    channels × monthly channel price × days / days in the month (Paris days, a
//!    change taking effect at 00:00 Paris on its date), the price Syntec-revised
//!    ([`crate::syntec`]);
//! 2. **out_of_plan**: calls the plan does not cover, one line per tariff class;
//! 3. **repriced**: calls the plan would cover, billed per minute, one line per
//!    rule (telecom professional, suspension, distinct numbers, eligible hours,
//!    forwarding, shared service);
//! 4. **sla_credit**: a negative line, the credit percentage of the trunk's
//!    subscription lines for the month ([`crate::sla`]).
//!
//! Every line is rounded half-up to the line decimals (cents by default) from the
//! exact sum of its calls (each at 6 decimals); the invoice total is the sum of its
//! lines, so the lines always add up.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use provisioning::{Customer, Trunk};
use rust_decimal::Decimal;

use crate::engine::{TrunkOutcome, UsageKey, UsageSum};
use crate::month::BillingMonth;
use crate::pricing::round_line;
use crate::settings::{MoneySettings, RatingSettings};
use crate::sla::Availability;
use crate::syntec::{PriceHistory, SyntecIndices};

/// What an invoice line bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LineKind {
    /// Monthly channel fees.
    Subscription,
    /// Calls outside the plan, by tariff class.
    OutOfPlan,
    /// Calls re-priced by a rule.
    Repriced,
    /// SLA credit (negative).
    SlaCredit,
}

impl LineKind {
    /// The name used in files and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Subscription => "subscription",
            LineKind::OutOfPlan => "out_of_plan",
            LineKind::Repriced => "repriced",
            LineKind::SlaCredit => "sla_credit",
        }
    }
}

impl fmt::Display for LineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One invoice line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    /// The customer.
    pub customer_id: String,
    /// The customer's currency.
    pub currency: String,
    /// 1-based position on the customer's invoice.
    pub line_no: u32,
    /// The trunk the line is about.
    pub trunk_id: String,
    /// What it bills.
    pub kind: LineKind,
    /// The class, rule or period.
    pub item: String,
    /// For the customer.
    pub description: String,
    /// Channels (subscription), billed minutes (usage), percent (credit).
    pub quantity: Decimal,
    /// The quantity's unit.
    pub unit: String,
    /// The amount, rounded half-up at the line.
    pub amount: Decimal,
}

/// A customer's invoice for a month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// The customer.
    pub customer_id: String,
    /// The currency.
    pub currency: String,
    /// The lines, in order.
    pub lines: Vec<InvoiceLine>,
    /// The sum of the lines.
    pub total: Decimal,
}

/// A period of a month with a constant channel count and price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSegment {
    /// First day.
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
    /// Days.
    pub days: u32,
    /// Channels in force.
    pub channels: u32,
    /// Monthly price of one channel.
    pub price: Decimal,
}

/// The subscription periods of a trunk in a month.
pub fn subscription_segments(
    trunk: &Trunk,
    month: BillingMonth,
    prices: &PriceHistory,
) -> Vec<SubscriptionSegment> {
    let mut segments: Vec<SubscriptionSegment> = Vec::new();
    for date in month.dates() {
        let channels = trunk.channels_on(date);
        let price = prices.price_on(date);
        match segments.last_mut() {
            Some(s) if s.channels == channels && s.price == price => {
                s.to = date;
                s.days += 1;
            }
            _ => segments.push(SubscriptionSegment {
                from: date,
                to: date,
                days: 1,
                channels,
                price,
            }),
        }
    }
    segments.retain(|s| s.channels > 0);
    segments
}

/// The channel price history of a trunk: the plan's price (or the trunk's
/// negotiated one) at the customer's contract start, Syntec-revised up to the end
/// of `month`.
///
/// # Errors
/// A missing Syntec index, naming the date.
pub fn channel_prices(
    trunk: &Trunk,
    customer: &Customer,
    month: BillingMonth,
    settings: &RatingSettings,
    indices: &SyntecIndices,
) -> Result<PriceHistory, String> {
    let base = settings
        .subscription_prices
        .get(trunk.id())
        .copied()
        .unwrap_or(settings.plan(trunk.plan()).channel_price);
    let last_day = month
        .next_first_day()
        .pred_opt()
        .unwrap_or(month.first_day());
    indices
        .history(
            base,
            customer.contract_start(),
            last_day,
            settings.syntec.revision_date,
            settings.money.call_decimals,
        )
        .map_err(|e| format!("trunk {:?} (customer {:?}): {e}", trunk.id(), customer.id()))
}

/// Everything a trunk contributes to its customer's invoice.
pub struct TrunkBill<'a> {
    /// The trunk.
    pub trunk: &'a Trunk,
    /// Its price history.
    pub prices: PriceHistory,
    /// Its rating outcome (usage).
    pub outcome: &'a TrunkOutcome,
    /// Its availability.
    pub availability: Availability,
    /// Whether a credit may be granted (on request setting).
    pub credit_allowed: bool,
}

/// Builds a customer's invoice from its trunks' bills (any order).
pub fn build_invoice(
    customer: &Customer,
    month: BillingMonth,
    bills: &[TrunkBill<'_>],
    settings: &RatingSettings,
) -> Invoice {
    let money = &settings.money;
    let mut lines = Vec::new();
    let mut ordered: Vec<&TrunkBill<'_>> = bills.iter().collect();
    ordered.sort_by(|a, b| a.trunk.id().cmp(b.trunk.id()));
    let month_days = month.days();
    for bill in ordered {
        let trunk_id = bill.trunk.id();
        let mut line = |kind: LineKind,
                        item: String,
                        description: String,
                        quantity: Decimal,
                        unit: &str,
                        amount: Decimal| {
            lines.push(InvoiceLine {
                customer_id: customer.id().to_owned(),
                currency: customer.currency().to_owned(),
                line_no: 0,
                trunk_id: trunk_id.to_owned(),
                kind,
                item,
                description,
                quantity,
                unit: unit.to_owned(),
                amount,
            })
        };
        let mut subscription_total = Decimal::ZERO;
        for s in subscription_segments(bill.trunk, month, &bill.prices) {
            let amount = round_line(
                Decimal::from(s.channels) * s.price * Decimal::from(s.days)
                    / Decimal::from(month_days),
                money,
            );
            subscription_total += amount;
            let description = format!(
                "{} channel(s) × {} {}/month, {} to {} ({}/{} days)",
                s.channels,
                s.price.normalize(),
                customer.currency(),
                s.from,
                s.to,
                s.days,
                month_days
            );
            line(
                LineKind::Subscription,
                format!("{}/{}", s.from, s.to),
                description,
                Decimal::from(s.channels),
                "channels",
                amount,
            );
        }
        for (key, sum) in &bill.outcome.usage {
            let (kind, item, description) = match key {
                UsageKey::OutOfPlan(class) => (
                    LineKind::OutOfPlan,
                    class.clone(),
                    format!("calls outside the plan: {class} ({})", usage_words(sum)),
                ),
                UsageKey::Repriced(rule) => (
                    LineKind::Repriced,
                    rule.as_str().to_owned(),
                    format!(
                        "calls billed per minute, {} ({})",
                        rule.describe(),
                        usage_words(sum)
                    ),
                ),
            };
            line(
                kind,
                item,
                description,
                minutes(sum.billed_secs),
                "min",
                round_line(sum.amount, money),
            );
        }
        let percent = settings.sla.credit_percent(bill.availability.percent);
        if percent > Decimal::ZERO && bill.credit_allowed && subscription_total > Decimal::ZERO {
            let credit = round_line(subscription_total * percent / Decimal::from(100), money);
            let a = &bill.availability;
            let description = format!(
                "SLA credit: availability {} % (downtime {} s of {} s; {}) → {} % of the month's subscription {}",
                a.percent.round_dp(4).normalize(),
                a.downtime_secs,
                a.month_secs,
                if a.references.is_empty() { "no reference".to_owned() } else { a.references.join(", ") },
                percent.normalize(),
                round_line(subscription_total, money)
            );
            line(
                LineKind::SlaCredit,
                "sla".to_owned(),
                description,
                percent,
                "percent",
                -credit,
            );
        }
    }
    for (i, l) in lines.iter_mut().enumerate() {
        l.line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
    let mut total: Decimal = lines.iter().map(|l| l.amount).sum();
    total.rescale(money.line_decimals);
    Invoice {
        customer_id: customer.id().to_owned(),
        currency: customer.currency().to_owned(),
        lines,
        total,
    }
}

fn usage_words(sum: &UsageSum) -> String {
    format!(
        "{} call(s), {} min billed",
        sum.calls,
        minutes(sum.billed_secs).normalize()
    )
}

/// Billed seconds as minutes with 2 decimals (half-up).
fn minutes(secs: u64) -> Decimal {
    (Decimal::from(secs) / Decimal::from(60))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// The sum of the line amounts of several invoices by currency.
pub fn totals_by_currency(
    invoices: &[Invoice],
    money: &MoneySettings,
) -> BTreeMap<String, Decimal> {
    let mut totals: BTreeMap<String, Decimal> = BTreeMap::new();
    for i in invoices {
        *totals.entry(i.currency.clone()).or_default() += i.total;
    }
    for t in totals.values_mut() {
        t.rescale(money.line_decimals);
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Counters;
    use crate::rules::Rule;
    use crate::sla::Incidents;
    use crate::testutil::{provisioning, settings, trunk, PLANS};
    use crate::ChannelMonths;

    fn outcome(usage: BTreeMap<UsageKey, UsageSum>) -> TrunkOutcome {
        TrunkOutcome {
            trunk_id: "t1".into(),
            customer_id: "acme".into(),
            counters: Counters {
                channel_months: ChannelMonths::from_channel_days(0, 31),
                distinct_allowance: 0,
                distinct_numbers: 0,
                eligible_ms: 0,
                eligible_threshold_ms: 0,
                forwarding_ms: BTreeMap::new(),
                forwarding_threshold_ms: 0,
                foreign_callers: Default::default(),
                teams_sbc_fqdns: Default::default(),
                teams_tenants: Default::default(),
                inventory_known: false,
                calls: 0,
                counted_calls: 0,
            },
            breaches: Vec::new(),
            usage,
            unmatched_calls: 0,
            by_status: BTreeMap::new(),
        }
    }

    fn dec(t: &str) -> Decimal {
        t.parse().unwrap()
    }

    #[test]
    fn subscription_is_prorated_by_paris_days_across_a_channel_change() {
        let trunks = trunk(
            "t1",
            "acme",
            "fixed",
            "[{ from = 2024-01-01, channels = 20 }, { from = 2026-10-16, channels = 30 }]",
            "",
        );
        let (_dir, p) = provisioning(&trunks);
        let s = settings(PLANS);
        let month: BillingMonth = "2026-10".parse().unwrap();
        let t = p.trunk("t1").unwrap();
        let prices = PriceHistory {
            base: dec("10"),
            revisions: Vec::new(),
        };
        let usage = BTreeMap::from([
            (
                UsageKey::OutOfPlan("mobile".into()),
                UsageSum {
                    calls: 3,
                    billed_secs: 180,
                    amount: dec("0.075"),
                },
            ),
            (
                UsageKey::OutOfPlan("premium".into()),
                UsageSum {
                    calls: 1,
                    billed_secs: 61,
                    amount: dec("0.963333"),
                },
            ),
            (
                UsageKey::Repriced(Rule::EligibleHours),
                UsageSum {
                    calls: 2,
                    billed_secs: 120,
                    amount: dec("0.024"),
                },
            ),
        ]);
        let out = outcome(usage);
        let bill = TrunkBill {
            trunk: t,
            prices,
            outcome: &out,
            availability: Incidents::default().availability("t1", month),
            credit_allowed: true,
        };
        let invoice = build_invoice(p.customer("acme").unwrap(), month, &[bill], &s);
        let amounts: Vec<(LineKind, String, String)> = invoice
            .lines
            .iter()
            .map(|l| (l.kind, l.item.clone(), l.amount.to_string()))
            .collect();
        // 20 × 10 × 15/31 = 96.774193… → 96.77; 30 × 10 × 16/31 = 154.838709… → 154.84.
        assert_eq!(
            amounts,
            [
                (
                    LineKind::Subscription,
                    "2026-10-01/2026-10-15".into(),
                    "96.77".into()
                ),
                (
                    LineKind::Subscription,
                    "2026-10-16/2026-10-31".into(),
                    "154.84".into()
                ),
                (LineKind::OutOfPlan, "mobile".into(), "0.08".into()),
                (LineKind::OutOfPlan, "premium".into(), "0.96".into()),
                (LineKind::Repriced, "eligible_hours".into(), "0.02".into()),
            ]
        );
        assert_eq!(invoice.total.to_string(), "252.67");
        assert_eq!(invoice.lines[4].line_no, 5);
        assert_eq!(invoice.lines[3].quantity, dec("1.02"));
    }

    #[test]
    fn sla_credit_is_a_share_of_the_subscription_and_only_below_the_objective() {
        let (_dir, p) = provisioning(&trunk(
            "t1",
            "acme",
            "fixed",
            "[{ from = 2024-01-01, channels = 10 }]",
            "",
        ));
        let month: BillingMonth = "2026-10".parse().unwrap();
        let t = p.trunk("t1").unwrap();
        let out = outcome(BTreeMap::new());
        let credit_at = |downtime_secs: u64, s: &RatingSettings| {
            let month_secs = 44_700 * 60;
            let availability = Availability {
                month_secs,
                downtime_secs,
                excused_secs: 0,
                percent: Decimal::from(month_secs - downtime_secs) * Decimal::from(100)
                    / Decimal::from(month_secs),
                references: vec!["INC".into()],
            };
            let bill = TrunkBill {
                trunk: t,
                prices: PriceHistory {
                    base: dec("12.34"),
                    revisions: Vec::new(),
                },
                outcome: &out,
                availability,
                credit_allowed: s.sla_credit_requested("t1", month),
            };
            let invoice = build_invoice(p.customer("acme").unwrap(), month, &[bill], s);
            invoice
                .lines
                .iter()
                .find(|l| l.kind == LineKind::SlaCredit)
                .map(|l| l.amount.to_string())
        };
        let s = settings(PLANS);
        // Subscription 10 × 12.34 = 123.40.
        assert_eq!(credit_at(4023, &s), None, "99.85 % exactly: no credit");
        assert_eq!(credit_at(4024, &s), Some("-6.17".into()), "5 % of 123.40");
        assert_eq!(
            credit_at(13_410, &s),
            Some("-6.17".into()),
            "99.5 % exactly: 5 %"
        );
        assert_eq!(credit_at(13_411, &s), Some("-12.34".into()), "10 %");
        assert_eq!(
            credit_at(80_460, &s),
            Some("-12.34".into()),
            "97 % exactly: 10 %"
        );
        assert_eq!(credit_at(80_461, &s), Some("-24.68".into()), "20 %");
        let on_request = settings(&format!("{PLANS}[sla]\ncredit_on_request = true\n"));
        assert_eq!(credit_at(80_461, &on_request), None, "not requested");
    }

    #[test]
    fn a_syntec_revision_in_the_month_splits_the_subscription() {
        let (_dir, p) = provisioning(&trunk(
            "t1",
            "acme",
            "fixed",
            "[{ from = 2024-01-01, channels = 2 }]",
            "",
        ));
        let month: BillingMonth = "2026-10".parse().unwrap();
        let t = p.trunk("t1").unwrap();
        let prices = PriceHistory {
            base: dec("10"),
            revisions: vec![crate::syntec::Revision {
                date: "2026-10-11".parse().unwrap(),
                previous_index: ("2025-10-01".parse().unwrap(), dec("100")),
                index: ("2026-10-01".parse().unwrap(), dec("103")),
                price: dec("10.3"),
            }],
        };
        let segments = subscription_segments(t, month, &prices);
        assert_eq!(segments.len(), 2);
        assert_eq!((segments[0].days, segments[0].price), (10, dec("10")));
        assert_eq!((segments[1].days, segments[1].price), (21, dec("10.3")));
    }
}
