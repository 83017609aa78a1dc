//! The edge's configuration file (TOML): reading, validation, defaults.
//!
//! [`EdgeConfig::from_toml`] is pure: it touches no file or socket and reports
//! **every** problem at once, each naming the key path and the value it got:
//!
//! ```text
//! listen[1].address: "127.0.0.1" is not an address with a port (expected e.g. 127.0.0.1:5060)
//! timers.timer_c_secs: must be at least 1, got 0
//! unknown key "chanels" (expected one of: node_id, provisioning_dir, ...)
//! ```
//!
//! # Reference
//!
//! ```toml
//! node_id = "edge-paris-1"        # required: names this node in call records
//! provisioning_dir = "/etc/fairtrunk/provisioning"  # required; reloaded on SIGHUP
//! spool_dir = "/var/lib/fairtrunk/edge-spool"       # required: call-record spool
//! metrics_address = "127.0.0.1:9090"  # optional: Prometheus text at /metrics
//! refusal_code = 503              # 503 (default, with a Warning), 486 or 403: answer
//!                                 #   to a call refused for lack of a channel
//! max_call_duration_secs = 14400  # default 4 h: the edge ends longer calls (BYE both sides)
//! drain_timeout_secs = 30         # SIGTERM: calls in progress may go on this long
//! user_agent = "fairtrunk-sip-edge"  # Server header of the edge's own responses; no
//!                                 #   digits (a version would guide scanners)
//!
//! [[listen]]                      # at least one; UDP, TCP and TLS, IPv4 and IPv6
//! transport = "udp"               # udp | tcp | tls (tls needs the [tls] table)
//! address = "192.0.2.1:5060"      # IP and port (5060 is the usual, 5061 for TLS)
//! advertise = "sip.example.net"   # optional: host written in Via and Record-Route
//!                                 #   (required when address is 0.0.0.0 or ::; for
//!                                 #   TLS, the name in the edge's certificate)
//!
//! [[carrier]]                     # carrier interconnects, tried in order for
//! name = "carrier-a"              #   outbound calls; requests from their IP
//! address = "198.51.100.7:5060"   #   addresses are inbound calls
//! transport = "udp"               # udp | tcp | tls
//! server_name = "sbc.carrier.net" # tls only (required): the name its certificate
//!                                 #   must hold
//!
//! [tls]                           # required by a tls listener or peer; files are
//! certificate = "edge.crt"        #   PEM, relative to this file; SIGHUP re-reads
//! private_key = "edge.key"        #   the certificate and key (calls go on)
//! trusted_roots = "roots.pem"     # CAs that peers' certificates (servers we call,
//!                                 #   clients presenting one) must chain to
//! handshake_timeout_secs = 10
//!
//! [auth]                          # digest authentication of trunks with credentials
//! realm = "sip.example.net"       # default: node_id
//! nonce_ttl_secs = 300            # a nonce older than this gets a stale challenge
//! algorithms = ["SHA-256", "MD5"] # challenges offered, in preference order (RFC
//!                                 #   8760); clients that read only the first
//!                                 #   challenge and know only MD5 (SIPp 3.6) need
//!                                 #   ["MD5"] or MD5 first
//! min_expires_secs = 60           # REGISTER: shorter asks get 423 Interval Too Brief
//! max_expires_secs = 3600         # REGISTER: longer asks are cut to this
//!
//! [keepalive]                     # optional: OPTIONS to every carrier
//! interval_secs = 30              # one probe per interval (milliseconds: interval_ms)
//! down_after = 3                  # unanswered probes in a row before a carrier is
//!                                 #   marked down and skipped for routing
//!
//! [hosts]                         # optional: names resolved without DNS (like
//! "sbc.contoso.fr" = "192.0.2.50" #   /etc/hosts), ahead of the system resolver
//!
//! [timers]                        # RFC 3261 timers; defaults shown
//! t1_ms = 500
//! t2_ms = 4000
//! t4_ms = 5000
//! timer_c_secs = 180              # no final answer to an INVITE: CANCEL and 408
//!
//! [inbound_numbers]               # interim DID table until the number inventory
//! "+33140000001" = "acme-multisite/paris-hq"   # lands: E.164 = "trunk" or "trunk/site"
//!
//! [clickhouse]                    # the cdr crate's settings: url, database, user,
//! url = "http://127.0.0.1:8123"   #   password, cluster
//!
//! [guard]                         # scanner and flood defence (crate::guard); defaults shown
//! requests_per_sec = 20           # sustained messages/s of an unknown source, and
//! burst = 40                      #   how many at once: above, the source is banned
//! transactions_in_flight = 64     # open server transactions of an unknown source
//! ban_secs = 3600                 # how long a ban lasts
//! known_requests_per_sec = 0      # carriers and trunk addresses: 0 = unlimited
//! max_message_bytes = 16384       # larger messages are dropped unparsed
//! max_header_bytes = 4096         # longest header line
//! max_headers = 128               # most header lines
//! scanner_user_agents = []        # more User-Agent fragments that ban at once
//!
//! [fraud]                         # anomaly detection (crate::fraud); defaults shown
//! window_secs = 300               # recent window compared with the baseline
//! baseline_secs = 604800          # the trunk's baseline: this long before the window
//! factor = 10.0                   # recent attempts above factor x baseline: blocked
//! min_calls = 20                  #   (and at least this many in the window)
//!
//! [admin]                         # optional: the admin API (crate::admin)
//! address = "127.0.0.1:9091"      # required in the section; loopback advised
//! token_idle_days = 183           # a token unused this long is disabled
//! [[admin.token]]
//! name = "noc-alice"              # written in every log line of its actions
//! sha256 = "9f86d0...0f00a08"      # hex SHA-256 of the secret token
//! issued = 2026-11-01             # counts as its last use until it is used
//! ```

use cdr::ClickhouseConfig;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use toml::{Table, Value};

/// A SIP transport the edge listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// TCP streams.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// Lower-case name, as in the file and in `Record-Route` (`transport=`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// Upper-case name, as in `Via`.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen {
    /// UDP or TCP.
    pub transport: Transport,
    /// Address and port bound.
    pub address: SocketAddr,
    /// Host written in `Via` and `Record-Route`; the bound IP when absent.
    pub advertise: Option<String>,
}

impl Listen {
    /// `host:port` as written in Via and Record-Route.
    pub fn advertised(&self) -> String {
        match &self.advertise {
            Some(host) => format!("{host}:{}", self.address.port()),
            None => self.address.to_string(),
        }
    }
}

/// A carrier interconnect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Carrier {
    /// Name, for logs.
    pub name: String,
    /// Where outbound calls are sent; requests from this IP are inbound calls.
    pub address: SocketAddr,
    /// Transport to reach it.
    pub transport: Transport,
    /// For TLS: the name its certificate must hold.
    pub server_name: Option<String>,
}

/// The edge's certificate and the roots it trusts (`[tls]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub certificate: PathBuf,
    /// PEM private key.
    pub private_key: PathBuf,
    /// PEM certificates of the CAs peers' certificates must chain to.
    pub trusted_roots: PathBuf,
    /// Longest TLS handshake.
    pub handshake_timeout: Duration,
}

/// Digest authentication and registration settings (`[auth]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// Digest realm; the node id when absent.
    pub realm: Option<String>,
    /// How long a nonce is accepted.
    pub nonce_ttl: Duration,
    /// Digest algorithms challenged with, most preferred first.
    pub algorithms: Vec<crate::auth::Algorithm>,
    /// Shortest registration accepted.
    pub min_expires: Duration,
    /// Longest registration granted.
    pub max_expires: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            realm: None,
            nonce_ttl: Duration::from_secs(300),
            algorithms: vec![crate::auth::Algorithm::Sha256, crate::auth::Algorithm::Md5],
            min_expires: Duration::from_secs(60),
            max_expires: Duration::from_secs(3600),
        }
    }
}

/// OPTIONS keepalives to the carriers (`[keepalive]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepaliveSettings {
    /// Time between two probes of a carrier.
    pub interval: Duration,
    /// Unanswered probes in a row before the carrier is marked down.
    pub down_after: u32,
}

/// RFC 3261 timer settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// T1: round-trip estimate, first retransmission interval.
    pub t1: Duration,
    /// T2: longest retransmission interval for non-INVITE requests and responses.
    pub t2: Duration,
    /// T4: longest time a message stays in the network.
    pub t4: Duration,
    /// Timer C: longest wait for a final answer to a forwarded INVITE.
    pub timer_c: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_millis(4000),
            t4: Duration::from_millis(5000),
            timer_c: Duration::from_secs(180),
        }
    }
}

/// Answer to a call refused for lack of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalCode {
    /// 503 Service Unavailable with a Warning naming the limit (default).
    ServiceUnavailable,
    /// 486 Busy Here.
    BusyHere,
    /// 403 Forbidden.
    Forbidden,
}

impl RefusalCode {
    /// Status code and reason phrase.
    pub fn status(self) -> (u16, &'static str) {
        match self {
            RefusalCode::ServiceUnavailable => (503, "Service Unavailable"),
            RefusalCode::BusyHere => (486, "Busy Here"),
            RefusalCode::Forbidden => (403, "Forbidden"),
        }
    }
}

/// Where an inbound number goes (interim table, see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundNumber {
    /// Trunk id.
    pub trunk: String,
    /// Site id inside the trunk.
    pub site: Option<String>,
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeConfig {
    /// This node's id, written in every record.
    pub node_id: String,
    /// Provisioning directory.
    pub provisioning_dir: PathBuf,
    /// Call-record spool folder.
    pub spool_dir: PathBuf,
    /// Prometheus endpoint address.
    pub metrics_address: Option<SocketAddr>,
    /// Answer to calls refused for lack of a channel.
    pub refusal_code: RefusalCode,
    /// Longest call before the edge ends it.
    pub max_call_duration: Duration,
    /// How long calls in progress may go on after SIGTERM.
    pub drain_timeout: Duration,
    /// Server header value.
    pub user_agent: String,
    /// Listening sockets.
    pub listen: Vec<Listen>,
    /// Carrier interconnects, in failover order.
    pub carriers: Vec<Carrier>,
    /// SIP timers.
    pub timers: Timers,
    /// Interim DID table (E.164 → trunk and site).
    pub inbound_numbers: BTreeMap<String, InboundNumber>,
    /// Call-record store.
    pub clickhouse: ClickhouseConfig,
    /// Certificate, key and trusted roots, when TLS is used.
    pub tls: Option<TlsSettings>,
    /// Digest authentication and registration.
    pub auth: AuthSettings,
    /// Carrier keepalives, when enabled.
    pub keepalive: Option<KeepaliveSettings>,
    /// Names resolved without DNS.
    pub hosts: BTreeMap<String, std::net::IpAddr>,
    /// Scanner and flood defence.
    pub guard: crate::guard::GuardConfig,
    /// Toll-fraud anomaly detection.
    pub fraud: crate::fraud::FraudConfig,
    /// The admin API, when configured.
    pub admin: Option<crate::admin::AdminConfig>,
}

/// Every problem found in a configuration file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}", .0.join("\n"))]
pub struct ConfigErrors(pub Vec<String>);

const TOP_KEYS: &[&str] = &[
    "node_id",
    "provisioning_dir",
    "spool_dir",
    "metrics_address",
    "refusal_code",
    "max_call_duration_secs",
    "drain_timeout_secs",
    "user_agent",
    "listen",
    "carrier",
    "timers",
    "inbound_numbers",
    "clickhouse",
    "tls",
    "auth",
    "keepalive",
    "hosts",
    "guard",
    "fraud",
    "admin",
];

struct Reader {
    errors: Vec<String>,
}

impl Reader {
    fn unknown_keys(&mut self, table: &Table, path: &str, known: &[&str]) {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                let at = if path.is_empty() {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                self.errors.push(format!(
                    "{at}unknown key {key:?} (expected one of: {})",
                    known.join(", ")
                ));
            }
        }
    }

    fn string(&mut self, table: &Table, key: &str, path: &str, required: bool) -> Option<String> {
        match table.get(key) {
            None if required => {
                self.errors.push(format!("{path}{key}: missing (required)"));
                None
            }
            None => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.errors.push(format!("{path}{key}: must not be empty"));
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.errors
                    .push(format!("{path}{key}: expected a string, got {other}"));
                None
            }
        }
    }

    fn integer(&mut self, table: &Table, key: &str, path: &str, min: i64, default: i64) -> i64 {
        match table.get(key) {
            None => default,
            Some(Value::Integer(n)) if *n >= min => *n,
            Some(Value::Integer(n)) => {
                self.errors
                    .push(format!("{path}{key}: must be at least {min}, got {n}"));
                default
            }
            Some(other) => {
                self.errors
                    .push(format!("{path}{key}: expected an integer, got {other}"));
                default
            }
        }
    }

    fn address(
        &mut self,
        table: &Table,
        key: &str,
        path: &str,
        required: bool,
    ) -> Option<SocketAddr> {
        let text = self.string(table, key, path, required)?;
        match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.errors.push(format!(
                    "{path}{key}: {text:?} is not an address with a port (expected e.g. 127.0.0.1:5060 or [::1]:5060)"
                ));
                None
            }
        }
    }

    fn transport(&mut self, table: &Table, path: &str) -> Option<Transport> {
        match self.string(table, "transport", path, true)?.as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            other => {
                self.errors.push(format!(
                    "{path}transport: {other:?} is not supported (expected udp, tcp or tls)"
                ));
                None
            }
        }
    }

    /// A section read with serde (`deny_unknown_fields`): `None` when absent or
    /// invalid (the error is recorded with the section's name).
    fn section<T: serde::de::DeserializeOwned>(&mut self, table: &Table, key: &str) -> Option<T> {
        let value = table.get(key)?;
        match value.clone().try_into::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(format!("{key}: {}", e.to_string().trim()));
                None
            }
        }
    }

    fn tables<'a>(&mut self, table: &'a Table, key: &str) -> Vec<&'a Table> {
        match table.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item {
                    Value::Table(t) => Some(t),
                    other => {
                        self.errors
                            .push(format!("{key}[{i}]: expected a table, got {other}"));
                        None
                    }
                })
                .collect(),
            Some(other) => {
                self.errors.push(format!(
                    "{key}: expected an array of tables ([[{key}]]), got {other}"
                ));
                Vec::new()
            }
        }
    }
}

impl EdgeConfig {
    /// Reads and validates a configuration text.
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every problem, one line each.
    pub fn from_toml(text: &str) -> Result<EdgeConfig, ConfigErrors> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigErrors(vec![e.to_string().trim().to_string()]))?;
        let mut r = Reader { errors: Vec::new() };
        r.unknown_keys(&table, "", TOP_KEYS);

        let node_id = r.string(&table, "node_id", "", true);
        if let Some(id) = &node_id {
            if !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                r.errors.push(format!(
                    "node_id: {id:?} may only hold letters, digits, '-', '_' and '.'"
                ));
            }
        }
        let provisioning_dir = r.string(&table, "provisioning_dir", "", true);
        let spool_dir = r.string(&table, "spool_dir", "", true);
        let metrics_address = r.address(&table, "metrics_address", "", false);
        let refusal_code = match r.integer(&table, "refusal_code", "", 0, 503) {
            503 => RefusalCode::ServiceUnavailable,
            486 => RefusalCode::BusyHere,
            403 => RefusalCode::Forbidden,
            other => {
                r.errors.push(format!(
                    "refusal_code: {other} is not allowed (expected 503, 486 or 403)"
                ));
                RefusalCode::ServiceUnavailable
            }
        };
        let max_call_duration =
            Duration::from_secs(r.integer(&table, "max_call_duration_secs", "", 1, 14_400) as u64);
        let drain_timeout =
            Duration::from_secs(r.integer(&table, "drain_timeout_secs", "", 0, 30) as u64);
        let user_agent = r
            .string(&table, "user_agent", "", false)
            .unwrap_or_else(|| "fairtrunk-sip-edge".to_string());

        let mut listen = Vec::new();
        for (i, t) in r.tables(&table, "listen").into_iter().enumerate() {
            let path = format!("listen[{i}].");
            r.unknown_keys(
                t,
                &format!("listen[{i}]"),
                &["transport", "address", "advertise"],
            );
            let transport = r.transport(t, &path);
            let address = r.address(t, "address", &path, true);
            let advertise = r.string(t, "advertise", &path, false);
            if let Some(addr) = address {
                if addr.ip().is_unspecified() && advertise.is_none() {
                    r.errors.push(format!(
                        "{path}address: {addr} is a wildcard: set {path}advertise to the host peers must reach"
                    ));
                }
            }
            if let (Some(transport), Some(address)) = (transport, address) {
                let item = Listen {
                    transport,
                    address,
                    advertise,
                };
                if listen
                    .iter()
                    .any(|l: &Listen| l.transport == transport && l.address == address)
                {
                    r.errors.push(format!(
                        "{path}address: {} {address} is listed twice",
                        transport.as_str()
                    ));
                }
                listen.push(item);
            }
        }
        if !table.contains_key("listen")
            || matches!(table.get("listen"), Some(Value::Array(items)) if items.is_empty())
        {
            r.errors.push(
                "listen: missing (at least one [[listen]] with transport and address)".into(),
            );
        }

        let mut carriers = Vec::new();
        for (i, t) in r.tables(&table, "carrier").into_iter().enumerate() {
            let path = format!("carrier[{i}].");
            r.unknown_keys(
                t,
                &format!("carrier[{i}]"),
                &["name", "address", "transport", "server_name"],
            );
            let name = r.string(t, "name", &path, true);
            let address = r.address(t, "address", &path, true);
            let transport = r.transport(t, &path);
            let server_name = r.string(t, "server_name", &path, false);
            if transport == Some(Transport::Tls) && server_name.is_none() {
                r.errors.push(format!(
                    "{path}server_name: missing (required with transport \"tls\": the name the carrier's certificate holds)"
                ));
            }
            if let (Some(name), Some(address), Some(transport)) = (name, address, transport) {
                carriers.push(Carrier {
                    name,
                    address,
                    transport,
                    server_name,
                });
            }
        }

        let mut timers = Timers::default();
        match table.get("timers") {
            None => {}
            Some(Value::Table(t)) => {
                r.unknown_keys(t, "timers", &["t1_ms", "t2_ms", "t4_ms", "timer_c_secs"]);
                let t1 = r.integer(t, "t1_ms", "timers.", 1, 500) as u64;
                let t2 = r.integer(t, "t2_ms", "timers.", 1, 4000) as u64;
                let t4 = r.integer(t, "t4_ms", "timers.", 1, 5000) as u64;
                let c = r.integer(t, "timer_c_secs", "timers.", 1, 180) as u64;
                if t2 < t1 {
                    r.errors.push(format!(
                        "timers.t2_ms: {t2} is shorter than t1_ms {t1} (T2 caps T1's doubling)"
                    ));
                }
                timers = Timers {
                    t1: Duration::from_millis(t1),
                    t2: Duration::from_millis(t2),
                    t4: Duration::from_millis(t4),
                    timer_c: Duration::from_secs(c),
                };
            }
            Some(other) => r
                .errors
                .push(format!("timers: expected a table, got {other}")),
        }

        let mut inbound_numbers = BTreeMap::new();
        match table.get("inbound_numbers") {
            None => {}
            Some(Value::Table(t)) => {
                for (number, target) in t {
                    let e164 = match number_portability::parse(number) {
                        Ok(n) => n.to_string(),
                        Err(e) => {
                            r.errors.push(format!("inbound_numbers.{number:?}: {e}"));
                            continue;
                        }
                    };
                    let Value::String(target) = target else {
                        r.errors.push(format!(
                            "inbound_numbers.{number:?}: expected \"trunk\" or \"trunk/site\", got {target}"
                        ));
                        continue;
                    };
                    let (trunk, site) = match target.split_once('/') {
                        Some((t, s)) => (t.to_string(), Some(s.to_string())),
                        None => (target.clone(), None),
                    };
                    if trunk.is_empty() || site.as_deref() == Some("") {
                        r.errors.push(format!(
                            "inbound_numbers.{number:?}: {target:?} is not \"trunk\" or \"trunk/site\""
                        ));
                        continue;
                    }
                    inbound_numbers.insert(e164, InboundNumber { trunk, site });
                }
            }
            Some(other) => r
                .errors
                .push(format!("inbound_numbers: expected a table, got {other}")),
        }

        let clickhouse = match table.get("clickhouse") {
            None => {
                r.errors
                    .push("clickhouse: missing (a [clickhouse] table with at least url)".into());
                None
            }
            Some(value) => match value.clone().try_into::<ClickhouseConfig>() {
                Ok(c) => Some(c),
                Err(e) => {
                    r.errors
                        .push(format!("clickhouse: {}", e.to_string().trim()));
                    None
                }
            },
        };

        let security = read_security(&mut r, &table);
        let uses_tls = listen.iter().any(|l| l.transport == Transport::Tls)
            || carriers.iter().any(|c| c.transport == Transport::Tls);
        if uses_tls && security.tls.is_none() && !table.contains_key("tls") {
            r.errors.push(
                "tls: missing (a tls listener or carrier needs [tls] with certificate, private_key and trusted_roots)".into(),
            );
        }
        let guard: crate::guard::GuardConfig = r.section(&table, "guard").unwrap_or_default();
        r.errors.extend(guard.check());
        let fraud: crate::fraud::FraudConfig = r.section(&table, "fraud").unwrap_or_default();
        r.errors.extend(fraud.check());
        let admin: Option<crate::admin::AdminConfig> = r.section(&table, "admin");
        if let Some(admin) = &admin {
            r.errors.extend(admin.check());
        }
        if user_agent.chars().any(|c| c.is_ascii_digit()) {
            r.errors.push(format!(
                "user_agent: {user_agent:?} must not carry a version (scanners pick their targets by version)"
            ));
        }

        if !r.errors.is_empty() {
            return Err(ConfigErrors(r.errors));
        }
        let (Some(node_id), Some(provisioning_dir), Some(spool_dir), Some(clickhouse)) =
            (node_id, provisioning_dir, spool_dir, clickhouse)
        else {
            return Err(ConfigErrors(vec!["required keys are missing".into()]));
        };
        Ok(EdgeConfig {
            node_id,
            provisioning_dir: provisioning_dir.into(),
            spool_dir: spool_dir.into(),
            metrics_address,
            refusal_code,
            max_call_duration,
            drain_timeout,
            user_agent,
            listen,
            carriers,
            timers,
            inbound_numbers,
            clickhouse,
            tls: security.tls,
            auth: security.auth,
            keepalive: security.keepalive,
            hosts: security.hosts,
            guard,
            fraud,
            admin,
        })
    }

    /// Reads and validates a configuration file; relative directories in it are taken
    /// relative to the file's folder.
    ///
    /// # Errors
    /// The file cannot be read, or [`ConfigErrors`] prefixed with its path.
    pub fn load(path: &std::path::Path) -> Result<EdgeConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut config = EdgeConfig::from_toml(&text).map_err(|errors| {
            errors
                .0
                .iter()
                .map(|e| format!("{}: {e}", path.display()))
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        let mut paths = vec![&mut config.provisioning_dir, &mut config.spool_dir];
        if let Some(tls) = &mut config.tls {
            paths.extend([
                &mut tls.certificate,
                &mut tls.private_key,
                &mut tls.trusted_roots,
            ]);
        }
        for dir in paths {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        Ok(config)
    }
}

/// The `[tls]`, `[auth]`, `[keepalive]` and `[hosts]` tables.
struct Security {
    tls: Option<TlsSettings>,
    auth: AuthSettings,
    keepalive: Option<KeepaliveSettings>,
    hosts: BTreeMap<String, std::net::IpAddr>,
}

fn read_security(r: &mut Reader, table: &Table) -> Security {
    let mut tls = None;
    match table.get("tls") {
        None => {}
        Some(Value::Table(t)) => {
            r.unknown_keys(
                t,
                "tls",
                &[
                    "certificate",
                    "private_key",
                    "trusted_roots",
                    "handshake_timeout_secs",
                ],
            );
            let certificate = r.string(t, "certificate", "tls.", true);
            let private_key = r.string(t, "private_key", "tls.", true);
            let trusted_roots = r.string(t, "trusted_roots", "tls.", true);
            let timeout = r.integer(t, "handshake_timeout_secs", "tls.", 1, 10) as u64;
            if let (Some(certificate), Some(private_key), Some(trusted_roots)) =
                (certificate, private_key, trusted_roots)
            {
                tls = Some(TlsSettings {
                    certificate: certificate.into(),
                    private_key: private_key.into(),
                    trusted_roots: trusted_roots.into(),
                    handshake_timeout: Duration::from_secs(timeout),
                });
            }
        }
        Some(other) => r.errors.push(format!("tls: expected a table, got {other}")),
    }
    let mut auth = AuthSettings::default();
    match table.get("auth") {
        None => {}
        Some(Value::Table(t)) => {
            r.unknown_keys(
                t,
                "auth",
                &[
                    "realm",
                    "nonce_ttl_secs",
                    "algorithms",
                    "min_expires_secs",
                    "max_expires_secs",
                ],
            );
            auth.realm = r.string(t, "realm", "auth.", false);
            if let Some(realm) = &auth.realm {
                if realm.contains(['"', '\\']) || realm.chars().any(char::is_control) {
                    r.errors.push(format!(
                        "auth.realm: {realm:?} may not hold quotes, backslashes or control characters"
                    ));
                }
            }
            auth.nonce_ttl =
                Duration::from_secs(r.integer(t, "nonce_ttl_secs", "auth.", 1, 300) as u64);
            match t.get("algorithms") {
                None => {}
                Some(Value::Array(items)) if !items.is_empty() => {
                    let mut algorithms = Vec::new();
                    for item in items {
                        match item.as_str().and_then(crate::auth::Algorithm::from_name) {
                            Some(a) if !algorithms.contains(&a) => algorithms.push(a),
                            Some(_) => r
                                .errors
                                .push(format!("auth.algorithms: {item} is listed twice")),
                            None => r.errors.push(format!(
                                "auth.algorithms: {item} is not supported (expected \"SHA-256\" or \"MD5\")"
                            )),
                        }
                    }
                    auth.algorithms = algorithms;
                }
                Some(other) => r.errors.push(format!(
                    "auth.algorithms: expected a non-empty list such as [\"SHA-256\", \"MD5\"], got {other}"
                )),
            }
            let min = r.integer(t, "min_expires_secs", "auth.", 1, 60);
            let max = r.integer(t, "max_expires_secs", "auth.", 1, 3600);
            if max < min {
                r.errors.push(format!(
                    "auth.max_expires_secs: {max} is shorter than min_expires_secs {min}"
                ));
            }
            auth.min_expires = Duration::from_secs(min as u64);
            auth.max_expires = Duration::from_secs(max as u64);
        }
        Some(other) => r
            .errors
            .push(format!("auth: expected a table, got {other}")),
    }
    let mut keepalive = None;
    match table.get("keepalive") {
        None => {}
        Some(Value::Table(t)) => {
            r.unknown_keys(
                t,
                "keepalive",
                &["interval_secs", "interval_ms", "down_after"],
            );
            let interval = match (t.get("interval_secs"), t.get("interval_ms")) {
                (Some(_), Some(_)) => {
                    r.errors
                        .push("keepalive: interval_secs and interval_ms are exclusive".to_string());
                    Duration::from_secs(30)
                }
                (None, Some(_)) => {
                    Duration::from_millis(
                        r.integer(t, "interval_ms", "keepalive.", 10, 30_000) as u64
                    )
                }
                _ => Duration::from_secs(r.integer(t, "interval_secs", "keepalive.", 1, 30) as u64),
            };
            let down_after = r.integer(t, "down_after", "keepalive.", 1, 3) as u32;
            keepalive = Some(KeepaliveSettings {
                interval,
                down_after,
            });
        }
        Some(other) => r
            .errors
            .push(format!("keepalive: expected a table, got {other}")),
    }
    let mut hosts = BTreeMap::new();
    match table.get("hosts") {
        None => {}
        Some(Value::Table(t)) => {
            for (name, ip) in t {
                match ip.as_str().map(str::parse::<std::net::IpAddr>) {
                    Some(Ok(ip)) => {
                        hosts.insert(name.to_ascii_lowercase(), ip);
                    }
                    _ => r.errors.push(format!(
                        "hosts.{name:?}: expected an IP address as a string, got {ip}"
                    )),
                }
            }
        }
        Some(other) => r
            .errors
            .push(format!("hosts: expected a table, got {other}")),
    }
    Security {
        tls,
        auth,
        keepalive,
        hosts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
node_id = "edge-1"
provisioning_dir = "prov"
spool_dir = "spool"
[[listen]]
transport = "udp"
address = "127.0.0.1:5060"
[clickhouse]
url = "http://127.0.0.1:8123"
"#;

    #[test]
    fn minimal_config_gets_the_defaults() {
        let c = EdgeConfig::from_toml(MINIMAL).unwrap();
        assert_eq!(c.refusal_code, RefusalCode::ServiceUnavailable);
        assert_eq!(c.max_call_duration, Duration::from_secs(4 * 3600));
        assert_eq!(c.timers.timer_c, Duration::from_secs(180));
        assert_eq!(c.timers.t1, Duration::from_millis(500));
        assert_eq!(c.listen[0].advertised(), "127.0.0.1:5060");
        assert!(c.carriers.is_empty());
        assert_eq!(c.clickhouse.database, "fairtrunk");
    }

    #[test]
    fn full_config_reads_every_section() {
        let text = format!(
            "{MINIMAL}\n{}",
            r#"
[[carrier]]
name = "a"
address = "127.0.0.3:5060"
transport = "tcp"
[timers]
t1_ms = 100
timer_c_secs = 2
[inbound_numbers]
"01 40 00 00 01" = "acme/paris-hq"
"+33140000002" = "acme"
"#
        );
        // Top-level keys after a table belong to the table in TOML: put them first.
        let text = text.replace(
            "node_id = \"edge-1\"",
            "node_id = \"edge-1\"\nrefusal_code = 486\nmax_call_duration_secs = 5",
        );
        let c = EdgeConfig::from_toml(&text).unwrap();
        assert_eq!(c.refusal_code, RefusalCode::BusyHere);
        assert_eq!(c.max_call_duration, Duration::from_secs(5));
        assert_eq!(c.carriers[0].transport, Transport::Tcp);
        assert_eq!(c.timers.t1, Duration::from_millis(100));
        assert_eq!(c.timers.timer_c, Duration::from_secs(2));
        assert_eq!(
            c.inbound_numbers["+33140000001"],
            InboundNumber {
                trunk: "acme".into(),
                site: Some("paris-hq".into())
            }
        );
        assert_eq!(c.inbound_numbers["+33140000002"].site, None);
    }

    #[test]
    fn reports_every_error_at_once() {
        let text = r#"
node_id = "edge 1"
spool_dir = ""
refusal_code = 404
chanels = 3
[[listen]]
transport = "sctp"
address = "127.0.0.1"
[[listen]]
transport = "tcp"
address = "0.0.0.0:5060"
[timers]
timer_c_secs = 0
t9 = 1
[clickhouse]
url = "http://x"
bogus = 1
"#;
        let errors = EdgeConfig::from_toml(text).unwrap_err().0;
        let all = errors.join("\n");
        for phrase in [
            "node_id: \"edge 1\" may only hold",
            "provisioning_dir: missing",
            "spool_dir: must not be empty",
            "refusal_code: 404 is not allowed",
            "unknown key \"chanels\"",
            "listen[0].transport: \"sctp\" is not supported",
            "listen[0].address: \"127.0.0.1\" is not an address with a port",
            "listen[1].address: 0.0.0.0:5060 is a wildcard",
            "timers.timer_c_secs: must be at least 1, got 0",
            "timers: unknown key \"t9\"",
            "clickhouse: unknown field `bogus`",
        ] {
            assert!(all.contains(phrase), "missing {phrase:?} in:\n{all}");
        }
    }

    #[test]
    fn the_demo_sample_is_valid() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/sip-edge/edge.toml");
        let c = EdgeConfig::load(&path).unwrap();
        assert_eq!(c.node_id, "edge-demo-1");
        assert!(c.provisioning_dir.ends_with("../provisioning"));
        assert_eq!(c.carriers.len(), 1);
    }

    #[test]
    fn a_listener_is_required() {
        let text = MINIMAL.replace(
            "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1:5060\"\n",
            "listen = []\n",
        );
        let errors = EdgeConfig::from_toml(&text).unwrap_err().0.join("\n");
        assert!(errors.contains("listen: missing"), "{errors}");
    }

    #[test]
    fn defence_sections_are_read_and_checked() {
        let c = EdgeConfig::from_toml(MINIMAL).unwrap();
        assert_eq!(c.guard, crate::guard::GuardConfig::default());
        assert_eq!(c.fraud, crate::fraud::FraudConfig::default());
        assert_eq!(c.admin, None);
        let text = format!(
            "{MINIMAL}{}",
            r#"
[guard]
requests_per_sec = 5
ban_secs = 60
scanner_user_agents = ["EvilDialer"]
[fraud]
window_secs = 60
baseline_secs = 86400
factor = 4.5
[admin]
address = "127.0.0.1:9091"
[[admin.token]]
name = "noc"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
issued = 2026-11-01
"#
        );
        let c = EdgeConfig::from_toml(&text).unwrap();
        assert_eq!(c.guard.requests_per_sec, 5);
        assert_eq!(c.guard.burst, 40);
        assert_eq!(c.guard.scanner_user_agents, ["EvilDialer"]);
        assert_eq!(c.fraud.factor, 4.5);
        assert_eq!(c.fraud.min_calls, 20);
        let admin = c.admin.unwrap();
        assert_eq!(admin.token_idle_days, 183);
        assert_eq!(admin.token[0].name, "noc");

        let bad = format!(
            "user_agent = \"edge 2.1\"\n{MINIMAL}{}",
            r#"
[guard]
requests_per_sec = 0
ban_sec = 60
[fraud]
factor = 0.5
[admin]
address = "127.0.0.1:9091"
"#
        );
        let errors = EdgeConfig::from_toml(&bad).unwrap_err().0.join("\n");
        for phrase in [
            "user_agent: \"edge 2.1\" must not carry a version",
            "guard: unknown field `ban_sec`",
            "fraud.factor: must be a number of at least 1, got 0.5",
            "admin.token: missing",
        ] {
            assert!(errors.contains(phrase), "missing {phrase:?} in:\n{errors}");
        }
    }

    #[test]
    fn the_production_sample_is_valid() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../samples/sip-edge/production.toml");
        let c = EdgeConfig::load(&path).unwrap();
        assert_eq!(c.listen.len(), 5);
        assert_eq!(c.listen[4].advertised(), "sip.fairtrunk.example:5061");
        assert!(c.tls.is_some() && c.keepalive.is_some());
        assert!(c.admin.unwrap().address.ip().is_loopback());
        assert!(c.metrics_address.unwrap().ip().is_loopback());
    }

    #[test]
    fn tls_auth_keepalive_and_hosts_sections_are_read() {
        let text = format!(
            "{MINIMAL}{}",
            r#"
[[listen]]
transport = "tls"
address = "127.0.0.1:5061"
advertise = "edge.example.net"
[[carrier]]
name = "secure"
address = "127.0.0.3:5061"
transport = "tls"
server_name = "sbc.carrier.test"
[tls]
certificate = "edge.crt"
private_key = "/etc/edge.key"
trusted_roots = "roots.pem"
[auth]
realm = "edge.example.net"
algorithms = ["MD5"]
max_expires_secs = 600
[keepalive]
interval_ms = 250
[hosts]
"SBC.Contoso.fr" = "192.0.2.50"
"#
        );
        let c = EdgeConfig::from_toml(&text).unwrap();
        assert_eq!(c.listen[1].transport, Transport::Tls);
        assert_eq!(c.listen[1].advertised(), "edge.example.net:5061");
        assert_eq!(
            c.carriers[0].server_name.as_deref(),
            Some("sbc.carrier.test")
        );
        let tls = c.tls.as_ref().unwrap();
        assert_eq!(tls.handshake_timeout, Duration::from_secs(10));
        assert_eq!(c.auth.realm.as_deref(), Some("edge.example.net"));
        assert_eq!(c.auth.algorithms, vec![crate::auth::Algorithm::Md5]);
        assert_eq!(c.auth.min_expires, Duration::from_secs(60));
        assert_eq!(c.auth.max_expires, Duration::from_secs(600));
        let keepalive = c.keepalive.unwrap();
        assert_eq!(keepalive.interval, Duration::from_millis(250));
        assert_eq!(keepalive.down_after, 3);
        assert_eq!(
            c.hosts["sbc.contoso.fr"],
            "192.0.2.50".parse::<std::net::IpAddr>().unwrap()
        );
        // Without the sections: no TLS, SHA-256 then MD5, no keepalives.
        let plain = EdgeConfig::from_toml(MINIMAL).unwrap();
        assert!(plain.tls.is_none() && plain.keepalive.is_none() && plain.hosts.is_empty());
        assert_eq!(plain.auth.algorithms.len(), 2);
        // Relative TLS files are taken relative to the configuration file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.toml");
        std::fs::write(&path, &text).unwrap();
        let loaded = EdgeConfig::load(&path).unwrap();
        let tls = loaded.tls.unwrap();
        assert_eq!(tls.certificate, dir.path().join("edge.crt"));
        assert_eq!(tls.private_key, std::path::PathBuf::from("/etc/edge.key"));
    }

    #[test]
    fn tls_and_auth_errors_are_reported() {
        let text = format!(
            "{MINIMAL}{}",
            r#"
[[listen]]
transport = "tls"
address = "127.0.0.1:5061"
[[carrier]]
name = "secure"
address = "127.0.0.3:5061"
transport = "tls"
[auth]
realm = "a\"b"
algorithms = ["SHA-512", "MD5", "MD5"]
min_expires_secs = 600
max_expires_secs = 60
[keepalive]
interval_secs = 1
interval_ms = 10
[hosts]
"sbc.contoso.fr" = "not-an-ip"
"#
        );
        let all = EdgeConfig::from_toml(&text).unwrap_err().0.join("\n");
        for phrase in [
            "tls: missing (a tls listener or carrier needs [tls]",
            "carrier[0].server_name: missing (required with transport \"tls\"",
            "auth.realm: \"a\\\"b\" may not hold quotes",
            "auth.algorithms: \"SHA-512\" is not supported",
            "auth.algorithms: \"MD5\" is listed twice",
            "auth.max_expires_secs: 60 is shorter than min_expires_secs 600",
            "keepalive: interval_secs and interval_ms are exclusive",
            "hosts.\"sbc.contoso.fr\": expected an IP address",
        ] {
            assert!(all.contains(phrase), "missing {phrase:?} in:\n{all}");
        }
        let missing = format!("{MINIMAL}[tls]\ncertificate = \"x\"\n");
        let all = EdgeConfig::from_toml(&missing).unwrap_err().0.join("\n");
        assert!(all.contains("tls.private_key: missing"), "{all}");
        assert!(all.contains("tls.trusted_roots: missing"), "{all}");
    }

    #[test]
    fn syntax_errors_are_reported() {
        let err = EdgeConfig::from_toml("node_id = ").unwrap_err();
        assert_eq!(err.0.len(), 1);
    }
}
