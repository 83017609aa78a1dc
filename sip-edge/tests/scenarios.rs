//! Call scenarios through the edge with SIPp on both sides.

use crate::lab::{expect_success, Lab, LabOptions, DID, TRUNK};
use cdr::{end_reason, Direction, Disposition};
use std::time::Duration;

const CALLEE: &str = "0612345678";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_call_is_proxied_and_recorded() {
    let lab = Lab::start(1, LabOptions::default()).await;
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_basic", lab.pbx(), CALLEE, 1)
        .args(["-d", "300"])
        .spawn("uac basic")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    let r = &records[0];
    assert_eq!(r.disposition, Disposition::Answered);
    assert_eq!(r.direction, Direction::Outbound);
    assert_eq!(r.trunk_id, TRUNK);
    assert_eq!(r.customer_id, "acme");
    assert_eq!(r.site_id.as_deref(), Some("hq"));
    assert_eq!(r.caller, "+33140000000");
    assert_eq!(r.callee, "+33612345678");
    assert_eq!(r.final_status, Some(200));
    assert_eq!(r.channels_in_force, Some(2));
    assert_eq!(r.calls_in_progress, Some(0));
    assert!(r.billable_ms >= 250, "billable {} ms", r.billable_ms);
    assert!(!r.emergency);
    lab.wait_metric("sip_edge_calls_total{disposition=\"answered\"}", 1.0)
        .await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_call_goes_to_the_trunk_of_the_number() {
    let lab = Lab::start(2, LabOptions::default()).await;
    let uas = lab.uas("uas_basic", lab.pbx_inbound(), 1, &[]).await;
    let uac = lab
        .uac("uac_basic", lab.carrier(), DID, 1)
        .args(["-d", "200"])
        .spawn("uac inbound")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    let r = &records[0];
    assert_eq!(r.direction, Direction::Inbound);
    assert_eq!(r.disposition, Disposition::Answered);
    assert_eq!(r.callee, "+33140000001");
    assert_eq!(r.site_id.as_deref(), Some("hq"));
    lab.stop().await;
}

/// Channel limit N=3 with a burst of 5 INVITEs: exactly 2 refused with the configured
/// code; once the calls end, a channel is reusable at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_limit_refuses_exactly_the_excess_of_a_burst() {
    let lab = Lab::start(
        3,
        LabOptions {
            channels: 3,
            ..LabOptions::default()
        },
    )
    .await;
    let uas = lab.uas("uas_basic", lab.carrier(), 3, &[]).await;
    let uac = lab
        .uac("uac_or_refused", lab.pbx(), CALLEE, 5)
        .args(["-r", "1000", "-l", "5", "-d", "1500"])
        .spawn("uac burst")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    lab.wait_metric("sip_edge_refusals_total{reason=\"no_channel\"}", 2.0)
        .await;
    // The channels are free again: the next call is admitted at once.
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_basic", lab.pbx(), CALLEE, 1)
        .args(["-d", "100"])
        .spawn("uac after burst")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(6).await;
    let refused: Vec<_> = records
        .iter()
        .filter(|r| r.disposition == Disposition::RejectedNoChannel)
        .collect();
    assert_eq!(refused.len(), 2, "{records:#?}");
    for r in &refused {
        assert_eq!(r.final_status, Some(503));
        assert_eq!(r.channels_in_force, Some(3));
        assert_eq!(r.calls_in_progress, Some(3));
    }
    let answered = records
        .iter()
        .filter(|r| r.disposition == Disposition::Answered)
        .count();
    assert_eq!(answered, 4);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_code_is_configurable() {
    let lab = Lab::start(
        4,
        LabOptions {
            channels: 1,
            refusal_code: 486,
            ..LabOptions::default()
        },
    )
    .await;
    // A scenario copy that expects 486 where the default expects 503.
    let text = std::fs::read_to_string(crate::lab::scenario("uac_or_refused"))
        .unwrap()
        .replace("response=\"503\"", "response=\"486\"");
    let path = lab.dir.path().join("uac_or_486.xml");
    std::fs::write(&path, text).unwrap();
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let uac = testkit::sipp::Sipp::new(&path)
        .local(lab.pbx())
        .remote(lab.edge_addr())
        .service(CALLEE)
        .key("caller", "0140000000")
        .calls(2)
        .timeout(Duration::from_secs(30))
        .args(["-r", "100", "-l", "2", "-d", "1000"])
        .spawn("uac 486")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(2).await;
    let refused: Vec<_> = records
        .iter()
        .filter(|r| r.disposition == Disposition::RejectedNoChannel)
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].final_status, Some(486));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_answer() {
    let lab = Lab::start(5, LabOptions::default()).await;
    let uas = lab.uas("uas_ring_cancel", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_cancel", lab.pbx(), CALLEE, 1)
        .spawn("uac cancel")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Cancelled);
    assert_eq!(records[0].final_status, Some(487));
    assert_eq!(records[0].answer_ms, None);
    lab.stop().await;
}

async fn far_end_refuses(n: u8, code: &str, expected: Disposition) {
    let lab = Lab::start(n, LabOptions::default()).await;
    let uas = lab
        .uas(&format!("uas_reject_{code}"), lab.carrier(), 1, &[])
        .await;
    let uac = lab
        .uac(&format!("uac_expect_{code}"), lab.pbx(), CALLEE, 1)
        .spawn("uac refused")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, expected);
    assert_eq!(records[0].final_status, Some(code.parse().unwrap()));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_end_busy_486() {
    far_end_refuses(6, "486", Disposition::Busy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_end_not_found_404() {
    far_end_refuses(7, "404", Disposition::Failed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_source_gets_403_and_no_record() {
    let lab = Lab::start(8, LabOptions::default()).await;
    let uac = lab
        .uac("uac_expect_403", lab.addr(40, 5060), CALLEE, 1)
        .spawn("uac stranger")
        .unwrap();
    expect_success(uac).await;
    lab.wait_metric("sip_edge_refusals_total{reason=\"unknown_source\"}", 1.0)
        .await;
    lab.records(0).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_number_from_a_carrier_gets_404() {
    let lab = Lab::start(9, LabOptions::default()).await;
    let uac = lab
        .uac("uac_expect_404", lab.carrier(), "0140009999", 1)
        .spawn("uac unknown did")
        .unwrap();
    expect_success(uac).await;
    lab.wait_metric("sip_edge_refusals_total{reason=\"unknown_number\"}", 1.0)
        .await;
    lab.records(0).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_call_is_admitted_on_a_full_trunk() {
    let lab = Lab::start(
        10,
        LabOptions {
            channels: 1,
            ..LabOptions::default()
        },
    )
    .await;
    let uas = lab.uas("uas_basic", lab.carrier(), 2, &[]).await;
    let holding = lab
        .uac("uac_basic", lab.pbx(), CALLEE, 1)
        .args(["-d", "3000"])
        .spawn("uac holding")
        .unwrap();
    lab.wait_metric(&format!("sip_edge_active_calls{{trunk=\"{TRUNK}\"}}"), 1.0)
        .await;
    let emergency = lab
        .uac("uac_basic", lab.addr(21, 5062), "112", 1)
        .args(["-d", "200"])
        .spawn("uac 112")
        .unwrap();
    expect_success(emergency).await;
    expect_success(holding).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(2).await;
    let e = records
        .iter()
        .find(|r| r.emergency)
        .expect("an emergency record");
    assert_eq!(e.callee, "112");
    assert_eq!(e.disposition, Disposition::Answered);
    assert_eq!(e.calls_in_progress, Some(1));
    assert_eq!(e.channels_in_force, Some(1));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_c_cancels_downstream_and_answers_408() {
    let lab = Lab::start(
        11,
        LabOptions {
            timer_c_secs: 1,
            ..LabOptions::default()
        },
    )
    .await;
    let uas = lab.uas("uas_ring_cancel", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_expect_408", lab.pbx(), CALLEE, 1)
        .spawn("uac timer c")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::NoAnswer);
    assert_eq!(records[0].final_status, Some(408));
    assert_eq!(records[0].end_reason.as_deref(), Some(end_reason::TIMER_C));
    let waited = records[0].end_ms - records[0].invite_ms;
    assert!((900..5000).contains(&waited), "ended after {waited} ms");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bye_from_the_callee_ends_the_call() {
    let lab = Lab::start(12, LabOptions::default()).await;
    let uas = lab
        .uas("uas_hangup", lab.carrier(), 1, &["-d", "300"])
        .await;
    let uac = lab
        .uac("uac_wait_bye", lab.pbx(), CALLEE, 1)
        .spawn("uac callee hangs up")
        .unwrap();
    expect_success(uas).await;
    expect_success(uac).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Answered);
    assert!(records[0].billable_ms >= 250);
    assert_eq!(records[0].end_reason, None, "the parties ended it");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_passes_and_takes_no_channel() {
    let lab = Lab::start(
        13,
        LabOptions {
            channels: 1,
            ..LabOptions::default()
        },
    )
    .await;
    let uas = lab.uas("uas_reinvite", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_reinvite", lab.pbx(), CALLEE, 1)
        .spawn("uac re-invite")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Answered);
    assert_eq!(
        lab.metric("sip_edge_refusals_total{reason=\"no_channel\"}")
            .await,
        0.0
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_never_acked_ends_the_call_on_both_sides() {
    let lab = Lab::start(
        14,
        LabOptions {
            t1_ms: 30,
            ..LabOptions::default()
        },
    )
    .await;
    let uas = lab.uas("uas_no_ack", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_no_ack", lab.pbx(), CALLEE, 1)
        .spawn("uac no ack")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Failed);
    assert_eq!(records[0].final_status, Some(200));
    assert_eq!(records[0].billable_ms, 0);
    assert_eq!(records[0].end_reason.as_deref(), Some(end_reason::NO_ACK));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connection_lost_mid_call_ends_the_call() {
    let lab = Lab::start(15, LabOptions::default()).await;
    lab.wait_edge_tcp().await;
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_vanish", lab.pbx(), CALLEE, 1)
        .transport("t1")
        .args(["-d", "500"])
        .spawn("uac tcp vanishes")
        .unwrap();
    expect_success(uac).await;
    // The caller's connection is gone: the edge sends BYE to the callee.
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Answered);
    assert!(records[0].billable_ms >= 400);
    assert_eq!(
        records[0].end_reason.as_deref(),
        Some(end_reason::TRANSPORT_LOST)
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maximum_duration_ends_the_call_with_bye_to_both_sides() {
    let lab = Lab::start(
        16,
        LabOptions {
            max_call_duration_secs: 1,
            ..LabOptions::default()
        },
    )
    .await;
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_wait_bye", lab.pbx(), CALLEE, 1)
        .spawn("uac max duration")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Answered);
    assert!(
        (900..3000).contains(&records[0].billable_ms),
        "billable {} ms",
        records[0].billable_ms
    );
    assert_eq!(
        records[0].end_reason.as_deref(),
        Some(end_reason::MAX_DURATION)
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_call_records_the_original_number() {
    let lab = Lab::start(17, LabOptions::default()).await;
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_forwarded", lab.pbx(), CALLEE, 1)
        .args(["-d", "100"])
        .spawn("uac forwarded")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    let records = lab.records(1).await;
    assert_eq!(records[0].original_called.as_deref(), Some("+33140000002"));
    assert_eq!(records[0].forwarding_party.as_deref(), Some("+33140000002"));
    assert_eq!(records[0].callee, "+33612345678");
    lab.wait_no_active_call().await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_fails_over_to_the_next_carrier_on_503() {
    let lab = Lab::start(
        18,
        LabOptions {
            carriers: vec![(3, "udp"), (4, "udp")],
            ..LabOptions::default()
        },
    )
    .await;
    let first = lab.uas("uas_reject_503", lab.carrier(), 1, &[]).await;
    let second = lab.uas("uas_basic", lab.addr(4, 5060), 1, &[]).await;
    let uac = lab
        .uac("uac_basic", lab.pbx(), CALLEE, 1)
        .args(["-d", "100"])
        .spawn("uac failover")
        .unwrap();
    expect_success(uac).await;
    expect_success(first).await;
    expect_success(second).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Answered);
    lab.stop().await;
}

/// Contract §1: a site's own limit inside the trunk's; the other site still has room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_limit_refuses_inside_a_trunk_with_room() {
    let lab = Lab::start(
        23,
        LabOptions {
            channels: 3,
            site_channels: Some(1),
            ..LabOptions::default()
        },
    )
    .await;
    let uas = lab.uas("uas_basic", lab.carrier(), 2, &[]).await;
    let holding = lab
        .uac("uac_basic", lab.pbx(), CALLEE, 1)
        .args(["-d", "2000"])
        .spawn("uac hq holding")
        .unwrap();
    lab.wait_metric(&format!("sip_edge_active_calls{{trunk=\"{TRUNK}\"}}"), 1.0)
        .await;
    // The same site again: refused, its one channel is taken.
    let refused = lab
        .uac("uac_or_refused", lab.addr(21, 5062), CALLEE, 1)
        .spawn("uac hq refused")
        .unwrap();
    expect_success(refused).await;
    // The other site of the trunk: admitted.
    let annex = lab
        .uac("uac_basic", lab.addr(22, 5060), CALLEE, 1)
        .args(["-d", "100"])
        .spawn("uac annex")
        .unwrap();
    expect_success(annex).await;
    expect_success(holding).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(3).await;
    let refused: Vec<_> = records
        .iter()
        .filter(|r| r.disposition == Disposition::RejectedNoChannel)
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].site_id.as_deref(), Some("hq"));
    assert_eq!(refused[0].channels_in_force, Some(3));
    let annex = records
        .iter()
        .find(|r| r.site_id.as_deref() == Some("annex"))
        .expect("the annex call");
    assert_eq!(annex.disposition, Disposition::Answered);
    lab.stop().await;
}

/// The edge opens a TCP connection to a PBX whose inbound transport is TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_call_over_tcp_to_the_pbx() {
    let lab = Lab::start(
        24,
        LabOptions {
            inbound_transport: "tcp",
            ..LabOptions::default()
        },
    )
    .await;
    let at = lab.pbx_inbound();
    let uas = testkit::sipp::Sipp::new(crate::lab::scenario("uas_basic"))
        .local(at)
        .transport("t1")
        .calls(1)
        .timeout(Duration::from_secs(30))
        .spawn("uas tcp")
        .unwrap();
    let listening = tokio::task::spawn_blocking(move || {
        testkit::sipp::wait_tcp_listening(at, Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(listening, "the TCP UAS did not listen");
    let uac = lab
        .uac("uac_basic", lab.carrier(), DID, 1)
        .args(["-d", "200"])
        .spawn("uac inbound to tcp")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].direction, Direction::Inbound);
    assert_eq!(records[0].disposition, Disposition::Answered);
    lab.stop().await;
}
