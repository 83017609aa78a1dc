//! Prometheus metrics: the counters the edge keeps and a tiny HTTP endpoint serving
//! them in the text exposition format (version 0.0.4), written by hand: a handful of
//! families does not justify a metrics framework.
//!
//! Families (namespace `sip_edge`):
//! - `sip_edge_active_calls{trunk}`: calls holding a channel now;
//! - `sip_edge_calls_total{disposition}`: call attempts ended, by record disposition;
//! - `sip_edge_refusals_total{reason}`: INVITEs the edge refused (`no_channel`,
//!   `blocked` and `fraud_cap` (toll-fraud guard), `unknown_source`, `unknown_number`, `draining`, `unroutable`, `overload`,
//!   `too_many_hops`);
//! - `sip_edge_messages_received_total`, `sip_edge_malformed_messages_total`;
//! - `sip_edge_records_queued`, `sip_edge_records_not_durable_total`;
//! - `sip_edge_records_written_total`, `_spooled_total`, `_replayed_total`,
//!   `_rejected_total`, `sip_edge_spool_pending_records` (the cdr writer's counters);
//! - trunk security ([`SecurityMetrics`]): `sip_edge_peer_up{peer}` (carrier
//!   keepalives: 1 up, 0 down), `sip_edge_registrations` (trunks with a live
//!   REGISTER binding), `sip_edge_auth_total{result}` (digest: `challenged`,
//!   `accepted`, `rejected`, `stale`, `replayed`, `malformed`),
//!   `sip_edge_tls_refusals_total{reason}` (`handshake`, `no_certificate`,
//!   `certificate_mismatch`, `not_tls`);
//! - the families of the parts registered with [`Metrics::add_section`]: the flood
//!   guard (`sip_edge_bans_total{reason}`, `sip_edge_banned_sources`,
//!   `sip_edge_banned_packets_total`, `sip_edge_oversized_messages_total`,
//!   `sip_edge_kernel_filtered_sources`...) and
//!   the fraud guard (`sip_edge_fraud_anomalies_total`,
//!   `sip_edge_fraud_blocked{trunk,class,automatic}`).

use crate::channels::TrunkGauges;
use crate::transport::TransportCounters;
use cdr::{CallRecordWriter, Disposition};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Reasons an INVITE is refused, as metric labels.
pub const REFUSAL_REASONS: [&str; 9] = [
    "no_channel",
    "blocked",
    "fraud_cap",
    "unknown_source",
    "unknown_number",
    "draining",
    "unroutable",
    "overload",
    "too_many_hops",
];

/// A part of the edge that renders its own metric families.
pub trait MetricsSection: Send + Sync {
    /// Appends its families in the text exposition format.
    fn render(&self, out: &mut String);
}

/// Every counter of the edge.
pub struct Metrics {
    sections: std::sync::Mutex<Vec<Arc<dyn MetricsSection>>>,
    /// Calls in progress per trunk.
    pub trunks: TrunkGauges,
    /// Transport counters.
    pub transport: Arc<TransportCounters>,
    dispositions: [AtomicU64; 8],
    refusals: [AtomicU64; REFUSAL_REASONS.len()],
    /// Records handed to the writer task and not yet submitted.
    pub records_queued: AtomicU64,
    /// Records the writer could not make durable.
    pub records_not_durable: AtomicU64,
    /// TLS, digest and keepalive counters.
    pub security: SecurityMetrics,
    writer: CallRecordWriter,
}

impl Metrics {
    /// Metrics over the given gauges, transport counters and writer.
    pub fn new(
        trunks: TrunkGauges,
        transport: Arc<TransportCounters>,
        writer: CallRecordWriter,
    ) -> Self {
        Metrics {
            sections: std::sync::Mutex::new(Vec::new()),
            trunks,
            transport,
            dispositions: Default::default(),
            refusals: Default::default(),
            records_queued: AtomicU64::new(0),
            records_not_durable: AtomicU64::new(0),
            security: SecurityMetrics::default(),
            writer,
        }
    }

    /// Adds a part's families to the exposition.
    pub fn add_section(&self, section: Arc<dyn MetricsSection>) {
        self.sections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(section);
    }

    /// Counts an ended call attempt.
    pub fn count_call(&self, disposition: Disposition) {
        if let Some(i) = Disposition::ALL.iter().position(|d| *d == disposition) {
            self.dispositions[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a refusal; `reason` is one of [`REFUSAL_REASONS`].
    pub fn count_refusal(&self, reason: &str) {
        if let Some(i) = REFUSAL_REASONS.iter().position(|r| *r == reason) {
            self.refusals[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Calls in progress on `trunk`.
    pub fn active_calls(&self, trunk: &str) -> u32 {
        let trunks = self.trunks.lock().unwrap_or_else(|e| e.into_inner());
        trunks.get(trunk).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Calls in progress on every trunk.
    pub fn total_active_calls(&self) -> u64 {
        let trunks = self.trunks.lock().unwrap_or_else(|e| e.into_inner());
        trunks
            .values()
            .map(|c| u64::from(c.load(Ordering::Relaxed)))
            .sum()
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            "sip_edge_active_calls",
            "gauge",
            "Calls holding a channel now, per trunk.",
        );
        {
            let trunks = self.trunks.lock().unwrap_or_else(|e| e.into_inner());
            for (trunk, count) in trunks.iter() {
                let _ = writeln!(
                    out,
                    "sip_edge_active_calls{{trunk=\"{}\"}} {}",
                    escape(trunk),
                    count.load(Ordering::Relaxed)
                );
            }
        }
        family(
            &mut out,
            "sip_edge_calls_total",
            "counter",
            "Call attempts ended, by disposition.",
        );
        for (d, count) in Disposition::ALL.iter().zip(&self.dispositions) {
            let _ = writeln!(
                out,
                "sip_edge_calls_total{{disposition=\"{}\"}} {}",
                d.as_str(),
                count.load(Ordering::Relaxed)
            );
        }
        family(
            &mut out,
            "sip_edge_refusals_total",
            "counter",
            "INVITEs refused by the edge, by reason.",
        );
        let shed = self.transport.shed.load(Ordering::Relaxed);
        for (reason, count) in REFUSAL_REASONS.iter().zip(&self.refusals) {
            let extra = if *reason == "overload" { shed } else { 0 };
            let _ = writeln!(
                out,
                "sip_edge_refusals_total{{reason=\"{reason}\"}} {}",
                count.load(Ordering::Relaxed) + extra
            );
        }
        let stats = self.writer.stats();
        let simple: [(&str, &str, &str, u64); 9] = [
            (
                "sip_edge_messages_received_total",
                "counter",
                "SIP messages received and parsed.",
                self.transport.received.load(Ordering::Relaxed),
            ),
            (
                "sip_edge_malformed_messages_total",
                "counter",
                "Messages dropped because they are not SIP.",
                self.transport.malformed.load(Ordering::Relaxed),
            ),
            (
                "sip_edge_records_queued",
                "gauge",
                "Call records waiting for the writer.",
                self.records_queued.load(Ordering::Relaxed),
            ),
            (
                "sip_edge_records_not_durable_total",
                "counter",
                "Call records the writer could not make durable.",
                self.records_not_durable.load(Ordering::Relaxed),
            ),
            (
                "sip_edge_records_written_total",
                "counter",
                "Call records inserted into ClickHouse directly.",
                stats.written,
            ),
            (
                "sip_edge_records_spooled_total",
                "counter",
                "Call records written to the spool.",
                stats.spooled,
            ),
            (
                "sip_edge_records_replayed_total",
                "counter",
                "Spooled call records later inserted.",
                stats.replayed,
            ),
            (
                "sip_edge_records_rejected_total",
                "counter",
                "Call records set aside as refused for good.",
                stats.rejected,
            ),
            (
                "sip_edge_spool_pending_records",
                "gauge",
                "Call records in the spool now.",
                stats.spool_pending,
            ),
        ];
        for (name, kind, help, value) in simple {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        self.security.render(&mut out);
        for section in self
            .sections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            section.render(&mut out);
        }
        out
    }
}

/// Results of digest checks, as metric labels.
pub const AUTH_RESULTS: [&str; 6] = [
    "challenged",
    "accepted",
    "rejected",
    "stale",
    "replayed",
    "malformed",
];

/// Reasons a TLS peer is refused, as metric labels.
pub const TLS_REFUSALS: [&str; 4] = [
    "handshake",
    "no_certificate",
    "certificate_mismatch",
    "not_tls",
];

/// Counters of trunk security: carrier health, registrations, digest, TLS.
#[derive(Default)]
pub struct SecurityMetrics {
    /// Carriers' up/down state (keepalives).
    pub peers: crate::peers::PeerGauges,
    /// Trunks with a live registration.
    pub registrations: AtomicU64,
    auth: [AtomicU64; AUTH_RESULTS.len()],
    tls_refusals: [AtomicU64; TLS_REFUSALS.len()],
    /// The TLS context, whose failed handshakes are counted here.
    pub tls: std::sync::OnceLock<Arc<crate::tls::TlsContext>>,
}

impl SecurityMetrics {
    /// Counts a digest check; `result` is one of [`AUTH_RESULTS`].
    pub fn count_auth(&self, result: &str) {
        if let Some(i) = AUTH_RESULTS.iter().position(|r| *r == result) {
            self.auth[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a TLS refusal; `reason` is one of [`TLS_REFUSALS`] but `handshake`.
    pub fn count_tls_refusal(&self, reason: &str) {
        if let Some(i) = TLS_REFUSALS.iter().position(|r| *r == reason) {
            self.tls_refusals[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP sip_edge_peer_up Carrier answering keepalives (1) or marked down (0).\n# TYPE sip_edge_peer_up gauge");
        for (name, up) in self.peers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "sip_edge_peer_up{{peer=\"{}\"}} {}",
                escape(name),
                u8::from(up.load(Ordering::Relaxed))
            );
        }
        let _ = writeln!(out, "# HELP sip_edge_registrations Trunks with a live REGISTER binding.\n# TYPE sip_edge_registrations gauge\nsip_edge_registrations {}", self.registrations.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP sip_edge_auth_total Digest authentication checks, by result.\n# TYPE sip_edge_auth_total counter");
        for (result, count) in AUTH_RESULTS.iter().zip(&self.auth) {
            let _ = writeln!(
                out,
                "sip_edge_auth_total{{result=\"{result}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP sip_edge_tls_refusals_total TLS peers refused, by reason.\n# TYPE sip_edge_tls_refusals_total counter");
        let handshakes = self
            .tls
            .get()
            .map_or(0, |c| c.handshake_failures.load(Ordering::Relaxed));
        for (reason, count) in TLS_REFUSALS.iter().zip(&self.tls_refusals) {
            let extra = if *reason == "handshake" {
                handshakes
            } else {
                0
            };
            let _ = writeln!(
                out,
                "sip_edge_tls_refusals_total{{reason=\"{reason}\"}} {}",
                count.load(Ordering::Relaxed) + extra
            );
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `GET /metrics` on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let line = String::from_utf8_lossy(&request);
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = if path == "/metrics" || path == "/" {
                ("200 OK", metrics.render())
            } else {
                ("404 Not Found", "not found: try /metrics\n".to_string())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Binds the metrics endpoint.
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}
