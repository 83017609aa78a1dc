//! Scanner and flood defence: what a source may send before the edge stops listening
//! to it.
//!
//! The guard sits in the transport tasks, in front of the parser, and owns one small
//! state per source IP address:
//! - **bans**: a banned source's datagrams (and TCP connections) are dropped before
//!   parsing until the ban ends; a log line marks the start and the end of every ban;
//! - **request rate**: a token bucket per source (`requests_per_sec`, `burst`); a
//!   source that empties it is banned;
//! - **transactions in flight**: the core reports each server transaction it opens and
//!   ends ([`Guard::transaction_opened`], [`Guard::transaction_closed`]); a source
//!   holding more than `transactions_in_flight` is banned;
//! - **scanner user agents**: a request whose `User-Agent` contains a fragment of the
//!   built-in list (`data/scanner_user_agents.txt`: friendly-scanner, sipvicious,
//!   sipcli, VaxSIPUserAgent...) or of the configuration's list bans its source at once;
//! - **size limits**: a message larger than `max_message_bytes`, a header line longer
//!   than `max_header_bytes` or more than `max_headers` header lines is counted as
//!   malformed and dropped unparsed.
//!
//! Known sources (carrier addresses and provisioned trunk source addresses) are never
//! banned: a customer's PBX is not cut off by a burst or an odd User-Agent (their
//! requests over a limit are dropped and logged; the toll-fraud guard watches what
//! they call). Their rate is unlimited unless `known_requests_per_sec` is set.
//!
//! The state is one mutex-protected map, touched once per datagram; a sweeper task
//! ([`sweep_every`]) ends expired bans (logging them), forgets idle sources and
//! installs the banned IPv4 addresses in the UDP listeners' kernel filter
//! ([`crate::socket_filter`]), so that a flood stops reaching the process at all. The map
//! is capped at [`MAX_TRACKED_SOURCES`]: when full, datagrams from new unknown sources
//! are dropped (those would only get 403) until idle entries are swept.

use crate::message::Message;
use provisioning::Provisioning;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Sources tracked at most (about 100 bytes each).
pub const MAX_TRACKED_SOURCES: usize = 262_144;

/// How long a source with nothing in flight is remembered after its last packet.
const IDLE_FORGET: Duration = Duration::from_secs(60);

/// The built-in scanner User-Agent fragments.
pub const BUILT_IN_SCANNER_USER_AGENTS: &str = include_str!("../data/scanner_user_agents.txt");

/// The `[guard]` section of the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// Sustained messages per second an unknown source may send.
    pub requests_per_sec: u32,
    /// Messages an unknown source may send at once above the sustained rate.
    pub burst: u32,
    /// Server transactions an unknown source may hold open.
    pub transactions_in_flight: u32,
    /// How long a ban lasts.
    pub ban_secs: u64,
    /// Messages per second a known source may send (0: unlimited).
    pub known_requests_per_sec: u32,
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Longest header line accepted, in bytes.
    pub max_header_bytes: usize,
    /// Most header lines accepted in one message.
    pub max_headers: usize,
    /// More User-Agent fragments that ban at once (added to the built-in list).
    pub scanner_user_agents: Vec<String>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            requests_per_sec: 20,
            burst: 40,
            transactions_in_flight: 64,
            ban_secs: 3600,
            known_requests_per_sec: 0,
            max_message_bytes: 16 * 1024,
            max_header_bytes: 4096,
            max_headers: 128,
            scanner_user_agents: Vec::new(),
        }
    }
}

impl GuardConfig {
    /// Problems with the values, each naming its key.
    pub fn check(&self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut at_least = |key: &str, value: u64, min: u64| {
            if value < min {
                errors.push(format!("guard.{key}: must be at least {min}, got {value}"));
            }
        };
        at_least("requests_per_sec", self.requests_per_sec.into(), 1);
        at_least("burst", self.burst.into(), 1);
        at_least(
            "transactions_in_flight",
            self.transactions_in_flight.into(),
            1,
        );
        at_least("ban_secs", self.ban_secs, 1);
        at_least("max_message_bytes", self.max_message_bytes as u64, 1024);
        at_least("max_header_bytes", self.max_header_bytes as u64, 256);
        at_least("max_headers", self.max_headers as u64, 16);
        for (i, ua) in self.scanner_user_agents.iter().enumerate() {
            if ua.trim().len() < 4 {
                errors.push(format!(
                    "guard.scanner_user_agents[{i}]: {ua:?} is too short to match only scanners (at least 4 characters)"
                ));
            }
        }
        errors
    }
}

/// Why a source was banned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BanReason {
    /// It sent faster than its rate.
    Rate,
    /// It held too many transactions open.
    InFlight,
    /// Its User-Agent is a known scanner.
    Scanner,
}

impl BanReason {
    /// Every reason, as metric labels.
    pub const ALL: [BanReason; 3] = [BanReason::Rate, BanReason::InFlight, BanReason::Scanner];

    /// Label in metrics, logs and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            BanReason::Rate => "rate",
            BanReason::InFlight => "in_flight",
            BanReason::Scanner => "scanner",
        }
    }
}

/// A ban in force, as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BanInfo {
    /// The banned address.
    pub source: IpAddr,
    /// `rate`, `in_flight` or `scanner`.
    pub reason: &'static str,
    /// Seconds until the ban ends.
    pub remaining_secs: u64,
    /// Packets dropped during this ban.
    pub dropped_packets: u64,
}

struct Source {
    tokens: f64,
    refilled: Instant,
    last_seen: Instant,
    known: bool,
    known_generation: u64,
    in_flight: u32,
    ban: Option<Ban>,
}

struct Ban {
    until: Instant,
    reason: BanReason,
    dropped: u64,
}

struct Sources {
    map: HashMap<IpAddr, Source>,
}

/// Who is a known source: carriers and provisioned trunk addresses.
struct KnownSources {
    generation: u64,
    carriers: HashSet<IpAddr>,
    provisioning: Option<Arc<Provisioning>>,
}

impl KnownSources {
    fn contains(&self, ip: IpAddr) -> bool {
        self.carriers.contains(&ip)
            || self
                .provisioning
                .as_ref()
                .is_some_and(|p| p.trunk_for_source(ip).is_some())
    }
}

/// The guard's counters.
#[derive(Default)]
struct Counters {
    bans: [AtomicU64; 3],
    dropped_banned: AtomicU64,
    dropped_over_limit: AtomicU64,
    dropped_table_full: AtomicU64,
    oversize: AtomicU64,
}

/// UDP sockets whose kernel filter holds the banned IPv4 sources.
#[derive(Default)]
struct KernelFilter {
    sockets: Vec<Arc<tokio::net::UdpSocket>>,
    installed: Vec<std::net::Ipv4Addr>,
    failed: bool,
}

/// The scanner and flood defence shared by the transport tasks and the core.
pub struct Guard {
    kernel_filter: Mutex<KernelFilter>,
    config: GuardConfig,
    scanner_fragments: Vec<String>,
    sources: Mutex<Sources>,
    known: RwLock<KnownSources>,
    counters: Counters,
}

/// Why a message was refused by the size limits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// The whole message is too large.
    #[error("message of {0} bytes exceeds the limit")]
    Message(usize),
    /// A header line is too long.
    #[error("header line of {0} bytes exceeds the limit")]
    Header(usize),
    /// Too many header lines.
    #[error("more than {0} header lines")]
    TooManyHeaders(usize),
}

impl Guard {
    /// A guard with no known source yet (see [`Guard::set_known`]).
    pub fn new(config: GuardConfig) -> Guard {
        let scanner_fragments = BUILT_IN_SCANNER_USER_AGENTS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .chain(
                config
                    .scanner_user_agents
                    .iter()
                    .map(|s| s.trim().to_string()),
            )
            .map(|s| s.to_ascii_lowercase())
            .collect();
        Guard {
            kernel_filter: Mutex::new(KernelFilter::default()),
            config,
            scanner_fragments,
            sources: Mutex::new(Sources {
                map: HashMap::new(),
            }),
            known: RwLock::new(KnownSources {
                generation: 0,
                carriers: HashSet::new(),
                provisioning: None,
            }),
            counters: Counters::default(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Sets who is known (at start and on every provisioning reload).
    pub fn set_known(&self, carriers: HashSet<IpAddr>, provisioning: Arc<Provisioning>) {
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        known.generation += 1;
        known.carriers = carriers;
        known.provisioning = Some(provisioning);
    }

    /// Whether `ip` is a carrier or a provisioned trunk address.
    pub fn is_known(&self, ip: IpAddr) -> bool {
        self.known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(ip)
    }

    /// Checks a datagram (or a framed stream message) from `ip` before it is parsed:
    /// `false` means drop it unread.
    pub fn admit_bytes(&self, ip: IpAddr, bytes: &[u8]) -> bool {
        self.admit_bytes_at(ip, bytes, Instant::now())
    }

    fn admit_bytes_at(&self, ip: IpAddr, bytes: &[u8], now: Instant) -> bool {
        if !self.admit_packet_at(ip, now) {
            return false;
        }
        if let Err(error) = check_size(bytes, &self.config) {
            self.counters.oversize.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %ip, %error, "Dropped an oversized SIP message.");
            return false;
        }
        true
    }

    /// Whether a TCP connection from `ip` may be accepted (not banned now).
    pub fn admit_connection(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        match sources.map.get_mut(&ip) {
            Some(source) => !self.still_banned(ip, source, now),
            None => true,
        }
    }

    /// The ban and rate checks of one packet.
    fn admit_packet_at(&self, ip: IpAddr, now: Instant) -> bool {
        let generation = self
            .known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .generation;
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let full = sources.map.len() >= MAX_TRACKED_SOURCES;
        let source = match sources.map.get_mut(&ip) {
            Some(source) => source,
            None => {
                let known = self.is_known(ip);
                if full && !known {
                    self.counters
                        .dropped_table_full
                        .fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                sources.map.entry(ip).or_insert(Source {
                    tokens: f64::from(self.config.burst),
                    refilled: now,
                    last_seen: now,
                    known,
                    known_generation: generation,
                    in_flight: 0,
                    ban: None,
                })
            }
        };
        if source.known_generation != generation {
            // Provisioning changed: a newly provisioned address is released at once.
            source.known = self.is_known(ip);
            source.known_generation = generation;
            if source.known {
                source.ban = None;
            }
        }
        source.last_seen = now;
        if self.still_banned(ip, source, now) {
            if let Some(ban) = &mut source.ban {
                ban.dropped += 1;
            }
            self.counters.dropped_banned.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let rate = if source.known {
            self.config.known_requests_per_sec
        } else {
            self.config.requests_per_sec
        };
        if rate == 0 {
            return true;
        }
        let burst = if source.known {
            f64::from(rate.saturating_mul(2))
        } else {
            f64::from(self.config.burst)
        };
        let elapsed = now.saturating_duration_since(source.refilled).as_secs_f64();
        source.tokens = (source.tokens + elapsed * f64::from(rate)).min(burst);
        source.refilled = now;
        if source.tokens >= 1.0 {
            source.tokens -= 1.0;
            return true;
        }
        if source.known {
            self.counters
                .dropped_over_limit
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(source = %ip, rate, "A known source is over its request rate: message dropped.");
        } else {
            self.ban(ip, source, BanReason::Rate, now);
        }
        false
    }

    /// Checks a parsed request: a scanner User-Agent bans its source (an unknown one)
    /// and the message is dropped. `false` means drop it.
    pub fn admit_message(&self, ip: IpAddr, message: &Message) -> bool {
        if !message.is_request() {
            return true;
        }
        let Some(agent) = message.header("User-Agent") else {
            return true;
        };
        let lower = agent.to_ascii_lowercase();
        let Some(fragment) = self
            .scanner_fragments
            .iter()
            .find(|f| lower.contains(f.as_str()))
        else {
            return true;
        };
        let now = Instant::now();
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        match sources.map.get_mut(&ip) {
            Some(source) if !source.known => self.ban(ip, source, BanReason::Scanner, now),
            Some(_) => {
                self.counters
                    .dropped_over_limit
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(source = %ip, user_agent = %agent, fragment = %fragment, "A known source sent a scanner's User-Agent: request dropped.");
            }
            None => {}
        }
        false
    }

    /// The core opened a server transaction for a request from `ip`.
    pub fn transaction_opened(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let Some(source) = sources.map.get_mut(&ip) else {
            return;
        };
        source.in_flight += 1;
        if !source.known && source.in_flight > self.config.transactions_in_flight {
            self.ban(ip, source, BanReason::InFlight, now);
        }
    }

    /// The core ended a server transaction opened for `ip`.
    pub fn transaction_closed(&self, ip: IpAddr) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(source) = sources.map.get_mut(&ip) {
            source.in_flight = source.in_flight.saturating_sub(1);
        }
    }

    fn ban(&self, ip: IpAddr, source: &mut Source, reason: BanReason, now: Instant) {
        if source.ban.is_some() {
            return;
        }
        let ban_for = Duration::from_secs(self.config.ban_secs);
        source.ban = Some(Ban {
            until: now + ban_for,
            reason,
            dropped: 0,
        });
        let i = BanReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.counters.bans[i].fetch_add(1, Ordering::Relaxed);
        tracing::warn!(source = %ip, reason = reason.as_str(), ban_secs = self.config.ban_secs, "Source banned: its packets are dropped before parsing.");
    }

    /// Whether `source` is banned at `now`; ends (and logs) an expired ban.
    fn still_banned(&self, ip: IpAddr, source: &mut Source, now: Instant) -> bool {
        match &source.ban {
            Some(ban) if ban.until > now => true,
            Some(ban) => {
                tracing::info!(source = %ip, reason = ban.reason.as_str(), dropped_packets = ban.dropped, "Ban ended.");
                source.ban = None;
                source.tokens = f64::from(self.config.burst);
                source.refilled = now;
                false
            }
            None => false,
        }
    }

    /// Ends expired bans (with their log line), forgets idle sources and brings the
    /// kernel filter up to date.
    pub fn sweep(&self) {
        self.sweep_at(Instant::now());
        self.update_kernel_filter();
    }

    /// Has the banned IPv4 sources dropped by the kernel on `socket` (an IPv4 UDP
    /// listener), from the next sweep on.
    pub fn filter_in_kernel(&self, socket: Arc<tokio::net::UdpSocket>) {
        let mut filter = self.kernel_filter.lock().unwrap_or_else(|e| e.into_inner());
        filter.sockets.push(socket);
    }

    fn update_kernel_filter(&self) {
        let mut banned: Vec<(u64, std::net::Ipv4Addr)> = {
            let now = Instant::now();
            let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            sources
                .map
                .iter()
                .filter_map(|(ip, s)| match (ip, &s.ban) {
                    (IpAddr::V4(v4), Some(ban)) if ban.until > now => Some((ban.dropped, *v4)),
                    _ => None,
                })
                .collect()
        };
        // The loudest sources first, when there are more than the filter holds.
        banned.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut wanted: Vec<std::net::Ipv4Addr> = banned
            .into_iter()
            .take(crate::socket_filter::MAX_FILTERED)
            .map(|(_, ip)| ip)
            .collect();
        wanted.sort();
        let mut filter = self.kernel_filter.lock().unwrap_or_else(|e| e.into_inner());
        if filter.installed == wanted || filter.sockets.is_empty() {
            return;
        }
        let program = crate::socket_filter::program(&wanted);
        let mut all_attached = true;
        for socket in &filter.sockets {
            if let Err(error) = crate::socket_filter::attach(socket.as_ref(), &program) {
                all_attached = false;
                if !filter.failed {
                    tracing::warn!(%error, "Cannot attach the ban filter to a UDP socket: banned sources are dropped in user space only.");
                }
            }
        }
        filter.failed = !all_attached;
        filter.installed = wanted;
    }

    /// Banned addresses the kernel filter holds now.
    pub fn kernel_filtered(&self) -> usize {
        let filter = self.kernel_filter.lock().unwrap_or_else(|e| e.into_inner());
        if filter.failed {
            0
        } else {
            filter.installed.len()
        }
    }

    fn sweep_at(&self, now: Instant) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources.map.retain(|ip, source| {
            let banned = self.still_banned(*ip, source, now);
            banned
                || source.in_flight > 0
                || now.saturating_duration_since(source.last_seen) < IDLE_FORGET
        });
    }

    /// The bans in force.
    pub fn bans(&self) -> Vec<BanInfo> {
        let now = Instant::now();
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        let mut bans: Vec<BanInfo> = sources
            .map
            .iter()
            .filter_map(|(ip, s)| {
                let ban = s.ban.as_ref().filter(|b| b.until > now)?;
                Some(BanInfo {
                    source: *ip,
                    reason: ban.reason.as_str(),
                    remaining_secs: ban.until.saturating_duration_since(now).as_secs(),
                    dropped_packets: ban.dropped,
                })
            })
            .collect();
        bans.sort_by_key(|b| b.source);
        bans
    }

    /// Whether `ip` is banned now.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources
            .map
            .get(&ip)
            .and_then(|s| s.ban.as_ref())
            .is_some_and(|b| b.until > now)
    }
}

impl crate::metrics::MetricsSection for Guard {
    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP sip_edge_bans_total Sources banned, by reason.\n# TYPE sip_edge_bans_total counter"
        );
        for (reason, count) in BanReason::ALL.iter().zip(&self.counters.bans) {
            let _ = writeln!(
                out,
                "sip_edge_bans_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                count.load(Ordering::Relaxed)
            );
        }
        let banned = self.bans().len();
        let simple: [(&str, &str, &str, u64); 6] = [
            (
                "sip_edge_kernel_filtered_sources",
                "gauge",
                "Banned IPv4 sources the UDP listeners' kernel filter drops.",
                self.kernel_filtered() as u64,
            ),
            (
                "sip_edge_banned_sources",
                "gauge",
                "Sources banned now.",
                banned as u64,
            ),
            (
                "sip_edge_banned_packets_total",
                "counter",
                "Packets dropped unparsed because their source is banned.",
                self.counters.dropped_banned.load(Ordering::Relaxed),
            ),
            (
                "sip_edge_guard_dropped_total",
                "counter",
                "Messages of known sources dropped over their rate or for a scanner User-Agent.",
                self.counters.dropped_over_limit.load(Ordering::Relaxed),
            ),
            (
                "sip_edge_guard_table_full_drops_total",
                "counter",
                "Packets of new unknown sources dropped because the source table was full.",
                self.counters.dropped_table_full.load(Ordering::Relaxed),
            ),
            (
                "sip_edge_oversized_messages_total",
                "counter",
                "Messages dropped unparsed for exceeding a size limit.",
                self.counters.oversize.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in simple {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    }
}

/// Checks the size limits on raw message bytes: whole size, each header line, number
/// of header lines (the body is not looked at).
///
/// # Errors
/// The first limit exceeded.
pub fn check_size(bytes: &[u8], config: &GuardConfig) -> Result<(), SizeError> {
    if bytes.len() > config.max_message_bytes {
        return Err(SizeError::Message(bytes.len()));
    }
    let mut headers = 0usize;
    for line in bytes.split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() > config.max_header_bytes {
            return Err(SizeError::Header(line.len()));
        }
        headers += 1;
        if headers > config.max_headers {
            return Err(SizeError::TooManyHeaders(config.max_headers));
        }
    }
    Ok(())
}

/// Runs [`Guard::sweep`] every `period` until the task is aborted.
pub async fn sweep_every(guard: Arc<Guard>, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        guard.sweep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn guard(config: GuardConfig) -> Guard {
        let g = Guard::new(config);
        g.set_known(HashSet::from([ip(7)]), Arc::new(empty_provisioning()));
        g
    }

    fn empty_provisioning() -> Provisioning {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("customers.toml"), "").unwrap();
        std::fs::write(dir.path().join("trunks.toml"), "").unwrap();
        Provisioning::load(dir.path()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn request(user_agent: &str) -> Message {
        let text = format!(
            "OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n\
From: <sip:100@192.0.2.9>;tag=1\r\nTo: <sip:100@192.0.2.1>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\
User-Agent: {user_agent}\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_source_over_its_rate_is_banned_then_released() {
        let g = guard(GuardConfig {
            requests_per_sec: 10,
            burst: 5,
            ban_secs: 30,
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        let sent: Vec<bool> = (0..8).map(|_| g.admit_bytes_at(ip(9), b"x", t0)).collect();
        assert_eq!(sent, [true, true, true, true, true, false, false, false]);
        assert!(g.is_banned(ip(9)));
        // Another source is not affected.
        assert!(g.admit_bytes_at(ip(10), b"x", t0));
        // Still banned later, even at a slow pace; the dropped packets are counted.
        assert!(!g.admit_bytes_at(ip(9), b"x", t0 + Duration::from_secs(29)));
        assert_eq!(g.bans()[0].dropped_packets, 3);
        assert_eq!(g.bans()[0].reason, "rate");
        // After the ban, a full bucket again.
        assert!(g.admit_bytes_at(ip(9), b"x", t0 + Duration::from_secs(31)));
        assert!(!g.is_banned(ip(9)));
    }

    #[test]
    fn the_bucket_refills_at_the_sustained_rate() {
        let g = guard(GuardConfig {
            requests_per_sec: 10,
            burst: 2,
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        // 10 per second, one every 100 ms, forever: never banned.
        for i in 0..100 {
            assert!(g.admit_bytes_at(ip(9), b"x", t0 + Duration::from_millis(100 * i)));
        }
        assert!(!g.is_banned(ip(9)));
    }

    #[test]
    fn known_sources_are_never_banned() {
        let g = guard(GuardConfig {
            requests_per_sec: 1,
            burst: 1,
            transactions_in_flight: 1,
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(g.admit_bytes_at(ip(7), b"x", t0));
        }
        for _ in 0..10 {
            g.transaction_opened(ip(7));
        }
        assert!(!g.admit_message(ip(7), &request("friendly-scanner")));
        assert!(!g.is_banned(ip(7)));
        assert!(g.admit_bytes_at(ip(7), b"x", t0));
    }

    #[test]
    fn known_sources_may_have_their_own_rate() {
        let g = guard(GuardConfig {
            known_requests_per_sec: 2,
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        let sent: Vec<bool> = (0..6).map(|_| g.admit_bytes_at(ip(7), b"x", t0)).collect();
        assert_eq!(sent, [true, true, true, true, false, false]);
        assert!(!g.is_banned(ip(7)));
    }

    #[test]
    fn scanner_user_agents_ban_at_once() {
        let g = guard(GuardConfig {
            scanner_user_agents: vec!["EvilDialer".into()],
            ..GuardConfig::default()
        });
        assert!(g.admit_bytes(ip(9), b"x"));
        assert!(!g.admit_message(ip(9), &request("friendly-scanner")));
        assert!(g.is_banned(ip(9)));
        assert_eq!(g.bans()[0].reason, "scanner");
        assert!(!g.admit_bytes(ip(9), b"x"));

        assert!(g.admit_bytes(ip(11), b"x"));
        assert!(!g.admit_message(ip(11), &request("evildialer 2.1")));
        assert!(g.is_banned(ip(11)));

        for agent in ["VaxSIPUserAgent/3.1", "sipcli/v1.8", "SIPVicious"] {
            assert!(!g.admit_message(ip(12), &request(agent)), "{agent}");
        }
        assert!(g.admit_bytes(ip(13), b"x"));
        assert!(g.admit_message(ip(13), &request("Yealink SIP-T46S 66.86.0.15")));
        assert!(!g.is_banned(ip(13)));
    }

    #[test]
    fn too_many_transactions_in_flight_ban() {
        let g = guard(GuardConfig {
            transactions_in_flight: 3,
            ..GuardConfig::default()
        });
        assert!(g.admit_bytes(ip(9), b"x"));
        for _ in 0..3 {
            g.transaction_opened(ip(9));
        }
        g.transaction_closed(ip(9));
        g.transaction_opened(ip(9));
        assert!(!g.is_banned(ip(9)));
        g.transaction_opened(ip(9));
        assert!(g.is_banned(ip(9)));
        assert_eq!(g.bans()[0].reason, "in_flight");
        assert!(!g.admit_connection(ip(9)));
        assert!(g.admit_connection(ip(10)));
    }

    #[test]
    fn size_limits() {
        let config = GuardConfig {
            max_message_bytes: 2000,
            max_header_bytes: 300,
            max_headers: 20,
            ..GuardConfig::default()
        };
        let ok = b"INVITE sip:x SIP/2.0\r\nVia: a\r\nTo: b\r\n\r\nbody";
        assert_eq!(check_size(ok, &config), Ok(()));
        assert_eq!(
            check_size(&vec![b'a'; 2001], &config),
            Err(SizeError::Message(2001))
        );
        let long = format!(
            "INVITE sip:x SIP/2.0\r\nX-Long: {}\r\n\r\n",
            "a".repeat(300)
        );
        assert_eq!(
            check_size(long.as_bytes(), &config),
            Err(SizeError::Header(308))
        );
        let many = format!("INVITE sip:x SIP/2.0\r\n{}\r\n", "X: y\r\n".repeat(21));
        assert_eq!(
            check_size(many.as_bytes(), &config),
            Err(SizeError::TooManyHeaders(20))
        );
        // The body is not looked at.
        let body = format!("INVITE sip:x SIP/2.0\r\nA: b\r\n\r\n{}", "z".repeat(1000));
        assert_eq!(check_size(body.as_bytes(), &config), Ok(()));
        let g = guard(config);
        assert!(!g.admit_bytes(ip(9), long.as_bytes()));
        assert!(!g.is_banned(ip(9)));
    }

    #[test]
    fn sweep_ends_bans_and_forgets_idle_sources() {
        let g = guard(GuardConfig {
            ban_secs: 10,
            ..GuardConfig::default()
        });
        let t0 = Instant::now();
        assert!(g.admit_bytes_at(ip(9), b"x", t0));
        assert!(g.admit_bytes_at(ip(10), b"x", t0));
        assert!(!g.admit_message(ip(9), &request("friendly-scanner")));
        g.sweep_at(t0 + Duration::from_secs(5));
        assert_eq!(g.bans().len(), 1);
        g.sweep_at(t0 + Duration::from_secs(61));
        assert!(g.bans().is_empty());
        assert!(g.sources.lock().unwrap().map.is_empty());
    }

    #[test]
    fn configuration_checks_name_the_key() {
        let errors = GuardConfig {
            requests_per_sec: 0,
            scanner_user_agents: vec!["ab".into()],
            ..GuardConfig::default()
        }
        .check();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("guard.requests_per_sec: must be at least 1"));
        assert!(errors[1].contains("guard.scanner_user_agents[0]"));
    }

    #[test]
    fn the_built_in_list_is_read() {
        let g = Guard::new(GuardConfig::default());
        assert!(g.scanner_fragments.iter().any(|f| f == "friendly-scanner"));
        assert!(g.scanner_fragments.iter().all(|f| !f.starts_with('#')));
    }
}
