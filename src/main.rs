//! `fairtrunk`: the demo driver of the workspace.
//!
//! `fairtrunk demo-calls` writes, as JSON lines on standard output, a month of
//! plausible call records for every trunk of a provisioning directory: the input the
//! demo feeds to `cdr write` until the SIP edge places real calls. The output is
//! deterministic (same provisioning, month and count give the same records and keys),
//! so running the demo twice stores each call once. The trunk's side of each call
//! (caller of an outbound call, callee of an inbound one) is one of the numbers the
//! number inventory (`numbers/`) assigns to the trunk, as a real PBX would present,
//! so the demo's rating sees no shared-service evidence that is not meant.

use anyhow::{bail, Context, Result};
use cdr::{CallKey, CallRecord, Direction, Disposition, Source};
use chrono::{Datelike, NaiveDate};
use clap::{Parser, Subcommand};
use number_portability::inventory::{Inventory, NumberState};
use provisioning::Provisioning;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "fairtrunk demo driver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a month of demo call records (JSON lines) for every provisioned trunk.
    DemoCalls {
        /// Provisioning directory.
        #[arg(long)]
        provisioning: PathBuf,
        /// Paris calendar month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Call attempts per trunk.
        #[arg(long, default_value_t = 500)]
        calls_per_trunk: u32,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::DemoCalls {
            provisioning,
            month,
            calls_per_trunk,
        } => demo_calls(&provisioning, &month, calls_per_trunk),
    };
    if let Err(e) = result {
        eprintln!("fairtrunk: {e:#}");
        std::process::exit(2);
    }
}

/// SplitMix64: a tiny deterministic generator, so the demo data never changes
/// between runs or releases.
struct SplitMix(u64);

impl SplitMix {
    fn seeded(text: &str) -> Self {
        SplitMix(text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Destinations a French business calls, with their weight out of 100.
const DESTINATIONS: [(&str, u64, u64); 8] = [
    ("+331", 8, 30),  // Île-de-France fixed
    ("+334", 8, 12),  // south-east fixed
    ("+336", 8, 25),  // mobiles
    ("+337", 8, 8),   // mobiles
    ("+339", 8, 8),   // non-geographic 09
    ("+33806", 6, 5), // 0806: priced like a geographic number
    ("+3289", 6, 6),  // Belgium (international)
    ("+4420", 8, 6),  // London (international)
];

fn demo_calls(dir: &std::path::Path, month: &str, calls_per_trunk: u32) -> Result<()> {
    let provisioning = Provisioning::load(dir).map_err(|errors| {
        anyhow::anyhow!("provisioning in {} is not valid:\n{errors}", dir.display())
    })?;
    let first_day = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .with_context(|| format!("--month {month:?} is not YYYY-MM"))?;
    let next_month = first_day
        .checked_add_months(chrono::Months::new(1))
        .context("month out of range")?;
    let inventory = Inventory::load_with(dir, &provisioning).map_err(|errors| {
        anyhow::anyhow!(
            "number inventory in {} is not valid:\n{errors}",
            dir.display()
        )
    })?;
    let start_ms = provisioning::paris_day_start(first_day).timestamp_millis();
    let end_ms = provisioning::paris_day_start(next_month).timestamp_millis();
    if start_ms < 0 {
        bail!("--month {month} is before 1970");
    }
    let span_ms = (end_ms - start_ms) as u64;

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for trunk in provisioning.trunks() {
        let mut rng = SplitMix::seeded(&format!("{}/{month}", trunk.id()));
        let did_base = 100_000 + rng.below(800_000);
        let trunk_numbers = assigned_numbers(&inventory, trunk.id());
        for n in 0..calls_per_trunk {
            let invite_ms = start_ms as u64 + rng.below(span_ms);
            let instant = chrono::DateTime::from_timestamp_millis(invite_ms as i64)
                .context("time out of range")?;
            let channels = trunk.channels_at(instant);
            // About one attempt in twenty finds its trunk full.
            let in_progress = if rng.below(20) == 0 {
                channels
            } else {
                rng.below(u64::from(channels)) as u32
            };
            let call_id = format!(
                "demo-{}-{}-{n}@{}",
                first_day.year(),
                first_day.month(),
                trunk.id()
            );
            let direction = if rng.below(100) < 30 {
                Direction::Inbound
            } else {
                Direction::Outbound
            };
            let our_number = if trunk_numbers.is_empty() {
                format!("+3314{:07}", did_base + rng.below(20))
            } else {
                trunk_numbers[rng.below(trunk_numbers.len() as u64) as usize].clone()
            };
            let far_number = if rng.below(200) == 0 && direction == Direction::Outbound {
                "112".to_string()
            } else {
                let mut pick = rng.below(100);
                let (prefix, digits, _) = DESTINATIONS
                    .iter()
                    .find(|(_, _, weight)| {
                        let hit = pick < *weight;
                        pick = pick.saturating_sub(*weight);
                        hit
                    })
                    .copied()
                    .unwrap_or(DESTINATIONS[0]);
                format!(
                    "{prefix}{:0width$}",
                    rng.below(10u64.pow(digits as u32)),
                    width = digits as usize
                )
            };
            let emergency = far_number == "112";
            let (caller, callee) = match direction {
                Direction::Outbound => (our_number, far_number),
                Direction::Inbound => (far_number, our_number),
            };
            let roll = rng.below(100);
            let no_channel = in_progress >= channels && !emergency;
            let (disposition, status) = if no_channel {
                (Disposition::RejectedNoChannel, 503)
            } else if roll < 70 || emergency {
                (Disposition::Answered, 200)
            } else if roll < 80 {
                (Disposition::Busy, 486)
            } else if roll < 90 {
                (Disposition::NoAnswer, 480)
            } else if roll < 97 {
                (Disposition::Cancelled, 487)
            } else {
                (Disposition::Failed, 404)
            };
            let ring_ms = 1_000 + rng.below(15_000);
            let (answer_ms, end_ms, billable_ms) = match disposition {
                Disposition::Answered => {
                    // Mostly short calls, a few long ones.
                    let talk = if rng.below(10) == 0 {
                        600_000 + rng.below(3_000_000)
                    } else {
                        5_000 + rng.below(300_000)
                    };
                    let answer = invite_ms + ring_ms;
                    (Some(answer), answer + talk, talk)
                }
                Disposition::RejectedNoChannel => (None, invite_ms + 5, 0),
                _ => (None, invite_ms + ring_ms, 0),
            };
            let site_id = trunk
                .sites()
                .get(rng.below(trunk.sites().len() as u64) as usize)
                .map(|s| s.id().to_string());
            let record = CallRecord {
                key: CallKey::for_edge("demo-edge", &call_id, "demo", 1),
                source: Source::Edge {
                    node: "demo-edge".into(),
                },
                trunk_id: trunk.id().to_string(),
                customer_id: trunk.customer_id().to_string(),
                site_id,
                direction,
                caller,
                callee,
                original_called: None,
                forwarding_party: None,
                sip_call_id: call_id,
                final_status: Some(status),
                disposition,
                emergency,
                invite_ms,
                answer_ms,
                end_ms,
                billable_ms,
                channels_in_force: Some(channels),
                calls_in_progress: Some(in_progress),
                revision: 0,
                teams: None,
                end_reason: None,
            };
            serde_json::to_writer(&mut out, &record)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Up to 200 numbers the inventory assigns to `trunk`, in inventory order (E.164).
fn assigned_numbers(inventory: &Inventory, trunk: &str) -> Vec<String> {
    inventory
        .entries()
        .iter()
        .filter(|e| e.state == NumberState::Assigned && e.trunk.as_deref() == Some(trunk))
        .flat_map(|e| e.block.numbers())
        .take(200)
        .map(|n| n.to_string())
        .collect()
}
