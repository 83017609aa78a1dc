//! The monthly job: load the inputs, stream the month from ClickHouse, rate every
//! trunk, build the invoices, store and write the results.
//!
//! # How a month is read
//!
//! The month's calls (`[start, end)` of the Paris month on `invite_ms`) are read
//! once, deduplicated with `FINAL`, in no particular order: an ordered read of a
//! whole month makes ClickHouse sort it in memory and costs about three times an
//! unordered one. [`run`] starts that read while the inputs load. A first task
//! ([`crate::triage`]) reads the rows, counts those with nothing to learn (checking
//! the callers of unanswered outbound attempts) and classifies callees; this
//! thread rates the others. Each call is settled on the spot ([`TrunkRater::assess`]) except
//! the *counted* ones, whose compact form goes to a disk [`Spill`]. At the end of
//! the stream the month's totals tell which trunks breach a rule; only their
//! counted calls are read back, one bucket at a time, sorted and walked in order
//! to find the crossing moments ([`TrunkRater::fair_use_pass`]), on two threads
//! (the buckets of each parity). Memory holds one rater per trunk (distinct
//! numbers, per-user totals) plus one bucket's breaching trunks per thread, and
//! the unmatched calls it lists; it does not otherwise grow with the number of
//! calls.
//!
//! `rated_calls` gets a row for every call that carries money or needs a tariff
//! (out of plan, re-priced with its rule, unmatched): what an invoice line adds up
//! and `rating explain` lists. Included and unbilled calls are only counted
//! (`rating_counters`, by status); they stay in `calls`, where a dispute finds them
//! by key, and the crossing calls are named in `rating_breaches`.
//!
//! # Reproducibility
//!
//! A run is identified by a run id (month and start time) and records the
//! fingerprints of its inputs: the provisioning directory (every file, plans.toml
//! and the rating inputs included), the tariff files, the rating settings and
//! inputs, and a digest of the call records read (count and an order-independent
//! hash of every key and revision). The files it writes contain no run id or time:
//! the same inputs give byte-identical files. A closed month is never silently
//! changed: a later run computes without writing, shows the differences with the
//! closed run and refuses unless forced.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cdr::{ClickhouseConfig, Direction, Disposition};
use provisioning::{Provisioning, ProvisioningError, ProvisioningErrors};
use sha2::{Digest, Sha256};

use crate::engine::{
    Assessed, Breach, CallRef, RatedCall, Status, TrunkContext, TrunkOutcome, TrunkRater,
};
use crate::inventory::CustomerNumbers;
use crate::invoice::{build_invoice, channel_prices, Invoice, TrunkBill};
use crate::month::BillingMonth;
use crate::pricing::TariffIndex;
use crate::rules::Rule;
use crate::settings::RatingSettings;
use crate::sla::{Availability, Incidents};
use crate::spill::Spill;
use crate::store::{
    BreachRow, ClosedMonthRow, CounterRow, InvoiceLineRow, RatedCallRowRef, RatingStore, RunRow,
    RATING_MIGRATIONS,
};
use crate::stream::MonthStream;
use crate::syntec::{PriceHistory, SyntecIndices};

/// Rows per insert of rated calls.
const INSERT_BATCH: usize = 1_000_000;

/// Rows per part the server writes while rated calls are inserted.
const PART_ROWS: usize = 131_072;

/// Fingerprints of a run's inputs (hex SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprints {
    /// Every file of the provisioning directory ([`Provisioning::fingerprint`]).
    pub provisioning: String,
    /// The tariff files (`tariffs/*.csv`, names and contents).
    pub tariffs: String,
    /// `plans.toml` and the files under `rating/`.
    pub settings: String,
}

/// Everything a run reads besides the calls.
pub struct Inputs {
    /// The provisioning directory.
    pub dir: PathBuf,
    /// Customers, trunks, tariffs.
    pub provisioning: Provisioning,
    /// `plans.toml`.
    pub settings: RatingSettings,
    /// The customers' numbers (number-portability's inventory).
    pub inventory: Arc<CustomerNumbers>,
    /// Syntec indices.
    pub indices: SyntecIndices,
    /// SLA incidents.
    pub incidents: Incidents,
    /// Their fingerprints.
    pub fingerprints: Fingerprints,
}

impl Inputs {
    /// Loads and checks every input in the provisioning directory `dir`.
    ///
    /// # Errors
    /// Every problem found in every file, in the provisioning error format.
    pub fn load(dir: &Path) -> Result<Inputs, ProvisioningErrors> {
        let provisioning = Provisioning::load(dir)?;
        let settings = RatingSettings::load(dir, &provisioning)?;
        let mut errors: Vec<ProvisioningError> = Vec::new();
        let inventory = CustomerNumbers::load(dir, &provisioning)
            .map_err(|e| errors.extend(e.errors().iter().cloned()))
            .ok();
        let indices = SyntecIndices::load(dir, &settings.syntec)
            .map_err(|e| errors.extend(e))
            .ok();
        let incidents = Incidents::load(dir, &settings.sla.incidents_file, &provisioning)
            .map_err(|e| errors.extend(e))
            .ok();
        let fingerprints = fingerprints(dir, &provisioning)
            .map_err(|e| errors.push(e))
            .ok();
        match (inventory, indices, incidents, fingerprints) {
            (Some(inventory), Some(indices), Some(incidents), Some(fingerprints))
                if errors.is_empty() =>
            {
                Ok(Inputs {
                    dir: dir.to_owned(),
                    provisioning,
                    settings,
                    inventory: Arc::new(inventory),
                    indices,
                    incidents,
                    fingerprints,
                })
            }
            _ => Err(ProvisioningErrors::new(errors)),
        }
    }
}

fn fingerprints(
    dir: &Path,
    provisioning: &Provisioning,
) -> Result<Fingerprints, ProvisioningError> {
    let hash_files = |filter: &dyn Fn(&str) -> bool| -> Result<String, ProvisioningError> {
        let mut files = Vec::new();
        collect_files(dir, "", &mut files).map_err(|e| {
            ProvisioningError::new(
                provisioning::ErrorKind::Io,
                ".",
                None,
                "",
                "",
                format!("cannot list the directory: {e}"),
            )
        })?;
        files.sort();
        let mut hasher = Sha256::new();
        for relative in files.into_iter().filter(|f| filter(f)) {
            let bytes = std::fs::read(dir.join(&relative)).map_err(|e| {
                ProvisioningError::new(
                    provisioning::ErrorKind::Io,
                    relative.as_str(),
                    None,
                    "",
                    "",
                    format!("cannot read the file: {e}"),
                )
            })?;
            hasher.update(relative.as_bytes());
            hasher.update([0]);
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(&bytes);
        }
        Ok(hex(&hasher.finalize()))
    };
    Ok(Fingerprints {
        provisioning: provisioning.fingerprint().to_owned(),
        tariffs: hash_files(&|f: &str| f.starts_with("tariffs/") && f.ends_with(".csv"))?,
        settings: hash_files(&|f: &str| {
            f == crate::settings::PLANS_FILE || f.starts_with("rating/")
        })?,
    })
}

fn collect_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir.join(prefix))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if entry.file_type()?.is_dir() {
            if relative.matches('/').count() < 16 {
                collect_files(dir, &relative, out)?;
            }
        } else {
            out.push(relative);
        }
    }
    Ok(())
}

/// Hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A call that should be billed and could not be priced, or a call of a trunk
/// provisioning does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedCall {
    /// The customer (empty for an unknown trunk).
    pub customer_id: String,
    /// The trunk.
    pub trunk_id: String,
    /// The call key.
    pub call_key: String,
    /// INVITE, ms.
    pub invite_ms: u64,
    /// The destination.
    pub destination: String,
    /// Its category.
    pub category: String,
    /// The rule that would have re-priced it, if any.
    pub rule: Option<Rule>,
    /// Why it is listed.
    pub reason: String,
    /// Answered duration, ms.
    pub billable_ms: u64,
}

impl UnmatchedCall {
    fn of(c: &RatedCall) -> Self {
        UnmatchedCall {
            customer_id: c.customer_id.to_string(),
            trunk_id: c.trunk_id.to_string(),
            call_key: c.call_key.clone(),
            invite_ms: c.invite_ms,
            destination: c.destination.clone(),
            category: c.category.to_owned(),
            rule: c.rule,
            reason: c.reason.clone(),
            billable_ms: c.billable_ms,
        }
    }
}

/// The result of rating a month.
pub struct MonthRating {
    /// The month.
    pub month: BillingMonth,
    /// Per trunk, by trunk id.
    pub outcomes: Vec<TrunkOutcome>,
    /// Availability per trunk.
    pub availability: BTreeMap<String, Availability>,
    /// Price histories per trunk.
    pub prices: BTreeMap<String, PriceHistory>,
    /// Invoices, by customer id.
    pub invoices: Vec<Invoice>,
    /// Breaches and flags, by customer, trunk, rule, subject.
    pub breaches: Vec<Breach>,
    /// Unmatched calls, by trunk, start, key.
    pub unmatched: Vec<UnmatchedCall>,
    /// Records read.
    pub calls_read: u64,
    /// Order-independent digest of the keys and revisions read.
    pub calls_digest: String,
    /// Rated calls written to ClickHouse.
    pub rated_written: u64,
}

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Input files are invalid.
    #[error("{0}")]
    Inputs(ProvisioningErrors),
    /// A price cannot be computed (missing Syntec index).
    #[error("{}", .0.join("\n"))]
    Prices(Vec<String>),
    /// ClickHouse failed.
    #[error("ClickHouse: {0}")]
    Clickhouse(#[from] clickhouse::error::Error),
    /// Migrations failed.
    #[error("{0}")]
    Migration(#[from] cdr::schema::MigrationError),
    /// The month's stream from ClickHouse failed.
    #[error("reading the month from ClickHouse: {0}")]
    Stream(String),
    /// A stored record cannot be read.
    #[error("a stored call record cannot be read: {0}")]
    Record(String),
    /// The spill or an output file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The month is closed.
    #[error("{0}")]
    Refused(String),
}

/// The query streaming a month (shared with the benchmark's floor).
pub const MONTH_QUERY: &str =
    "SELECT ?fields FROM calls FINAL WHERE invite_ms >= ? AND invite_ms < ?";

/// Rows of a batch whose raters are read ahead together.
const TOUCH_AHEAD: usize = 256;

/// Rated calls handed to the insert task at a time.
const HANDOVER_BATCH: usize = 8_192;

/// Streams rated calls into `rated_calls` from a task of its own (one insert per
/// [`INSERT_BATCH`] rows), so that encoding and sending them overlaps the month's
/// stream; or drops them (dry runs).
struct RatedCallWriter {
    batch: Vec<RatedCall>,
    to_task: Option<tokio::sync::mpsc::Sender<Vec<RatedCall>>>,
    task: Option<tokio::task::JoinHandle<Result<u64, clickhouse::error::Error>>>,
}

impl RatedCallWriter {
    fn new(store: Option<&RatingStore>, run_id: &str, month: &str) -> Self {
        let Some(store) = store else {
            return RatedCallWriter {
                batch: Vec::new(),
                to_task: None,
                task: None,
            };
        };
        let mut client = store.client().clone();
        // The server writes a part every PART_ROWS rows as they arrive, instead of
        // sorting and writing the month's rated calls in one go once the last row
        // is sent: that work then overlaps the stream instead of following it. A run
        // that fails between parts leaves rows under a run id that never gets its
        // `complete` row in `rating_runs`, which every reader starts from.
        let part_rows = PART_ROWS.to_string();
        client = client
            .with_setting("max_insert_block_size", &part_rows)
            .with_setting("min_insert_block_size_rows", &part_rows);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<RatedCall>>(4);
        let (run_id, month) = (run_id.to_owned(), month.to_owned());
        let task = tokio::spawn(async move {
            let mut insert: Option<clickhouse::insert::Insert<RatedCallRowRef<'static>>> = None;
            let (mut in_insert, mut written) = (0usize, 0u64);
            while let Some(batch) = rx.recv().await {
                for call in &batch {
                    let current = match insert.as_mut() {
                        Some(current) => current,
                        None => insert.insert(client.insert("rated_calls").await?),
                    };
                    current
                        .write(&RatedCallRowRef::new(&run_id, &month, call))
                        .await?;
                    in_insert += 1;
                    written += 1;
                    if in_insert >= INSERT_BATCH {
                        if let Some(full) = insert.take() {
                            full.end().await?;
                        }
                        in_insert = 0;
                    }
                }
            }
            if let Some(last) = insert {
                last.end().await?;
            }
            Ok(written)
        });
        RatedCallWriter {
            batch: Vec::with_capacity(HANDOVER_BATCH),
            to_task: Some(tx),
            task: Some(task),
        }
    }

    async fn write(&mut self, call: RatedCall) -> Result<(), RunError> {
        if self.to_task.is_none() {
            return Ok(());
        }
        self.batch.push(call);
        if self.batch.len() >= HANDOVER_BATCH {
            self.hand_over().await?;
        }
        Ok(())
    }

    /// A handle for threads to hand rated calls over ([`send_blocking`]); `None`
    /// for a dry run.
    fn sender(&self) -> Option<tokio::sync::mpsc::Sender<Vec<RatedCall>>> {
        self.to_task.clone()
    }

    async fn hand_over(&mut self) -> Result<(), RunError> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(HANDOVER_BATCH));
        let Some(tx) = &self.to_task else {
            return Ok(());
        };
        if batch.is_empty() || tx.send(batch).await.is_ok() {
            return Ok(());
        }
        // The task stopped: its error says why.
        self.to_task = None;
        self.join().await.map(|_| ())
    }

    /// Sends what is left and waits for the inserts: the rows written.
    async fn finish(&mut self) -> Result<u64, RunError> {
        self.close().await?;
        self.join().await
    }

    /// Sends what is left and tells the insert task there is no more; it ends
    /// the last insert on its own ([`join`](Self::join) waits for it).
    async fn close(&mut self) -> Result<(), RunError> {
        if !self.batch.is_empty() {
            self.hand_over().await?;
        }
        self.to_task = None;
        Ok(())
    }

    async fn join(&mut self) -> Result<u64, RunError> {
        match self.task.take() {
            Some(task) => match task.await {
                Ok(result) => Ok(result?),
                Err(e) => Err(RunError::Stream(format!(
                    "the rated-call insert task failed: {e}"
                ))),
            },
            None => Ok(0),
        }
    }
}

/// Hands rated calls over to the insert task from a thread outside the runtime.
fn send_blocking(
    to: &Option<tokio::sync::mpsc::Sender<Vec<RatedCall>>>,
    batch: Vec<RatedCall>,
) -> Result<(), RunError> {
    match to {
        Some(tx) if !batch.is_empty() => tx
            .blocking_send(batch)
            .map_err(|_| RunError::Stream("the rated-call insert task stopped".to_owned())),
        _ => Ok(()),
    }
}

/// Rates a month: streams the calls, writes the billed and unmatched rated calls
/// through `store` (none: a dry run), and returns everything else.
///
/// # Errors
/// See [`RunError`].
pub async fn rate_month(
    inputs: &Inputs,
    month: BillingMonth,
    config: &ClickhouseConfig,
    store: Option<&RatingStore>,
    run_id: &str,
    spill_dir: Option<&Path>,
    until_ms: Option<u64>,
) -> Result<MonthRating, RunError> {
    let stream = MonthStream::open(
        config,
        month.start_ms(),
        until_ms.map_or(month.end_ms(), |u| u.min(month.end_ms())),
        crate::stream::CHUNKS_IN_FLIGHT,
    )?;
    let (mut rating, mut writer) =
        rate_stream_unsettled(inputs, month, stream, store, run_id, spill_dir).await?;
    rating.rated_written = writer.join().await?;
    Ok(rating)
}

/// Rates a month already streaming (opened with [`MonthStream::open`] over the
/// whole month or up to some moment), returning before the server has stored the
/// last rated calls: their insert task ([`RatedCallWriter::join`]) finishes while
/// the caller goes on; `rated_written` is left at 0.
async fn rate_stream_unsettled(
    inputs: &Inputs,
    month: BillingMonth,
    stream: MonthStream,
    store: Option<&RatingStore>,
    run_id: &str,
    spill_dir: Option<&Path>,
) -> Result<(MonthRating, RatedCallWriter), RunError> {
    let p = &inputs.provisioning;
    let settings = &inputs.settings;
    let clock = std::time::Instant::now();

    // Prices first: a missing index fails the run before any work.
    let mut prices = BTreeMap::new();
    let mut price_errors = Vec::new();
    for trunk in p.trunks() {
        let Some(customer) = p.customer(trunk.customer_id()) else {
            continue;
        };
        match channel_prices(trunk, customer, month, settings, &inputs.indices) {
            Ok(h) => {
                prices.insert(trunk.id().to_owned(), h);
            }
            Err(e) => price_errors.push(e),
        }
    }
    if !price_errors.is_empty() {
        return Err(RunError::Prices(price_errors));
    }

    let tariffs = TariffIndex::new(p.tariffs());
    let calendar = crate::month::MonthCalendar::new(month);
    let mut raters: Vec<TrunkRater<'_>> = Vec::new();
    let mut index_of = crate::triage::TrunkIds::default();
    for trunk in p.trunks() {
        let Some(customer) = p.customer(trunk.customer_id()) else {
            continue;
        };
        index_of.insert(trunk.id(), raters.len() as u32);
        raters.push(TrunkRater::new(TrunkContext {
            calendar: &calendar,
            trunk,
            customer,
            settings,
            month,
            tariffs: &tariffs,
            inventory: &inputs.inventory,
        }));
    }

    let mut writer = RatedCallWriter::new(store, run_id, &month.to_string());
    let mut spill = Spill::new(spill_dir)?;
    let mut unmatched = Vec::new();

    // Pass 1: the month, unordered.
    let callers = crate::triage::CallerCheck::new(
        Arc::clone(&inputs.inventory),
        raters
            .iter()
            .map(|r| {
                r.checks_callers()
                    .then(|| r.context().customer.id().to_owned())
            })
            .collect(),
    );
    let (mut batches, recycle, first_stage) = crate::triage::spawn(stream, index_of, callers);
    let mut billed: Vec<RatedCall> = Vec::new();
    while let Some(batch) = batches.recv().await {
        let mut batch = batch.map_err(RunError::Stream)?;
        let mut rows = std::mem::take(&mut batch.rows);
        let text = batch.text();
        for group in rows.chunks_mut(TOUCH_AHEAD) {
            // Each call's rater is a cache miss or three over thousands of
            // trunks: read a group's raters first, in one loop where the misses
            // overlap, then rate the group.
            std::hint::black_box(
                group
                    .iter()
                    .filter_map(|h| raters.get(h.trunk as usize))
                    .fold(0u64, |acc, rater| acc ^ rater.touch()),
            );
            for handed in group.iter_mut() {
                let [call_key, trunk_id, caller, callee, forwarding_party, teams_user, teams_call_type, teams_sbc_fqdn] =
                    text.fields(handed).map_err(RunError::Record)?;
                let (index, direction, disposition) =
                    (handed.trunk, handed.direction, handed.disposition);
                let call = CallRef {
                    call_key,
                    trunk_id,
                    direction,
                    caller,
                    callee,
                    forwarding_party,
                    disposition,
                    emergency: handed.emergency,
                    invite_ms: handed.invite_ms,
                    billable_ms: handed.billable_ms,
                    teams_user,
                    teams_call_type,
                    teams_sbc_fqdn,
                };
                if index == crate::triage::UNKNOWN_TRUNK {
                    if direction == Direction::Outbound && disposition == Disposition::Answered {
                        unmatched.push(UnmatchedCall {
                            customer_id: String::new(),
                            trunk_id: call.trunk_id.to_owned(),
                            call_key: call.call_key.to_owned(),
                            invite_ms: call.invite_ms,
                            destination: call.callee.to_owned(),
                            category: String::new(),
                            rule: None,
                            reason: "unknown trunk: not in trunks.toml, not billed".to_owned(),
                            billable_ms: call.billable_ms,
                        });
                    }
                    continue;
                }
                let Some(rater) = raters.get_mut(index as usize) else {
                    continue;
                };
                match rater.assess_classified(&call, handed.destination.take()) {
                    Assessed::Final(rated) => match rated.status {
                        Status::OutOfPlan | Status::Repriced => billed.push(*rated),
                        Status::Unmatched => {
                            unmatched.push(UnmatchedCall::of(&rated));
                            billed.push(*rated);
                        }
                        Status::NotBilled | Status::Included => {}
                    },
                    Assessed::NotBilled(_) => {}
                    Assessed::Counted(number) => spill.push_parts(
                        index,
                        call.invite_ms,
                        call.billable_ms,
                        number,
                        call.call_key,
                        call.forwarding_user(),
                    )?,
                }
            }
        }
        rows.clear();
        // The first stage may have ended: then the batch is simply dropped.
        batch.rows = rows;
        let _ = recycle.send(batch);
        for rated in billed.drain(..) {
            writer.write(rated).await?;
        }
    }
    let triage = first_stage
        .await
        .map_err(|e| RunError::Stream(format!("the stream task failed: {e}")))?;
    for (rater, n) in raters.iter_mut().zip(&triage.not_billed) {
        rater.skip_many(*n);
    }
    let calls_read = triage.calls_read;
    spill.finish_writing()?;
    tracing::info!(
        calls = calls_read,
        chunks = triage.chunks,
        counted = spill.len(),
        elapsed_ms = clock.elapsed().as_millis() as u64,
        "Month streamed."
    );

    // Pass 2: the breaching trunks' counted calls, in order.
    let wanted: HashSet<u32> = raters
        .iter()
        .enumerate()
        .filter(|(_, r)| r.needs_fair_use_pass())
        .map(|(i, _)| i as u32)
        .collect();
    // Every trunk with counted calls is read back, one bucket at a time: the
    // breaching ones walk their calls in order, the others count their distinct
    // numbers.
    let with_calls: HashSet<u32> = raters
        .iter()
        .enumerate()
        .filter(|(_, r)| r.counted_calls() > 0)
        .map(|(i, _)| i as u32)
        .collect();
    // Two threads, each with the buckets (and so the raters) of one parity.
    writer.hand_over().await?;
    let to_writer = writer.sender();
    let buckets = spill.buckets_of(&with_calls);
    let mut halves: [Vec<&mut TrunkRater<'_>>; 2] = [Vec::new(), Vec::new()];
    for (i, rater) in raters.iter_mut().enumerate() {
        halves[i % 2].push(rater);
    }
    let spill_ref = &spill;
    let (wanted_ref, buckets_ref) = (&wanted, &buckets);
    let results: Vec<Result<Vec<UnmatchedCall>, RunError>> = std::thread::scope(|scope| {
        let threads: Vec<_> = halves
            .into_iter()
            .enumerate()
            .map(|(parity, mut half)| {
                let to_writer = to_writer.clone();
                scope.spawn(move || -> Result<Vec<UnmatchedCall>, RunError> {
                    let mut unmatched = Vec::new();
                    let mut batch = Vec::new();
                    for &b in buckets_ref.iter().filter(|b| *b % 2 == parity) {
                        let bucket = spill_ref.read_bucket(b, wanted_ref)?;
                        for (index, distinct) in bucket.distinct_numbers() {
                            half[index as usize / 2].set_distinct_numbers(distinct);
                        }
                        for (index, mut counted) in bucket.calls {
                            half[index as usize / 2].fair_use_pass(&mut counted, &mut |r| {
                                if r.status == Status::Unmatched {
                                    unmatched.push(UnmatchedCall::of(&r));
                                }
                                batch.push(r);
                            });
                            if batch.len() >= HANDOVER_BATCH {
                                send_blocking(&to_writer, std::mem::take(&mut batch))?;
                            }
                        }
                    }
                    send_blocking(&to_writer, batch)?;
                    Ok(unmatched)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| {
                    Err(RunError::Stream(
                        "a fair-use pass thread panicked".to_owned(),
                    ))
                })
            })
            .collect()
    });
    drop(to_writer);
    let mut failed = None;
    for result in results {
        match result {
            Ok(list) => unmatched.extend(list),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(e) = failed {
        // The insert task's own error says more than "it stopped".
        writer.finish().await?;
        return Err(e);
    }
    writer.close().await?;
    tracing::info!(
        trunks = wanted.len(),
        elapsed_ms = clock.elapsed().as_millis() as u64,
        "Fair-use pass done."
    );

    let mut outcomes: Vec<TrunkOutcome> = raters.into_iter().map(TrunkRater::finish).collect();
    outcomes.sort_by(|a, b| a.trunk_id.cmp(&b.trunk_id));
    let availability: BTreeMap<String, Availability> = p
        .trunks()
        .iter()
        .map(|t| {
            (
                t.id().to_owned(),
                inputs.incidents.availability(t.id(), month),
            )
        })
        .collect();

    let mut invoices = Vec::new();
    let mut customers: Vec<&provisioning::Customer> = p.customers().iter().collect();
    customers.sort_by(|a, b| a.id().cmp(b.id()));
    let mut outcomes_of: BTreeMap<&str, Vec<&TrunkOutcome>> = BTreeMap::new();
    for o in &outcomes {
        outcomes_of
            .entry(o.customer_id.as_str())
            .or_default()
            .push(o);
    }
    for customer in customers {
        let bills: Vec<TrunkBill<'_>> = outcomes_of
            .get(customer.id())
            .into_iter()
            .flatten()
            .filter_map(|o| {
                Some(TrunkBill {
                    trunk: p.trunk(&o.trunk_id)?,
                    prices: prices.get(&o.trunk_id)?.clone(),
                    outcome: o,
                    availability: availability.get(&o.trunk_id)?.clone(),
                    credit_allowed: settings.sla_credit_requested(&o.trunk_id, month),
                })
            })
            .collect();
        if bills.is_empty() {
            continue;
        }
        invoices.push(build_invoice(customer, month, &bills, settings));
    }

    let mut breaches: Vec<Breach> = outcomes
        .iter()
        .flat_map(|o| o.breaches.iter().cloned())
        .collect();
    breaches.sort_by(|a, b| {
        (&a.customer_id, &a.trunk_id, a.rule, &a.subject).cmp(&(
            &b.customer_id,
            &b.trunk_id,
            b.rule,
            &b.subject,
        ))
    });
    unmatched.sort_by(|a, b| {
        (&a.trunk_id, a.invite_ms, &a.call_key).cmp(&(&b.trunk_id, b.invite_ms, &b.call_key))
    });

    let rating = MonthRating {
        month,
        outcomes,
        availability,
        prices,
        invoices,
        breaches,
        unmatched,
        calls_read,
        calls_digest: format!(
            "{calls_read}-{:016x}{:016x}",
            triage.digest_sum, triage.digest_xor
        ),
        rated_written: 0,
    };
    Ok((rating, writer))
}

/// How to run a month.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The month.
    pub month: BillingMonth,
    /// The provisioning directory.
    pub provisioning_dir: PathBuf,
    /// ClickHouse.
    pub clickhouse: ClickhouseConfig,
    /// Where the files go.
    pub out_dir: PathBuf,
    /// Run a closed month anyway.
    pub force: bool,
    /// Where the spill goes (the system's temporary folder by default).
    pub spill_dir: Option<PathBuf>,
}

/// What a run did.
pub struct RunSummary {
    /// The run id.
    pub run_id: String,
    /// The results.
    pub rating: MonthRating,
    /// The run's inputs.
    pub fingerprints: Fingerprints,
    /// True when the month is closed and the run was not forced: nothing written.
    pub refused: bool,
    /// The closed run this run was compared with, if the month is closed.
    pub closed_run: Option<String>,
    /// Differences with the closed run.
    pub differences: Vec<String>,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// `rating run`.
///
/// # Errors
/// See [`RunError`]; a refused run (closed month) is not an error but
/// [`RunSummary::refused`].
pub async fn run(options: &RunOptions) -> Result<RunSummary, RunError> {
    let started_at_ms = now_ms();
    let clock = std::time::Instant::now();
    let month = options.month;
    // The inputs load on a thread of their own while the month starts streaming:
    // ClickHouse reads and sends the first calls (up to the stream's read-ahead)
    // meanwhile. A problem in the inputs is still reported first.
    let dir = options.provisioning_dir.clone();
    let loading = tokio::task::spawn_blocking(move || Inputs::load(&dir));
    let store = RatingStore::new(&options.clickhouse);
    let streaming = async {
        cdr::schema::migrate(
            &options.clickhouse,
            &[cdr::schema::CDR_MIGRATIONS, RATING_MIGRATIONS],
        )
        .await?;
        let closed = store.closed(&month.to_string()).await?;
        let stream = MonthStream::open(
            &options.clickhouse,
            month.start_ms(),
            month.end_ms(),
            crate::stream::CHUNKS_READ_AHEAD,
        )?;
        Ok::<_, RunError>((closed, stream))
    }
    .await;
    let inputs = loading
        .await
        .map_err(|e| RunError::Stream(format!("loading the inputs failed: {e}")))?
        .map_err(RunError::Inputs)?;
    tracing::info!(
        elapsed_ms = clock.elapsed().as_millis() as u64,
        "Inputs loaded."
    );
    let (closed, stream) = streaming?;
    let refused = closed.is_some() && !options.force;
    let run_id = format!(
        "{month}@{}",
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(started_at_ms as i64)
            .map(|t| t.format("%Y%m%dT%H%M%S%.3fZ").to_string())
            .unwrap_or_default()
    );
    // The last rated calls are stored while the rest of the run goes on; the
    // run row waits for them.
    let (mut rating, mut rated_calls) = rate_stream_unsettled(
        &inputs,
        month,
        stream,
        (!refused).then_some(&store),
        &run_id,
        options.spill_dir.as_deref(),
    )
    .await?;
    tracing::info!(
        elapsed_ms = clock.elapsed().as_millis() as u64,
        "Month rated."
    );
    // The result tables go to ClickHouse from a task of their own while the
    // outputs render here (the server stores the three tables in parallel); the
    // run row, which marks the run complete, only once all three are stored.
    let storing = (!refused).then(|| {
        let m = month.to_string();
        let breach_rows: Vec<BreachRow> = rating
            .breaches
            .iter()
            .map(|b| BreachRow::new(&run_id, &m, b))
            .collect();
        let line_rows: Vec<InvoiceLineRow> = rating
            .invoices
            .iter()
            .flat_map(|i| i.lines.iter())
            .map(|l| InvoiceLineRow::new(&run_id, &m, l))
            .collect();
        let counter_rows: Vec<CounterRow> = rating
            .outcomes
            .iter()
            .map(|o| counter_row(&run_id, &m, o, &inputs, &rating))
            .collect();
        let store = store.clone();
        tokio::spawn(async move {
            tokio::try_join!(
                store.insert_all("rating_breaches", &breach_rows),
                store.insert_all("invoice_lines", &line_rows),
                store.insert_all("rating_counters", &counter_rows),
            )
            .map(|_| ())
        })
    });
    let files = crate::output::render(&rating, &inputs);
    let outputs_digest = {
        let mut h = Sha256::new();
        for (name, bytes) in &files {
            if name.ends_with(".csv") {
                h.update(name.as_bytes());
                h.update(bytes);
            }
        }
        hex(&h.finalize())
    };
    let mut differences = Vec::new();
    if let Some(closed) = &closed {
        let old_lines = store.invoice_lines(&closed.run_id).await?;
        let old_breaches = store.breaches(&closed.run_id, None).await?;
        differences = crate::output::differences(&old_lines, &old_breaches, &rating);
    }
    rating.rated_written = rated_calls.join().await?;
    let mut written = Vec::new();
    if let Some(storing) = storing {
        storing
            .await
            .map_err(|e| RunError::Stream(format!("the result insert task failed: {e}")))??;
        std::fs::create_dir_all(&options.out_dir)?;
        for (name, bytes) in &files {
            let path = options.out_dir.join(name);
            std::fs::write(&path, bytes)?;
            written.push(path);
        }
    }
    let run_row = RunRow {
        run_id: run_id.clone(),
        month: month.to_string(),
        started_at_ms,
        finished_at_ms: now_ms(),
        status: if refused { 2 } else { 1 },
        forced: u8::from(closed.is_some() && options.force),
        provisioning_fingerprint: inputs.fingerprints.provisioning.clone(),
        tariffs_fingerprint: inputs.fingerprints.tariffs.clone(),
        settings_fingerprint: inputs.fingerprints.settings.clone(),
        calls_read: rating.calls_read,
        calls_digest: rating.calls_digest.clone(),
        outputs_digest,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    store.insert_all("rating_runs", &[run_row]).await?;
    tracing::info!(
        elapsed_ms = clock.elapsed().as_millis() as u64,
        "Run recorded."
    );
    Ok(RunSummary {
        run_id,
        rating,
        fingerprints: inputs.fingerprints,
        refused,
        closed_run: closed.map(|c| c.run_id),
        differences,
        files: written,
    })
}

fn counter_row(
    run_id: &str,
    month: &str,
    o: &TrunkOutcome,
    inputs: &Inputs,
    rating: &MonthRating,
) -> CounterRow {
    let trunk = inputs.provisioning.trunk(&o.trunk_id);
    let plan = trunk.map(|t| inputs.settings.plan(t.plan()));
    let availability = rating.availability.get(&o.trunk_id);
    let c = &o.counters;
    CounterRow {
        run_id: run_id.to_owned(),
        month: month.to_owned(),
        customer_id: o.customer_id.clone(),
        trunk_id: o.trunk_id.clone(),
        plan: trunk
            .map(|t| t.plan().as_str().to_owned())
            .unwrap_or_default(),
        breach_policy: plan
            .map(|p| p.breach_policy.as_str().to_owned())
            .unwrap_or_default(),
        channel_days: c.channel_months.channel_days(),
        month_days: c.channel_months.days(),
        distinct_numbers: c.distinct_numbers,
        distinct_allowance: c.distinct_allowance,
        eligible_ms: c.eligible_ms,
        eligible_threshold_ms: c.eligible_threshold_ms,
        forwarding_users: c.forwarding_ms.keys().cloned().collect(),
        forwarding_ms: c.forwarding_ms.values().copied().collect(),
        forwarding_threshold_ms: c.forwarding_threshold_ms,
        foreign_callers: c.foreign_callers.iter().cloned().collect(),
        teams_sbc_fqdns: c.teams_sbc_fqdns.iter().cloned().collect(),
        teams_tenants: c.teams_tenants.iter().cloned().collect(),
        calls: c.calls,
        counted_calls: c.counted_calls,
        availability_percent: availability.map_or(0, |a| crate::store::to_micros(a.percent)),
        downtime_secs: availability.map_or(0, |a| a.downtime_secs),
    }
}

/// `rating close`: freezes a month on its latest complete run (or `run_id`).
///
/// # Errors
/// The month is already closed, has no complete run, or the run is of another
/// month; ClickHouse errors.
pub async fn close(
    config: &ClickhouseConfig,
    month: BillingMonth,
    run_id: Option<&str>,
) -> Result<ClosedMonthRow, RunError> {
    cdr::schema::migrate(config, &[cdr::schema::CDR_MIGRATIONS, RATING_MIGRATIONS]).await?;
    let store = RatingStore::new(config);
    let m = month.to_string();
    if let Some(closed) = store.closed(&m).await? {
        return Err(RunError::Refused(format!(
            "{m} is already closed on run {} (closed at {})",
            closed.run_id,
            crate::month::format_paris_ms(closed.closed_at_ms)
        )));
    }
    let run = match run_id {
        Some(id) => store.run(id).await?.filter(|r| r.status == 1),
        None => store.latest_run(&m).await?,
    };
    let Some(run) = run else {
        return Err(RunError::Refused(match run_id {
            Some(id) => format!("run {id:?} is not a complete run"),
            None => format!("{m} has no complete run: run `rating run --month {m}` first"),
        }));
    };
    if run.month != m {
        return Err(RunError::Refused(format!(
            "run {} is of {}, not {m}",
            run.run_id, run.month
        )));
    }
    let row = ClosedMonthRow {
        month: m,
        run_id: run.run_id,
        closed_at_ms: now_ms(),
        outputs_digest: run.outputs_digest,
    };
    store
        .insert_all("rating_closed_months", std::slice::from_ref(&row))
        .await?;
    Ok(row)
}

fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}
