//! The SIP edge: a dialog-stateful proxy between customers' PBXs / Teams SBCs and the
//! carrier interconnects, that admits a call only while its trunk has a free channel
//! (emergency calls always) and writes one call record per call attempt.
//!
//! It handles signalling only: SDP passes through untouched and media flows between
//! the endpoints. It never prices anything.
//!
//! # Design
//! - **One core task owns all state** ([`core`]): transactions, calls (dialogs),
//!   channel counts and timers (a binary heap of deadlines polled with
//!   `sleep_until`). Transport tasks ([`transport`], [`tls`]) read UDP sockets and
//!   TCP and TLS connections, frame ([`framing`]) and parse ([`message`]) messages, and hand them
//!   to the core through one bounded queue; the core sends through the sockets and the
//!   connections' writer queues. Admission is therefore atomic by construction: two
//!   INVITEs with one free channel are decided one after the other, exactly one is
//!   admitted. A channel is an owned permit ([`channels`]) that the call holds and
//!   drops exactly once when it ends.
//! - **Parsing with `rsip`, transaction layer written here.** `rsip` tokenizes
//!   messages; the proxy keeps header values as text and reads the few grammars it
//!   needs (Via, name-addr tags, URIs, CSeq). The RFC 3261 §17 server and client
//!   transactions and the §16 proxy rules are implemented in [`core`]: `rsipstack`,
//!   the transaction crate built on `rsip`, is shaped for user agents (it owns
//!   dialogs as a UAC/UAS and runs a task per transaction), whereas a proxy needs
//!   paired server/client transactions, CANCEL matching across them, 2xx
//!   retransmissions forwarded statelessly (RFC 6026), Timer C and hop-by-hop ACK of
//!   failures, all decided next to the channel counts without locks or cross-task
//!   messages.
//! - **Identification**: a request from a configured carrier address is an inbound
//!   call, routed by its Request-URI number through a [`dids::DidDirectory`] (the
//!   number inventory of `number-portability`, `<provisioning>/numbers/`, after the
//!   configuration's `[inbound_numbers]`) to the trunk's inbound target; a request from a provisioned source address is an
//!   outbound call of that trunk (and site), sent to the carriers in order with
//!   failover on 503, 408 or a transport error. Anything else is refused (403 unknown
//!   source, 404 unknown number): the edge is never an open relay; in-dialog requests
//!   must belong to a call it knows (481).
//! - **TLS with rustls** ([`tls`]): a TLS listener (`transport = "tls"`, port 5061 by
//!   custom) with the certificate and key from PEM files, re-read on SIGHUP without
//!   touching established connections; TLS 1.3 and 1.2 only, `ring` cipher suites
//!   (ECDHE with AES-GCM or ChaCha20-Poly1305). A client certificate is optional at
//!   the handshake but must chain to `[tls] trusted_roots` when presented; outbound
//!   TLS (carriers, Teams SBCs) verifies the peer's name against the same roots,
//!   presents the edge's certificate and keeps one connection per peer address for
//!   all calls (RFC 5923-style reuse). Via, Record-Route and Request-URI carry the
//!   TLS listener's advertised FQDN, the SBC's name and `transport=tls`.
//! - **Who the caller is** ([`core`]'s access module): a TLS client certificate whose
//!   subject alternative name is a trunk's `tls_fqdn` identifies it; otherwise the
//!   source address does, with mutual TLS enforced for trunks that ask for it (403
//!   and a `sip_edge_tls_refusals_total` reason otherwise) and a digest challenge
//!   ([`auth`], 407, RFC 8760 SHA-256 and MD5, nonces that expire and cannot be
//!   replayed) for trunks with credentials. A PBX that REGISTERs ([`registrar`],
//!   401 challenge, expiry bounded by `[auth]`) gets its trunk's inbound calls at
//!   the registered contact, over the flow its REGISTER came through.
//! - **Carrier health** ([`peers`]): with `[keepalive]`, OPTIONS to every carrier each
//!   interval; a carrier that misses `down_after` in a row is skipped for routing until
//!   it answers (`sip_edge_peer_up{peer}`).
//! - **Names of next hops** ([`resolve`]): `[hosts]` first, then the system resolver in
//!   background tasks, so the core never waits for DNS.
//! - **Defence in front of the parser** ([`guard`]): per source IP, bans (packets
//!   dropped unread), a token bucket on messages, open transactions counted by the
//!   core, scanner User-Agents and size limits; carriers, trunk addresses and inbound
//!   targets are known sources and never banned. Banned IPv4 sources also go into a
//!   BPF filter on the UDP sockets ([`socket_filter`]): the kernel drops their flood.
//! - **Toll-fraud guard** ([`fraud`]), owned by the core and asked before channel
//!   admission: blocks (trunk or class, kept on disk), anomaly detection against the
//!   trunk's own baseline, provisioned caps per destination class.
//! - **Admin API** ([`admin`]): hyper on its own listener; it reads and changes the
//!   core's state only through commands on the core's queue
//!   ([`core::Command::Admin`]).
//! - **Records** ([`records`]) are built when a call ends and queued to a writer task
//!   that submits them to the `cdr` no-loss writer and awaits each acknowledgement in
//!   its own task: the SIP path never waits for ClickHouse or the disk.
//!
//! # Decisions where the issue is silent
//! - Records: a 2xx never ACKed ends as `failed` with final status 200 and no answer
//!   time (no session was established, nothing is billable); a call ended by a TCP
//!   connection loss or by the edge (maximum duration, drain deadline) after its
//!   answer is `answered`, ended then; a call refused while draining is
//!   `rejected_policy` (503); a call with no route (no carrier up, an inbound target
//!   whose name is not resolved yet, a TLS connection that cannot be opened) is
//!   `failed` (503); unknown sources and unknown numbers get no record (no trunk is
//!   known), a counter and a log line.
//! - The maximum call duration counts from the answer.
//! - In-dialog requests are sent over the flow the dialog was set up through (the
//!   caller's connection or address, the address the INVITE went to), not resolved
//!   from the Request-URI: PBXs behind NAT are reached, and a peer cannot make the edge
//!   relay elsewhere.
//! - Out-of-dialog OPTIONS get 200 from known sources (trunks, carriers), 403 from
//!   anyone else; other out-of-dialog methods get 405, stray in-dialog ones 481.
//! - The Request-URI host is rewritten to the chosen next hop (carrier or PBX), its
//!   user part kept.
//! - CANCEL: the downstream 487 is relayed; if none comes within 64×T1 the edge sends
//!   487 itself. A 2xx arriving after the call ended (CANCEL race, Timer C) is ACKed
//!   and BYEd.
//! - Overload: when more than 2,048 events wait for the core (about 20 ms of work),
//!   UDP readers answer new INVITEs `503` with `Retry-After: 1` themselves, before
//!   any trunk lookup: these get no record, only `sip_edge_refusals_total{reason="overload"}`.
//!
//! - Flood defence: limits apply to unknown sources (customers and carriers are known
//!   by address and never banned: a burst or a bad User-Agent from a customer's PBX is
//!   dropped and logged, not banned; `known_requests_per_sec` can cap them). Every
//!   datagram counts toward the rate, responses included. Open transactions include
//!   completed ones waiting for retransmissions (64×T1 over UDP): that is the memory
//!   a source holds. Scanner User-Agents ban on the first request, so sipvicious
//!   gets no answer at all.
//! - Unknown sources get `403 Forbidden` to every out-of-dialog request (INVITE,
//!   OPTIONS, MESSAGE, SUBSCRIBE...), with the same headers whatever the number or
//!   user asked; REGISTER is left to the registrar. A source that holds a live
//!   registration, or presents a TLS certificate naming a trunk, is known.
//! - TLS identity: a certificate naming trunk A from an address of trunk B is refused
//!   (403): the two disagree. A trunk identified by its certificate is not asked for
//!   digest credentials; a trunk without `mutual_tls` may use TLS without a
//!   certificate (identified by its address). `handshake` failures (untrusted
//!   certificates) are counted with the refusals.
//! - Digest: challenges and failed authentications are not call attempts (no record);
//!   a wrong password or unreadable credentials get 403, an expired nonce a new
//!   challenge with `stale=true`, a replayed nonce count a fresh challenge. Nonces
//!   are keyed by a per-process secret: after a restart (or on another node) a
//!   client is challenged again with `stale=true`. `[auth] algorithms` orders the
//!   challenges (SHA-256 then MD5 by default); clients that read only the first
//!   challenge and compute only MD5 (SIPp 3.6) need MD5 first.
//! - Registrations: one binding per trunk (a trunk is one PBX; a newer REGISTER
//!   replaces it), held in memory (PBXs re-register within their expiry after a
//!   restart); shorter than `min_expires_secs` gets 423 with `Min-Expires`, longer
//!   than `max_expires_secs` is cut to it; a trunk with a binding gets its inbound
//!   calls there, else at its provisioned target. A registration is accepted from any
//!   address (the credentials identify the trunk); a `mutual_tls` trunk must register
//!   over TLS with its certificate.
//! - Keepalives: any response to an OPTIONS (even 404) means the carrier is alive;
//!   carriers start up; when every carrier is down, outbound calls get 503 at once.
//! - Fraud classes: `premium` = `special_premium` in any country plus
//!   `international_network` (satellite), `international` = any other number outside
//!   the national plan, `other` = the rest (overseas departments are national). Only
//!   outbound calls are classified and capped; a trunk block refuses inbound calls
//!   too; emergency calls are never refused and still count.
//! - Anomaly detection counts attempts (refused ones too) per trunk and class in
//!   buckets of a quarter window (at most ~1,000 per baseline); the attempt that
//!   trips the detector is itself refused. Unblocking a class clears its history, so
//!   the burst that tripped it is not held against the trunk again.
//! - A call ended by an operator (block with `end_calls`, `POST /calls/{id}/end`) is
//!   recorded as any call the edge ends: `answered` (billable to the BYE) when it was
//!   answered, `failed` (503) while still ringing; who and why are in the log lines
//!   of the call (the call-record schema has no reason column).
//! - Admin tokens are stored as SHA-256 hashes; last use is kept in
//!   `<spool_dir>/admin-tokens.json`, fraud blocks in `<spool_dir>/fraud-blocks.json`.
//!
//! # Configuration
//! See [`config`] for the TOML reference. Run `sip-edge --config FILE`; SIGHUP
//! reloads provisioning (new counts apply to new calls), SIGTERM drains.
//!
//! # Example
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let config = sip_edge::config::EdgeConfig::load(std::path::Path::new("edge.toml"))
//!     .map_err(anyhow::Error::msg)?;
//! let edge = sip_edge::Edge::start(config, None).await?;
//! // ... SIGHUP: edge.reload().await ...
//! let stats = edge.shutdown().await;
//! println!("records written: {}", stats.written);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod admin;
pub mod auth;
pub mod channels;
pub mod config;
pub mod core;
pub mod dids;
pub mod framing;
pub mod fraud;
pub mod guard;
pub mod message;
pub mod metrics;
pub mod peers;
pub mod records;
pub mod registrar;
pub mod resolve;
pub mod socket_filter;
pub mod tls;
pub mod transport;

use crate::channels::Channels;
use crate::config::{EdgeConfig, Transport};
use crate::core::{Command, Core, CoreParts};
use crate::dids::{DidDirectory, InventoryDids, StaticDids};
use crate::guard::Guard;
use crate::metrics::Metrics;
use crate::transport::{Event, TransportCounters};
use anyhow::Context as _;
use cdr::{CallRecord, CallRecordWriter, RunningWriter, WriterConfig, WriterStats};
use provisioning::Provisioning;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Capacity of the core's event queue.
const EVENT_QUEUE: usize = 16 * 1024;

/// Reader tasks per UDP socket.
const UDP_READERS: usize = 2;

/// Receive buffer asked for each UDP socket: about a second of INVITE bursts.
const UDP_RECEIVE_BUFFER_BYTES: i32 = 8 * 1024 * 1024;

/// A running edge.
pub struct Edge {
    fixed_dids: bool,
    config: Arc<EdgeConfig>,
    events: mpsc::Sender<Event>,
    core: JoinHandle<()>,
    record_task: JoinHandle<()>,
    writer: RunningWriter,
    metrics: Arc<Metrics>,
    metrics_address: Option<SocketAddr>,
    sip_addresses: Vec<(Transport, SocketAddr)>,
    admin_address: Option<SocketAddr>,
    guard: Arc<Guard>,
    background: Vec<JoinHandle<()>>,
    tls: Option<Arc<tls::TlsContext>>,
}

impl Edge {
    /// Loads provisioning, binds every listener and the metrics endpoint, starts the
    /// call-record writer and the core. `dids` replaces the configuration's
    /// `[inbound_numbers]` table as the number directory.
    ///
    /// # Errors
    /// Provisioning errors (all of them), a carrier address that is also a customer
    /// source, a socket that cannot be bound, a spool that cannot be opened.
    pub async fn start(
        config: EdgeConfig,
        dids: Option<Arc<dyn DidDirectory>>,
    ) -> anyhow::Result<Edge> {
        let config = Arc::new(config);
        let (provisioning, inventory) = load_provisioning(&config).await?;
        for carrier in &config.carriers {
            if let Some(found) = provisioning.trunk_for_source(carrier.address.ip()) {
                anyhow::bail!(
                    "carrier {:?} at {} is also a source address of trunk {:?}: calls from it could not be told apart",
                    carrier.name,
                    carrier.address.ip(),
                    found.trunk.id()
                );
            }
        }
        let fixed_dids = dids.is_some();
        let dids = dids.unwrap_or(inventory);
        let guard = Arc::new(Guard::new(config.guard.clone()));
        guard.set_known(
            known_addresses(&config, &provisioning),
            provisioning.clone(),
        );
        let fraud = fraud::FraudGuard::new(
            config.fraud.clone(),
            Some(config.spool_dir.join("fraud-blocks.json")),
        )
        .map_err(anyhow::Error::msg)?;

        let (writer, running, _recovery) =
            CallRecordWriter::start(&config.clickhouse, WriterConfig::new(&config.spool_dir))
                .with_context(|| {
                    format!(
                        "cannot open the call-record spool {}",
                        config.spool_dir.display()
                    )
                })?;

        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let counters = Arc::new(TransportCounters::default());
        let channels = Channels::default();
        let metrics = Arc::new(Metrics::new(
            channels.gauges(),
            counters.clone(),
            writer.clone(),
        ));
        metrics.add_section(guard.clone());
        metrics.add_section(fraud.metrics());
        let next_conn = Arc::new(AtomicU64::new(1));
        let tls = match &config.tls {
            Some(settings) => {
                let context = Arc::new(tls::TlsContext::load(settings)?);
                let _ = metrics.security.tls.set(context.clone());
                Some(context)
            }
            None => None,
        };
        let resolver = resolve::Resolver::new(config.hosts.clone());
        resolver.prefetch(resolve::dns_targets(&provisioning));
        let mut background = Vec::new();
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut sip_addresses = Vec::new();
        for listen in &config.listen {
            match listen.transport {
                Transport::Udp => {
                    let socket = Arc::new(bind_udp(listen.address)?);
                    sip_addresses.push((Transport::Udp, socket.local_addr()?));
                    if listen.address.is_ipv4() {
                        guard.filter_in_kernel(socket.clone());
                    }
                    // Two readers per socket: parsing runs on both cores and a reader
                    // descheduled for a moment does not leave the socket unread.
                    for _ in 0..UDP_READERS {
                        background.push(tokio::spawn(transport::udp_reader(
                            udp.len(),
                            socket.clone(),
                            events.clone(),
                            counters.clone(),
                            config.user_agent.clone(),
                            guard.clone(),
                        )));
                    }
                    udp.push((listen.clone(), socket));
                }
                Transport::Tcp => {
                    let listener = TcpListener::bind(listen.address)
                        .await
                        .with_context(|| format!("cannot listen on TCP {}", listen.address))?;
                    sip_addresses.push((Transport::Tcp, listener.local_addr()?));
                    background.push(tokio::spawn(transport::tcp_acceptor(
                        listener,
                        events.clone(),
                        next_conn.clone(),
                        counters.clone(),
                        guard.clone(),
                    )));
                    tcp.push(listen.clone());
                }
                Transport::Tls => {
                    let Some(context) = tls.clone() else {
                        anyhow::bail!("a TLS listener needs the [tls] configuration");
                    };
                    let listener = TcpListener::bind(listen.address)
                        .await
                        .with_context(|| format!("cannot listen on TLS {}", listen.address))?;
                    sip_addresses.push((Transport::Tls, listener.local_addr()?));
                    background.push(tokio::spawn(tls::acceptor(
                        listener,
                        context,
                        events.clone(),
                        next_conn.clone(),
                        counters.clone(),
                        guard.clone(),
                    )));
                    tcp.push(listen.clone());
                }
            }
        }
        background.push(tokio::spawn(resolver.clone().refresh_forever()));
        let metrics_address = match config.metrics_address {
            Some(address) => {
                let listener = metrics::bind(address)
                    .await
                    .with_context(|| format!("cannot bind the metrics endpoint {address}"))?;
                let local = listener.local_addr()?;
                background.push(tokio::spawn(metrics::serve(listener, metrics.clone())));
                Some(local)
            }
            None => None,
        };
        background.push(tokio::spawn(guard::sweep_every(
            guard.clone(),
            Duration::from_secs(1),
        )));
        let admin_address = match &config.admin {
            Some(admin_config) => {
                let listener =
                    TcpListener::bind(admin_config.address)
                        .await
                        .with_context(|| {
                            format!("cannot bind the admin API {}", admin_config.address)
                        })?;
                let local = listener.local_addr()?;
                let reload_config = config.clone();
                let reload_events = events.clone();
                let reload_guard = guard.clone();
                let context = Arc::new(admin::AdminContext {
                    tokens: std::sync::Mutex::new(admin::Tokens::new(
                        admin_config,
                        Some(config.spool_dir.join("admin-tokens.json")),
                    )),
                    events: events.clone(),
                    guard: guard.clone(),
                    reload: Arc::new(move || {
                        let config = reload_config.clone();
                        let events = reload_events.clone();
                        let guard = reload_guard.clone();
                        Box::pin(async move {
                            reload_provisioning(&config, &events, &guard, fixed_dids).await
                        })
                    }),
                });
                background.push(tokio::spawn(admin::serve(listener, context)));
                Some(local)
            }
            None => None,
        };

        let (records, record_queue) = mpsc::unbounded_channel();
        let record_task = tokio::spawn(write_records(record_queue, writer, metrics.clone()));
        let core = Core::new(CoreParts {
            config: config.clone(),
            provisioning,
            dids,
            channels,
            udp,
            tcp,
            next_conn,
            events: events.clone(),
            counters,
            records,
            metrics: metrics.clone(),
            tls: tls.clone(),
            resolver: resolver.clone(),
            guard: guard.clone(),
            fraud,
        });
        let core = tokio::spawn(core.run(receiver));
        tracing::info!(node = %config.node_id, listeners = ?sip_addresses, metrics = ?metrics_address, admin = ?admin_address, "SIP edge started.");
        Ok(Edge {
            fixed_dids,
            config,
            events,
            core,
            record_task,
            writer: running,
            metrics,
            metrics_address,
            sip_addresses,
            admin_address,
            guard,
            background,
            tls,
        })
    }

    /// Reloads the provisioning directory and its number inventory, and the TLS
    /// certificate, key and roots; on errors the edge keeps what it has (each part
    /// on its own).
    ///
    /// # Errors
    /// Every provisioning error, one per line, and the TLS error.
    pub async fn reload(&self) -> Result<(), String> {
        let tls_result = match &self.tls {
            Some(context) => context.reload().map_err(|e| format!("TLS: {e:#}")),
            None => Ok(()),
        };
        reload_provisioning(&self.config, &self.events, &self.guard, self.fixed_dids).await?;
        tls_result
    }

    /// The admin API's address, when configured.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin_address
    }

    /// The scanner and flood defence.
    pub fn guard(&self) -> &Arc<Guard> {
        &self.guard
    }

    /// The metrics endpoint's address, when configured.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// The SIP listeners' bound addresses.
    pub fn sip_addresses(&self) -> &[(Transport, SocketAddr)] {
        &self.sip_addresses
    }

    /// The edge's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Drains and stops: new calls get 503, calls in progress go on until they end or
    /// the configured drain timeout passes (then the edge ends them, BYE both sides),
    /// records are flushed (ClickHouse or the spool), sockets are closed.
    pub async fn shutdown(self) -> WriterStats {
        let (done, finished) = oneshot::channel();
        let deadline = Instant::now() + self.config.drain_timeout;
        if self
            .events
            .send(Event::Command(Command::Drain { deadline, done }))
            .await
            .is_ok()
        {
            let _ = finished.await;
        }
        let _ = self.core.await;
        for task in &self.background {
            task.abort();
        }
        drop(self.events);
        let _ = self.record_task.await;
        let stats = self.writer.shutdown(Duration::from_secs(10)).await;
        tracing::info!(
            written = stats.written,
            spooled = stats.spooled,
            pending = stats.spool_pending,
            "SIP edge stopped; call records flushed."
        );
        stats
    }
}

fn bind_udp(address: SocketAddr) -> anyhow::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(address)
        .with_context(|| format!("cannot listen on UDP {address}"))?;
    socket.set_nonblocking(true)?;
    // A larger receive buffer absorbs bursts of INVITEs and moments where the process
    // is not scheduled: past it the kernel drops datagrams (ACKs are not
    // retransmitted by every UA).
    let granted = set_receive_buffer(&socket, UDP_RECEIVE_BUFFER_BYTES);
    if granted < UDP_RECEIVE_BUFFER_BYTES {
        tracing::warn!(%address, granted_bytes = granted, wanted_bytes = UDP_RECEIVE_BUFFER_BYTES, "UDP receive buffer smaller than wanted: raise net.core.rmem_max (or run with CAP_NET_ADMIN).");
    }
    Ok(UdpSocket::from_std(socket)?)
}

/// Asks for a receive buffer of `bytes` (SO_RCVBUFFORCE where permitted, else
/// SO_RCVBUF, which the kernel caps at net.core.rmem_max); returns what was granted.
fn set_receive_buffer(socket: &std::net::UdpSocket, bytes: i32) -> i32 {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let size = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: setsockopt/getsockopt on a valid descriptor with pointers to live i32s.
    unsafe {
        let value = (&bytes as *const i32).cast();
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, value, size) != 0 {
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, value, size);
        }
        let mut granted: i32 = 0;
        let mut len = size;
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut granted as *mut i32).cast(),
            &mut len,
        );
        // Linux reports twice the requested size (bookkeeping overhead included).
        granted / 2
    }
}

/// Reloads provisioning (SIGHUP and the admin API): the core takes the new data for
/// new calls, the guard the new known addresses.
async fn reload_provisioning(
    config: &Arc<EdgeConfig>,
    events: &mpsc::Sender<Event>,
    guard: &Guard,
    fixed_dids: bool,
) -> Result<(), String> {
    let (provisioning, inventory) = load_provisioning(config)
        .await
        .map_err(|e| format!("{e:#}"))?;
    guard.set_known(known_addresses(config, &provisioning), provisioning.clone());
    let dids = (!fixed_dids).then_some(inventory);
    events
        .send(Event::Command(Command::Reload(provisioning, dids)))
        .await
        .map_err(|_| "the edge has stopped".to_string())
}

/// Addresses the guard treats as known besides the trunks' source addresses: the
/// carriers and the trunks' inbound targets given as IP addresses (a PBX answering
/// inbound calls from an address it does not call from).
fn known_addresses(
    config: &EdgeConfig,
    provisioning: &Provisioning,
) -> std::collections::HashSet<std::net::IpAddr> {
    let carriers = config.carriers.iter().map(|c| c.address.ip());
    let targets = provisioning
        .trunks()
        .iter()
        .filter_map(|t| match t.inbound().target().host() {
            provisioning::Host::Ip(ip) => Some(*ip),
            provisioning::Host::Dns(_) => None,
        });
    carriers.chain(targets).collect()
}

/// Loads the provisioning directory and its number inventory (`numbers/`, empty when
/// absent), with the configuration's `[inbound_numbers]` in front of it.
async fn load_provisioning(
    config: &EdgeConfig,
) -> anyhow::Result<(Arc<Provisioning>, Arc<dyn DidDirectory>)> {
    let dir = config.provisioning_dir.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let provisioning = Provisioning::load(&dir)?;
        let inventory = number_portability::inventory::Inventory::load_with(&dir, &provisioning)?;
        Ok::<_, provisioning::ProvisioningErrors>((provisioning, inventory))
    })
    .await?;
    let (provisioning, inventory) = loaded.map_err(|errors| {
        anyhow::anyhow!(
            "provisioning {} is invalid:\n{errors}",
            config.provisioning_dir.display()
        )
    })?;
    let dids: Arc<dyn DidDirectory> = Arc::new(InventoryDids::new(
        StaticDids::new(config.inbound_numbers.clone()),
        inventory,
    ));
    Ok((Arc::new(provisioning), dids))
}

async fn write_records(
    mut queue: mpsc::UnboundedReceiver<CallRecord>,
    writer: CallRecordWriter,
    metrics: Arc<Metrics>,
) {
    while let Some(record) = queue.recv().await {
        metrics.records_queued.fetch_sub(1, Ordering::Relaxed);
        let key = record.key.clone();
        let call_id = record.sip_call_id.clone();
        match writer.submit(record).await {
            Ok(ack) => {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    if let Err(error) = ack.await {
                        metrics.records_not_durable.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(%key, %call_id, %error, "A call record could not be made durable.");
                    }
                });
            }
            Err(error) => {
                metrics.records_not_durable.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%key, %call_id, %error, "A call record could not be submitted.");
            }
        }
    }
}
