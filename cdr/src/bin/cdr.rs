//! `cdr`: operate the call-record store from the command line.
//!
//! - `cdr migrate` creates or upgrades the schema (idempotent).
//! - `cdr write --spool DIR [FILE]` writes JSON-lines call records (the spool's and
//!   `rejected.jsonl`'s `record` format) through the no-loss writer and prints one line
//!   per record once it is durable: `<key> delivered|spooled|set_aside`.
//! - `cdr summary` prints the per-trunk, per-month view.

use anyhow::{Context, Result};
use cdr::reader::CallReader;
use cdr::schema::{migrate, CDR_MIGRATIONS};
use cdr::{Accepted, CallRecord, CallRecordWriter, ClickhouseConfig, WriterConfig};
use clap::{Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "Operate the fairtrunk call-record store (ClickHouse + spool)"
)]
struct Cli {
    /// ClickHouse HTTP URL.
    #[arg(
        long,
        env = "FAIRTRUNK_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    clickhouse: String,
    /// Database holding the fairtrunk tables.
    #[arg(long, env = "FAIRTRUNK_CLICKHOUSE_DATABASE", default_value = cdr::store::DEFAULT_DATABASE)]
    database: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the schema; safe to run any number of times.
    Migrate,
    /// Write JSON-lines call records through the no-loss writer.
    Write {
        /// Spool folder (created if missing); what an earlier run left is replayed.
        #[arg(long)]
        spool: PathBuf,
        /// Input file; standard input when absent or `-`.
        file: Option<PathBuf>,
        /// Largest batch, in records.
        #[arg(long, default_value_t = 5000)]
        batch_max_records: usize,
        /// Longest a record waits for its batch, in milliseconds.
        #[arg(long, default_value_t = 200)]
        batch_max_delay_ms: u64,
        /// How long to keep replaying the spool at the end, in seconds.
        #[arg(long, default_value_t = 10)]
        drain_secs: u64,
    },
    /// Print calls per trunk and Paris month (deduplicated).
    Summary,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let store = ClickhouseConfig::new(&cli.clickhouse).with_database(&cli.database);
    let result = match cli.command {
        Command::Migrate => run_migrate(&store).await,
        Command::Write {
            spool,
            file,
            batch_max_records,
            batch_max_delay_ms,
            drain_secs,
        } => {
            let mut config = WriterConfig::new(spool);
            config.batch_max_records = batch_max_records;
            config.batch_max_delay = Duration::from_millis(batch_max_delay_ms);
            run_write(&store, config, file, Duration::from_secs(drain_secs)).await
        }
        Command::Summary => run_summary(&store).await,
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("cdr: {e:#}");
            std::process::exit(2);
        }
    }
}

async fn run_migrate(store: &ClickhouseConfig) -> Result<bool> {
    let report = migrate(store, &[CDR_MIGRATIONS])
        .await
        .with_context(|| format!("migrating database {} on {}", store.database, store.url))?;
    println!(
        "migrations: {} applied now ({}), {} already in place",
        report.applied.len(),
        report.applied.join(", "),
        report.already_applied
    );
    Ok(true)
}

async fn run_write(
    store: &ClickhouseConfig,
    config: WriterConfig,
    file: Option<PathBuf>,
    drain: Duration,
) -> Result<bool> {
    let spool_dir = config.spool_dir.clone();
    let (writer, running, recovered) = CallRecordWriter::start(store, config)
        .with_context(|| format!("opening the spool in {}", spool_dir.display()))?;
    if recovered.pending_records > 0 {
        eprintln!(
            "cdr: replaying {} record(s) left in the spool by an earlier run",
            recovered.pending_records
        );
    }
    let input: Box<dyn BufRead + Send> = match &file {
        Some(path) if path.as_os_str() != "-" => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        _ => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let source_name = file
        .as_ref()
        .map_or("stdin".to_string(), |p| p.display().to_string());

    // Lines are read on a blocking thread; acks are printed in submission order.
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::channel::<(usize, String)>(10_000);
    let reader = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        for (index, line) in input.lines().enumerate() {
            if lines_tx.blocking_send((index + 1, line?)).is_err() {
                break;
            }
        }
        Ok(())
    });
    let (acks_tx, mut acks_rx) = tokio::sync::mpsc::channel(100_000);
    let printer = tokio::spawn(async move {
        let mut failed = 0usize;
        let stdout = std::io::stdout();
        while let Some((key, ack)) = acks_rx.recv().await {
            let ack: cdr::writer::Ack = ack;
            let word = match ack.await {
                Ok(Accepted::Delivered) => "delivered",
                Ok(Accepted::Spooled) => "spooled",
                Ok(Accepted::SetAside { .. }) => "set_aside",
                Err(e) => {
                    eprintln!("cdr: record {key} is not durable: {e}");
                    failed += 1;
                    continue;
                }
            };
            let mut out = stdout.lock();
            let _ = writeln!(out, "{key} {word}");
            let _ = out.flush();
        }
        failed
    });

    let mut bad_lines = 0usize;
    while let Some((line_number, line)) = lines_rx.recv().await {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<CallRecord>(&line) {
            Ok(record) => {
                let key = record.key.clone();
                let ack = writer.submit(record).await?;
                acks_tx.send((key, ack)).await?;
            }
            Err(e) => {
                bad_lines += 1;
                eprintln!("cdr: {source_name}:{line_number}: not a call record: {e}");
            }
        }
    }
    reader
        .await?
        .with_context(|| format!("reading {source_name}"))?;
    drop(acks_tx);
    let failed = printer.await?;
    drop(writer);
    let stats = running.shutdown(drain).await;
    eprintln!(
        "cdr: written {} directly, {} spooled, {} replayed, {} set aside, {} still in the spool; {} bad line(s)",
        stats.written, stats.spooled, stats.replayed, stats.rejected, stats.spool_pending, bad_lines
    );
    Ok(failed == 0 && bad_lines == 0)
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct MonthRow {
    month: String,
    trunk_id: String,
    attempts: u64,
    answered: u64,
    rejected_no_channel: u64,
    answered_minutes: f64,
    distinct_destinations: u64,
}

async fn run_summary(store: &ClickhouseConfig) -> Result<bool> {
    let rows: Vec<MonthRow> = store
        .client()
        .query(
            "SELECT toString(month), trunk_id, attempts, answered, rejected_no_channel, \
             answered_minutes, distinct_destinations \
             FROM calls_per_trunk_month ORDER BY month, trunk_id",
        )
        .fetch_all()
        .await
        .with_context(|| format!("reading calls_per_trunk_month on {}", store.url))?;
    println!(
        "{:<10} {:<26} {:>8} {:>8} {:>10} {:>12} {:>12}",
        "month", "trunk", "attempts", "answered", "no_channel", "minutes", "destinations"
    );
    for r in &rows {
        println!(
            "{:<10} {:<26} {:>8} {:>8} {:>10} {:>12.1} {:>12}",
            r.month,
            r.trunk_id,
            r.attempts,
            r.answered,
            r.rejected_no_channel,
            r.answered_minutes,
            r.distinct_destinations
        );
    }
    let totals = CallReader::new(store)
        .totals(0, u64::MAX)
        .await
        .map_err(anyhow::Error::msg)?;
    println!(
        "total: {} attempts, {} answered, {:.1} answered minutes, {} refused for lack of a channel",
        totals.attempts,
        totals.answered,
        totals.billable_ms as f64 / 60_000.0,
        totals.rejected_no_channel
    );
    Ok(true)
}
