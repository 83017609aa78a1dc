//! TLS, mutual TLS, digest authentication, registrations and carrier keepalives.
//!
//! Labs 60-69. Beside the addresses of the main table: the edge's TLS listener on
//! 127.0.N.1:5061 (certificate for `edge.test`), the Teams SBC of trunk `teams-test`
//! on 127.0.N.50 (certificate `sbc.teams.test`, mutual TLS, inbound target
//! `sbc.teams.test:5061` resolved through the configuration's `[hosts]`), and a
//! registering PBX on 127.0.N.60:5080.

use crate::admin::{admin_section, http, ALICE};
use crate::lab::{expect_success, scenario, Lab, LabOptions, DID, TRUNK};
use crate::peers::{answer, tls_connect, tls_listen, Identity, Pki, SipStream, UdpPeer};
use cdr::{Direction, Disposition};
use sip_edge::config::EdgeConfig;
use sip_edge::Edge;
use std::net::SocketAddr;
use std::time::Duration;
use testkit::sipp::Sipp;

const SBC: &str = "sbc.teams.test";
const TEAMS_DID: &str = "0140000002";

/// Trunk `teams-test` (mutual TLS) for lab `n`.
fn teams_trunk(n: u8) -> String {
    format!(
        r#"
[[trunk]]
id = "teams-test"
customer = "acme"
plan = "fixed"
channels = [{{ from = 2024-01-01, channels = 4 }}]

[trunk.identify]
source_addresses = ["127.0.{n}.50"]
tls_fqdn = "{SBC}"
mutual_tls = true

[trunk.inbound]
target = "{SBC}:5061"
transport = "tls"

[[trunk.site]]
id = "la-defense"
name = "Contoso La Défense"
address = "1 place de la Défense, 92400 Courbevoie"
insee_code = "92026"
"#
    )
}

/// A lab whose edge also listens on TLS, with the extra trunks and configuration.
struct SecureLab {
    lab: Lab,
    pki: Pki,
    edge_identity: Identity,
}

impl SecureLab {
    async fn start(n: u8, options: LabOptions, trunks: &str, config: &str) -> SecureLab {
        let mut lab = Lab::prepare(n, options).await;
        let pki = Pki::new("fairtrunk test CA");
        let edge_identity = pki.leaf("edge.test");
        let dir = lab.dir.path().to_path_buf();
        edge_identity.write(&dir, "edge");
        std::fs::write(dir.join("roots.pem"), &pki.ca_pem).unwrap();
        let trunks_path = dir.join("provisioning/trunks.toml");
        let mut all = std::fs::read_to_string(&trunks_path).unwrap();
        all.push_str(trunks);
        std::fs::write(&trunks_path, all).unwrap();
        lab.config_text = lab.config_text.replace(
            &format!("\"{DID}\" = \"{TRUNK}/hq\""),
            &format!("\"{DID}\" = \"{TRUNK}/hq\"\n\"{TEAMS_DID}\" = \"teams-test\"\n\"0140000003\" = \"pbx-reg\""),
        );
        lab.config_text.push_str(&format!(
            r#"
[[listen]]
transport = "tls"
address = "127.0.{n}.1:5061"
advertise = "edge.test"

[tls]
certificate = "{dir}/edge.crt"
private_key = "{dir}/edge.key"
trusted_roots = "{dir}/roots.pem"

[hosts]
"{SBC}" = "127.0.{n}.50"
{config}"#,
            dir = dir.display(),
        ));
        let parsed = EdgeConfig::from_toml(&lab.config_text).expect("valid configuration");
        lab.edge = Some(Edge::start(parsed, None).await.expect("the edge starts"));
        SecureLab {
            lab,
            pki,
            edge_identity,
        }
    }

    fn tls_addr(&self) -> SocketAddr {
        self.lab.addr(1, 5061)
    }

    async fn connect(
        &self,
        from_last: u8,
        identity: Option<&Identity>,
    ) -> std::io::Result<SipStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>> {
        tls_connect(
            self.lab.ip(from_last),
            self.tls_addr(),
            "edge.test",
            &self.pki.ca_pem,
            identity,
        )
        .await
    }
}

fn teams_invite(call_id: &str, branch: &str, extra: &str) -> String {
    format!(
        "INVITE sip:+33612345678@edge.test:5061;user=phone;transport=tls SIP/2.0
Via: SIP/2.0/TLS {SBC}:5061;branch=z9hG4bK-{branch};rport
From: <sip:+33140000000@{SBC};user=phone>;tag=teams-{branch}
To: <sip:+33612345678@edge.test;user=phone>
Call-ID: {call_id}
CSeq: 1 INVITE
Contact: <sip:+33140000000@{SBC}:5061;transport=tls>
Max-Forwards: 70
{extra}Content-Type: application/sdp

v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 40000 RTP/AVP 0
"
    )
}

/// In-dialog request from the Teams side: route set from the 200's Record-Route.
fn in_dialog(method: &str, ok: &Message, cseq: u32, branch: &str, extra: &str) -> String {
    let routes: Vec<&str> = ok.headers_named("Record-Route").collect();
    let route_lines: String = routes
        .iter()
        .rev()
        .map(|r| format!("Route: {r}\n"))
        .collect();
    let contact = sip_edge::message::NameAddr::parse(ok.header("Contact").unwrap())
        .unwrap()
        .uri
        .to_string();
    format!(
        "{method} {contact} SIP/2.0
Via: SIP/2.0/TLS {SBC}:5061;branch=z9hG4bK-{branch};rport
{route_lines}From: {from}
To: {to}
Call-ID: {call_id}
CSeq: {cseq} {method}
Max-Forwards: 70
{extra}
",
        from = ok.header("From").unwrap(),
        to = ok.header("To").unwrap(),
        call_id = ok.call_id(),
    )
}

use sip_edge::message::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_call_over_mutual_tls_keeps_teams_headers_and_refer() {
    let s = SecureLab::start(60, LabOptions::default(), &teams_trunk(60), "").await;
    let lab = &s.lab;
    let uas = lab.uas("uas_teams", lab.carrier(), 1, &[]).await;
    let sbc = s.pki.leaf(SBC);
    let mut tls = s.connect(50, Some(&sbc)).await.expect("TLS handshake");
    tls.send(&teams_invite(
        "teams-1@test",
        "t1",
        "X-MS-SBC: fairtrunk-test/1.0\nX-MS-Teams-Tenant-ID: 0b2e6a44-2c29-4c6f-8b2d-0a8f1d1d9e11\nHistory-Info: <sip:+33140000099@sbc.teams.test;user=phone>;index=1\nHistory-Info: <sip:+33612345678@edge.test;user=phone;cause=302>;index=1.1\n",
    ))
    .await;
    let ok = tls.response(200).await;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let record_route: Vec<&str> = ok.headers_named("Record-Route").collect();
    assert!(
        record_route
            .iter()
            .any(|r| r.contains("sip:edge.test:5061;transport=tls;lr")),
        "{record_route:?}"
    );
    tls.send(&in_dialog("ACK", &ok, 1, "t1-ack", "")).await;
    tls.send(&in_dialog(
        "REFER",
        &ok,
        2,
        "t1-refer",
        "Refer-To: <sip:+33699999999@sbc.teams.test;user=phone>\nReferred-By: <sip:+33140000000@sbc.teams.test;user=phone>\n",
    ))
    .await;
    let accepted = tls.response(200).await;
    assert_eq!(accepted.status(), Some(202));
    tls.send(&in_dialog("BYE", &ok, 3, "t1-bye", "")).await;
    let bye_ok = tls.response(200).await;
    assert_eq!(bye_ok.status(), Some(200));
    assert_eq!(bye_ok.method().as_str(), "BYE");
    expect_success(uas).await;
    let records = lab.records(1).await;
    let r = &records[0];
    assert_eq!(r.trunk_id, "teams-test");
    assert_eq!(r.site_id, None);
    assert_eq!(r.direction, Direction::Outbound);
    assert_eq!(r.disposition, Disposition::Answered);
    assert_eq!(r.caller, "+33140000000");
    assert_eq!(r.callee, "+33612345678");
    assert_eq!(r.original_called.as_deref(), Some("+33140000099"));
    lab.wait_metric("sip_edge_active_calls{trunk=\"teams-test\"}", 0.0)
        .await;
    s.lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_missing_untrusted_and_mismatching_certificates() {
    let s = SecureLab::start(61, LabOptions::default(), &teams_trunk(61), "").await;
    let lab = &s.lab;

    // No client certificate: the handshake passes (certificates are optional on the
    // listener), the trunk's mutual TLS requirement answers 403.
    let mut tls = s.connect(50, None).await.expect("TLS handshake");
    tls.send(&teams_invite("no-cert@test", "n1", "")).await;
    let refused = tls.response(200).await;
    assert_eq!(refused.status(), Some(403));
    assert!(refused
        .header("Warning")
        .unwrap()
        .contains("no client certificate"));

    // A certificate from a CA the edge does not trust: refused at the handshake.
    let rogue = Pki::new("rogue CA").leaf(SBC);
    match s.connect(50, Some(&rogue)).await {
        Err(_) => {}
        Ok(mut tls) => {
            // TLS 1.3: the client finishes first, the server's refusal arrives as an alert.
            tls.send(&teams_invite("rogue@test", "r1", "")).await;
            assert!(
                tls.recv().await.is_none(),
                "an untrusted certificate got an answer"
            );
        }
    }

    // A trusted certificate for another name: 403.
    let other = s.pki.leaf("other.test");
    let mut tls = s.connect(50, Some(&other)).await.expect("TLS handshake");
    tls.send(&teams_invite("other-name@test", "o1", "")).await;
    let refused = tls.response(200).await;
    assert_eq!(refused.status(), Some(403));
    assert!(refused
        .header("Warning")
        .unwrap()
        .contains("expected sbc.teams.test"));

    // The trunk's address without TLS at all: 403.
    let udp = UdpPeer::bind(lab.addr(50, 5060)).await;
    udp.send(
        lab.edge_addr(),
        &teams_invite("plain-udp@test", "u1", "").replace(
            "SIP/2.0/TLS sbc.teams.test:5061",
            "SIP/2.0/UDP 127.0.61.50:5060",
        ),
    )
    .await;
    assert_eq!(
        udp.response("plain-udp@test", 200).await.status(),
        Some(403)
    );

    // A trunk without mutual TLS may use TLS without a client certificate: the PBX of
    // acme-test (site hq) calls over TLS, identified by its address; the far end is busy.
    let uas = lab.uas("uas_reject_486", lab.carrier(), 1, &[]).await;
    let mut pbx = s.connect(21, None).await.expect("TLS handshake");
    pbx.send(&teams_invite("pbx-over-tls@test", "p1", "").replace(
        "sip:+33140000000@sbc.teams.test;user=phone",
        "sip:0140000000@127.0.61.21",
    ))
    .await;
    assert_eq!(pbx.response(200).await.status(), Some(486));
    expect_success(uas).await;

    for (reason, count) in [
        ("no_certificate", 1.0),
        ("certificate_mismatch", 1.0),
        ("not_tls", 1.0),
        ("handshake", 1.0),
    ] {
        lab.wait_metric(
            &format!("sip_edge_tls_refusals_total{{reason=\"{reason}\"}}"),
            count,
        )
        .await;
    }
    // Refusals of identity are not call attempts; the busy call is.
    let records = lab.records(1).await;
    assert_eq!(records[0].trunk_id, TRUNK);
    assert_eq!(records[0].site_id.as_deref(), Some("hq"));
    assert_eq!(records[0].disposition, Disposition::Busy);
    s.lab.stop().await;
}

/// The Teams SBC's side of inbound calls: answers each INVITE, checks what the edge
/// put in it, answers the BYE; returns the number of connections it accepted.
async fn run_sbc(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    calls: usize,
) -> (usize, Vec<String>) {
    let mut connections = 0;
    let mut seen = Vec::new();
    let mut stream = None::<SipStream<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>>;
    let mut answered = 0;
    let mut byes = 0;
    while byes < calls {
        if stream.is_none() {
            let (tcp, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
                .await
                .expect("the edge connects")
                .unwrap();
            let tls = acceptor
                .accept(tcp)
                .await
                .expect("the edge's certificate is trusted");
            connections += 1;
            stream = Some(SipStream::new(tls));
        }
        let s = stream.as_mut().unwrap();
        let Some(m) = s.recv().await else {
            stream = None;
            continue;
        };
        match m.method().as_str() {
            "INVITE" if m.is_request() => {
                seen.push(format!(
                    "{} | {} | {}",
                    m.request_uri().unwrap(),
                    m.header("Via").unwrap(),
                    m.headers_named("Record-Route")
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                answered += 1;
                s.send(&answer(
                    &m,
                    200,
                    "OK",
                    &format!("Contact: <sip:+33140000002@{SBC}:5061;transport=tls>\n"),
                ))
                .await;
            }
            "BYE" if m.is_request() => {
                byes += 1;
                s.send(&answer(&m, 200, "OK", "")).await;
            }
            _ => {}
        }
    }
    assert_eq!(answered, calls);
    (connections, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_calls_reach_a_teams_sbc_over_one_verified_tls_connection() {
    let s = SecureLab::start(62, LabOptions::default(), &teams_trunk(62), "").await;
    let lab = &s.lab;
    let sbc_identity = s.pki.leaf(SBC);
    let (listener, acceptor) = tls_listen(lab.addr(50, 5061), &sbc_identity, &s.pki.ca_pem).await;
    let sbc = tokio::spawn(run_sbc(listener, acceptor, 2));
    let uac = lab
        .uac("uac_basic", lab.carrier(), TEAMS_DID, 2)
        .args(["-d", "100", "-l", "1"])
        .spawn("carrier to teams")
        .unwrap();
    expect_success(uac).await;
    let (connections, seen) = sbc.await.unwrap();
    assert_eq!(
        connections, 1,
        "the second call reuses the connection: {seen:?}"
    );
    for line in &seen {
        assert!(
            line.starts_with("sip:0140000002@sbc.teams.test:5061;transport=tls |")
                || line.starts_with("sip:+33140000002@sbc.teams.test:5061;transport=tls |"),
            "{line}"
        );
        assert!(
            line.contains("SIP/2.0/TLS edge.test:5061;branch="),
            "{line}"
        );
        assert!(
            line.contains("<sip:edge.test:5061;transport=tls;lr>"),
            "{line}"
        );
    }
    let records = lab.records(2).await;
    for r in &records {
        assert_eq!(r.trunk_id, "teams-test");
        assert_eq!(r.direction, Direction::Inbound);
        assert_eq!(r.disposition, Disposition::Answered);
    }
    s.lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_sbc_certificate_fails_the_inbound_call() {
    let s = SecureLab::start(63, LabOptions::default(), &teams_trunk(63), "").await;
    let lab = &s.lab;
    // The SBC presents a certificate from a CA the edge does not trust.
    let rogue = Pki::new("rogue CA");
    let (listener, acceptor) =
        tls_listen(lab.addr(50, 5061), &rogue.leaf(SBC), &s.pki.ca_pem).await;
    let sbc = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.is_ok()
    });
    let uac = lab
        .uac("uac_expect_503", lab.carrier(), TEAMS_DID, 1)
        .spawn("carrier to an untrusted sbc")
        .unwrap();
    expect_success(uac).await;
    assert!(!sbc.await.unwrap(), "the handshake must fail");
    let records = lab.records(1).await;
    assert_eq!(records[0].trunk_id, "teams-test");
    assert_eq!(records[0].disposition, Disposition::Failed);
    assert_eq!(records[0].final_status, Some(503));
    lab.wait_metric("sip_edge_tls_refusals_total{reason=\"handshake\"}", 1.0)
        .await;
    s.lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_reload_serves_the_new_certificate_and_keeps_calls() {
    let s = SecureLab::start(64, LabOptions::default(), &teams_trunk(64), "").await;
    let lab = &s.lab;
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let sbc = s.pki.leaf(SBC);
    let mut before = s.connect(50, Some(&sbc)).await.unwrap();
    let served = |tls: &SipStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>| {
        tls.inner().get_ref().1.peer_certificates().unwrap()[0].clone()
    };
    assert_eq!(served(&before), s.edge_identity.der());
    before.send(&teams_invite("reload-1@test", "rl1", "")).await;
    let ok = before.response(200).await;
    assert_eq!(ok.status(), Some(200));
    before.send(&in_dialog("ACK", &ok, 1, "rl1-ack", "")).await;

    // A renewed certificate (new key) is installed and the edge told to reload.
    let renewed = s.pki.leaf("edge.test");
    renewed.write(lab.dir.path(), "edge");
    lab.edge.as_ref().unwrap().reload().await.expect("reload");
    let after = s.connect(50, Some(&sbc)).await.unwrap();
    assert_eq!(served(&after), renewed.der());
    // A broken certificate file is refused and the renewed one stays in force.
    std::fs::write(lab.dir.path().join("edge.crt"), "not a certificate").unwrap();
    let error = lab.edge.as_ref().unwrap().reload().await.unwrap_err();
    assert!(error.contains("edge.crt"), "{error}");
    let again = s.connect(50, Some(&sbc)).await.unwrap();
    assert_eq!(served(&again), renewed.der());

    // The call set up before the reload ends normally over its old connection.
    before.send(&in_dialog("BYE", &ok, 2, "rl1-bye", "")).await;
    assert_eq!(before.response(200).await.status(), Some(200));
    expect_success(uas).await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Answered);
    s.lab.stop().await;
}

/// A lab whose `acme-test` trunk also has digest credentials.
async fn digest_lab(n: u8, options: LabOptions, auth: &str) -> SecureLab {
    let s = SecureLab::start(
        n,
        options,
        "",
        &format!("[auth]\nrealm = \"edge.test\"\n{auth}"),
    )
    .await;
    let path = s.lab.dir.path().join("provisioning/trunks.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("source_addresses = [\"127.0.{n}.16/28\"]"),
        &format!("source_addresses = [\"127.0.{n}.16/28\"]\ndigest_username = \"acme-pbx\"\ndigest_password = \"pa55-w0rd\""),
    );
    std::fs::write(&path, text).unwrap();
    s.lab.edge.as_ref().unwrap().reload().await.expect("reload");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_answers_the_digest_challenge_and_a_wrong_password_is_refused() {
    // Debian's SIPp computes MD5 only and answers the first challenge it reads.
    let s = digest_lab(65, LabOptions::default(), "algorithms = [\"MD5\"]\n").await;
    let lab = &s.lab;
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let good = lab
        .uac("uac_auth", lab.pbx(), "0612345678", 1)
        .args(["-au", "acme-pbx", "-ap", "pa55-w0rd", "-d", "100"])
        .spawn("uac digest")
        .unwrap();
    expect_success(good).await;
    expect_success(uas).await;
    let bad = lab
        .uac("uac_auth_refused", lab.pbx(), "0612345678", 1)
        .args(["-au", "acme-pbx", "-ap", "guessed"])
        .spawn("uac wrong password")
        .unwrap();
    expect_success(bad).await;
    for (result, count) in [("challenged", 2.0), ("accepted", 1.0), ("rejected", 1.0)] {
        lab.wait_metric(
            &format!("sip_edge_auth_total{{result=\"{result}\"}}"),
            count,
        )
        .await;
    }
    // Only the authenticated call is a call attempt.
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Answered);
    assert_eq!(records[0].trunk_id, TRUNK);
    s.lab.stop().await;
}

fn pbx_invite(n: u8, call_id: &str, branch: &str, auth: &str) -> String {
    format!(
        "INVITE sip:0612345678@127.0.{n}.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.{n}.21:5060;branch=z9hG4bK-{branch};rport
From: <sip:0140000000@127.0.{n}.21>;tag={branch}
To: <sip:0612345678@127.0.{n}.1>
Call-ID: {call_id}
CSeq: 1 INVITE
Contact: <sip:0140000000@127.0.{n}.21:5060>
Max-Forwards: 70
{auth}
"
    )
}

fn ack_for(n: u8, failure: &Message, branch: &str) -> String {
    format!(
        "ACK sip:0612345678@127.0.{n}.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.{n}.21:5060;branch=z9hG4bK-{branch};rport
From: {}
To: {}
Call-ID: {}
CSeq: 1 ACK
Max-Forwards: 70
",
        failure.header("From").unwrap(),
        failure.header("To").unwrap(),
        failure.call_id()
    )
}

fn challenge_nonce(challenge: &str) -> String {
    let start = challenge.find("nonce=\"").unwrap() + 7;
    let end = start + challenge[start..].find('"').unwrap();
    challenge[start..end].to_string()
}

fn sha256_authorization(nonce: &str, nc: &str, password: &str) -> String {
    let uri = "sip:0612345678@127.0.66.1:5060";
    let response = sip_edge::auth::client_response(
        sip_edge::auth::Algorithm::Sha256,
        "acme-pbx",
        "edge.test",
        password,
        "INVITE",
        uri,
        nonce,
        Some((nc, "0a4f113b")),
    );
    format!("Proxy-Authorization: Digest username=\"acme-pbx\", realm=\"edge.test\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=SHA-256, qop=auth, nc={nc}, cnonce=\"0a4f113b\"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha256_digest_is_accepted_and_a_replayed_nonce_count_is_challenged_again() {
    let n = 66;
    let s = digest_lab(n, LabOptions::default(), "").await;
    let lab = &s.lab;
    let uas = lab.uas("uas_reject_486", lab.carrier(), 2, &[]).await;
    let pbx = UdpPeer::bind(lab.pbx()).await;

    pbx.send(lab.edge_addr(), &pbx_invite(n, "sha-1@test", "s1", ""))
        .await;
    let challenge = pbx.response("sha-1@test", 200).await;
    assert_eq!(challenge.status(), Some(407));
    let offers: Vec<&str> = challenge.headers_named("Proxy-Authenticate").collect();
    assert_eq!(offers.len(), 2, "{offers:?}");
    assert!(offers[0].contains("algorithm=SHA-256") && offers[1].contains("algorithm=MD5"));
    pbx.send(lab.edge_addr(), &ack_for(n, &challenge, "s1"))
        .await;
    let nonce = challenge_nonce(offers[0]);

    // nc=1 with SHA-256: admitted, sent on, busy at the far end.
    let authorization = sha256_authorization(&nonce, "00000001", "pa55-w0rd");
    pbx.send(
        lab.edge_addr(),
        &pbx_invite(n, "sha-2@test", "s2", &authorization),
    )
    .await;
    let busy = pbx.response("sha-2@test", 200).await;
    assert_eq!(busy.status(), Some(486));
    pbx.send(lab.edge_addr(), &ack_for(n, &busy, "s2")).await;

    // The same credentials again (another call): a replay, challenged again.
    pbx.send(
        lab.edge_addr(),
        &pbx_invite(n, "sha-3@test", "s3", &authorization),
    )
    .await;
    let replay = pbx.response("sha-3@test", 200).await;
    assert_eq!(replay.status(), Some(407));
    pbx.send(lab.edge_addr(), &ack_for(n, &replay, "s3")).await;

    // The next nonce count is fine.
    let next = sha256_authorization(&nonce, "00000002", "pa55-w0rd");
    pbx.send(lab.edge_addr(), &pbx_invite(n, "sha-4@test", "s4", &next))
        .await;
    let busy = pbx.response("sha-4@test", 200).await;
    assert_eq!(busy.status(), Some(486));
    pbx.send(lab.edge_addr(), &ack_for(n, &busy, "s4")).await;

    expect_success(uas).await;
    lab.wait_metric("sip_edge_auth_total{result=\"replayed\"}", 1.0)
        .await;
    lab.wait_metric("sip_edge_auth_total{result=\"accepted\"}", 2.0)
        .await;
    let records = lab.records(2).await;
    assert!(records.iter().all(|r| r.disposition == Disposition::Busy));
    s.lab.stop().await;
}

fn registering_trunk(n: u8) -> String {
    format!(
        r#"
[[trunk]]
id = "pbx-reg"
customer = "acme"
plan = "fixed"
channels = [{{ from = 2024-01-01, channels = 2 }}]

[trunk.identify]
digest_username = "pbx-reg"
digest_password = "r3gister-me"

[trunk.inbound]
target = "127.0.{n}.99:5060"
transport = "udp"

[[trunk.site]]
id = "office"
name = "Bureau"
address = "3 rue de la Paix, 75002 Paris"
insee_code = "75056"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_pbx_receives_the_inbound_calls_of_its_trunk() {
    let n = 67;
    let s = SecureLab::start(
        n,
        LabOptions::default(),
        &registering_trunk(n),
        "[auth]\nrealm = \"edge.test\"\nalgorithms = [\"MD5\"]\nmin_expires_secs = 60\n",
    )
    .await;
    let lab = &s.lab;
    // The PBX registers from 127.0.N.60:5080 (SIPp cannot take a new dialog in a
    // client scenario, so a second SIPp then answers calls on the same address). The
    // provisioned target (127.0.N.99) has nobody: only the binding can answer.
    let pbx_at = lab.addr(60, 5080);
    let register = Sipp::new(scenario("pbx_register"))
        .local(pbx_at)
        .remote(lab.edge_addr())
        .key("user", "pbx-reg")
        .calls(1)
        .args(["-au", "pbx-reg", "-ap", "r3gister-me"])
        .timeout(Duration::from_secs(60))
        .spawn("registering pbx")
        .unwrap();
    expect_success(register).await;
    lab.wait_metric("sip_edge_registrations", 1.0).await;
    let pbx = lab.uas("uas_basic", pbx_at, 1, &[]).await;
    let uac = lab
        .uac("uac_basic", lab.carrier(), "0140000003", 1)
        .args(["-d", "100"])
        .spawn("carrier to the registered pbx")
        .unwrap();
    expect_success(uac).await;
    expect_success(pbx).await;

    // The PBX calls out from its registered address: challenged, then admitted as
    // its trunk (no source address is provisioned for it).
    let carrier = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let outbound = lab
        .uac("uac_auth", pbx_at, "0612345678", 1)
        .args(["-au", "pbx-reg", "-ap", "r3gister-me", "-d", "100"])
        .spawn("registered pbx calling out")
        .unwrap();
    expect_success(outbound).await;
    expect_success(carrier).await;

    let records = lab.records(2).await;
    assert_eq!(records[0].trunk_id, "pbx-reg");
    assert_eq!(records[0].direction, Direction::Inbound);
    assert_eq!(records[0].disposition, Disposition::Answered);
    assert_eq!(records[1].trunk_id, "pbx-reg");
    assert_eq!(records[1].direction, Direction::Outbound);
    assert_eq!(records[1].disposition, Disposition::Answered);
    s.lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_checks_expiry_bounds_and_unregisters() {
    let n = 68;
    let s = SecureLab::start(
        n,
        LabOptions::default(),
        &registering_trunk(n),
        "[auth]\nrealm = \"edge.test\"\nmin_expires_secs = 60\nmax_expires_secs = 600\n",
    )
    .await;
    let lab = &s.lab;
    let pbx = UdpPeer::bind(lab.addr(60, 5080)).await;
    let register = |call_id: &str, cseq: u32, expires: &str, auth: &str| {
        format!(
            "REGISTER sip:127.0.{n}.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.{n}.60:5080;branch=z9hG4bK-reg{cseq};rport
From: <sip:pbx-reg@127.0.{n}.1>;tag=r1
To: <sip:pbx-reg@127.0.{n}.1>
Call-ID: {call_id}
CSeq: {cseq} REGISTER
Contact: <sip:pbx-reg@127.0.{n}.60:5080>
Expires: {expires}
Max-Forwards: 70
{auth}
"
        )
    };
    let authorized = |nonce: &str, nc: &str| {
        let uri = format!("sip:127.0.{n}.1:5060");
        let response = sip_edge::auth::client_response(
            sip_edge::auth::Algorithm::Md5,
            "pbx-reg",
            "edge.test",
            "r3gister-me",
            "REGISTER",
            &uri,
            nonce,
            Some((nc, "77")),
        );
        format!("Authorization: Digest username=\"pbx-reg\", realm=\"edge.test\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"77\"")
    };
    pbx.send(lab.edge_addr(), &register("reg@test", 1, "3600", ""))
        .await;
    let challenge = pbx.response("reg@test", 200).await;
    assert_eq!(challenge.status(), Some(401));
    let nonce = challenge_nonce(challenge.header("WWW-Authenticate").unwrap());

    pbx.send(
        lab.edge_addr(),
        &register("reg@test", 2, "30", &authorized(&nonce, "00000001")),
    )
    .await;
    let brief = pbx.response("reg@test", 200).await;
    assert_eq!(brief.status(), Some(423));
    assert_eq!(brief.header("Min-Expires"), Some("60"));

    pbx.send(
        lab.edge_addr(),
        &register("reg@test", 3, "3600", &authorized(&nonce, "00000002")),
    )
    .await;
    let ok = pbx.response("reg@test", 200).await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.header("Contact"),
        Some(format!("<sip:pbx-reg@127.0.{n}.60:5080>;expires=600").as_str()),
        "the longest registration granted is max_expires_secs"
    );
    lab.wait_metric("sip_edge_registrations", 1.0).await;

    pbx.send(
        lab.edge_addr(),
        &register("reg@test", 4, "0", &authorized(&nonce, "00000003")),
    )
    .await;
    assert_eq!(pbx.response("reg@test", 200).await.status(), Some(200));
    lab.wait_metric("sip_edge_registrations", 0.0).await;

    // Wrong password: 403, nothing bound.
    let wrong = authorized(&nonce, "00000004").replace("response=\"", "response=\"0");
    pbx.send(lab.edge_addr(), &register("reg@test", 5, "600", &wrong))
        .await;
    assert_eq!(pbx.response("reg@test", 200).await.status(), Some(403));
    assert_eq!(lab.metric("sip_edge_registrations").await, 0.0);
    s.lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_missing_options_is_skipped_until_it_answers_again() {
    let n = 69;
    let s = SecureLab::start(
        n,
        LabOptions {
            carriers: vec![(3, "udp"), (4, "udp")],
            ..LabOptions::default()
        },
        "",
        &format!(
            "[keepalive]\ninterval_ms = 100\ndown_after = 2\n\n{}",
            admin_section(n)
        ),
    )
    .await;
    let lab = &s.lab;
    // Carrier A (.3) receives the probes and never answers. Carrier B (.4) answers
    // OPTIONS and is busy for calls (a raw peer: SIPp's UAS takes an OPTIONS outside a
    // call for the start of its scenario).
    let silent = UdpPeer::bind(lab.carrier()).await;
    let b = UdpPeer::bind(lab.addr(4, 5060)).await;
    let b_task = tokio::spawn(async move {
        let mut invites = 0;
        while let Some((m, from)) = b.recv_within(Duration::from_secs(5)).await {
            match m.method().as_str() {
                "OPTIONS" if m.is_request() => b.send(from, &answer(&m, 200, "OK", "")).await,
                "INVITE" if m.is_request() => {
                    invites += 1;
                    b.send(from, &answer(&m, 486, "Busy Here", "")).await;
                }
                "ACK" => break,
                _ => {}
            }
        }
        invites
    });
    // B's series first: an absent series reads 0, A's "down" must be a real one.
    lab.wait_metric("sip_edge_peer_up{peer=\"carrier-1\"}", 1.0)
        .await;
    lab.wait_metric("sip_edge_peer_up{peer=\"carrier-0\"}", 0.0)
        .await;
    let (status, body) = http(lab, "GET", "/status", Some(ALICE), None).await;
    assert_eq!(status, 200, "{body}");
    let peers: Vec<(&str, bool, bool)> = body["peers"]
        .as_array()
        .expect("peers in the status")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["up"].as_bool().unwrap(),
                p["probed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        peers,
        [("carrier-0", false, true), ("carrier-1", true, true)],
        "the admin status shows carrier A down"
    );

    let uac = lab
        .uac("uac_expect_486", lab.pbx(), "0612345678", 1)
        .spawn("uac while carrier A is down")
        .unwrap();
    expect_success(uac).await;
    assert_eq!(b_task.await.unwrap(), 1, "carrier B took the call");
    // Everything carrier A received so far (probes keep coming: bounded read).
    let mut options = 0;
    for _ in 0..2000 {
        let Some((m, _)) = silent.recv_within(Duration::from_millis(20)).await else {
            break;
        };
        assert_ne!(
            m.method().as_str(),
            "INVITE",
            "a carrier marked down got the call"
        );
        options += usize::from(m.method().as_str() == "OPTIONS");
    }
    assert!(options >= 2, "{options} probes reached carrier A");

    // Carrier A answers the next probe: back up.
    loop {
        let (m, from) = silent
            .recv_within(Duration::from_secs(5))
            .await
            .expect("probes go on while a carrier is down");
        if m.method().as_str() == "OPTIONS" {
            silent.send(from, &answer(&m, 200, "OK", "")).await;
            break;
        }
    }
    lab.wait_metric("sip_edge_peer_up{peer=\"carrier-0\"}", 1.0)
        .await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Busy);
    s.lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_registration_sends_calls_back_to_the_provisioned_target() {
    let n = 70;
    let s = SecureLab::start(
        n,
        LabOptions::default(),
        &registering_trunk(n),
        "[auth]\nrealm = \"edge.test\"\nmin_expires_secs = 1\n",
    )
    .await;
    let lab = &s.lab;
    let pbx = UdpPeer::bind(lab.addr(60, 5080)).await;
    let register = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:127.0.{n}.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.{n}.60:5080;branch=z9hG4bK-short{cseq};rport
From: <sip:pbx-reg@127.0.{n}.1>;tag=r1
To: <sip:pbx-reg@127.0.{n}.1>
Call-ID: short@test
CSeq: {cseq} REGISTER
Contact: <sip:pbx-reg@127.0.{n}.60:5080>;expires=1
Max-Forwards: 70
{auth}
"
        )
    };
    pbx.send(lab.edge_addr(), &register(1, "")).await;
    let challenge = pbx.response("short@test", 200).await;
    let nonce = challenge_nonce(challenge.header("WWW-Authenticate").unwrap());
    let uri = format!("sip:127.0.{n}.1:5060");
    let response = sip_edge::auth::client_response(
        sip_edge::auth::Algorithm::Sha256,
        "pbx-reg",
        "edge.test",
        "r3gister-me",
        "REGISTER",
        &uri,
        &nonce,
        Some(("00000001", "5")),
    );
    let auth = format!("Authorization: Digest username=\"pbx-reg\", realm=\"edge.test\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"5\"");
    pbx.send(lab.edge_addr(), &register(2, &auth)).await;
    let ok = pbx.response("short@test", 200).await;
    assert_eq!(ok.status(), Some(200));
    assert!(ok.header("Contact").unwrap().ends_with(";expires=1"));
    lab.wait_metric("sip_edge_registrations", 1.0).await;

    // The binding lapses after its second; the provisioned target answers instead.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let target = lab.uas("uas_basic", lab.addr(99, 5060), 1, &[]).await;
    let uac = lab
        .uac("uac_basic", lab.carrier(), "0140000003", 1)
        .args(["-d", "100"])
        .spawn("carrier after the registration lapsed")
        .unwrap();
    expect_success(uac).await;
    expect_success(target).await;
    assert!(
        pbx.recv_within(Duration::from_millis(100)).await.is_none(),
        "the lapsed contact got a request"
    );
    assert_eq!(lab.metric("sip_edge_registrations").await, 0.0);
    let records = lab.records(1).await;
    assert_eq!(records[0].trunk_id, "pbx-reg");
    assert_eq!(records[0].disposition, Disposition::Answered);
    s.lab.stop().await;
}
