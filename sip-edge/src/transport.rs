//! Sockets: UDP readers, TCP acceptors and one task per TCP or TLS connection (the
//! TLS handshakes are in [`crate::tls`]).
//!
//! Transport tasks own the reading side: they receive datagrams or stream bytes,
//! frame them ([`crate::framing`]), parse them ([`Message::parse`]) and hand each
//! message to the core task as an [`Event`] through one bounded channel. Parsing here
//! spreads the CPU work over the runtime's threads; the core only decides.
//!
//! The core sends: over UDP directly with `try_send_to` on the shared sockets (a full
//! socket buffer drops the datagram, which SIP retransmissions cover), over TCP by
//! queueing bytes to the connection's task. A connection's task reports its end once
//! ([`Event::Closed`]), whoever closed it; the core then ends what depended on it.
//!
//! Defence: every datagram and every framed stream message first passes the
//! [`Guard`] (bans, rate, size limits) unparsed, then, parsed, its scanner check; a
//! banned source's TCP connections are refused or closed.
//!
//! Overload: when the core's queue is nearly full, a UDP reader answers a new INVITE
//! itself with `503 Service Unavailable` instead of queueing it, so the edge sheds new
//! calls and keeps serving the calls it admitted.

use crate::config::Transport;
use crate::framing::Framer;
use crate::guard::Guard;
use crate::message::Message;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};
use tokio::sync::mpsc;

/// Identifies one TCP connection for the life of the process.
pub type ConnId = u64;

/// How to reach a peer: the socket or connection and the peer's address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// A datagram peer, through UDP listener number `socket`.
    Udp {
        /// Index of the UDP listener.
        socket: usize,
        /// The peer's address.
        peer: SocketAddr,
    },
    /// A TCP connection.
    Tcp {
        /// The connection.
        conn: ConnId,
        /// The peer's address.
        peer: SocketAddr,
    },
    /// A TLS connection.
    Tls {
        /// The connection.
        conn: ConnId,
        /// The peer's address.
        peer: SocketAddr,
    },
}

impl Flow {
    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        match self {
            Flow::Udp { peer, .. } | Flow::Tcp { peer, .. } | Flow::Tls { peer, .. } => *peer,
        }
    }

    /// The connection, for TCP and TLS flows.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Flow::Udp { .. } => None,
            Flow::Tcp { conn, .. } | Flow::Tls { conn, .. } => Some(*conn),
        }
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        match self {
            Flow::Udp { .. } => Transport::Udp,
            Flow::Tcp { .. } => Transport::Tcp,
            Flow::Tls { .. } => Transport::Tls,
        }
    }

    /// Whether messages may be lost (retransmissions needed).
    pub fn is_unreliable(&self) -> bool {
        matches!(self, Flow::Udp { .. })
    }
}

/// What transport tasks and the control handle tell the core.
pub enum Event {
    /// A parsed message.
    Received {
        /// Where it came from.
        flow: Flow,
        /// The message.
        message: Box<Message>,
    },
    /// Bytes that are not SIP (already logged and counted by the transport).
    Malformed {
        /// Where they came from.
        flow: Flow,
    },
    /// A connection was accepted; the core may send through `sender`.
    Accepted {
        /// The connection.
        conn: ConnId,
        /// The peer.
        peer: SocketAddr,
        /// Bytes queued here are written to the connection.
        sender: mpsc::Sender<Vec<u8>>,
    },
    /// A TLS connection was accepted (handshake done); the core may send through
    /// `sender`.
    SecureAccepted {
        /// The connection.
        conn: ConnId,
        /// The peer.
        peer: SocketAddr,
        /// Bytes queued here are written to the connection.
        sender: mpsc::Sender<Vec<u8>>,
        /// The client's certificate (DER), verified against the trusted roots, when it
        /// presented one.
        certificate: Option<Vec<u8>>,
    },
    /// A connection ended (or could not be opened).
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why, for the log.
        reason: String,
    },
    /// An operator command.
    Command(crate::core::Command),
}

/// Queue of the core task.
pub type Events = mpsc::Sender<Event>;

/// Shared counters the transport updates.
#[derive(Default)]
pub struct TransportCounters {
    /// Messages received and parsed.
    pub received: AtomicU64,
    /// Messages dropped as malformed.
    pub malformed: AtomicU64,
    /// INVITEs answered 503 by a reader because the core was overloaded.
    pub shed: AtomicU64,
}

/// Events waiting for the core above which new INVITEs are shed: about 20 ms of work,
/// well under the 500 ms after which callers retransmit, so an overloaded edge answers
/// 503 at once instead of entering a retransmission storm.
pub const SHED_ABOVE_QUEUED: usize = 2048;

/// A `400 Bad Request` for a request that does not parse but whose start line and
/// Via, From, To, Call-ID and CSeq can be read (RFC 3261 §8.2.2 asks for an answer
/// where one can be routed); `None` for responses and unreadable bytes.
pub fn bad_request_reply(bytes: &[u8], reason: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.split("\r\n");
    let start = lines.next()?;
    if start.starts_with("SIP/") || !start.ends_with("SIP/2.0") {
        return None;
    }
    let mut copied = Vec::new();
    let mut found = [false; 5];
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let slot = match name.as_str() {
            "via" | "v" => 0,
            "from" | "f" => 1,
            "to" | "t" => 2,
            "call-id" | "i" => 3,
            "cseq" => 4,
            _ => continue,
        };
        found[slot] = true;
        copied.push(line);
    }
    if !found.iter().all(|f| *f) {
        return None;
    }
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(120)
        .collect();
    let mut reply = String::from("SIP/2.0 400 Bad Request\r\n");
    for line in copied {
        reply.push_str(line);
        reply.push_str("\r\n");
    }
    reply.push_str(&format!(
        "Warning: 399 - \"{reason}\"\r\nContent-Length: 0\r\n\r\n"
    ));
    Some(reply.into_bytes())
}

fn parse_or_count(bytes: &[u8], flow: &Flow, counters: &TransportCounters) -> Option<Message> {
    match Message::parse(bytes) {
        Ok(m) => {
            counters.received.fetch_add(1, Ordering::Relaxed);
            Some(m)
        }
        Err(error) => {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(peer = %flow.peer(), transport = flow.transport().as_str(), %error, bytes = bytes.len(), "Dropped a malformed SIP message.");
            None
        }
    }
}

/// Reads datagrams from UDP listener `index` until the core's queue closes.
pub async fn udp_reader(
    index: usize,
    socket: Arc<UdpSocket>,
    events: Events,
    counters: Arc<TransportCounters>,
    server_header: String,
    guard: Arc<Guard>,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(error) => {
                // ICMP errors surface here on some systems; they are not fatal.
                tracing::debug!(%error, "UDP receive error.");
                continue;
            }
        };
        let bytes = &buf[..n];
        if !guard.admit_bytes(peer.ip(), bytes) {
            continue;
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            continue; // keep-alive
        }
        let flow = Flow::Udp {
            socket: index,
            peer,
        };
        let event = match parse_or_count(bytes, &flow, &counters) {
            Some(message) if !guard.admit_message(peer.ip(), &message) => continue,
            Some(message) => {
                if events.max_capacity() - events.capacity() > SHED_ABOVE_QUEUED
                    && message.method() == crate::message::Method::Invite
                    && message.is_request()
                    && message.to_tag().is_none()
                {
                    counters.shed.fetch_add(1, Ordering::Relaxed);
                    let reply = crate::core::local_response(
                        &message,
                        503,
                        "Service Unavailable",
                        None,
                        &server_header,
                        &[("Retry-After", "1".to_string())],
                    );
                    let _ = socket.try_send_to(&reply.to_bytes(), peer);
                    continue;
                }
                Event::Received {
                    flow,
                    message: Box::new(message),
                }
            }
            None => {
                if let Some(reply) = bad_request_reply(bytes, "malformed request") {
                    let _ = socket.try_send_to(&reply, peer);
                }
                Event::Malformed { flow }
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// Accepts TCP connections on `listener` until the core's queue closes.
pub async fn tcp_acceptor(
    listener: TcpListener,
    events: Events,
    next_conn: Arc<AtomicU64>,
    counters: Arc<TransportCounters>,
    guard: Arc<Guard>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%error, "TCP accept failed.");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !guard.admit_connection(peer.ip()) {
            continue; // dropped: the connection closes unread
        }
        let _ = stream.set_nodelay(true);
        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel(1024);
        if events
            .send(Event::Accepted { conn, peer, sender })
            .await
            .is_err()
        {
            return;
        }
        let (reader, writer) = stream.into_split();
        tokio::spawn(run_connection(
            conn,
            peer,
            false,
            reader,
            writer,
            receiver,
            events.clone(),
            counters.clone(),
            guard.clone(),
        ));
    }
}

/// Opens a connection to `peer` from `local_ip` and runs it; reports
/// [`Event::Closed`] when it cannot be opened.
pub async fn connect(
    conn: ConnId,
    local_ip: Option<std::net::IpAddr>,
    peer: SocketAddr,
    receiver: mpsc::Receiver<Vec<u8>>,
    events: Events,
    counters: Arc<TransportCounters>,
    guard: Arc<Guard>,
) {
    let attempt = async {
        let socket = if peer.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = local_ip.filter(|ip| ip.is_ipv4() == peer.is_ipv4()) {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        socket.connect(peer).await
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            let (reader, writer) = stream.into_split();
            run_connection(
                conn, peer, false, reader, writer, receiver, events, counters, guard,
            )
            .await;
        }
        Ok(Err(error)) => {
            let _ = events
                .send(Event::Closed {
                    conn,
                    reason: format!("cannot connect to {peer}: {error}"),
                })
                .await;
        }
        Err(_) => {
            let _ = events
                .send(Event::Closed {
                    conn,
                    reason: format!("cannot connect to {peer}: timed out"),
                })
                .await;
        }
    }
}

/// Reads and writes one stream connection (TCP, or TLS when `secure`) until either
/// side closes it, then reports [`Event::Closed`].
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_connection<R, W>(
    conn: ConnId,
    peer: SocketAddr,
    secure: bool,
    mut reader: R,
    mut writer: W,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
    events: Events,
    counters: Arc<TransportCounters>,
    guard: Arc<Guard>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let flow_of = |conn, peer| {
        if secure {
            Flow::Tls { conn, peer }
        } else {
            Flow::Tcp { conn, peer }
        }
    };
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 16 * 1024];
    let reason = loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) => break "closed by the peer".to_string(),
                    Ok(n) => n,
                    Err(e) => break format!("read error: {e}"),
                };
                framer.push(&buf[..n]);
                let mut failure = None;
                loop {
                    match framer.next_message() {
                        Ok(Some(bytes)) => {
                            if !guard.admit_bytes(peer.ip(), &bytes) {
                                if guard.is_banned(peer.ip()) {
                                    failure = Some("source banned".to_string());
                                    break;
                                }
                                continue;
                            }
                            let flow = flow_of(conn, peer);
                            let event = match parse_or_count(&bytes, &flow, &counters) {
                                Some(message) if !guard.admit_message(peer.ip(), &message) => {
                                    if guard.is_banned(peer.ip()) {
                                        failure = Some("source banned".to_string());
                                        break;
                                    }
                                    continue;
                                }
                                Some(message) => Event::Received { flow, message: Box::new(message) },
                                None => {
                                    if let Some(reply) = bad_request_reply(&bytes, "malformed request") {
                                        if let Err(e) = writer.write_all(&reply).await {
                                            failure = Some(format!("write error: {e}"));
                                            break;
                                        }
                                    }
                                    Event::Malformed { flow }
                                }
                            };
                            if events.send(event).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            counters.malformed.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(%peer, error = %e, "Closing a TCP connection that cannot be framed.");
                            failure = Some(format!("framing error: {e}"));
                            break;
                        }
                    }
                }
                if let Some(reason) = failure {
                    break reason;
                }
            }
            out = outgoing.recv() => match out {
                Some(bytes) => {
                    if let Err(e) = writer.write_all(&bytes).await {
                        break format!("write error: {e}");
                    }
                }
                None => break "closed by the edge".to_string(),
            }
        }
    };
    let _ = writer.shutdown().await;
    let _ = events.send(Event::Closed { conn, reason }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_are_answered_when_routable() {
        let bytes = b"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.5;branch=z9hG4bKx\r\n\
f: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c\r\nCSeq: one INVITE\r\n\r\n";
        let reply = String::from_utf8(bad_request_reply(bytes, "CSeq \"one\"").unwrap()).unwrap();
        assert!(reply.starts_with("SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP 127.0.0.5"));
        assert!(reply.contains("f: <sip:a@b>;tag=1\r\n"));
        assert!(reply.contains("Warning: 399 - \"CSeq one\"\r\n"), "{reply}");
        // Responses, and requests without their identifying headers, get nothing.
        assert!(bad_request_reply(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", "r").is_none());
        assert!(bad_request_reply(b"INVITE sip:x@y SIP/2.0\r\nVia: x\r\n\r\n", "r").is_none());
        assert!(bad_request_reply(&[0xff, 0xfe], "r").is_none());
    }
}
