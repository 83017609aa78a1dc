//! Integration tests of cdr-import against a real ClickHouse (18.16 in CI): every
//! sample format, rejects with their lines and reasons, duplicates and re-imports,
//! Teams rows enriching edge records, reconciliation, the export/import round trip
//! and the command line (gzip, folders, exit codes, dry run).

use cdr::reader::CallReader;
use cdr::schema::{migrate, CDR_MIGRATIONS};
use cdr::{
    CallKey, CallRecord, CallRecordWriter, ClickhouseConfig, Direction, Source, WriterConfig,
};
use cdr_import::draft::Reason;
use cdr_import::import::{self, ImportReport, ImportSettings};
use cdr_import::read::Format;
use cdr_import::reconcile::{self, ReconcileSettings};
use provisioning::Provisioning;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use testkit::{shared_clickhouse_url, TestDatabase};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sample(name: &str) -> PathBuf {
    root().join("samples/import").join(name)
}

fn mapping(name: &str) -> String {
    format!(
        "mapping:{}",
        root().join("cdr-import/mappings").join(name).display()
    )
}

fn provisioning() -> Arc<Provisioning> {
    Arc::new(
        Provisioning::load(&root().join("samples/provisioning")).unwrap_or_else(|e| panic!("{e}")),
    )
}

async fn database(label: &str) -> (TestDatabase, ClickhouseConfig) {
    let url = shared_clickhouse_url();
    let db = TestDatabase::create(&url, label).await;
    let store = ClickhouseConfig::new(&url).with_database(&db.name);
    migrate(&store, &[CDR_MIGRATIONS]).await.expect("migrate");
    (db, store)
}

struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Run {
        Run {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn import(
        &self,
        store: &ClickhouseConfig,
        format: &str,
        files: &[PathBuf],
    ) -> ImportReport {
        let mut settings = ImportSettings::new(
            Format::parse(format).unwrap(),
            provisioning(),
            Some(store.clone()),
        );
        settings.spool_dir = self.dir.path().join("spool");
        settings.reject_dir = self.dir.path().join("rejects");
        settings.drain = Duration::from_secs(5);
        import::run(settings, files.to_vec()).await.unwrap()
    }

    fn rejects(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join("rejects").join(name)).unwrap()
    }
}

async fn all_records(store: &ClickhouseConfig) -> Vec<CallRecord> {
    let mut stream = CallReader::new(store).calls(0, u64::MAX, None).unwrap();
    let mut out = Vec::new();
    while let Some(r) = stream.next().await.unwrap() {
        out.push(r);
    }
    out.sort_by_key(|r| r.key.clone());
    out
}

async fn raw_count(store: &ClickhouseConfig) -> u64 {
    store
        .client()
        .query("SELECT count() FROM calls")
        .fetch_one()
        .await
        .unwrap()
}

fn rejected(report: &ImportReport, reason: Reason) -> u64 {
    report.total.rejected.get(&reason).copied().unwrap_or(0)
}

fn teams_record<'a>(records: &'a [CallRecord], id_suffix: &str) -> &'a CallRecord {
    records
        .iter()
        .find(|r| r.teams.as_ref().is_some_and(|t| t.id.ends_with(id_suffix)))
        .unwrap_or_else(|| panic!("no record of Teams row {id_suffix}"))
}

#[tokio::test]
async fn teams_json_page_imports_rejects_and_reimports_nothing() {
    let (_db, store) = database("teams_json").await;
    let run = Run::new();
    let file = sample("teams-2026-10.json");
    let report = run
        .import(&store, "teams-json", std::slice::from_ref(&file))
        .await;
    let t = &report.total;
    assert_eq!(
        (t.read, t.imported, t.duplicates, t.enriched),
        (17, 13, 1, 0),
        "{t}"
    );
    assert_eq!(rejected(&report, Reason::UnknownTrunk), 1);
    assert_eq!(rejected(&report, Reason::BadTime), 1);
    assert_eq!(rejected(&report, Reason::BadNumber), 1);
    assert_eq!(t.delivered, 13);
    assert_eq!(t.notes.get("duration_recomputed"), Some(&1));

    let records = all_records(&store).await;
    assert_eq!(records.len(), 13);
    let forwarded = teams_record(&records, "000000000002");
    assert_eq!(
        forwarded.forwarding_party.as_deref(),
        Some("chloe.dubois@contoso.fr")
    );
    assert_eq!(
        forwarded.teams.as_ref().unwrap().call_type,
        "ByotOutUserForwarding"
    );
    assert_eq!(forwarded.trunk_id, "contoso-teams");
    let transferred = teams_record(&records, "000000000005");
    assert_eq!(
        transferred.forwarding_party, None,
        "a transfer is not a forwarding"
    );
    let failed = teams_record(&records, "000000000021");
    assert_eq!(failed.disposition, cdr::Disposition::Busy);
    assert_eq!((failed.answer_ms, failed.billable_ms), (None, 0));
    assert_eq!(
        failed.end_ms - failed.invite_ms,
        9_000,
        "ends at failureDateTime"
    );
    let inbound = teams_record(&records, "000000000022");
    assert_eq!(inbound.direction, Direction::Inbound);
    match &forwarded.source {
        Source::Import {
            format,
            file: f,
            line,
        } => {
            assert_eq!(&**format, "teams-json");
            assert_eq!(f.to_string(), file.display().to_string());
            assert_eq!(*line, 50, "the row's first line in the page");
        }
        other => panic!("{other:?}"),
    }

    let rejects = String::from_utf8(run.rejects("teams-2026-10.rejects.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(u64, String)> = lines
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap(),
                l["reason"]
                    .as_str()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (303, "unknown_trunk".into()),
            (326, "bad_time".into()),
            (349, "bad_number".into())
        ]
    );
    assert_eq!(
        lines[0]["trunkFullyQualifiedDomainName"], "sbc.fabrikam.fr",
        "the row itself is kept"
    );

    // The same file again: everything is a duplicate, nothing is written.
    let again = Run::new().import(&store, "teams-json", &[file]).await;
    assert_eq!(
        (again.total.imported, again.total.duplicates),
        (0, 14),
        "{}",
        again.total
    );
    assert_eq!(
        raw_count(&store).await,
        13,
        "not even a second copy was sent"
    );
}

#[tokio::test]
async fn teams_csv_overlapping_a_json_export_imports_only_new_rows() {
    let (_db, store) = database("teams_csv").await;
    let run = Run::new();
    run.import(&store, "teams-json", &[sample("teams-2026-10.json")])
        .await;
    let report = run
        .import(&store, "teams-csv", &[sample("teams-2026-10.csv")])
        .await;
    let t = &report.total;
    assert_eq!((t.read, t.imported, t.duplicates), (10, 5, 2), "{t}");
    assert_eq!(t.rejected_total(), 3);
    let records = all_records(&store).await;
    assert_eq!(records.len(), 18);
    let forwarded = teams_record(&records, "000000000030");
    assert_eq!(forwarded.billable_ms, 3_600_000);
    assert_eq!(
        forwarded.forwarding_party.as_deref(),
        Some("alice.martin@contoso.fr")
    );
    match &forwarded.source {
        Source::Import { format, line, .. } => {
            assert_eq!((&**format, *line), ("teams-csv", 4))
        }
        other => panic!("{other:?}"),
    }
    let rejects = String::from_utf8(run.rejects("teams-2026-10.rejects.csv")).unwrap();
    let mut lines = rejects.lines();
    assert!(lines
        .next()
        .unwrap()
        .ends_with("mediaBypassEnabled,line,reason"));
    let reasons: Vec<String> = lines
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            format!(
                "{} {}",
                fields[21],
                fields[22].trim_matches('"').split(':').next().unwrap()
            )
        })
        .collect();
    assert_eq!(
        reasons,
        vec!["8 unknown_trunk", "9 bad_time", "10 bad_number"]
    );
}

#[tokio::test]
async fn teams_rows_enrich_their_edge_records_instead_of_counting_twice() {
    let (_db, store) = database("enrich").await;
    let run = Run::new();
    let edge = run
        .import(&store, "edge-csv", &[sample("edge-contoso-2026-10.csv")])
        .await;
    assert_eq!(edge.total.imported, 12);
    let before = all_records(&store).await;

    let report = run
        .import(&store, "teams-json", &[sample("teams-2026-10.json")])
        .await;
    let t = &report.total;
    assert_eq!((t.enriched, t.imported, t.duplicates), (10, 3, 1), "{t}");
    assert_eq!(t.notes.get("duration_disagrees"), Some(&1));
    let after = all_records(&store).await;
    assert_eq!(after.len(), 12 + 3, "10 Teams rows became no second call");
    let forwarded = teams_record(&after, "000000000002");
    let original = before.iter().find(|r| r.key == forwarded.key).unwrap();
    assert!(matches!(forwarded.source, Source::Edge { .. }));
    assert_eq!(forwarded.revision, 1);
    assert_eq!(
        (
            forwarded.invite_ms,
            forwarded.answer_ms,
            forwarded.end_ms,
            forwarded.billable_ms
        ),
        (
            original.invite_ms,
            original.answer_ms,
            original.end_ms,
            original.billable_ms
        ),
        "the edge stays authoritative for times"
    );
    assert_eq!(
        forwarded.forwarding_party.as_deref(),
        Some("chloe.dubois@contoso.fr")
    );
    assert_eq!(
        forwarded.teams.as_ref().unwrap().user_principal_name,
        "chloe.dubois@contoso.fr"
    );

    let again = run
        .import(&store, "teams-json", &[sample("teams-2026-10.json")])
        .await;
    assert_eq!(
        (
            again.total.enriched,
            again.total.imported,
            again.total.duplicates
        ),
        (0, 0, 14),
        "{}",
        again.total
    );

    let settings = ReconcileSettings {
        month: chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        match_tolerance_ms: 5_000,
        duration_tolerance_ms: 2_000,
        samples: 3,
    };
    let report = reconcile::reconcile(&store, &provisioning(), &settings)
        .await
        .unwrap();
    assert_eq!(report.matched, 10);
    assert_eq!(
        report.teams_without_edge.total(),
        3,
        "Teams-only calls on a trunk crossing the edge"
    );
    assert_eq!(
        report.edge_without_teams.total(),
        2,
        "the last two edge calls are not in the log"
    );
    assert_eq!(report.duration_disagreements.total(), 1);
    assert_eq!(report.double_counted.total(), 0);
    let text = report.render(&settings);
    assert!(
        text.contains("Teams calls with no edge record: 3 (contoso-teams 3)"),
        "{text}"
    );
    assert!(
        text.contains("teams-2026-10.json:"),
        "samples name their file and line:\n{text}"
    );
}

async fn write(store: &ClickhouseConfig, records: &[CallRecord]) {
    let dir = tempfile::tempdir().unwrap();
    let (writer, running, _) =
        CallRecordWriter::start(store, WriterConfig::new(dir.path())).unwrap();
    for r in records {
        assert_eq!(
            writer.write(r.clone()).await.unwrap(),
            cdr::Accepted::Delivered
        );
    }
    drop(writer);
    running.shutdown(Duration::from_secs(5)).await;
}

fn edge_of(teams: &CallRecord, node_call: &str, offset_ms: i64) -> CallRecord {
    let mut edge = teams.clone();
    edge.key = CallKey::for_edge("edge-1", node_call, "tag", 1);
    edge.source = Source::Edge {
        node: "edge-1".into(),
    };
    edge.teams = None;
    edge.forwarding_party = None;
    let shift = |t: u64| (t as i64 + offset_ms) as u64;
    edge.invite_ms = shift(edge.invite_ms);
    edge.answer_ms = edge.answer_ms.map(shift);
    edge.end_ms = shift(edge.end_ms);
    edge.channels_in_force = Some(10);
    edge.calls_in_progress = Some(0);
    edge
}

#[tokio::test]
async fn reconcile_finds_late_edge_records_near_misses_and_one_sided_calls() {
    let (_db, store) = database("reconcile").await;
    let run = Run::new();
    let lines = sample("teams-2026-10.json");
    run.import(&store, "teams-json", &[lines]).await;
    let teams = all_records(&store).await;
    let late = teams_record(&teams, "000000000020").clone();
    let near_miss = teams_record(&teams, "000000000022").clone();
    // The edge records arrive after the Teams import (a spool replay): one within the
    // tolerance, one 8 s away (outside 5 s).
    write(
        &store,
        &[
            edge_of(&late, "late@sbc", 1_200),
            edge_of(&near_miss, "near@sbc", 8_000),
        ],
    )
    .await;

    let settings = ReconcileSettings {
        month: chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        match_tolerance_ms: 5_000,
        duration_tolerance_ms: 2_000,
        samples: 20,
    };
    let report = reconcile::reconcile(&store, &provisioning(), &settings)
        .await
        .unwrap();
    assert_eq!(report.double_counted.total(), 1);
    assert_eq!(report.double_counted.samples[0].key, late.key);
    let text = report.render(&settings);
    assert!(text.contains(", edge record INVITE +1200 ms"), "{text}");
    assert!(report
        .teams_without_edge
        .samples
        .iter()
        .any(|r| r.key == near_miss.key));
    assert_eq!(
        report.teams_without_edge.total(),
        12,
        "every Teams-only row but the late one"
    );
    assert_eq!(report.edge_without_teams.total(), 1);
    assert_eq!(
        report.edge_without_teams.samples[0].sip_call_id,
        near_miss.sip_call_id
    );

    reconcile::apply(
        &store,
        &run.dir.path().join("apply-spool"),
        &report.double_counted_pairs,
    )
    .await
    .unwrap();
    // ALTER DELETE is a background mutation: wait for it.
    let mut remaining = 1;
    for _ in 0..100 {
        remaining = store
            .client()
            .query("SELECT count() FROM calls WHERE call_key = ?")
            .bind(late.key.as_str())
            .fetch_one::<u64>()
            .await
            .unwrap();
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(remaining, 0, "the Teams copy is deleted");
    let fixed = reconcile::reconcile(&store, &provisioning(), &settings)
        .await
        .unwrap();
    assert_eq!(fixed.double_counted.total(), 0);
    assert_eq!(fixed.matched, 1);
}

fn ms(text: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis() as u64
}

fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A Graph row on the sample Teams trunk: answered `answered.0` ms after its INVITE
/// for `answered.1` ms, or busy.
fn graph_row(
    id: &str,
    caller: &str,
    callee: &str,
    invite: &str,
    answered: Option<(u64, u64)>,
) -> String {
    let invite = ms(invite);
    let mut row = serde_json::json!({
        "id": id, "correlationId": format!("c-{id}"), "userPrincipalName": "alice@contoso.fr",
        "inviteDateTime": rfc3339(invite), "callType": "ByotOut", "callerNumber": caller,
        "calleeNumber": callee, "trunkFullyQualifiedDomainName": "sbc.contoso.fr",
    });
    let fields = match answered {
        Some((after, duration)) => serde_json::json!({
            "startDateTime": rfc3339(invite + after),
            "endDateTime": rfc3339(invite + after + duration),
            "failureDateTime": null, "successfulCall": true, "finalSipCode": 0,
            "duration": duration / 1000,
        }),
        None => serde_json::json!({
            "startDateTime": rfc3339(invite), "endDateTime": null,
            "failureDateTime": rfc3339(invite + 3_000), "successfulCall": false,
            "finalSipCode": 486, "duration": 0,
        }),
    };
    for (k, v) in fields.as_object().unwrap() {
        row[k] = v.clone();
    }
    row.to_string()
}

/// An outbound edge record on the sample Teams trunk, answered as in [`graph_row`].
fn edge_call(
    name: &str,
    caller: &str,
    callee: &str,
    invite: &str,
    answered: Option<(u64, u64)>,
) -> CallRecord {
    let invite_ms = ms(invite);
    let (answer_ms, end_ms, billable_ms) = match answered {
        Some((after, duration)) => (
            Some(invite_ms + after),
            invite_ms + after + duration,
            duration,
        ),
        None => (None, invite_ms + 3_000, 0),
    };
    CallRecord {
        key: CallKey::for_edge("edge-1", name, "tag", 1),
        source: Source::Edge {
            node: "edge-1".into(),
        },
        trunk_id: "contoso-teams".into(),
        customer_id: "contoso".into(),
        site_id: Some("la-defense".into()),
        direction: Direction::Outbound,
        caller: caller.into(),
        callee: callee.into(),
        original_called: None,
        forwarding_party: None,
        sip_call_id: name.into(),
        final_status: Some(if answered.is_some() { 200 } else { 486 }),
        disposition: if answered.is_some() {
            cdr::Disposition::Answered
        } else {
            cdr::Disposition::Busy
        },
        emergency: false,
        invite_ms,
        answer_ms,
        end_ms,
        billable_ms,
        channels_in_force: Some(10),
        calls_in_progress: Some(0),
        revision: 0,
        teams: None,
        end_reason: None,
    }
}

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn october() -> ReconcileSettings {
    ReconcileSettings {
        month: chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        match_tolerance_ms: 5_000,
        duration_tolerance_ms: 2_000,
        samples: 20,
    }
}

async fn wait_deleted(store: &ClickhouseConfig, key: &CallKey) {
    let mut remaining = 1;
    for _ in 0..100 {
        remaining = store
            .client()
            .query("SELECT count() FROM calls WHERE call_key = ?")
            .bind(key.as_str())
            .fetch_one::<u64>()
            .await
            .unwrap();
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(remaining, 0, "the Teams copy {key} is deleted");
}

const CALLER: &str = "+33140258069";
const CALLEE: &str = "+33649258479";

/// Two calls between the same parties 3 s apart (60 s then 120 s), their Teams rows
/// 1.6 s after the edge's INVITEs: the first row is closer to the second edge record.
fn two_calls_seconds_apart() -> ([CallRecord; 2], [String; 2]) {
    let edges = [
        edge_call(
            "a@sbc",
            CALLER,
            CALLEE,
            "2026-10-11T10:00:00Z",
            Some((2_000, 60_000)),
        ),
        edge_call(
            "b@sbc",
            CALLER,
            CALLEE,
            "2026-10-11T10:00:03Z",
            Some((2_000, 120_000)),
        ),
    ];
    let rows = [
        graph_row(
            "t2a",
            CALLER,
            CALLEE,
            "2026-10-11T10:00:01.600Z",
            Some((2_000, 60_000)),
        ),
        graph_row(
            "t2b",
            CALLER,
            CALLEE,
            "2026-10-11T10:00:04.600Z",
            Some((2_000, 120_000)),
        ),
    ];
    (edges, rows)
}

#[tokio::test]
async fn calls_seconds_apart_pair_by_agreement_whatever_the_rows_order() {
    let (edges, rows) = two_calls_seconds_apart();
    for (label, order) in [("ab", [0, 1]), ("ba", [1, 0])] {
        // At import: the edge records are stored first.
        let (_db, store) = database(&format!("pair_import_{label}")).await;
        let run = Run::new();
        write(&store, &edges).await;
        let lines: Vec<String> = order.iter().map(|&i| rows[i].clone()).collect();
        let file = write_lines(run.dir.path(), "teams.json", &lines);
        let report = run.import(&store, "teams-json", &[file]).await;
        assert_eq!(report.total.enriched, 2, "{label}: {}", report.total);
        assert!(report.total.notes.is_empty(), "{label}: {}", report.total);
        let stored = all_records(&store).await;
        assert_eq!(stored.len(), 2);
        for (edge, id) in edges.iter().zip(["t2a", "t2b"]) {
            let r = stored.iter().find(|r| r.key == edge.key).unwrap();
            assert_eq!(r.teams.as_ref().unwrap().id, id, "{label}");
        }
        let found = reconcile::reconcile(&store, &provisioning(), &october())
            .await
            .unwrap();
        assert_eq!(found.matched, 2);
        assert!(!found.has_mismatches(), "{label}: {found:?}");

        // At reconciliation: the Teams rows are stored first.
        let (_db, store) = database(&format!("pair_reconcile_{label}")).await;
        let file = write_lines(run.dir.path(), "teams.json", &lines);
        run.import(&store, "teams-json", &[file]).await;
        write(&store, &edges).await;
        let found = reconcile::reconcile(&store, &provisioning(), &october())
            .await
            .unwrap();
        assert_eq!(found.double_counted.total(), 2, "{label}");
        assert_eq!(found.duration_disagreements.total(), 0, "{label}");
        assert_eq!(found.answered_disagreements.total(), 0, "{label}");
        for (_, enriched) in &found.double_counted_pairs {
            let enriched = enriched.as_ref().unwrap();
            let id = if enriched.key == edges[0].key {
                "t2a"
            } else {
                "t2b"
            };
            assert_eq!(enriched.teams.as_ref().unwrap().id, id, "{label}");
        }
    }
}

/// Imports one answered Graph row (`id`, INVITE at `invite`, answered 2 s later for
/// 60 s) into an empty database and gives back its stored record: a Teams copy.
async fn stored_teams_copy(
    store: &ClickhouseConfig,
    run: &Run,
    id: &str,
    invite: &str,
) -> CallRecord {
    let row = graph_row(id, CALLER, CALLEE, invite, Some((2_000, 60_000)));
    let file = write_lines(run.dir.path(), "teams.json", &[row]);
    run.import(store, "teams-json", &[file]).await;
    all_records(store).await.remove(0)
}

#[tokio::test]
async fn a_teams_copy_beside_the_edge_record_it_enriched_is_double_counted_and_removed() {
    // A partial `--apply`: the enriched edge record was written, the Teams copy was
    // not deleted.
    let (_db, store) = database("reconcile_partial").await;
    let run = Run::new();
    let copy = stored_teams_copy(&store, &run, "t-partial", "2026-10-14T09:00:01Z").await;
    let mut enriched = edge_call(
        "p@sbc",
        CALLER,
        CALLEE,
        "2026-10-14T09:00:00Z",
        Some((3_000, 60_000)),
    );
    enriched.teams = copy.teams.clone();
    enriched.revision = 1;
    write(&store, std::slice::from_ref(&enriched)).await;

    let found = reconcile::reconcile(&store, &provisioning(), &october())
        .await
        .unwrap();
    assert_eq!(found.teams_without_edge.total(), 0, "{found:?}");
    assert_eq!(found.double_counted.total(), 1);
    assert_eq!(found.double_counted_pairs, vec![(copy.key.clone(), None)]);
    assert_eq!(found.matched, 1);
    reconcile::apply(
        &store,
        &run.dir.path().join("apply"),
        &found.double_counted_pairs,
    )
    .await
    .unwrap();
    wait_deleted(&store, &copy.key).await;
    let fixed = reconcile::reconcile(&store, &provisioning(), &october())
        .await
        .unwrap();
    assert!(!fixed.has_mismatches(), "{fixed:?}");
    assert_eq!(fixed.matched, 1);
    let stored = all_records(&store).await;
    assert_eq!(
        stored,
        vec![enriched],
        "the edge record is not written again"
    );
}

#[tokio::test]
async fn a_call_across_the_paris_month_boundary_is_found_double_counted() {
    // 23:59:59 on 31 October in Paris at the edge, 00:00:01 on 1 November in Teams;
    // the Teams row stored first.
    let (_db, store) = database("reconcile_boundary").await;
    let run = Run::new();
    let copy = stored_teams_copy(&store, &run, "t-midnight", "2026-10-31T23:00:01Z").await;
    let edge = edge_call(
        "m@sbc",
        CALLER,
        CALLEE,
        "2026-10-31T22:59:59Z",
        Some((2_000, 60_000)),
    );
    write(&store, std::slice::from_ref(&edge)).await;

    let october = reconcile::reconcile(&store, &provisioning(), &october())
        .await
        .unwrap();
    assert_eq!(october.edge_without_teams.total(), 0, "{october:?}");
    assert!(october.trunks_without_teams_log.is_empty(), "{october:?}");
    assert_eq!(october.double_counted.total(), 0, "reported in November");
    let mut settings = self::october();
    settings.month = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let november = reconcile::reconcile(&store, &provisioning(), &settings)
        .await
        .unwrap();
    assert_eq!(november.double_counted.total(), 1, "{november:?}");
    assert_eq!(november.teams_without_edge.total(), 0);
    assert_eq!(november.teams_only.total(), 0, "{november:?}");
    let (key, enriched) = &november.double_counted_pairs[0];
    assert_eq!(key, &copy.key);
    assert_eq!(enriched.as_ref().unwrap().key, edge.key);
}

#[tokio::test]
async fn calls_answered_on_one_side_only_are_reported() {
    let (_db, store) = database("reconcile_answered").await;
    let run = Run::new();
    // Teams successful 600 s, the edge busy; and the reverse, on another callee.
    let other = "+33611223344";
    write(
        &store,
        &[
            edge_call("busy@sbc", CALLER, CALLEE, "2026-10-15T09:00:00Z", None),
            edge_call(
                "answered@sbc",
                CALLER,
                other,
                "2026-10-15T10:00:00Z",
                Some((2_000, 600_000)),
            ),
        ],
    )
    .await;
    let rows = [
        graph_row(
            "t-long",
            CALLER,
            CALLEE,
            "2026-10-15T09:00:01Z",
            Some((2_000, 600_000)),
        ),
        graph_row("t-busy", CALLER, other, "2026-10-15T10:00:01Z", None),
    ];
    let file = write_lines(run.dir.path(), "teams.json", &rows);
    let report = run.import(&store, "teams-json", &[file]).await;
    assert_eq!(report.total.enriched, 2, "{}", report.total);
    assert_eq!(report.total.notes.get("answered_disagrees"), Some(&2));

    let found = reconcile::reconcile(&store, &provisioning(), &october())
        .await
        .unwrap();
    assert_eq!(found.answered_disagreements.total(), 2, "{found:?}");
    assert_eq!(found.duration_disagreements.total(), 0);
    assert!(found.has_mismatches());
    let text = found.render(&october());
    assert!(
        text.contains("answered on one side only (Teams successful, edge not answered, or the reverse): 2 (contoso-teams 2)"),
        "{text}"
    );
    assert!(text.contains("teams t-long"), "{text}");
    assert!(
        text.contains("2026-10-15T11:00:00.000+02:00"),
        "Paris times:\n{text}"
    );
}

#[tokio::test]
async fn export_then_import_gives_identical_records() {
    let (_db, source) = database("export").await;
    let run = Run::new();
    run.import(&source, "edge-csv", &[sample("edge-contoso-2026-10.csv")])
        .await;
    run.import(&source, "teams-json", &[sample("teams-2026-10.json")])
        .await;
    let original = all_records(&source).await;
    assert!(original
        .iter()
        .any(|r| r.revision == 1 && r.teams.is_some()));
    assert!(original
        .iter()
        .any(|r| matches!(r.source, Source::Import { .. })));

    let exported = run.dir.path().join("october.csv.gz");
    let status = Command::new(env!("CARGO_BIN_EXE_cdr-import"))
        .args([
            "--clickhouse",
            &source.url,
            "--database",
            &source.database,
            "export",
            "--month",
            "2026-10",
            "--output",
        ])
        .arg(&exported)
        .status()
        .unwrap();
    assert!(status.success());

    let names: Vec<_> = std::fs::read_dir(run.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.ends_with(".partial")),
        "the partial file was renamed: {names:?}"
    );

    // A failed export leaves no file that looks whole: here the database is missing.
    let failed = run.dir.path().join("failed.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_cdr-import"))
        .args([
            "--clickhouse",
            &source.url,
            "--database",
            "fairtrunk_no_such_db",
        ])
        .args(["export", "--month", "2026-10", "--output"])
        .arg(&failed)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing written to"), "{stderr}");
    assert!(!failed.exists());
    assert!(!run.dir.path().join(".failed.csv.partial").exists());

    let (_db2, target) = database("export_target").await;
    let report = run
        .import(&target, "edge-csv", std::slice::from_ref(&exported))
        .await;
    assert_eq!(
        report.total.imported,
        original.len() as u64,
        "{}",
        report.total
    );
    assert_eq!(all_records(&target).await, original);

    // Where the edge's records are stored before their Teams enrichment, the export's
    // later revisions replace them; the others are duplicates.
    let (_db3, older) = database("export_over_older").await;
    run.import(&older, "edge-csv", &[sample("edge-contoso-2026-10.csv")])
        .await;
    let report = run.import(&older, "edge-csv", &[exported]).await;
    let enriched = original.iter().filter(|r| r.revision > 0).count() as u64;
    assert!(enriched > 0);
    assert_eq!(
        report.total.notes.get("replaced_older_revision"),
        Some(&enriched),
        "{}",
        report.total
    );
    assert_eq!(all_records(&older).await, original);
}

#[tokio::test]
async fn edge_rows_must_match_provisioning_and_be_written_as_the_edge_writes_them() {
    let (_db, store) = database("edge_checks").await;
    let run = Run::new();
    let sample_text = std::fs::read_to_string(sample("edge-contoso-2026-10.csv")).unwrap();
    let mut lines = sample_text.lines();
    let header = lines.next().unwrap();
    let row = lines.next().unwrap();
    let changed = |key: &str, from: &str, to: &str| {
        assert!(row.contains(from), "{row}");
        row.replacen(&row[..32], key, 1).replacen(from, to, 1)
    };
    let rows = [
        changed(
            "00000000000000000000000000000001",
            ",+33140258039,",
            ",0140258039,",
        ),
        changed(
            "00000000000000000000000000000002",
            ",+33649258479,",
            ",+33 6 49 25 84 79,",
        ),
        changed("00000000000000000000000000000003", ",la-defense,", ",lyon,"),
        changed(
            "00000000000000000000000000000004",
            ",contoso,",
            ",wrong-customer,",
        ),
        changed(
            "00000000000000000000000000000005",
            ",+33649258479,",
            ",alice,",
        ),
        // Ended 32 days after its INVITE; timed in January 1970.
        changed(
            "00000000000000000000000000000006",
            ",1790806448343,",
            ",1793571236049,",
        ),
        changed(
            "00000000000000000000000000000007",
            ",1790806436049,",
            ",1000,",
        ),
    ];
    let file = run.dir.path().join("edited.csv");
    std::fs::write(&file, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
    let report = run.import(&store, "edge-csv", &[file]).await;
    assert_eq!(
        report.total.imported, 1,
        "only a text that is no number is kept as written"
    );
    assert_eq!(rejected(&report, Reason::BadNumber), 2);
    assert_eq!(rejected(&report, Reason::UnknownTrunk), 2);
    assert_eq!(rejected(&report, Reason::InconsistentTimes), 1);
    assert_eq!(rejected(&report, Reason::BadTime), 1);
    let rejects = String::from_utf8(run.rejects("edited.rejects.csv")).unwrap();
    for expected in [
        r#",2,"bad_number: caller: ""0140258039"" is not written as the edge writes it (+33140258039)""#,
        r#",3,"bad_number: callee: ""+33 6 49 25 84 79"" is not written as the edge writes it (+33649258479)""#,
        r#",4,"unknown_trunk: site_id ""lyon"" is not a site of trunk contoso-teams""#,
        r#",5,"unknown_trunk: customer_id ""wrong-customer"" is not the customer of trunk contoso-teams (contoso)""#,
        ",7,inconsistent_times: end 2026-11-01T22:13:56.049Z is more than 31 days after invite 2026-09-30T22:13:56.049Z\n",
        ",8,bad_time: invite 1970-01-01T00:00:01.000Z is before 2000: not a call's time",
    ] {
        assert!(rejects.contains(expected), "{expected} not in\n{rejects}");
    }
}

#[tokio::test]
async fn generic_latin1_paris_times_across_the_october_change() {
    let (_db, store) = database("generic").await;
    let run = Run::new();
    let report = run
        .import(
            &store,
            &mapping("generic.toml"),
            &[sample("generic-2026-10.csv")],
        )
        .await;
    let t = &report.total;
    assert_eq!((t.read, t.imported, t.duplicates), (14, 8, 1), "{t}");
    for reason in [
        Reason::AmbiguousTime,
        Reason::NonexistentTime,
        Reason::BadNumber,
        Reason::UnknownTrunk,
        Reason::BadTime,
    ] {
        assert_eq!(rejected(&report, reason), 1, "{reason:?}");
    }
    let records = all_records(&store).await;
    let by_id = |id: &str| {
        records
            .iter()
            .find(|r| r.key == CallKey::for_import("mapping:generic", id))
            .unwrap_or_else(|| panic!("{id}"))
    };
    let utc = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis() as u64
    };
    // 02:30 local on 25 October, once in summer time (+02:00) and once in winter time (+01:00).
    assert_eq!(by_id("G-0005").invite_ms, utc("2026-10-25T00:30:00Z"));
    assert_eq!(by_id("G-0004").invite_ms, utc("2026-10-25T01:30:00Z"));
    // Answered 02:55 summer time, ended 02:05 winter time: ten minutes.
    let across = by_id("G-0006");
    assert_eq!(across.answer_ms, Some(utc("2026-10-25T00:55:00Z")));
    assert_eq!(across.billable_ms, 600_000);
    let inbound = by_id("G-0002");
    assert_eq!(
        (inbound.direction, inbound.site_id.as_deref()),
        (Direction::Inbound, Some("lyon"))
    );
    assert_eq!(inbound.caller, "+33472000002");
    assert_eq!(by_id("G-0012").disposition, cdr::Disposition::Cancelled);

    let rejects = run.rejects("generic-2026-10.rejects.csv");
    let text = encoding_rs::WINDOWS_1252.decode(&rejects).0.into_owned();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id_appel;date_debut;date_reponse;date_fin;decalage_utc;durée;appelant;appelé;sens;resultat;code_sip;trunk;site;line;reason"
    );
    let got: Vec<String> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(';').collect();
            format!(
                "{} {} {}",
                f[0],
                f[13],
                f[14].trim_matches('"').split(':').next().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            "G-0007 8 ambiguous_time",
            "G-0008 9 nonexistent_time",
            "G-0009 10 bad_number",
            "G-0010 11 unknown_trunk",
            "G-0011 12 bad_time"
        ]
    );
    assert!(
        rejects.windows(7).any(|w| w == b"r\xe9pondu"),
        "rejects stay Latin-1"
    );
}

#[tokio::test]
async fn kamailio_acc_cdrs_import_through_their_mapping() {
    let (_db, store) = database("kamailio").await;
    let run = Run::new();
    let report = run
        .import(
            &store,
            &mapping("kamailio-acc.toml"),
            &[sample("kamailio-acc-2026-10.tsv")],
        )
        .await;
    let t = &report.total;
    assert_eq!((t.read, t.imported), (7, 5), "{t}");
    assert_eq!(rejected(&report, Reason::AmbiguousTime), 1);
    assert_eq!(rejected(&report, Reason::UnknownTrunk), 1);
    let records = all_records(&store).await;
    let by_id = |id: &str| {
        records
            .iter()
            .find(|r| r.key == CallKey::for_import("mapping:kamailio-acc", id))
            .unwrap()
    };
    let inbound = by_id("b91c2d@carrier");
    assert_eq!(inbound.trunk_id, "boulangerie-martin-nantes");
    assert_eq!(inbound.direction, Direction::Inbound);
    assert_eq!(inbound.billable_ms, 30_500);
    assert_eq!(inbound.sip_call_id, "b91c2d@carrier");
    let across = by_id("d77@pbx");
    assert_eq!(
        across.billable_ms, 900_000,
        "02:50 summer time to 02:05 winter time"
    );
    assert_eq!(
        by_id("g11@pbx").site_id.as_deref(),
        Some("lyon"),
        "127.0.0.22 is the address of acme's Lyon site"
    );
}

#[tokio::test]
async fn the_command_line_reads_folders_and_gzip_and_sets_the_exit_code() {
    let (_db, store) = database("cli").await;
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(inputs.join("older")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(inputs.join("older/generic.csv.gz")).unwrap(),
        flate2::Compression::default(),
    );
    std::io::copy(
        &mut std::fs::File::open(sample("generic-2026-10.csv")).unwrap(),
        &mut gz,
    )
    .unwrap();
    gz.finish().unwrap();
    let cli = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cdr-import"))
            .current_dir(dir.path())
            .args(["--clickhouse", &store.url, "--database", &store.database])
            .arg("--provisioning")
            .arg(root().join("samples/provisioning"))
            .args(["--format", &mapping("generic.toml"), "--progress", "lines"])
            .args(extra)
            .arg(&inputs)
            .output()
            .unwrap()
    };
    let dry = cli(&["--dry-run", "--max-reject", "50%"]);
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        stdout.contains("dry run, nothing written: 14 read, 8 imported"),
        "{stdout}"
    );
    assert_eq!(raw_count(&store).await, 0, "a dry run writes nothing");

    let out = cli(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "5 of 14 rows rejected is over the default 1%:\n{stdout}"
    );
    assert!(
        stdout.contains("rejected rows (5) exceed --max-reject 1% of the rows read"),
        "{stdout}"
    );
    assert!(
        stdout.contains("written: 8 delivered to ClickHouse"),
        "{stdout}"
    );
    assert!(
        stderr.contains("generic.csv.gz:10: bad_number: callee:"),
        "{stderr}"
    );
    assert!(
        dir.path().join("generic.rejects.csv").exists(),
        "rejects go to the current folder"
    );
    assert_eq!(raw_count(&store).await, 8);

    let bad = Command::new(env!("CARGO_BIN_EXE_cdr-import"))
        .args([
            "--provisioning",
            "/nonexistent",
            "--format",
            "teams-xml",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("format \"teams-xml\" is not known"));

    let unmigrated = ClickhouseConfig::new(&store.url).with_database("fairtrunk_never_migrated");
    let out = command_line(
        dir.path(),
        &unmigrated,
        &["--format", "teams-json"],
        &[sample("teams-2026-10.json")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("database fairtrunk_never_migrated does not exist on http://")
            && stderr.contains("run `cdr migrate` first"),
        "{stderr}"
    );
}

#[tokio::test]
async fn teams_json_lines_and_a_powershell_csv_export_read_like_the_page() {
    let (_db, store) = database("teams_lines").await;
    let run = Run::new();
    let page: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sample("teams-2026-10.json")).unwrap())
            .unwrap();
    let rows = page["value"].as_array().unwrap();
    let lines = run.dir.path().join("teams.jsonl");
    let text: String = rows[..3]
        .iter()
        .map(|r| format!("{r}\n"))
        .chain(["{\"id\": broken\n".to_string()])
        .collect();
    std::fs::write(&lines, text).unwrap();
    let report = run.import(&store, "teams-json", &[lines]).await;
    assert_eq!(
        (report.total.read, report.total.imported),
        (4, 3),
        "{}",
        report.total
    );
    assert_eq!(rejected(&report, Reason::Malformed), 1);
    let records = all_records(&store).await;
    match &teams_record(&records, "000000000002").source {
        Source::Import { line, .. } => assert_eq!(*line, 3, "one row per line"),
        other => panic!("{other:?}"),
    }

    // PowerShell's Export-Csv: a #TYPE line before the header, quoted fields.
    let csv = std::fs::read_to_string(sample("teams-2026-10.csv")).unwrap();
    let csv = csv.trim_start_matches('\u{feff}');
    let quoted: String = csv
        .lines()
        .map(|l| {
            l.split(',')
                .map(|f| format!("\"{f}\""))
                .collect::<Vec<_>>()
                .join(",")
                + "\r\n"
        })
        .collect();
    let ps = run.dir.path().join("teams-ps.csv");
    std::fs::write(
        &ps,
        format!("#TYPE System.Management.Automation.PSCustomObject\r\n{quoted}"),
    )
    .unwrap();
    let report = run.import(&store, "teams-csv", &[ps]).await;
    assert_eq!(
        (report.total.read, report.total.rejected_total()),
        (10, 3),
        "{}",
        report.total
    );
    assert_eq!(
        report.total.duplicates, 2,
        "rows 0 and 1 came with the JSON lines"
    );
    let rejects = String::from_utf8(run.rejects("teams-ps.rejects.csv")).unwrap();
    assert!(
        rejects
            .lines()
            .nth(1)
            .unwrap()
            .contains(",9,\"unknown_trunk"),
        "{rejects}"
    );
}

/// `cdr-import` on `inputs` with the sample provisioning, `store` and `extra`
/// arguments, from the folder `dir`.
fn command_line(
    dir: &Path,
    store: &ClickhouseConfig,
    extra: &[&str],
    inputs: &[PathBuf],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cdr-import"))
        .current_dir(dir)
        .args(["--clickhouse", &store.url, "--database", &store.database])
        .arg("--provisioning")
        .arg(root().join("samples/provisioning"))
        .args(["--progress", "none"])
        .args(extra)
        .args(inputs)
        .output()
        .unwrap()
}

/// An answered outbound Graph row on the sample Teams trunk, on one line.
fn teams_json_row(id: &str) -> String {
    format!(
        r#"{{"id": "{id}", "userPrincipalName": "alice@contoso.fr", "inviteDateTime": "2026-10-05T08:00:00Z", "startDateTime": "2026-10-05T08:00:04Z", "failureDateTime": null, "endDateTime": "2026-10-05T08:01:04Z", "duration": 60, "successfulCall": true, "callType": "ByotOut", "callerNumber": "+33140258058", "calleeNumber": "+33612345678", "finalSipCode": 0, "trunkFullyQualifiedDomainName": "sbc.contoso.fr"}}"#
    )
}

#[tokio::test]
async fn a_json_page_broken_partway_is_not_read_to_the_end() {
    let (_db, store) = database("json_broken_page").await;
    let dir = tempfile::tempdir().unwrap();
    // Rows on lines 2 to 6, the comma after line 4's row missing: the rest of the page
    // cannot be told from a damaged file.
    let rows: Vec<String> = (0..5)
        .map(|n| teams_json_row(&format!("broken-page-{n}")))
        .collect();
    let page = dir.path().join("page.json");
    std::fs::write(
        &page,
        format!(
            "{{\"value\": [\n{},\n{},\n{}\n{},\n{}\n]}}\n",
            rows[0], rows[1], rows[2], rows[3], rows[4]
        ),
    )
    .unwrap();
    let out = command_line(
        dir.path(),
        &store,
        &["--format", "teams-json", "--max-reject", "50%"],
        &[page],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("not read to the end: line 5: expected ',' or ']' between rows"),
        "{stdout}"
    );
    assert!(stdout.contains("4 read, 3 imported"), "{stdout}");
    assert_eq!(
        raw_count(&store).await,
        3,
        "the rows before it are imported"
    );
    let rejects = std::fs::read_to_string(dir.path().join("page.rejects.jsonl")).unwrap();
    let refused: Vec<serde_json::Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(refused.len(), 1, "{rejects}");
    assert_eq!(refused[0]["line"], 5);
    assert_eq!(refused[0]["text"], format!("{},", rows[3]), "the bad text");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .ends_with("the rest of the file is not read"),
        "{rejects}"
    );
}

#[tokio::test]
async fn a_broken_json_line_costs_only_its_line() {
    let (_db, store) = database("json_broken_line").await;
    let dir = tempfile::tempdir().unwrap();
    // JSON lines, line 3 left open (a bracket) and line 6 cut short: each takes only
    // itself, whatever the scan of it ran into.
    let mut lines: Vec<String> = (0..8)
        .map(|n| teams_json_row(&format!("broken-line-{n}")))
        .collect();
    lines[2] = r#"{"id": "broken-line-2", "x": [1, 2"#.into();
    lines[5] = lines[5][..120].to_string();
    let file = dir.path().join("calls.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = command_line(
        dir.path(),
        &store,
        &["--format", "teams-json", "--max-reject", "50%"],
        &[file],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("8 read, 6 imported"), "{stdout}");
    assert!(!stdout.contains("not read to the end"), "{stdout}");
    assert_eq!(raw_count(&store).await, 6, "every valid line is imported");
    let rejects = std::fs::read_to_string(dir.path().join("calls.rejects.jsonl")).unwrap();
    let refused: Vec<serde_json::Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(refused.len(), 2, "{rejects}");
    assert_eq!(refused[0]["line"], 3);
    assert_eq!(refused[0]["text"], lines[2], "the broken line alone");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .ends_with("reading goes on at line 4"),
        "{rejects}"
    );
    assert_eq!(refused[1]["line"], 6);
    assert_eq!(refused[1]["text"], lines[5]);
}

#[tokio::test]
async fn a_truncated_gzip_file_names_the_last_line_read() {
    let (_db, store) = database("gzip_truncated").await;
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read(sample("generic-2026-10.csv")).unwrap();
    let mut lines = sample.split(|b| *b == b'\n');
    let (header, row) = (lines.next().unwrap(), lines.next().unwrap());
    // The first row again and again, each with its own id (the first field).
    let after_id = &row[row.iter().position(|b| *b == b';').unwrap()..];
    let mut csv = [header, b"\n"].concat();
    for n in 0..5_000 {
        csv.extend_from_slice(format!("G-T{n:05}").as_bytes());
        csv.extend_from_slice(after_id);
        csv.push(b'\n');
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &csv).unwrap();
    let compressed = gz.finish().unwrap();
    let cut = dir.path().join("cut.csv.gz");
    std::fs::write(&cut, &compressed[..3_000]).unwrap();
    for workers in ["1", "2"] {
        let out = command_line(
            dir.path(),
            &store,
            &[
                "--format",
                &mapping("generic.toml"),
                "--dry-run",
                "--workers",
                workers,
            ],
            std::slice::from_ref(&cut),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        let read: u64 = stdout
            .split(" read, ")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count of rows read: {stdout}"));
        assert!(read > 100, "{stdout}");
        assert!(
            stdout.contains(&format!("not read to the end: after line {}: ", read + 1)),
            "the header and {read} rows were read, {workers} workers: {stdout}"
        );
    }
}

#[tokio::test]
async fn csv_rows_of_the_wrong_width_are_refused_and_an_unclosed_quote_stops_the_file() {
    let (_db, store) = database("csv_structure").await;
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(sample("teams-2026-10.csv")).unwrap();
    let lines: Vec<&str> = sample.lines().collect();
    let with_lines = |edit: &dyn Fn(usize, &str) -> String| -> String {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| edit(i + 1, l) + "\n")
            .collect()
    };
    // Two inputs named alike: line 3 of the first gains a field (an unquoted comma),
    // line 6 of the second opens a quote that never closes.
    std::fs::create_dir_all(dir.path().join("in/a")).unwrap();
    std::fs::create_dir_all(dir.path().join("in/b")).unwrap();
    let wide = with_lines(&|n, l| match n {
        3 => l.replacen(',', ",Martin, ", 1),
        _ => l.to_string(),
    });
    std::fs::write(dir.path().join("in/a/teams.csv"), wide).unwrap();
    let unclosed = with_lines(&|n, l| match n {
        6 => format!("\"{l}"),
        _ => l.to_string(),
    });
    let second = dir.path().join("in/b/teams.csv");
    std::fs::write(&second, unclosed).unwrap();
    let args = [
        "--format",
        "teams-csv",
        "--max-reject",
        "50%",
        "--reject-dir",
        "rejects",
    ];
    let out = command_line(dir.path(), &store, &args, &[dir.path().join("in")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "not read to the end: line 6: a quote is never closed: the rest of the file was not read as rows"
        ),
        "{stdout}"
    );
    let first_rejects = dir.path().join("rejects/teams.rejects.csv");
    let second_rejects = dir.path().join("rejects/teams-2.rejects.csv");
    for path in [&first_rejects, &second_rejects] {
        assert!(
            stdout.contains(&format!(
                "rejected rows: rejects/{}",
                path.file_name().unwrap().to_string_lossy()
            )),
            "{stdout}"
        );
    }
    let first = std::fs::read_to_string(&first_rejects).unwrap();
    let header_width = lines[0].split(',').count();
    assert!(
        first.contains(",3,malformed: 22 fields where the header has 21\n"),
        "{first}"
    );
    let second_text = std::fs::read_to_string(&second_rejects).unwrap();
    assert!(
        second_text.contains(",6,malformed: the quote opened on line 6 is never closed"),
        "{second_text}"
    );
    for text in [&first, &second_text] {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        for row in reader.records() {
            let row = row.unwrap();
            assert_eq!(row.len(), header_width + 2, "line and reason last: {row:?}");
        }
    }

    // The second file fixed and imported alone: its rejects replace the earlier ones.
    std::fs::write(&second, &sample).unwrap();
    let out = command_line(dir.path(), &store, &args, &[second]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let again = std::fs::read_to_string(&first_rejects).unwrap();
    assert!(!again.contains("malformed"), "{again}");
}

/// A named pipe in `dir`: rows written to it reach the importer only when the test
/// says, so a test can act between two parts of one input.
fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let made = Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
    path
}

/// Opens `path` for writing on a thread (opening a pipe waits for its reader).
fn pipe_writer(path: &Path) -> std::sync::mpsc::Receiver<std::fs::File> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::File::create(path).unwrap());
    });
    rx
}

/// Waits (up to a minute) until `calls` holds `rows` rows.
async fn wait_stored(store: &ClickhouseConfig, rows: u64) {
    for _ in 0..600 {
        if raw_count(store).await >= rows {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{rows} rows were not stored within a minute");
}

async fn private_database(
    server: &testkit::ClickhouseServer,
    label: &str,
) -> (TestDatabase, ClickhouseConfig) {
    let db = TestDatabase::create(&server.url(), label).await;
    let store = ClickhouseConfig::new(server.url()).with_database(&db.name);
    migrate(&store, &[CDR_MIGRATIONS]).await.expect("migrate");
    (db, store)
}

/// Imports `rows.1` Teams JSON lines through a pipe (ids `rows.0-N`), in batches and
/// inserts of 10 records, waits until they are stored, lets `disturb` act on the
/// server, sends `rows.2` more lines and returns the run's report (within a minute).
/// The run's checks and inserts wait `patience` for an answer; checks retry for as long.
async fn import_disturbed(
    server: &mut testkit::ClickhouseServer,
    store: &ClickhouseConfig,
    run: &Run,
    rows: (&str, usize, usize),
    patience: Duration,
    disturb: impl FnOnce(&mut testkit::ClickhouseServer),
) -> ImportReport {
    use std::io::Write;
    let (prefix, first, then) = rows;
    let pipe = fifo(run.dir.path(), &format!("{prefix}.jsonl"));
    let mut settings = ImportSettings::new(
        Format::parse("teams-json").unwrap(),
        provisioning(),
        Some(store.clone()),
    );
    settings.spool_dir = run.dir.path().join("spool");
    settings.reject_dir = run.dir.path().join("rejects");
    settings.drain = Duration::from_secs(1);
    settings.batch_records = 10;
    settings.insert_records = 10;
    settings.check_timeout = patience;
    settings.check_patience = patience;
    // ClickHouse may have stored the first rows without the writer having its answer
    // yet when the test disturbs it.
    settings.insert_timeout = patience;
    let importing = tokio::spawn(import::run(settings, vec![pipe.clone()]));

    let mut input = pipe_writer(&pipe).recv().unwrap();
    input
        .write_all(json_lines(prefix, 0..first).as_bytes())
        .unwrap();
    wait_stored(store, first as u64).await;
    disturb(server);
    let more = json_lines(prefix, first..first + then);
    input.write_all(more.as_bytes()).unwrap();
    drop(input);
    tokio::time::timeout(Duration::from_secs(60), importing)
        .await
        .expect("the run ends whatever ClickHouse does")
        .unwrap()
        .unwrap()
}

fn json_lines(prefix: &str, rows: std::ops::Range<usize>) -> String {
    rows.map(|n| teams_json_row(&format!("{prefix}-{n}")) + "\n")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clickhouse_outage_mid_run_stops_it_cleanly_and_a_rerun_stores_the_rest() {
    let mut server = testkit::ClickhouseServer::start().expect("private ClickHouse");
    let (_db, store) = private_database(&server, "import_outage").await;
    let run = Run::new();
    let report = import_disturbed(
        &mut server,
        &store,
        &run,
        ("outage", 20, 20),
        Duration::from_secs(2),
        testkit::ClickhouseServer::kill,
    )
    .await;

    let stopped = report.stopped.as_deref().expect("the run says it stopped");
    assert!(
        stopped.starts_with("ClickHouse did not answer: matching Teams rows:"),
        "{stopped}"
    );
    assert_eq!(report.total.read, 40);
    assert_eq!(
        report.total.imported, 20,
        "the rows checked before the outage"
    );
    assert_eq!(report.total.not_stored, 20, "{:?}", report.total);
    // Stored, as ClickHouse said; the writer may have lost the answer to the kill and
    // spooled them, for the next run to deliver again.
    assert_eq!(
        report.total.delivered + report.total.spooled,
        20,
        "{:?}",
        report.total
    );

    server.resume().expect("restart ClickHouse");
    let again = run.dir.path().join("outage-again.jsonl");
    std::fs::write(&again, json_lines("outage", 0..40)).unwrap();
    let rerun = run.import(&store, "teams-json", &[again]).await;
    assert_eq!(rerun.stopped, None);
    assert_eq!(rerun.total.duplicates, 20, "{:?}", rerun.total);
    assert_eq!(rerun.total.imported, 20);
    let keys: std::collections::HashSet<CallKey> = all_records(&store)
        .await
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys.len(), 40, "every row stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_command_line_after_what_it_read_and_a_rerun_stores_the_rest() {
    use std::io::Write;
    let (_db, store) = database("import_interrupted").await;
    let dir = tempfile::tempdir().unwrap();
    let pipe = fifo(dir.path(), "teams.jsonl");
    // One batch (5,000 rows) and one insert before the interruption.
    let child = Command::new(env!("CARGO_BIN_EXE_cdr-import"))
        .current_dir(dir.path())
        .args(["--clickhouse", &store.url, "--database", &store.database])
        .arg("--provisioning")
        .arg(root().join("samples/provisioning"))
        .args(["--progress", "none", "--format", "teams-json"])
        .args(["--insert-records", "5000"])
        .arg(&pipe)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = pipe_writer(&pipe).recv().unwrap();
    input
        .write_all(json_lines("interrupted", 0..5_000).as_bytes())
        .unwrap();
    wait_stored(&store, 5_000).await;
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // Rows the importer may still read: what a read already waiting takes, no more.
    input
        .write_all(json_lines("interrupted", 5_000..5_100).as_bytes())
        .unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("stopped: interrupted (Ctrl-C); the rows counted as not stored"),
        "{stdout}"
    );
    assert!(
        stdout.contains("read error: the run was stopped"),
        "the file says it was not read to the end: {stdout}"
    );
    assert!(stdout.contains(", 5000 imported,"), "{stdout}");
    assert_eq!(raw_count(&store).await, 5_000);

    let again = dir.path().join("teams-again.jsonl");
    std::fs::write(&again, json_lines("interrupted", 0..5_100)).unwrap();
    let out = command_line(dir.path(), &store, &["--format", "teams-json"], &[again]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("5100 read, 100 imported, 0 enriched edge records, 5000 duplicates"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_clickhouse_stops_the_run_after_the_check_timeout() {
    let mut server = testkit::ClickhouseServer::start().expect("private ClickHouse");
    let (_db, store) = private_database(&server, "import_hung").await;
    let run = Run::new();
    let report = import_disturbed(
        &mut server,
        &store,
        &run,
        ("hung", 10, 20),
        Duration::from_secs(1),
        |server| server.freeze(),
    )
    .await;
    server.thaw();
    let stopped = report.stopped.as_deref().expect("the run says it stopped");
    assert!(stopped.ends_with("no answer within 1 s"), "{stopped}");
    assert_eq!(report.total.imported, 10);
    assert_eq!(report.total.not_stored, 20, "{:?}", report.total);
    assert_eq!(raw_count(&store).await, 10);
}

#[tokio::test]
async fn a_graph_page_that_links_to_a_next_one_is_imported_with_a_warning() {
    let (_db, store) = database("json_next_link").await;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("first-page.json");
    std::fs::write(
        &page,
        format!(
            "{{\"@odata.context\": \"https://graph.microsoft.com/v1.0/$metadata\",\n\"value\": [\n{}\n],\n\"@odata.nextLink\": \"https://graph.microsoft.com/v1.0/communications/callRecords/getDirectRoutingCalls?$skip=1\"}}\n",
            teams_json_row("next-link-0")
        ),
    )
    .unwrap();
    let out = command_line(dir.path(), &store, &["--format", "teams-json"], &[page]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning, not a failure: {stdout}"
    );
    assert!(stdout.contains("1 read, 1 imported"), "{stdout}");
    assert!(
        stdout.contains("    warning: line 5: the last page links to a next one (@odata.nextLink)"),
        "{stdout}"
    );
}

#[tokio::test]
async fn teams_calls_on_a_trunk_without_edge_records_are_reported_with_samples() {
    let (_db, store) = database("teams_only").await;
    let run = Run::new();
    let report = run
        .import(&store, "teams-json", &[sample("teams-2026-10.json")])
        .await;
    assert!(report.total.imported > 0);
    let found = reconcile::reconcile(&store, &provisioning(), &october())
        .await
        .unwrap();
    assert_eq!(found.teams_without_edge.total(), 0, "{found:?}");
    assert_eq!(found.teams_only.total(), report.total.imported, "{found:?}");
    assert!(found.has_mismatches());
    assert_eq!(
        found.teams_only.samples.len() as u64,
        report.total.imported.min(20)
    );
    let text = found.render(&october());
    assert!(
        text.contains(&format!(
            "Teams calls on trunks with no edge record this month (traffic not crossing the edge, or the edge's records lost): {} (contoso-teams {})",
            report.total.imported, report.total.imported
        )),
        "{text}"
    );
    assert!(
        text.contains("teams-2026-10.json:"),
        "samples name their file and line: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_interrupted_by_ctrl_c_leaves_no_file() {
    let server = testkit::ClickhouseServer::start().expect("private ClickHouse");
    let (_db, store) = private_database(&server, "export_interrupted").await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("october.csv");
    let partial = dir.path().join(".october.csv.partial");
    // A frozen server holds the export in its query, after the file was created.
    server.freeze();
    let child = Command::new(env!("CARGO_BIN_EXE_cdr-import"))
        .args(["--clickhouse", &store.url, "--database", &store.database])
        .args(["export", "--month", "2026-10", "--output"])
        .arg(&output)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if partial.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(partial.exists(), "the export started writing");
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    server.thaw();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nothing written to") && stderr.contains("interrupted (Ctrl-C)"),
        "{stderr}"
    );
    assert!(!partial.exists() && !output.exists());
}
