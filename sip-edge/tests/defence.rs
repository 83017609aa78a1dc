//! Scanner and flood defence against real scanners (Debian's `sipvicious`: svmap,
//! svwar, svcrack) and raw floods, while a provisioned trunk keeps calling.

use crate::lab::{expect_success, Lab, LabOptions};
use cdr::Disposition;
use sip_edge::message::Message;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

const CALLEE: &str = "0612345678";

/// Runs a sipvicious tool (bounded in time) and returns what it printed.
async fn sipvicious(lab: &Lab, tool: &str, args: &[String]) -> String {
    let mut command = tokio::process::Command::new(tool);
    command
        .args(args)
        .env("HOME", lab.dir.path())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .unwrap_or_else(|_| panic!("{tool} did not finish within 90 s"))
        .unwrap_or_else(|e| panic!("{tool} cannot run (apt-get install sipvicious): {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The scanner tools find nothing and end banned; the trunk's calls placed during the
/// scans are all admitted and answered.
///
/// svmap binds the scanner's own address (127.0.N.66); svwar and svcrack of this
/// sipvicious version ignore `-b` and scan from 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipvicious_scans_end_banned_and_find_nothing_while_calls_go_on() {
    let lab = Lab::start(
        30,
        LabOptions {
            channels: 30,
            ..LabOptions::default()
        },
    )
    .await;
    let calls = 100;
    let uas = lab.uas("uas_basic", lab.carrier(), calls, &[]).await;
    let uac = lab
        .uac("uac_basic", lab.pbx(), CALLEE, calls)
        .args(["-r", "10", "-d", "200"])
        .spawn("uac during scans")
        .unwrap();
    let scanner = lab.ip(66).to_string();
    let edge = lab.edge_addr().ip().to_string();
    let port = lab.edge_addr().port().to_string();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["-b", &scanner, "-p", &port, "-t", "0.5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push(edge.clone());
        a
    };
    let (map_args, war_args, crack_args) = (
        args(&[]),
        args(&["-e", "100-300", "-m", "INVITE"]),
        args(&["-u", "100", "-r", "1000-1200"]),
    );
    let (svmap, svwar, svcrack) = tokio::join!(
        sipvicious(&lab, "svmap", &map_args),
        sipvicious(&lab, "svwar", &war_args),
        sipvicious(&lab, "svcrack", &crack_args),
    );
    for (tool, output) in [("svmap", &svmap), ("svwar", &svwar), ("svcrack", &svcrack)] {
        assert!(
            output.contains("found nothing"),
            "{tool} found something:\n{output}"
        );
    }
    let guard = lab.edge.as_ref().unwrap().guard().clone();
    let bans = guard.bans();
    let banned: Vec<_> = bans.iter().map(|b| b.source.to_string()).collect();
    assert!(banned.contains(&scanner), "{bans:?}");
    assert!(banned.contains(&"127.0.0.1".to_string()), "{bans:?}");
    assert!(bans.iter().all(|b| b.reason == "scanner"), "{bans:?}");
    lab.wait_metric("sip_edge_bans_total{reason=\"scanner\"}", 2.0)
        .await;
    // Both banned sources end in the listeners' kernel filter (within a sweep):
    // their later packets never reach the edge. Whether any arrived between the ban
    // and the filter (dropped unparsed, `sip_edge_banned_packets_total`) depends on
    // when the tools stopped sending; the flood test counts those.
    lab.wait_metric("sip_edge_kernel_filtered_sources", 2.0)
        .await;
    // The scanners never reached the core: no transaction, no refusal counted.
    assert_eq!(
        lab.metric("sip_edge_refusals_total{reason=\"unknown_source\"}")
            .await,
        0.0
    );

    let outcome = expect_success(uac).await;
    expect_success(uas).await;
    assert!(outcome.stdout.contains("Successful call"), "{outcome}");
    lab.wait_no_active_call().await;
    let records = lab.records(calls as usize).await;
    assert!(records
        .iter()
        .all(|r| r.disposition == Disposition::Answered));
    lab.stop().await;
}

/// The next datagram on `socket`, within `wait`.
async fn recv(socket: &UdpSocket, wait: Duration) -> Option<Message> {
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(wait, socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(Message::parse(&buf[..n]).expect("the edge sends SIP"))
}

fn request(
    method: &str,
    user: &str,
    from: SocketAddr,
    edge: SocketAddr,
    n: u32,
    agent: &str,
) -> Vec<u8> {
    format!(
        "{method} sip:{user}@{edge} SIP/2.0\r\n\
Via: SIP/2.0/UDP {from};branch=z9hG4bK-probe-{n};rport\r\n\
From: <sip:probe@{from}>;tag=p{n}\r\n\
To: <sip:{user}@{edge}>\r\n\
Call-ID: probe-{n}@{from}\r\n\
CSeq: 1 {method}\r\n\
Contact: <sip:probe@{from}>\r\n\
Max-Forwards: 70\r\n\
User-Agent: {agent}\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Status line and header names of an answer: what could tell two answers apart.
fn shape(m: &Message) -> (Option<u16>, Vec<String>) {
    (
        m.status(),
        m.headers.iter().map(|h| h.name.to_string()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_sources_get_one_answer_whatever_they_ask() {
    let lab = Lab::start(31, LabOptions::default()).await;
    let from = lab.addr(40, 5060);
    let socket = UdpSocket::bind(from).await.unwrap();
    let edge = lab.edge_addr();
    let probes = [
        ("INVITE", crate::lab::DID), // a number the edge serves
        ("INVITE", "0149999999"),    // one it does not
        ("OPTIONS", "100"),
        ("MESSAGE", "100"),
        ("SUBSCRIBE", "admin"),
        ("INFO", "0149999999"),
    ];
    let mut shapes = Vec::new();
    for (n, (method, user)) in probes.iter().enumerate() {
        socket
            .send_to(
                &request(method, user, from, edge, n as u32, "Yealink"),
                edge,
            )
            .await
            .unwrap();
        let mut answer = recv(&socket, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no answer to {method} {user}"));
        if answer.status() == Some(100) {
            answer = recv(&socket, Duration::from_secs(5)).await.unwrap();
        }
        assert_eq!(answer.status(), Some(403), "{method} {user}: {answer:?}");
        let server = answer.header("Server").unwrap_or_default();
        assert!(
            !server.chars().any(|c| c.is_ascii_digit()),
            "the Server header carries a version: {server:?}"
        );
        assert!(answer.header("Warning").is_none());
        shapes.push(shape(&answer));
    }
    assert!(
        shapes.windows(2).all(|w| w[0] == w[1]),
        "answers differ: {shapes:#?}"
    );
    assert!(!lab.edge.as_ref().unwrap().guard().is_banned(lab.ip(40)));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_banned_before_parsing_and_released_after_the_ban() {
    let lab = Lab::start(
        32,
        LabOptions {
            edge_extra: "[guard]\nrequests_per_sec = 1\nburst = 20\nban_secs = 2\nmax_message_bytes = 4096\nmax_header_bytes = 512\n".into(),
            ..LabOptions::default()
        },
    )
    .await;
    let edge = lab.edge_addr();
    let from = lab.addr(41, 5060);
    let socket = UdpSocket::bind(from).await.unwrap();
    // 200 OPTIONS at once, no scanner User-Agent: the bucket of 20 runs dry.
    for n in 0..200 {
        socket
            .send_to(&request("OPTIONS", "100", from, edge, n, "Yealink"), edge)
            .await
            .unwrap();
    }
    let mut answered = 0;
    while recv(&socket, Duration::from_millis(500)).await.is_some() {
        answered += 1;
    }
    assert!(
        (20..=22).contains(&answered),
        "{answered} answers: only the burst should get one"
    );
    let guard = lab.edge.as_ref().unwrap().guard().clone();
    assert!(guard.is_banned(lab.ip(41)));
    let bans = guard.bans();
    assert_eq!(bans[0].reason, "rate");
    // 180 of the 200 were past the burst; a loaded machine's kernel may drop a few
    // dozen of such a burst before the edge reads them (socket buffer full).
    assert!(bans[0].dropped_packets >= 100, "{bans:?}");
    lab.wait_metric("sip_edge_bans_total{reason=\"rate\"}", 1.0)
        .await;
    lab.wait_metric("sip_edge_banned_sources", 1.0).await;
    // Banned: nothing is answered, not even a well-formed request.
    socket
        .send_to(&request("OPTIONS", "100", from, edge, 999, "Yealink"), edge)
        .await
        .unwrap();
    assert!(recv(&socket, Duration::from_millis(300)).await.is_none());
    // Within a sweep, the kernel drops the banned source's datagrams: they no longer
    // reach the edge at all.
    lab.wait_metric("sip_edge_kernel_filtered_sources", 1.0)
        .await;
    let read_before = lab.metric("sip_edge_banned_packets_total").await;
    for n in 0..50 {
        socket
            .send_to(
                &request("OPTIONS", "100", from, edge, 2000 + n, "Yealink"),
                edge,
            )
            .await
            .unwrap();
    }
    // A stranger's request sent after them is answered: the edge has read past them.
    let probe_from = lab.addr(43, 5060);
    let probe = UdpSocket::bind(probe_from).await.unwrap();
    probe
        .send_to(
            &request("OPTIONS", "100", probe_from, edge, 1, "Yealink"),
            edge,
        )
        .await
        .unwrap();
    assert_eq!(
        recv(&probe, Duration::from_secs(5))
            .await
            .and_then(|m| m.status()),
        Some(403)
    );
    assert_eq!(
        lab.metric("sip_edge_banned_packets_total").await,
        read_before,
        "banned datagrams reached the edge despite the kernel filter"
    );

    // Meanwhile the trunk calls as usual.
    let uas = lab.uas("uas_basic", lab.carrier(), 1, &[]).await;
    let uac = lab
        .uac("uac_basic", lab.pbx(), CALLEE, 1)
        .args(["-d", "100"])
        .spawn("uac during ban")
        .unwrap();
    expect_success(uac).await;
    expect_success(uas).await;

    // Oversized messages from another source are dropped unparsed, not banned.
    let other = lab.addr(42, 5060);
    let other_socket = UdpSocket::bind(other).await.unwrap();
    let mut big = request("OPTIONS", "100", other, edge, 1, "Yealink");
    let long_header = format!("X-Padding: {}\r\n", "a".repeat(600));
    let at = big.len() - 2;
    big.splice(at..at, long_header.into_bytes());
    other_socket.send_to(&big, edge).await.unwrap();
    let huge = vec![b'A'; 5000];
    other_socket.send_to(&huge, edge).await.unwrap();
    assert!(recv(&other_socket, Duration::from_millis(300))
        .await
        .is_none());
    lab.wait_metric("sip_edge_oversized_messages_total", 2.0)
        .await;
    assert!(!guard.is_banned(lab.ip(42)));

    // The ban ends (the sweeper logs it) and the source is answered again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while guard.is_banned(lab.ip(41)) {
        assert!(Instant::now() < deadline, "the ban did not end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lab.wait_metric("sip_edge_banned_sources", 0.0).await;
    lab.wait_metric("sip_edge_kernel_filtered_sources", 0.0)
        .await;
    socket
        .send_to(
            &request("OPTIONS", "100", from, edge, 1000, "Yealink"),
            edge,
        )
        .await
        .unwrap();
    let answer = recv(&socket, Duration::from_secs(5))
        .await
        .expect("answered after the ban");
    assert_eq!(answer.status(), Some(403));
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Answered);
    lab.stop().await;
}

/// Over TCP: a scanner's connection is closed at its first request, and the banned
/// source's next connections are closed unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_source_loses_its_tcp_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lab = Lab::start(37, LabOptions::default()).await;
    lab.wait_edge_tcp().await;
    let edge = lab.edge_addr();
    let connect = || async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(lab.addr(68, 0)).unwrap();
        socket.connect(edge).await.unwrap()
    };
    // Until banned, a stranger over TCP gets the uniform 403.
    let mut stream = connect().await;
    let from = stream.local_addr().unwrap();
    stream
        .write_all(&request("OPTIONS", "100", from, edge, 1, "Yealink"))
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"SIP/2.0 403 Forbidden\r\n"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // A scanner's request: no answer, the connection is closed.
    stream
        .write_all(&request("OPTIONS", "100", from, edge, 2, "sipcli/v1.8"))
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the edge answered a scanner");
    assert!(lab.edge.as_ref().unwrap().guard().is_banned(lab.ip(68)));
    // A new connection is closed before anything is read.
    let mut again = connect().await;
    let from = again.local_addr().unwrap();
    let _ = again
        .write_all(&request("OPTIONS", "100", from, edge, 3, "Yealink"))
        .await;
    let n = tokio::time::timeout(Duration::from_secs(5), again.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    lab.wait_metric("sip_edge_bans_total{reason=\"scanner\"}", 1.0)
        .await;
    lab.stop().await;
}
