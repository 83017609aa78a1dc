//! SIPp (Debian's `sip-tester`) as a real SIP peer in tests: a builder for the command
//! line, a process handle that is killed when dropped (or when the test process dies),
//! and waits bounded in time.
//!
//! Every run works in its own temporary folder, where SIPp writes its `-trace_err`
//! log; [`SippOutcome`] carries that log, stdout and stderr so a failing test shows
//! what SIPp saw.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A SIPp command line being built.
#[derive(Clone, Debug)]
pub struct Sipp {
    scenario: PathBuf,
    args: Vec<String>,
    remote: Option<String>,
}

/// A running SIPp.
pub struct SippProcess {
    child: Option<Child>,
    dir: tempfile::TempDir,
    label: String,
}

/// How a SIPp run ended.
#[derive(Debug)]
pub struct SippOutcome {
    /// Exit code: 0 when every call succeeded, 1 when at least one failed, 99 when no
    /// call was processed, negative or other values on fatal errors.
    pub code: i32,
    /// Standard output (the final statistics screen).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The `-trace_err` log: unexpected messages.
    pub errors: String,
}

impl SippOutcome {
    /// Whether every call of the run succeeded.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

impl std::fmt::Display for SippOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "sipp exit code {}", self.code)?;
        writeln!(f, "--- stderr ---\n{}", tail(&self.stderr, 3000))?;
        writeln!(
            f,
            "--- unexpected messages ---\n{}",
            tail(&self.errors, 6000)
        )?;
        writeln!(f, "--- stdout ---\n{}", tail(&self.stdout, 4000))
    }
}

fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

impl Sipp {
    /// SIPp running `scenario` (an XML file), without stdin, tracing unexpected
    /// messages.
    pub fn new(scenario: impl AsRef<Path>) -> Self {
        Sipp {
            scenario: scenario.as_ref().to_path_buf(),
            args: vec!["-nostdin".into(), "-trace_err".into()],
            remote: None,
        }
    }

    /// Adds raw arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Local address: `-i ip -p port` (and the media address on the same IP).
    pub fn local(self, address: SocketAddr) -> Self {
        let ip = address.ip().to_string();
        self.args([
            "-i".to_string(),
            ip.clone(),
            "-p".into(),
            address.port().to_string(),
            "-mi".into(),
            ip,
        ])
    }

    /// The peer a UAC sends to.
    pub fn remote(mut self, address: SocketAddr) -> Self {
        self.remote = Some(address.to_string());
        self
    }

    /// `-t u1` (UDP, one socket) or `-t t1` (TCP, one connection).
    pub fn transport(self, mode: &str) -> Self {
        self.args(["-t", mode])
    }

    /// `-m calls`: stop after this many calls.
    pub fn calls(self, calls: u32) -> Self {
        self.args(["-m".to_string(), calls.to_string()])
    }

    /// `-s service`: the Request-URI user of a UAC.
    pub fn service(self, service: &str) -> Self {
        self.args(["-s", service])
    }

    /// `-key name value`: `[name]` in the scenario.
    pub fn key(self, name: &str, value: &str) -> Self {
        self.args(["-key", name, value])
    }

    /// `-timeout`: SIPp gives up (and fails) after this long.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.args([
            "-timeout".to_string(),
            format!("{}s", timeout.as_secs().max(1)),
            "-timeout_error".to_string(),
        ])
    }

    /// Starts SIPp in a temporary working folder; `label` names it in failures.
    ///
    /// # Errors
    /// When `sipp` cannot be started (install Debian's `sip-tester`).
    pub fn spawn(self, label: &str) -> Result<SippProcess, String> {
        let dir = tempfile::Builder::new()
            .prefix("fairtrunk-sipp-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
        let scenario = std::fs::canonicalize(&self.scenario)
            .map_err(|e| format!("scenario {}: {e}", self.scenario.display()))?;
        let mut command = Command::new("sipp");
        command
            .current_dir(dir.path())
            .arg("-sf")
            .arg(&scenario)
            .args(&self.args);
        if let Some(remote) = &self.remote {
            command.arg(remote);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(dir.path().join("stdout.txt")).map_err(|e| e.to_string())?,
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("stderr.txt")).map_err(|e| e.to_string())?,
            ));
        crate::die_with_parent(&mut command);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot run sipp ({e}): install Debian's sip-tester"))?;
        Ok(SippProcess {
            child: Some(child),
            dir,
            label: label.to_string(),
        })
    }
}

impl SippProcess {
    /// Waits for SIPp to exit, at most `timeout` (then kills it and reports code -9).
    pub fn wait(mut self, timeout: Duration) -> SippOutcome {
        let deadline = Instant::now() + timeout;
        let mut code = -9;
        if let Some(child) = self.child.as_mut() {
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        code = status.code().unwrap_or(-1);
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        self.child = None;
        self.outcome(code)
    }

    /// Whether SIPp is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Kills SIPp now (a peer vanishing: its TCP connections close).
    pub fn kill(mut self) -> SippOutcome {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.outcome(-9)
    }

    /// The label given at spawn.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn outcome(&self, code: i32) -> SippOutcome {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let mut errors = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.ends_with("_errors.log") {
                    errors.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
                }
            }
        }
        SippOutcome {
            code,
            stdout: read("stdout.txt"),
            stderr: read("stderr.txt"),
            errors,
        }
    }
}

impl Drop for SippProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until something is bound to UDP `address` (a peer started listening), at
/// most `timeout`; returns whether it is. Reads `/proc/net/udp` rather than probing
/// with a bind, which could steal the address from the starting peer.
pub fn wait_udp_bound(address: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if udp_bound(address) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a UDP socket is bound to `address` (IPv4 only; IPv6 falls back to a probe
/// bind).
fn udp_bound(address: SocketAddr) -> bool {
    let SocketAddr::V4(v4) = address else {
        return matches!(std::net::UdpSocket::bind(address), Err(e) if e.kind() == std::io::ErrorKind::AddrInUse);
    };
    let wanted = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    std::fs::read_to_string("/proc/net/udp")
        .map(|table| {
            table
                .lines()
                .skip(1)
                .any(|line| line.split_whitespace().nth(1) == Some(wanted.as_str()))
        })
        .unwrap_or(false)
}

/// Waits until a TCP listener accepts on `address`, at most `timeout`.
pub fn wait_tcp_listening(address: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
