//! The test lab: provisioning, edge configuration, database, SIPp peers, waits.

use cdr::{CallRecord, CallRow, ClickhouseConfig};
use sip_edge::config::EdgeConfig;
use sip_edge::Edge;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use testkit::sipp::{wait_tcp_listening, wait_udp_bound, Sipp, SippOutcome, SippProcess};
use testkit::TestDatabase;

/// Trunk id of the lab's customer.
pub const TRUNK: &str = "acme-test";
/// The DID the lab's inbound numbers table routes to site `hq`.
pub const DID: &str = "0140000001";

/// Settings of one lab.
pub struct LabOptions {
    pub channels: u32,
    pub refusal_code: u16,
    pub max_call_duration_secs: u64,
    pub timer_c_secs: u64,
    pub t1_ms: u64,
    /// Carriers as (last octet, transport).
    pub carriers: Vec<(u8, &'static str)>,
    /// Channel limit of site `hq`, if any.
    pub site_channels: Option<u32>,
    /// Transport of the trunk's inbound target.
    pub inbound_transport: &'static str,
    /// TOML tables appended to the edge configuration (`[guard]`, `[fraud]`...).
    pub edge_extra: String,
    /// TOML tables added to trunk `acme-test` (e.g. `[trunk.fraud_caps]`).
    pub trunk_extra: String,
    /// More `[[trunk]]` entries for `trunks.toml`.
    pub more_trunks: String,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            channels: 2,
            refusal_code: 503,
            max_call_duration_secs: 3600,
            timer_c_secs: 180,
            t1_ms: 100,
            carriers: vec![(3, "udp")],
            site_channels: None,
            inbound_transport: "udp",
            edge_extra: String::new(),
            trunk_extra: String::new(),
            more_trunks: String::new(),
        }
    }
}

pub struct Lab {
    pub n: u8,
    pub dir: tempfile::TempDir,
    pub db: TestDatabase,
    pub edge: Option<Edge>,
    pub config_text: String,
    trunks: TrunkShape,
}

/// What the lab's trunk looks like.
#[derive(Clone)]
struct TrunkShape {
    channels: u32,
    site_channels: Option<u32>,
    inbound_transport: &'static str,
    extra: String,
    more_trunks: String,
}

pub fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(format!("{name}.xml"))
}

impl Lab {
    /// A lab whose edge is not started.
    pub async fn prepare(n: u8, options: LabOptions) -> Lab {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
        let dir = tempfile::Builder::new()
            .prefix("fairtrunk-edge-lab-")
            .tempdir()
            .expect("temporary folder");
        let prov = dir.path().join("provisioning");
        std::fs::create_dir_all(&prov).unwrap();
        std::fs::write(
            prov.join("customers.toml"),
            r#"[[customer]]
id = "acme"
name = "ACME SAS"
category = "business"
currency = "EUR"
contract_start = 2024-01-01
"#,
        )
        .unwrap();
        let trunks = TrunkShape {
            channels: options.channels,
            site_channels: options.site_channels,
            inbound_transport: options.inbound_transport,
            extra: options.trunk_extra.clone(),
            more_trunks: options.more_trunks.clone(),
        };
        std::fs::write(prov.join("trunks.toml"), trunks_toml(n, &trunks)).unwrap();

        let url = testkit::shared_clickhouse_url();
        let db = TestDatabase::create(&url, &format!("edge_lab_{n}")).await;
        let clickhouse = ClickhouseConfig::new(&url).with_database(&db.name);
        cdr::schema::migrate(&clickhouse, &[cdr::schema::CDR_MIGRATIONS])
            .await
            .expect("migrations apply");

        let carriers: String = options
            .carriers
            .iter()
            .enumerate()
            .map(|(i, (last, transport))| {
                format!(
                    "[[carrier]]\nname = \"carrier-{i}\"\naddress = \"127.0.{n}.{last}:5060\"\ntransport = \"{transport}\"\n"
                )
            })
            .collect();
        let config_text = format!(
            r#"node_id = "edge-lab-{n}"
provisioning_dir = "{prov}"
spool_dir = "{spool}"
metrics_address = "127.0.{n}.1:9090"
refusal_code = {refusal}
max_call_duration_secs = {max}
drain_timeout_secs = 2

[[listen]]
transport = "udp"
address = "127.0.{n}.1:5060"

[[listen]]
transport = "tcp"
address = "127.0.{n}.1:5060"

{carriers}
[timers]
t1_ms = {t1}
timer_c_secs = {timer_c}

[inbound_numbers]
"{did}" = "{TRUNK}/hq"

[clickhouse]
url = "{url}"
database = "{database}"

{edge_extra}
"#,
            edge_extra = options.edge_extra,
            prov = prov.display(),
            spool = dir.path().join("spool").display(),
            refusal = options.refusal_code,
            max = options.max_call_duration_secs,
            t1 = options.t1_ms,
            timer_c = options.timer_c_secs,
            did = DID,
            database = db.name,
        );
        Lab {
            n,
            dir,
            db,
            edge: None,
            config_text,
            trunks,
        }
    }

    /// A lab with the edge running in this process.
    pub async fn start(n: u8, options: LabOptions) -> Lab {
        let mut lab = Lab::prepare(n, options).await;
        let config =
            EdgeConfig::from_toml(&lab.config_text).expect("the lab's configuration is valid");
        lab.edge = Some(Edge::start(config, None).await.expect("the edge starts"));
        lab
    }

    /// Writes the lab's configuration file (for the `sip-edge` binary) and returns its
    /// path.
    pub fn write_config(&self) -> PathBuf {
        let path = self.dir.path().join("edge.toml");
        std::fs::write(&path, &self.config_text).unwrap();
        path
    }

    /// Rewrites the trunk's channel count in the provisioning directory.
    pub fn set_channels(&self, channels: u32) {
        std::fs::write(
            self.dir.path().join("provisioning/trunks.toml"),
            trunks_toml(
                self.n,
                &TrunkShape {
                    channels,
                    ..self.trunks.clone()
                },
            ),
        )
        .unwrap();
    }

    pub fn ip(&self, last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, self.n, last))
    }

    pub fn addr(&self, last: u8, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip(last), port)
    }

    pub fn edge_addr(&self) -> SocketAddr {
        self.addr(1, 5060)
    }

    pub fn pbx(&self) -> SocketAddr {
        self.addr(21, 5060)
    }

    pub fn pbx_inbound(&self) -> SocketAddr {
        self.addr(21, 5070)
    }

    pub fn carrier(&self) -> SocketAddr {
        self.addr(3, 5060)
    }

    /// A SIPp UAS on `at`, started and listening, answering `calls` calls.
    pub async fn uas(
        &self,
        scenario_name: &str,
        at: SocketAddr,
        calls: u32,
        extra: &[&str],
    ) -> SippProcess {
        let process = Sipp::new(scenario(scenario_name))
            .local(at)
            .calls(calls)
            .timeout(Duration::from_secs(60))
            .args(extra.iter().copied())
            .spawn(&format!("uas {scenario_name}"))
            .expect("sipp starts");
        let bound =
            tokio::task::spawn_blocking(move || wait_udp_bound(at, Duration::from_secs(10)))
                .await
                .unwrap();
        if !bound {
            panic!("SIPp UAS did not bind {at}:\n{}", process.kill());
        }
        process
    }

    /// A SIPp UAC from `from` to the edge.
    pub fn uac(&self, scenario_name: &str, from: SocketAddr, service: &str, calls: u32) -> Sipp {
        Sipp::new(scenario(scenario_name))
            .local(from)
            .remote(self.edge_addr())
            .service(service)
            .key("caller", "0140000000")
            .calls(calls)
            .timeout(Duration::from_secs(60))
    }

    pub async fn wait_edge_tcp(&self) {
        let at = self.edge_addr();
        let ok =
            tokio::task::spawn_blocking(move || wait_tcp_listening(at, Duration::from_secs(5)))
                .await
                .unwrap();
        assert!(ok);
    }

    /// The metrics text.
    pub async fn metrics(&self) -> String {
        let address = self.addr(1, 9090);
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream =
                std::net::TcpStream::connect(address).expect("metrics endpoint answers");
            stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            let mut text = String::new();
            stream.read_to_string(&mut text).unwrap();
            text
        })
        .await
        .unwrap()
    }

    /// The value of a metric line starting with `series` (e.g.
    /// `sip_edge_active_calls{trunk="acme-test"}`).
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .map(|v| v.trim().parse::<f64>().unwrap_or(f64::NAN))
            })
            .unwrap_or(0.0)
    }

    /// Waits until `series` equals `value` (at most 10 s).
    pub async fn wait_metric(&self, series: &str, value: f64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.metric(series).await;
            if got == value {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series} is {got}, expected {value}\n{}",
                self.metrics().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_no_active_call(&self) {
        self.wait_metric(&format!("sip_edge_active_calls{{trunk=\"{TRUNK}\"}}"), 0.0)
            .await;
    }

    /// Waits until ClickHouse holds exactly `expected` records (at most 15 s), and
    /// returns them in INVITE order.
    pub async fn records(&self, expected: usize) -> Vec<CallRecord> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let rows: Vec<CallRow> = self
                .db
                .client()
                .query("SELECT ?fields FROM calls FINAL ORDER BY invite_ms, call_key")
                .fetch_all()
                .await
                .expect("calls can be read");
            if rows.len() == expected {
                // Give a straggler the chance to show up before declaring "exactly".
                tokio::time::sleep(Duration::from_millis(300)).await;
                let again: u64 = self
                    .db
                    .client()
                    .query("SELECT count() FROM calls FINAL")
                    .fetch_one()
                    .await
                    .unwrap();
                assert_eq!(again as usize, expected, "more records arrived");
                return rows
                    .into_iter()
                    .map(|r| CallRecord::from_row(r).expect("rows decode"))
                    .collect();
            }
            assert!(
                rows.len() < expected && Instant::now() < deadline,
                "ClickHouse holds {} records, expected {expected}: {rows:#?}",
                rows.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the edge (drain) and checks that nothing is left active.
    pub async fn stop(mut self) {
        if let Some(edge) = self.edge.take() {
            let stats = edge.shutdown().await;
            assert_eq!(stats.rejected, 0, "no record may be set aside");
        }
    }
}

/// Waits for a SIPp run and requires success.
pub async fn expect_success(process: SippProcess) -> SippOutcome {
    let label = process.label().to_string();
    let outcome = tokio::task::spawn_blocking(move || process.wait(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(outcome.success(), "{label} failed:\n{outcome}");
    outcome
}

fn trunks_toml(n: u8, shape: &TrunkShape) -> String {
    let channels = shape.channels;
    let transport = shape.inbound_transport;
    let site_channels = shape
        .site_channels
        .map(|c| format!("channels = {c}\n"))
        .unwrap_or_default();
    let extra = &shape.extra;
    let more_trunks = &shape.more_trunks;
    format!(
        r#"[[trunk]]
id = "{TRUNK}"
customer = "acme"
plan = "fixed"
channels = [{{ from = 2024-01-01, channels = {channels} }}]
{extra}

[trunk.identify]
source_addresses = ["127.0.{n}.16/28"]

[trunk.inbound]
target = "127.0.{n}.21:5070"
transport = "{transport}"

[[trunk.site]]
id = "hq"
name = "Siège"
address = "1 rue de la Paix, 75002 Paris"
insee_code = "75056"
source_addresses = ["127.0.{n}.21"]
{site_channels}
[[trunk.site]]
id = "annex"
name = "Annexe"
address = "2 rue de la Paix, 75002 Paris"
insee_code = "75056"
source_addresses = ["127.0.{n}.22"]

{more_trunks}
"#
    )
}
