//! Revenue assurance between the edge's records and the Teams Direct Routing logs of
//! a Paris calendar month (`cdr-import reconcile --month`).
//!
//! Teams calls on a trunk whose traffic crosses the edge (the trunk has edge records
//! that month) should each have matched an edge record at import and enriched it
//! (see [`crate::matching`]). The report lists, with counts per trunk and samples:
//! - **Teams calls with no edge record**: imported Teams rows on such trunks that
//!   still match nothing (traffic bypassing the edge, or edge records lost);
//! - **double counted**: imported Teams rows that do match an edge record now (the
//!   edge record arrived after the import, e.g. from a spool replay): both are
//!   stored, the call would be billed twice; `--apply` enriches the edge record and
//!   deletes the Teams copy (a logged `ALTER TABLE ... DELETE`);
//! - **edge calls absent from the Teams log**: edge records on a Teams trunk (one with
//!   an SBC TLS name) that no Teams row enriched, for trunks with a Teams log that
//!   month (trunks without any are listed apart: their log was not imported);
//! - **duration disagreements**: enriched records whose Teams duration differs from
//!   the edge's billable duration by more than the tolerance (the edge's is billed).

use crate::matching::{self, Candidates};
use cdr::reader::CallReader;
use cdr::{CallKey, CallRecord, ClickhouseConfig, Source};
use provisioning::Provisioning;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

/// Settings of a reconciliation.
#[derive(Clone, Debug)]
pub struct ReconcileSettings {
    /// First day of the Paris month.
    pub month: chrono::NaiveDate,
    /// How far a Teams row's INVITE may be from its edge record's.
    pub match_tolerance_ms: u64,
    /// How far durations may differ.
    pub duration_tolerance_ms: u64,
    /// Samples listed per kind of mismatch.
    pub samples: usize,
}

/// One kind of mismatch.
#[derive(Clone, Debug, Default)]
pub struct Mismatches {
    /// Count per trunk.
    pub per_trunk: BTreeMap<String, u64>,
    /// The first records found.
    pub samples: Vec<CallRecord>,
}

impl Mismatches {
    fn add(&mut self, record: &CallRecord, samples: usize) {
        *self.per_trunk.entry(record.trunk_id.clone()).or_default() += 1;
        if self.samples.len() < samples {
            self.samples.push(record.clone());
        }
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.per_trunk.values().sum()
    }
}

/// What a reconciliation found.
#[derive(Clone, Debug, Default)]
pub struct ReconcileReport {
    /// Edge records enriched by a Teams row.
    pub matched: u64,
    /// Imported Teams rows on edge-crossing trunks that match no edge record.
    pub teams_without_edge: Mismatches,
    /// Imported Teams rows that match an edge record (both stored).
    pub double_counted: Mismatches,
    /// The (Teams copy, edge record) pairs behind `double_counted`.
    pub double_counted_pairs: Vec<(CallKey, CallRecord)>,
    /// Edge records on Teams trunks that no Teams row enriched.
    pub edge_without_teams: Mismatches,
    /// Enriched records whose durations differ beyond the tolerance.
    pub duration_disagreements: Mismatches,
    /// Teams trunks with edge calls but no Teams data this month.
    pub trunks_without_teams_log: BTreeMap<String, u64>,
    /// Imported Teams rows of trunks with no edge record this month (not crossing the edge).
    pub teams_only: BTreeMap<String, u64>,
}

impl ReconcileReport {
    /// True when something needs attention.
    pub fn has_mismatches(&self) -> bool {
        self.teams_without_edge.total() > 0
            || self.double_counted.total() > 0
            || self.edge_without_teams.total() > 0
            || self.duration_disagreements.total() > 0
    }
}

fn is_teams_import(record: &CallRecord) -> bool {
    matches!(&record.source, Source::Import { format, .. } if format.starts_with("teams"))
}

/// The Paris month `[from_ms, to_ms)` starting on `first_day`.
pub fn month_range(first_day: chrono::NaiveDate) -> Result<(u64, u64), String> {
    let next = first_day
        .checked_add_months(chrono::Months::new(1))
        .ok_or_else(|| format!("month {first_day} is out of range"))?;
    let from = provisioning::paris_day_start(first_day).timestamp_millis();
    let to = provisioning::paris_day_start(next).timestamp_millis();
    if from < 0 {
        return Err(format!("month {first_day} is before 1970"));
    }
    Ok((from as u64, to as u64))
}

/// Reads the month and compares (see the module doc).
///
/// # Errors
/// Query errors.
pub async fn reconcile(
    store: &ClickhouseConfig,
    provisioning: &Provisioning,
    settings: &ReconcileSettings,
) -> Result<ReconcileReport, String> {
    let (from, to) = month_range(settings.month)?;
    let teams_trunks: BTreeSet<&str> = provisioning
        .trunks()
        .iter()
        .filter(|t| t.identify().tls_fqdn().is_some())
        .map(|t| t.id())
        .collect();
    let mut report = ReconcileReport::default();
    let mut edge_trunks: BTreeMap<String, u64> = BTreeMap::new();
    let mut teams_data_trunks: BTreeSet<String> = BTreeSet::new();
    let mut teams_imports: Vec<CallRecord> = Vec::new();
    let mut unenriched_edge: Vec<CallRecord> = Vec::new();
    let mut stream = CallReader::new(store).calls(from, to, None)?;
    while let Some(record) = stream.next().await? {
        if matching::is_edge(&record) {
            *edge_trunks.entry(record.trunk_id.clone()).or_default() += 1;
            match &record.teams {
                Some(teams) => {
                    report.matched += 1;
                    teams_data_trunks.insert(record.trunk_id.clone());
                    if let (Some(d), Some(_)) = (teams.duration_ms, record.answer_ms) {
                        if d.abs_diff(record.billable_ms) > settings.duration_tolerance_ms {
                            report.duration_disagreements.add(&record, settings.samples);
                        }
                    }
                }
                None if teams_trunks.contains(record.trunk_id.as_str()) => {
                    unenriched_edge.push(record)
                }
                None => {}
            }
        } else if is_teams_import(&record) {
            teams_data_trunks.insert(record.trunk_id.clone());
            teams_imports.push(record);
        }
    }
    let candidates = Candidates::new(unenriched_edge.clone());
    let mut claimed: HashSet<CallKey> = HashSet::new();
    teams_imports.sort_by_key(|r| (r.invite_ms, r.key.clone()));
    for record in &teams_imports {
        if !edge_trunks.contains_key(&record.trunk_id) {
            *report
                .teams_only
                .entry(record.trunk_id.clone())
                .or_default() += 1;
            continue;
        }
        match candidates.find(record, settings.match_tolerance_ms, &claimed) {
            Some(edge) => {
                claimed.insert(edge.key.clone());
                report.double_counted.add(record, settings.samples);
                report
                    .double_counted_pairs
                    .push((record.key.clone(), matching::enrich(edge, record)));
            }
            None => report.teams_without_edge.add(record, settings.samples),
        }
    }
    unenriched_edge.sort_by_key(|r| (r.invite_ms, r.key.clone()));
    for edge in &unenriched_edge {
        if claimed.contains(&edge.key) {
            continue;
        }
        if teams_data_trunks.contains(&edge.trunk_id) {
            report.edge_without_teams.add(edge, settings.samples);
        } else {
            *report
                .trunks_without_teams_log
                .entry(edge.trunk_id.clone())
                .or_default() += 1;
        }
    }
    Ok(report)
}

/// Fixes double-counted pairs: writes the enriched edge records, then deletes the
/// Teams copies (`ALTER TABLE calls DELETE`, applied by ClickHouse in the background).
///
/// # Errors
/// Write or query errors; nothing is deleted unless every enrichment was delivered.
pub async fn apply(
    store: &ClickhouseConfig,
    spool_dir: &std::path::Path,
    pairs: &[(CallKey, CallRecord)],
) -> Result<(), String> {
    if pairs.is_empty() {
        return Ok(());
    }
    let (writer, running, _) =
        cdr::CallRecordWriter::start(store, cdr::WriterConfig::new(spool_dir))
            .map_err(|e| format!("cannot open the spool {}: {e}", spool_dir.display()))?;
    for (_, enriched) in pairs {
        match writer
            .write(enriched.clone())
            .await
            .map_err(|e| e.to_string())?
        {
            cdr::Accepted::Delivered => {}
            other => {
                return Err(format!(
                    "enriched record {} was not delivered ({other:?}): nothing deleted",
                    enriched.key
                ))
            }
        }
    }
    drop(writer);
    running.shutdown(std::time::Duration::from_secs(10)).await;
    let list = pairs
        .iter()
        .map(|(k, _)| format!("'{}'", k.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    let on_cluster = store
        .cluster
        .as_ref()
        .map(|c| format!(" ON CLUSTER {c}"))
        .unwrap_or_default();
    store
        .client()
        .query(&format!(
            "ALTER TABLE {}.calls{on_cluster} DELETE WHERE call_key IN ({list})",
            store.database
        ))
        .execute()
        .await
        .map_err(|e| format!("deleting the Teams copies: {e}"))?;
    tracing::warn!(
        records = pairs.len(),
        "Deleted Teams copies of calls already recorded by the edge."
    );
    Ok(())
}

fn describe(record: &CallRecord) -> String {
    let time = chrono::DateTime::from_timestamp_millis(record.invite_ms as i64)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default();
    let source = match &record.source {
        Source::Import { file, line, .. } => format!("{file}:{line}"),
        Source::Edge { node } => format!("edge {node} {}", record.sip_call_id),
    };
    let teams = record
        .teams
        .as_ref()
        .map(|t| {
            format!(
                " teams {} {} {} duration {}",
                t.id,
                t.call_type,
                t.user_principal_name,
                t.duration_ms
                    .map_or("-".into(), |d| format!("{:.0} s", d as f64 / 1000.0))
            )
        })
        .unwrap_or_default();
    format!(
        "{source}: {time} {} {} -> {} {} billable {:.0} s{teams}",
        record.trunk_id,
        record.caller,
        record.callee,
        record.disposition.as_str(),
        record.billable_ms as f64 / 1000.0
    )
}

fn section(out: &mut String, title: &str, m: &Mismatches) {
    let per_trunk: Vec<String> = m
        .per_trunk
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    let _ = write!(out, "{title}: {}", m.total());
    if !per_trunk.is_empty() {
        let _ = write!(out, " ({})", per_trunk.join(", "));
    }
    out.push('\n');
    for r in &m.samples {
        let _ = writeln!(out, "    {}", describe(r));
    }
}

impl ReconcileReport {
    /// The report as text.
    pub fn render(&self, settings: &ReconcileSettings) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "reconciliation of {} (Paris month), INVITE tolerance {} ms, duration tolerance {} ms",
            settings.month.format("%Y-%m"),
            settings.match_tolerance_ms,
            settings.duration_tolerance_ms
        );
        let _ = writeln!(
            out,
            "edge records enriched by a Teams row: {}",
            self.matched
        );
        section(
            &mut out,
            "Teams calls with no edge record",
            &self.teams_without_edge,
        );
        section(
            &mut out,
            "Teams calls stored twice (an edge record matches: double counted)",
            &self.double_counted,
        );
        section(
            &mut out,
            "edge calls absent from the Teams log",
            &self.edge_without_teams,
        );
        section(
            &mut out,
            "duration disagreements above the tolerance",
            &self.duration_disagreements,
        );
        for (trunk, n) in &self.trunks_without_teams_log {
            let _ = writeln!(
                out,
                "no Teams log imported for {trunk} ({n} edge calls on this Teams trunk)"
            );
        }
        for (trunk, n) in &self.teams_only {
            let _ = writeln!(
                out,
                "{trunk}: {n} Teams calls, no edge records (trunk not crossing the edge)"
            );
        }
        out
    }
}
