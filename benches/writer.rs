//! Call-record writer throughput, side by side with ClickHouse's own CSV insert.
//!
//! In one run, on a private ClickHouse server:
//! 1. the writer inserting N records directly (batches, ClickHouse up);
//! 2. the floor: `clickhouse-client --query "INSERT ... FORMAT CSV"` of the same rows
//!    (ClickHouse's own parser, no durability bookkeeping), and the ratio;
//! 3. the writer with ClickHouse down: every batch fsync'd to the spool;
//! 4. the replay of that spool once ClickHouse is back.
//!
//! `cargo bench --bench writer` (N = 200,000; `FAIRTRUNK_BENCH_RECORDS` overrides).
//! Needs `clickhouse-server` and `clickhouse-client` (scripts/test.sh installs them).

use cdr::schema::{migrate, CDR_MIGRATIONS};
use cdr::{
    CallKey, CallRecord, CallRecordWriter, ClickhouseConfig, Direction, Disposition, Source,
    WriterConfig,
};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::ClickhouseServer;

const COLUMNS: &str = "call_key, source_kind, source_name, source_file, source_line, trunk_id, \
    customer_id, site_id, direction, caller, callee, original_called, forwarding_party, \
    sip_call_id, final_status, disposition, emergency, invite_ms, answer_ms, end_ms, \
    billable_ms, channels_in_force, calls_in_progress, revision";

fn record(run: &str, n: u64) -> CallRecord {
    let invite_ms = 1_790_000_000_000 + n * 37;
    CallRecord {
        key: CallKey::for_edge("bench", &format!("{run}-{n}"), "t", 1),
        source: Source::Edge {
            node: "bench".into(),
        },
        trunk_id: format!("trunk-{}", n % 5_000),
        customer_id: format!("customer-{}", n % 3_000),
        site_id: Some("hq".into()),
        direction: Direction::Outbound,
        caller: format!("+3314{:07}", n % 10_000_000),
        callee: format!("+336{:08}", (n * 7_919) % 100_000_000),
        original_called: None,
        forwarding_party: None,
        sip_call_id: format!("{run}-{n}@pbx.example.com"),
        final_status: Some(200),
        disposition: Disposition::Answered,
        emergency: false,
        invite_ms,
        answer_ms: Some(invite_ms + 4_000),
        end_ms: invite_ms + 4_000 + (n % 600) * 1_000,
        billable_ms: (n % 600) * 1_000,
        channels_in_force: Some(30),
        calls_in_progress: Some((n % 30) as u32),
        revision: 0,
        teams: None,
        end_reason: None,
    }
}

async fn write_all(
    store: &ClickhouseConfig,
    spool: &std::path::Path,
    records: &[CallRecord],
) -> (Duration, cdr::WriterStats, cdr::RunningWriter) {
    let (writer, running, _) = CallRecordWriter::start(store, WriterConfig::new(spool)).unwrap();
    let started = Instant::now();
    let mut last = None;
    for r in records {
        last = Some(writer.submit(r.clone()).await.unwrap());
    }
    if let Some(ack) = last {
        ack.await.unwrap();
    }
    (started.elapsed(), writer.stats(), running)
}

fn rate(n: usize, d: Duration) -> String {
    format!(
        "{:>10.0} records/s ({:.2} s)",
        n as f64 / d.as_secs_f64(),
        d.as_secs_f64()
    )
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("FAIRTRUNK_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut server =
        ClickhouseServer::start().expect("clickhouse-server (run scripts/test.sh once)");
    let store = ClickhouseConfig::new(server.url()).with_database("bench");
    migrate(&store, &[CDR_MIGRATIONS]).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let direct: Vec<CallRecord> = (0..n as u64).map(|i| record("direct", i)).collect();
    let spooled: Vec<CallRecord> = (0..n as u64).map(|i| record("spooled", i)).collect();

    let (direct_time, stats, running) =
        write_all(&store, &work.path().join("direct"), &direct).await;
    running.shutdown(Duration::from_secs(60)).await;
    assert_eq!(stats.written as usize, n, "{stats:?}");

    // The floor: the same rows through clickhouse-client's CSV insert.
    let csv = work.path().join("rows.csv");
    let client = |query: &str| {
        let mut c = Command::new("clickhouse-client");
        c.args(["--port", &server.tcp_port().to_string(), "--query", query]);
        c
    };
    let export = client(&format!("SELECT {COLUMNS} FROM bench.calls FORMAT CSV"))
        .stdout(std::fs::File::create(&csv).unwrap())
        .status()
        .unwrap();
    assert!(export.success());
    assert!(client("CREATE TABLE bench.calls_floor AS bench.calls")
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let floor = client(&format!(
        "INSERT INTO bench.calls_floor ({COLUMNS}) FORMAT CSV"
    ))
    .stdin(std::fs::File::open(&csv).unwrap())
    .stderr(Stdio::inherit())
    .status()
    .unwrap();
    let floor_time = started.elapsed();
    assert!(floor.success());

    // ClickHouse down: every batch goes to the spool (fsync per batch), then replays.
    server.kill();
    let (spool_time, stats, running) =
        write_all(&store, &work.path().join("spooled"), &spooled).await;
    assert_eq!(stats.spooled as usize, n, "{stats:?}");
    server.resume().unwrap();
    let started = Instant::now();
    let stats = running.shutdown(Duration::from_secs(300)).await;
    let replay_time = started.elapsed();
    assert_eq!(stats.replayed as usize, n, "{stats:?}");

    println!("call-record writer, {n} records, one ClickHouse 18.16 server on loopback");
    println!("  writer, direct inserts        {}", rate(n, direct_time));
    println!("  clickhouse-client CSV insert  {}", rate(n, floor_time));
    println!(
        "  writer, ClickHouse down (spool, fsync per batch) {}",
        rate(n, spool_time)
    );
    println!("  spool replay after restart    {}", rate(n, replay_time));
    println!(
        "  ratio writer / clickhouse-client time: {:.2}",
        direct_time.as_secs_f64() / floor_time.as_secs_f64()
    );
}
