//! Revenue assurance between the edge's records and the Teams Direct Routing logs of
//! a Paris calendar month (`cdr-import reconcile --month`).
//!
//! Teams calls on a trunk whose traffic crosses the edge (the trunk has edge records
//! that month) should each have matched an edge record at import and enriched it
//! (see [`crate::matching`]). The report lists, with counts per trunk and samples:
//! - **Teams calls with no edge record**: imported Teams rows on such trunks that
//!   still match nothing (traffic bypassing the edge, or edge records lost); those
//!   of trunks with no edge record at all that month are a section of their own
//!   (traffic not crossing the edge, or the month's edge records lost);
//! - **double counted**: imported Teams rows that do match an edge record now (the
//!   edge record arrived after the import, e.g. from a spool replay), or whose edge
//!   record already carries their Teams id (a partial `--apply`): both are stored,
//!   the call would be billed twice; `--apply` enriches the edge record (if not yet)
//!   and deletes the Teams copy (logged `ALTER TABLE ... DELETE`s);
//! - **edge calls absent from the Teams log**: edge records on a Teams trunk (one with
//!   an SBC TLS name) that no Teams row enriched, for trunks with a Teams log that
//!   month (trunks without any are listed apart: their log was not imported), except
//!   inbound calls the edge refused, which never reached Teams;
//! - **duration disagreements**: enriched records whose Teams duration differs from
//!   the edge's billable duration by more than the tolerance (the edge's is billed);
//! - **answered on one side only**: Teams successful and the edge not answered, or
//!   the reverse (see [`matching::disagreement`]).
//!
//! Rows are paired as at import ([`Candidates::assign`]), over the month plus the match
//! tolerance either side, so that a call straddling the month boundary pairs with its
//! other half; each finding is reported in the month of its own record's INVITE.

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
    /// The earliest records found, in INVITE order.
    pub samples: Vec<CallRecord>,
    /// For samples paired with an edge record: the edge's INVITE minus the sample's, ms.
    pub gaps_ms: BTreeMap<CallKey, i64>,
}

impl Mismatches {
    /// Counts `record`; keeps the `samples` earliest (by INVITE, then key).
    fn add(&mut self, record: &CallRecord, samples: usize) {
        *self.per_trunk.entry(record.trunk_id.clone()).or_default() += 1;
        let at = self
            .samples
            .partition_point(|s| (s.invite_ms, &s.key) < (record.invite_ms, &record.key));
        if at < samples {
            self.samples.insert(at, record.clone());
            if self.samples.len() > samples {
                if let Some(dropped) = self.samples.pop() {
                    self.gaps_ms.remove(&dropped.key);
                }
            }
        }
    }

    /// As [`Mismatches::add`], noting the INVITE gap to the paired edge record.
    fn add_paired(&mut self, record: &CallRecord, edge: &CallRecord, samples: usize) {
        self.add(record, samples);
        if self.samples.iter().any(|s| s.key == record.key) {
            let gap = edge.invite_ms as i64 - record.invite_ms as i64;
            self.gaps_ms.insert(record.key.clone(), gap);
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
    /// The (Teams copy, enriched edge record) pairs behind `double_counted`; `None`
    /// when the stored edge record already carries this Teams row's details.
    pub double_counted_pairs: Vec<(CallKey, Option<CallRecord>)>,
    /// Edge records on Teams trunks that no Teams row enriched.
    pub edge_without_teams: Mismatches,
    /// Enriched records whose durations differ beyond the tolerance.
    pub duration_disagreements: Mismatches,
    /// Enriched records answered on one side only (the edge record, as enriched).
    pub answered_disagreements: Mismatches,
    /// Teams trunks with edge calls but no Teams data this month.
    pub trunks_without_teams_log: BTreeMap<String, u64>,
    /// Imported Teams rows of trunks with no edge record this month: the trunk's traffic
    /// does not cross the edge, or the edge's records of the month were lost.
    pub teams_only: Mismatches,
}

impl ReconcileReport {
    /// True when something needs attention.
    pub fn has_mismatches(&self) -> bool {
        self.teams_without_edge.total() > 0
            || self.double_counted.total() > 0
            || self.edge_without_teams.total() > 0
            || self.duration_disagreements.total() > 0
            || self.answered_disagreements.total() > 0
            || self.teams_only.total() > 0
    }
}

fn is_teams_import(record: &CallRecord) -> bool {
    matches!(&record.source, Source::Import { format, .. } if format.starts_with("teams"))
}

/// Whether Teams can have logged an edge record's call: not an inbound call the edge
/// itself refused (no channel, unauthorised, policy), which never reached Teams. An
/// outbound call the edge refused was placed by Teams, which logs its failure.
fn reached_teams(edge: &CallRecord) -> bool {
    !(edge.direction == cdr::Direction::Inbound
        && matches!(
            edge.disposition,
            cdr::Disposition::RejectedNoChannel
                | cdr::Disposition::RejectedUnauthorized
                | cdr::Disposition::RejectedPolicy
        ))
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
    let in_month = |r: &CallRecord| r.invite_ms >= from && r.invite_ms < to;
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
    // Edge records on Teams trunks: un-enriched ones, and enriched ones (a Teams copy
    // of the same row may still be stored). `Candidates::assign` keeps each for the
    // rows it may pair with.
    let mut edge_candidates: Vec<CallRecord> = Vec::new();
    // Read the tolerance beyond the month too, as the import does: a call at the
    // boundary pairs with its other half in the next or previous month.
    let mut stream = CallReader::new(store).calls(
        from.saturating_sub(settings.match_tolerance_ms),
        to.saturating_add(settings.match_tolerance_ms),
        None,
    )?;
    while let Some(record) = stream.next().await? {
        if matching::is_edge(&record) {
            if in_month(&record) {
                *edge_trunks.entry(record.trunk_id.clone()).or_default() += 1;
                if record.teams.is_some() {
                    report.matched += 1;
                    teams_data_trunks.insert(record.trunk_id.clone());
                    match matching::disagreement(&record, None, settings.duration_tolerance_ms) {
                        Some(matching::Disagreement::Duration) => {
                            report.duration_disagreements.add(&record, settings.samples)
                        }
                        Some(matching::Disagreement::Answered) => {
                            report.answered_disagreements.add(&record, settings.samples)
                        }
                        None => {}
                    }
                }
            }
            if teams_trunks.contains(record.trunk_id.as_str()) {
                edge_candidates.push(record);
            }
        } else if is_teams_import(&record) {
            if in_month(&record) {
                teams_data_trunks.insert(record.trunk_id.clone());
            }
            teams_imports.push(record);
        }
    }
    let candidates = Candidates::new(edge_candidates);
    teams_imports.sort_by(|a, b| (a.invite_ms, &a.key).cmp(&(b.invite_ms, &b.key)));
    let found = candidates.assign(&teams_imports, settings.match_tolerance_ms, &HashSet::new());
    // Edge keys paired with a Teams copy (of any month read).
    let mut claimed: HashSet<&CallKey> = HashSet::new();
    for (record, found) in teams_imports.iter().zip(&found) {
        if let Some(edge) = found {
            claimed.insert(&edge.key);
        }
        if !in_month(record) {
            continue;
        }
        match found {
            Some(edge) => {
                report
                    .double_counted
                    .add_paired(record, edge, settings.samples);
                let enriched = match &edge.teams {
                    Some(_) => None,
                    None => {
                        let enriched = matching::enrich(edge, record);
                        match matching::disagreement(
                            &enriched,
                            Some(record.answer_ms.is_some()),
                            settings.duration_tolerance_ms,
                        ) {
                            Some(matching::Disagreement::Duration) => report
                                .duration_disagreements
                                .add(&enriched, settings.samples),
                            Some(matching::Disagreement::Answered) => report
                                .answered_disagreements
                                .add(&enriched, settings.samples),
                            None => {}
                        }
                        Some(enriched)
                    }
                };
                report
                    .double_counted_pairs
                    .push((record.key.clone(), enriched));
            }
            None if !edge_trunks.contains_key(&record.trunk_id) => {
                report.teams_only.add(record, settings.samples)
            }
            None => report.teams_without_edge.add(record, settings.samples),
        }
    }
    for edge in candidates.records() {
        if edge.teams.is_some()
            || !in_month(edge)
            || claimed.contains(&edge.key)
            || !reached_teams(edge)
        {
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

/// Keys deleted per `ALTER TABLE ... DELETE` (about 35 bytes each in the query): well
/// under ClickHouse's `max_query_size` (256 KiB by default, about 7,400 keys).
pub const DELETE_KEYS_PER_QUERY: usize = 2_000;

/// Enriched edge records submitted to the writer per batch.
const ENRICHMENTS_PER_BATCH: usize = 5_000;

/// Fixes double-counted pairs: writes the enriched edge records (in batches), then
/// deletes the Teams copies (`ALTER TABLE calls DELETE`, [`DELETE_KEYS_PER_QUERY`]
/// keys at a time, applied by ClickHouse in the background). Running it again on a
/// new report completes a partial run: an edge record already enriched is not
/// written again, and its Teams copy is deleted.
///
/// # Errors
/// Write or query errors; nothing is deleted unless every enrichment was delivered.
pub async fn apply(
    store: &ClickhouseConfig,
    spool_dir: &std::path::Path,
    pairs: &[(CallKey, Option<CallRecord>)],
) -> Result<(), String> {
    if pairs.is_empty() {
        return Ok(());
    }
    let enrichments: Vec<&CallRecord> = pairs.iter().filter_map(|(_, e)| e.as_ref()).collect();
    if !enrichments.is_empty() {
        write_enrichments(store, spool_dir, &enrichments).await?;
    }
    let on_cluster = store
        .cluster
        .as_ref()
        .map(|c| format!(" ON CLUSTER {c}"))
        .unwrap_or_default();
    let keys: Vec<&CallKey> = pairs.iter().map(|(k, _)| k).collect();
    for list in key_lists(&keys, DELETE_KEYS_PER_QUERY) {
        store
            .client()
            .query(&format!(
                "ALTER TABLE {}.calls{on_cluster} DELETE WHERE call_key IN ({list})",
                store.database
            ))
            .execute()
            .await
            .map_err(|e| format!("deleting the Teams copies: {e}"))?;
    }
    tracing::warn!(
        records = pairs.len(),
        "Deleted Teams copies of calls already recorded by the edge."
    );
    Ok(())
}

async fn write_enrichments(
    store: &ClickhouseConfig,
    spool_dir: &std::path::Path,
    enrichments: &[&CallRecord],
) -> Result<(), String> {
    let (writer, running, _) =
        cdr::CallRecordWriter::start(store, cdr::WriterConfig::new(spool_dir))
            .map_err(|e| format!("cannot open the spool {}: {e}", spool_dir.display()))?;
    let mut acks = Vec::new();
    for chunk in enrichments.chunks(ENRICHMENTS_PER_BATCH) {
        let records: Vec<CallRecord> = chunk.iter().map(|r| (*r).clone()).collect();
        let ack = writer
            .submit_batch(records)
            .await
            .map_err(|e| e.to_string())?;
        acks.push((chunk, ack));
    }
    let mut problem = None;
    for (chunk, ack) in acks {
        let accepted = ack.await.map_err(|e| e.to_string())?;
        if problem.is_none() && accepted.delivered != chunk.len() {
            let first = accepted
                .set_aside
                .first()
                .map(|(i, why)| format!("{} set aside: {why}", chunk[*i].key))
                .or_else(|| {
                    accepted
                        .failed
                        .first()
                        .map(|(i, why)| format!("{} failed: {why}", chunk[*i].key))
                })
                .unwrap_or_else(|| format!("{} spooled", accepted.spooled));
            problem = Some(format!(
                "{} of {} enriched records were not delivered ({first}): nothing deleted; \
                 run again when ClickHouse has them",
                chunk.len() - accepted.delivered,
                chunk.len()
            ));
        }
    }
    drop(writer);
    running.shutdown(std::time::Duration::from_secs(10)).await;
    match problem {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

/// The keys as quoted `IN (...)` lists of at most `per_list` keys each.
fn key_lists(keys: &[&CallKey], per_list: usize) -> Vec<String> {
    keys.chunks(per_list.max(1))
        .map(|chunk| {
            chunk
                .iter()
                .map(|k| format!("'{}'", k.as_str()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

fn describe(record: &CallRecord) -> String {
    // Paris time with its offset, as the month is a Paris month.
    let time = chrono::DateTime::from_timestamp_millis(record.invite_ms as i64)
        .map(|t| {
            t.with_timezone(&chrono_tz::Europe::Paris)
                .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string()
        })
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
                t.duration_ms.map_or("-".into(), |d| format!("{d} ms"))
            )
        })
        .unwrap_or_default();
    format!(
        "{source}: {time} {} {} -> {} {} billable {} ms{teams}",
        record.trunk_id,
        record.caller,
        record.callee,
        record.disposition.as_str(),
        record.billable_ms
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
        let gap = m
            .gaps_ms
            .get(&r.key)
            .map(|g| format!(", edge record INVITE {g:+} ms"))
            .unwrap_or_default();
        let _ = writeln!(out, "    {}{gap}", describe(r));
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
        section(
            &mut out,
            "answered on one side only (Teams successful, edge not answered, or the reverse)",
            &self.answered_disagreements,
        );
        for (trunk, n) in &self.trunks_without_teams_log {
            let _ = writeln!(
                out,
                "no Teams log imported for {trunk} ({n} edge calls on this Teams trunk)"
            );
        }
        section(
            &mut out,
            "Teams calls on trunks with no edge record this month (traffic not crossing the edge, or the edge's records lost)",
            &self.teams_only,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_calls_the_edge_refused_never_reached_teams() {
        let mut edge = crate::testutil::edge_record(1);
        assert!(reached_teams(&edge));
        edge.disposition = cdr::Disposition::RejectedNoChannel;
        assert!(reached_teams(&edge), "Teams placed it and logs its failure");
        edge.direction = cdr::Direction::Inbound;
        assert!(!reached_teams(&edge));
        edge.disposition = cdr::Disposition::Busy;
        assert!(reached_teams(&edge), "the PBX side answered busy");
    }

    #[test]
    fn keys_are_deleted_in_lists_of_bounded_size() {
        let keys: Vec<CallKey> = (0..5)
            .map(|n| CallKey::for_import("teams", &format!("row-{n}")))
            .collect();
        let refs: Vec<&CallKey> = keys.iter().collect();
        let lists = key_lists(&refs, 2);
        assert_eq!(lists.len(), 3);
        assert_eq!(lists[2], format!("'{}'", keys[4].as_str()));
        let all: Vec<String> = lists
            .iter()
            .flat_map(|l| l.split(','))
            .map(|k| k.trim_matches('\'').to_string())
            .collect();
        let expected: Vec<String> = keys.iter().map(|k| k.as_str().to_string()).collect();
        assert_eq!(all, expected);
        // A full list stays well under ClickHouse's 262,144-byte max_query_size.
        let many: Vec<CallKey> = (0..DELETE_KEYS_PER_QUERY + 1)
            .map(|n| CallKey::for_import("teams", &format!("row-{n}")))
            .collect();
        let refs: Vec<&CallKey> = many.iter().collect();
        let lists = key_lists(&refs, DELETE_KEYS_PER_QUERY);
        assert_eq!(lists.len(), 2);
        assert!(lists[0].len() < 100_000, "{}", lists[0].len());
    }

    #[test]
    fn samples_are_the_earliest_in_time_order() {
        let mut m = Mismatches::default();
        for n in [5u64, 1, 4, 2, 3] {
            m.add(&crate::testutil::edge_record(n), 3);
        }
        assert_eq!(m.total(), 5);
        let order: Vec<&str> = m.samples.iter().map(|r| r.sip_call_id.as_str()).collect();
        assert_eq!(order, ["call-1", "call-2", "call-3"]);
        let mut paired = Mismatches::default();
        let edge = crate::testutil::edge_record(1);
        let mut teams = crate::testutil::teams_record(1);
        teams.invite_ms = edge.invite_ms - 1_200;
        paired.add_paired(&teams, &edge, 1);
        assert_eq!(paired.gaps_ms.get(&teams.key), Some(&1_200));
        let mut earlier = crate::testutil::teams_record(2);
        earlier.invite_ms -= 60_000;
        paired.add_paired(&earlier, &edge, 1);
        assert_eq!(paired.samples, vec![earlier.clone()]);
        assert!(
            !paired.gaps_ms.contains_key(&teams.key),
            "dropped with its sample"
        );
    }
}
