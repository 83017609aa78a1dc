//! The `number-portability` command: classify numbers, import ARCEP data, manage
//! the number inventory and port requests, check RIOs.
//!
//! Exit codes: 0 when everything was valid, 1 when some input was reported as bad
//! (an invalid number, a bad ARCEP row) while the rest was processed, 2 when the
//! command could not run (unreadable file, bad numbering plan data).

mod cli;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use number_portability::arcep::ArcepData;
use number_portability::{Number, NumberingPlan};

/// Phone numbers for the fairtrunk SIP trunk service: normalise to E.164, classify
/// against the French numbering plan, import ARCEP numbering data, manage the
/// number inventory (which customer, trunk and site holds each number) and
/// number portability (port-in, port-out, RIO).
///
/// The inventory lives in the provisioning directory (--provisioning DIR or
/// FAIRTRUNK_PROVISIONING), folder numbers/. Commands that change it print one
/// line per change and append it to numbers/journal.csv. Exit status: 0 done, 1
/// refused or invalid input (reasons printed, nothing changed), 2 could not run.
#[derive(Debug, Parser)]
#[command(name = "number-portability", version, propagate_version = true)]
struct Cli {
    /// Country whose national numbers (0123456789) and international prefix (00)
    /// are read, as an ISO code.
    #[arg(long, global = true, default_value = "FR", value_name = "ISO")]
    default_country: String,

    /// Directory of numbering plan tables replacing the built-in ones
    /// (countries.csv, prefixes.csv, fr_short_codes.csv, fr_overseas.csv; any
    /// subset).
    #[arg(long, global = true, value_name = "DIR")]
    plan_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Normalise and classify numbers; writes CSV to standard output.
    ///
    /// Numbers come from the arguments, or from --file, or (with neither) from
    /// standard input, one per line. Accepted: +33123456789, 0033123456789,
    /// 0123456789, "01 23 45 67 89", 01.23.45.67.89, tel: and sip:/sips: URIs,
    /// overseas numbers (0692... -> +262...), short and emergency numbers (15, 112,
    /// 3949, 118712).
    ///
    /// Output columns: input, e164 (empty for short numbers), country (ISO code of
    /// the country or territory), category (fixed_geographic, non_geographic,
    /// mobile, machine_to_machine, special_free, special_normal_price,
    /// special_premium, operator_service, short_number, directory, emergency,
    /// carrier_selection, fixed_or_mobile, international_network, unassigned,
    /// unknown), region (01-05 region, or overseas territory), operator (ARCEP block
    /// holder, with --arcep), error (why the input is not a number).
    ///
    /// Exits 1 if any input is not a valid number (all rows are still written).
    Classify {
        /// Numbers to classify.
        numbers: Vec<String>,

        /// Read numbers from this file, one per line ("-" for standard input).
        #[arg(short, long, value_name = "FILE", conflicts_with = "numbers")]
        file: Option<PathBuf>,

        /// Directory of ARCEP files (MAJNUM.csv...) to fill the operator column.
        #[arg(long, value_name = "DIR")]
        arcep: Option<PathBuf>,
    },
    /// ARCEP open numbering data.
    Arcep {
        #[command(subcommand)]
        command: ArcepCommand,
    },
    /// The number inventory: add numbers to the stock, reserve, assign to a
    /// customer's trunk and site, release (quarantine), list, history.
    Inventory {
        #[command(flatten)]
        store: cli::StoreArgs,
        #[command(subcommand)]
        command: cli::inventory::InventoryCommand,
    },
    /// Port-in requests: numbers coming from another operator (create, submit,
    /// accept, reject, schedule, complete, cancel, list, show).
    PortIn {
        #[command(flatten)]
        store: cli::StoreArgs,
        #[command(subcommand)]
        command: cli::porting::PortInCommand,
    },
    /// Port-out requests: another operator asks for the provider's numbers
    /// (create, accept, reject, schedule, complete, cancel, list, show).
    PortOut {
        #[command(flatten)]
        store: cli::StoreArgs,
        #[command(subcommand)]
        command: cli::porting::PortOutCommand,
    },
    /// RIO (relevé d'identité opérateur): check a RIO against a number, or print
    /// the RIO of one of the provider's numbers.
    Rio {
        #[command(flatten)]
        store: cli::StoreArgs,
        #[command(subcommand)]
        command: cli::RioCommand,
    },
    /// Which operator serves numbers now: the provider (inventory), the
    /// ported-number list (--ported, routing prefixes of MAJPORTA) or the block
    /// holder (MAJNUM). CSV: input, e164, operator, served_by, routing_prefix,
    /// error.
    Serving {
        /// Numbers.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Ported-number list: CSV with a number column (Numero) and a routing
        /// prefix column (Code_Portabilite), ';' separated.
        #[arg(long, value_name = "FILE")]
        ported: Option<PathBuf>,
        #[command(flatten)]
        store: cli::StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ArcepCommand {
    /// Import ARCEP files from a directory and report what was read.
    ///
    /// Recognised files (ISO-8859-1 or UTF-8, ';' separated, as published):
    /// MAJNUM*.csv (number blocks and their operator), MAJNFB*.csv (short and
    /// special numbers), MAJPORTA*.csv (routing prefixes of ported numbers),
    /// MAJRIO*.csv (RIO operator codes) and *ZNE*.csv (ZABPQ -> ZNE -> communes).
    /// Bad rows are listed with file:line and skipped; exits 1 if there were any.
    Import {
        /// Directory holding the files.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("number-portability: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `Ok(false)` when some input was bad but the command ran.
fn run(cli: Cli) -> anyhow::Result<bool> {
    let mut builder = NumberingPlan::builder().default_country(&cli.default_country);
    if let Some(dir) = &cli.plan_dir {
        builder = builder
            .data_dir(dir)
            .with_context(|| format!("reading numbering plan tables in {}", dir.display()))?;
    }
    let plan = builder.build().context("loading the numbering plan")?;
    match cli.command {
        Command::Classify {
            numbers,
            file,
            arcep,
        } => {
            let arcep = match arcep {
                Some(dir) => Some(load_arcep(&dir)?),
                None => None,
            };
            let inputs: Box<dyn Iterator<Item = std::io::Result<String>>> = match file {
                _ if !numbers.is_empty() => Box::new(numbers.into_iter().map(Ok)),
                Some(path) if path != Path::new("-") => {
                    let f = std::fs::File::open(&path)
                        .with_context(|| format!("opening {}", path.display()))?;
                    Box::new(std::io::BufReader::new(f).lines())
                }
                _ => Box::new(std::io::stdin().lock().lines()),
            };
            classify(&plan, arcep.as_ref(), inputs)
        }
        Command::Arcep {
            command: ArcepCommand::Import { dir },
        } => {
            let (data, reports) = ArcepData::import_dir(&dir)?;
            let mut out = std::io::stdout().lock();
            let mut bad = 0;
            for r in &reports {
                writeln!(out, "{r}")?;
                bad += r.bad_rows.len();
            }
            let (blocks, short, porting, rio, zne) = data.counts();
            writeln!(
                out,
                "imported {blocks} number block(s), {short} short number range(s), \
                 {porting} porting prefix(es), {rio} RIO operator code(s), {zne} ZABPQ; \
                 {bad} bad row(s)"
            )?;
            Ok(bad == 0)
        }
        Command::Inventory { store, command } => cli::inventory::run(command, &store),
        Command::PortIn { store, command } => cli::porting::run_in(command, &store),
        Command::PortOut { store, command } => cli::porting::run_out(command, &store),
        Command::Rio { store, command } => cli::run_rio(command, &store),
        Command::Serving {
            numbers,
            ported,
            store,
        } => cli::run_serving(numbers, ported, &store),
    }
}

fn load_arcep(dir: &Path) -> anyhow::Result<ArcepData> {
    let (data, reports) = ArcepData::import_dir(dir)?;
    for r in reports.iter().filter(|r| !r.bad_rows.is_empty()) {
        eprintln!("{r}");
    }
    Ok(data)
}

fn classify(
    plan: &NumberingPlan,
    arcep: Option<&ArcepData>,
    inputs: impl Iterator<Item = std::io::Result<String>>,
) -> anyhow::Result<bool> {
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record([
        "input", "e164", "country", "category", "region", "operator", "error",
    ])?;
    let mut all_valid = true;
    for line in inputs {
        let line = line.context("reading numbers")?;
        let input = line.trim_end_matches('\r');
        if input.trim().is_empty() {
            continue;
        }
        match plan.parse(input) {
            Ok(n) => {
                let c = plan.classify(&n);
                let region = match (c.region, c.territory) {
                    (Some(r), _) => r.as_str().to_owned(),
                    (None, Some(t)) => t.as_str().to_owned(),
                    (None, None) => String::new(),
                };
                let operator = arcep
                    .and_then(|a| match &n {
                        Number::E164(e) => a.operator_of(e),
                        Number::Short(s) => a.short_number(s).map(|b| b.operator.as_str()),
                    })
                    .unwrap_or("");
                let e164 = n.as_e164().map_or("", |e| e.as_str());
                out.write_record([
                    input,
                    e164,
                    c.country.as_str(),
                    c.category.as_str(),
                    &region,
                    operator,
                    "",
                ])?;
            }
            Err(e) => {
                all_valid = false;
                out.write_record([input, "", "", "", "", "", &e.kind().to_string()])?;
            }
        }
    }
    out.flush()?;
    Ok(all_valid)
}
