//! Progress display: a bar with bytes, rows and rows/s when stderr is a terminal,
//! plain log lines every 10 s otherwise (cron, CI, pipes). Messages about rows
//! (rejects, notes) go to stderr either way, above the bar when there is one.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// A bar on a terminal, log lines otherwise.
    Auto,
    /// Always a bar.
    Bar,
    /// Always log lines.
    Lines,
    /// Nothing but row messages.
    None,
}

/// Interval between plain progress lines.
const LINE_INTERVAL: Duration = Duration::from_secs(10);

struct Shared {
    bar: Option<ProgressBar>,
    lines: bool,
    rows: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    started: Instant,
    last_line: Mutex<Instant>,
    stop: AtomicU64,
}

/// A running progress display; cheap to clone.
#[derive(Clone)]
pub struct Progress(Arc<Shared>);

impl Progress {
    /// Starts showing progress over `total_bytes`, reading the two counters.
    pub fn start(
        mode: Mode,
        total_bytes: u64,
        rows: Arc<AtomicU64>,
        bytes: Arc<AtomicU64>,
    ) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let (bar, lines) = match mode {
            Mode::Auto if terminal => (true, false),
            Mode::Auto => (false, true),
            Mode::Bar => (true, false),
            Mode::Lines => (false, true),
            Mode::None => (false, false),
        };
        let bar = bar.then(|| {
            let bar = ProgressBar::new(total_bytes);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let progress = Progress(Arc::new(Shared {
            bar,
            lines,
            rows,
            bytes,
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
            stop: AtomicU64::new(0),
        }));
        if progress.0.bar.is_some() || progress.0.lines {
            let ticker = progress.clone();
            std::thread::spawn(move || {
                while ticker.0.stop.load(Ordering::Relaxed) == 0 {
                    ticker.tick();
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
        progress
    }

    fn rate(&self) -> (u64, f64) {
        let rows = self.0.rows.load(Ordering::Relaxed);
        let secs = self.0.started.elapsed().as_secs_f64().max(0.001);
        (rows, rows as f64 / secs)
    }

    fn tick(&self) {
        let (rows, rate) = self.rate();
        if let Some(bar) = &self.0.bar {
            bar.set_position(self.0.bytes.load(Ordering::Relaxed));
            bar.set_message(format!("{rows} rows, {rate:.0} rows/s"));
        } else if self.0.lines {
            let mut last = self.0.last_line.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() >= LINE_INTERVAL {
                *last = Instant::now();
                eprintln!(
                    "cdr-import: {rows} rows read ({} bytes), {rate:.0} rows/s",
                    self.0.bytes.load(Ordering::Relaxed)
                );
            }
        }
    }

    /// Shows that a file starts.
    pub fn file(&self, index: usize, path: &Path) {
        if self.0.lines {
            eprintln!(
                "cdr-import: reading {} (file {})",
                path.display(),
                index + 1
            );
        }
    }

    /// Prints a message about a row.
    pub fn message(&self, text: &str) {
        match &self.0.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Stops the display.
    pub fn finish(&self) {
        self.0.stop.store(1, Ordering::Relaxed);
        if let Some(bar) = &self.0.bar {
            bar.finish_and_clear();
        }
        if self.0.lines {
            let (rows, rate) = self.rate();
            eprintln!(
                "cdr-import: {rows} rows read in {:.1} s, {rate:.0} rows/s",
                self.0.started.elapsed().as_secs_f64()
            );
        }
    }
}
