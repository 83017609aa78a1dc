//! The core task: the one owner of transactions, dialogs, channel counts and timers.
//!
//! Everything that decides runs here, one event at a time, so no state is shared and
//! admission is atomic by construction. Events come from the transport tasks and the
//! control handle through one bounded channel; timers are a binary heap of deadlines
//! the loop sleeps on (`sleep_until` on the earliest), cancelled lazily: a timer that
//! fires for a transaction or call that moved on (generation or state changed) is
//! ignored.
//!
//! # Proxy behaviour (RFC 3261 §16, §17; RFC 3581; RFC 6026)
//! - Every request but ACK opens a server transaction keyed by its top Via (branch,
//!   sent-by, method); a retransmission gets the last response again and goes no
//!   further. INVITEs get `100 Trying` at once.
//! - Forwarded requests open a client transaction with our own Via (branch: `z9hG4bK`,
//!   node, process and sequence, unique per forwarded request); over UDP they are
//!   retransmitted (timers A/E, doubling, E capped at T2) and time out after 64×T1
//!   (B/F). A non-2xx final answer to an INVITE is ACKed hop by hop here; a 2xx (and
//!   each retransmission of it) goes upstream, and its ACK travels end to end.
//! - Initial INVITEs are Record-Routed with `<sip:HOST:PORT;transport=T;lr>` (two
//!   entries when the two sides use different listeners), so every in-dialog request
//!   passes the edge. In-dialog requests must match a call the edge knows (else 481:
//!   the edge is no open relay); they are sent over the other side's flow (the
//!   connection or address the dialog was set up through), our Route entries removed.
//! - CANCEL is answered 200 and forwarded on the INVITE's branch; the downstream 487
//!   goes upstream. Timer C (no final answer in time): CANCEL downstream, 408 upstream.
//! - Outbound calls try the carriers in order, failing over on 503, 408 or a
//!   transport error, as long as no CANCEL came.
//!
//! # Calls and channels
//! A call exists from admission to its end and owns its [`ChannelPermit`]; it is
//! removed in one place, `Core::end_call`, which writes its record and drops the
//! permit, so the channel is released exactly once on every path: BYE from either
//! side, CANCEL, a final error, Timer C, a 2xx never ACKed (64×T1), the loss of a TCP
//! connection, the maximum duration, shutdown. When the edge ends an answered call
//! itself it sends BYE to both sides, as each side's peer (dialog identifiers, route
//! set, next CSeq).
//!
//! TLS identities, digest challenges and registrations are in the `access` module;
//! carrier keepalives in `keepalive`.

mod access;
mod keepalive;

use crate::channels::{Admission, ChannelPermit, Channels};
use crate::config::{EdgeConfig, Listen, Transport};
use crate::dids::DidDirectory;
use crate::message::{header_tag, uri_host_port, Message, Method, NameAddr, StartLine};
use crate::metrics::Metrics;
use crate::records::{disposition_for, CallParties, RecordDraft};
use crate::transport::{self, ConnId, Event, Flow, TransportCounters};
use cdr::{end_reason, CallKey, CallRecord, Direction, Disposition};
use provisioning::Provisioning;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, info_span, warn, Span};

/// Commands from the control handle.
pub enum Command {
    /// New provisioning (and number directory, unless fixed at start): new counts
    /// apply to new calls.
    Reload(Arc<Provisioning>, Option<Arc<dyn DidDirectory>>),
    /// A request of the admin API (see [`crate::admin`]).
    Admin(crate::admin::AdminRequest),
    /// Stop taking calls; end what remains at `deadline`; answer when done.
    Drain {
        /// When calls still in progress are ended.
        deadline: Instant,
        /// Told when every call has ended.
        done: oneshot::Sender<()>,
    },
}

/// The core's side of the admin API (block, end calls, status), in its own file.
#[path = "core_admin.rs"]
mod admin_ops;

/// The RFC 3261 magic cookie that starts every branch.
const MAGIC_COOKIE: &str = "z9hG4bK";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ServerKey {
    branch: String,
    sent_by: String,
    method: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientKey {
    branch: String,
    method: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerState {
    Proceeding,
    Completed,
    Accepted,
    Confirmed,
}

struct ServerTx {
    flow: Flow,
    invite: bool,
    request: Message,
    last_response: Option<Vec<u8>>,
    state: ServerState,
    retransmit: Duration,
    gen: u32,
    call: Option<u64>,
    to_tag: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    Calling,
    Proceeding,
    Completed,
    Accepted,
}

#[derive(Clone, Debug)]
enum Purpose {
    /// A forwarded request: responses go to this server transaction.
    Relay(ServerKey),
    /// A request of the edge's own (CANCEL, BYE): responses are absorbed.
    Own,
    /// An OPTIONS keepalive to carrier number `usize`.
    Keepalive(usize),
}

struct ClientTx {
    request: Message,
    bytes: Vec<u8>,
    flow: Flow,
    state: ClientState,
    invite: bool,
    purpose: Purpose,
    call: Option<u64>,
    retransmit: Duration,
    gen: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    Routing,
    Answered,
    Confirmed,
}

#[derive(Clone, Debug)]
struct Target {
    name: String,
    address: SocketAddr,
    transport: Transport,
    /// TLS: the name the peer's certificate must hold (also the Request-URI host).
    server_name: Option<String>,
    /// A registered PBX: the flow its REGISTER came through.
    flow: Option<Flow>,
    /// A registered PBX: its contact, the Request-URI.
    uri: Option<String>,
}

struct Call {
    call_id: String,
    caller_tag: String,
    callee_tag: Option<String>,
    draft: RecordDraft,
    permit: Option<ChannelPermit>,
    state: CallState,
    cancelled: bool,
    answer_ms: Option<u64>,
    server: ServerKey,
    client: Option<ClientKey>,
    invite: Message,
    targets: VecDeque<Target>,
    last_failure: Option<Message>,
    timer_c_gen: u32,
    caller_flow: Flow,
    callee_flow: Option<Flow>,
    caller_from: String,
    caller_to: String,
    callee_to: Option<String>,
    caller_contact: Option<String>,
    callee_contact: Option<String>,
    caller_cseq: u32,
    callee_cseq: u32,
    upstream_routes: Vec<String>,
    downstream_routes: Vec<String>,
    span: Span,
    /// The call's place in the fraud guard's class counts (outbound calls).
    fraud: Option<crate::fraud::FraudPermit>,
    /// Why the edge ended the call itself, for the record's `end_reason`.
    end_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TimerKind {
    ServerRetransmit(ServerKey, u32),
    ServerExpire(ServerKey, u32),
    ClientRetransmit(ClientKey, u32),
    ClientExpire(ClientKey, u32),
    TimerC(u64, u32),
    CancelGuard(u64),
    AckWait(u64),
    MaxDuration(u64),
    DrainDeadline,
    Keepalive,
}

#[derive(Debug, PartialEq, Eq)]
struct TimerEntry {
    at: Instant,
    seq: u64,
    kind: TimerKind,
}

impl Ord for TimerEntry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

struct Conn {
    sender: mpsc::Sender<Vec<u8>>,
    peer: SocketAddr,
}

/// Sockets and channels the core starts with.
pub struct CoreParts {
    /// Validated configuration.
    pub config: Arc<EdgeConfig>,
    /// Provisioning in force.
    pub provisioning: Arc<Provisioning>,
    /// Inbound number lookup.
    pub dids: Arc<dyn DidDirectory>,
    /// Channel counters.
    pub channels: Channels,
    /// UDP listeners with their sockets.
    pub udp: Vec<(Listen, Arc<UdpSocket>)>,
    /// TCP listeners (their acceptors run as tasks).
    pub tcp: Vec<Listen>,
    /// Connection id allocator shared with the acceptors.
    pub next_conn: Arc<AtomicU64>,
    /// The core's own queue (to hand to connect tasks).
    pub events: transport::Events,
    /// Transport counters.
    pub counters: Arc<TransportCounters>,
    /// Finished call records.
    pub records: mpsc::UnboundedSender<CallRecord>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// TLS configuration, when a TLS listener or peer is configured.
    pub tls: Option<Arc<crate::tls::TlsContext>>,
    /// Names of next hops.
    pub resolver: Arc<crate::resolve::Resolver>,
    /// Scanner and flood defence (transactions in flight, known sources).
    pub guard: Arc<crate::guard::Guard>,
    /// Toll-fraud guard.
    pub fraud: crate::fraud::FraudGuard,
}

/// The core task's state.
pub struct Core {
    config: Arc<EdgeConfig>,
    provisioning: Arc<Provisioning>,
    dids: Arc<dyn DidDirectory>,
    channels: Channels,
    udp: Vec<(Listen, Arc<UdpSocket>)>,
    tcp: Vec<Listen>,
    next_conn: Arc<AtomicU64>,
    events: transport::Events,
    counters: Arc<TransportCounters>,
    records: mpsc::UnboundedSender<CallRecord>,
    metrics: Arc<Metrics>,
    guard: Arc<crate::guard::Guard>,
    fraud: crate::fraud::FraudGuard,
    carrier_ips: HashSet<IpAddr>,
    own_addresses: Vec<(String, u16)>,
    conns: HashMap<ConnId, Conn>,
    conn_by_peer: HashMap<SocketAddr, ConnId>,
    servers: HashMap<ServerKey, ServerTx>,
    clients: HashMap<ClientKey, ClientTx>,
    calls: HashMap<u64, Call>,
    calls_by_call_id: HashMap<String, Vec<u64>>,
    next_call: u64,
    timers: BinaryHeap<Reverse<TimerEntry>>,
    timer_seq: u64,
    branch_prefix: String,
    branch_seq: u64,
    tag_seq: u64,
    draining: Option<oneshot::Sender<()>>,
    drain_started: bool,
    access: access::Access,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A response of the edge's own to `request`: Via, From, To (with `to_tag` added
/// when given and absent), Call-ID and CSeq copied, `Server` and `extra` headers, no
/// body.
pub fn local_response(
    request: &Message,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    server: &str,
    extra: &[(&str, String)],
) -> Message {
    let mut headers = Vec::new();
    for h in &request.headers {
        if matches!(&*h.name, "Via" | "From" | "Call-ID" | "CSeq") {
            headers.push(h.clone());
        } else if h.name == "To" {
            let mut to = h.clone();
            if let Some(tag) = to_tag {
                if header_tag(&to.value).is_none() {
                    to.value = format!("{};tag={tag}", to.value);
                }
            }
            headers.push(to);
        }
    }
    let mut response = Message {
        start: StartLine::Response {
            code,
            reason: reason.to_string(),
        },
        headers,
        body: Vec::new(),
    };
    response.set_header("Server", server);
    for (name, value) in extra {
        response.set_header(name, value.clone());
    }
    response
}

impl Core {
    /// A core over `parts`.
    pub fn new(parts: CoreParts) -> Core {
        let carrier_ips = parts
            .config
            .carriers
            .iter()
            .map(|c| c.address.ip())
            .collect();
        let mut own_addresses = Vec::new();
        for listen in parts.udp.iter().map(|(l, _)| l).chain(parts.tcp.iter()) {
            own_addresses.push((listen.address.ip().to_string(), listen.address.port()));
            if let Some(host) = &listen.advertise {
                own_addresses.push((host.to_ascii_lowercase(), listen.address.port()));
            }
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let branch_prefix = format!(
            "{MAGIC_COOKIE}-{}-{:x}{:x}",
            parts.config.node_id,
            std::process::id(),
            nanos & 0xffff_ffff
        );
        let access = access::Access::new(&parts.config, parts.tls, parts.resolver);
        Core {
            access,
            config: parts.config,
            provisioning: parts.provisioning,
            dids: parts.dids,
            channels: parts.channels,
            udp: parts.udp,
            tcp: parts.tcp,
            next_conn: parts.next_conn,
            events: parts.events,
            counters: parts.counters,
            records: parts.records,
            metrics: parts.metrics,
            guard: parts.guard,
            fraud: parts.fraud,
            carrier_ips,
            own_addresses,
            conns: HashMap::new(),
            conn_by_peer: HashMap::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            calls: HashMap::new(),
            calls_by_call_id: HashMap::new(),
            next_call: 1,
            timers: BinaryHeap::new(),
            timer_seq: 0,
            branch_prefix,
            branch_seq: 0,
            tag_seq: 0,
            draining: None,
            drain_started: false,
        }
    }

    /// Runs until the event queue closes or a drain completes.
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        self.start_keepalives();
        loop {
            if self.drain_started && self.calls.is_empty() {
                break;
            }
            let next = self.timers.peek().map(|Reverse(t)| t.at);
            let event = match next {
                Some(at) => tokio::select! {
                    biased;
                    event = events.recv() => event,
                    _ = tokio::time::sleep_until(at.into()) => {
                        self.fire_timers();
                        continue;
                    }
                },
                None => events.recv().await,
            };
            let Some(event) = event else { break };
            self.handle(event);
            // Handle what is already queued before looking at timers again.
            let mut budget = 256;
            while budget > 0 {
                match events.try_recv() {
                    Ok(event) => self.handle(event),
                    Err(_) => break,
                }
                budget -= 1;
            }
            self.fire_timers();
        }
        // Whatever is left (queue closed without a drain) ends here.
        let ids: Vec<u64> = self.calls.keys().copied().collect();
        for id in ids {
            self.terminate(id, end_reason::SHUTDOWN);
        }
        if let Some(done) = self.draining.take() {
            let _ = done.send(());
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Received { flow, message } => {
                if message.is_request() {
                    self.on_request(flow, *message);
                } else {
                    self.on_response(flow, *message);
                }
            }
            Event::Malformed { .. } => {}
            Event::Accepted { conn, peer, sender } => {
                self.conns.insert(conn, Conn { sender, peer });
                self.conn_by_peer.insert(peer, conn);
            }
            Event::SecureAccepted {
                conn,
                peer,
                sender,
                certificate,
            } => self.on_secure_accepted(conn, peer, sender, certificate),
            Event::Closed { conn, reason } => self.on_conn_closed(conn, &reason),
            Event::Command(Command::Reload(provisioning, dids)) => {
                if let Some(dids) = dids {
                    self.dids = dids;
                }
                self.access
                    .resolver
                    .prefetch(crate::resolve::dns_targets(&provisioning));
                info!(
                    fingerprint = provisioning.fingerprint(),
                    "Provisioning reloaded; new channel counts apply to new calls."
                );
                self.provisioning = provisioning;
            }
            Event::Command(Command::Admin(request)) => self.on_admin(request),
            Event::Command(Command::Drain { deadline, done }) => {
                info!(calls = self.calls.len(), "Draining: new calls get 503.");
                self.draining = Some(done);
                self.drain_started = true;
                self.schedule_at(deadline, TimerKind::DrainDeadline);
            }
        }
    }

    // ---- timers -------------------------------------------------------------------

    fn schedule(&mut self, after: Duration, kind: TimerKind) {
        self.schedule_at(Instant::now() + after, kind);
    }

    fn schedule_at(&mut self, at: Instant, kind: TimerKind) {
        self.timer_seq += 1;
        self.timers.push(Reverse(TimerEntry {
            at,
            seq: self.timer_seq,
            kind,
        }));
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse(entry)) = self.timers.peek() {
            if entry.at > now {
                break;
            }
            let Some(Reverse(entry)) = self.timers.pop() else {
                break;
            };
            self.on_timer(entry.kind);
        }
    }

    fn on_timer(&mut self, kind: TimerKind) {
        let t = self.config.timers;
        match kind {
            TimerKind::ServerRetransmit(key, gen) => {
                let Some(tx) = self.servers.get_mut(&key) else {
                    return;
                };
                if tx.gen != gen || tx.state != ServerState::Completed {
                    return;
                }
                if let Some(bytes) = tx.last_response.clone() {
                    let flow = tx.flow.clone();
                    tx.retransmit = (tx.retransmit * 2).min(t.t2);
                    let after = tx.retransmit;
                    self.send(&flow, &bytes);
                    self.schedule(after, TimerKind::ServerRetransmit(key, gen));
                }
            }
            TimerKind::ServerExpire(key, gen) => {
                if self.servers.get(&key).is_some_and(|tx| tx.gen == gen) {
                    if let Some(tx) = self.servers.remove(&key) {
                        self.guard.transaction_closed(tx.flow.peer().ip());
                    }
                }
            }
            TimerKind::ClientRetransmit(key, gen) => {
                let Some(tx) = self.clients.get_mut(&key) else {
                    return;
                };
                let resend = tx.gen == gen
                    && (tx.state == ClientState::Calling
                        || (!tx.invite && tx.state == ClientState::Proceeding));
                if !resend {
                    return;
                }
                tx.retransmit = if tx.invite {
                    tx.retransmit * 2
                } else {
                    (tx.retransmit * 2).min(t.t2)
                };
                let (flow, bytes, after) = (tx.flow.clone(), tx.bytes.clone(), tx.retransmit);
                self.send(&flow, &bytes);
                self.schedule(after, TimerKind::ClientRetransmit(key, gen));
            }
            TimerKind::ClientExpire(key, gen) => {
                let Some(tx) = self.clients.get(&key) else {
                    return;
                };
                if tx.gen != gen {
                    return;
                }
                match tx.state {
                    ClientState::Completed | ClientState::Accepted => {
                        self.clients.remove(&key);
                    }
                    ClientState::Proceeding if tx.invite => {} // Timer C governs
                    ClientState::Calling | ClientState::Proceeding => {
                        self.client_failed(&key, 408, "Request Timeout");
                    }
                }
            }
            TimerKind::TimerC(id, gen) => {
                let fire = self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.timer_c_gen == gen && c.state == CallState::Routing);
                if fire {
                    let span = self.calls[&id].span.clone();
                    let _enter = span.enter();
                    info!("Timer C: no final answer; cancelling downstream, 408 upstream.");
                    self.set_end_reason(id, end_reason::TIMER_C);
                    self.abandon_routing(id, 408, "Request Timeout", Disposition::NoAnswer);
                }
            }
            TimerKind::CancelGuard(id) => {
                if self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.state == CallState::Routing)
                {
                    self.abandon_routing(id, 487, "Request Terminated", Disposition::Cancelled);
                }
            }
            TimerKind::AckWait(id) => {
                if self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.state == CallState::Answered)
                {
                    let span = self.calls[&id].span.clone();
                    let _enter = span.enter();
                    warn!("The 2xx was never ACKed; ending the call on both sides.");
                    self.set_end_reason(id, end_reason::NO_ACK);
                    self.bye_both_sides(id);
                    self.end_call(id, Disposition::Failed, Some(200));
                }
            }
            TimerKind::MaxDuration(id) => {
                if self.calls.contains_key(&id) {
                    let span = self.calls[&id].span.clone();
                    let _enter = span.enter();
                    info!(
                        max_secs = self.config.max_call_duration.as_secs(),
                        "Maximum call duration reached; ending the call on both sides."
                    );
                    self.terminate(id, end_reason::MAX_DURATION);
                }
            }
            TimerKind::Keepalive => self.keepalive_tick(),
            TimerKind::DrainDeadline => {
                let ids: Vec<u64> = self.calls.keys().copied().collect();
                if !ids.is_empty() {
                    info!(
                        calls = ids.len(),
                        "Drain deadline: ending the calls still in progress."
                    );
                }
                for id in ids {
                    self.terminate(id, end_reason::SHUTDOWN);
                }
            }
        }
    }

    // ---- sending ------------------------------------------------------------------

    fn send(&mut self, flow: &Flow, bytes: &[u8]) -> bool {
        match flow {
            Flow::Udp { socket, peer } => match self.udp.get(*socket) {
                Some((_, s)) => match s.try_send_to(bytes, *peer) {
                    Ok(_) => true,
                    Err(e) => {
                        debug!(%peer, error = %e, "UDP send failed.");
                        false
                    }
                },
                None => false,
            },
            Flow::Tcp { conn, peer } | Flow::Tls { conn, peer } => match self.conns.get(conn) {
                Some(c) => {
                    if c.sender.try_send(bytes.to_vec()).is_err() {
                        warn!(%peer, "Connection queue full or closed; dropping it.");
                        self.conns.remove(conn);
                        false
                    } else {
                        true
                    }
                }
                None => false,
            },
        }
    }

    /// A flow to `address` over `transport`: a UDP listener of the same family, or a
    /// TCP connection (reused, or opened in the background: bytes queue meanwhile).
    fn flow_to(&mut self, address: SocketAddr, transport: Transport) -> Option<Flow> {
        match transport {
            Transport::Udp => {
                let socket = self
                    .udp
                    .iter()
                    .position(|(l, _)| l.address.is_ipv4() == address.is_ipv4())?;
                Some(Flow::Udp {
                    socket,
                    peer: address,
                })
            }
            Transport::Tls => {
                // Only an open connection: a new one needs the peer's name.
                let conn = self.conn_by_peer.get(&address)?;
                self.conns.contains_key(conn).then_some(Flow::Tls {
                    conn: *conn,
                    peer: address,
                })
            }
            Transport::Tcp => {
                if let Some(conn) = self.conn_by_peer.get(&address) {
                    if self.conns.contains_key(conn) {
                        return Some(Flow::Tcp {
                            conn: *conn,
                            peer: address,
                        });
                    }
                }
                let conn = self
                    .next_conn
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (sender, receiver) = mpsc::channel(1024);
                self.conns.insert(
                    conn,
                    Conn {
                        sender,
                        peer: address,
                    },
                );
                self.conn_by_peer.insert(address, conn);
                let local_ip = self
                    .tcp
                    .iter()
                    .find(|l| {
                        l.transport == Transport::Tcp && l.address.is_ipv4() == address.is_ipv4()
                    })
                    .map(|l| l.address.ip())
                    .filter(|ip| !ip.is_unspecified());
                tokio::spawn(transport::connect(
                    conn,
                    local_ip,
                    address,
                    receiver,
                    self.events.clone(),
                    self.counters.clone(),
                    self.guard.clone(),
                ));
                Some(Flow::Tcp {
                    conn,
                    peer: address,
                })
            }
        }
    }

    /// The listener that speaks for us on `flow` (Via, Record-Route).
    fn listener_for(&self, flow: &Flow) -> Listen {
        match flow {
            Flow::Udp { socket, .. } => self.udp[*socket].0.clone(),
            Flow::Tcp { peer, .. } | Flow::Tls { peer, .. } => self
                .tcp
                .iter()
                .find(|l| l.transport == flow.transport() && l.address.is_ipv4() == peer.is_ipv4())
                .or_else(|| self.tcp.iter().find(|l| l.transport == flow.transport()))
                .or_else(|| self.tcp.first())
                .or_else(|| self.udp.first().map(|(l, _)| l))
                .cloned()
                .unwrap_or_else(|| self.udp[0].0.clone()),
        }
    }

    fn new_branch(&mut self) -> String {
        self.branch_seq += 1;
        format!("{}-{:x}", self.branch_prefix, self.branch_seq)
    }

    fn new_tag(&mut self) -> String {
        self.tag_seq += 1;
        format!("edge{:x}{:x}", std::process::id(), self.tag_seq)
    }

    fn record_route_value(listen: &Listen) -> String {
        format!(
            "<sip:{};transport={};lr>",
            listen.advertised(),
            listen.transport.as_str()
        )
    }

    // ---- server transactions ------------------------------------------------------

    fn server_key(message: &Message, method: &Method) -> Option<ServerKey> {
        let via = message.top_via()?;
        let method = match method {
            Method::Ack => "INVITE".to_string(),
            other => other.as_str().to_string(),
        };
        let branch = match via.branch() {
            Some(b) if b.starts_with(MAGIC_COOKIE) => b.to_string(),
            // RFC 2543 peers: fall back on what identifies the request.
            _ => format!(
                "{}|{}|{}",
                message.call_id(),
                message.from_tag().unwrap_or_default(),
                message.cseq().map(|(n, _)| n).unwrap_or_default()
            ),
        };
        Some(ServerKey {
            branch,
            sent_by: via.sent_by(),
            method,
        })
    }

    /// Sends `response` on server transaction `key` and moves it on.
    fn respond(&mut self, key: &ServerKey, response: Message) {
        let t = self.config.timers;
        let Some(tx) = self.servers.get_mut(key) else {
            return;
        };
        if tx.state != ServerState::Proceeding {
            // Already final: only 2xx retransmissions of an INVITE pass (RFC 6026).
            let retransmitted_2xx = tx.invite
                && tx.state == ServerState::Accepted
                && response.status().is_some_and(|c| (200..300).contains(&c));
            if !retransmitted_2xx {
                return;
            }
        }
        let code = response.status().unwrap_or(500);
        let bytes = response.to_bytes();
        let flow = tx.flow.clone();
        let unreliable = flow.is_unreliable();
        tx.last_response = Some(bytes.clone());
        let mut expire = None;
        let mut retransmit = None;
        if code >= 200 && tx.state == ServerState::Proceeding {
            tx.gen += 1;
            if tx.invite && code < 300 {
                tx.state = ServerState::Accepted;
                expire = Some(t.t1 * 64);
            } else if tx.invite {
                tx.state = ServerState::Completed;
                expire = Some(t.t1 * 64);
                if unreliable {
                    tx.retransmit = t.t1;
                    retransmit = Some(t.t1);
                }
            } else {
                tx.state = ServerState::Completed;
                expire = Some(if unreliable {
                    t.t1 * 64
                } else {
                    Duration::ZERO
                });
            }
        }
        let gen = tx.gen;
        self.send(&flow, &bytes);
        if let Some(after) = retransmit {
            self.schedule(after, TimerKind::ServerRetransmit(key.clone(), gen));
        }
        if let Some(after) = expire {
            self.schedule(after, TimerKind::ServerExpire(key.clone(), gen));
        }
    }

    fn reply(&mut self, key: &ServerKey, code: u16, reason: &str, extra: &[(&str, String)]) {
        let Some(tx) = self.servers.get(key) else {
            return;
        };
        let to_tag = (code > 100).then(|| tx.to_tag.clone());
        let response = local_response(
            &tx.request,
            code,
            reason,
            to_tag.as_deref(),
            &self.config.user_agent,
            extra,
        );
        self.respond(key, response);
    }

    // ---- requests -----------------------------------------------------------------

    fn on_request(&mut self, flow: Flow, mut message: Message) {
        let method = message.method();
        let Some(mut via) = message.top_via() else {
            warn!(peer = %flow.peer(), "Dropped a request without a readable Via.");
            return;
        };
        // RFC 3261 §18.2.1 and RFC 3581: note where the request really came from.
        let peer = flow.peer();
        if via.host.parse::<IpAddr>().ok() != Some(peer.ip()) {
            via.set_param("received", Some(peer.ip().to_string()));
        }
        if via.param("rport").is_some() {
            via.set_param("rport", Some(peer.port().to_string()));
        }
        if let Some(h) = message.headers.iter_mut().find(|h| h.name == "Via") {
            h.value = via.to_string();
        }
        let Some(key) = Self::server_key(&message, &method) else {
            return;
        };
        let span = info_span!("sip", call_id = %message.call_id());
        let _enter = span.enter();

        if method == Method::Ack {
            if let Some(tx) = self.servers.get_mut(&key) {
                if tx.state == ServerState::Completed {
                    // ACK of a non-2xx final answer: absorbed here (Timer I).
                    tx.state = ServerState::Confirmed;
                    tx.gen += 1;
                    let after = if flow.is_unreliable() {
                        self.config.timers.t4
                    } else {
                        Duration::ZERO
                    };
                    let gen = tx.gen;
                    self.schedule(after, TimerKind::ServerExpire(key, gen));
                    return;
                }
                if tx.state == ServerState::Confirmed {
                    return;
                }
            }
            self.forward_ack(flow, message);
            return;
        }
        if let Some(tx) = self.servers.get(&key) {
            // A retransmission: the last response again, nothing forwarded.
            if let Some(bytes) = tx.last_response.clone() {
                let flow = tx.flow.clone();
                self.send(&flow, &bytes);
            }
            return;
        }
        let to_tag = self.new_tag();
        let request = trimmed(&message, SERVER_KEEPS, false);
        self.servers.insert(
            key.clone(),
            ServerTx {
                flow: flow.clone(),
                invite: method == Method::Invite,
                request,
                last_response: None,
                state: ServerState::Proceeding,
                retransmit: self.config.timers.t1,
                gen: 0,
                call: None,
                to_tag,
            },
        );
        self.guard.transaction_opened(peer.ip());
        if method == Method::Invite {
            self.reply(&key, 100, "Trying", &[]);
        }
        if let Some(mf) = message.header("Max-Forwards") {
            if mf.trim() == "0" && method != Method::Options {
                self.metrics.count_refusal("too_many_hops");
                self.reply(&key, 483, "Too Many Hops", &[]);
                return;
            }
        }
        match method {
            Method::Cancel => self.on_cancel(&key),
            _ if message.to_tag().is_some() => self.on_in_dialog(flow, message, key),
            // Unknown sources get one answer whatever they ask (no enumeration of
            // numbers or users); REGISTER is the registrar's to answer.
            _ if method.as_str() != "REGISTER"
                && !self.guard.is_known(peer.ip())
                && !self.known_by_identity(&flow) =>
            {
                self.metrics.count_refusal("unknown_source");
                info!(%peer, method = method.as_str(), "Request from an unknown source: 403.");
                self.reply(&key, 403, "Forbidden", &[]);
            }
            Method::Invite => self.on_initial_invite(flow, message, key),
            Method::Options => {
                let known = self.carrier_ips.contains(&peer.ip())
                    || self.provisioning.trunk_for_source(peer.ip()).is_some();
                if known {
                    self.reply(
                        &key,
                        200,
                        "OK",
                        &[(
                            "Allow",
                            "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, PRACK, INFO, REFER, NOTIFY"
                                .to_string(),
                        )],
                    );
                } else {
                    info!(%peer, "OPTIONS from an unknown source: 403.");
                    self.reply(&key, 403, "Forbidden", &[]);
                }
            }
            Method::Other(m) if m == "REGISTER" => self.on_register(flow, message, key),
            Method::Bye | Method::Other(_)
                if matches!(
                    method.as_str(),
                    "BYE" | "UPDATE" | "PRACK" | "INFO" | "NOTIFY" | "REFER"
                ) =>
            {
                self.reply(&key, 481, "Call/Transaction Does Not Exist", &[]);
            }
            _ => {
                self.reply(
                    &key,
                    405,
                    "Method Not Allowed",
                    &[(
                        "Allow",
                        "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, PRACK, INFO, REFER, NOTIFY"
                            .to_string(),
                    )],
                );
            }
        }
    }

    fn on_initial_invite(&mut self, flow: Flow, invite: Message, key: ServerKey) {
        let peer = flow.peer();
        let invite_ms = now_ms();
        let parties = CallParties::from_invite(&invite);
        let provisioning = self.provisioning.clone();
        let (trunk, site_id, direction, targets) = if self.carrier_ips.contains(&peer.ip()) {
            let route = self.dids.lookup(&parties.callee);
            let Some(route) = route else {
                self.metrics.count_refusal("unknown_number");
                info!(%peer, callee = %parties.callee, "Inbound call to a number no trunk holds: 404.");
                self.reply(&key, 404, "Not Found", &[]);
                return;
            };
            let Some(trunk) = provisioning.trunk(&route.trunk_id) else {
                self.metrics.count_refusal("unknown_number");
                warn!(trunk = %route.trunk_id, callee = %parties.callee, "The number directory names a trunk provisioning does not know: 404.");
                self.reply(&key, 404, "Not Found", &[]);
                return;
            };
            let targets = self.inbound_targets(trunk);
            (trunk, route.site_id.clone(), Direction::Inbound, targets)
        } else {
            let (trunk_id, site) = match self.identify_caller(&flow, &invite, &key) {
                access::Identified::Trunk { trunk_id, site } => (trunk_id, site),
                access::Identified::Answered => return,
                access::Identified::Unknown => {
                    self.metrics.count_refusal("unknown_source");
                    info!(%peer, "INVITE from an unknown source: 403.");
                    self.reply(&key, 403, "Forbidden", &[]);
                    return;
                }
            };
            let Some(trunk) = provisioning.trunk(&trunk_id) else {
                return;
            };
            let targets = self
                .config
                .carriers
                .iter()
                .enumerate()
                .filter(|(i, _)| self.carrier_up(*i))
                .map(|(_, c)| Target {
                    name: c.name.clone(),
                    address: c.address,
                    transport: c.transport,
                    server_name: c.server_name.clone(),
                    flow: None,
                    uri: None,
                })
                .collect();
            (trunk, site, Direction::Outbound, targets)
        };

        let channels_in_force = trunk.channels_at(chrono::Utc::now());
        let draft = RecordDraft {
            key: CallKey::for_edge(
                &self.config.node_id,
                invite.call_id(),
                invite.from_tag().unwrap_or_default(),
                invite.cseq().map(|(n, _)| n).unwrap_or_default(),
            ),
            node_id: self.config.node_id.clone(),
            trunk_id: trunk.id().to_string(),
            customer_id: trunk.customer_id().to_string(),
            site_id: site_id.clone(),
            direction,
            parties: parties.clone(),
            sip_call_id: invite.call_id().to_string(),
            invite_ms,
            channels_in_force,
            calls_in_progress: self.channels.in_progress(trunk.id()),
        };
        let refuse = |core: &mut Core,
                      code: u16,
                      reason: &str,
                      extra: &[(&str, String)],
                      disposition: Disposition| {
            core.reply(&key, code, reason, extra);
            let record = draft.finish(disposition, Some(code), None, now_ms());
            core.emit(record);
        };
        if self.draining.is_some() {
            self.metrics.count_refusal("draining");
            refuse(
                self,
                503,
                "Service Unavailable",
                &[("Retry-After", "30".into())],
                Disposition::RejectedPolicy,
            );
            return;
        }
        if targets.is_empty() {
            self.metrics.count_refusal("unroutable");
            warn!(
                trunk = trunk.id(),
                "No route for the call (no carrier up, or an inbound target not resolved): 503."
            );
            refuse(self, 503, "Service Unavailable", &[], Disposition::Failed);
            return;
        }
        let fraud_permit = match self.fraud.check(
            trunk,
            direction,
            &parties.callee,
            parties.emergency,
        ) {
            crate::fraud::Verdict::Admit(permit) => permit,
            crate::fraud::Verdict::Refuse { reason, label } => {
                self.metrics.count_refusal(label);
                info!(trunk = trunk.id(), callee = %parties.callee, %reason, "Toll-fraud guard: call refused (403).");
                let host = self.listener_for(&flow).advertised();
                // The reason may hold an operator's text: no quote or line break
                // may leave the Warning's quoted string.
                let text: String = reason
                    .chars()
                    .filter(|c| !c.is_control() && *c != '"')
                    .collect();
                let warning = format!("399 {host} \"{text}\"");
                refuse(
                    self,
                    403,
                    "Forbidden",
                    &[("Warning", warning)],
                    Disposition::RejectedPolicy,
                );
                return;
            }
        };
        let site_limit = site_id
            .as_deref()
            .and_then(|s| trunk.site(s))
            .map(|s| (s.id(), s.channels()));
        let admission =
            self.channels
                .admit(trunk.id(), channels_in_force, site_limit, parties.emergency);
        let (permit, in_progress) = match admission {
            Admission::Admitted {
                permit,
                in_progress,
            } => (permit, in_progress),
            Admission::Refused {
                scope,
                limit,
                in_progress,
            } => {
                self.metrics.count_refusal("no_channel");
                let (code, reason) = self.config.refusal_code.status();
                let what = match scope {
                    "site" => format!(
                        "site {} of trunk {}",
                        site_id.as_deref().unwrap_or_default(),
                        trunk.id()
                    ),
                    _ => format!("trunk {}", trunk.id()),
                };
                let host = self.listener_for(&flow).advertised();
                let warning = format!("399 {host} \"{what}: all {limit} channels in use\"");
                info!(trunk = trunk.id(), scope, limit, in_progress, callee = %parties.callee, code, "No free channel: call refused.");
                let mut draft = draft;
                draft.calls_in_progress = in_progress;
                let extra = [("Warning", warning)];
                self.reply(&key, code, reason, &extra);
                let record =
                    draft.finish(Disposition::RejectedNoChannel, Some(code), None, now_ms());
                self.emit(record);
                return;
            }
        };
        let mut draft = draft;
        draft.calls_in_progress = in_progress;
        let id = self.next_call;
        self.next_call += 1;
        let span = info_span!("call", call_id = %invite.call_id(), trunk = trunk.id());
        {
            let _e = span.enter();
            info!(direction = ?direction, caller = %parties.caller, callee = %parties.callee, emergency = parties.emergency, in_progress, channels = channels_in_force, "Call admitted.");
        }
        let upstream_routes = invite
            .headers_named("Record-Route")
            .map(str::to_string)
            .collect();
        let call = Call {
            call_id: invite.call_id().to_string(),
            caller_tag: invite.from_tag().unwrap_or_default().to_string(),
            callee_tag: None,
            draft,
            permit: Some(permit),
            state: CallState::Routing,
            cancelled: false,
            answer_ms: None,
            server: key.clone(),
            client: None,
            caller_from: invite.header("From").unwrap_or_default().to_string(),
            caller_to: invite.header("To").unwrap_or_default().to_string(),
            callee_to: None,
            caller_contact: invite
                .header("Contact")
                .and_then(NameAddr::parse)
                .map(|n| n.uri.to_string()),
            callee_contact: None,
            caller_cseq: invite.cseq().map(|(n, _)| n).unwrap_or_default(),
            callee_cseq: 0,
            upstream_routes,
            downstream_routes: Vec::new(),
            invite,
            targets,
            last_failure: None,
            timer_c_gen: 0,
            end_reason: None,
            caller_flow: flow,
            callee_flow: None,
            span,
            fraud: Some(fraud_permit),
        };
        self.calls_by_call_id
            .entry(call.call_id.clone())
            .or_default()
            .push(id);
        self.calls.insert(id, call);
        if let Some(tx) = self.servers.get_mut(&key) {
            tx.call = Some(id);
        }
        self.forward_invite(id);
    }

    /// Sends the call's INVITE to its next target; when none is left, the last failure
    /// (or 503) goes upstream and the call ends.
    fn forward_invite(&mut self, id: u64) {
        loop {
            let Some(call) = self.calls.get_mut(&id) else {
                return;
            };
            let Some(target) = call.targets.pop_front() else {
                let (code, response) = match call.last_failure.take() {
                    Some(r) => (r.status().unwrap_or(503), Some(r)),
                    None => (503, None),
                };
                let server = call.server.clone();
                match response {
                    Some(r) => self.respond(&server, r),
                    None => self.reply(&server, 503, "Service Unavailable", &[]),
                }
                let cancelled = self.calls.get(&id).is_some_and(|c| c.cancelled);
                self.end_call(id, disposition_for(code, cancelled), Some(code));
                return;
            };
            let Some(flow) = self.flow_for_target(&target) else {
                warn!(target = %target.name, address = %target.address, "No listener can reach this target.");
                continue;
            };
            let upstream_listener = self.listener_for(&self.calls[&id].caller_flow);
            let downstream_listener = self.listener_for(&flow);
            let branch = self.new_branch();
            let call = self.calls.get_mut(&id).expect("checked above");
            let mut request = call.invite.clone();
            while request
                .header("Route")
                .is_some_and(|r| own_route_check(&self.own_addresses, r))
            {
                request.pop_front("Route");
            }
            let max_forwards = request
                .header("Max-Forwards")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(70);
            request.set_header("Max-Forwards", max_forwards.saturating_sub(1).to_string());
            if request.header("Route").is_none() {
                if let StartLine::Request { uri, .. } = &mut request.start {
                    *uri = target.request_uri(uri);
                }
            }
            if upstream_listener != downstream_listener {
                request.push_front("Record-Route", Self::record_route_value(&upstream_listener));
            }
            request.push_front(
                "Record-Route",
                Self::record_route_value(&downstream_listener),
            );
            request.push_front(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    flow.transport().via_name(),
                    downstream_listener.advertised()
                ),
            );
            let bytes = request.to_bytes();
            let key = ClientKey {
                branch,
                method: "INVITE".into(),
            };
            call.client = Some(key.clone());
            call.callee_flow = Some(flow.clone());
            call.timer_c_gen += 1;
            let timer_c_gen = call.timer_c_gen;
            let server = call.server.clone();
            let span = call.span.clone();
            let _e = span.enter();
            debug!(target = %target.name, address = %target.address, "Forwarding the INVITE.");
            self.clients.insert(
                key.clone(),
                ClientTx {
                    request: trimmed(&request, CLIENT_KEEPS, true),
                    bytes: bytes.clone(),
                    flow: flow.clone(),
                    state: ClientState::Calling,
                    invite: true,
                    purpose: Purpose::Relay(server),
                    call: Some(id),
                    retransmit: self.config.timers.t1,
                    gen: 0,
                },
            );
            self.send(&flow, &bytes);
            let t = self.config.timers;
            if flow.is_unreliable() {
                self.schedule(t.t1, TimerKind::ClientRetransmit(key.clone(), 0));
            }
            self.schedule(t.t1 * 64, TimerKind::ClientExpire(key, 0));
            self.schedule(t.timer_c, TimerKind::TimerC(id, timer_c_gen));
            return;
        }
    }

    fn on_cancel(&mut self, cancel_key: &ServerKey) {
        let invite_key = ServerKey {
            method: "INVITE".into(),
            ..cancel_key.clone()
        };
        let Some(invite_tx) = self.servers.get(&invite_key) else {
            self.reply(cancel_key, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        let call_id = invite_tx.call;
        let pending = invite_tx.state == ServerState::Proceeding;
        self.reply(cancel_key, 200, "OK", &[]);
        let Some(id) = call_id.filter(|_| pending) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state != CallState::Routing || call.cancelled {
            return;
        }
        call.cancelled = true;
        call.targets.clear();
        let client = call.client.clone();
        let span = call.span.clone();
        let _e = span.enter();
        info!("CANCEL from the caller; cancelling downstream.");
        if let Some(client) = client {
            self.send_cancel(&client);
        }
        self.schedule(self.config.timers.t1 * 64, TimerKind::CancelGuard(id));
    }

    /// CANCEL for the INVITE client transaction `key` (same branch, RFC 3261 §9.1).
    fn send_cancel(&mut self, key: &ClientKey) {
        let Some(tx) = self.clients.get(key) else {
            return;
        };
        if !matches!(tx.state, ClientState::Calling | ClientState::Proceeding) {
            return;
        }
        let invite = &tx.request;
        let mut headers = Vec::new();
        for h in &invite.headers {
            if matches!(&*h.name, "Call-ID" | "From" | "To" | "Route") {
                headers.push(h.clone());
            }
        }
        let top_via = invite.header("Via").unwrap_or_default().to_string();
        let cseq = invite.cseq().map(|(n, _)| n).unwrap_or(1);
        let mut cancel = Message {
            start: StartLine::Request {
                method: Method::Cancel,
                uri: invite.request_uri().unwrap_or_default().to_string(),
            },
            headers,
            body: Vec::new(),
        };
        cancel.push_front("Via", top_via);
        cancel.set_header("CSeq", format!("{cseq} CANCEL"));
        cancel.set_header("Max-Forwards", "70");
        let flow = tx.flow.clone();
        let cancel_key = ClientKey {
            branch: key.branch.clone(),
            method: "CANCEL".into(),
        };
        self.start_own_request(cancel_key, cancel, flow, None);
    }

    /// Sends a request of the edge's own as a non-INVITE client transaction whose
    /// responses are absorbed.
    fn start_own_request(
        &mut self,
        key: ClientKey,
        request: Message,
        flow: Flow,
        call: Option<u64>,
    ) {
        let bytes = request.to_bytes();
        self.send(&flow, &bytes);
        let t = self.config.timers;
        let unreliable = flow.is_unreliable();
        self.clients.insert(
            key.clone(),
            ClientTx {
                request: trimmed(&request, CLIENT_KEEPS, true),
                bytes,
                flow,
                state: ClientState::Calling,
                invite: false,
                purpose: Purpose::Own,
                call,
                retransmit: t.t1,
                gen: 0,
            },
        );
        if unreliable {
            self.schedule(t.t1, TimerKind::ClientRetransmit(key.clone(), 0));
        }
        self.schedule(t.t1 * 64, TimerKind::ClientExpire(key, 0));
    }

    /// Which call an in-dialog message belongs to, and whether it comes from the caller.
    fn find_dialog(&self, message: &Message) -> Option<(u64, bool)> {
        let ids = self.calls_by_call_id.get(message.call_id())?;
        let from_tag = message.from_tag().unwrap_or_default();
        for id in ids {
            let call = &self.calls[id];
            if call.caller_tag == from_tag {
                return Some((*id, true));
            }
            if call.callee_tag.as_deref() == Some(from_tag) {
                return Some((*id, false));
            }
        }
        None
    }

    /// The request as forwarded toward the other side: our Route entries removed,
    /// Max-Forwards decremented, our Via on top.
    fn prepare_forward(&mut self, mut request: Message, flow: &Flow) -> (Message, String) {
        while request
            .header("Route")
            .is_some_and(|r| own_route_check(&self.own_addresses, r))
        {
            request.pop_front("Route");
        }
        let max_forwards = request
            .header("Max-Forwards")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(70);
        request.set_header("Max-Forwards", max_forwards.saturating_sub(1).to_string());
        let listener = self.listener_for(flow);
        let branch = self.new_branch();
        request.push_front(
            "Via",
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                flow.transport().via_name(),
                listener.advertised()
            ),
        );
        (request, branch)
    }

    fn forward_ack(&mut self, _flow: Flow, ack: Message) {
        let Some((id, from_caller)) = self.find_dialog(&ack) else {
            debug!("ACK for no known dialog: dropped.");
            return;
        };
        let call = self.calls.get_mut(&id).expect("found above");
        let _e = call.span.clone().entered();
        if from_caller && call.state == CallState::Answered {
            call.state = CallState::Confirmed;
        }
        let destination = if from_caller {
            call.callee_flow.clone()
        } else {
            Some(call.caller_flow.clone())
        };
        let Some(destination) = destination else {
            return;
        };
        let (request, _) = self.prepare_forward(ack, &destination);
        let bytes = request.to_bytes();
        self.send(&destination, &bytes);
    }

    fn on_in_dialog(&mut self, flow: Flow, request: Message, key: ServerKey) {
        let _ = flow;
        let Some((id, from_caller)) = self.find_dialog(&request) else {
            info!(
                method = request.method().as_str(),
                "In-dialog request for no known call: 481."
            );
            self.reply(&key, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        let method = request.method();
        let call = self.calls.get_mut(&id).expect("found above");
        let span = call.span.clone();
        let _e = span.enter();
        let cseq = request.cseq().map(|(n, _)| n).unwrap_or_default();
        let destination = if from_caller {
            call.caller_cseq = call.caller_cseq.max(cseq);
            call.callee_flow.clone()
        } else {
            call.callee_cseq = call.callee_cseq.max(cseq);
            Some(call.caller_flow.clone())
        };
        let Some(destination) = destination else {
            self.reply(&key, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        if let Some(tx) = self.servers.get_mut(&key) {
            tx.call = Some(id);
        }
        let (forwarded, branch) = self.prepare_forward(request, &destination);
        let bytes = forwarded.to_bytes();
        let invite = method == Method::Invite;
        let client_key = ClientKey {
            branch,
            method: method.as_str().to_string(),
        };
        let t = self.config.timers;
        let unreliable = destination.is_unreliable();
        self.clients.insert(
            client_key.clone(),
            ClientTx {
                request: trimmed(&forwarded, CLIENT_KEEPS, true),
                bytes: bytes.clone(),
                flow: destination.clone(),
                state: ClientState::Calling,
                invite,
                purpose: Purpose::Relay(key),
                call: Some(id),
                retransmit: t.t1,
                gen: 0,
            },
        );
        self.send(&destination, &bytes);
        if unreliable {
            self.schedule(t.t1, TimerKind::ClientRetransmit(client_key.clone(), 0));
        }
        self.schedule(t.t1 * 64, TimerKind::ClientExpire(client_key, 0));
        if method == Method::Bye {
            info!(
                from = if from_caller { "caller" } else { "callee" },
                "BYE: call ended."
            );
            let answered = self.calls.get(&id).is_some_and(|c| c.answer_ms.is_some());
            if answered {
                self.end_call(id, Disposition::Answered, Some(200));
            } else {
                self.end_call(id, Disposition::Cancelled, None);
            }
        }
    }

    // ---- responses ----------------------------------------------------------------

    fn on_response(&mut self, _flow: Flow, response: Message) {
        let Some(via) = response.top_via() else {
            return;
        };
        let Some(branch) = via.branch() else { return };
        let method = response.method();
        let key = ClientKey {
            branch: branch.to_string(),
            method: method.as_str().to_string(),
        };
        let Some(code) = response.status() else {
            return;
        };
        let span = info_span!("sip", call_id = %response.call_id());
        let _enter = span.enter();
        let Some(tx) = self.clients.get_mut(&key) else {
            debug!(code, "Response for no client transaction: dropped.");
            return;
        };
        let t = self.config.timers;
        let unreliable = tx.flow.is_unreliable();
        let purpose = tx.purpose.clone();
        let call = tx.call;
        if tx.invite {
            if code < 200 {
                if tx.state == ClientState::Calling {
                    tx.state = ClientState::Proceeding;
                }
                if code > 100 && tx.state == ClientState::Proceeding {
                    if let Some(id) = call {
                        if let Some(c) = self.calls.get_mut(&id) {
                            if c.state == CallState::Routing && c.client.as_ref() == Some(&key) {
                                c.timer_c_gen += 1;
                                let gen = c.timer_c_gen;
                                self.schedule(t.timer_c, TimerKind::TimerC(id, gen));
                            }
                        }
                    }
                    if let Purpose::Relay(server) = purpose {
                        self.relay(&server, response);
                    }
                }
                return;
            }
            if code < 300 {
                let first = matches!(tx.state, ClientState::Calling | ClientState::Proceeding);
                if first {
                    tx.state = ClientState::Accepted;
                    tx.bytes = Vec::new();
                    tx.gen += 1;
                    let gen = tx.gen;
                    self.schedule(t.t1 * 64, TimerKind::ClientExpire(key.clone(), gen));
                }
                let Purpose::Relay(server) = purpose else {
                    return;
                };
                let live_call = call.filter(|id| {
                    self.calls.get(id).is_some_and(|c| {
                        c.client.as_ref() == Some(&key) || c.state != CallState::Routing
                    })
                });
                match live_call {
                    Some(id) => {
                        if first && self.calls[&id].state == CallState::Routing {
                            self.on_answered(id, &response);
                        }
                        self.relay(&server, response);
                    }
                    None if self
                        .servers
                        .get(&server)
                        .is_some_and(|s| !s.invite || s.call.is_none()) =>
                    {
                        // A re-INVITE's 2xx, or an INVITE whose call is gone: relay
                        // only when the call still exists.
                        if call.is_some_and(|id| self.calls.contains_key(&id)) {
                            self.relay(&server, response);
                        }
                    }
                    None => {
                        // The call ended (CANCEL, Timer C, shutdown) before this 2xx:
                        // confirm and end the dialog downstream.
                        if first {
                            info!("2xx after the call ended: ACK and BYE downstream.");
                            self.kill_late_answer(&key, &response);
                        }
                    }
                }
                return;
            }
            // Non-2xx final: ACK hop by hop, every time it arrives.
            self.send_ack_for_failure(&key, &response);
            let Some(tx) = self.clients.get_mut(&key) else {
                return;
            };
            if !matches!(tx.state, ClientState::Calling | ClientState::Proceeding) {
                return;
            }
            tx.state = ClientState::Completed;
            tx.bytes = Vec::new();
            tx.gen += 1;
            let gen = tx.gen;
            let after = if unreliable {
                Duration::from_secs(32)
            } else {
                Duration::ZERO
            };
            self.schedule(after, TimerKind::ClientExpire(key.clone(), gen));
            if let Purpose::Relay(server) = purpose {
                self.on_invite_failure(&key, call, server, response);
            }
            return;
        }
        // Non-INVITE.
        if code < 200 {
            if tx.state == ClientState::Calling {
                tx.state = ClientState::Proceeding;
            }
            return;
        }
        if matches!(tx.state, ClientState::Completed | ClientState::Accepted) {
            return;
        }
        tx.state = ClientState::Completed;
        tx.bytes = Vec::new();
        tx.request.headers.clear();
        tx.gen += 1;
        let gen = tx.gen;
        let after = if unreliable { t.t4 } else { Duration::ZERO };
        self.schedule(after, TimerKind::ClientExpire(key, gen));
        match purpose {
            Purpose::Relay(server) => self.relay(&server, response),
            Purpose::Keepalive(carrier) => self.keepalive_answered(carrier),
            Purpose::Own => {}
        }
    }

    /// Sends a downstream response upstream: our Via removed.
    fn relay(&mut self, server: &ServerKey, mut response: Message) {
        response.pop_front("Via");
        if let Some(tx) = self.servers.get(server) {
            // The upstream Via list as we received it: downstream peers that do not
            // copy every Via (or rewrite them) cannot misroute the answer.
            response.remove_headers("Via");
            let vias: Vec<crate::message::Header> = tx
                .request
                .headers
                .iter()
                .filter(|h| h.name == "Via")
                .cloned()
                .collect();
            response.headers.splice(0..0, vias);
            self.respond(server, response);
        } else if let Some(address) = response.top_via().and_then(|v| v.response_address()) {
            // The server transaction is gone (2xx retransmission late): per Via.
            let transport = match response.top_via().map(|v| v.transport) {
                Some(t) if t == "TCP" => Transport::Tcp,
                Some(t) if t == "TLS" => Transport::Tls,
                _ => Transport::Udp,
            };
            if let Some(flow) = self.flow_to(address, transport) {
                let bytes = response.to_bytes();
                self.send(&flow, &bytes);
            }
        }
    }

    fn send_ack_for_failure(&mut self, key: &ClientKey, response: &Message) {
        let Some(tx) = self.clients.get(key) else {
            return;
        };
        let invite = &tx.request;
        let mut headers = Vec::new();
        for h in &invite.headers {
            if matches!(&*h.name, "Call-ID" | "From" | "Route") {
                headers.push(h.clone());
            }
        }
        let mut ack = Message {
            start: StartLine::Request {
                method: Method::Ack,
                uri: invite.request_uri().unwrap_or_default().to_string(),
            },
            headers,
            body: Vec::new(),
        };
        ack.push_front("Via", invite.header("Via").unwrap_or_default().to_string());
        ack.set_header("To", response.header("To").unwrap_or_default().to_string());
        let cseq = invite.cseq().map(|(n, _)| n).unwrap_or(1);
        ack.set_header("CSeq", format!("{cseq} ACK"));
        ack.set_header("Max-Forwards", "70");
        let (flow, bytes) = (tx.flow.clone(), ack.to_bytes());
        self.send(&flow, &bytes);
    }

    fn on_invite_failure(
        &mut self,
        key: &ClientKey,
        call: Option<u64>,
        server: ServerKey,
        response: Message,
    ) {
        let code = response.status().unwrap_or(500);
        let Some(id) = call else {
            self.relay(&server, response);
            return;
        };
        let Some(c) = self.calls.get_mut(&id) else {
            return; // the call already ended: the ACK was all that was owed
        };
        if c.client.as_ref() != Some(key) {
            // A re-INVITE failed: relay, the call goes on.
            if c.server != server {
                self.relay(&server, response);
            }
            return;
        }
        let span = c.span.clone();
        let _e = span.enter();
        let failover = !c.cancelled && matches!(code, 503 | 408) && !c.targets.is_empty();
        if failover {
            info!(code, "Carrier failed; trying the next one.");
            let mut relayed = response;
            relayed.pop_front("Via");
            c.last_failure = Some(relayed);
            self.forward_invite(id);
            return;
        }
        let cancelled = c.cancelled;
        info!(code, "Call failed downstream.");
        self.relay(&server, response);
        self.end_call(id, disposition_for(code, cancelled), Some(code));
    }

    /// A transaction failed without a response (timeout, transport error).
    fn client_failed(&mut self, key: &ClientKey, code: u16, reason: &str) {
        let Some(tx) = self.clients.get_mut(key) else {
            return;
        };
        tx.state = ClientState::Completed;
        tx.gen += 1;
        let (purpose, call, invite) = (tx.purpose.clone(), tx.call, tx.invite);
        let request = tx.request.clone();
        self.clients.remove(key);
        let Purpose::Relay(server) = purpose else {
            return;
        };
        let mut response =
            local_response(&request, code, reason, None, &self.config.user_agent, &[]);
        // `local_response` copied our Via too; the relay pops it like a real answer.
        if invite {
            let _ = &mut response;
            self.on_invite_failure(key, call, server, response);
        } else {
            self.relay(&server, response);
        }
    }

    fn on_answered(&mut self, id: u64, response: &Message) {
        let t = self.config.timers;
        let max = self.config.max_call_duration;
        let own = self.own_addresses.clone();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let _e = call.span.clone().entered();
        call.state = CallState::Answered;
        // No failover after an answer: the INVITE copy is not needed any more.
        call.invite = Message {
            start: call.invite.start.clone(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        call.answer_ms = Some(now_ms());
        call.callee_tag = response.to_tag().map(str::to_string);
        call.callee_to = response.header("To").map(str::to_string);
        call.callee_contact = response
            .header("Contact")
            .and_then(NameAddr::parse)
            .map(|n| n.uri.to_string());
        let record_route: Vec<&str> = response.headers_named("Record-Route").collect();
        let before_ours = record_route
            .iter()
            .take_while(|r| !own_route_check(&own, r))
            .map(|r| r.to_string());
        call.downstream_routes = before_ours.collect::<Vec<_>>().into_iter().rev().collect();
        info!("Call answered.");
        self.schedule(t.t1 * 64, TimerKind::AckWait(id));
        self.schedule(max, TimerKind::MaxDuration(id));
    }

    /// ACK and BYE for a 2xx that arrived after its call ended.
    fn kill_late_answer(&mut self, key: &ClientKey, response: &Message) {
        let Some(tx) = self.clients.get(key) else {
            return;
        };
        let invite = tx.request.clone();
        let flow = tx.flow.clone();
        let contact = response
            .header("Contact")
            .and_then(NameAddr::parse)
            .map(|n| n.uri.to_string())
            .unwrap_or_else(|| invite.request_uri().unwrap_or_default().to_string());
        let cseq = invite.cseq().map(|(n, _)| n).unwrap_or(1);
        let routes: Vec<String> = response
            .headers_named("Record-Route")
            .take_while(|r| !own_route_check(&self.own_addresses, r))
            .map(str::to_string)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        for (method, number) in [(Method::Ack, cseq), (Method::Bye, cseq + 1)] {
            let mut request = Message {
                start: StartLine::Request {
                    method: method.clone(),
                    uri: contact.clone(),
                },
                headers: Vec::new(),
                body: Vec::new(),
            };
            let branch = self.new_branch();
            let listener = self.listener_for(&flow);
            request.set_header(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    flow.transport().via_name(),
                    listener.advertised()
                ),
            );
            for route in &routes {
                request.headers.push(crate::message::Header {
                    name: "Route".into(),
                    value: route.clone(),
                });
            }
            request.set_header("Max-Forwards", "70");
            request.set_header("From", invite.header("From").unwrap_or_default());
            request.set_header("To", response.header("To").unwrap_or_default());
            request.set_header("Call-ID", invite.call_id());
            request.set_header("CSeq", format!("{number} {}", method.as_str()));
            if method == Method::Ack {
                let bytes = request.to_bytes();
                self.send(&flow, &bytes);
            } else {
                let key = ClientKey {
                    branch,
                    method: "BYE".into(),
                };
                self.start_own_request(key, request, flow.clone(), None);
            }
        }
    }

    /// Ends a call that has not been answered: CANCEL downstream, `code` upstream.
    fn abandon_routing(&mut self, id: u64, code: u16, reason: &str, disposition: Disposition) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.targets.clear();
        let (client, server) = (call.client.clone(), call.server.clone());
        if let Some(client) = client {
            self.send_cancel(&client);
        }
        self.reply(&server, code, reason, &[]);
        self.end_call(id, disposition, Some(code));
    }

    /// Records why the edge is ending call `id` (the first reason given stays).
    fn set_end_reason(&mut self, id: u64, why: &str) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.end_reason.get_or_insert_with(|| why.to_string());
        }
    }

    /// Ends a call at the edge's initiative (maximum duration, shutdown, operator);
    /// `why` becomes the record's `end_reason`.
    fn terminate(&mut self, id: u64, why: &str) {
        self.set_end_reason(id, why);
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let _e = call.span.clone().entered();
        match call.state {
            CallState::Routing => {
                info!(why, "Ending a call that was not answered.");
                self.abandon_routing(id, 503, "Service Unavailable", Disposition::Failed);
            }
            CallState::Answered | CallState::Confirmed => {
                self.bye_both_sides(id);
                self.end_call(id, Disposition::Answered, Some(200));
            }
        }
    }

    /// BYE to both sides of an answered call, each as the other side would send it.
    fn bye_both_sides(&mut self, id: u64) {
        self.send_bye(id, true);
        self.send_bye(id, false);
    }

    fn send_bye(&mut self, id: u64, toward_callee: bool) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let (flow, uri, routes, from, to, cseq) = if toward_callee {
            let Some(flow) = call.callee_flow.clone() else {
                return;
            };
            call.caller_cseq += 1;
            (
                flow,
                call.callee_contact.clone(),
                call.downstream_routes.clone(),
                call.caller_from.clone(),
                call.callee_to
                    .clone()
                    .unwrap_or_else(|| call.caller_to.clone()),
                call.caller_cseq,
            )
        } else {
            call.callee_cseq += 1;
            (
                call.caller_flow.clone(),
                call.caller_contact.clone(),
                call.upstream_routes.clone(),
                call.callee_to
                    .clone()
                    .unwrap_or_else(|| call.caller_to.clone()),
                call.caller_from.clone(),
                call.callee_cseq,
            )
        };
        let call_id = call.call_id.clone();
        let uri = uri.unwrap_or_else(|| {
            NameAddr::parse(&to)
                .map(|n| n.uri.to_string())
                .unwrap_or_default()
        });
        let branch = self.new_branch();
        let listener = self.listener_for(&flow);
        let mut bye = Message {
            start: StartLine::Request {
                method: Method::Bye,
                uri,
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        bye.set_header(
            "Via",
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                flow.transport().via_name(),
                listener.advertised()
            ),
        );
        for route in routes {
            bye.headers.push(crate::message::Header {
                name: "Route".into(),
                value: route,
            });
        }
        bye.set_header("Max-Forwards", "70");
        bye.set_header("From", from);
        bye.set_header("To", to);
        bye.set_header("Call-ID", call_id);
        bye.set_header("CSeq", format!("{cseq} BYE"));
        bye.set_header("Reason", "SIP;cause=200;text=\"Call ended by the edge\"");
        bye.set_header("Server", self.config.user_agent.clone());
        let key = ClientKey {
            branch,
            method: "BYE".into(),
        };
        self.start_own_request(key, bye, flow, None);
    }

    fn on_conn_closed(&mut self, conn: ConnId, reason: &str) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if self.conn_by_peer.get(&c.peer) == Some(&conn) {
            self.conn_by_peer.remove(&c.peer);
        }
        self.access.certificates.remove(&conn);
        debug!(peer = %c.peer, reason, "TCP connection closed.");
        // Pending client transactions over it fail as a transport error.
        let failed: Vec<ClientKey> = self
            .clients
            .iter()
            .filter(|(_, tx)| {
                tx.flow.conn() == Some(conn)
                    && matches!(tx.state, ClientState::Calling | ClientState::Proceeding)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in failed {
            self.client_failed(&key, 503, "Service Unavailable");
        }
        // Calls with a leg over it end; the other side gets a BYE or a CANCEL.
        let on_conn = |flow: &Flow| flow.conn() == Some(conn);
        let affected: Vec<(u64, bool)> = self
            .calls
            .iter()
            .filter_map(|(id, call)| {
                if on_conn(&call.caller_flow) {
                    Some((*id, true))
                } else if call.callee_flow.as_ref().is_some_and(on_conn) {
                    Some((*id, false))
                } else {
                    None
                }
            })
            .collect();
        for (id, caller_side) in affected {
            self.set_end_reason(id, end_reason::TRANSPORT_LOST);
            let Some(call) = self.calls.get(&id) else {
                continue;
            };
            let _e = call.span.clone().entered();
            warn!(peer = %c.peer, reason, side = if caller_side { "caller" } else { "callee" }, "TCP connection lost mid-call; ending the call.");
            match call.state {
                CallState::Routing if caller_side => {
                    if let Some(client) = call.client.clone() {
                        self.send_cancel(&client);
                    }
                    self.end_call(id, Disposition::Cancelled, None);
                }
                CallState::Routing => {} // handled as a failed client transaction
                CallState::Answered | CallState::Confirmed => {
                    self.send_bye(id, caller_side);
                    self.end_call(id, Disposition::Answered, Some(200));
                }
            }
        }
    }

    /// Removes a call, releases its channel and writes its record: the one place a
    /// call ends.
    fn end_call(&mut self, id: u64, disposition: Disposition, final_status: Option<u16>) {
        let Some(mut call) = self.calls.remove(&id) else {
            return;
        };
        if let Some(ids) = self.calls_by_call_id.get_mut(&call.call_id) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.calls_by_call_id.remove(&call.call_id);
            }
        }
        drop(call.permit.take());
        let answer_ms = if disposition == Disposition::Answered {
            call.answer_ms
        } else {
            None
        };
        let mut record = call
            .draft
            .finish(disposition, final_status, answer_ms, now_ms());
        record.end_reason = call.end_reason.take();
        let _e = call.span.enter();
        info!(
            disposition = disposition.as_str(),
            final_status,
            billable_ms = record.billable_ms,
            end_reason = record.end_reason.as_deref(),
            "Call ended; channel released."
        );
        self.emit(record);
    }

    fn emit(&mut self, record: CallRecord) {
        self.metrics.count_call(record.disposition);
        self.metrics
            .records_queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.records.send(record).is_err() {
            warn!("The record task is gone; a call record could not be queued.");
        }
    }
}

/// Headers a server transaction needs to answer on its own and relay answers.
const SERVER_KEEPS: &[&str] = &["Via", "From", "To", "Call-ID", "CSeq"];
/// Headers a client transaction needs for CANCEL, ACK and synthesized answers.
const CLIENT_KEEPS: &[&str] = &["Via", "From", "To", "Call-ID", "CSeq", "Route"];

/// A copy of `message` with only the `keep` headers (only the top Via when
/// `top_via_only`) and no body: what a transaction must remember, not more.
fn trimmed(message: &Message, keep: &[&str], top_via_only: bool) -> Message {
    let mut seen_via = false;
    let headers = message
        .headers
        .iter()
        .filter(|h| {
            if !keep.contains(&&*h.name) {
                return false;
            }
            if h.name == "Via" && top_via_only {
                if seen_via {
                    return false;
                }
                seen_via = true;
            }
            true
        })
        .cloned()
        .collect();
    Message {
        start: message.start.clone(),
        headers,
        body: Vec::new(),
    }
}

fn own_route_check(own: &[(String, u16)], value: &str) -> bool {
    let Some(name_addr) = NameAddr::parse(value) else {
        return false;
    };
    let Some((host, port)) = uri_host_port(name_addr.uri) else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let port = port.unwrap_or(5060);
    own.iter().any(|(h, p)| *h == host && *p == port)
}
