//! An import run: files are read on a blocking thread (CSV rows validated by worker
//! threads and taken back in file order, see [`crate::read`]; rejects), batches of
//! valid records go to the async side, which counts duplicates, matches Teams rows with
//! edge records, and submits each batch to the no-loss writer for one acknowledgement;
//! a third task awaits those acknowledgements. The writer inserts batches of
//! [`WRITER_BATCH_RECORDS`], two at a time. Memory stays bounded: a few chunks per
//! validation worker, a bounded channel of batches, the writer's queue (bounded in
//! records, inserts in flight included), and a window of recently seen keys.
//!
//! Duplicates (the summary's count) are rows whose key is already stored (at the
//! row's revision or a later one: an `edge-csv` row of a later revision replaces the
//! stored record, noted `replaced_older_revision`), or was
//! seen earlier in the run, and they are not written again (ClickHouse would collapse
//! them anyway). Stored keys are looked up per batch, only for the rows of UTC days
//! in which ClickHouse holds rows of the same source that were inserted before the run
//! started (at or before the server's clock second when it started; the run waits for
//! the next second before writing): importing a new month costs one cheap `count()` per batch, not a scan of
//! the table. Keys seen in the run are remembered in a window of the last
//! 2 × [`RECENT_KEYS`] rows: a repeated row farther apart than that in one run is
//! still stored once, but counted as imported.
//!
//! A run stops early when asked to ([`Stop`]: Ctrl-C, SIGTERM) or when ClickHouse does
//! not answer the run's checks (stored keys, edge records to match) within
//! [`ImportSettings::check_patience`]: ClickHouse restarting or a dropped connection is
//! ridden through, retrying. A stopped run leaves its file at the next read buffer,
//! writes the records it had checked, counts the rows it read but did not check as
//! `not_stored`, and says why in [`ImportReport::stopped`]; running the same import
//! again stores the rest (the rows already stored count as duplicates).

use crate::draft::Checks;
use crate::input;
use crate::matching::{self, Candidates};
use crate::read::{self, Format, ReadContext, Row};
use crate::summary::{Counts, FileSummary};
use cdr::reader::CallReader;
use cdr::writer::BatchAck;
use cdr::{CallKey, CallRecord, CallRecordWriter, ClickhouseConfig, WriterConfig};
use provisioning::Provisioning;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Keys per generation of the in-run duplicate window, at least (262,144, about
/// 10 MB): the window always covers more rows than can be in flight between reading
/// and ClickHouse, the writer's two inserts plus the batches on their way, so a run
/// widens it to three inserts when `--insert-records` asks for more.
pub const RECENT_KEYS: usize = 1 << 18;

/// Records per insert. Measured on 2 million rows (2 cores, ClickHouse 18.16):
/// 100,000 instead of 50,000 costs ClickHouse about 30 % less CPU (half the parts to
/// merge) and the run 100 MB more memory (about 340 MB); 200,000 and more saved
/// little more ClickHouse CPU and cost more memory and page faults.
pub const WRITER_BATCH_RECORDS: usize = 100_000;

/// Settings of an import run.
#[derive(Clone)]
pub struct ImportSettings {
    /// Input format.
    pub format: Format,
    /// Trunks, customers, identifiers.
    pub provisioning: Arc<Provisioning>,
    /// Where records go; `None` when ClickHouse is not used (dry run without a
    /// reachable server): duplicates and edge matches are then not checked.
    pub store: Option<ClickhouseConfig>,
    /// Validate and count only; write nothing to ClickHouse.
    pub dry_run: bool,
    /// The writer's spool folder.
    pub spool_dir: PathBuf,
    /// Folder of reject files.
    pub reject_dir: PathBuf,
    /// How far a stated duration may be from the times' one.
    pub duration_tolerance_ms: u64,
    /// How far a Teams row's INVITE may be from its edge record's.
    pub match_tolerance_ms: u64,
    /// Records per batch.
    pub batch_records: usize,
    /// Refused rows printed per file (all go to the reject file).
    pub messages_per_file: u64,
    /// How long to wait at the end for spooled records to reach ClickHouse.
    pub drain: Duration,
    /// Progress display.
    pub progress: crate::progress::Mode,
    /// Threads validating CSV rows (1: the reading thread validates them itself).
    pub workers: usize,
    /// Records per insert ([`WRITER_BATCH_RECORDS`]): larger inserts leave fewer parts
    /// for ClickHouse to merge, at the cost of more records held until durable.
    pub insert_records: usize,
    /// Longest wait for one answer to a check (stored keys, edge records), and for the
    /// server's clock at the start.
    pub check_timeout: Duration,
    /// How long a batch's check is tried again after failures before the run stops.
    pub check_patience: Duration,
    /// Longest wait for ClickHouse to take one insert before the writer spools it.
    pub insert_timeout: Duration,
    /// Set to stop the run early.
    pub stop: Stop,
}

/// A request to stop a run early, shared between the run and whoever may ask (a signal
/// handler); the first reason given is kept.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    requested: Arc<AtomicBool>,
    reason: Arc<Mutex<Option<String>>>,
}

impl Stop {
    /// Asks the run to stop, for `reason` (kept unless a reason was given before).
    pub fn request(&self, reason: impl Into<String>) {
        let mut kept = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if kept.is_none() {
            *kept = Some(reason.into());
        }
        self.requested.store(true, Ordering::Relaxed);
    }

    /// True once a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// The flag input files watch: see [`input::open`].
    fn flag(&self) -> Arc<AtomicBool> {
        self.requested.clone()
    }

    /// Why the run was stopped, if it was.
    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ImportSettings {
    /// Defaults for `format`: tolerances 2 s (duration) and 5 s (matching), batches of
    /// 5,000, 100 messages per file, 30 s drain, rejects in the current folder; checks
    /// answered within 30 s and tried again for 60 s (a ClickHouse restart takes a few
    /// seconds); inserts taken within 60 s (100,000 records), else spooled.
    pub fn new(
        format: Format,
        provisioning: Arc<Provisioning>,
        store: Option<ClickhouseConfig>,
    ) -> Self {
        ImportSettings {
            format,
            provisioning,
            store,
            dry_run: false,
            spool_dir: PathBuf::from("cdr-import-spool"),
            reject_dir: PathBuf::from("."),
            duration_tolerance_ms: 2_000,
            match_tolerance_ms: 5_000,
            batch_records: 5_000,
            messages_per_file: 100,
            drain: Duration::from_secs(30),
            progress: crate::progress::Mode::None,
            workers: default_workers(),
            insert_records: WRITER_BATCH_RECORDS,
            check_timeout: Duration::from_secs(30),
            check_patience: Duration::from_secs(60),
            insert_timeout: Duration::from_secs(60),
            stop: Stop::default(),
        }
    }
}

/// One validation thread per CPU.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What a run did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Per input file, in order.
    pub files: Vec<FileSummary>,
    /// Sum over the files.
    pub total: Counts,
    /// Records still in the spool at the end (delivered by the next run on it).
    pub spool_pending: u64,
    /// False when ClickHouse was not consulted (dry run without a server).
    pub checked_against_clickhouse: bool,
    /// Why the run stopped before reading every file, if it did.
    pub stopped: Option<String>,
}

enum Message {
    Start {
        file: usize,
        path: PathBuf,
    },
    Batch {
        file: usize,
        records: Vec<CallRecord>,
    },
    Done {
        file: usize,
        counts: Counts,
        end: read::FileEnd,
    },
}

/// Keys are already uniform hashes: their low 64 bits are a perfect hash.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Key (its bits) → the highest revision of it seen.
type KeyRevisions = HashMap<u128, u32, std::hash::BuildHasherDefault<KeyHasher>>;

/// What the recent window knew of a record.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Its key was not seen.
    New,
    /// Its key was seen at an earlier revision only: this one replaces it.
    LaterRevision,
    /// Seen at this revision or a later one: a duplicate.
    Again,
}

/// Two generations of recently seen keys (see the module doc), with the highest
/// revision seen of each.
struct RecentKeys {
    current: KeyRevisions,
    previous: KeyRevisions,
    generation: usize,
}

impl RecentKeys {
    /// A window whose generations hold `generation` keys.
    fn new(generation: usize) -> Self {
        let generation = generation.max(1);
        RecentKeys {
            current: KeyRevisions::with_capacity_and_hasher(generation, Default::default()),
            previous: KeyRevisions::with_capacity_and_hasher(generation, Default::default()),
            generation,
        }
    }

    /// Remembers the record's key at its revision (unless a later one was seen) and
    /// says what was known of it.
    fn see(&mut self, key: &CallKey, revision: u32) -> Seen {
        let bits = key.bits();
        let known = self
            .current
            .get(&bits)
            .or_else(|| self.previous.get(&bits))
            .copied();
        if known.is_some_and(|seen| seen >= revision) {
            return Seen::Again;
        }
        self.current.insert(bits, revision);
        if self.current.len() >= self.generation {
            // The older generation's table, emptied, becomes the current one: no
            // table grows again from nothing.
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.clear();
        }
        if known.is_some() {
            Seen::LaterRevision
        } else {
            Seen::New
        }
    }
}

/// Runs an import of `files` (directories expanded).
///
/// # Errors
/// Problems that stop the whole run: no file, ClickHouse without the schema, the
/// spool folder unusable. Problems of one file or row are in the report.
pub async fn run(settings: ImportSettings, files: Vec<PathBuf>) -> Result<ImportReport, String> {
    let files = input::expand(&files)?;
    if files.is_empty() {
        return Err("no input file (the folders given hold none)".into());
    }
    let run_started_secs = match &settings.store {
        Some(store) => Some(run_start(store, !settings.dry_run, settings.check_timeout).await?),
        None => None,
    };
    let (writer, running) = match (&settings.store, settings.dry_run) {
        (Some(store), false) => {
            let (writer, running, recovered) =
                CallRecordWriter::start(store, writer_config(&settings)).map_err(|e| {
                    format!(
                        "cannot open the spool {}: {e}",
                        settings.spool_dir.display()
                    )
                })?;
            if recovered.pending_records > 0 {
                tracing::info!(
                    records = recovered.pending_records,
                    "Replaying records an earlier run left in the spool."
                );
            }
            (Some(writer), Some(running))
        }
        _ => (None, None),
    };

    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let rows_read = Arc::new(AtomicU64::new(0));
    let bytes_read = Arc::new(AtomicU64::new(0));
    let progress = crate::progress::Progress::start(
        settings.progress,
        total_bytes,
        rows_read.clone(),
        bytes_read.clone(),
    );

    let (tx, mut rx) = mpsc::channel::<Message>(4);
    let reader = {
        let settings = settings.clone();
        let files = files.clone();
        let rows_read = rows_read.clone();
        let bytes_read = bytes_read.clone();
        let progress = progress.clone();
        tokio::task::spawn_blocking(move || {
            read_all(&settings, &files, &tx, &rows_read, &bytes_read, &progress)
        })
    };

    // Batches waiting for their acknowledgement; the writer's queue bounds them anyway.
    let (ack_tx, ack_rx) = mpsc::channel::<(usize, usize, BatchAck)>(64);
    let collector = tokio::spawn(collect_acks(ack_rx));

    let mut summaries: Vec<FileSummary> = files
        .iter()
        .map(|p| FileSummary {
            path: p.clone(),
            ..FileSummary::default()
        })
        .collect();
    // The window must cover every record in flight: the writer's two inserts, plus
    // what waits in the channel.
    let mut recent = RecentKeys::new(RECENT_KEYS.max(3 * settings.insert_records));
    let mut claimed: HashSet<CallKey> = HashSet::new();
    let mut prior = PriorRows::default();
    let reader_store = CallReader::new(
        settings
            .store
            .as_ref()
            .unwrap_or(&ClickhouseConfig::new("http://unused")),
    );
    let mut finished = vec![false; files.len()];
    while let Some(message) = rx.recv().await {
        match message {
            Message::Start { file, path } => progress.file(file, &path),
            Message::Done { file, counts, end } => {
                let summary = &mut summaries[file];
                summary.counts.read = counts.read;
                summary.counts.rejected = counts.rejected;
                summary.counts.notes.extend(counts.notes);
                summary.reject_file = end.reject_file;
                summary.error = end.error;
                summary.warning = end.warning;
                finished[file] = true;
            }
            Message::Batch { file, records } => {
                let batch_len = records.len() as u64;
                if settings.stop.is_requested() {
                    summaries[file].counts.not_stored += batch_len;
                    continue;
                }
                let outcome = process_batch(
                    &settings,
                    &reader_store,
                    run_started_secs,
                    records,
                    &mut recent,
                    &mut claimed,
                    &mut prior,
                )
                .await;
                let outcome = match outcome {
                    Ok(o) => o,
                    Err(e) => {
                        summaries[file].counts.not_stored += batch_len;
                        settings
                            .stop
                            .request(format!("ClickHouse did not answer: {e}"));
                        continue;
                    }
                };
                let counts = &mut summaries[file].counts;
                counts.duplicates += outcome.duplicates;
                counts.imported += outcome.imported;
                counts.enriched += outcome.enriched;
                for note in outcome.notes {
                    *counts.notes.entry(note).or_default() += 1;
                }
                if let Some(writer) = &writer {
                    let records = outcome.to_write.len();
                    let ack = writer
                        .submit_batch(outcome.to_write)
                        .await
                        .map_err(|e| format!("the writer stopped: {e}"))?;
                    if ack_tx.send((file, records, ack)).await.is_err() {
                        return Err("the acknowledgement collector stopped".into());
                    }
                }
            }
        }
    }
    drop(rx);
    drop(ack_tx);
    let _ = reader.await;
    drop(writer);
    let acks = collector.await.unwrap_or_default();
    let spool_pending = match running {
        Some(running) => running.shutdown(settings.drain).await.spool_pending,
        None => 0,
    };
    progress.finish();
    let stopped = settings.stop.reason();
    if stopped.is_some() {
        for (summary, finished) in summaries.iter_mut().zip(finished) {
            if !finished && summary.error.is_none() {
                summary.error = Some("not read: the run was stopped".into());
            }
        }
    }
    for (file, [delivered, spooled, set_aside]) in acks.into_iter().enumerate() {
        if let Some(s) = summaries.get_mut(file) {
            s.counts.delivered = delivered;
            s.counts.spooled = spooled;
            s.counts.set_aside = set_aside;
        }
    }
    let mut total = Counts::default();
    for s in &summaries {
        total.add(&s.counts);
    }
    Ok(ImportReport {
        files: summaries,
        total,
        spool_pending,
        checked_against_clickhouse: settings.store.is_some(),
        stopped,
    })
}

/// The writer's settings for an import: larger batches than the edge's (an import is
/// a stream, not live calls), so fewer inserts and fewer parts for ClickHouse to merge,
/// and two inserts in flight, so that ClickHouse stores one batch while the next
/// travels.
fn writer_config(settings: &ImportSettings) -> WriterConfig {
    let mut config = WriterConfig::new(&settings.spool_dir);
    config.batch_max_records = settings.insert_records.max(1);
    config.batch_max_delay = Duration::from_millis(500);
    config.insert_timeout = settings.insert_timeout;
    // Two inserts in flight.
    config.queue_capacity = 2 * config.batch_max_records;
    config.inserts_in_flight = 2;
    config
}

/// The second, on the server's clock, up to which stored rows are "before this run"
/// (`inserted_at <= it`). When the run writes, it first waits for the server's clock
/// to pass that second, so that none of its own rows carries it (`inserted_at` has
/// one-second resolution, and a run started right after another must still see the
/// other's rows as stored).
async fn run_start(
    store: &ClickhouseConfig,
    writes: bool,
    timeout: Duration,
) -> Result<u32, String> {
    let started = server_time(store, timeout).await?;
    if writes {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if server_time(store, timeout).await? > started {
                break;
            }
        }
    }
    Ok(started)
}

/// The server's clock, seconds; also checks the schema.
async fn server_time(store: &ClickhouseConfig, timeout: Duration) -> Result<u32, String> {
    let client = store.client();
    let teams_columns: u64 = within(
        timeout,
        client
            .query("SELECT count() FROM system.columns WHERE database = ? AND table = 'calls' AND name = 'teams_id'")
            .bind(&store.database)
            .fetch_one(),
    )
    .await
    .map_err(|e| {
        // 81 is ClickHouse's UNKNOWN_DATABASE, the same code in every version.
        if e.contains("Code: 81,") {
            format!(
                "database {} does not exist on {}: run `cdr migrate` first",
                store.database, store.url
            )
        } else {
            format!("cannot reach ClickHouse at {}: {e}", store.url)
        }
    })?;
    if teams_columns == 0 {
        return Err(format!(
            "database {} on {} has no calls table with the Teams columns: run `cdr migrate` first",
            store.database, store.url
        ));
    }
    within(
        timeout,
        client.query("SELECT toUInt32(now())").fetch_one::<u32>(),
    )
    .await
    .map_err(|e| format!("cannot reach ClickHouse at {}: {e}", store.url))
}

/// `answer`'s outcome, or an error when it takes longer than `timeout`.
async fn within<T, E: std::fmt::Display>(
    timeout: Duration,
    answer: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, answer).await {
        Ok(outcome) => outcome.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f64())),
    }
}

/// Longest pause between two attempts at a check.
const MOST_PAUSE: Duration = Duration::from_secs(5);

/// Attempts at one check: after a failure, [`Patience::wait_after`] pauses (0.25 s,
/// doubling up to [`MOST_PAUSE`]) until `check_patience` has passed since the first
/// failure, then gives the error back.
struct Patience {
    patience: Duration,
    deadline: Option<Instant>,
    pause: Duration,
}

impl Patience {
    fn new(settings: &ImportSettings) -> Self {
        Patience {
            patience: settings.check_patience,
            deadline: None,
            pause: Duration::from_millis(250),
        }
    }

    async fn wait_after(&mut self, what: &str, error: String) -> Result<(), String> {
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.patience);
        if Instant::now() + self.pause > deadline {
            return Err(format!("{what}: {error}"));
        }
        tracing::warn!(
            %error,
            retry_in_ms = self.pause.as_millis() as u64,
            "{what}: ClickHouse did not answer; trying again"
        );
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MOST_PAUSE);
        Ok(())
    }
}

fn read_all(
    settings: &ImportSettings,
    files: &[PathBuf],
    tx: &mpsc::Sender<Message>,
    rows_read: &AtomicU64,
    bytes_read: &Arc<AtomicU64>,
    progress: &crate::progress::Progress,
) {
    let checks = Checks {
        provisioning: &settings.provisioning,
        duration_tolerance_ms: settings.duration_tolerance_ms,
    };
    let reject_names = crate::rejects::RejectNames::for_inputs(files);
    for (file, path) in files.iter().enumerate() {
        if tx
            .blocking_send(Message::Start {
                file,
                path: path.clone(),
            })
            .is_err()
        {
            return;
        }
        let display = path.display().to_string();
        let mut counts = Counts::default();
        let mut batch = Vec::with_capacity(settings.batch_records);
        let mut printed = 0u64;
        let mut stopped = false;
        let end = match input::open(path, bytes_read.clone(), settings.stop.flag()) {
            Err(e) => read::FileEnd {
                reject_file: None,
                error: Some(format!("cannot open: {e}")),
                warning: None,
            },
            Ok(reader) => {
                let ctx = ReadContext {
                    format: &settings.format,
                    checks: Checks { ..checks },
                    reject_dir: &settings.reject_dir,
                    reject_names: &reject_names,
                    display: display.as_str().into(),
                    format_name: settings.format.name().into(),
                    workers: settings.workers,
                };
                let mut emit = |row: Row| {
                    counts.read += 1;
                    rows_read.fetch_add(1, Ordering::Relaxed);
                    match row {
                        Row::Record { line, record, note } => {
                            if let Some(note) = note {
                                if printed < settings.messages_per_file {
                                    progress.message(&format!(
                                        "{display}:{line}: note: {}",
                                        note.message
                                    ));
                                    printed += 1;
                                }
                                *counts.notes.entry(note.code).or_default() += 1;
                            }
                            batch.push(record);
                            if batch.len() >= settings.batch_records && !stopped {
                                let records = std::mem::replace(
                                    &mut batch,
                                    Vec::with_capacity(settings.batch_records),
                                );
                                stopped =
                                    tx.blocking_send(Message::Batch { file, records }).is_err();
                            }
                        }
                        Row::Rejected { line, error } => {
                            if printed < settings.messages_per_file {
                                progress.message(&format!("{display}:{line}: {error}"));
                                printed += 1;
                            } else if printed == settings.messages_per_file {
                                progress.message(&format!(
                                    "{display}: more rejected rows are only in the reject file"
                                ));
                                printed += 1;
                            }
                            *counts.rejected.entry(error.reason).or_default() += 1;
                        }
                    }
                };
                read::read_file(reader, path, &ctx, &mut emit)
            }
        };
        if let Some(error) = &end.error {
            progress.message(&format!("{display}: {error}"));
        }
        if !batch.is_empty()
            && tx
                .blocking_send(Message::Batch {
                    file,
                    records: batch,
                })
                .is_err()
        {
            return;
        }
        if tx
            .blocking_send(Message::Done { file, counts, end })
            .is_err()
            || stopped
        {
            return;
        }
    }
}

#[derive(Default)]
struct BatchOutcome {
    to_write: Vec<CallRecord>,
    imported: u64,
    enriched: u64,
    duplicates: u64,
    notes: Vec<&'static str>,
}

async fn process_batch(
    settings: &ImportSettings,
    reader: &CallReader,
    run_started_secs: Option<u32>,
    records: Vec<CallRecord>,
    recent: &mut RecentKeys,
    claimed: &mut HashSet<CallKey>,
    prior: &mut PriorRows,
) -> Result<BatchOutcome, String> {
    let batch_len = records.len();
    let mut outcome = BatchOutcome::default();
    let mut fresh = records;
    fresh.retain(|record| match recent.see(&record.key, record.revision) {
        Seen::New => true,
        Seen::LaterRevision => {
            outcome.notes.push("replaced_older_revision");
            true
        }
        Seen::Again => false,
    });
    outcome.duplicates = (batch_len - fresh.len()) as u64;
    if let (Some(store), Some(started)) = (&settings.store, run_started_secs) {
        let mut patience = Patience::new(settings);
        let prior_days = loop {
            let asked = prior.days_with_rows(store, &settings.format, &fresh, started);
            match within(settings.check_timeout, asked).await {
                Ok(days) => break days,
                Err(e) => patience.wait_after("checking stored rows", e).await?,
            }
        };
        let check: Vec<CallKey> = match prior_days {
            PriorDays::None => Vec::new(),
            PriorDays::All => fresh.iter().map(|r| r.key.clone()).collect(),
            PriorDays::Some(days) => fresh
                .iter()
                .filter(|r| days.contains(&(r.invite_ms / DAY_MS)))
                .map(|r| r.key.clone())
                .collect(),
        };
        if !check.is_empty() {
            let stored = loop {
                match within(settings.check_timeout, reader.stored_revisions(&check)).await {
                    Ok(stored) => break stored,
                    Err(e) => patience.wait_after("checking stored keys", e).await?,
                }
            };
            // A record is stored already when ClickHouse holds its revision or a later
            // one; a later revision (an exported record enriched since) replaces the
            // stored one.
            let before = fresh.len();
            fresh.retain(|r| match stored.get(&r.key) {
                Some(&revision) if revision >= r.revision => false,
                Some(_) => {
                    outcome.notes.push("replaced_older_revision");
                    true
                }
                None => true,
            });
            outcome.duplicates += (before - fresh.len()) as u64;
        }
        if settings.format.is_teams() && !fresh.is_empty() {
            let mut trunks: Vec<String> = fresh.iter().map(|r| r.trunk_id.clone()).collect();
            trunks.sort();
            trunks.dedup();
            let from = fresh.iter().map(|r| r.invite_ms).min().unwrap_or(0);
            let to = fresh.iter().map(|r| r.invite_ms).max().unwrap_or(0);
            let candidates = loop {
                let fetched = Candidates::fetch(
                    store,
                    trunks.clone(),
                    from.saturating_sub(settings.match_tolerance_ms),
                    to + settings.match_tolerance_ms,
                );
                match within(settings.check_timeout, fetched).await {
                    Ok(candidates) => break candidates,
                    Err(e) => patience.wait_after("matching Teams rows", e).await?,
                }
            };
            // The batch's rows are paired as a set: see `Candidates::assign`.
            let found = candidates.assign(&fresh, settings.match_tolerance_ms, claimed);
            let mut unmatched = Vec::with_capacity(fresh.len());
            for (record, found) in fresh.into_iter().zip(found) {
                match found {
                    Some(edge) if edge.teams.is_some() => outcome.duplicates += 1,
                    Some(edge) => {
                        let enriched = matching::enrich(edge, &record);
                        match matching::disagreement(
                            &enriched,
                            Some(record.answer_ms.is_some()),
                            settings.duration_tolerance_ms,
                        ) {
                            Some(matching::Disagreement::Duration) => {
                                outcome.notes.push("duration_disagrees")
                            }
                            Some(matching::Disagreement::Answered) => {
                                outcome.notes.push("answered_disagrees")
                            }
                            None => {}
                        }
                        claimed.insert(edge.key.clone());
                        outcome.enriched += 1;
                        outcome.to_write.push(enriched);
                    }
                    None => unmatched.push(record),
                }
            }
            fresh = unmatched;
        }
    }
    outcome.imported = fresh.len() as u64;
    if outcome.to_write.is_empty() {
        outcome.to_write = fresh;
    } else {
        outcome.to_write.extend(fresh);
    }
    Ok(outcome)
}

const DAY_MS: u64 = 86_400_000;

/// A batch spanning more UTC days than this is checked key by key without asking
/// which days hold earlier rows (garbage dates would make the day set large).
const MAX_DAYS_ASKED: u64 = 1_000;

/// Which UTC days of the input hold rows of this format's sources inserted before
/// the run: asked once per day, so that a month imported in time order costs about
/// one scan per day rather than one per batch.
#[derive(Default)]
struct PriorRows {
    asked: HashSet<u64>,
    with_rows: HashSet<u64>,
}

enum PriorDays {
    /// No record of the batch can be stored already.
    None,
    /// Check every record.
    All,
    /// Check the records of these days.
    Some(HashSet<u64>),
}

impl PriorRows {
    async fn days_with_rows(
        &mut self,
        store: &ClickhouseConfig,
        format: &Format,
        batch: &[CallRecord],
        started_secs: u32,
    ) -> Result<PriorDays, String> {
        let (Some(first), Some(last)) = (
            batch.iter().map(|r| r.invite_ms / DAY_MS).min(),
            batch.iter().map(|r| r.invite_ms / DAY_MS).max(),
        ) else {
            return Ok(PriorDays::None);
        };
        if last - first > MAX_DAYS_ASKED {
            return Ok(PriorDays::All);
        }
        let missing: Vec<u64> = (first..=last).filter(|d| !self.asked.contains(d)).collect();
        if let (Some(&from), Some(&to)) = (missing.first(), missing.last()) {
            let client = store.client();
            let days: Vec<u64> = match format.stored_source_names() {
                Some(names) => client
                    .query(
                        "SELECT DISTINCT intDiv(invite_ms, 86400000) FROM calls \
                         WHERE invite_ms >= ? AND invite_ms < ? \
                         AND inserted_at <= toDateTime(?) AND has(?, source_name)",
                    )
                    .bind(from * DAY_MS)
                    .bind((to + 1) * DAY_MS)
                    .bind(started_secs)
                    .bind(names),
                None => client
                    .query(
                        "SELECT DISTINCT intDiv(invite_ms, 86400000) FROM calls \
                         WHERE invite_ms >= ? AND invite_ms < ? AND inserted_at <= toDateTime(?)",
                    )
                    .bind(from * DAY_MS)
                    .bind((to + 1) * DAY_MS)
                    .bind(started_secs),
            }
            .fetch_all()
            .await
            .map_err(|e| e.to_string())?;
            self.asked.extend(from..=to);
            self.with_rows.extend(days);
        }
        let days: HashSet<u64> = (first..=last)
            .filter(|d| self.with_rows.contains(d))
            .collect();
        Ok(if days.is_empty() {
            PriorDays::None
        } else {
            PriorDays::Some(days)
        })
    }
}

/// Awaits batch acknowledgements in order, counting delivered / spooled / set aside
/// (or not durable) per file.
async fn collect_acks(mut acks: mpsc::Receiver<(usize, usize, BatchAck)>) -> Vec<[u64; 3]> {
    let mut counts: Vec<[u64; 3]> = Vec::new();
    while let Some((file, records, ack)) = acks.recv().await {
        if counts.len() <= file {
            counts.resize(file + 1, [0; 3]);
        }
        match ack.await {
            Ok(accepted) => {
                counts[file][0] += accepted.delivered as u64;
                counts[file][1] += accepted.spooled as u64;
                counts[file][2] += (accepted.set_aside.len() + accepted.failed.len()) as u64;
                for (_, reason) in &accepted.set_aside {
                    tracing::error!(error = %reason, "A record was refused by ClickHouse and set aside in the spool's rejected.jsonl.");
                }
                for (_, error) in &accepted.failed {
                    tracing::error!(%error, "A record could not be made durable.");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records, "A batch of records could not be made durable.");
                counts[file][2] += records as u64;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_window_remembers_two_generations() {
        let mut recent = RecentKeys::new(RECENT_KEYS);
        let key = |n: usize| CallKey::for_import("t", &n.to_string());
        assert_eq!(recent.see(&key(0), 0), Seen::New);
        assert_eq!(recent.see(&key(0), 0), Seen::Again);
        assert_eq!(recent.see(&key(0), 1), Seen::LaterRevision);
        assert_eq!(recent.see(&key(0), 1), Seen::Again);
        assert_eq!(
            recent.see(&key(0), 0),
            Seen::Again,
            "an older revision after"
        );
        for n in 1..RECENT_KEYS {
            recent.see(&key(n), 0);
        }
        assert!(
            recent.current.is_empty(),
            "the first generation is full and rotated"
        );
        assert_eq!(
            recent.see(&key(5), 0),
            Seen::Again,
            "still in the previous generation"
        );
        assert_eq!(recent.see(&key(0), 2), Seen::LaterRevision);
    }
}
