//! `provisioning`: checks a provisioning directory before it is deployed.
//!
//! `provisioning check DIR` loads DIR as every component would. On success it
//! prints one line to standard output and exits 0:
//!
//! ```text
//! ok: 5 customers, 5 trunks, 62 tariff rows, fingerprint 3f1c...
//! ```
//!
//! Otherwise it prints every error, one per line, to standard error and exits 1.
//! Any other failure (such as a closed standard output) exits 2.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use provisioning::Provisioning;

/// Checks fairtrunk provisioning directories.
#[derive(Debug, Parser)]
#[command(name = "provisioning", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load DIR and report every error with its file, line and field.
    Check {
        /// The provisioning directory (customers.toml, trunks.toml, tariffs/).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check { dir } => check(dir),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn check(dir: &Path) -> anyhow::Result<ExitCode> {
    match Provisioning::load(dir) {
        Ok(p) => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "ok: {} customers, {} trunks, {} tariff rows, fingerprint {}",
                p.customers().len(),
                p.trunks().len(),
                p.tariffs().len(),
                p.fingerprint()
            )
            .context("cannot write to standard output")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            let mut err = std::io::stderr().lock();
            writeln!(err, "{errors}")
                .and_then(|()| {
                    writeln!(
                        err,
                        "{}: {} error{}",
                        dir.display(),
                        errors.len(),
                        if errors.len() == 1 { "" } else { "s" }
                    )
                })
                .context("cannot write to standard error")?;
            Ok(ExitCode::from(1))
        }
    }
}
