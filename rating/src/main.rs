//! `rating`: the monthly fair-use rating job.
//!
//! - `rating run --month 2026-10` rates a month: stores rated calls, breaches,
//!   counters and invoice lines in ClickHouse under a run id, and writes
//!   `invoice_lines.csv`, `breaches.csv`, `unmatched.csv` and `report.html`.
//! - `rating close --month 2026-10` freezes a month on its latest run; a later run
//!   of a closed month shows the differences and refuses unless `--force`.
//! - `rating preview` projects the month-to-date counters to the month's end and
//!   lists trunks above the warning share of a threshold.
//! - `rating explain --trunk T --month M` prints what the invoice of a trunk was
//!   built from.
//! - `rating check` validates `plans.toml` and the rating inputs.
//!
//! Exit status: 0 done, 1 refused (closed month) or invalid inputs, 2 any other
//! failure.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cdr::ClickhouseConfig;
use clap::{Parser, Subcommand};
use rating::run::{Inputs, RunError, RunOptions, RunSummary};
use rating::BillingMonth;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `println!` that ignores a closed standard output (`rating run | head`) instead
/// of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Parser)]
#[command(
    version,
    about = "fairtrunk monthly fair-use rating: breaches, re-pricing, SLA credits, invoice lines"
)]
struct Cli {
    /// ClickHouse HTTP URL.
    #[arg(
        long,
        global = true,
        env = "FAIRTRUNK_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    clickhouse: String,
    /// Database holding the fairtrunk tables.
    #[arg(long, global = true, env = "FAIRTRUNK_CLICKHOUSE_DATABASE", default_value = cdr::store::DEFAULT_DATABASE)]
    database: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Rate a month and write its invoice lines, breaches and report.
    Run {
        /// Paris calendar month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Provisioning directory (customers, trunks, tariffs, numbers/, plans.toml, rating/).
        #[arg(long, env = "FAIRTRUNK_PROVISIONING")]
        provisioning: PathBuf,
        /// Output directory (default: var/rating/MONTH).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run a closed month anyway (its closed run stays recorded).
        #[arg(long)]
        force: bool,
        /// Folder for the temporary spill of counted calls.
        #[arg(long)]
        spill_dir: Option<PathBuf>,
    },
    /// Freeze a month on its latest complete run (or --run).
    Close {
        /// Paris calendar month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// The run to close the month on.
        #[arg(long)]
        run: Option<String>,
    },
    /// Project month-to-date counters and list trunks close to a threshold.
    Preview {
        /// Paris calendar month (default: the month of --as-of).
        #[arg(long)]
        month: Option<String>,
        /// The instant to preview at, RFC 3339 (default: now).
        #[arg(long)]
        as_of: Option<String>,
        /// Provisioning directory.
        #[arg(long, env = "FAIRTRUNK_PROVISIONING")]
        provisioning: PathBuf,
    },
    /// Print a trunk's counters, breaches, invoice lines and re-priced calls.
    Explain {
        /// The trunk id.
        #[arg(long)]
        trunk: String,
        /// Paris calendar month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// The run (default: the closed run, else the latest).
        #[arg(long)]
        run: Option<String>,
    },
    /// Validate plans.toml and the rating inputs of a provisioning directory.
    Check {
        /// Provisioning directory.
        #[arg(long, env = "FAIRTRUNK_PROVISIONING")]
        provisioning: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // RUST_LOG=rating=info shows the phases of a run and their durations.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let config = ClickhouseConfig::new(&cli.clickhouse).with_database(&cli.database);
    match execute(cli.command, config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rating: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn month_arg(text: &str) -> Result<BillingMonth> {
    text.parse::<BillingMonth>()
        .map_err(anyhow::Error::msg)
        .context("--month")
}

async fn execute(command: Command, config: ClickhouseConfig) -> Result<ExitCode> {
    match command {
        Command::Run {
            month,
            provisioning,
            out,
            force,
            spill_dir,
        } => {
            let month = month_arg(&month)?;
            let options = RunOptions {
                month,
                out_dir: out.unwrap_or_else(|| PathBuf::from(format!("var/rating/{month}"))),
                provisioning_dir: provisioning,
                clickhouse: config,
                force,
                spill_dir,
            };
            match rating::run::run(&options).await {
                Ok(summary) => Ok(print_run(&summary)),
                Err(RunError::Inputs(errors)) => {
                    eprintln!("{errors}");
                    eprintln!(
                        "rating: the inputs have {} problem(s); nothing was rated",
                        errors.len()
                    );
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Close { month, run } => {
            let month = month_arg(&month)?;
            match rating::run::close(&config, month, run.as_deref()).await {
                Ok(row) => {
                    outln!(
                        "{} closed on run {} (outputs {})",
                        row.month,
                        row.run_id,
                        row.outputs_digest
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(RunError::Refused(why)) => {
                    eprintln!("rating: {why}");
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Preview {
            month,
            as_of,
            provisioning,
        } => {
            let as_of = match as_of {
                Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
                    .with_context(|| {
                        format!("--as-of {t:?} is not RFC 3339 (e.g. 2026-10-20T12:00:00+02:00)")
                    })?
                    .with_timezone(&chrono::Utc),
                None => chrono::Utc::now(),
            };
            let month = match month {
                Some(m) => month_arg(&m)?,
                None => BillingMonth::of_instant(as_of),
            };
            let inputs = match Inputs::load(&provisioning) {
                Ok(i) => i,
                Err(errors) => {
                    eprintln!("{errors}");
                    return Ok(ExitCode::from(1));
                }
            };
            let p = rating::preview::preview(&inputs, month, as_of, &config, None).await?;
            outln!(
                "{} at {}: {} % of the month elapsed, {} trunk(s); warning at {} % of a threshold",
                p.month,
                rating::month::format_paris(p.as_of),
                (p.elapsed * rust_decimal::Decimal::from(100)).round_dp(2),
                p.trunks,
                inputs.settings.preview_warning_percent
            );
            if p.warnings.is_empty() {
                outln!("no trunk is projected above the warning share");
            }
            for w in &p.warnings {
                outln!(
                    "  {:<28} {:<16} {:<17}{} month to date {}, projected {} / threshold {} ({} %)",
                    w.trunk_id,
                    w.customer_id,
                    w.rule,
                    if w.subject.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", w.subject)
                    },
                    w.measured,
                    w.projected,
                    w.threshold,
                    w.percent
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { trunk, month, run } => {
            let month = month_arg(&month)?;
            match rating::explain::explain(&config, &trunk, month, run.as_deref()).await {
                Ok(text) => {
                    use std::io::Write;
                    let _ = write!(std::io::stdout(), "{text}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(RunError::Refused(why)) => {
                    eprintln!("rating: {why}");
                    Ok(ExitCode::from(1))
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Check { provisioning } => match Inputs::load(&provisioning) {
            Ok(inputs) => {
                outln!(
                    "ok: {} plan(s), {} confirmed shared service(s), {} SLA incident(s); settings {}",
                    inputs.settings.plans.len(),
                    inputs.settings.shared_service.len(),
                    inputs.incidents.incidents.len(),
                    inputs.fingerprints.settings
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprintln!("{errors}");
                Ok(ExitCode::from(1))
            }
        },
    }
}

fn print_run(summary: &RunSummary) -> ExitCode {
    let r = &summary.rating;
    if let Some(closed) = &summary.closed_run {
        if summary.differences.is_empty() {
            outln!(
                "{} is closed on run {closed}: this run gives the same invoice lines and breaches",
                r.month
            );
        } else {
            outln!("{} is closed on run {closed}; differences:", r.month);
            for d in &summary.differences {
                outln!("  {d}");
            }
        }
        if summary.refused {
            eprintln!(
                "rating: {} is closed: nothing written (use --force to record a new run)",
                r.month
            );
            return ExitCode::from(1);
        }
    }
    outln!(
        "run {}: {} call records read, {} trunks, {} rated calls stored",
        summary.run_id,
        r.calls_read,
        r.outcomes.len(),
        r.rated_written
    );
    outln!("breaches and flags:");
    if r.breaches.is_empty() {
        outln!("  none");
    }
    for b in &r.breaches {
        outln!(
            "  {:<28} {:<22}{} {} {} / threshold {}{} → {} call(s) re-priced, {}",
            b.trunk_id,
            b.rule.as_str(),
            if b.subject.is_empty() {
                String::new()
            } else {
                format!(" {}", b.subject)
            },
            if b.billed { "billed" } else { "REVIEW" },
            b.measured.normalize(),
            b.threshold,
            b.crossed_at_ms
                .map(|t| format!(", crossed {}", rating::month::format_paris_ms(t)))
                .unwrap_or_default(),
            b.repriced_calls,
            b.repriced_amount.normalize()
        );
    }
    outln!("invoices:");
    for i in &r.invoices {
        outln!(
            "  {:<20} {:>3} line(s) {:>12} {}",
            i.customer_id,
            i.lines.len(),
            i.total,
            i.currency
        );
    }
    if !r.unmatched.is_empty() {
        outln!(
            "warning: {} call(s) could not be priced: see unmatched.csv",
            r.unmatched.len()
        );
    }
    for f in &summary.files {
        outln!("wrote {}", f.display());
    }
    ExitCode::SUCCESS
}
