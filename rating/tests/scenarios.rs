//! Scenario tests: each folder of `tests/scenarios/` is a month of data and what
//! rating must make of it, run end to end against a real ClickHouse.
//!
//! A scenario folder holds provisioning files that override `scenarios/base/`
//! (`trunks.toml` always; `customers.toml`, `plans.toml`, `tariffs/`, `rating/`
//! when the scenario needs its own), `calls.csv` and `expected.toml`.
//!
//! `calls.csv` columns: `key,trunk,direction,callee,billable,invite,repeat,step,
//! forwarding,disposition,caller`. `direction` is `out` (default) or `in`;
//! `billable` a duration (`30s`, `90m`, `1h`, `1500ms`); `invite` RFC 3339 with
//! offset; `repeat` N writes N calls, `{key}-{i}` for i = 0..N, `step` apart, the
//! callee's `{i:W}` replaced by i zero-padded to W digits; `disposition` defaults to
//! `answered`; `caller` to +33140000000. Keys are names: the stored call key is
//! derived from the scenario and the name, and outputs are mapped back to names.
//!
//! `expected.toml` starts with a comment saying how the values were computed by
//! hand, then lists every breach (`[[breach]]`: trunk, rule, subject and any of
//! action, measured, threshold_value, crossing_call, crossed_at, repriced_calls,
//! repriced_amount), every invoice line (`[[line]]`: trunk, kind, item, amount),
//! the invoice totals (`[totals]`), calls to check (`[[call]]`: key, status and
//! any of rule, amount, billed_secs) and the unmatched calls (`unmatched = [...]`).
//!
//! Each scenario runs twice: the second run must write byte-identical files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use cdr::schema::{migrate, CDR_MIGRATIONS};
use cdr::{CallKey, CallRecord, CallRow, ClickhouseConfig, Direction, Disposition, Source};
use rating::run::{run, RunOptions, RunSummary};
use rating::store::{RatedCallRow, RATING_MIGRATIONS};
use rust_decimal::Decimal;
use serde::Deserialize;
use testkit::{shared_clickhouse_url, TestDatabase};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    breach: Vec<ExpectedBreach>,
    #[serde(default)]
    line: Vec<ExpectedLine>,
    #[serde(default)]
    totals: BTreeMap<String, String>,
    #[serde(default)]
    call: Vec<ExpectedCall>,
    #[serde(default)]
    unmatched: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedBreach {
    trunk: String,
    rule: String,
    #[serde(default)]
    subject: String,
    action: Option<String>,
    measured: Option<String>,
    threshold_value: Option<String>,
    crossing_call: Option<String>,
    crossed_at: Option<String>,
    repriced_calls: Option<u64>,
    repriced_amount: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedLine {
    trunk: String,
    kind: String,
    item: String,
    amount: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedCall {
    key: String,
    status: String,
    rule: Option<String>,
    amount: Option<String>,
    billed_secs: Option<u64>,
}

fn dec(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is not a decimal: {e}"))
}

fn duration_ms(text: &str) -> u64 {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("bad duration {text:?}"));
    n * match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        other => panic!("bad duration unit {other:?} in {text:?}"),
    }
}

fn time_ms(text: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("bad time {text:?}: {e}"))
        .timestamp_millis() as u64
}

fn disposition(text: &str) -> Disposition {
    Disposition::ALL
        .into_iter()
        .find(|d| d.as_str() == text)
        .unwrap_or_else(|| panic!("bad disposition {text:?}"))
}

/// Replaces `{i:W}` (and `{i}`) in `pattern` with `i`.
fn expand(pattern: &str, i: u64) -> String {
    let Some(start) = pattern.find("{i") else {
        return pattern.to_owned();
    };
    let end = start + pattern[start..].find('}').expect("unclosed {i");
    let width: usize = pattern[start + 2..end]
        .trim_start_matches(':')
        .parse()
        .unwrap_or(0);
    format!("{}{:0width$}{}", &pattern[..start], i, &pattern[end + 1..])
}

/// The calls of a scenario, with the stored key of each name.
fn read_calls(
    name: &str,
    path: &Path,
    customers: &HashMap<String, String>,
) -> (Vec<CallRecord>, BTreeMap<String, String>) {
    let mut reader =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut records = Vec::new();
    let mut keys = BTreeMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        let get = |i: usize| row.get(i).unwrap_or("").trim().to_owned();
        let (key, trunk, direction, callee, billable, invite) =
            (get(0), get(1), get(2), get(3), get(4), get(5));
        let repeat: u64 = get(6).parse().unwrap_or(1);
        let step = if get(7).is_empty() {
            0
        } else {
            duration_ms(&get(7))
        };
        let (forwarding, disp, caller) = (get(8), get(9), get(10));
        for i in 0..repeat {
            let name = if repeat > 1 {
                format!("{key}-{i}")
            } else {
                key.clone()
            };
            let call_key = CallKey::derive(&["scenario", name.as_str()]);
            keys.insert(call_key.as_str().to_owned(), name.clone());
            let invite_ms = time_ms(&invite) + i * step;
            let disposition = if disp.is_empty() {
                Disposition::Answered
            } else {
                disposition(&disp)
            };
            let answered = disposition == Disposition::Answered;
            let billable_ms = if answered { duration_ms(&billable) } else { 0 };
            let callee = expand(&callee, i);
            let emergency = number_portability::parse(&callee)
                .map(|n| number_portability::classify(&n).is_emergency)
                .unwrap_or(false);
            records.push(CallRecord {
                key: call_key,
                source: Source::Import {
                    format: "scenario".into(),
                    file: format!("{name}/calls.csv").into(),
                    line: i + 1,
                },
                customer_id: customers.get(&trunk).cloned().unwrap_or_default(),
                trunk_id: trunk.clone(),
                site_id: None,
                direction: if direction == "in" {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                },
                caller: if caller.is_empty() {
                    "+33140000000".into()
                } else {
                    caller.clone()
                },
                callee,
                original_called: None,
                forwarding_party: (!forwarding.is_empty()).then(|| forwarding.clone()),
                sip_call_id: format!("{name}@scenario"),
                final_status: Some(if answered { 200 } else { 486 }),
                disposition,
                emergency,
                invite_ms,
                answer_ms: answered.then_some(invite_ms + 1_000),
                end_ms: invite_ms + 1_000 + billable_ms,
                billable_ms,
                channels_in_force: None,
                calls_in_progress: None,
                revision: 0,
                teams: None,
                end_reason: None,
            });
        }
    }
    let _ = name;
    (records, keys)
}

fn copy_tree(from: &Path, to: &Path, skip: &[&str]) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if skip.contains(&name.as_str()) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target, &[]);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A scenario's provisioning in a temporary folder and its calls in a fresh
/// database (shared with the other test modules).
pub(crate) struct Scenario {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) provisioning: PathBuf,
    pub(crate) out: PathBuf,
    pub(crate) config: ClickhouseConfig,
    keys: BTreeMap<String, String>,
    _db: TestDatabase,
}

impl Scenario {
    pub(crate) async fn load(name: &str) -> Scenario {
        let source = scenarios_dir().join(name);
        let dir = tempfile::tempdir().unwrap();
        let provisioning = dir.path().join("provisioning");
        std::fs::create_dir_all(&provisioning).unwrap();
        copy_tree(&scenarios_dir().join("base"), &provisioning, &[]);
        copy_tree(&source, &provisioning, &["calls.csv", "expected.toml"]);
        let p = provisioning::Provisioning::load(&provisioning)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let customers: HashMap<String, String> = p
            .trunks()
            .iter()
            .map(|t| (t.id().to_owned(), t.customer_id().to_owned()))
            .collect();
        let (records, keys) = read_calls(name, &source.join("calls.csv"), &customers);
        let db = TestDatabase::create(&shared_clickhouse_url(), name).await;
        let config = ClickhouseConfig::new(&db.url).with_database(&db.name);
        migrate(&config, &[CDR_MIGRATIONS, RATING_MIGRATIONS])
            .await
            .expect("migrate");
        if !records.is_empty() {
            let mut insert = config.client().insert::<CallRow>("calls").await.unwrap();
            for r in &records {
                insert.write(&r.to_row()).await.unwrap();
            }
            insert.end().await.unwrap();
        }
        Scenario {
            out: dir.path().join("out"),
            dir,
            provisioning,
            config,
            keys,
            _db: db,
        }
    }

    pub(crate) fn options(&self, out: &Path) -> RunOptions {
        RunOptions {
            month: "2026-10".parse().unwrap(),
            provisioning_dir: self.provisioning.clone(),
            clickhouse: self.config.clone(),
            out_dir: out.to_owned(),
            force: false,
            spill_dir: None,
        }
    }

    pub(crate) fn name_of(&self, key: &str) -> String {
        self.keys
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }
}

/// Runs a scenario and checks every expectation.
async fn check(name: &str) {
    let scenario = Scenario::load(name).await;
    let expected: Expected = toml::from_str(
        &std::fs::read_to_string(scenarios_dir().join(name).join("expected.toml")).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{name}/expected.toml: {e}"));
    let summary = run(&scenario.options(&scenario.out))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!summary.refused);
    let mut problems = Vec::new();
    check_breaches(&scenario, &summary, &expected, &mut problems);
    check_lines(&summary, &expected, &mut problems);
    check_calls(&scenario, &summary, &expected, &mut problems).await;
    let unmatched: BTreeSet<String> = summary
        .rating
        .unmatched
        .iter()
        .map(|u| scenario.name_of(&u.call_key))
        .collect();
    let expected_unmatched: BTreeSet<String> = expected.unmatched.iter().cloned().collect();
    if unmatched != expected_unmatched {
        problems.push(format!(
            "unmatched: expected {expected_unmatched:?}, got {unmatched:?}"
        ));
    }
    // Reproducible: a second run writes the same bytes.
    let again = scenario.dir.path().join("again");
    run(&scenario.options(&again)).await.unwrap();
    for file in [
        "invoice_lines.csv",
        "breaches.csv",
        "unmatched.csv",
        "report.html",
    ] {
        let a = std::fs::read(scenario.out.join(file)).unwrap();
        let b = std::fs::read(again.join(file)).unwrap();
        if a != b {
            problems.push(format!(
                "{file} differs between two runs on the same inputs"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "scenario {name}:\n  {}",
        problems.join("\n  ")
    );
}

fn check_breaches(
    s: &Scenario,
    summary: &RunSummary,
    expected: &Expected,
    problems: &mut Vec<String>,
) {
    let actual: BTreeMap<(String, String, String), &rating::engine::Breach> = summary
        .rating
        .breaches
        .iter()
        .map(|b| {
            (
                (
                    b.trunk_id.clone(),
                    b.rule.as_str().to_owned(),
                    b.subject.clone(),
                ),
                b,
            )
        })
        .collect();
    let wanted: BTreeSet<(String, String, String)> = expected
        .breach
        .iter()
        .map(|b| (b.trunk.clone(), b.rule.clone(), b.subject.clone()))
        .collect();
    let got: BTreeSet<(String, String, String)> = actual.keys().cloned().collect();
    if wanted != got {
        problems.push(format!("breaches: expected {wanted:?}\n    got {got:?}"));
    }
    for e in &expected.breach {
        let Some(b) = actual.get(&(e.trunk.clone(), e.rule.clone(), e.subject.clone())) else {
            continue;
        };
        let mut field = |what: &str, want: String, got: String| {
            if want != got {
                problems.push(format!(
                    "breach {} {} {}: {what}: expected {want}, got {got}",
                    e.trunk, e.rule, e.subject
                ));
            }
        };
        if let Some(a) = &e.action {
            field(
                "action",
                a.clone(),
                if b.billed { "billed" } else { "review" }.into(),
            );
        }
        if let Some(m) = &e.measured {
            field(
                "measured",
                dec(m).normalize().to_string(),
                b.measured.normalize().to_string(),
            );
        }
        if let Some(t) = &e.threshold_value {
            field(
                "threshold",
                dec(t).normalize().to_string(),
                b.threshold_value.normalize().to_string(),
            );
        }
        if let Some(c) = &e.crossing_call {
            field(
                "crossing call",
                c.clone(),
                b.crossing_call
                    .as_deref()
                    .map(|k| s.name_of(k))
                    .unwrap_or_default(),
            );
        }
        if let Some(t) = &e.crossed_at {
            field(
                "crossed at",
                t.clone(),
                b.crossed_at_ms
                    .map(rating::month::format_paris_ms)
                    .unwrap_or_default(),
            );
        }
        if let Some(n) = e.repriced_calls {
            field(
                "re-priced calls",
                n.to_string(),
                b.repriced_calls.to_string(),
            );
        }
        if let Some(a) = &e.repriced_amount {
            field(
                "re-priced amount",
                dec(a).normalize().to_string(),
                b.repriced_amount.normalize().to_string(),
            );
        }
    }
}

fn check_lines(summary: &RunSummary, expected: &Expected, problems: &mut Vec<String>) {
    let got: Vec<(String, String, String, String)> = summary
        .rating
        .invoices
        .iter()
        .flat_map(|i| i.lines.iter())
        .map(|l| {
            (
                l.trunk_id.clone(),
                l.kind.as_str().to_owned(),
                l.item.clone(),
                l.amount.to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, String, String)> = expected
        .line
        .iter()
        .map(|l| {
            (
                l.trunk.clone(),
                l.kind.clone(),
                l.item.clone(),
                l.amount.clone(),
            )
        })
        .collect();
    let (mut got_sorted, mut want_sorted) = (got.clone(), want.clone());
    got_sorted.sort();
    want_sorted.sort();
    if got_sorted != want_sorted {
        problems.push(format!(
            "invoice lines (trunk, kind, item, amount):\n    expected {want_sorted:#?}\n    got {got_sorted:#?}"
        ));
    }
    for invoice in &summary.rating.invoices {
        let sum: Decimal = invoice.lines.iter().map(|l| l.amount).sum();
        if sum != invoice.total {
            problems.push(format!(
                "invoice {}: total {} is not the sum of its lines {sum}",
                invoice.customer_id, invoice.total
            ));
        }
        match expected.totals.get(&invoice.customer_id) {
            Some(t) if *t != invoice.total.to_string() => problems.push(format!(
                "total of {}: expected {t}, got {}",
                invoice.customer_id, invoice.total
            )),
            None if !expected.totals.is_empty() => problems.push(format!(
                "unexpected invoice for {} ({})",
                invoice.customer_id, invoice.total
            )),
            _ => {}
        }
    }
}

async fn check_calls(
    s: &Scenario,
    summary: &RunSummary,
    expected: &Expected,
    problems: &mut Vec<String>,
) {
    let rows: Vec<RatedCallRow> = s
        .config
        .client()
        .query("SELECT ?fields FROM rated_calls FINAL WHERE run_id = ?")
        .bind(&summary.run_id)
        .fetch_all()
        .await
        .unwrap();
    let by_name: HashMap<String, &RatedCallRow> =
        rows.iter().map(|r| (s.name_of(&r.call_key), r)).collect();
    for e in &expected.call {
        let row = by_name.get(&e.key);
        let status = row.map_or("included or not billed", |r| match r.status {
            3 => "out_of_plan",
            4 => "repriced",
            5 => "unmatched",
            _ => "other",
        });
        let expected_status = match e.status.as_str() {
            "included" | "not_billed" => "included or not billed",
            other => other,
        };
        if status != expected_status {
            problems.push(format!(
                "call {}: expected {}, got {status}",
                e.key, e.status
            ));
            continue;
        }
        let Some(row) = row else { continue };
        if let Some(rule) = &e.rule {
            let got = rating::store::rule_of(row.rule).map_or("", |r| r.as_str());
            if got != rule {
                problems.push(format!("call {}: rule expected {rule}, got {got}", e.key));
            }
        }
        if let Some(amount) = &e.amount {
            let got = rating::store::from_micros(row.amount, 6);
            if got != dec(amount) {
                problems.push(format!(
                    "call {}: amount expected {amount}, got {got}",
                    e.key
                ));
            }
        }
        if let Some(secs) = e.billed_secs {
            if row.billed_secs != secs {
                problems.push(format!(
                    "call {}: billed seconds expected {secs}, got {}",
                    e.key, row.billed_secs
                ));
            }
        }
    }
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                check(stringify!($name)).await;
            }
        )*

        #[test]
        fn every_scenario_folder_has_a_test() {
            let listed: BTreeSet<&str> = [$(stringify!($name)),*].into_iter().collect();
            let folders: BTreeSet<String> = std::fs::read_dir(scenarios_dir())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != "base")
                .collect();
            let folders: BTreeSet<&str> = folders.iter().map(String::as_str).collect();
            assert_eq!(folders, listed);
        }
    };
}

scenarios!(
    breach_policies,
    call_centre,
    channel_change,
    distinct_numbers,
    eligible_hours,
    forwarding,
    month_boundaries,
    overseas_and_0806,
    pricing,
    sla,
    suspension,
    syntec,
);
