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
