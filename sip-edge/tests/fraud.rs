//! The toll-fraud guard with SIPp: an international flood from one trunk blocked by
//! the anomaly detector while another trunk keeps calling; the provisioned caps.

use crate::lab::{expect_success, Lab, LabOptions, TRUNK};
use cdr::{CallRecord, Disposition};

const UK: &str = "00442079460000";
const PREMIUM: &str = "0899123456";

/// A second trunk of the lab, `beta`, calling from 127.0.N.50.
fn beta_trunk(n: u8) -> String {
    format!(
        r#"[[trunk]]
id = "beta"
customer = "acme"
plan = "fixed"
channels = [{{ from = 2024-01-01, channels = 20 }}]

[trunk.identify]
source_addresses = ["127.0.{n}.48/28"]

[trunk.inbound]
target = "127.0.{n}.50:5070"
transport = "udp"

[[trunk.site]]
id = "main"
name = "Main"
address = "3 rue de la Paix, 75002 Paris"
insee_code = "75056"
"#
    )
}

fn count(records: &[CallRecord], trunk: &str, disposition: Disposition) -> usize {
    records
        .iter()
        .filter(|r| r.trunk_id == trunk && r.disposition == disposition)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_international_flood_is_blocked_while_another_trunk_keeps_calling() {
    let n = 33;
    let lab = Lab::start(
        n,
        LabOptions {
            channels: 30,
            more_trunks: beta_trunk(n),
            edge_extra:
                "[fraud]\nwindow_secs = 60\nbaseline_secs = 3600\nfactor = 5.0\nmin_calls = 5\n"
                    .into(),
            ..LabOptions::default()
        },
    )
    .await;
    let flood = 20;
    // The other trunk's usual traffic: national calls and a few international ones
    // (under the detector's minimum).
    let (beta_national, beta_international) = (10, 3);
    let beta_calls = beta_national + beta_international;
    // The detector trips on the fifth attempt: four calls of the flood get through.
    let uas = lab
        .uas("uas_basic", lab.carrier(), 4 + beta_calls, &[])
        .await;
    let hacked = lab
        .uac("uac_or_forbidden", lab.pbx(), UK, flood)
        .args(["-r", "20", "-l", "20", "-d", "1000"])
        .spawn("uac international flood")
        .unwrap();
    let beta = lab
        .uac("uac_basic", lab.addr(50, 5060), "0612345678", beta_national)
        .args(["-r", "5", "-d", "200"])
        .spawn("uac other trunk, national")
        .unwrap();
    let beta_abroad = lab
        .uac("uac_basic", lab.addr(51, 5060), UK, beta_international)
        .args(["-r", "2", "-d", "200"])
        .spawn("uac other trunk, international")
        .unwrap();
    expect_success(hacked).await;
    expect_success(beta).await;
    expect_success(beta_abroad).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records((flood + beta_calls) as usize).await;
    assert_eq!(
        count(&records, TRUNK, Disposition::Answered),
        4,
        "{records:#?}"
    );
    assert_eq!(count(&records, TRUNK, Disposition::RejectedPolicy), 16);
    assert!(records
        .iter()
        .filter(|r| r.disposition == Disposition::RejectedPolicy)
        .all(|r| r.trunk_id == TRUNK
            && r.final_status == Some(403)
            && r.callee == "+442079460000"));
    assert_eq!(
        count(&records, "beta", Disposition::Answered),
        beta_calls as usize
    );
    lab.wait_metric("sip_edge_fraud_anomalies_total", 1.0).await;
    lab.wait_metric("sip_edge_refusals_total{reason=\"blocked\"}", 16.0)
        .await;
    lab.wait_metric(
        "sip_edge_fraud_blocked{trunk=\"acme-test\",class=\"international\",automatic=\"true\"}",
        1.0,
    )
    .await;
    // National calls of the blocked trunk still go through.
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let national = lab
        .uac("uac_basic", lab.pbx(), "0612345678", 1)
        .args(["-d", "100"])
        .spawn("uac national after the block")
        .unwrap();
    expect_success(national).await;
    expect_success(uas).await;
    // The block is kept for the next start of the edge.
    let blocks = std::fs::read_to_string(lab.dir.path().join("spool/fraud-blocks.json")).unwrap();
    assert!(blocks.contains("\"class\": \"international\""), "{blocks}");
    assert!(blocks.contains("\"by\": \"anomaly-detector\""), "{blocks}");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_caps_refuse_calls_over_them_with_403() {
    let lab = Lab::start(
        34,
        LabOptions {
            channels: 10,
            trunk_extra:
                "\n[trunk.fraud_caps]\npremium = { per_minute = 2 }\ninternational = { concurrent = 1 }\n"
                    .into(),
            ..LabOptions::default()
        },
    )
    .await;
    let uas = lab.uas("uas_basic", lab.carrier(), 3, &[]).await;
    // Premium: two per minute, one after the other.
    let premium = lab
        .uac("uac_or_forbidden", lab.pbx(), PREMIUM, 4)
        .args(["-l", "1", "-d", "50"])
        .spawn("uac premium")
        .unwrap();
    expect_success(premium).await;
    // International: one at a time; three at once.
    let international = lab
        .uac("uac_or_forbidden", lab.pbx(), UK, 3)
        .args(["-r", "100", "-l", "3", "-d", "1000"])
        .spawn("uac international")
        .unwrap();
    expect_success(international).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(7).await;
    let premium: Vec<_> = records
        .iter()
        .filter(|r| r.callee == "+33899123456")
        .map(|r| r.disposition)
        .collect();
    assert_eq!(
        premium,
        [
            Disposition::Answered,
            Disposition::Answered,
            Disposition::RejectedPolicy,
            Disposition::RejectedPolicy
        ]
    );
    let international: Vec<_> = records
        .iter()
        .filter(|r| r.callee == "+442079460000")
        .map(|r| r.disposition)
        .collect();
    assert_eq!(
        international
            .iter()
            .filter(|d| **d == Disposition::Answered)
            .count(),
        1,
        "{records:#?}"
    );
    assert_eq!(
        international
            .iter()
            .filter(|d| **d == Disposition::RejectedPolicy)
            .count(),
        2
    );
    lab.wait_metric("sip_edge_refusals_total{reason=\"fraud_cap\"}", 4.0)
        .await;
    lab.stop().await;
}
