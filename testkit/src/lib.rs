//! Test support shared by the workspace's integration tests and benchmarks.
//!
//! It owns the real servers tests talk to, never mocks:
//! - [`ClickhouseServer`]: a private `clickhouse-server` on loopback with its data in a
//!   temporary folder, started from the same configuration template as
//!   `scripts/clickhouse.sh` uses (`scripts/clickhouse/`), stoppable and restartable on
//!   the same data (outage tests), killed when dropped or when the test process dies.
//! - [`shared_clickhouse_url`]: the server `scripts/test.sh` started for the whole suite
//!   (`FAIRTRUNK_TEST_CLICKHOUSE_URL`), or else one private server for this process.
//! - [`TestDatabase`]: a fresh database per test so tests never see each other's rows.
//! - [`sipp`]: SIPp as a real SIP peer (UAC or UAS) driven by a test.
//! - [`copy_dir`]: a copy of a fixture tree (such as the sample provisioning) that a
//!   test may break or change.
#![deny(missing_docs)]

pub mod sipp;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environment variable naming the suite-wide ClickHouse HTTP URL.
pub const CLICKHOUSE_URL_ENV: &str = "FAIRTRUNK_TEST_CLICKHOUSE_URL";

/// How long a starting server may take before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts retried on new ports when the chosen ones turned out taken.
const START_ATTEMPTS: u32 = 3;

/// A private ClickHouse server process on 127.0.0.1.
pub struct ClickhouseServer {
    dir: tempfile::TempDir,
    http_port: u16,
    tcp_port: u16,
    child: Option<Child>,
}

impl ClickhouseServer {
    /// Starts a server on free loopback ports with its data in a new temporary folder and
    /// waits until it answers `/ping`.
    ///
    /// # Errors
    /// When `clickhouse-server` is not installed (run `scripts/test.sh`, which installs
    /// it), the template cannot be written, or the server does not answer in time.
    pub fn start() -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("fairtrunk-clickhouse-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
        let mut server = ClickhouseServer {
            dir,
            http_port: free_port()?,
            tcp_port: free_port()?,
            child: None,
        };
        // A port found free may be taken by another test's server before this one
        // binds it: then this server exits, or another one answers; new ports, again.
        let mut attempts = 0;
        loop {
            server.write_config()?;
            match server.launch() {
                Ok(()) => return Ok(server),
                Err(Launch::PortTaken(_)) if attempts < START_ATTEMPTS => {
                    attempts += 1;
                    server.http_port = free_port()?;
                    server.tcp_port = free_port()?;
                }
                Err(Launch::PortTaken(e) | Launch::Failed(e)) => return Err(e),
            }
        }
    }

    /// The HTTP URL clients connect to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The native-protocol port, for `clickhouse-client --port`.
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }

    /// Folder holding the server's data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server abruptly (SIGKILL), as a crash or a network cut would look to a
    /// client, and waits for the process to be gone. The data stays for [`Self::resume`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): it keeps its port and connections but answers
    /// nothing, as a hung server or a stalled network looks to a client. [`Self::thaw`]
    /// lets it go on.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on our own child's pid; the child is not reaped while
            // `self.child` holds it, so the pid is still its own.
            unsafe {
                libc::kill(child.id() as libc::pid_t, signal);
            }
        }
    }

    /// Starts the server again on the same data and ports (after [`Self::kill`]) and waits
    /// until it answers.
    ///
    /// # Errors
    /// When the process cannot be spawned or does not answer within a minute.
    pub fn resume(&mut self) -> Result<(), String> {
        self.launch()
            .map_err(|(Launch::PortTaken(e) | Launch::Failed(e))| e)
    }

    fn launch(&mut self) -> Result<(), Launch> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::File::create(self.dir.path().join("log/stdout.log"))
            .map_err(|e| Launch::Failed(format!("cannot create the server log: {e}")))?;
        let mut command = Command::new("clickhouse-server");
        command
            .arg(format!(
                "--config-file={}",
                self.dir.path().join("etc/config.xml").display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| Launch::Failed(e.to_string()))?)
            .stderr(log);
        die_with_parent(&mut command);
        let child = command.spawn().map_err(|e| {
            Launch::Failed(format!(
                "cannot run clickhouse-server ({e}): install it with scripts/test.sh"
            ))
        })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if ping(self.http_port) {
                let ours = self.dir.path().display().to_string();
                return match instance(self.http_port) {
                    Some(instance) if instance == ours => Ok(()),
                    other => {
                        self.kill();
                        Err(Launch::PortTaken(format!(
                            "another ClickHouse answers on port {} (instance {other:?})",
                            self.http_port
                        )))
                    }
                };
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    // Most often a port taken since it was found free.
                    return Err(Launch::PortTaken(format!(
                        "clickhouse-server exited with {status}; logs in {}",
                        self.dir.path().join("log").display()
                    )));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Launch::Failed(format!(
            "clickhouse-server did not answer on port {} within {START_TIMEOUT:?}",
            self.http_port
        )))
    }

    fn write_config(&self) -> Result<(), String> {
        let root = self.dir.path();
        for sub in ["etc", "log", "data", "tmp", "user_files", "format_schemas"] {
            std::fs::create_dir_all(root.join(sub)).map_err(|e| e.to_string())?;
        }
        let template_dir = template_dir();
        let config = std::fs::read_to_string(template_dir.join("config.xml"))
            .map_err(|e| format!("cannot read {}: {e}", template_dir.display()))?
            .replace("@DIR@", &root.display().to_string())
            .replace("@HTTP_PORT@", &self.http_port.to_string())
            .replace("@TCP_PORT@", &self.tcp_port.to_string());
        std::fs::write(root.join("etc/config.xml"), config).map_err(|e| e.to_string())?;
        std::fs::copy(template_dir.join("users.xml"), root.join("etc/users.xml"))
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl Drop for ClickhouseServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The configuration template shared with `scripts/clickhouse.sh`.
fn template_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/clickhouse")
}

/// Asks the kernel to kill the child when the thread that spawned it ends, so a test
/// that panics or is killed never leaves a server (or any other child) behind.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child being set up.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| e.to_string())
}

/// Why a server did not start.
enum Launch {
    /// It exited, or another server answers on its port: worth new ports.
    PortTaken(String),
    /// Anything else.
    Failed(String),
}

/// The `fairtrunk_instance` macro of the server on `port`: the folder it was started
/// with (see the configuration template).
fn instance(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(
            b"GET /?query=SELECT%20substitution%20FROM%20system.macros%20WHERE%20macro%20%3D%20%27fairtrunk_instance%27 \
              HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
        )
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1) == Some("200")).then(|| body.trim().to_string())
}

fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// The suite-wide server's URL: `FAIRTRUNK_TEST_CLICKHOUSE_URL` when `scripts/test.sh`
/// set it, otherwise a private server started once for this test process.
///
/// # Panics
/// When no server can be started: a ClickHouse test must fail, never skip silently.
pub fn shared_clickhouse_url() -> String {
    if let Ok(url) = std::env::var(CLICKHOUSE_URL_ENV) {
        return url;
    }
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        // The server must outlive the test thread that happens to start it (its
        // parent-death signal follows the spawning thread), so a parked thread owns it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || match ClickhouseServer::start() {
            Ok(server) => {
                let _ = tx.send(Ok(server.url()));
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        });
        match rx.recv() {
            Ok(Ok(url)) => url,
            Ok(Err(e)) => panic!("no ClickHouse for the tests: {e}"),
            Err(_) => panic!("no ClickHouse for the tests: the starter thread died"),
        }
    })
    .clone()
}

/// A database of its own for one test, named after the test and unique per run.
pub struct TestDatabase {
    /// The server's HTTP URL.
    pub url: String,
    /// The database name.
    pub name: String,
}

impl TestDatabase {
    /// Creates a fresh database on `url`.
    ///
    /// # Panics
    /// When the server refuses: the test cannot run without it.
    pub async fn create(url: &str, label: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let name = format!(
            "test_{label}_{}_{nanos}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        clickhouse::Client::default()
            .with_url(url)
            .query(&format!("CREATE DATABASE {name}"))
            .execute()
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name} on {url}: {e}"));
        TestDatabase {
            url: url.to_string(),
            name,
        }
    }

    /// A client bound to this database, schema validation off as 18.16 requires.
    pub fn client(&self) -> clickhouse::Client {
        clickhouse::Client::default()
            .with_url(&self.url)
            .with_database(&self.name)
            .with_validation(false)
    }
}

/// Copies the directory tree `from` into `to` (created if missing). Panics on any
/// I/O error: it prepares a test's fixture.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_never_takes_another_ones_port_for_its_own() {
        let first = ClickhouseServer::start().expect("a private ClickHouse");
        let ours = |server: &ClickhouseServer| server.dir().display().to_string();
        assert_eq!(instance(first.http_port), Some(ours(&first)));

        // A second server whose chosen HTTP port the first one took meanwhile.
        let mut second = ClickhouseServer {
            dir: tempfile::tempdir().unwrap(),
            http_port: first.http_port,
            tcp_port: free_port().unwrap(),
            child: None,
        };
        second.write_config().unwrap();
        match second.launch() {
            Err(Launch::PortTaken(e)) => assert!(e.contains("another ClickHouse"), "{e}"),
            Err(Launch::Failed(e)) => panic!("not seen as a taken port: {e}"),
            Ok(()) => panic!("took the first server for its own"),
        }
        assert!(second.child.is_none(), "its own process is stopped");
        assert_eq!(instance(first.http_port), Some(ours(&first)));
    }
}
