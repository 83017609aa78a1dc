//! The demo's path: sample provisioning → demo call records → no-loss writer →
//! ClickHouse → deduplicated reads, run twice.

use cdr::reader::CallReader;
use cdr::schema::{migrate, CDR_MIGRATIONS};
use cdr::{CallRecord, CallRecordWriter, ClickhouseConfig, WriterConfig};
use std::path::Path;
use std::time::Duration;
use testkit::{shared_clickhouse_url, TestDatabase};

fn sample_provisioning() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/provisioning"))
}

fn demo_calls(month: &str, per_trunk: u32) -> Vec<CallRecord> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fairtrunk"))
        .arg("demo-calls")
        .arg("--provisioning")
        .arg(sample_provisioning())
        .args([
            "--month",
            month,
            "--calls-per-trunk",
            &per_trunk.to_string(),
        ])
        .output()
        .expect("run fairtrunk demo-calls");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a call record"))
        .collect()
}

#[tokio::test]
async fn demo_month_is_stored_once_however_often_it_runs() {
    let provisioning = provisioning::Provisioning::load(sample_provisioning()).unwrap();
    let inventory =
        number_portability::inventory::Inventory::load_with(sample_provisioning(), &provisioning)
            .unwrap();
    let records = demo_calls("2026-10", 100);
    assert_eq!(records.len(), provisioning.trunks().len() * 100);
    assert_eq!(
        records,
        demo_calls("2026-10", 100),
        "demo data must be deterministic"
    );

    // Every record names a provisioned trunk of the right customer, and carries the
    // channel count in force at its INVITE (acme-multisite changes on 16 October).
    for r in &records {
        let trunk = provisioning.trunk(&r.trunk_id).expect("provisioned trunk");
        assert_eq!(trunk.customer_id(), r.customer_id);
        let at = chrono::DateTime::from_timestamp_millis(r.invite_ms as i64).unwrap();
        assert_eq!(r.channels_in_force, Some(trunk.channels_at(at)));
        assert_eq!(r.check(), Ok(()));
        // The trunk's side presents a number the inventory assigns to this trunk,
        // so the demo's rating sees no foreign caller it did not mean.
        let ours = match r.direction {
            cdr::Direction::Outbound => &r.caller,
            cdr::Direction::Inbound => &r.callee,
        };
        let number = number_portability::E164::parse(ours).expect("an E.164 number");
        let route = inventory.route(&number);
        assert_eq!(
            route.map(|route| route.trunk),
            Some(r.trunk_id.as_str()),
            "{ours} of {}",
            r.trunk_id
        );
    }

    let url = shared_clickhouse_url();
    let db = TestDatabase::create(&url, "demo").await;
    let store = ClickhouseConfig::new(&url).with_database(&db.name);
    migrate(&store, &[CDR_MIGRATIONS]).await.unwrap();
    let spool = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let (writer, running, _) =
            CallRecordWriter::start(&store, WriterConfig::new(spool.path())).unwrap();
        for r in &records {
            writer.submit(r.clone()).await.unwrap();
        }
        drop(writer);
        let stats = running.shutdown(Duration::from_secs(10)).await;
        assert_eq!(stats.written, records.len() as u64, "run {run}: {stats:?}");
    }
    let totals = CallReader::new(&store).totals(0, u64::MAX).await.unwrap();
    assert_eq!(totals.attempts, records.len() as u64);
    assert_eq!(
        totals.billable_ms,
        records.iter().map(|r| r.billable_ms).sum::<u64>()
    );
    let per_trunk = CallReader::new(&store)
        .trunk_totals(0, u64::MAX)
        .await
        .unwrap();
    assert_eq!(per_trunk.len(), provisioning.trunks().len());
}

#[test]
fn demo_calls_refuses_a_broken_inventory_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    testkit::copy_dir(sample_provisioning(), dir.path());
    let inventory = dir.path().join("numbers/inventory.csv");
    let text = std::fs::read_to_string(&inventory).unwrap();
    std::fs::write(&inventory, text.replacen(",assigned,", ",assinged,", 1)).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fairtrunk"))
        .args(["demo-calls", "--month", "2026-10", "--provisioning"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "no records from a broken inventory"
    );
    assert!(
        stderr.contains("numbers/inventory.csv:2:")
            && stderr.contains("unknown state \"assinged\""),
        "{stderr}"
    );
}

/// The sample edge export (`samples/import/edge-contoso-2026-10.csv`) holds records of
/// the demo's month, and the sample Teams log is built to match it (checked by
/// cdr-import's tests): if the demo's generator changes, the demo's Teams rows no
/// longer find their edge records and every one of them would be billed twice.
#[test]
fn the_sample_edge_export_is_the_demos_own_records() {
    let demo = demo_calls("2026-10", 500);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/import/edge-contoso-2026-10.csv"
    );
    let mut sample = csv::Reader::from_path(path).expect("the sample edge export");
    let header = sample.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (key, caller, callee, invite) = (
        column("call_key"),
        column("caller"),
        column("callee"),
        column("invite_ms"),
    );
    let mut rows = 0;
    for row in sample.records() {
        let row = row.unwrap();
        let record = demo
            .iter()
            .find(|r| r.key.as_str() == &row[key])
            .unwrap_or_else(|| panic!("{} is no demo record", &row[key]));
        assert_eq!(
            (record.caller.as_str(), record.callee.as_str()),
            (&row[caller], &row[callee]),
            "{}",
            &row[key]
        );
        assert_eq!(record.invite_ms.to_string(), &row[invite]);
        rows += 1;
    }
    assert!(rows >= 10, "{rows} rows");
}
