//! Who may call, and where a trunk is reached: the core's side of TLS identities,
//! digest authentication and registrations.
//!
//! # Identifying the trunk of a request that is not from a carrier
//! 1. Over TLS, a client certificate whose name (subject alternative name) is a
//!    trunk's `tls_fqdn` identifies that trunk; no digest is asked. If the source
//!    address belongs to another trunk the request is refused (403): an address and a
//!    certificate that disagree are a misconfiguration or an attack.
//! 2. Otherwise the source address (provisioning `source_addresses`) names the trunk.
//!    A trunk with `mutual_tls = true` must have come over TLS with a certificate
//!    valid for its `tls_fqdn` (else 403, logged, counted by reason); a trunk with
//!    digest credentials must answer a `407` challenge.
//! 3. Otherwise (a source known only by its live registration, see
//!    `known_by_identity`; other unknown sources were refused 403 before) the
//!    request is challenged (`407`) and the digest user name names the trunk: the
//!    edge does not challenge strangers, which would hand them a password oracle.
//!
//! A challenge is not a call attempt: it gets no call record; neither does a refused
//! authentication (logged and counted in `sip_edge_auth_total`).
//!
//! # REGISTER
//! Challenged with `401` (any source: a registering PBX may be anywhere), the digest
//! user name names the trunk; see [`crate::registrar`] for the bindings.

use super::{Core, ServerKey, Target};
use crate::auth::{AuthFailure, DigestAuth};
use crate::config::{EdgeConfig, Transport};
use crate::message::{Header, Message, NameAddr};
use crate::peers::PeerHealth;
use crate::registrar::{requested_expiry, Registrar};
use crate::resolve::Resolver;
use crate::tls::{certificate_dns_names, certificate_matches, TlsContext};
use crate::transport::{ConnId, Flow};
use provisioning::{Host, Provisioning, Trunk};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// The core's access state.
pub(super) struct Access {
    pub(super) tls: Option<Arc<TlsContext>>,
    pub(super) resolver: Arc<Resolver>,
    pub(super) digest: DigestAuth,
    pub(super) registrar: Registrar,
    /// Client certificates of accepted TLS connections (`None`: none presented).
    pub(super) certificates: HashMap<ConnId, Option<Vec<u8>>>,
    pub(super) peers: Option<PeerHealth>,
    pub(super) keepalive_seq: u64,
}

impl Access {
    pub(super) fn new(
        config: &EdgeConfig,
        tls: Option<Arc<TlsContext>>,
        resolver: Arc<Resolver>,
    ) -> Access {
        let realm = config
            .auth
            .realm
            .clone()
            .unwrap_or_else(|| config.node_id.clone());
        Access {
            tls,
            resolver,
            digest: DigestAuth::new(
                &realm,
                &config.auth.algorithms,
                config.auth.nonce_ttl,
                nonce_secret(),
            ),
            registrar: Registrar::default(),
            certificates: HashMap::new(),
            peers: None,
            keepalive_seq: 0,
        }
    }
}

/// 32 random bytes from the kernel; a clock-and-process fallback where
/// `/dev/urandom` cannot be read (nonces then stay unforgeable only as long as the
/// start time is unknown).
fn nonce_secret() -> [u8; 32] {
    use sha2::Digest as _;
    let mut secret = [0u8; 32];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut secret));
    if read.is_err() {
        let seed = format!(
            "{:?}{}{:?}",
            SystemTime::now(),
            std::process::id(),
            Instant::now()
        );
        secret.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes()));
    }
    secret
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The outcome of identifying a caller.
pub(super) enum Identified {
    /// The trunk (and site) the request belongs to.
    Trunk {
        trunk_id: String,
        site: Option<String>,
    },
    /// A challenge or a refusal went out already.
    Answered,
    /// No trunk: the caller refuses it as an unknown source.
    Unknown,
}

/// The trunk whose `tls_fqdn` a certificate holds.
fn trunk_by_certificate<'p>(provisioning: &'p Provisioning, der: &[u8]) -> Option<&'p Trunk> {
    certificate_dns_names(der).iter().find_map(|name| {
        provisioning
            .trunk_for_tls_fqdn(name)
            .filter(|t| certificate_matches(der, t.identify().tls_fqdn().unwrap_or_default()))
    })
}

impl Target {
    /// The Request-URI toward this target: the registered contact, or `uri` with
    /// its host and port replaced by the target's (name for TLS, with
    /// `transport=tls`).
    pub(super) fn request_uri(&self, uri: &str) -> String {
        if let Some(contact) = &self.uri {
            return contact.clone();
        }
        let host_port = match &self.server_name {
            Some(name) => format!("{name}:{}", self.address.port()),
            None => self.address.to_string(),
        };
        let rewritten = crate::message::uri_with_host_port(uri, &host_port);
        if self.transport == Transport::Tls
            && crate::message::param_in(&rewritten, "transport").is_none()
        {
            format!("{rewritten};transport=tls")
        } else {
            rewritten
        }
    }
}

impl Core {
    /// A TLS connection was accepted: note its client certificate.
    pub(super) fn on_secure_accepted(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        sender: mpsc::Sender<Vec<u8>>,
        certificate: Option<Vec<u8>>,
    ) {
        self.conns.insert(conn, super::Conn { sender, peer });
        self.conn_by_peer.insert(peer, conn);
        self.access.certificates.insert(conn, certificate);
    }

    /// Whether a source the provisioning does not list is known all the same: a live
    /// registration from its address, or a TLS client certificate naming a trunk.
    pub(super) fn known_by_identity(&mut self, flow: &Flow) -> bool {
        if !self
            .access
            .registrar
            .trunks_at(flow.peer().ip(), Instant::now())
            .is_empty()
        {
            return true;
        }
        let Flow::Tls { conn, .. } = flow else {
            return false;
        };
        let Some(Some(der)) = self.access.certificates.get(conn) else {
            return false;
        };
        trunk_by_certificate(&self.provisioning, der).is_some()
    }

    /// Identifies the trunk of a request from a non-carrier source (module doc).
    pub(super) fn identify_caller(
        &mut self,
        flow: &Flow,
        request: &Message,
        key: &ServerKey,
    ) -> Identified {
        let provisioning = self.provisioning.clone();
        let peer = flow.peer();
        let by_source = provisioning.trunk_for_source(peer.ip());
        let certificate = match flow {
            Flow::Tls { conn, .. } => Some(self.access.certificates.get(conn).cloned().flatten()),
            _ => None,
        };
        if let Some(Some(der)) = &certificate {
            if let Some(trunk) = trunk_by_certificate(&provisioning, der) {
                let site = match by_source {
                    Some(found) if found.trunk.id() != trunk.id() => {
                        warn!(%peer, certificate_trunk = trunk.id(), address_trunk = found.trunk.id(), "TLS certificate and source address name different trunks: 403.");
                        return self.refuse_tls(
                            key,
                            "certificate_mismatch",
                            "certificate and source address disagree",
                        );
                    }
                    Some(found) => found.site.map(|s| s.id().to_string()),
                    None => None,
                };
                return Identified::Trunk {
                    trunk_id: trunk.id().to_string(),
                    site,
                };
            }
        }
        if let Some(found) = by_source {
            let trunk = found.trunk;
            if trunk.identify().mutual_tls() {
                let fqdn = trunk.identify().tls_fqdn().unwrap_or_default();
                let refusal = match &certificate {
                    Some(Some(der)) if certificate_matches(der, fqdn) => None,
                    Some(Some(der)) => Some((
                        "certificate_mismatch",
                        format!(
                            "certificate names {:?}, expected {fqdn}",
                            certificate_dns_names(der)
                        ),
                    )),
                    Some(None) => Some(("no_certificate", "no client certificate".to_string())),
                    None => Some(("not_tls", "this trunk must use TLS".to_string())),
                };
                if let Some((reason, detail)) = refusal {
                    warn!(%peer, trunk = trunk.id(), %detail, "Mutual TLS required by the trunk: 403.");
                    return self.refuse_tls(key, reason, &detail);
                }
            }
            if let Some(credentials) = trunk.identify().digest() {
                let user = credentials.username().to_string();
                if self.check_digest(request, key, true, Some(&user)).is_none() {
                    return Identified::Answered;
                }
            }
            return Identified::Trunk {
                trunk_id: trunk.id().to_string(),
                site: found.site.map(|s| s.id().to_string()),
            };
        }
        let has_credentials = request.header("Proxy-Authorization").is_some();
        let registered = !self
            .access
            .registrar
            .trunks_at(peer.ip(), Instant::now())
            .is_empty();
        if !has_credentials && !registered {
            return Identified::Unknown;
        }
        let Some(user) = self.check_digest(request, key, true, None) else {
            return Identified::Answered;
        };
        match provisioning.trunk_for_digest_user(&user) {
            Some(trunk) => Identified::Trunk {
                trunk_id: trunk.id().to_string(),
                site: None,
            },
            None => Identified::Unknown,
        }
    }

    fn refuse_tls(&mut self, key: &ServerKey, reason: &str, detail: &str) -> Identified {
        self.metrics.security.count_tls_refusal(reason);
        let detail: String = detail
            .chars()
            .filter(|c| !c.is_control() && *c != '"')
            .take(120)
            .collect();
        let host = self
            .servers
            .get(key)
            .map(|tx| self.listener_for(&tx.flow).advertised())
            .unwrap_or_default();
        self.reply(
            key,
            403,
            "Forbidden",
            &[("Warning", format!("399 {host} \"{detail}\""))],
        );
        Identified::Answered
    }

    /// Checks the request's digest credentials (`Proxy-Authorization` when `proxy`,
    /// else `Authorization`), restricted to `expected_user` when given. Returns the
    /// user name, or `None` once a challenge or a 403 went out.
    pub(super) fn check_digest(
        &mut self,
        request: &Message,
        key: &ServerKey,
        proxy: bool,
        expected_user: Option<&str>,
    ) -> Option<String> {
        let provisioning = self.provisioning.clone();
        let header = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let method = request.method();
        let result = self.access.digest.verify(
            method.as_str(),
            request.headers_named(header),
            |user| {
                if expected_user.is_some_and(|e| e != user) {
                    return None;
                }
                provisioning
                    .trunk_for_digest_user(user)
                    .and_then(|t| t.identify().digest())
                    .map(|d| d.password().to_string())
            },
            now_secs(),
        );
        let peer = self
            .servers
            .get(key)
            .map(|tx| tx.flow.peer().to_string())
            .unwrap_or_default();
        let stale = match result {
            Ok(user) => {
                self.metrics.security.count_auth("accepted");
                return Some(user);
            }
            Err(AuthFailure::Missing) => false,
            Err(AuthFailure::Stale) => {
                self.metrics.security.count_auth("stale");
                true
            }
            Err(AuthFailure::Replayed) => {
                self.metrics.security.count_auth("replayed");
                warn!(%peer, method = method.as_str(), "Digest credentials replayed: challenged again.");
                false
            }
            Err(AuthFailure::Rejected) => {
                self.metrics.security.count_auth("rejected");
                warn!(%peer, method = method.as_str(), "Digest authentication failed (unknown user or wrong password): 403.");
                self.reply(key, 403, "Forbidden", &[]);
                return None;
            }
            Err(AuthFailure::Malformed(why)) => {
                self.metrics.security.count_auth("malformed");
                warn!(%peer, method = method.as_str(), %why, "Unreadable digest credentials: 403.");
                self.reply(key, 403, "Forbidden", &[]);
                return None;
            }
        };
        self.metrics.security.count_auth("challenged");
        let (code, reason, name) = if proxy {
            (407, "Proxy Authentication Required", "Proxy-Authenticate")
        } else {
            (401, "Unauthorized", "WWW-Authenticate")
        };
        let challenges = self.access.digest.challenges(now_secs(), stale);
        self.reply_with(key, code, reason, name, challenges);
        None
    }

    /// A final answer of the edge's own carrying several fields named `name`.
    fn reply_with(
        &mut self,
        key: &ServerKey,
        code: u16,
        reason: &str,
        name: &'static str,
        values: Vec<String>,
    ) {
        let Some(tx) = self.servers.get(key) else {
            return;
        };
        let mut response = super::local_response(
            &tx.request,
            code,
            reason,
            Some(&tx.to_tag.clone()),
            &self.config.user_agent,
            &[],
        );
        for value in values {
            response.headers.push(Header {
                name: name.into(),
                value,
            });
        }
        self.respond(key, response);
    }

    /// REGISTER: authenticate, then bind, refresh, query or remove the trunk's contact.
    pub(super) fn on_register(&mut self, flow: Flow, request: Message, key: ServerKey) {
        let Some(user) = self.check_digest(&request, &key, false, None) else {
            return;
        };
        let provisioning = self.provisioning.clone();
        let Some(trunk) = provisioning.trunk_for_digest_user(&user) else {
            self.reply(&key, 403, "Forbidden", &[]);
            return;
        };
        if trunk.identify().mutual_tls() {
            let fqdn = trunk.identify().tls_fqdn().unwrap_or_default();
            let ok = matches!(&flow, Flow::Tls { conn, .. }
                if self.access.certificates.get(conn).and_then(|c| c.as_deref()).is_some_and(|der| certificate_matches(der, fqdn)));
            if !ok {
                warn!(peer = %flow.peer(), trunk = trunk.id(), "REGISTER without the trunk's TLS certificate: 403.");
                self.refuse_tls(&key, "no_certificate", "this trunk must use mutual TLS");
                return;
            }
        }
        let auth = &self.config.auth;
        let contact_value = request.header("Contact").map(str::to_string);
        let now = Instant::now();
        let expires_header = request.header("Expires");
        let mut granted = None;
        match contact_value.as_deref().map(str::trim) {
            None => {}
            Some("*") => {
                self.access.registrar.unregister(trunk.id());
                info!(trunk = trunk.id(), "Registration removed (Contact: *).");
            }
            Some(value) => {
                let Some(contact) = NameAddr::parse(value) else {
                    self.reply(&key, 400, "Bad Request", &[]);
                    return;
                };
                let asked = requested_expiry(Some(contact.params), expires_header);
                if asked == 0 {
                    self.access.registrar.unregister(trunk.id());
                    info!(trunk = trunk.id(), "Registration removed (expires 0).");
                } else if asked < auth.min_expires.as_secs() {
                    self.reply(
                        &key,
                        423,
                        "Interval Too Brief",
                        &[("Min-Expires", auth.min_expires.as_secs().to_string())],
                    );
                    return;
                } else {
                    let expires = asked.min(auth.max_expires.as_secs());
                    let uri = contact.uri.to_string();
                    info!(trunk = trunk.id(), contact = %uri, peer = %flow.peer(), expires, "Trunk registered.");
                    self.access.registrar.register(
                        trunk.id(),
                        uri.clone(),
                        flow.clone(),
                        Duration::from_secs(expires),
                        now,
                    );
                    granted = Some((uri, expires));
                }
            }
        }
        if granted.is_none() {
            if let Some(b) = self.access.registrar.binding(trunk.id(), now) {
                let left = b.expires_at.saturating_duration_since(now).as_secs();
                granted = Some((b.contact.clone(), left));
            }
        }
        let live = self.access.registrar.sweep(now);
        self.metrics
            .security
            .registrations
            .store(live as u64, Ordering::Relaxed);
        let extra: Vec<(&str, String)> = granted
            .map(|(uri, expires)| vec![("Contact", format!("<{uri}>;expires={expires}"))])
            .unwrap_or_default();
        self.reply(&key, 200, "OK", &extra);
    }

    /// Where an inbound call for `trunk` goes: its registered contact, else its
    /// provisioned target (a DNS name resolved through [`Resolver`]).
    pub(super) fn inbound_targets(&mut self, trunk: &Trunk) -> VecDeque<Target> {
        let binding = self
            .access
            .registrar
            .binding(trunk.id(), Instant::now())
            .cloned();
        self.metrics
            .security
            .registrations
            .store(self.access.registrar.len() as u64, Ordering::Relaxed);
        if let Some(b) = binding {
            return VecDeque::from([Target {
                name: trunk.id().to_string(),
                address: b.flow.peer(),
                transport: b.flow.transport(),
                server_name: None,
                flow: Some(b.flow),
                uri: Some(b.contact),
            }]);
        }
        let inbound = trunk.inbound();
        let transport = match inbound.transport() {
            provisioning::Transport::Udp => Transport::Udp,
            provisioning::Transport::Tcp => Transport::Tcp,
            provisioning::Transport::Tls => Transport::Tls,
        };
        let (ip, server_name) = match inbound.target().host() {
            Host::Ip(ip) => (Some(*ip), trunk.identify().tls_fqdn().map(str::to_string)),
            Host::Dns(name) => {
                let ip = self.access.resolver.lookup(name);
                if ip.is_none() {
                    warn!(trunk = trunk.id(), %name, "The trunk's inbound target is not resolved yet.");
                }
                (ip, Some(name.clone()))
            }
        };
        ip.map(|ip| Target {
            name: trunk.id().to_string(),
            address: SocketAddr::new(ip, inbound.target().port()),
            transport,
            server_name: server_name.filter(|_| transport == Transport::Tls),
            flow: None,
            uri: None,
        })
        .into_iter()
        .collect()
    }

    /// The flow to a target: the registered flow while it lives, else a UDP socket,
    /// a TCP connection or a TLS connection (reused per peer address, or opened).
    pub(super) fn flow_for_target(&mut self, target: &Target) -> Option<Flow> {
        if let Some(flow) = &target.flow {
            let alive = flow.conn().is_none_or(|c| self.conns.contains_key(&c));
            if alive {
                return Some(flow.clone());
            }
        }
        if target.transport != Transport::Tls {
            return self.flow_to(target.address, target.transport);
        }
        let address = target.address;
        if let Some(conn) = self.conn_by_peer.get(&address) {
            if self.conns.contains_key(conn) {
                return Some(Flow::Tls {
                    conn: *conn,
                    peer: address,
                });
            }
        }
        let Some(context) = self.access.tls.clone() else {
            warn!(target = %target.name, "A TLS target but no [tls] configuration: unroutable.");
            return None;
        };
        let server_name = target
            .server_name
            .clone()
            .unwrap_or_else(|| address.ip().to_string());
        let conn = self
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (sender, receiver) = mpsc::channel(1024);
        self.conns.insert(
            conn,
            super::Conn {
                sender,
                peer: address,
            },
        );
        self.conn_by_peer.insert(address, conn);
        let local_ip = self
            .tcp
            .iter()
            .find(|l| l.transport == Transport::Tls && l.address.is_ipv4() == address.is_ipv4())
            .map(|l| l.address.ip())
            .filter(|ip| !ip.is_unspecified());
        tokio::spawn(crate::tls::connect(
            conn,
            local_ip,
            address,
            server_name,
            context,
            receiver,
            self.events.clone(),
            self.counters.clone(),
            self.guard.clone(),
        ));
        Some(Flow::Tls {
            conn,
            peer: address,
        })
    }
}
