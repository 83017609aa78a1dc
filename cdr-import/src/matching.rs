//! Matching Teams log rows with the edge records of the same calls.
//!
//! A Teams call that crossed the edge is in both sources; it must be billed once.
//! A Teams row and an edge record are the same call when they have the same trunk,
//! direction and callee, the same caller (unless either side withheld it), and INVITE
//! times within the tolerance; of several candidates the closest in time wins, and an
//! edge record already enriched by another Teams row is taken. The edge record stays
//! authoritative for times and duration; the match writes it again with a higher
//! revision carrying the Teams details (user, call type, SBC, Teams' duration) and, for
//! forwarded calls, the forwarding user when the edge saw no Diversion.

use cdr::{CallKey, CallRecord, CallRow, ClickhouseConfig, Source};
use std::collections::{HashMap, HashSet};

/// True when the two records may describe the same call, times aside.
pub fn same_parties(teams: &CallRecord, edge: &CallRecord) -> bool {
    teams.trunk_id == edge.trunk_id
        && teams.direction == edge.direction
        && teams.callee == edge.callee
        && (teams.caller == edge.caller
            || teams.caller == "anonymous"
            || edge.caller == "anonymous")
}

/// Edge records that Teams rows may match, grouped by (trunk, callee).
#[derive(Default)]
pub struct Candidates {
    by_callee: HashMap<(String, String), Vec<CallRecord>>,
}

impl Candidates {
    /// Groups records (the latest revision of each key only).
    pub fn new(records: Vec<CallRecord>) -> Candidates {
        let mut latest: HashMap<CallKey, CallRecord> = HashMap::new();
        for r in records {
            match latest.get(&r.key) {
                Some(kept) if kept.revision >= r.revision => {}
                _ => {
                    latest.insert(r.key.clone(), r);
                }
            }
        }
        let mut by_callee: HashMap<(String, String), Vec<CallRecord>> = HashMap::new();
        for r in latest.into_values() {
            by_callee
                .entry((r.trunk_id.clone(), r.callee.clone()))
                .or_default()
                .push(r);
        }
        Candidates { by_callee }
    }

    /// Reads the edge records of `trunks` whose INVITE is in `[from_ms, to_ms]`.
    ///
    /// # Errors
    /// Query errors.
    pub async fn fetch(
        store: &ClickhouseConfig,
        trunks: Vec<String>,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Candidates, String> {
        // No FINAL: copies are collapsed here, keeping the highest revision.
        let rows: Vec<CallRow> = store
            .client()
            .query(
                "SELECT ?fields FROM calls WHERE source_kind = 'edge' AND has(?, trunk_id) \
                 AND invite_ms >= ? AND invite_ms <= ?",
            )
            .bind(trunks)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all()
            .await
            .map_err(|e| format!("reading edge records to match: {e}"))?;
        let records = rows
            .into_iter()
            .map(CallRecord::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Candidates::new(records))
    }

    /// The edge record `teams` is, if any: see the module doc. `claimed` holds edge
    /// keys enriched earlier in this run.
    pub fn find(
        &self,
        teams: &CallRecord,
        tolerance_ms: u64,
        claimed: &HashSet<CallKey>,
    ) -> Option<&CallRecord> {
        let teams_id = teams.teams.as_ref().map(|t| t.id.as_str());
        self.by_callee
            .get(&(teams.trunk_id.clone(), teams.callee.clone()))?
            .iter()
            .filter(|edge| same_parties(teams, edge))
            .filter(|edge| edge.invite_ms.abs_diff(teams.invite_ms) <= tolerance_ms)
            .filter(|edge| match &edge.teams {
                // Already enriched: by this very row (a re-import), or taken.
                Some(t) => Some(t.id.as_str()) == teams_id,
                None => !claimed.contains(&edge.key),
            })
            .min_by_key(|edge| (edge.invite_ms.abs_diff(teams.invite_ms), edge.key.clone()))
    }
}

/// The edge record enriched with the Teams row's details (see the module doc).
pub fn enrich(edge: &CallRecord, teams: &CallRecord) -> CallRecord {
    let mut enriched = edge.clone();
    enriched.revision = edge.revision + 1;
    enriched.teams = teams.teams.clone();
    if enriched.forwarding_party.is_none() {
        enriched.forwarding_party = teams.forwarding_party.clone();
    }
    enriched
}

/// True when the record came from the edge.
pub fn is_edge(record: &CallRecord) -> bool {
    matches!(record.source, Source::Edge { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{edge_record, teams_record};

    #[test]
    fn the_closest_unclaimed_edge_record_matches() {
        let teams = teams_record(1);
        let mut near = edge_record(1);
        near.invite_ms = teams.invite_ms + 800;
        let mut nearer = edge_record(2);
        nearer.invite_ms = teams.invite_ms - 300;
        let mut outside = edge_record(3);
        outside.invite_ms = teams.invite_ms + 6_000;
        let candidates = Candidates::new(vec![near.clone(), nearer.clone(), outside]);
        let claimed = HashSet::new();
        assert_eq!(candidates.find(&teams, 5_000, &claimed), Some(&nearer));
        let claimed: HashSet<CallKey> = [nearer.key.clone()].into();
        assert_eq!(candidates.find(&teams, 5_000, &claimed), Some(&near));
        assert_eq!(
            candidates.find(&teams, 500, &claimed),
            None,
            "near is 800 ms away"
        );
    }

    #[test]
    fn other_parties_or_another_teams_row_do_not_match() {
        let teams = teams_record(1);
        let mut other_callee = edge_record(1);
        other_callee.callee = "+33699999999".into();
        let mut taken = edge_record(2);
        let mut other_row = teams.clone();
        other_row.teams.as_mut().unwrap().id = "someone-else".into();
        taken.teams = other_row.teams.clone();
        let candidates = Candidates::new(vec![other_callee, taken.clone()]);
        assert_eq!(candidates.find(&teams, 5_000, &HashSet::new()), None);
        // The same row imported again finds the record it enriched.
        taken.teams = teams.teams.clone();
        let candidates = Candidates::new(vec![taken.clone()]);
        assert_eq!(
            candidates.find(&teams, 5_000, &HashSet::new()),
            Some(&taken)
        );
    }

    #[test]
    fn enrichment_keeps_edge_times_and_raises_the_revision() {
        let mut teams = teams_record(1);
        teams.forwarding_party = Some("alice@contoso.fr".into());
        teams.billable_ms += 7_000;
        let edge = edge_record(1);
        let enriched = enrich(&edge, &teams);
        assert_eq!(enriched.revision, 1);
        assert_eq!(enriched.billable_ms, edge.billable_ms);
        assert_eq!(enriched.key, edge.key);
        assert_eq!(enriched.teams, teams.teams);
        assert_eq!(
            enriched.forwarding_party.as_deref(),
            Some("alice@contoso.fr")
        );
    }
}
