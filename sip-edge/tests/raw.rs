//! Raw UDP peers for what SIPp cannot stage on demand: an INVITE retransmitted by the
//! caller, a 2xx retransmitted by the callee until the ACK arrives.

use crate::lab::{Lab, LabOptions};
use cdr::Disposition;
use sip_edge::core::local_response;
use sip_edge::message::{Message, Method};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

struct Peer {
    socket: UdpSocket,
}

impl Peer {
    async fn bind(at: SocketAddr) -> Peer {
        Peer {
            socket: UdpSocket::bind(at).await.expect("peer binds"),
        }
    }

    async fn send(&self, to: SocketAddr, message: &Message) {
        self.socket.send_to(&message.to_bytes(), to).await.unwrap();
    }

    /// The next message, within `wait`.
    async fn recv(&self, wait: Duration) -> Option<(Message, SocketAddr)> {
        let mut buf = vec![0u8; 65_535];
        let (n, from) = tokio::time::timeout(wait, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some((Message::parse(&buf[..n]).expect("the edge sends SIP"), from))
    }

    /// Receives until `want` matches (at most 5 s), returning what came before too.
    async fn expect(&self, what: &str, want: impl Fn(&Message) -> bool) -> (Message, Vec<Message>) {
        let mut before = Vec::new();
        loop {
            let Some((m, _)) = self.recv(Duration::from_secs(5)).await else {
                panic!("no {what} within 5 s; got {before:#?}");
            };
            if want(&m) {
                return (m, before);
            }
            before.push(m);
        }
    }
}

fn invite(lab: &Lab, branch: &str) -> Message {
    let text = format!(
        "INVITE sip:0612345678@{edge} SIP/2.0\r\n\
Via: SIP/2.0/UDP {pbx};branch={branch};rport\r\n\
From: <sip:0140000000@{pbx}>;tag=raw1\r\n\
To: <sip:0612345678@{edge}>\r\n\
Call-ID: raw-{n}@pbx\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:caller@{pbx}>\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n",
        edge = lab.edge_addr(),
        pbx = lab.pbx(),
        n = lab.n,
    );
    Message::parse(text.as_bytes()).unwrap()
}

fn is_status(code: u16) -> impl Fn(&Message) -> bool {
    move |m| m.status() == Some(code)
}

fn is_request(method: Method) -> impl Fn(&Message) -> bool {
    move |m| m.is_request() && m.method() == method
}

fn ack_for(response: &Message, invite: &Message) -> Message {
    let mut ack = invite.clone();
    ack.start = sip_edge::message::StartLine::Request {
        method: Method::Ack,
        uri: invite.request_uri().unwrap().to_string(),
    };
    ack.set_header("To", response.header("To").unwrap());
    ack.set_header("CSeq", "1 ACK");
    ack.body.clear();
    ack.remove_headers("Content-Type");
    ack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_retransmission_is_absorbed_and_counted_once() {
    let lab = Lab::start(19, LabOptions::default()).await;
    let pbx = Peer::bind(lab.pbx()).await;
    let carrier = Peer::bind(lab.carrier()).await;
    let request = invite(&lab, "z9hG4bK-raw-19");
    pbx.send(lab.edge_addr(), &request).await;
    pbx.expect("100", is_status(100)).await;
    // The caller did not see the 100 in time: the same INVITE again.
    pbx.send(lab.edge_addr(), &request).await;
    pbx.expect("100 again", is_status(100)).await;
    let (forwarded, _) = carrier.expect("INVITE", is_request(Method::Invite)).await;
    let busy = local_response(&forwarded, 486, "Busy Here", Some("far"), "raw", &[]);
    carrier.send(lab.edge_addr(), &busy).await;
    carrier
        .expect("hop-by-hop ACK", is_request(Method::Ack))
        .await;
    let (relayed, _) = pbx.expect("486", is_status(486)).await;
    pbx.send(lab.edge_addr(), &ack_for(&relayed, &request))
        .await;
    // Nothing more reaches the carrier: no second INVITE, no other branch.
    while let Some((m, _)) = carrier.recv(Duration::from_millis(500)).await {
        assert!(
            !(m.is_request() && m.method() == Method::Invite),
            "a second INVITE was forwarded: {m:?}"
        );
    }
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Busy);
    lab.wait_metric("sip_edge_calls_total{disposition=\"busy\"}", 1.0)
        .await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_is_forwarded_each_time_until_the_ack() {
    let lab = Lab::start(20, LabOptions::default()).await;
    let pbx = Peer::bind(lab.pbx()).await;
    let carrier = Peer::bind(lab.carrier()).await;
    let request = invite(&lab, "z9hG4bK-raw-20");
    pbx.send(lab.edge_addr(), &request).await;
    let (forwarded, _) = carrier.expect("INVITE", is_request(Method::Invite)).await;
    let mut ok = local_response(&forwarded, 200, "OK", Some("far"), "raw", &[]);
    ok.set_header("Contact", format!("<sip:callee@{}>", lab.carrier()));
    for rr in forwarded.headers_named("Record-Route") {
        ok.headers.push(sip_edge::message::Header {
            name: "Record-Route".into(),
            value: rr.to_string(),
        });
    }
    // The callee retransmits its 200 (RFC 3261 §13.3.1.4) until it sees the ACK.
    for _ in 0..3 {
        carrier.send(lab.edge_addr(), &ok).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut seen = 0;
    while let Some((m, _)) = pbx.recv(Duration::from_millis(500)).await {
        if m.status() == Some(200) {
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "every 2xx retransmission is forwarded");
    let (relayed, _) = (ok.clone(), ());
    let mut ack = ack_for(&relayed, &request);
    ack.start = sip_edge::message::StartLine::Request {
        method: Method::Ack,
        uri: format!("sip:callee@{}", lab.carrier()),
    };
    ack.set_header(
        "Via",
        format!("SIP/2.0/UDP {};branch=z9hG4bK-raw-20-ack", lab.pbx()),
    );
    pbx.send(lab.edge_addr(), &ack).await;
    carrier.expect("ACK", is_request(Method::Ack)).await;
    // The caller hangs up.
    let mut bye = ack.clone();
    bye.start = sip_edge::message::StartLine::Request {
        method: Method::Bye,
        uri: format!("sip:callee@{}", lab.carrier()),
    };
    bye.set_header(
        "Via",
        format!("SIP/2.0/UDP {};branch=z9hG4bK-raw-20-bye", lab.pbx()),
    );
    bye.set_header("CSeq", "2 BYE");
    pbx.send(lab.edge_addr(), &bye).await;
    let (bye_in, _) = carrier.expect("BYE", is_request(Method::Bye)).await;
    carrier
        .send(
            lab.edge_addr(),
            &local_response(&bye_in, 200, "OK", None, "raw", &[]),
        )
        .await;
    pbx.expect("200 for BYE", is_status(200)).await;
    lab.wait_no_active_call().await;
    let records = lab.records(1).await;
    assert_eq!(records[0].disposition, Disposition::Answered);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_counted_and_answered_400_when_possible() {
    let lab = Lab::start(22, LabOptions::default()).await;
    let pbx = Peer::bind(lab.pbx()).await;
    let bad_cseq = format!(
        "INVITE sip:0612345678@{edge} SIP/2.0\r\nVia: SIP/2.0/UDP {pbx};branch=z9hG4bK-bad\r\n\
From: <sip:0140000000@{pbx}>;tag=b\r\nTo: <sip:0612345678@{edge}>\r\nCall-ID: bad@pbx\r\n\
CSeq: one INVITE\r\nContent-Length: 0\r\n\r\n",
        edge = lab.edge_addr(),
        pbx = lab.pbx(),
    );
    pbx.socket
        .send_to(bad_cseq.as_bytes(), lab.edge_addr())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), pbx.socket.recv_from(&mut buf))
        .await
        .expect("an answer to the malformed request")
        .unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(reply.starts_with("SIP/2.0 400 Bad Request\r\n"), "{reply}");
    assert!(reply.contains("Call-ID: bad@pbx"), "{reply}");
    // Bytes that are not SIP at all: counted, dropped, nothing sent back.
    pbx.socket
        .send_to(b"\x16\x03\x01 not sip at all\r\n\r\n", lab.edge_addr())
        .await
        .unwrap();
    lab.wait_metric("sip_edge_malformed_messages_total", 2.0)
        .await;
    assert!(pbx.recv(Duration::from_millis(300)).await.is_none());
    lab.records(0).await;
    lab.stop().await;
}
