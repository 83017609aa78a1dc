//! `cdr-import`: load foreign call records into ClickHouse, export call records as
//! CSV, and reconcile Teams logs with the edge's records. Reference: the project
//! README, section `cdr-import`.
//!
//! Exit codes: 0 success; 1 the run finished but needs attention (rejects over
//! `--max-reject`, a file that could not be read, records set aside or left in the
//! spool, double-counted calls found by `reconcile`, a run stopped early by a signal
//! or by ClickHouse not answering); 2 nothing was done (bad arguments, mapping or
//! provisioning errors, ClickHouse unreachable at the start or without the schema).

use anyhow::{anyhow, Context, Result};
use cdr::reader::CallReader;
use cdr::ClickhouseConfig;
use cdr_import::edge_csv::EdgeCsvWriter;
use cdr_import::import::{self, ImportSettings};
use cdr_import::progress::Mode;
use cdr_import::read::Format;
use cdr_import::reconcile::{self, ReconcileSettings};
use cdr_import::summary::{MaxReject, DEFAULT_MAX_REJECT};
use clap::{Args, Parser, Subcommand};
use provisioning::Provisioning;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`. The sys crate leaves it out of its constants;
/// in mimalloc's option enum (v2 and v3, `mimalloc.h`) it comes right before
/// `mi_option_use_numa_nodes`, which the sys crate exports (a test checks).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells the allocator to keep the memory the run frees instead of handing it back
/// to the system after 10 ms: an import frees and allocates batches of records and
/// insert buffers (megabytes each) all along, and the pages handed back were each
/// faulted in and zeroed again by the next batch. On 2 million rows: minor page faults
/// from 37,000-57,000 (4 KiB and 2 MiB pages) to about 700, and less system CPU; the
/// process's memory stays at its peak, which does not grow with the file. Called
/// before any other thread starts (the setting is not synchronised).
fn keep_freed_memory() {
    // SAFETY: sets a process-wide allocator option (a plain integer) while this is
    // the only thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[derive(Parser)]
#[command(
    version,
    about = "Load call records from Teams Direct Routing logs, edge CSV exports and other switches' CSV into ClickHouse",
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    import: ImportArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct Common {
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
    /// Provisioning directory (trunks, customers).
    #[arg(
        long,
        global = true,
        env = "FAIRTRUNK_PROVISIONING",
        default_value = "provisioning"
    )]
    provisioning: PathBuf,
    /// Spool folder of the no-loss writer; records left by an earlier run are replayed.
    #[arg(
        long,
        global = true,
        env = "FAIRTRUNK_IMPORT_SPOOL",
        default_value = "cdr-import-spool"
    )]
    spool: PathBuf,
}

#[derive(Args)]
struct ImportArgs {
    /// Input format: teams-json, teams-csv, edge-csv or mapping:FILE.
    #[arg(long, required = true)]
    format: Option<String>,
    /// Validate, count duplicates and matches, write reject files; write no record.
    #[arg(long)]
    dry_run: bool,
    /// Exit code 1 when more rows than this are rejected: a number of rows, or a
    /// percentage of the rows read.
    #[arg(long, default_value = DEFAULT_MAX_REJECT)]
    max_reject: String,
    /// Folder for reject files (`<input>.rejects.<ext>`).
    #[arg(long, default_value = ".")]
    reject_dir: PathBuf,
    /// Largest difference between a stated duration and answer-to-end before the
    /// duration is recomputed from the times (with a note).
    #[arg(long, default_value_t = 2.0)]
    duration_tolerance_secs: f64,
    /// Largest difference between the INVITE times of a Teams row and the edge record
    /// it matches.
    #[arg(long, default_value_t = 5.0)]
    match_tolerance_secs: f64,
    /// Progress display.
    #[arg(long, value_enum, default_value = "auto")]
    progress: Mode,
    /// Threads validating CSV rows (default: one per CPU; 1 validates on the reading
    /// thread).
    #[arg(long)]
    workers: Option<usize>,
    /// Records per insert: larger inserts leave fewer parts for ClickHouse to merge
    /// (less ClickHouse CPU on large files), and hold more records in memory until
    /// they are durable (two inserts in flight).
    #[arg(long, default_value_t = cdr_import::import::WRITER_BATCH_RECORDS)]
    insert_records: usize,
    /// Files or folders (every file inside, recursively); `.gz` files are decompressed.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Write a Paris month of call records as edge CSV (`--format edge-csv` reads it back).
    Export {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Only this trunk.
        #[arg(long)]
        trunk: Option<String>,
        /// Output file (`.gz` compresses); standard output when absent.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Compare a Paris month's Teams logs with the edge's records.
    Reconcile {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Largest difference between the INVITE times of a Teams row and its edge record.
        #[arg(long, default_value_t = 5.0)]
        match_tolerance_secs: f64,
        /// Largest difference between Teams' and the edge's durations.
        #[arg(long, default_value_t = 2.0)]
        duration_tolerance_secs: f64,
        /// Samples listed per kind of mismatch.
        #[arg(long, default_value_t = 5)]
        samples: usize,
        /// Fix double-counted calls: enrich the edge record, delete the Teams copy.
        #[arg(long)]
        apply: bool,
    },
}

fn main() {
    keep_freed_memory();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("cdr-import: cannot start the async runtime: {e}");
            std::process::exit(2);
        });
    runtime.block_on(run());
}

async fn run() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Export {
            month,
            trunk,
            output,
        }) => export(&cli.common, &month, trunk.as_deref(), output.as_deref()).await,
        Some(Command::Reconcile {
            month,
            match_tolerance_secs,
            duration_tolerance_secs,
            samples,
            apply,
        }) => {
            reconcile_month(
                &cli.common,
                &month,
                match_tolerance_secs,
                duration_tolerance_secs,
                samples,
                apply,
            )
            .await
        }
        None => run_import(&cli.common, cli.import).await,
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("cdr-import: {e:#}");
            std::process::exit(2);
        }
    }
}

fn store(common: &Common) -> ClickhouseConfig {
    ClickhouseConfig::new(&common.clickhouse).with_database(&common.database)
}

fn load_provisioning(dir: &Path) -> Result<Provisioning> {
    Provisioning::load(dir)
        .map_err(|errors| anyhow!("provisioning in {} is not valid:\n{errors}", dir.display()))
}

fn millis(secs: f64, flag: &str) -> Result<u64> {
    if secs.is_finite() && secs >= 0.0 {
        Ok((secs * 1000.0).round() as u64)
    } else {
        Err(anyhow!(
            "{flag} {secs} must be a non-negative number of seconds"
        ))
    }
}

fn month(text: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .with_context(|| format!("--month {text:?} is not YYYY-MM"))
}

async fn run_import(common: &Common, args: ImportArgs) -> Result<bool> {
    let format_text = args.format.clone().unwrap_or_default();
    let format = Format::parse(&format_text).map_err(|e| anyhow!(e))?;
    let max_reject = MaxReject::parse(&args.max_reject).map_err(|e| anyhow!(e))?;
    let provisioning = Arc::new(load_provisioning(&common.provisioning)?);
    let mut store = Some(store(common));
    if args.dry_run {
        if let Some(s) = &store {
            if let Err(e) = s.healthcheck(Duration::from_secs(3)).await {
                eprintln!("cdr-import: ClickHouse not reachable ({e}): the dry run checks rows only, not duplicates or edge matches");
                store = None;
            }
        }
    }
    let mut settings = ImportSettings::new(format, provisioning, store);
    settings.dry_run = args.dry_run;
    settings.spool_dir = common.spool.clone();
    settings.reject_dir = args.reject_dir;
    settings.duration_tolerance_ms =
        millis(args.duration_tolerance_secs, "--duration-tolerance-secs")?;
    settings.match_tolerance_ms = millis(args.match_tolerance_secs, "--match-tolerance-secs")?;
    settings.progress = args.progress;
    if args.insert_records == 0 {
        return Err(anyhow!("--insert-records must be at least 1"));
    }
    settings.insert_records = args.insert_records;
    if let Some(workers) = args.workers {
        if workers == 0 {
            return Err(anyhow!("--workers must be at least 1"));
        }
        settings.workers = workers;
    }
    stop_on_signals(&settings.stop);
    let report = import::run(settings, args.files)
        .await
        .map_err(|e| anyhow!(e))?;

    let mut ok = true;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let verb = if args.dry_run {
        "dry run, nothing written: "
    } else {
        ""
    };
    for file in &report.files {
        writeln!(out, "{}: {verb}{}", file.path.display(), file.counts)?;
        if let Some(rejects) = &file.reject_file {
            writeln!(out, "    rejected rows: {}", rejects.display())?;
        }
        if let Some(error) = &file.error {
            writeln!(out, "    not read to the end: {error}")?;
            ok = false;
        }
        if let Some(warning) = &file.warning {
            writeln!(out, "    warning: {warning}")?;
        }
    }
    let total = &report.total;
    writeln!(out, "total ({} files): {verb}{total}", report.files.len())?;
    if !args.dry_run {
        writeln!(
            out,
            "written: {} delivered to ClickHouse, {} spooled, {} set aside",
            total.delivered, total.spooled, total.set_aside
        )?;
    }
    if !report.checked_against_clickhouse {
        writeln!(
            out,
            "duplicates and edge matches were not checked (no ClickHouse)"
        )?;
    }
    if total.set_aside > 0 {
        writeln!(
            out,
            "{} records were set aside: see {}/rejected.jsonl",
            total.set_aside,
            common.spool.display()
        )?;
        ok = false;
    }
    if report.spool_pending > 0 {
        writeln!(
            out,
            "{} records wait in the spool {} (ClickHouse unreachable): run cdr-import again with the same --spool to deliver them",
            report.spool_pending,
            common.spool.display()
        )?;
        ok = false;
    }
    if let Some(reason) = &report.stopped {
        writeln!(
            out,
            "stopped: {reason}; the rows counted as not stored were not written: run the same import again to store them (rows already stored count as duplicates)"
        )?;
        ok = false;
    }
    if max_reject.exceeded(total.rejected_total(), total.read) {
        writeln!(
            out,
            "rejected rows ({}) exceed --max-reject {max_reject}",
            total.rejected_total()
        )?;
        ok = false;
    }
    Ok(ok)
}

/// The first Ctrl-C or SIGTERM stops the run gracefully (records already checked are
/// written or spooled, the summary says where it stopped); a second one exits at once.
fn stop_on_signals(stop: &import::Stop) {
    let stop = stop.clone();
    let Some(mut signals) = Termination::watch() else {
        return;
    };
    tokio::spawn(async move {
        for signal in 0.. {
            let name = signals.next().await;
            if signal > 0 {
                eprintln!("cdr-import: {name} again: quitting now");
                std::process::exit(130);
            }
            eprintln!("cdr-import: {name}: finishing the records already read; again to quit now");
            stop.request(name);
        }
    });
}

async fn export(
    common: &Common,
    month_text: &str,
    trunk: Option<&str>,
    output: Option<&Path>,
) -> Result<bool> {
    let (from, to) = reconcile::month_range(month(month_text)?).map_err(|e| anyhow!(e))?;
    let store = store(common);
    let n = match output {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let n = write_export(&store, from, to, trunk, &mut out).await?;
            out.flush()?;
            n
        }
        Some(path) => export_to_file(&store, from, to, trunk, path).await?,
    };
    eprintln!("cdr-import: exported {n} call records of {month_text}");
    Ok(true)
}

/// Ctrl-C and SIGTERM, caught from the moment they are watched (their default action,
/// ending the process at once, no longer applies).
struct Termination {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Termination {
    /// Starts watching; `None` when signals cannot be watched.
    fn watch() -> Option<Termination> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(Termination {
            interrupt: signal(SignalKind::interrupt()).ok()?,
            terminate: signal(SignalKind::terminate()).ok()?,
        })
    }

    /// The next one, by name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupted (Ctrl-C)",
            _ = self.terminate.recv() => "terminated (SIGTERM)",
        }
    }
}

/// Writes the export to a hidden `.partial` file beside `path` (gzip when `path` ends
/// in `.gz`), synced, then renamed to `path`: a failed or interrupted export
/// (ClickHouse gone mid-way, a full disk, Ctrl-C) leaves no file that looks whole,
/// only the error.
async fn export_to_file(
    store: &ClickhouseConfig,
    from: u64,
    to: u64,
    trunk: Option<&str>,
    path: &Path,
) -> Result<u64> {
    let name = path
        .file_name()
        .with_context(|| format!("--output {} names no file", path.display()))?;
    let partial = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    // Watched before the file exists, so that no signal ends the process with it.
    let mut signals = Termination::watch();
    let writing = async {
        let file = std::io::BufWriter::new(
            std::fs::File::create(&partial)
                .with_context(|| format!("creating {}", partial.display()))?,
        );
        let (n, file) = if path.extension().is_some_and(|e| e == "gz") {
            let mut gzip = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            let n = write_export(store, from, to, trunk, &mut gzip).await?;
            (n, gzip.finish()?)
        } else {
            let mut file = file;
            let n = write_export(store, from, to, trunk, &mut file).await?;
            (n, file)
        };
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, path)
            .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
        Ok::<u64, anyhow::Error>(n)
    };
    let interrupted = async {
        match signals.as_mut() {
            Some(signals) => signals.next().await,
            None => std::future::pending().await,
        }
    };
    let written = tokio::select! {
        written = writing => written,
        name = interrupted => Err(anyhow!("{name}")),
    };
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.with_context(|| format!("nothing written to {}", path.display()))
}

async fn write_export<W: Write>(
    store: &ClickhouseConfig,
    from: u64,
    to: u64,
    trunk: Option<&str>,
    out: W,
) -> Result<u64> {
    let mut writer = EdgeCsvWriter::new(out).context("writing the header")?;
    let mut stream = CallReader::new(store)
        .calls(from, to, trunk)
        .map_err(|e| anyhow!(e))?;
    let mut n = 0u64;
    while let Some(record) = stream
        .next()
        .await
        .map_err(|e| anyhow!("reading call records: {e}"))?
    {
        writer.write(&record).context("writing a record")?;
        n += 1;
    }
    writer.finish().map_err(|e| anyhow!(e))?;
    Ok(n)
}

async fn reconcile_month(
    common: &Common,
    month_text: &str,
    match_tolerance_secs: f64,
    duration_tolerance_secs: f64,
    samples: usize,
    apply: bool,
) -> Result<bool> {
    let provisioning = load_provisioning(&common.provisioning)?;
    let settings = ReconcileSettings {
        month: month(month_text)?,
        match_tolerance_ms: millis(match_tolerance_secs, "--match-tolerance-secs")?,
        duration_tolerance_ms: millis(duration_tolerance_secs, "--duration-tolerance-secs")?,
        samples,
    };
    let store = store(common);
    let report = reconcile::reconcile(&store, &provisioning, &settings)
        .await
        .map_err(|e| anyhow!(e))?;
    print!("{}", report.render(&settings));
    if report.double_counted_pairs.is_empty() {
        return Ok(true);
    }
    if apply {
        reconcile::apply(&store, &common.spool, &report.double_counted_pairs)
            .await
            .map_err(|e| anyhow!(e))?;
        println!(
            "fixed {} double-counted calls: edge records enriched, Teams copies deleted",
            report.double_counted_pairs.len()
        );
        Ok(true)
    } else {
        println!("run again with --apply to enrich the edge records and delete the Teams copies");
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_comes_right_before_use_numa_nodes() {
        assert_eq!(
            libmimalloc_sys::mi_option_use_numa_nodes - 1,
            MI_OPTION_PURGE_DELAY
        );
        keep_freed_memory();
        // SAFETY: reads an allocator option.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            -1
        );
    }
}
