//! `report.html`: the billing team's page for a month.
//!
//! One self-contained file (inline CSS and SVG, no script, no network): a summary
//! of the invoices and breaches, then per customer and trunk the usage against
//! each fair-use threshold as bar charts with the threshold drawn as a line
//! (distinct numbers against ⌊300 × channel-months⌋, eligible hours against
//! 40 h × channel-months, forwarded hours per user against 2 h), the breaches with
//! their evidence, the availability and the trunk's invoice lines; the unmatched
//! calls last. It holds no run id or time, so the same inputs give the same bytes.

use std::fmt::Write;

use rust_decimal::Decimal;

use crate::engine::{hours, Breach, TrunkOutcome, EVIDENCE_SAMPLE};
use crate::invoice::InvoiceLine;
use crate::month::format_paris_ms;
use crate::run::{Inputs, MonthRating};

/// Unmatched calls listed in the report (all are in `unmatched.csv`).
const UNMATCHED_SHOWN: usize = 200;
/// Forwarding users charted per trunk (the busiest).
const USERS_SHOWN: usize = 10;

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#1c2430;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #1c2430}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#5a6472;font-size:12px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:12px}
th,td{border:1px solid #c9ced6;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5}td.num{text-align:right;white-space:nowrap}
.trunk{border:1px solid #c9ced6;border-radius:6px;padding:8px 14px;margin:10px 0 18px}
.charts{display:flex;flex-wrap:wrap;gap:18px}
.chart{font-size:12px}.chart svg{display:block}
.billed{color:#b00020;font-weight:bold}.review{color:#a15c00;font-weight:bold}.ok{color:#1b7a2f}
.key{font-family:monospace;font-size:11px}
";

/// Renders the report.
pub fn render(rating: &MonthRating, inputs: &Inputs) -> String {
    let mut h = String::new();
    let month = rating.month;
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Fair-use rating {month}</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>Fair-use rating — {month}</h1>");
    let f = &inputs.fingerprints;
    let _ = writeln!(
        h,
        "<p class=\"meta\" id=\"inputs\">{} call records read (digest {}); provisioning {}; tariffs {}; settings {}. \
         Month {} to {} (Europe/Paris).</p>",
        rating.calls_read,
        escape(&rating.calls_digest),
        &f.provisioning[..f.provisioning.len().min(16)],
        &f.tariffs[..f.tariffs.len().min(16)],
        &f.settings[..f.settings.len().min(16)],
        format_paris_ms(month.start_ms()),
        format_paris_ms(month.end_ms())
    );

    // Summary.
    let _ = writeln!(h, "<h2>Summary</h2>");
    let _ = writeln!(
        h,
        "<table id=\"invoices\"><tr><th>customer</th><th>lines</th><th>total</th></tr>"
    );
    for i in &rating.invoices {
        let name = inputs
            .provisioning
            .customer(&i.customer_id)
            .map_or("", |c| c.name());
        let _ = writeln!(
            h,
            "<tr><td>{} ({})</td><td class=\"num\">{}</td><td class=\"num\">{} {}</td></tr>",
            escape(name),
            escape(&i.customer_id),
            i.lines.len(),
            i.total,
            escape(&i.currency)
        );
    }
    let _ = writeln!(h, "</table>");
    let billed = rating.breaches.iter().filter(|b| b.billed).count();
    let review = rating.breaches.len() - billed;
    let _ = writeln!(
        h,
        "<p id=\"breach-summary\">{billed} breach(es) billed, {review} flag(s) for review, {} unmatched call(s).</p>",
        rating.unmatched.len()
    );
    if !rating.breaches.is_empty() {
        breach_table(&mut h, &rating.breaches, true);
    }

    // Per customer and trunk.
    let mut outcomes_of: std::collections::BTreeMap<&str, Vec<&TrunkOutcome>> =
        std::collections::BTreeMap::new();
    for o in &rating.outcomes {
        outcomes_of
            .entry(o.customer_id.as_str())
            .or_default()
            .push(o);
    }
    for invoice in &rating.invoices {
        let customer = inputs.provisioning.customer(&invoice.customer_id);
        let _ = writeln!(
            h,
            "<h2 id=\"customer-{id}\">{} ({id}) — {}</h2>",
            escape(customer.map_or("", |c| c.name())),
            escape(customer.map_or("", |c| c.category().as_str())),
            id = escape(&invoice.customer_id)
        );
        for outcome in outcomes_of
            .get(invoice.customer_id.as_str())
            .into_iter()
            .flatten()
        {
            trunk_section(&mut h, rating, inputs, outcome, &invoice.lines);
        }
        let _ = writeln!(
            h,
            "<p><b>Invoice total {}: {} {}</b> ({} lines)</p>",
            escape(&invoice.customer_id),
            invoice.total,
            escape(&invoice.currency),
            invoice.lines.len()
        );
    }

    // Unmatched.
    let _ = writeln!(
        h,
        "<h2 id=\"unmatched\">Unmatched calls ({})</h2>",
        rating.unmatched.len()
    );
    if rating.unmatched.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"ok\">Every billed call matched a tariff row.</p>"
        );
    } else {
        let _ = writeln!(
            h,
            "<table><tr><th>trunk</th><th>start</th><th>call</th><th>destination</th><th>reason</th></tr>"
        );
        for u in rating.unmatched.iter().take(UNMATCHED_SHOWN) {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"key\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&u.trunk_id),
                format_paris_ms(u.invite_ms),
                escape(&u.call_key),
                escape(&u.destination),
                escape(&u.reason)
            );
        }
        let _ = writeln!(h, "</table>");
        if rating.unmatched.len() > UNMATCHED_SHOWN {
            let _ = writeln!(
                h,
                "<p>… and {} more in unmatched.csv.</p>",
                rating.unmatched.len() - UNMATCHED_SHOWN
            );
        }
    }
    let _ = writeln!(
        h,
        "<p class=\"meta\">Counted calls: outbound, answered, in the plan, outside suspension periods, \
         customers other than telecom professionals. A running total crossing its threshold re-prices the \
         crossing call and every later counted call (policy excess) or every counted call (whole_month).</p>"
    );
    h.push_str("</body></html>\n");
    h
}

fn breach_table(h: &mut String, breaches: &[Breach], with_trunk: bool) {
    let _ = write!(h, "<table class=\"breaches\"><tr>");
    if with_trunk {
        let _ = write!(h, "<th>trunk</th>");
    }
    let _ = writeln!(
        h,
        "<th>rule</th><th>action</th><th>measured</th><th>threshold</th><th>crossed at</th>\
         <th>re-priced</th><th>evidence</th><th>recommendation</th></tr>"
    );
    for b in breaches {
        let _ = write!(h, "<tr>");
        if with_trunk {
            let _ = write!(h, "<td>{}</td>", escape(&b.trunk_id));
        }
        let subject = if b.subject.is_empty() {
            String::new()
        } else {
            format!("<br>{}", escape(&b.subject))
        };
        let crossing = match (b.crossed_at_ms, &b.crossing_call) {
            (Some(at), Some(key)) => format!(
                "{}<br><span class=\"key\">{}</span>",
                format_paris_ms(at),
                escape(key)
            ),
            _ => String::new(),
        };
        let evidence: Vec<String> = b
            .evidence
            .iter()
            .take(EVIDENCE_SAMPLE)
            .map(|k| escape(k))
            .collect();
        let _ = writeln!(
            h,
            "<td>{}{subject}</td><td class=\"{}\">{}</td><td class=\"num\">{} {}</td><td>{}</td><td>{crossing}</td>\
             <td class=\"num\">{} call(s)<br>{}</td><td>{}<br><span class=\"key\">{}</span></td><td>{}</td></tr>",
            b.rule.as_str(),
            if b.billed { "billed" } else { "review" },
            if b.billed { "billed" } else { "review" },
            b.measured.normalize(),
            escape(&b.unit),
            escape(&b.threshold),
            b.repriced_calls,
            b.repriced_amount.normalize(),
            escape(&b.detail),
            evidence.join(" "),
            escape(&b.recommendation)
        );
    }
    let _ = writeln!(h, "</table>");
}

fn trunk_section(
    h: &mut String,
    rating: &MonthRating,
    inputs: &Inputs,
    o: &TrunkOutcome,
    lines: &[InvoiceLine],
) {
    let c = &o.counters;
    let trunk = inputs.provisioning.trunk(&o.trunk_id);
    let plan = trunk.map(|t| inputs.settings.plan(t.plan()));
    let _ = writeln!(
        h,
        "<div class=\"trunk\" id=\"trunk-{0}\"><h3>Trunk {0}</h3>",
        escape(&o.trunk_id)
    );
    let _ = writeln!(
        h,
        "<p class=\"meta\">plan {} (breach policy {}), {} channel-months; {} calls, {} counted</p>",
        trunk.map_or("", |t| t.plan().as_str()),
        plan.map_or("", |p| p.breach_policy.as_str()),
        c.channel_months.to_decimal(),
        c.calls,
        c.counted_calls
    );
    let _ = writeln!(h, "<div class=\"charts\">");
    chart(
        h,
        "distinct numbers",
        &[("numbers".to_owned(), Decimal::from(c.distinct_numbers))],
        Decimal::from(c.distinct_allowance),
        &format!("allowance {}", c.distinct_allowance),
    );
    chart(
        h,
        "eligible hours",
        &[("hours".to_owned(), hours(c.eligible_ms))],
        hours(c.eligible_threshold_ms),
        &format!("{} h", hours(c.eligible_threshold_ms)),
    );
    let mut users: Vec<(&String, &u64)> = c.forwarding_ms.iter().collect();
    users.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let bars: Vec<(String, Decimal)> = users
        .iter()
        .take(USERS_SHOWN)
        .map(|(u, ms)| ((*u).clone(), hours(**ms)))
        .collect();
    chart(
        h,
        &format!(
            "forwarded hours per user{}",
            if users.len() > USERS_SHOWN {
                format!(" (top {USERS_SHOWN} of {})", users.len())
            } else {
                String::new()
            }
        ),
        &bars,
        hours(c.forwarding_threshold_ms),
        &format!("{} h", hours(c.forwarding_threshold_ms)),
    );
    let _ = writeln!(h, "</div>");
    if let Some(a) = rating.availability.get(&o.trunk_id) {
        let credit = inputs.settings.sla.credit_percent(a.percent);
        let _ = writeln!(
            h,
            "<p>Availability {} % (downtime {} s, excused {} s){}</p>",
            a.percent.round_dp(4).normalize(),
            a.downtime_secs,
            a.excused_secs,
            if credit > Decimal::ZERO {
                format!(": SLA credit tier {} %", credit.normalize())
            } else {
                String::new()
            }
        );
    }
    let breaches: Vec<Breach> = o.breaches.clone();
    if breaches.is_empty() {
        let _ = writeln!(h, "<p class=\"ok\">No breach.</p>");
    } else {
        breach_table(h, &breaches, false);
    }
    let _ = writeln!(
        h,
        "<table class=\"lines\"><tr><th>#</th><th>kind</th><th>description</th><th>quantity</th><th>amount</th></tr>"
    );
    for l in lines.iter().filter(|l| l.trunk_id == o.trunk_id) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{} {}</td><td class=\"num\">{} {}</td></tr>",
            l.line_no,
            l.kind.as_str(),
            escape(&l.description),
            l.quantity.normalize(),
            escape(&l.unit),
            l.amount,
            escape(&l.currency)
        );
    }
    let _ = writeln!(h, "</table></div>");
}

/// A horizontal bar chart with a threshold line.
fn chart(
    h: &mut String,
    title: &str,
    bars: &[(String, Decimal)],
    threshold: Decimal,
    threshold_label: &str,
) {
    const WIDTH: i64 = 300;
    const LABEL: i64 = 150;
    const BAR: i64 = 18;
    let max = bars.iter().map(|(_, v)| *v).fold(threshold, Decimal::max) * Decimal::new(11, 1);
    let scale = |v: Decimal| -> i64 {
        if max.is_zero() {
            0
        } else {
            i64::try_from((v * Decimal::from(WIDTH) / max).round())
                .unwrap_or(WIDTH)
                .clamp(0, WIDTH)
        }
    };
    let rows = bars.len().max(1) as i64;
    let height = rows * (BAR + 6) + 28;
    let _ = writeln!(
        h,
        "<div class=\"chart\"><b>{}</b><svg width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">",
        escape(title),
        LABEL + WIDTH + 70,
        escape(title)
    );
    if bars.is_empty() {
        let _ = writeln!(h, "<text x=\"0\" y=\"16\" font-size=\"12\">none</text>");
    }
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = i as i64 * (BAR + 6) + 4;
        let color = if *value > threshold {
            "#b00020"
        } else if !threshold.is_zero()
            && *value * Decimal::from(100) >= threshold * Decimal::from(80)
        {
            "#e08a00"
        } else {
            "#2f7d4f"
        };
        let _ = writeln!(
            h,
            "<text x=\"0\" y=\"{}\" font-size=\"11\">{}</text><rect x=\"{LABEL}\" y=\"{y}\" width=\"{}\" height=\"{BAR}\" fill=\"{color}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            y + 13,
            escape(label),
            scale(*value),
            LABEL + scale(*value) + 4,
            y + 13,
            value.normalize()
        );
    }
    let x = LABEL + scale(threshold);
    let _ = writeln!(
        h,
        "<line x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{}\" stroke=\"#1c2430\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text></svg></div>",
        height - 14,
        (x - 30).max(0),
        height - 2,
        escape(threshold_label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn bars_above_the_threshold_are_red_and_the_line_is_drawn() {
        let mut h = String::new();
        chart(
            &mut h,
            "distinct numbers",
            &[("numbers".into(), Decimal::from(330))],
            Decimal::from(300),
            "allowance 300",
        );
        assert!(h.contains("fill=\"#b00020\""), "{h}");
        // max = 330 × 1.1 = 363; the line at 300 / 363 × 300 = 248 px after the label.
        assert!(h.contains("x1=\"398\""), "{h}");
        assert!(h.contains("allowance 300"));
        let mut h = String::new();
        chart(
            &mut h,
            "hours",
            &[("hours".into(), Decimal::from(33))],
            Decimal::from(40),
            "40 h",
        );
        assert!(h.contains("#e08a00"), "82.5 % is orange: {h}");
    }
}
