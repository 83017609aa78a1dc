//! The rating's ClickHouse tables: their migrations, the rows written to them and
//! the queries that read them back (run history, closed months, explanations).
//!
//! Tables (`rating/migrations/0001_rating_tables.sql`): `rating_runs` (one row per
//! run with its input fingerprints), `rated_calls` (every billed or unmatched call
//! of a run with its status, rule, tariff row and amount), `rating_breaches`,
//! `invoice_lines`, `rating_counters` (per trunk) and `rating_closed_months`.
//! Amounts travel as `Decimal(18, 6)`, i.e. an `Int64` of millionths in RowBinary.
//! Every query binds its values client-side (`?`): ClickHouse 18.16 has no
//! server-side parameters.

use cdr::schema::Migration;
use cdr::ClickhouseConfig;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The rating's schema, applied with `cdr::schema::migrate(&config,
/// &[CDR_MIGRATIONS, RATING_MIGRATIONS])`.
pub const RATING_MIGRATIONS: &[Migration] = &[Migration {
    component: "rating",
    version: 1,
    name: "rating tables",
    sql: include_str!("../migrations/0001_rating_tables.sql"),
}];

/// Scale of the `Decimal(18, 6)` columns.
const SCALE: u32 = 6;

/// A decimal as the `Int64` of a `Decimal(18, 6)` column (rounded half-up to 6
/// places; saturating far outside any amount).
pub fn to_micros(value: Decimal) -> i64 {
    let mut v =
        value.round_dp_with_strategy(SCALE, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    v.rescale(SCALE);
    i64::try_from(v.mantissa()).unwrap_or(if v.is_sign_negative() {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// The decimal of a `Decimal(18, 6)` column, at `scale` places.
pub fn from_micros(micros: i64, scale: u32) -> Decimal {
    let mut d = Decimal::new(micros, SCALE);
    d.rescale(scale.min(SCALE));
    d
}

/// The rule column's Enum8 value.
pub fn rule_code(rule: Option<crate::Rule>) -> i8 {
    match rule {
        None => 0,
        Some(r) => crate::Rule::ALL
            .iter()
            .position(|x| *x == r)
            .map_or(0, |i| i as i8 + 1),
    }
}

/// The rule of a rule column's Enum8 value.
pub fn rule_of(code: i8) -> Option<crate::Rule> {
    usize::try_from(code - 1)
        .ok()
        .and_then(|i| crate::Rule::ALL.get(i).copied())
}

/// A `rating_runs` row.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RunRow {
    pub run_id: String,
    pub month: String,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    /// 1 complete, 2 refused (a closed month).
    pub status: i8,
    pub forced: u8,
    pub provisioning_fingerprint: String,
    pub tariffs_fingerprint: String,
    pub settings_fingerprint: String,
    pub calls_read: u64,
    pub calls_digest: String,
    pub outputs_digest: String,
    pub tool_version: String,
}

/// A `rated_calls` row.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct RatedCallRow {
    pub run_id: String,
    pub month: String,
    pub call_key: String,
    pub trunk_id: String,
    pub customer_id: String,
    pub invite_ms: u64,
    pub destination: String,
    pub category: String,
    pub in_plan: u8,
    pub status: i8,
    pub rule: i8,
    pub reason: String,
    pub forwarding_party: String,
    pub billable_ms: u64,
    pub billed_secs: u64,
    pub amount: i64,
    pub tariff_prefix: String,
    pub tariff_label: String,
    pub tariff_class: String,
    pub tariff_source: String,
}

impl RatedCallRow {
    /// The row of a rated call.
    pub fn new(run_id: &str, month: &str, c: &crate::engine::RatedCall) -> Self {
        let tariff = c.tariff.as_ref();
        RatedCallRow {
            run_id: run_id.to_owned(),
            month: month.to_owned(),
            call_key: c.call_key.clone(),
            trunk_id: c.trunk_id.to_string(),
            customer_id: c.customer_id.to_string(),
            invite_ms: c.invite_ms,
            destination: c.destination.clone(),
            category: c.category.to_owned(),
            in_plan: u8::from(c.in_plan),
            status: status_code(c.status),
            rule: rule_code(c.rule),
            reason: c.reason.clone(),
            forwarding_party: c.forwarding_party.clone(),
            billable_ms: c.billable_ms,
            billed_secs: c.billed_secs,
            amount: to_micros(c.amount),
            tariff_prefix: tariff.map(|t| t.prefix.clone()).unwrap_or_default(),
            tariff_label: tariff.map(|t| t.label.clone()).unwrap_or_default(),
            tariff_class: tariff.map(|t| t.class.clone()).unwrap_or_default(),
            tariff_source: tariff.map(|t| t.source.clone()).unwrap_or_default(),
        }
    }
}

/// A `rated_calls` row borrowing its text (what a run writes, without copies).
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize)]
#[allow(missing_docs)]
pub struct RatedCallRowRef<'a> {
    pub run_id: &'a str,
    pub month: &'a str,
    pub call_key: &'a str,
    pub trunk_id: &'a str,
    pub customer_id: &'a str,
    pub invite_ms: u64,
    pub destination: &'a str,
    pub category: &'a str,
    pub in_plan: u8,
    pub status: i8,
    pub rule: i8,
    pub reason: &'a str,
    pub forwarding_party: &'a str,
    pub billable_ms: u64,
    pub billed_secs: u64,
    pub amount: i64,
    pub tariff_prefix: &'a str,
    pub tariff_label: &'a str,
    pub tariff_class: &'a str,
    pub tariff_source: &'a str,
}

impl<'a> RatedCallRowRef<'a> {
    /// The row of a rated call.
    pub fn new(run_id: &'a str, month: &'a str, c: &'a crate::engine::RatedCall) -> Self {
        let tariff = c.tariff.as_ref();
        RatedCallRowRef {
            run_id,
            month,
            call_key: &c.call_key,
            trunk_id: &c.trunk_id,
            customer_id: &c.customer_id,
            invite_ms: c.invite_ms,
            destination: &c.destination,
            category: c.category,
            in_plan: u8::from(c.in_plan),
            status: status_code(c.status),
            rule: rule_code(c.rule),
            reason: &c.reason,
            forwarding_party: &c.forwarding_party,
            billable_ms: c.billable_ms,
            billed_secs: c.billed_secs,
            amount: to_micros(c.amount),
            tariff_prefix: tariff.map_or("", |t| t.prefix.as_str()),
            tariff_label: tariff.map_or("", |t| t.label.as_str()),
            tariff_class: tariff.map_or("", |t| t.class.as_str()),
            tariff_source: tariff.map_or("", |t| t.source.as_str()),
        }
    }
}

/// The status column's Enum8 value.
pub fn status_code(status: crate::engine::Status) -> i8 {
    use crate::engine::Status;
    match status {
        Status::NotBilled => 1,
        Status::Included => 2,
        Status::OutOfPlan => 3,
        Status::Repriced => 4,
        Status::Unmatched => 5,
    }
}

/// A `rating_breaches` row.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct BreachRow {
    pub run_id: String,
    pub month: String,
    pub customer_id: String,
    pub trunk_id: String,
    pub rule: i8,
    pub subject: String,
    pub billed: u8,
    pub policy: String,
    pub threshold: String,
    pub threshold_value: i64,
    pub measured: i64,
    pub unit: String,
    pub crossed_at_ms: Option<u64>,
    pub crossing_call: String,
    pub repriced_calls: u64,
    pub repriced_amount: i64,
    pub evidence: Vec<String>,
    pub detail: String,
    pub recommendation: String,
}

impl BreachRow {
    /// The row of a breach.
    pub fn new(run_id: &str, month: &str, b: &crate::engine::Breach) -> Self {
        BreachRow {
            run_id: run_id.to_owned(),
            month: month.to_owned(),
            customer_id: b.customer_id.clone(),
            trunk_id: b.trunk_id.clone(),
            rule: rule_code(Some(b.rule)),
            subject: b.subject.clone(),
            billed: u8::from(b.billed),
            policy: b.policy.as_str().to_owned(),
            threshold: b.threshold.clone(),
            threshold_value: to_micros(b.threshold_value),
            measured: to_micros(b.measured),
            unit: b.unit.clone(),
            crossed_at_ms: b.crossed_at_ms,
            crossing_call: b.crossing_call.clone().unwrap_or_default(),
            repriced_calls: b.repriced_calls,
            repriced_amount: to_micros(b.repriced_amount),
            evidence: b.evidence.clone(),
            detail: b.detail.clone(),
            recommendation: b.recommendation.clone(),
        }
    }
}

/// An `invoice_lines` row.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct InvoiceLineRow {
    pub run_id: String,
    pub month: String,
    pub customer_id: String,
    pub currency: String,
    pub line_no: u32,
    pub trunk_id: String,
    pub kind: i8,
    pub item: String,
    pub description: String,
    pub quantity: i64,
    pub unit: String,
    pub amount: i64,
}

impl InvoiceLineRow {
    /// The row of an invoice line.
    pub fn new(run_id: &str, month: &str, l: &crate::invoice::InvoiceLine) -> Self {
        use crate::invoice::LineKind;
        InvoiceLineRow {
            run_id: run_id.to_owned(),
            month: month.to_owned(),
            customer_id: l.customer_id.clone(),
            currency: l.currency.clone(),
            line_no: l.line_no,
            trunk_id: l.trunk_id.clone(),
            kind: match l.kind {
                LineKind::Subscription => 1,
                LineKind::OutOfPlan => 2,
                LineKind::Repriced => 3,
                LineKind::SlaCredit => 4,
            },
            item: l.item.clone(),
            description: l.description.clone(),
            quantity: to_micros(l.quantity),
            unit: l.unit.clone(),
            amount: to_micros(l.amount),
        }
    }

    /// The kind's name.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            1 => "subscription",
            2 => "out_of_plan",
            3 => "repriced",
            4 => "sla_credit",
            _ => "unknown",
        }
    }
}

/// A `rating_counters` row.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct CounterRow {
    pub run_id: String,
    pub month: String,
    pub customer_id: String,
    pub trunk_id: String,
    pub plan: String,
    pub breach_policy: String,
    pub channel_days: u64,
    pub month_days: u32,
    pub distinct_numbers: u64,
    pub distinct_allowance: u64,
    pub eligible_ms: u64,
    pub eligible_threshold_ms: u64,
    pub forwarding_users: Vec<String>,
    pub forwarding_ms: Vec<u64>,
    pub forwarding_threshold_ms: u64,
    pub foreign_callers: Vec<String>,
    pub teams_sbc_fqdns: Vec<String>,
    pub teams_tenants: Vec<String>,
    pub calls: u64,
    pub counted_calls: u64,
    pub availability_percent: i64,
    pub downtime_secs: u64,
}

/// A `rating_closed_months` row.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ClosedMonthRow {
    pub month: String,
    pub run_id: String,
    pub closed_at_ms: u64,
    pub outputs_digest: String,
}

/// Reads and writes the rating tables.
#[derive(Clone)]
pub struct RatingStore {
    client: clickhouse::Client,
}

impl RatingStore {
    /// A store on the configured database.
    pub fn new(config: &ClickhouseConfig) -> Self {
        let mut client = config.client();
        if crate::stream::is_loopback(&config.url) {
            // On loopback, compression only costs CPU on both sides.
            client = client.with_compression(clickhouse::Compression::None);
        }
        RatingStore { client }
    }

    /// The client.
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    /// Inserts rows into `table` in one request.
    ///
    /// # Errors
    /// The server's refusal.
    pub async fn insert_all<T>(
        &self,
        table: &str,
        rows: &[T],
    ) -> Result<(), clickhouse::error::Error>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert::<T>(table).await?;
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await
    }

    /// The closed state of a month, if closed.
    ///
    /// # Errors
    /// Query errors.
    pub async fn closed(
        &self,
        month: &str,
    ) -> Result<Option<ClosedMonthRow>, clickhouse::error::Error> {
        self.client
            .query("SELECT ?fields FROM rating_closed_months FINAL WHERE month = ? ORDER BY closed_at_ms LIMIT 1")
            .bind(month)
            .fetch_optional()
            .await
    }

    /// The latest complete run of a month, if any.
    ///
    /// # Errors
    /// Query errors.
    pub async fn latest_run(
        &self,
        month: &str,
    ) -> Result<Option<RunRow>, clickhouse::error::Error> {
        self.client
            .query(
                "SELECT ?fields FROM rating_runs FINAL WHERE month = ? AND status = 'complete' \
                 ORDER BY finished_at_ms DESC, run_id DESC LIMIT 1",
            )
            .bind(month)
            .fetch_optional()
            .await
    }

    /// A run by id.
    ///
    /// # Errors
    /// Query errors.
    pub async fn run(&self, run_id: &str) -> Result<Option<RunRow>, clickhouse::error::Error> {
        self.client
            .query("SELECT ?fields FROM rating_runs FINAL WHERE run_id = ? LIMIT 1")
            .bind(run_id)
            .fetch_optional()
            .await
    }

    /// The invoice lines of a run, in invoice order.
    ///
    /// # Errors
    /// Query errors.
    pub async fn invoice_lines(
        &self,
        run_id: &str,
    ) -> Result<Vec<InvoiceLineRow>, clickhouse::error::Error> {
        self.client
            .query("SELECT ?fields FROM invoice_lines FINAL WHERE run_id = ? ORDER BY customer_id, line_no")
            .bind(run_id)
            .fetch_all()
            .await
    }

    /// The breaches of a run, optionally of one trunk.
    ///
    /// # Errors
    /// Query errors.
    pub async fn breaches(
        &self,
        run_id: &str,
        trunk: Option<&str>,
    ) -> Result<Vec<BreachRow>, clickhouse::error::Error> {
        let q = match trunk {
            Some(t) => self
                .client
                .query("SELECT ?fields FROM rating_breaches FINAL WHERE run_id = ? AND trunk_id = ? ORDER BY trunk_id, rule, subject")
                .bind(run_id)
                .bind(t),
            None => self
                .client
                .query("SELECT ?fields FROM rating_breaches FINAL WHERE run_id = ? ORDER BY trunk_id, rule, subject")
                .bind(run_id),
        };
        q.fetch_all().await
    }

    /// The counters of a trunk in a run.
    ///
    /// # Errors
    /// Query errors.
    pub async fn counters(
        &self,
        run_id: &str,
        trunk: &str,
    ) -> Result<Option<CounterRow>, clickhouse::error::Error> {
        self.client
            .query("SELECT ?fields FROM rating_counters FINAL WHERE run_id = ? AND trunk_id = ? LIMIT 1")
            .bind(run_id)
            .bind(trunk)
            .fetch_optional()
            .await
    }

    /// The rated calls of a trunk in a run with a rule or unmatched, in call order.
    ///
    /// # Errors
    /// Query errors.
    pub async fn explained_calls(
        &self,
        run_id: &str,
        trunk: &str,
    ) -> Result<Vec<RatedCallRow>, clickhouse::error::Error> {
        self.client
            .query(
                "SELECT ?fields FROM rated_calls FINAL WHERE run_id = ? AND trunk_id = ? \
                 AND (rule != '' OR status = 'unmatched') ORDER BY invite_ms, call_key",
            )
            .bind(run_id)
            .bind(trunk)
            .fetch_all()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_travel_as_millionths() {
        let d = |t: &str| t.parse::<Decimal>().unwrap();
        assert_eq!(to_micros(d("1.5")), 1_500_000);
        assert_eq!(to_micros(d("-0.000001")), -1);
        assert_eq!(to_micros(d("0.0000005")), 1);
        assert_eq!(from_micros(1_500_000, 2).to_string(), "1.50");
        assert_eq!(from_micros(963_333, 6).to_string(), "0.963333");
    }

    #[test]
    fn rule_codes_match_the_enum_in_the_migration() {
        let sql = RATING_MIGRATIONS[0].sql;
        for rule in crate::Rule::ALL {
            let code = rule_code(Some(rule));
            assert!(
                sql.contains(&format!("'{}' = {code}", rule.as_str())),
                "{rule}"
            );
            assert_eq!(rule_of(code), Some(rule));
        }
        assert_eq!(rule_of(0), None);
        for status in [
            crate::engine::Status::NotBilled,
            crate::engine::Status::Included,
            crate::engine::Status::OutOfPlan,
            crate::engine::Status::Repriced,
            crate::engine::Status::Unmatched,
        ] {
            assert!(sql.contains(&format!("'{}' = {}", status.as_str(), status_code(status))));
        }
    }
}
