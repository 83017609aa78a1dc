//! cdr-import throughput and memory, side by side with ClickHouse's own CSV insert.
//!
//! In one run, on a private ClickHouse server:
//! 1. generates a realistic switch CSV of N rows (national numbers, Paris local
//!    times, about 30 % unanswered calls with `\N` answer times, five trunks);
//! 2. the floor: `clickhouse-client --query "INSERT INTO floor FORMAT CSVWithNames" < file`
//!    into a table of the same columns (ClickHouse's own parser, no validation);
//! 3. `cdr-import --format mapping:...` of the same file (validation, number
//!    normalisation, keys, duplicate checks, the no-loss writer), and the ratio;
//! 4. for reference, the cost of storing alone: the records cdr-import stored, exported
//!    as `Native` in key order and inserted by `clickhouse-client` into a fresh `calls`
//!    table (no parsing, no validation, nothing to sort): what any importer into
//!    `calls` pays at least, compared with the floor's table of ten columns;
//! 5. cdr-import again on the first fifth of the file into another database: its
//!    peak memory (VmHWM) must not grow with the file.
//!
//! Besides wall-clock times it prints the CPU seconds each side used (the client
//! process, and the ClickHouse server during that phase): on a machine shared with
//! other work the wall-clock ratio moves with the load, the CPU split says where the
//! time goes. Each phase starts once the server has no merge running.
//!
//! `cargo bench --bench cdr_import` (N = 5,000,000; `FAIRTRUNK_BENCH_ROWS` overrides;
//! `FAIRTRUNK_ROOT` names the workspace when the file is built from elsewhere;
//! `FAIRTRUNK_BENCH_GENERATE_ONLY=DIR` only writes the file and its mapping to DIR, for
//! profiling).
//! Builds the release `cdr` and `cdr-import` binaries first. Needs `clickhouse-server`
//! and `clickhouse-client` (scripts/test.sh installs them). Goal: ratio ≤ 1.5.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::ClickhouseServer;

const TRUNKS: [&str; 5] = [
    "acme-multisite",
    "boulangerie-martin-nantes",
    "telemarket-pro-lille",
    "contoso-teams",
    "hotel-lagon-reunion",
];

const MAPPING: &str = r#"
name = "bench"
delimiter = ","
header = true
encoding = "utf-8"
[time]
format = "%Y-%m-%d %H:%M:%S"
zone = "Europe/Paris"
[columns]
id = "id"
invite = "start"
answer = "answer"
end = "end"
duration = "duration"
caller = "caller"
callee = "callee"
trunk = "trunk"
direction = "direction"
status = "status"
[direction]
inbound = ["in"]
outbound = ["out"]
"#;

/// SplitMix64: deterministic rows without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Paris wall-clock text of `secs` after 2026-10-01 00:00 Paris (summer time, UTC+2;
/// the rows stay before the 25 October change).
fn paris(secs: u64) -> String {
    let day = 1 + secs / 86_400;
    let rest = secs % 86_400;
    format!(
        "2026-10-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

fn generate(path: &Path, rows: u64) {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(
        out,
        "id,start,answer,end,duration,caller,callee,trunk,direction,status"
    )
    .unwrap();
    let mut rng = Rng(42);
    let span = 23 * 86_400; // 1..24 October
    for n in 0..rows {
        let start = n * span / rows;
        let trunk = TRUNKS[rng.below(5) as usize];
        let ours = format!("01{:08}", 40_000_000 + rng.below(2_000));
        let far = match rng.below(10) {
            0..=3 => format!("06{:08}", rng.below(100_000_000)),
            4 => format!("07{:08}", rng.below(100_000_000)),
            _ => format!("0{}{:08}", 1 + rng.below(5), rng.below(100_000_000)),
        };
        let inbound = rng.below(10) < 3;
        let (caller, callee, direction) = if inbound {
            (far, ours, "in")
        } else {
            (ours, far, "out")
        };
        let answered = rng.below(10) < 7;
        let ring = 1 + rng.below(20);
        if answered {
            let talk = 5 + rng.below(600);
            writeln!(
                out,
                "bench-{n},{},{},{},{talk},{caller},{callee},{trunk},{direction},200",
                paris(start),
                paris(start + ring),
                paris(start + ring + talk)
            )
            .unwrap();
        } else {
            let status = [486, 480, 487, 404][rng.below(4) as usize];
            writeln!(
                out,
                "bench-{n},{},\\N,{},0,{caller},{callee},{trunk},{direction},{status}",
                paris(start),
                paris(start + ring)
            )
            .unwrap();
        }
    }
    out.flush().unwrap();
}

fn workspace_root() -> PathBuf {
    std::env::var("FAIRTRUNK_ROOT")
        .map_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn build_binaries(root: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "cdr",
            "-p",
            "cdr-import",
            "--bins",
        ])
        .status()
        .expect("cargo build");
    assert!(status.success(), "building cdr and cdr-import failed");
    let target =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root.join("target"), PathBuf::from);
    target.join("release")
}

fn client(server: &ClickhouseServer, query: &str) -> String {
    let out = Command::new("clickhouse-client")
        .args(["--port", &server.tcp_port().to_string(), "--query", query])
        .output()
        .expect("clickhouse-client");
    assert!(
        out.status.success(),
        "{query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// CPU seconds (user + system) a process has used so far, from `/proc/PID/stat`.
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks as f64 / 100.0)
}

/// The pid of the bench's ClickHouse server (found by its configuration file).
fn server_pid(server: &ClickhouseServer) -> u32 {
    let config = server.dir().join("etc/config.xml");
    let needle = config.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&needle))
        })
        .expect("the ClickHouse server's process")
}

/// Waits (at most a minute) until the server runs no merge, so that a phase does not
/// pay for the previous one's parts.
fn wait_for_merges(server: &ClickhouseServer) {
    for _ in 0..600 {
        if client(server, "SELECT count() FROM system.merges") == "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What one timed phase used.
struct Usage {
    wall: Duration,
    /// Peak resident memory of the client process, kB.
    peak_kb: u64,
    /// CPU seconds of the client process.
    client_cpu: f64,
    /// CPU seconds of the ClickHouse server during the phase.
    server_cpu: f64,
}

/// Waits for `child`, sampling its CPU and peak memory, and the server's CPU.
fn watch(
    mut child: std::process::Child,
    server_pid: u32,
    started: Instant,
    server_before: f64,
) -> (Usage, std::process::Child) {
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let mut client_cpu = 0.0f64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:")) {
                let kb: u64 = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(cpu) = cpu_secs(child.id()) {
            client_cpu = client_cpu.max(cpu);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let wall = started.elapsed();
    let server_cpu = cpu_secs(server_pid).unwrap_or(server_before) - server_before;
    (
        Usage {
            wall,
            peak_kb,
            client_cpu,
            server_cpu,
        },
        child,
    )
}

/// Creates `database` with the `calls` table (the `cdr migrate` of the release build).
fn migrate(bin: &Path, server: &ClickhouseServer, database: &str) {
    let status = Command::new(bin.join("cdr"))
        .args([
            "--clickhouse",
            &server.url(),
            "--database",
            database,
            "migrate",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Times `clickhouse-client --query QUERY < input`, once the server runs no merge.
fn timed_client_insert(server: &ClickhouseServer, query: &str, input: &Path) -> Usage {
    wait_for_merges(server);
    let pid = server_pid(server);
    let server_before = cpu_secs(pid).unwrap_or(0.0);
    let started = Instant::now();
    let child = Command::new("clickhouse-client")
        .args(["--port", &server.tcp_port().to_string(), "--query", query])
        .stdin(std::fs::File::open(input).unwrap())
        .spawn()
        .unwrap();
    let (usage, mut child) = watch(child, pid, started, server_before);
    assert!(child.wait().unwrap().success(), "{query}");
    usage
}

/// The cost of storing alone: the records cdr-import stored, exported as one `Native`
/// stream by month then key (the cheapest input ClickHouse can get: no parsing on
/// either side, nothing left to sort, almost no block to split between monthly
/// partitions), inserted by `clickhouse-client` into a fresh `calls` table. Any
/// importer into `calls` pays at least this.
fn store_only(bin: &Path, server: &ClickhouseServer, work: &Path) -> Usage {
    let columns: Vec<&str> = cdr::native::CALL_COLUMNS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let columns = columns.join(", ");
    let native = work.join("stored.native");
    let out = Command::new("clickhouse-client")
        .args([
            "--port",
            &server.tcp_port().to_string(),
            "--query",
            &format!(
                "SELECT {columns} FROM bench_import.calls \
                 ORDER BY toYYYYMM(invite_time), call_key FORMAT Native"
            ),
        ])
        .stdout(std::fs::File::create(&native).unwrap())
        .status()
        .unwrap();
    assert!(out.success(), "exporting the stored records");
    migrate(bin, server, "bench_store");
    let usage = timed_client_insert(
        server,
        &format!("INSERT INTO bench_store.calls ({columns}) FORMAT Native"),
        &native,
    );
    std::fs::remove_file(&native).unwrap();
    assert_eq!(
        client(server, "SELECT count() FROM bench_store.calls"),
        client(server, "SELECT count() FROM bench_import.calls")
    );
    usage
}

/// Runs cdr-import, sampling its peak resident memory (VmHWM, kB) while it runs.
fn import(
    bin: &Path,
    server: &ClickhouseServer,
    database: &str,
    file: &Path,
    work: &Path,
) -> (Usage, String) {
    let root = workspace_root();
    migrate(bin, server, database);
    wait_for_merges(server);
    let server_pid = server_pid(server);
    let server_before = cpu_secs(server_pid).unwrap_or(0.0);
    let started = Instant::now();
    let child = Command::new(bin.join("cdr-import"))
        .args([
            "--clickhouse",
            &server.url(),
            "--database",
            database,
            "--progress",
            "none",
        ])
        .arg("--provisioning")
        .arg(root.join("samples/provisioning"))
        .arg("--spool")
        .arg(work.join(format!("spool-{database}")))
        .arg("--reject-dir")
        .arg(work)
        .arg("--format")
        .arg(format!("mapping:{}", work.join("bench.toml").display()))
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (usage, child) = watch(child, server_pid, started, server_before);
    let out = child.wait_with_output().unwrap();
    (
        usage,
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn main() {
    let rows: u64 = std::env::var("FAIRTRUNK_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let root = workspace_root();
    let bin = build_binaries(&root);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("bench.toml"), MAPPING).unwrap();
    // Keeps the generated files and mapping (for profiling cdr-import on them) and stops.
    if let Ok(dir) = std::env::var("FAIRTRUNK_BENCH_GENERATE_ONLY") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bench.toml"), MAPPING).unwrap();
        generate(&dir.join("calls.csv"), rows);
        println!("generated {rows} rows and bench.toml in {}", dir.display());
        return;
    }
    let file = work.path().join("calls.csv");
    let small = work.path().join("calls-fifth.csv");
    let t = Instant::now();
    generate(&file, rows);
    generate(&small, rows / 5);
    let bytes = file.metadata().unwrap().len();
    println!(
        "generated {rows} rows ({:.0} MB) in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let server = ClickhouseServer::start().expect("clickhouse-server");
    client(&server, "CREATE DATABASE bench_floor");
    client(
        &server,
        "CREATE TABLE bench_floor.floor (id String, start DateTime('Europe/Paris'), \
         answer Nullable(DateTime('Europe/Paris')), end DateTime('Europe/Paris'), duration UInt32, \
         caller String, callee String, trunk String, direction String, status UInt16) \
         ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(start) ORDER BY id",
    );
    let floor = timed_client_insert(
        &server,
        "INSERT INTO bench_floor.floor FORMAT CSVWithNames",
        &file,
    );
    assert_eq!(
        client(&server, "SELECT count() FROM bench_floor.floor"),
        rows.to_string()
    );
    println!(
        "floor: clickhouse-client INSERT ... FORMAT CSVWithNames: {:.1} s ({:.0} rows/s); CPU: client {:.1} s, server {:.1} s",
        floor.wall.as_secs_f64(),
        rows as f64 / floor.wall.as_secs_f64(),
        floor.client_cpu,
        floor.server_cpu,
    );

    let (import_usage, summary) = import(&bin, &server, "bench_import", &file, work.path());
    println!("{summary}");
    let stored = client(&server, "SELECT count() FROM bench_import.calls");
    println!(
        "cdr-import: {:.1} s ({:.0} rows/s), {stored} records stored, peak memory {:.0} MB; CPU: cdr-import {:.1} s, server {:.1} s",
        import_usage.wall.as_secs_f64(),
        rows as f64 / import_usage.wall.as_secs_f64(),
        import_usage.peak_kb as f64 / 1024.0,
        import_usage.client_cpu,
        import_usage.server_cpu,
    );
    let store = store_only(&bin, &server, work.path());
    println!(
        "store only: clickhouse-client INSERT ... FORMAT Native of those records, by month then key, into a fresh calls table: {:.1} s; CPU: client {:.1} s, server {:.1} s",
        store.wall.as_secs_f64(),
        store.client_cpu,
        store.server_cpu,
    );
    let (fifth, _) = import(&bin, &server, "bench_fifth", &small, work.path());
    println!(
        "cdr-import of {} rows: {:.1} s, peak memory {:.0} MB",
        rows / 5,
        fifth.wall.as_secs_f64(),
        fifth.peak_kb as f64 / 1024.0
    );
    let ratio = import_usage.wall.as_secs_f64() / floor.wall.as_secs_f64();
    println!(
        "ratio cdr-import / floor: {ratio:.2} (goal <= 1.5: {}); CPU (client + server) ratio: {:.2}; peak memory {} rows / {} rows: {:.2}",
        if ratio <= 1.5 { "met" } else { "NOT met" },
        (import_usage.client_cpu + import_usage.server_cpu)
            / (floor.client_cpu + floor.server_cpu).max(0.01),
        rows,
        rows / 5,
        import_usage.peak_kb as f64 / fifth.peak_kb.max(1) as f64
    );
    println!(
        "store only / floor: {:.2} (what ClickHouse needs to store the calls rows alone); cdr-import / store only: {:.2}",
        store.wall.as_secs_f64() / floor.wall.as_secs_f64(),
        import_usage.wall.as_secs_f64() / store.wall.as_secs_f64(),
    );
    // Whether the goal can be met at all here: within 1.5 x the floor's time, all the
    // machine's cores together give a fixed number of CPU seconds, and ClickHouse
    // storing the rows (store only) and parsing the CSV (the floor's client) are the
    // least of the work that must fit in them.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let budget = 1.5 * floor.wall.as_secs_f64() * cores as f64;
    let least = store.server_cpu + floor.client_cpu;
    println!(
        "CPU budget of the goal: 1.5 x {:.1} s x {cores} cores = {budget:.1} CPU s; storing the rows \
         ({:.1} s) plus parsing the CSV without validating it ({:.1} s) already take {least:.1} s \
         ({:.0} % of the budget); cdr-import used {:.1} s",
        floor.wall.as_secs_f64(),
        store.server_cpu,
        floor.client_cpu,
        100.0 * least / budget,
        import_usage.client_cpu + import_usage.server_cpu,
    );
}
