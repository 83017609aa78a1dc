//! Integration tests of the call-record store against real ClickHouse servers:
//! migrations, deduplication without merges, and the writer's no-loss guarantees
//! through a server outage and through a writer process killed without shutdown.

use cdr::reader::CallReader;
use cdr::schema::{migrate, CDR_MIGRATIONS};
use cdr::{
    Accepted, CallKey, CallRecord, CallRecordWriter, ClickhouseConfig, Direction, Disposition,
    Source, WriterConfig,
};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::{shared_clickhouse_url, ClickhouseServer, TestDatabase};

fn record(run: &str, n: u64) -> CallRecord {
    let invite_ms = 1_790_000_000_000 + n * 1_000;
    let answered = n % 3 != 0;
    CallRecord {
        key: CallKey::for_edge("edge-test", &format!("{run}-{n}@pbx"), "tag", 1),
        source: Source::Edge {
            node: "edge-test".into(),
        },
        trunk_id: format!("trunk-{}", n % 4),
        customer_id: "acme".into(),
        site_id: None,
        direction: Direction::Outbound,
        caller: "+33140000000".into(),
        callee: format!("+3361{:07}", n % 50),
        original_called: None,
        forwarding_party: None,
        sip_call_id: format!("{run}-{n}@pbx"),
        final_status: Some(if answered { 200 } else { 486 }),
        disposition: if answered {
            Disposition::Answered
        } else {
            Disposition::Busy
        },
        emergency: false,
        invite_ms,
        answer_ms: answered.then_some(invite_ms + 2_000),
        end_ms: invite_ms + if answered { 2_000 + n * 10 } else { 1_500 },
        billable_ms: if answered { n * 10 } else { 0 },
        channels_in_force: Some(10),
        calls_in_progress: Some((n % 10) as u32),
        revision: 0,
        teams: None,
        end_reason: None,
    }
}

async fn migrated(url: &str, label: &str) -> (TestDatabase, ClickhouseConfig) {
    let db = TestDatabase::create(url, label).await;
    let store = ClickhouseConfig::new(url).with_database(&db.name);
    migrate(&store, &[CDR_MIGRATIONS]).await.expect("migrate");
    (db, store)
}

/// Deduplicated count and the set of keys present, plus the raw row count.
async fn stored(store: &ClickhouseConfig) -> (u64, BTreeSet<String>, u64) {
    let client = store.client();
    let final_count: u64 = client
        .query("SELECT count() FROM calls FINAL")
        .fetch_one()
        .await
        .unwrap();
    let keys: Vec<String> = client
        .query("SELECT DISTINCT call_key FROM calls")
        .fetch_all()
        .await
        .unwrap();
    let raw: u64 = client
        .query("SELECT count() FROM calls")
        .fetch_one()
        .await
        .unwrap();
    (final_count, keys.into_iter().collect(), raw)
}

fn keys_of(records: &[CallRecord]) -> BTreeSet<String> {
    records.iter().map(|r| r.key.to_string()).collect()
}

#[tokio::test]
async fn migrate_twice_applies_once_and_creates_the_views() {
    let url = shared_clickhouse_url();
    let db = TestDatabase::create(&url, "migrate").await;
    let store = ClickhouseConfig::new(&url).with_database(&db.name);
    let first = migrate(&store, &[CDR_MIGRATIONS]).await.unwrap();
    assert_eq!(
        first.applied,
        vec!["cdr 1", "cdr 2", "cdr 3", "cdr 4", "cdr 5"]
    );
    let second = migrate(&store, &[CDR_MIGRATIONS]).await.unwrap();
    assert!(second.applied.is_empty());
    assert_eq!(second.already_applied, 5);
    let tables: Vec<String> = store
        .client()
        .query("SELECT name FROM system.tables WHERE database = ? ORDER BY name")
        .bind(&db.name)
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        tables,
        vec![
            "calls",
            "calls_deduplicated",
            "calls_per_trunk_day",
            "calls_per_trunk_month",
            "schema_migrations"
        ]
    );
}

#[tokio::test]
async fn the_deduplicated_view_has_every_column_of_calls() {
    let (db, store) = migrated(&shared_clickhouse_url(), "dedup_view_columns").await;
    let columns = |table: &'static str| {
        let client = store.client();
        let database = db.name.clone();
        async move {
            let mut names: Vec<String> = client
                .query("SELECT name FROM system.columns WHERE database = ? AND table = ?")
                .bind(&database)
                .bind(table)
                .fetch_all()
                .await
                .unwrap();
            names.sort();
            names
        }
    };
    let calls = columns("calls").await;
    assert!(calls.contains(&"teams_user".to_string()), "{calls:?}");
    assert_eq!(columns("calls_deduplicated").await, calls);
}

#[tokio::test]
async fn the_call_record_reference_lists_exactly_the_table_columns() {
    let url = shared_clickhouse_url();
    let (db, store) = migrated(&url, "columns").await;
    let mut columns: Vec<String> = store
        .client()
        .query("SELECT name FROM system.columns WHERE database = ? AND table = 'calls'")
        .bind(&db.name)
        .fetch_all()
        .await
        .unwrap();
    columns.sort();
    let reference = include_str!("../call-record.md");
    let mut documented: Vec<String> = reference
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first_cell = l.split('|').nth(1).unwrap_or_default().to_string();
            first_cell
                .split(',')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    documented.sort();
    assert_eq!(
        documented, columns,
        "cdr/call-record.md and the calls table differ"
    );
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused() {
    let url = shared_clickhouse_url();
    let (_db, store) = migrated(&url, "edited").await;
    let edited = [cdr::schema::Migration {
        sql: "CREATE TABLE IF NOT EXISTS {db}.calls {on_cluster} (x UInt8) ENGINE = Memory",
        ..CDR_MIGRATIONS[0]
    }];
    let err = migrate(&store, &[&edited]).await.unwrap_err().to_string();
    assert!(err.contains("was applied with checksum"), "{err}");
    assert!(err.contains("cdr 1 (calls table)"), "{err}");
}

#[tokio::test]
async fn existing_keys_finds_stored_keys_across_query_chunks() {
    let url = shared_clickhouse_url();
    let (_db, store) = migrated(&url, "existing").await;
    let records: Vec<CallRecord> = (0..5).map(|n| record("existing", n)).collect();
    let dir = tempfile::tempdir().unwrap();
    let (writer, running, _) =
        CallRecordWriter::start(&store, WriterConfig::new(dir.path())).unwrap();
    for r in &records {
        assert_eq!(writer.write(r.clone()).await.unwrap(), Accepted::Delivered);
    }
    drop(writer);
    running.shutdown(Duration::from_secs(5)).await;
    // 9,000 absent keys around the 5 stored ones: three IN lists.
    let mut asked: Vec<CallKey> = (0..9_000)
        .map(|n| CallKey::for_import("absent", &n.to_string()))
        .collect();
    asked.insert(4_500, records[0].key.clone());
    asked.extend(records.iter().skip(1).map(|r| r.key.clone()));
    let found = CallReader::new(&store).existing_keys(&asked).await.unwrap();
    let expected: std::collections::HashSet<CallKey> =
        records.iter().map(|r| r.key.clone()).collect();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn duplicates_without_a_merge_never_count_twice() {
    let url = shared_clickhouse_url();
    let (db, store) = migrated(&url, "dedup").await;
    let client = store.client();
    // Keep every copy in its own part: what a query sees before any merge.
    client
        .query(&format!("SYSTEM STOP MERGES {}.calls", db.name))
        .execute()
        .await
        .unwrap();
    let records: Vec<CallRecord> = (0..200).map(|n| record("dedup", n)).collect();
    let dir = tempfile::tempdir().unwrap();
    for copy in 0..3 {
        let (writer, running, _) = CallRecordWriter::start(
            &store,
            WriterConfig::new(dir.path().join(format!("s{copy}"))),
        )
        .unwrap();
        for r in &records {
            writer.submit(r.clone()).await.unwrap();
        }
        drop(writer);
        running.shutdown(Duration::from_secs(5)).await;
    }
    // A corrected copy of record 1 with a higher revision replaces the others.
    let mut corrected = records[1].clone();
    corrected.revision = 1;
    corrected.billable_ms += 1_000;
    corrected.end_ms += 1_000;
    let (writer, running, _) =
        CallRecordWriter::start(&store, WriterConfig::new(dir.path().join("fix"))).unwrap();
    assert_eq!(writer.write(corrected).await.unwrap(), Accepted::Delivered);
    drop(writer);
    running.shutdown(Duration::from_secs(5)).await;

    let (final_count, keys, raw) = stored(&store).await;
    assert_eq!(
        raw, 601,
        "the copies must still be separate rows for this test to mean anything"
    );
    assert_eq!(final_count, 200);
    assert_eq!(keys, keys_of(&records));

    let expected_answered = records.iter().filter(|r| r.answer_ms.is_some()).count() as u64;
    let expected_ms: u64 = records.iter().map(|r| r.billable_ms).sum::<u64>() + 1_000;
    let totals = CallReader::new(&store).totals(0, u64::MAX).await.unwrap();
    assert_eq!(totals.attempts, 200);
    assert_eq!(totals.answered, expected_answered);
    assert_eq!(totals.billable_ms, expected_ms);

    let per_trunk = CallReader::new(&store)
        .trunk_totals(0, u64::MAX)
        .await
        .unwrap();
    assert_eq!(per_trunk.len(), 4);
    assert_eq!(per_trunk.iter().map(|t| t.attempts).sum::<u64>(), 200);
    let trunk0_destinations: BTreeSet<&str> = records
        .iter()
        .filter(|r| r.trunk_id == "trunk-0" && r.answer_ms.is_some())
        .map(|r| r.callee.as_str())
        .collect();
    assert_eq!(
        per_trunk[0].distinct_destinations,
        trunk0_destinations.len() as u64
    );

    // The analyst views read deduplicated data too.
    let view_attempts: u64 = client
        .query("SELECT sum(attempts) FROM calls_per_trunk_month")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(view_attempts, 200);
    let view_minutes: f64 = client
        .query("SELECT sum(answered_minutes) FROM calls_per_trunk_day")
        .fetch_one()
        .await
        .unwrap();
    assert!((view_minutes - expected_ms as f64 / 60_000.0).abs() < 1e-9);
    let dedup_rows: u64 = client
        .query("SELECT count() FROM calls_deduplicated")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(dedup_rows, 200);

    // Streaming read: every record comes back once, field for field, correction applied.
    let mut stream = CallReader::new(&store).calls(0, u64::MAX, None).unwrap();
    let mut seen = Vec::new();
    while let Some(r) = stream.next().await.unwrap() {
        seen.push(r);
    }
    seen.sort_by_key(|r| r.invite_ms);
    assert_eq!(seen.len(), 200);
    assert_eq!(seen[0], records[0]);
    assert_eq!(seen[1].revision, 1);
    assert_eq!(seen[1].billable_ms, records[1].billable_ms + 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_stream_loses_nothing() {
    let mut server = ClickhouseServer::start().expect("private ClickHouse");
    let (_db, store) = migrated(&server.url(), "outage").await;
    let spool = tempfile::tempdir().unwrap();
    let mut config = WriterConfig::new(spool.path());
    config.batch_max_records = 50;
    config.batch_max_delay = Duration::from_millis(10);
    config.insert_timeout = Duration::from_secs(3);
    config.retry_min = Duration::from_millis(50);
    config.retry_max = Duration::from_millis(500);
    let (writer, running, _) = CallRecordWriter::start(&store, config).unwrap();

    let records: Vec<CallRecord> = (0..3_000).map(|n| record("outage", n)).collect();
    let mut outcomes = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if i == 1_000 {
            server.kill();
        }
        if i == 2_000 {
            server.resume().expect("restart ClickHouse");
        }
        let ack = writer.submit(r.clone()).await.unwrap();
        // Wait for durability at the phase boundaries so each phase really happens.
        if i % 500 == 499 {
            outcomes.push(ack.await.unwrap());
        } else {
            tokio::spawn(async move { ack.await.unwrap() });
        }
    }
    assert!(
        outcomes.contains(&Accepted::Spooled),
        "the outage was not seen: {outcomes:?}"
    );
    drop(writer);
    let stats = running.shutdown(Duration::from_secs(60)).await;
    assert_eq!(stats.spool_pending, 0, "{stats:?}");
    assert!(stats.spooled > 0, "{stats:?}");
    assert_eq!(stats.replayed, stats.spooled, "{stats:?}");
    assert_eq!(stats.written + stats.spooled, 3_000, "{stats:?}");
    assert_eq!(stats.rejected, 0);

    let (final_count, keys, _raw) = stored(&store).await;
    assert_eq!(final_count, 3_000);
    assert_eq!(keys, keys_of(&records));
}

/// Runs `cdr write` on `spool`, feeding it `records`, and returns the keys it
/// acknowledged before it was killed (after `kill_after` acknowledgements) or ended.
fn run_cdr_write(
    store: &ClickhouseConfig,
    spool: &std::path::Path,
    records: &[CallRecord],
    kill_after: Option<usize>,
) -> (Vec<(String, String)>, Option<i32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["--clickhouse", &store.url, "--database", &store.database])
        .args(["write", "--spool"])
        .arg(spool)
        .args([
            "--batch-max-records",
            "20",
            "--batch-max-delay-ms",
            "5",
            "--drain-secs",
            "60",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run cdr");
    let mut stdin = child.stdin.take().unwrap();
    let lines: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    let feeder = std::thread::spawn(move || {
        for line in lines {
            if writeln!(stdin, "{line}").is_err() {
                break; // killed
            }
        }
    });
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let (key, word) = line.split_once(' ').unwrap();
        acked.push((key.to_string(), word.to_string()));
        if Some(acked.len()) == kill_after {
            child.kill().unwrap(); // SIGKILL: no shutdown, no flush
            break;
        }
    }
    let status = child.wait().unwrap();
    feeder.join().unwrap();
    (acked, status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_killed_while_the_server_is_down_loses_nothing() {
    let mut server = ClickhouseServer::start().expect("private ClickHouse");
    let (_db, store) = migrated(&server.url(), "crash_down").await;
    server.kill();
    let spool = tempfile::tempdir().unwrap();
    let records: Vec<CallRecord> = (0..500).map(|n| record("crash-down", n)).collect();
    let (acked, _) = run_cdr_write(&store, spool.path(), &records, Some(500));
    assert_eq!(acked.len(), 500);
    assert!(acked.iter().all(|(_, word)| word == "spooled"), "{acked:?}");

    server.resume().unwrap();
    let (replay_acks, code) = run_cdr_write(&store, spool.path(), &[], None);
    assert!(replay_acks.is_empty());
    assert_eq!(code, Some(0));
    let (final_count, keys, _) = stored(&store).await;
    assert_eq!(final_count, 500);
    assert_eq!(keys, keys_of(&records));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_killed_mid_stream_keeps_every_acknowledged_record_once() {
    let url = shared_clickhouse_url();
    let (_db, store) = migrated(&url, "crash_up").await;
    let spool = tempfile::tempdir().unwrap();
    let records: Vec<CallRecord> = (0..3_000).map(|n| record("crash-up", n)).collect();
    let (acked, _) = run_cdr_write(&store, spool.path(), &records, Some(1_200));
    assert_eq!(acked.len(), 1_200);

    // A restart replays whatever the killed process had spooled, then ends.
    let (_, code) = run_cdr_write(&store, spool.path(), &[], None);
    assert_eq!(code, Some(0));
    let (final_count, keys, _) = stored(&store).await;
    let acked_keys: BTreeSet<String> = acked.into_iter().map(|(k, _)| k).collect();
    assert!(
        acked_keys.is_subset(&keys),
        "an acknowledged record is missing"
    );
    // Records in flight when it died may or may not have made it, but never twice.
    assert_eq!(final_count, keys.len() as u64);
    assert!(keys.is_subset(&keys_of(&records)));
}

/// A stand-in for a ClickHouse server that refuses every insert with `Code: 117`
/// (INCORRECT_DATA), counting the requests it receives.
async fn refusing_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut socket = tokio::io::BufReader::new(socket);
                loop {
                    let (mut length, mut chunked) = (0usize, false);
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                            chunked = true;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    if chunked {
                        loop {
                            line.clear();
                            socket.read_line(&mut line).await.unwrap();
                            let size = usize::from_str_radix(line.trim(), 16).unwrap();
                            let mut chunk = vec![0; size + 2];
                            socket.read_exact(&mut chunk).await.unwrap();
                            if size == 0 {
                                break;
                            }
                        }
                    } else {
                        let mut body = vec![0; length];
                        socket.read_exact(&mut body).await.unwrap();
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = "Code: 117, e.displayText() = DB::Exception: Cannot parse input: test refusal";
                    let answer = format!(
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nX-ClickHouse-Exception-Code: 117\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.get_mut().write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, requests)
}

#[tokio::test]
async fn a_refused_record_is_set_aside_with_its_reason_and_never_retried() {
    use std::sync::atomic::Ordering;
    let (url, requests) = refusing_server().await;
    let store = ClickhouseConfig::new(&url).with_database("fake");
    let spool = tempfile::tempdir().unwrap();
    let mut config = WriterConfig::new(spool.path());
    config.batch_max_delay = Duration::from_millis(50);
    let (writer, running, _) = CallRecordWriter::start(&store, config).unwrap();
    let records: Vec<CallRecord> = (0..5).map(|n| record("refused", n)).collect();
    let mut acks = Vec::new();
    for r in &records {
        acks.push(writer.submit(r.clone()).await.unwrap());
    }
    for ack in acks {
        match ack.await.unwrap() {
            Accepted::SetAside { reason } => assert!(reason.contains("Code: 117"), "{reason}"),
            other => panic!("expected the record to be set aside, got {other:?}"),
        }
    }
    drop(writer);
    let stats = running.shutdown(Duration::from_secs(1)).await;
    assert_eq!(stats.rejected, 5);
    assert_eq!(stats.spool_pending, 0);
    // One batch insert, then one attempt per record to find the bad ones; no retries.
    assert_eq!(requests.load(Ordering::SeqCst), 6);
    let rejected = std::fs::read_to_string(spool.path().join("rejected.jsonl")).unwrap();
    let kept: Vec<CallRecord> = rejected
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            serde_json::from_value(v["record"].clone()).unwrap()
        })
        .collect();
    assert_eq!(kept, records);
}

#[tokio::test]
async fn an_inconsistent_record_is_set_aside_without_reaching_clickhouse() {
    use std::sync::atomic::Ordering;
    let (url, requests) = refusing_server().await;
    let store = ClickhouseConfig::new(&url).with_database("fake");
    let spool = tempfile::tempdir().unwrap();
    let (writer, running, _) =
        CallRecordWriter::start(&store, WriterConfig::new(spool.path())).unwrap();
    let mut bad = record("inconsistent", 1);
    bad.end_ms = bad.invite_ms - 1;
    match writer.write(bad.clone()).await.unwrap() {
        Accepted::SetAside { reason } => {
            assert!(reason.contains("inconsistent record: end_ms"), "{reason}")
        }
        other => panic!("expected set aside, got {other:?}"),
    }
    drop(writer);
    running.shutdown(Duration::from_secs(1)).await;
    assert_eq!(requests.load(Ordering::SeqCst), 0);
    let rejected = std::fs::read_to_string(spool.path().join("rejected.jsonl")).unwrap();
    assert!(rejected.contains(bad.key.as_str()));
}

#[tokio::test]
async fn the_native_block_columns_are_the_table_columns() {
    let url = shared_clickhouse_url();
    let (db, store) = migrated(&url, "native_columns").await;
    let columns: Vec<(String, String)> = store
        .client()
        .query(
            "SELECT name, type FROM system.columns WHERE database = ? AND table = 'calls' \
             AND default_kind = ''",
        )
        .bind(&db.name)
        .fetch_all()
        .await
        .unwrap();
    let expected: Vec<(String, String)> = cdr::native::CALL_COLUMNS
        .iter()
        .map(|(name, kind)| (name.to_string(), kind.to_string()))
        .collect();
    assert_eq!(columns, expected);
}

/// An imported Teams record with every optional field set, and one with none.
fn imported(run: &str, n: u64) -> CallRecord {
    let mut r = record(run, n);
    r.key = CallKey::for_import("teams", &format!("{run}-{n}"));
    r.source = Source::Import {
        format: "teams-json".into(),
        file: format!("logs/{run}.json").into(),
        line: 10 + n,
    };
    r.direction = Direction::Inbound;
    r.site_id = (n % 2 == 0).then(|| "paris".to_string());
    r.original_called = (n % 2 == 0).then(|| "+33140000001".to_string());
    r.forwarding_party = (n % 2 == 0).then(|| "élodie@contoso.fr".to_string());
    r.channels_in_force = None;
    r.calls_in_progress = (n % 2 == 0).then_some(0);
    r.emergency = n % 5 == 0;
    r.teams = (n % 2 == 0).then(|| {
        Box::new(cdr::TeamsDetails {
            id: format!("teams-{n}"),
            user_principal_name: "élodie@contoso.fr".into(),
            call_type: "ByotOutUserForwarding".into(),
            sbc_fqdn: "sbc.contoso.fr".into(),
            duration_ms: (n % 4 == 0).then_some(n * 1_000),
        })
    });
    r
}

#[tokio::test]
async fn a_batch_round_trips_every_field_with_one_acknowledgement() {
    let url = shared_clickhouse_url();
    let (_db, store) = migrated(&url, "batch_round_trip").await;
    let spool = tempfile::tempdir().unwrap();
    let mut config = WriterConfig::new(spool.path());
    config.inserts_in_flight = 2;
    let (writer, running, _) = CallRecordWriter::start(&store, config).unwrap();
    let records: Vec<CallRecord> = (0..300).map(|n| imported("round", n)).collect();
    let first = writer.submit_batch(records[..120].to_vec()).await.unwrap();
    let single = writer.submit(records[120].clone()).await.unwrap();
    let rest = writer.submit_batch(records[121..].to_vec()).await.unwrap();
    let empty = writer.submit_batch(Vec::new()).await.unwrap();
    let first = first.await.unwrap();
    assert_eq!((first.delivered, first.spooled), (120, 0));
    assert!(first.set_aside.is_empty() && first.failed.is_empty());
    assert_eq!(single.await.unwrap(), Accepted::Delivered);
    assert_eq!(rest.await.unwrap().delivered, 179);
    assert_eq!(empty.await.unwrap().delivered, 0);
    drop(writer);
    let stats = running.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.written, 300);

    assert_eq!(
        read_back(&store).await,
        records,
        "every field comes back as written"
    );
}

/// Every stored record, read through the reader, in INVITE order.
async fn read_back(store: &ClickhouseConfig) -> Vec<CallRecord> {
    let mut stream = CallReader::new(store).calls(0, u64::MAX, None).unwrap();
    let mut seen = Vec::new();
    while let Some(r) = stream.next().await.unwrap() {
        seen.push(r);
    }
    seen.sort_by_key(|r| r.invite_ms);
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_batch_loses_nothing_and_doubles_nothing() {
    let mut server = ClickhouseServer::start().expect("private ClickHouse");
    let (_db, store) = migrated(&server.url(), "batch_outage").await;
    let spool = tempfile::tempdir().unwrap();
    let mut config = WriterConfig::new(spool.path());
    config.batch_max_records = 100;
    config.batch_max_delay = Duration::from_millis(10);
    config.insert_timeout = Duration::from_secs(3);
    config.retry_min = Duration::from_millis(50);
    config.retry_max = Duration::from_millis(500);
    config.inserts_in_flight = 2;
    config.queue_capacity = 1_000;
    let (writer, running, _) = CallRecordWriter::start(&store, config).unwrap();

    let records: Vec<CallRecord> = (0..6_000).map(|n| record("batch-outage", n)).collect();
    let mut acks = Vec::new();
    for (i, chunk) in records.chunks(250).enumerate() {
        // The server dies while batches are queued and in flight, and comes back
        // while later ones are.
        if i == 8 {
            server.kill();
        }
        if i == 16 {
            server.resume().expect("restart ClickHouse");
        }
        acks.push(writer.submit_batch(chunk.to_vec()).await.unwrap());
        if i % 8 == 7 {
            // Wait at the phase boundaries so that each phase really happens.
            let outcomes = futures_join(std::mem::take(&mut acks)).await;
            acks.clear();
            check_batches(&outcomes, &mut 0, &mut 0);
        }
    }
    let (mut delivered, mut spooled) = (0, 0);
    let outcomes = futures_join(acks).await;
    check_batches(&outcomes, &mut delivered, &mut spooled);
    drop(writer);
    let stats = running.shutdown(Duration::from_secs(60)).await;
    assert!(stats.spooled > 0, "the outage was not seen: {stats:?}");
    assert_eq!(stats.spool_pending, 0, "{stats:?}");
    assert_eq!(stats.replayed, stats.spooled, "{stats:?}");
    assert_eq!(
        stats.written + stats.spooled,
        6_000,
        "counted once each: {stats:?}"
    );
    assert_eq!(stats.rejected, 0);

    let (final_count, keys, _raw) = stored(&store).await;
    assert_eq!(final_count, 6_000);
    assert_eq!(keys, keys_of(&records));
}

/// Awaits batch acknowledgements in order.
async fn futures_join(acks: Vec<cdr::BatchAck>) -> Vec<cdr::BatchAccepted> {
    let mut outcomes = Vec::with_capacity(acks.len());
    for ack in acks {
        outcomes.push(ack.await.expect("the writer answers every batch"));
    }
    outcomes
}

/// Every record of every 250-record batch is durable, once.
fn check_batches(outcomes: &[cdr::BatchAccepted], delivered: &mut usize, spooled: &mut usize) {
    for outcome in outcomes {
        assert!(outcome.set_aside.is_empty(), "{outcome:?}");
        assert!(outcome.failed.is_empty(), "{outcome:?}");
        assert_eq!(outcome.delivered + outcome.spooled, 250, "{outcome:?}");
        *delivered += outcome.delivered;
        *spooled += outcome.spooled;
    }
}

#[tokio::test]
async fn a_batch_names_the_records_set_aside_by_their_index() {
    use std::sync::atomic::Ordering;
    let (url, requests) = refusing_server().await;
    let store = ClickhouseConfig::new(&url).with_database("fake");
    let spool = tempfile::tempdir().unwrap();
    let (writer, running, _) =
        CallRecordWriter::start(&store, WriterConfig::new(spool.path())).unwrap();
    let mut records: Vec<CallRecord> = (0..4).map(|n| record("batch-refused", n)).collect();
    records[2].end_ms = records[2].invite_ms - 1;
    let outcome = writer
        .submit_batch(records.clone())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((outcome.delivered, outcome.spooled), (0, 0));
    assert!(outcome.failed.is_empty());
    let indexes: Vec<usize> = outcome.set_aside.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indexes.iter().copied().collect::<BTreeSet<_>>(),
        [0, 1, 2, 3].into()
    );
    for (i, reason) in &outcome.set_aside {
        if *i == 2 {
            assert!(reason.contains("inconsistent record: end_ms"), "{reason}");
        } else {
            assert!(reason.contains("Code: 117"), "{reason}");
        }
    }
    drop(writer);
    let stats = running.shutdown(Duration::from_secs(1)).await;
    assert_eq!(stats.rejected, 4);
    // The inconsistent record never reaches the server: one batch insert of the three
    // others, then one attempt each.
    assert_eq!(requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_batch_larger_than_a_block_is_one_part() {
    let url = shared_clickhouse_url();
    let (db, store) = migrated(&url, "one_part").await;
    let spool = tempfile::tempdir().unwrap();
    let mut config = WriterConfig::new(spool.path());
    config.batch_max_records = 3 * cdr::native::BLOCK_RECORDS;
    config.batch_max_delay = Duration::from_secs(5);
    let (writer, running, _) = CallRecordWriter::start(&store, config).unwrap();
    let count = 2 * cdr::native::BLOCK_RECORDS + 10;
    let records: Vec<CallRecord> = (0..count as u64).map(|n| imported("part", n)).collect();
    let ack = writer.submit_batch(records.clone()).await.unwrap();
    assert_eq!(ack.await.unwrap().delivered, count);
    drop(writer);
    running.shutdown(Duration::from_secs(5)).await;

    // Parts an insert creates have level 0, and stay listed (inactive) after a merge.
    let inserted_parts: u64 = store
        .client()
        .query(
            "SELECT count() FROM system.parts \
             WHERE database = ? AND table = 'calls' AND level = 0",
        )
        .bind(&db.name)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(inserted_parts, 1, "three blocks, one insert, one part");
    let (deduplicated, keys, raw) = stored(&store).await;
    assert_eq!((deduplicated, raw), (count as u64, count as u64));
    assert_eq!(keys, keys_of(&records));
    assert_eq!(
        read_back(&store).await,
        records,
        "every field of every block comes back"
    );
}
