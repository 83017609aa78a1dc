//! Commands of the `number-portability` binary that work on the number inventory
//! of a provisioning directory: `inventory`, `port-in`, `port-out`, `rio`,
//! `serving`.
//!
//! Every command that changes something takes `numbers/.lock`, loads and checks
//! the provisioning and the inventory, applies the change (all or nothing),
//! prints one line per journal row it wrote, and saves. Exit codes, as for the
//! other commands: 0 done, 1 refused (the reasons are printed, nothing changed),
//! 2 could not run (unreadable or invalid files, missing option).

pub mod inventory;
pub mod porting;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{NaiveDate, Utc};
use clap::{Args, Subcommand};
use number_portability::arcep::ArcepData;
use number_portability::inventory::{
    Change, Inventory, InventoryErrors, JournalRecord, NumberBlock, NumbersLock,
};
use number_portability::rio::Rio;
use number_portability::routing::{serving_operator, PortedNumbers};
use provisioning::Provisioning;

/// Options shared by the commands on the inventory; they may be given anywhere
/// after the command name.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The provisioning directory (customers.toml, trunks.toml and the numbers/
    /// folder holding the inventory).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "FAIRTRUNK_PROVISIONING"
    )]
    pub provisioning: Option<PathBuf>,

    /// ARCEP files to check against (MAJNUM: the provider's blocks and donors;
    /// MAJRIO: RIO codes; ZNE: communes). Default: arcep_dir of
    /// numbers/settings.toml.
    #[arg(long, global = true, value_name = "DIR")]
    pub arcep: Option<PathBuf>,

    /// Who makes the change, written in the journal. Default: the login name.
    #[arg(long, global = true, value_name = "NAME")]
    pub actor: Option<String>,

    /// The day the change takes effect (YYYY-MM-DD): quarantines and port dates
    /// count from it. Default: today in Paris.
    #[arg(long, global = true, value_name = "DATE", value_parser = parse_date)]
    pub date: Option<NaiveDate>,

    /// Why, written in the journal (ticket, order number...).
    #[arg(
        long,
        global = true,
        value_name = "TEXT",
        default_value = "",
        hide_default_value = true
    )]
    pub reason: String,
}

/// Parses a `YYYY-MM-DD` date argument.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| format!("{text:?} is not a date (expected YYYY-MM-DD)"))
}

/// The loaded provisioning, inventory and ARCEP data of one command.
pub struct Workspace {
    /// The provisioning directory.
    pub dir: PathBuf,
    /// Its customers and trunks.
    pub provisioning: Provisioning,
    /// Its inventory.
    pub inventory: Inventory,
    /// ARCEP data, when given or configured.
    pub arcep: Option<ArcepData>,
    /// Held until the command ends, when it changes something.
    _lock: Option<NumbersLock>,
}

impl Workspace {
    /// Loads everything; with `lock`, takes `numbers/.lock` first.
    pub fn open(args: &StoreArgs, lock: bool) -> anyhow::Result<Workspace> {
        let Some(dir) = args.provisioning.clone() else {
            bail!("--provisioning DIR is required (or set FAIRTRUNK_PROVISIONING)");
        };
        let lock = if lock {
            Some(NumbersLock::acquire(&dir)?)
        } else {
            None
        };
        let provisioning = Provisioning::load(&dir)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("loading the provisioning directory {}", dir.display()))?;
        let inventory = Inventory::load_with(&dir, &provisioning)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("loading the number inventory in {}", dir.display()))?;
        let arcep_dir = args
            .arcep
            .clone()
            .or_else(|| inventory.settings().arcep_dir.clone());
        let arcep = match arcep_dir {
            Some(d) => Some(load_arcep(&d)?),
            None => None,
        };
        Ok(Workspace {
            dir,
            provisioning,
            inventory,
            arcep,
            _lock: lock,
        })
    }

    /// The change the options describe.
    pub fn change(&self, args: &StoreArgs) -> Change {
        let now = Utc::now();
        let actor = args
            .actor
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .unwrap_or_else(|| "unknown".to_owned());
        Change::at(
            &actor,
            now,
            args.date.unwrap_or_else(|| provisioning::paris_date(now)),
            &args.reason,
        )
    }

    /// Prints the journal rows of the change and saves it; or prints the
    /// refusals. `Ok(false)` when refused.
    pub fn finish(&mut self, result: Result<(), InventoryErrors>) -> anyhow::Result<bool> {
        match result {
            Ok(()) => {
                for r in self.inventory.pending() {
                    println!("{}", describe(r));
                }
                self.inventory
                    .save(&self.dir)
                    .context("saving the number inventory")?;
                Ok(true)
            }
            Err(errors) => {
                refused(&errors);
                Ok(false)
            }
        }
    }
}

/// Prints refusals to standard error.
pub fn refused(errors: &InventoryErrors) {
    eprintln!("number-portability: refused, nothing was changed:");
    for e in errors.errors() {
        eprintln!("  {e}");
    }
}

/// One journal row as a line: `assign +33145233300: available -> assigned (acme, acme-multisite, lyon)`.
pub fn describe(r: &JournalRecord) -> String {
    let from = if r.from.is_empty() { "(none)" } else { &r.from };
    let to = if r.to.is_empty() { "(out)" } else { &r.to };
    let holder: Vec<&str> = [r.customer.as_str(), r.trunk.as_str(), r.site.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let mut line = format!("{} {}: {from} -> {to}", r.action, r.subject);
    if !holder.is_empty() {
        line.push_str(&format!(" ({})", holder.join(", ")));
    }
    if !r.request.is_empty() {
        line.push_str(&format!(" [{}]", r.request));
    }
    line
}

/// Reads ARCEP files, reporting bad rows on standard error.
pub fn load_arcep(dir: &Path) -> anyhow::Result<ArcepData> {
    let (data, reports) = ArcepData::import_dir(dir)
        .with_context(|| format!("reading ARCEP files in {}", dir.display()))?;
    for r in reports.iter().filter(|r| !r.bad_rows.is_empty()) {
        eprintln!("{r}");
    }
    Ok(data)
}

/// Parses numbers and ranges (`0145233100`, `+33145233100..+33145233199`) into
/// blocks.
pub fn parse_numbers(inputs: &[String]) -> anyhow::Result<Vec<NumberBlock>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for input in inputs {
        match NumberBlock::parse_range(input) {
            Ok(blocks) => out.extend(blocks),
            Err(e) => problems.push(format!("  {e}")),
        }
    }
    if !problems.is_empty() {
        bail!("bad numbers:\n{}", problems.join("\n"));
    }
    if out.is_empty() {
        bail!("no number given");
    }
    Ok(out)
}

/// `rio` subcommands.
#[derive(Debug, Subcommand)]
pub enum RioCommand {
    /// Check a RIO's format and its key against a number.
    ///
    /// The key (last 3 characters) is computed from the first 9 characters and
    /// the 10-digit national number, so a RIO copied for another line fails.
    /// Exits 1 when the RIO is invalid. With --arcep, names the operator of the
    /// RIO's code (MAJRIO).
    Check {
        /// The RIO, 12 characters (spaces ignored), e.g. 01P12345636Q.
        rio: String,
        /// The number it should identify: 0612345678, +33612345678...
        number: String,
    },
    /// Print the RIO the provider issues for one of its numbers (what the
    /// customer gives another operator to port it out). Needs --provisioning and
    /// rio_operator_code in numbers/settings.toml.
    Issue {
        /// The number.
        number: String,
    },
}

/// Runs a `rio` command.
pub fn run_rio(command: RioCommand, args: &StoreArgs) -> anyhow::Result<bool> {
    match command {
        RioCommand::Check { rio, number } => {
            let number = match number_portability::E164::parse(&number) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("number-portability: {e}");
                    return Ok(false);
                }
            };
            let checked = Rio::parse(&rio).and_then(|r| r.check_number(&number).map(|()| r));
            match checked {
                Ok(r) => {
                    let national = number_portability::default_plan()
                        .to_national(&number)
                        .unwrap_or_default();
                    let mut line = format!(
                        "ok: RIO {r} matches {national} (operator code {}, contract type {}, reference {}, key {})",
                        r.operator_code(),
                        r.contract_type(),
                        r.reference(),
                        r.key()
                    );
                    if let Some(dir) = &args.arcep {
                        let data = load_arcep(dir)?;
                        match data.rio_operator(r.operator_code()) {
                            Some(o) => {
                                line.push_str(&format!("; operator {} {}", o.operator, o.name))
                            }
                            None => line.push_str("; operator code not in MAJRIO"),
                        }
                    }
                    println!("{line}");
                    Ok(true)
                }
                Err(e) => {
                    eprintln!("number-portability: {e}");
                    Ok(false)
                }
            }
        }
        RioCommand::Issue { number } => {
            let ws = Workspace::open(args, false)?;
            let number = number_portability::E164::parse(&number)?;
            let change = ws.change(args);
            match ws.inventory.issued_rio(&number, change.date) {
                Ok(r) => {
                    println!("{r}");
                    Ok(true)
                }
                Err(e) => {
                    refused(&e);
                    Ok(false)
                }
            }
        }
    }
}

/// Runs `serving`: which operator serves each number now.
pub fn run_serving(
    numbers: Vec<String>,
    ported: Option<PathBuf>,
    args: &StoreArgs,
) -> anyhow::Result<bool> {
    let (inventory, mut arcep) = match &args.provisioning {
        Some(_) => {
            let ws = Workspace::open(args, false)?;
            (Some(ws.inventory), ws.arcep)
        }
        None => (None, None),
    };
    if arcep.is_none() {
        if let Some(dir) = &args.arcep {
            arcep = Some(load_arcep(dir)?);
        }
    }
    let ported = match ported {
        Some(path) => {
            let (list, bad) = PortedNumbers::import(&path)?;
            for b in &bad {
                eprintln!("{}:{}: {}", path.display(), b.line, b.reason);
            }
            Some(list)
        }
        None => None,
    };
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record([
        "input",
        "e164",
        "operator",
        "served_by",
        "routing_prefix",
        "error",
    ])?;
    let mut all_ok = true;
    for input in &numbers {
        match number_portability::E164::parse(input) {
            Ok(n) => {
                let s = serving_operator(&n, inventory.as_ref(), ported.as_ref(), arcep.as_ref());
                match s {
                    Some(s) => out.write_record([
                        input.as_str(),
                        n.as_str(),
                        &s.operator,
                        s.by.as_str(),
                        s.routing_prefix.as_deref().unwrap_or(""),
                        "",
                    ])?,
                    None => {
                        all_ok = false;
                        out.write_record([
                            input.as_str(),
                            n.as_str(),
                            "",
                            "",
                            "",
                            "unknown: not in the inventory, the ported list or an ARCEP block",
                        ])?
                    }
                }
            }
            Err(e) => {
                all_ok = false;
                out.write_record([input.as_str(), "", "", "", "", &e.kind().to_string()])?;
            }
        }
    }
    out.flush()?;
    Ok(all_ok)
}
