//! The admin API over HTTP: token checks, status, reload, blocks ending calls in
//! progress (BYE to both SIPp peers), ending one call by its Call-ID.

use crate::lab::{expect_success, Lab, LabOptions, TRUNK};
use cdr::Disposition;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::time::Duration;

pub(crate) const ALICE: &str = "alice-0123456789";
const BOB: &str = "bob-9876543210";

fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The lab's `[admin]` section: alice's token issued today, bob's in 2024 and never
/// used since (disabled).
pub(crate) fn admin_section(n: u8) -> String {
    format!(
        "[admin]\naddress = \"127.0.{n}.1:9091\"\n\n[[admin.token]]\nname = \"noc-alice\"\nsha256 = \"{}\"\nissued = {}\n\n[[admin.token]]\nname = \"old-bob\"\nsha256 = \"{}\"\nissued = 2024-01-01\n",
        sha256_hex(ALICE),
        chrono::Utc::now().date_naive(),
        sha256_hex(BOB),
    )
}

/// One HTTP/1.1 request; the status and the JSON body.
pub(crate) async fn http(
    lab: &Lab,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let address: SocketAddr = lab.addr(1, 9091);
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    request.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    let text = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).expect("admin API answers");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    })
    .await
    .unwrap();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {text}"));
    let json = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| serde_json::from_str(b).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_answers_only_valid_tokens() {
    let n = 35;
    let lab = Lab::start(
        n,
        LabOptions {
            edge_extra: admin_section(n),
            ..LabOptions::default()
        },
    )
    .await;
    let (status, body) = http(&lab, "GET", "/status", None, None).await;
    assert_eq!(status, 401);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("missing Authorization"));
    let (status, body) = http(&lab, "GET", "/status", Some("guess"), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unknown token"))
    );
    let (status, body) = http(&lab, "GET", "/status", Some(BOB), None).await;
    assert_eq!(status, 401);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("\"old-bob\" is disabled"));
    // Nothing was done without a valid token: no reload, no block.
    let (status, _) = http(
        &lab,
        "POST",
        "/trunks/acme-test/block",
        Some(BOB),
        Some("{\"reason\":\"x\"}"),
    )
    .await;
    assert_eq!(status, 401);

    // A scanner gets banned; the status shows it.
    let scanner = tokio::net::UdpSocket::bind(lab.addr(66, 5060))
        .await
        .unwrap();
    scanner
        .send_to(
            format!(
                "OPTIONS sip:100@{e} SIP/2.0\r\nVia: SIP/2.0/UDP {s};branch=z9hG4bK1\r\nFrom: <sip:100@{s}>;tag=1\r\nTo: <sip:100@{e}>\r\nCall-ID: scan-1\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n",
                e = lab.edge_addr(),
                s = lab.addr(66, 5060)
            )
            .as_bytes(),
            lab.edge_addr(),
        )
        .await
        .unwrap();
    lab.wait_metric("sip_edge_banned_sources", 1.0).await;

    let (status, body) = http(&lab, "GET", "/status", Some(ALICE), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["node"], "edge-lab-35");
    assert_eq!(body["draining"], false);
    assert_eq!(body["calls_in_progress"], 0);
    assert_eq!(body["trunks"][0]["id"], TRUNK);
    assert_eq!(body["trunks"][0]["channels_in_force"], 2);
    assert_eq!(body["trunks"][0]["blocked"], false);
    assert_eq!(body["bans"][0]["source"], "127.0.35.66");
    // No keepalives in this lab: the carrier is listed as routable, unprobed.
    assert_eq!(body["peers"][0]["name"], "carrier-0", "{body}");
    assert_eq!(body["peers"][0]["up"], true);
    assert_eq!(body["peers"][0]["probed"], false);
    assert_eq!(body["bans"][0]["reason"], "scanner");
    assert_eq!(body["blocks"], Value::Array(vec![]));

    let (status, body) = http(&lab, "POST", "/reload", Some(ALICE), None).await;
    assert_eq!((status, &body["reloaded"]), (200, &Value::Bool(true)));
    // A broken provisioning is refused with its errors; the old one stays in force.
    let trunks = lab.dir.path().join("provisioning/trunks.toml");
    let good = std::fs::read_to_string(&trunks).unwrap();
    std::fs::write(&trunks, good.replace("channels = 2 }", "channels = -2 }")).unwrap();
    let (status, body) = http(&lab, "POST", "/reload", Some(ALICE), None).await;
    assert_eq!(status, 422);
    assert!(
        body["error"].as_str().unwrap().contains("trunks.toml"),
        "{body}"
    );
    std::fs::write(&trunks, good).unwrap();

    assert_eq!(
        http(&lab, "GET", "/trunks/nope/calls", Some(ALICE), None)
            .await
            .0,
        404
    );
    assert_eq!(
        http(&lab, "GET", "/trunks/acme-test/calls", Some(ALICE), None)
            .await
            .1,
        Value::Array(vec![])
    );
    assert_eq!(
        http(&lab, "POST", "/status", Some(ALICE), None).await.0,
        405
    );
    assert_eq!(
        http(&lab, "GET", "/secrets", Some(ALICE), None).await.0,
        404
    );
    let (status, body) = http(
        &lab,
        "POST",
        "/trunks/acme-test/block",
        Some(ALICE),
        Some("{\"reason\":\"x\",\"class\":\"satellite\"}"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("\"satellite\""));
    let (status, body) = http(
        &lab,
        "POST",
        "/trunks/acme-test/block",
        Some(ALICE),
        Some("{}"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("reason: required"));
    assert_eq!(
        http(
            &lab,
            "POST",
            "/trunks/nope/block",
            Some(ALICE),
            Some("{\"reason\":\"x\"}")
        )
        .await
        .0,
        404
    );

    // Alice's use is remembered for the six-month rule.
    let used = std::fs::read_to_string(lab.dir.path().join("spool/admin-tokens.json")).unwrap();
    assert!(used.contains("\"noc-alice\""), "{used}");
    lab.stop().await;
}

/// Waits (at most 10 s) until the trunk's calls are all confirmed: the caller's ACK
/// has been relayed to the callee, so a BYE the edge sends next reaches the callee
/// after it (a call counts as active from its admission, before its ACK).
async fn wait_confirmed(lab: &Lab) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, calls) = http(lab, "GET", "/trunks/acme-test/calls", Some(ALICE), None).await;
        let states: Vec<&str> = calls
            .as_array()
            .map(|calls| calls.iter().filter_map(|c| c["state"].as_str()).collect())
            .unwrap_or_default();
        if !states.is_empty() && states.iter().all(|s| *s == "confirmed") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "calls not confirmed: {calls}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_block_ends_calls_and_unblock_restores_service() {
    let n = 36;
    let lab = Lab::start(
        n,
        LabOptions {
            edge_extra: admin_section(n),
            ..LabOptions::default()
        },
    )
    .await;
    let active = format!("sip_edge_active_calls{{trunk=\"{TRUNK}\"}}");
    let uas = lab.uas("uas_basic", lab.carrier(), 2, &[]).await;

    // A call in progress, ended by a trunk block.
    let held = lab
        .uac("uac_wait_bye", lab.pbx(), "0612345678", 1)
        .spawn("uac held, ended by a block")
        .unwrap();
    lab.wait_metric(&active, 1.0).await;
    wait_confirmed(&lab).await;
    let (status, calls) = http(&lab, "GET", "/trunks/acme-test/calls", Some(ALICE), None).await;
    assert_eq!(status, 200);
    assert_eq!(calls.as_array().unwrap().len(), 1, "{calls}");
    assert_eq!(calls[0]["callee"], "+33612345678");
    assert_eq!(calls[0]["direction"], "outbound");
    assert_eq!(calls[0]["class"], "other");
    assert_eq!(calls[0]["site"], "hq");
    let (status, body) = http(
        &lab,
        "POST",
        "/trunks/acme-test/block",
        Some(ALICE),
        // A reason with quotes and a line break: it must not break the SIP Warning.
        Some("{\"reason\":\"hacked \\\"PBX\\\"\\r\\nX-Injected: yes\",\"end_calls\":true}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], true);
    assert_eq!(body["calls_ended"], 1);
    expect_success(held).await; // it got the edge's BYE
    lab.wait_no_active_call().await;

    // Blocked: a new call is refused with 403.
    let refused = lab
        .uac("uac_expect_403", lab.pbx(), "0612345678", 1)
        .spawn("uac while blocked")
        .unwrap();
    expect_success(refused).await;
    let (_, status) = http(&lab, "GET", "/status", Some(ALICE), None).await;
    assert_eq!(status["trunks"][0]["blocked"], true);
    assert_eq!(status["blocks"][0]["by"], "noc-alice");
    assert_eq!(
        status["blocks"][0]["reason"],
        "hacked \"PBX\"\r\nX-Injected: yes"
    );
    lab.wait_metric(
        "sip_edge_fraud_blocked{trunk=\"acme-test\",class=\"all\",automatic=\"false\"}",
        1.0,
    )
    .await;

    let (status, body) = http(&lab, "POST", "/trunks/acme-test/unblock", Some(ALICE), None).await;
    assert_eq!((status, &body["changed"]), (200, &Value::Bool(true)));

    // Service is back; the operator ends this call by its Call-ID.
    let held = lab
        .uac("uac_wait_bye", lab.pbx(), "0612345678", 1)
        .spawn("uac held, ended by Call-ID")
        .unwrap();
    lab.wait_metric(&active, 1.0).await;
    wait_confirmed(&lab).await;
    // Blocking international calls ends no national call.
    let (status, body) = http(
        &lab,
        "POST",
        "/trunks/acme-test/block",
        Some(ALICE),
        Some("{\"reason\":\"premium abuse\",\"class\":\"international\",\"end_calls\":true}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["changed"], &body["calls_ended"]),
        (&Value::Bool(true), &Value::from(0))
    );
    assert_eq!(lab.metric(&active).await, 1.0);
    let (_, status) = http(&lab, "GET", "/status", Some(ALICE), None).await;
    assert_eq!(status["trunks"][0]["blocked"], false);
    assert_eq!(status["trunks"][0]["blocked_classes"][0], "international");
    let (status, body) = http(
        &lab,
        "POST",
        "/trunks/acme-test/unblock",
        Some(ALICE),
        Some("{\"class\":\"international\"}"),
    )
    .await;
    assert_eq!((status, &body["changed"]), (200, &Value::Bool(true)));
    let (_, calls) = http(&lab, "GET", "/trunks/acme-test/calls", Some(ALICE), None).await;
    let call_id = calls[0]["call_id"].as_str().unwrap().to_string();
    let path = format!("/calls/{}/end", call_id.replace('@', "%40"));
    let (status, body) = http(
        &lab,
        "POST",
        &path,
        Some(ALICE),
        Some("{\"reason\":\"customer request\"}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["calls_ended"], 1);
    expect_success(held).await;
    expect_success(uas).await;
    lab.wait_no_active_call().await;
    assert_eq!(http(&lab, "POST", &path, Some(ALICE), None).await.0, 404);

    let records = lab.records(3).await;
    let dispositions: Vec<_> = records
        .iter()
        .map(|r| (r.disposition, r.final_status))
        .collect();
    assert_eq!(
        dispositions,
        [
            (Disposition::Answered, Some(200)),
            (Disposition::RejectedPolicy, Some(403)),
            (Disposition::Answered, Some(200)),
        ]
    );
    let reasons: Vec<Option<&str>> = records.iter().map(|r| r.end_reason.as_deref()).collect();
    assert_eq!(
        reasons,
        [
            Some("operator noc-alice: trunk blocked: hacked \"PBX\"\r\nX-Injected: yes"),
            None,
            Some("operator noc-alice: customer request"),
        ],
        "records closed with who ended the call and why"
    );
    lab.stop().await;
}
