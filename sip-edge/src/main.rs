//! `sip-edge --config FILE`: runs the edge until SIGTERM or SIGINT (drain, then
//! flush records); SIGHUP reloads the provisioning directory.

use anyhow::Context as _;
use clap::Parser;
use sip_edge::config::EdgeConfig;
use sip_edge::Edge;
use std::path::PathBuf;
use tokio::signal::unix::{signal, SignalKind};

/// The fairtrunk SIP edge: a dialog-stateful proxy that enforces purchased channels
/// and records every call.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The configuration file (TOML; reference in the sip_edge::config documentation).
    #[arg(long, short)]
    config: PathBuf,
    /// Check the configuration and the provisioning it names, then exit.
    #[arg(long)]
    check: bool,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    if let Err(error) = run(args) {
        eprintln!("error: {error:#}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let config = EdgeConfig::load(&args.config).map_err(anyhow::Error::msg)?;
    if args.check {
        provisioning::Provisioning::load(&config.provisioning_dir).map_err(|errors| {
            anyhow::anyhow!(
                "provisioning {} is invalid:\n{errors}",
                config.provisioning_dir.display()
            )
        })?;
        println!("ok: {}", args.config.display());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let edge = Edge::start(config, None).await?;
        loop {
            tokio::select! {
                _ = hangup.recv() => match edge.reload().await {
                    Ok(()) => {}
                    Err(errors) => tracing::error!(%errors, "Provisioning reload refused; keeping the provisioning in force."),
                },
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        tracing::info!("Stopping: draining calls in progress.");
        let stats = edge.shutdown().await;
        if stats.spool_pending > 0 {
            tracing::warn!(records = stats.spool_pending, "Call records left in the spool; the next start replays them.");
        }
        Ok(())
    })
}
