//! The files a run writes, and how a run differs from a closed one.
//!
//! - `invoice_lines.csv`: `month,customer_id,currency,line_no,trunk_id,kind,item,
//!   description,quantity,unit,amount`, customers by id, lines in invoice order;
//! - `breaches.csv`: `month,customer_id,trunk_id,rule,subject,action,policy,
//!   threshold,threshold_value,measured,unit,crossed_at,crossing_call,
//!   repriced_calls,repriced_amount,recommendation,detail,evidence` (`action` is
//!   `billed` or `review`; times are Paris local time with offset; `evidence` is
//!   the first call keys, space-separated);
//! - `unmatched.csv`: `month,customer_id,trunk_id,call_key,invite_time,
//!   destination,category,rule,billable_ms,reason`, by trunk and time;
//! - `report.html`: see [`crate::report`].
//!
//! Nothing in them depends on the run id or the time of the run: the same inputs
//! give the same bytes.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::month::format_paris_ms;
use crate::run::{Inputs, MonthRating};
use crate::store::{from_micros, rule_of, BreachRow, InvoiceLineRow};

/// The files of a run: name and contents.
pub fn render(rating: &MonthRating, inputs: &Inputs) -> Vec<(String, Vec<u8>)> {
    vec![
        ("invoice_lines.csv".to_owned(), invoice_lines_csv(rating)),
        ("breaches.csv".to_owned(), breaches_csv(rating)),
        ("unmatched.csv".to_owned(), unmatched_csv(rating)),
        (
            "report.html".to_owned(),
            crate::report::render(rating, inputs).into_bytes(),
        ),
    ]
}

fn csv_bytes(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(header);
    for row in rows {
        let _ = w.write_record(&row);
    }
    w.into_inner().unwrap_or_default()
}

/// `invoice_lines.csv`.
pub fn invoice_lines_csv(rating: &MonthRating) -> Vec<u8> {
    let month = rating.month.to_string();
    csv_bytes(
        &[
            "month",
            "customer_id",
            "currency",
            "line_no",
            "trunk_id",
            "kind",
            "item",
            "description",
            "quantity",
            "unit",
            "amount",
        ],
        rating
            .invoices
            .iter()
            .flat_map(|i| i.lines.iter())
            .map(|l| {
                vec![
                    month.clone(),
                    l.customer_id.clone(),
                    l.currency.clone(),
                    l.line_no.to_string(),
                    l.trunk_id.clone(),
                    l.kind.as_str().to_owned(),
                    l.item.clone(),
                    l.description.clone(),
                    l.quantity.normalize().to_string(),
                    l.unit.clone(),
                    l.amount.to_string(),
                ]
            }),
    )
}

/// `breaches.csv`.
pub fn breaches_csv(rating: &MonthRating) -> Vec<u8> {
    let month = rating.month.to_string();
    csv_bytes(
        &[
            "month",
            "customer_id",
            "trunk_id",
            "rule",
            "subject",
            "action",
            "policy",
            "threshold",
            "threshold_value",
            "measured",
            "unit",
            "crossed_at",
            "crossing_call",
            "repriced_calls",
            "repriced_amount",
            "recommendation",
            "detail",
            "evidence",
        ],
        rating.breaches.iter().map(|b| {
            vec![
                month.clone(),
                b.customer_id.clone(),
                b.trunk_id.clone(),
                b.rule.as_str().to_owned(),
                b.subject.clone(),
                if b.billed { "billed" } else { "review" }.to_owned(),
                b.policy.as_str().to_owned(),
                b.threshold.clone(),
                b.threshold_value.normalize().to_string(),
                b.measured.normalize().to_string(),
                b.unit.clone(),
                b.crossed_at_ms.map(format_paris_ms).unwrap_or_default(),
                b.crossing_call.clone().unwrap_or_default(),
                b.repriced_calls.to_string(),
                b.repriced_amount.to_string(),
                b.recommendation.clone(),
                b.detail.clone(),
                b.evidence.join(" "),
            ]
        }),
    )
}

/// `unmatched.csv`.
pub fn unmatched_csv(rating: &MonthRating) -> Vec<u8> {
    let month = rating.month.to_string();
    csv_bytes(
        &[
            "month",
            "customer_id",
            "trunk_id",
            "call_key",
            "invite_time",
            "destination",
            "category",
            "rule",
            "billable_ms",
            "reason",
        ],
        rating.unmatched.iter().map(|u| {
            vec![
                month.clone(),
                u.customer_id.clone(),
                u.trunk_id.clone(),
                u.call_key.clone(),
                format_paris_ms(u.invite_ms),
                u.destination.clone(),
                u.category.clone(),
                u.rule.map(|r| r.as_str().to_owned()).unwrap_or_default(),
                u.billable_ms.to_string(),
                u.reason.clone(),
            ]
        }),
    )
}

/// The differences between a closed run's stored invoice lines and breaches and a
/// new rating, one sentence each; empty when they agree.
pub fn differences(
    old_lines: &[InvoiceLineRow],
    old_breaches: &[BreachRow],
    new: &MonthRating,
) -> Vec<String> {
    let mut out = Vec::new();
    let key = |customer: &str, trunk: &str, kind: &str, item: &str| {
        format!("{customer} {trunk} {kind} {item}")
    };
    let old: BTreeMap<String, (Decimal, String)> = old_lines
        .iter()
        .map(|l| {
            (
                key(&l.customer_id, &l.trunk_id, l.kind_name(), &l.item),
                (from_micros(l.amount, 6).normalize(), l.currency.clone()),
            )
        })
        .collect();
    let new_lines: BTreeMap<String, (Decimal, String)> = new
        .invoices
        .iter()
        .flat_map(|i| i.lines.iter())
        .map(|l| {
            (
                key(&l.customer_id, &l.trunk_id, l.kind.as_str(), &l.item),
                (l.amount.normalize(), l.currency.clone()),
            )
        })
        .collect();
    for (k, (amount, currency)) in &old {
        match new_lines.get(k) {
            None => out.push(format!("invoice line removed: {k} ({amount} {currency})")),
            Some((a, _)) if a != amount => out.push(format!(
                "invoice line changed: {k}: {amount} → {a} {currency}"
            )),
            _ => {}
        }
    }
    for (k, (amount, currency)) in &new_lines {
        if !old.contains_key(k) {
            out.push(format!("invoice line added: {k} ({amount} {currency})"));
        }
    }
    let bkey = |trunk: &str, rule: &str, subject: &str| {
        format!("{trunk} {rule} {subject}").trim_end().to_owned()
    };
    let old_b: BTreeMap<String, (Decimal, u64, Decimal)> = old_breaches
        .iter()
        .map(|b| {
            (
                bkey(
                    &b.trunk_id,
                    rule_of(b.rule).map_or("", |r| r.as_str()),
                    &b.subject,
                ),
                (
                    from_micros(b.measured, 6).normalize(),
                    b.repriced_calls,
                    from_micros(b.repriced_amount, 6).normalize(),
                ),
            )
        })
        .collect();
    let new_b: BTreeMap<String, (Decimal, u64, Decimal)> = new
        .breaches
        .iter()
        .map(|b| {
            (
                bkey(&b.trunk_id, b.rule.as_str(), &b.subject),
                (
                    b.measured.normalize(),
                    b.repriced_calls,
                    b.repriced_amount.normalize(),
                ),
            )
        })
        .collect();
    for (k, v) in &old_b {
        match new_b.get(k) {
            None => out.push(format!("breach removed: {k}")),
            Some(n) if n != v => out.push(format!(
                "breach changed: {k}: measured {} → {}, re-priced calls {} → {}, amount {} → {}",
                v.0, n.0, v.1, n.1, v.2, n.2
            )),
            _ => {}
        }
    }
    for k in new_b.keys() {
        if !old_b.contains_key(k) {
            out.push(format!("breach added: {k}"));
        }
    }
    out
}
