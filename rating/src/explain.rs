//! `rating explain`: what a billing agent reads to a customer disputing an invoice.
//!
//! Everything comes from the stored run (the closed run of the month, else its
//! latest complete run, or a run named explicitly): the trunk's counters against
//! their thresholds, every breach with its crossing moment and evidence, the
//! invoice lines of the trunk, and every re-priced or unmatched call with its rule,
//! tariff row and amount. Nothing is recomputed, so the explanation is the one the
//! invoice was built from.

use std::fmt::Write;

use cdr::ClickhouseConfig;

use crate::engine::hours;
use crate::month::{format_paris_ms, BillingMonth};
use crate::run::RunError;
use crate::store::{from_micros, rule_of, RatingStore};

/// The text of the explanation of a trunk's month.
///
/// # Errors
/// No run for the month, an unknown trunk, ClickHouse errors.
pub async fn explain(
    config: &ClickhouseConfig,
    trunk: &str,
    month: BillingMonth,
    run_id: Option<&str>,
) -> Result<String, RunError> {
    let store = RatingStore::new(config);
    let m = month.to_string();
    let run = match run_id {
        Some(id) => store.run(id).await?,
        None => match store.closed(&m).await? {
            Some(closed) => store.run(&closed.run_id).await?,
            None => store.latest_run(&m).await?,
        },
    };
    let Some(run) = run else {
        return Err(RunError::Refused(format!(
            "no rating run for {m}: run `rating run --month {m}` first"
        )));
    };
    let Some(c) = store.counters(&run.run_id, trunk).await? else {
        return Err(RunError::Refused(format!(
            "trunk {trunk:?} is not in run {} (check the trunk id)",
            run.run_id
        )));
    };
    let closed = store.closed(&m).await?.filter(|c| c.run_id == run.run_id);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "Trunk {trunk} (customer {}), {m}", c.customer_id);
    let _ = writeln!(
        w,
        "Run {}{}; inputs: provisioning {}, tariffs {}, settings {}, {} call records",
        run.run_id,
        if closed.is_some() {
            " (closed month)"
        } else {
            ""
        },
        short(&run.provisioning_fingerprint),
        short(&run.tariffs_fingerprint),
        short(&run.settings_fingerprint),
        run.calls_read
    );
    let cm = crate::ChannelMonths::from_channel_days(c.channel_days, c.month_days);
    let _ = writeln!(
        w,
        "Plan {} (breach policy {}), {} channel-months ({} channel-days over {} days)",
        c.plan,
        c.breach_policy,
        cm.to_decimal(),
        c.channel_days,
        c.month_days
    );
    let _ = writeln!(
        w,
        "\nCounters (outbound, answered, in-plan calls outside suspensions: {} of {} calls)",
        c.counted_calls, c.calls
    );
    let _ = writeln!(
        w,
        "  distinct numbers  {:>10} / {} allowed{}",
        c.distinct_numbers,
        c.distinct_allowance,
        flag(c.distinct_numbers > c.distinct_allowance)
    );
    let _ = writeln!(
        w,
        "  eligible hours    {:>10} / {} h{}",
        hours(c.eligible_ms),
        hours(c.eligible_threshold_ms),
        // total > ⌊exact threshold⌋ ⟺ total > exact threshold, in whole ms.
        flag(c.eligible_ms > c.eligible_threshold_ms)
    );
    if c.forwarding_users.is_empty() {
        let _ = writeln!(w, "  forwarding        no forwarded calls");
    }
    for (user, ms) in c.forwarding_users.iter().zip(&c.forwarding_ms) {
        let _ = writeln!(
            w,
            "  forwarding {user}: {} / {} h{}",
            hours(*ms),
            hours(c.forwarding_threshold_ms),
            flag(*ms > c.forwarding_threshold_ms)
        );
    }
    if !c.foreign_callers.is_empty() {
        let _ = writeln!(
            w,
            "  caller numbers outside the inventory: {}",
            c.foreign_callers.join(" ")
        );
    }
    let _ = writeln!(
        w,
        "  availability      {} % (downtime {} s)",
        from_micros(c.availability_percent, 6)
            .round_dp(4)
            .normalize(),
        c.downtime_secs
    );

    let breaches = store.breaches(&run.run_id, Some(trunk)).await?;
    let _ = writeln!(w, "\nBreaches");
    if breaches.is_empty() {
        let _ = writeln!(w, "  none");
    }
    for b in &breaches {
        let rule = rule_of(b.rule).map_or("?", |r| r.as_str());
        let _ = writeln!(
            w,
            "  {rule}{}: {} {} measured, threshold {} [{}]",
            if b.subject.is_empty() {
                String::new()
            } else {
                format!(" ({})", b.subject)
            },
            from_micros(b.measured, 6).normalize(),
            b.unit,
            b.threshold,
            if b.billed == 1 {
                "billed"
            } else {
                "review only"
            }
        );
        if let Some(at) = b.crossed_at_ms {
            let _ = writeln!(
                w,
                "    crossed at {} by call {}",
                format_paris_ms(at),
                b.crossing_call
            );
        }
        let _ = writeln!(w, "    {}", b.detail);
        if b.billed == 1 {
            let _ = writeln!(
                w,
                "    {} call(s) re-priced, {} (policy {})",
                b.repriced_calls,
                from_micros(b.repriced_amount, 6),
                b.policy
            );
        }
        if !b.recommendation.is_empty() {
            let _ = writeln!(w, "    recommendation: {}", b.recommendation);
        }
    }

    let lines: Vec<_> = store
        .invoice_lines(&run.run_id)
        .await?
        .into_iter()
        .filter(|l| l.trunk_id == trunk)
        .collect();
    let _ = writeln!(w, "\nInvoice lines of this trunk");
    for l in &lines {
        let _ = writeln!(
            w,
            "  #{:<3} {:<12} {:>12} {}  {}",
            l.line_no,
            l.kind_name(),
            from_micros(l.amount, 2),
            l.currency,
            l.description
        );
    }

    let calls = store.explained_calls(&run.run_id, trunk).await?;
    let _ = writeln!(w, "\nRe-priced and unmatched calls ({})", calls.len());
    for call in &calls {
        let rule = rule_of(call.rule).map_or("", |r| r.as_str());
        let _ = writeln!(
            w,
            "  {} {} to {} ({}), {} s answered, {} s billed: {} [{}{}]{}",
            format_paris_ms(call.invite_ms),
            call.call_key,
            call.destination,
            call.category,
            call.billable_ms / 1000,
            call.billed_secs,
            from_micros(call.amount, 6),
            if call.status == 5 { "unmatched" } else { rule },
            if call.tariff_source.is_empty() {
                String::new()
            } else {
                format!(", tariff {} {}", call.tariff_prefix, call.tariff_source)
            },
            if call.status == 5 {
                format!(" — {}", call.reason)
            } else {
                String::new()
            }
        );
    }
    Ok(out)
}

fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}

fn flag(above: bool) -> &'static str {
    if above {
        "  ABOVE"
    } else {
        ""
    }
}
