//! Matching Teams log rows with the edge records of the same calls.
//!
//! A Teams call that crossed the edge is in both sources; it must be billed once.
//! A Teams row and an edge record are the same call when they have the same trunk,
//! direction and callee, the same caller (unless either side withheld it), and INVITE
//! times within the tolerance. An edge record already enriched by another Teams row is
//! taken. Rows are paired as a set, never one by one (see [`Candidates::assign`]): every
//! (Teams row, edge record) pair within the tolerance is scored by its INVITE gap plus
//! its billable-duration disagreement plus a penalty when only one side was answered,
//! and pairs are taken best first, each row and each record once, so two calls between
//! the same parties seconds apart pair the same way whatever the rows' order. The
//! edge record stays
//! authoritative for times and duration; the match writes it again with a higher
//! revision carrying the Teams details (user, call type, SBC, Teams' duration) and, for
//! forwarded calls, the forwarding user when the edge saw no Diversion.

use cdr::{CallKey, CallRecord, CallRow, ClickhouseConfig, Source};
use std::collections::{HashMap, HashSet};

/// True when the two records may describe the same call, times aside.
///
/// On a call a Teams user forwarded or transferred, the edge may present the
/// original caller with the user's number in Diversion, where Teams logs the user's
/// number as the caller: the edge's diverting number (`original_called`, or a
/// numeric `forwarding_party`) then stands for its caller too.
pub fn same_parties(teams: &CallRecord, edge: &CallRecord) -> bool {
    let redirected = teams.teams.as_ref().is_some_and(|t| {
        crate::teams::is_forwarding(&t.call_type) || t.call_type.contains("Transfer")
    });
    let diverted_by = |number: &str| {
        edge.original_called.as_deref() == Some(number)
            || edge.forwarding_party.as_deref() == Some(number)
    };
    teams.trunk_id == edge.trunk_id
        && teams.direction == edge.direction
        && teams.callee == edge.callee
        && (teams.caller == edge.caller
            || teams.caller == "anonymous"
            || edge.caller == "anonymous"
            || (redirected && diverted_by(&teams.caller)))
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
        // In INVITE order: a row's candidates are a window of its group.
        for group in by_callee.values_mut() {
            group.sort_by(|a, b| (a.invite_ms, &a.key).cmp(&(b.invite_ms, &b.key)));
        }
        Candidates { by_callee }
    }

    /// Every record kept (the latest revision of each key).
    pub fn records(&self) -> impl Iterator<Item = &CallRecord> {
        self.by_callee.values().flatten()
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

    /// The edge record `teams` is, if any, when it is the only row to pair: see
    /// [`Candidates::assign`].
    pub fn find(
        &self,
        teams: &CallRecord,
        tolerance_ms: u64,
        claimed: &HashSet<CallKey>,
    ) -> Option<&CallRecord> {
        self.assign(std::slice::from_ref(teams), tolerance_ms, claimed)
            .pop()
            .flatten()
    }

    /// The edge record each of `rows` is, if any (same order as `rows`).
    ///
    /// Every pair of a row and an edge record of the same parties whose INVITEs are
    /// within `tolerance_ms` is a candidate, unless the edge record is already
    /// enriched by another Teams row or is in `claimed` (edge keys enriched earlier in
    /// this run). An edge record already enriched by this very row (a re-import, or a
    /// Teams copy left by a partial `reconcile --apply`; Teams ids compared in any
    /// letter case) is paired with it first; the other pairs are taken in ascending
    /// [`pair_cost`] order, each row and each edge record at most once. Then every row
    /// left without a pair that could have one gets it through an augmenting path
    /// (rows moved to their next-best free record), so that as many rows as possible
    /// are paired: a row left unpaired beside a record it could be is a call billed
    /// twice. Ties are broken by the keys, never by the rows' order, so the pairing
    /// does not depend on it.
    pub fn assign<'a>(
        &'a self,
        rows: &[CallRecord],
        tolerance_ms: u64,
        claimed: &HashSet<CallKey>,
    ) -> Vec<Option<&'a CallRecord>> {
        // (not already this row's, cost, row key, edge key, row index, edge)
        let mut pairs: Vec<(bool, u64, &CallKey, &CallKey, usize, &'a CallRecord)> = Vec::new();
        for (i, teams) in rows.iter().enumerate() {
            let Some(group) = self
                .by_callee
                .get(&(teams.trunk_id.clone(), teams.callee.clone()))
            else {
                continue;
            };
            let teams_id = teams.teams.as_ref().map(|t| t.id.as_str());
            let first = group
                .partition_point(|e| e.invite_ms < teams.invite_ms.saturating_sub(tolerance_ms));
            for edge in group[first..]
                .iter()
                .take_while(|e| e.invite_ms <= teams.invite_ms.saturating_add(tolerance_ms))
            {
                if !same_parties(teams, edge) {
                    continue;
                }
                let already_this_row = match &edge.teams {
                    Some(t) if teams_id.is_some_and(|id| id.eq_ignore_ascii_case(&t.id)) => true,
                    Some(_) => continue,
                    None if claimed.contains(&edge.key) => continue,
                    None => false,
                };
                pairs.push((
                    !already_this_row,
                    pair_cost(teams, edge),
                    &teams.key,
                    &edge.key,
                    i,
                    edge,
                ));
            }
        }
        pairs.sort_unstable_by(|a, b| (a.0, a.1, a.2, a.3).cmp(&(b.0, b.1, b.2, b.3)));
        let mut found: Vec<Option<&'a CallRecord>> = vec![None; rows.len()];
        let mut taken: HashMap<&CallKey, usize> = HashMap::new();
        let mut locked = vec![false; rows.len()];
        let mut options: Vec<Vec<&'a CallRecord>> = vec![Vec::new(); rows.len()];
        for &(not_own, _, _, edge_key, i, edge) in &pairs {
            if not_own {
                options[i].push(edge);
            }
            if found[i].is_none() && !taken.contains_key(edge_key) {
                taken.insert(edge_key, i);
                found[i] = Some(edge);
                locked[i] = !not_own;
            }
        }
        let mut pairing = Pairing {
            options,
            found,
            taken,
            locked,
        };
        for i in 0..rows.len() {
            if pairing.found[i].is_none() && !pairing.options[i].is_empty() {
                let mut visited = HashSet::new();
                pairing.augment(i, &mut visited, 0);
            }
        }
        pairing.found
    }
}

/// Longest chain of rows moved to pair one more (pairs of the same parties within
/// seconds of each other come in handfuls).
const MOST_MOVES: usize = 64;

/// A pairing being completed by augmenting paths (Kuhn's algorithm).
struct Pairing<'a, 'k> {
    /// Each row's possible edge records, best first (its own enriched record aside).
    options: Vec<Vec<&'a CallRecord>>,
    found: Vec<Option<&'a CallRecord>>,
    /// Which row holds each edge record.
    taken: HashMap<&'k CallKey, usize>,
    /// Rows paired with the record they already enriched: never moved.
    locked: Vec<bool>,
}

impl<'a: 'k, 'k> Pairing<'a, 'k> {
    /// Pairs row `i` with a free record, moving the rows in the way to other free
    /// records if they can be; false when no such path exists.
    fn augment(&mut self, i: usize, visited: &mut HashSet<&'k CallKey>, depth: usize) -> bool {
        if depth > MOST_MOVES {
            return false;
        }
        for n in 0..self.options[i].len() {
            let edge = self.options[i][n];
            if !visited.insert(&edge.key) {
                continue;
            }
            let free = match self.taken.get(&edge.key).copied() {
                None => true,
                Some(holder) => !self.locked[holder] && self.augment(holder, visited, depth + 1),
            };
            if free {
                self.taken.insert(&edge.key, i);
                self.found[i] = Some(edge);
                return true;
            }
        }
        false
    }
}

/// Added to a pair's cost when one side answered and the other did not.
pub const ANSWERED_MISMATCH_COST_MS: u64 = 60_000;

/// How badly a Teams row and an edge record agree, in ms: the INVITE gap, plus the
/// difference of their billable durations, plus [`ANSWERED_MISMATCH_COST_MS`] when
/// only one of them was answered. Lower is better.
pub fn pair_cost(teams: &CallRecord, edge: &CallRecord) -> u64 {
    let answered_mismatch = if teams.answer_ms.is_some() != edge.answer_ms.is_some() {
        ANSWERED_MISMATCH_COST_MS
    } else {
        0
    };
    teams
        .invite_ms
        .abs_diff(edge.invite_ms)
        .saturating_add(teams.billable_ms.abs_diff(edge.billable_ms))
        .saturating_add(answered_mismatch)
}

/// How an edge record and the Teams row that enriched it disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disagreement {
    /// One side answered, the other did not.
    Answered,
    /// Both answered, durations differ beyond the tolerance.
    Duration,
}

/// Whether `edge` (enriched, so carrying Teams' duration) and its Teams row disagree.
/// `teams_answered` is Teams' `successfulCall` when known (at import); `None` reads
/// it from the stored Teams duration (a successful call has one above 0 s; a failed
/// call has 0 s or none), and then an edge record answered for no longer than
/// `tolerance_ms` against Teams' 0 s is not a disagreement.
pub fn disagreement(
    edge: &CallRecord,
    teams_answered: Option<bool>,
    tolerance_ms: u64,
) -> Option<Disagreement> {
    let duration = edge.teams.as_ref().and_then(|t| t.duration_ms);
    let known = teams_answered.is_some();
    let teams_answered = teams_answered.or(duration.map(|d| d > 0))?;
    match (teams_answered, edge.answer_ms.is_some()) {
        (true, true) => match duration {
            Some(d) if d.abs_diff(edge.billable_ms) > tolerance_ms => Some(Disagreement::Duration),
            _ => None,
        },
        (false, false) => None,
        (true, false) => Some(Disagreement::Answered),
        (false, true) if known || edge.billable_ms > tolerance_ms => Some(Disagreement::Answered),
        (false, true) => None,
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
    fn a_redirected_call_matches_by_the_edges_diverting_number() {
        // The edge saw the original caller with the user's number in Diversion; Teams
        // logs the user's number as the caller.
        let mut teams = teams_record(1);
        teams.caller = "+33140258055".into();
        let mut edge = edge_record(1);
        edge.caller = "+33612121212".into();
        edge.original_called = Some("+33140258055".into());
        assert!(!same_parties(&teams, &edge), "a plain ByotOut row");
        teams.teams.as_mut().unwrap().call_type = "ByotOutUserForwarding".into();
        assert!(same_parties(&teams, &edge));
        teams.teams.as_mut().unwrap().call_type = "ByotOutUserTransfer".into();
        assert!(same_parties(&teams, &edge));
        edge.original_called = Some("+33140258099".into());
        assert!(!same_parties(&teams, &edge), "another user's diversion");
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
        // The same row imported again finds the record it enriched, whatever the
        // letter case of its id (GUIDs).
        taken.teams = teams.teams.clone();
        let candidates = Candidates::new(vec![taken.clone()]);
        assert_eq!(
            candidates.find(&teams, 5_000, &HashSet::new()),
            Some(&taken)
        );
        let mut shouted = teams.clone();
        let id = &mut shouted.teams.as_mut().unwrap().id;
        *id = id.to_ascii_uppercase();
        assert_eq!(
            candidates.find(&shouted, 5_000, &HashSet::new()),
            Some(&taken)
        );
    }

    /// Two calls between the same parties 3 s apart, the Teams rows 1.6 s after
    /// their edge records: the closest edge record of the first row is the second
    /// call's, but the durations tell them apart.
    fn two_calls_seconds_apart() -> (Vec<CallRecord>, Vec<CallRecord>) {
        let mut edge_a = edge_record(1);
        let mut edge_b = edge_record(2);
        edge_b.invite_ms = edge_a.invite_ms + 3_000;
        edge_b.answer_ms = Some(edge_b.invite_ms + 4_000);
        edge_b.end_ms = edge_b.invite_ms + 124_000;
        edge_b.billable_ms = 120_000;
        edge_a.end_ms = edge_a.answer_ms.unwrap() + 60_000;
        let mut teams_a = teams_record(1);
        let mut teams_b = teams_record(2);
        for (t, e) in [(&mut teams_a, &edge_a), (&mut teams_b, &edge_b)] {
            t.invite_ms = e.invite_ms + 1_600;
            t.answer_ms = e.answer_ms.map(|a| a + 1_600);
            t.end_ms = e.end_ms + 1_600;
            t.billable_ms = e.billable_ms;
            t.teams.as_mut().unwrap().duration_ms = Some(e.billable_ms);
        }
        (vec![edge_a, edge_b], vec![teams_a, teams_b])
    }

    #[test]
    fn pairing_prefers_agreeing_durations_whatever_the_rows_order() {
        let (edges, rows) = two_calls_seconds_apart();
        let candidates = Candidates::new(edges.clone());
        let claimed = HashSet::new();
        let forward = candidates.assign(&rows, 5_000, &claimed);
        assert_eq!(forward, vec![Some(&edges[0]), Some(&edges[1])]);
        let reversed: Vec<CallRecord> = rows.iter().rev().cloned().collect();
        let backward = candidates.assign(&reversed, 5_000, &claimed);
        assert_eq!(backward, vec![Some(&edges[1]), Some(&edges[0])]);
        for (row, edge) in rows.iter().zip(&edges) {
            assert_eq!(disagreement(&enrich(edge, row), Some(true), 2_000), None);
        }
    }

    #[test]
    fn as_many_rows_as_can_be_are_paired_before_the_cheapest_pairs() {
        // Edge calls at 0 s and 3.5 s, Teams' clock 1.8 s behind: the cheapest pair
        // (first row, second call: 1.7 s) would leave the second row 5.3 s from the
        // first call, outside the tolerance, and billed a second time.
        let mut edges = vec![edge_record(1), edge_record(2)];
        edges[1].invite_ms = edges[0].invite_ms + 3_500;
        let mut rows = vec![teams_record(1), teams_record(2)];
        for (row, edge) in rows.iter_mut().zip(&edges) {
            let delay = edge.invite_ms + 1_800 - row.invite_ms;
            row.invite_ms += delay;
            row.answer_ms = row.answer_ms.map(|a| a + delay);
            row.end_ms += delay;
            row.billable_ms = edges[0].billable_ms;
        }
        let candidates = Candidates::new(edges.clone());
        let claimed = HashSet::new();
        assert_eq!(
            candidates.assign(&rows, 5_000, &claimed),
            vec![Some(&edges[0]), Some(&edges[1])]
        );
        let reversed: Vec<CallRecord> = rows.iter().rev().cloned().collect();
        assert_eq!(
            candidates.assign(&reversed, 5_000, &claimed),
            vec![Some(&edges[1]), Some(&edges[0])]
        );
        // A row already paired with the record it enriched is never moved.
        let mut enriched = edges.clone();
        enriched[1].teams = rows[0].teams.clone();
        let candidates = Candidates::new(enriched.clone());
        assert_eq!(
            candidates.assign(&rows, 5_000, &claimed),
            vec![Some(&enriched[1]), None]
        );
    }

    #[test]
    fn answered_on_one_side_only_costs_more_than_a_few_seconds() {
        let teams = teams_record(1);
        let mut busy = edge_record(1);
        busy.answer_ms = None;
        busy.billable_ms = 0;
        busy.disposition = cdr::Disposition::Busy;
        let mut answered = edge_record(2);
        answered.invite_ms = teams.invite_ms + 4_000;
        answered.answer_ms = Some(answered.invite_ms + 4_000);
        assert!(pair_cost(&teams, &busy) > pair_cost(&teams, &answered));
        let candidates = Candidates::new(vec![busy.clone(), answered.clone()]);
        assert_eq!(
            candidates.find(&teams, 5_000, &HashSet::new()),
            Some(&answered)
        );
    }

    #[test]
    fn the_record_this_row_enriched_comes_first() {
        let teams = teams_record(1);
        let mut enriched = edge_record(1);
        enriched.invite_ms = teams.invite_ms + 4_000;
        enriched.teams = teams.teams.clone();
        let closer = edge_record(2);
        let candidates = Candidates::new(vec![enriched.clone(), closer]);
        assert_eq!(
            candidates.find(&teams, 5_000, &HashSet::new()),
            Some(&enriched)
        );
    }

    #[test]
    fn disagreements_in_answer_and_duration() {
        let teams = teams_record(1);
        let mut busy = edge_record(1);
        busy.answer_ms = None;
        busy.billable_ms = 0;
        let mut long = teams.clone();
        long.teams.as_mut().unwrap().duration_ms = Some(600_000);
        // Teams successful with 600 s, the edge not answered: known at import, read
        // from Teams' duration afterwards.
        let enriched = enrich(&busy, &long);
        assert_eq!(
            disagreement(&enriched, Some(true), 2_000),
            Some(Disagreement::Answered)
        );
        assert_eq!(
            disagreement(&enriched, None, 2_000),
            Some(Disagreement::Answered)
        );
        // The reverse: Teams failed (0 s), the edge answered 60 s.
        let mut failed = teams.clone();
        failed.answer_ms = None;
        failed.teams.as_mut().unwrap().duration_ms = Some(0);
        let enriched = enrich(&edge_record(1), &failed);
        assert_eq!(
            disagreement(&enriched, Some(false), 2_000),
            Some(Disagreement::Answered)
        );
        assert_eq!(
            disagreement(&enriched, None, 2_000),
            Some(Disagreement::Answered)
        );
        // Both answered, 7 s apart; both failed.
        long.teams.as_mut().unwrap().duration_ms = Some(67_000);
        let enriched = enrich(&edge_record(1), &long);
        assert_eq!(
            disagreement(&enriched, None, 2_000),
            Some(Disagreement::Duration)
        );
        assert_eq!(disagreement(&enriched, None, 10_000), None);
        assert_eq!(disagreement(&enrich(&busy, &failed), None, 2_000), None);
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
