//! `number-portability inventory ...`: the provider's numbers and who holds them.

use clap::Subcommand;
use number_portability::inventory::{
    Assignee, Journal, NumberState, INVENTORY_COLUMNS, JOURNAL_COLUMNS,
};
use number_portability::E164;

use super::{parse_numbers, StoreArgs, Workspace};

/// `inventory` subcommands.
#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Put numbers of the provider's ARCEP blocks in stock (state available).
    ///
    /// NUMBERS are numbers or ranges: 0145233100, +33145233100,
    /// 0145233100..0145233199 (cut into aligned SDA blocks of 10, 100, 1000).
    /// With ARCEP data, every number must be in a MAJNUM block of the provider
    /// (operator_mnemonics in numbers/settings.toml).
    Add {
        /// Numbers or ranges.
        #[arg(required = true)]
        numbers: Vec<String>,
    },
    /// Reserve numbers for a customer (an order in progress; not in service).
    Reserve {
        /// Numbers or ranges.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Customer id (customers.toml).
        #[arg(long)]
        customer: String,
        /// Trunk id (trunks.toml), optional.
        #[arg(long)]
        trunk: Option<String>,
        /// Site id of the trunk, optional.
        #[arg(long)]
        site: Option<String>,
    },
    /// Assign numbers to a customer's trunk and site: inbound calls to them go
    /// there.
    ///
    /// Refused when a number is another customer's (one customer at a time),
    /// quarantined after another customer released it, being ported, or used
    /// out of its territory (overseas numbers on a site of their territory and
    /// ZNE; metropolitan ZNE only when metropolitan_zne_check is on). Assigning
    /// a customer's number to another of its sites moves it.
    Assign {
        /// Numbers or ranges.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Customer id (customers.toml).
        #[arg(long)]
        customer: String,
        /// Trunk id (trunks.toml), one of the customer's.
        #[arg(long)]
        trunk: String,
        /// Site id of the trunk; may be omitted when the trunk has one site.
        #[arg(long)]
        site: Option<String>,
    },
    /// Release numbers at the end of a customer's contract.
    ///
    /// An assigned number is quarantined for quarantine_days (45-120, setting)
    /// before another customer may get it, and may still be ported out for 40
    /// days. A reserved number goes back to the stock.
    Release {
        /// Numbers or ranges.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Refuse numbers that are not this customer's (a safety check).
        #[arg(long)]
        customer: Option<String>,
    },
    /// Give numbers up: stock numbers, or quarantined ones after their
    /// quarantine (a ported-in number returns to its block holder). State
    /// released.
    Return {
        /// Numbers or ranges.
        #[arg(required = true)]
        numbers: Vec<String>,
    },
    /// List inventory rows as CSV (the columns of numbers/inventory.csv).
    List {
        /// Only this customer's numbers.
        #[arg(long)]
        customer: Option<String>,
        /// Only numbers of this trunk.
        #[arg(long)]
        trunk: Option<String>,
        /// Only numbers in this state: available, reserved, assigned, porting_in,
        /// porting_out, quarantined, released.
        #[arg(long)]
        state: Option<NumberState>,
        /// Only rows holding this number.
        #[arg(long)]
        number: Option<String>,
    },
    /// The history of a number (or range) as CSV: every journal row of the
    /// blocks holding it.
    History {
        /// A number or range.
        number: String,
    },
    /// What the SIP edge sees for numbers: state, holder and where inbound calls
    /// go (CSV). Exits 1 if an input is not a number.
    Lookup {
        /// Numbers.
        #[arg(required = true)]
        numbers: Vec<String>,
    },
    /// Check numbers/ (settings, inventory, port requests, journal) and, with
    /// ARCEP data, the provider's blocks and ZNEs. Prints every problem and
    /// exits 1, or prints a summary.
    Check,
}

/// Runs an `inventory` command.
pub fn run(command: InventoryCommand, args: &StoreArgs) -> anyhow::Result<bool> {
    let changes = matches!(
        command,
        InventoryCommand::Add { .. }
            | InventoryCommand::Reserve { .. }
            | InventoryCommand::Assign { .. }
            | InventoryCommand::Release { .. }
            | InventoryCommand::Return { .. }
    );
    let mut ws = Workspace::open(args, changes)?;
    let change = ws.change(args);
    match command {
        InventoryCommand::Add { numbers } => {
            let blocks = parse_numbers(&numbers)?;
            if ws.arcep.is_none() {
                eprintln!("number-portability: no ARCEP data (--arcep or arcep_dir): the provider's blocks are not checked");
            }
            let result = ws.inventory.add(ws.arcep.as_ref(), &change, &blocks);
            ws.finish(result)
        }
        InventoryCommand::Reserve {
            numbers,
            customer,
            trunk,
            site,
        } => {
            let blocks = parse_numbers(&numbers)?;
            let to = Assignee::new(&customer, trunk.as_deref(), site.as_deref());
            let result =
                ws.inventory
                    .reserve(&ws.provisioning, ws.arcep.as_ref(), &change, &blocks, &to);
            ws.finish(result)
        }
        InventoryCommand::Assign {
            numbers,
            customer,
            trunk,
            site,
        } => {
            let blocks = parse_numbers(&numbers)?;
            let to = Assignee::new(&customer, Some(&trunk), site.as_deref());
            let result =
                ws.inventory
                    .assign(&ws.provisioning, ws.arcep.as_ref(), &change, &blocks, &to);
            ws.finish(result)
        }
        InventoryCommand::Release { numbers, customer } => {
            let blocks = parse_numbers(&numbers)?;
            let result = ws.inventory.release(&change, &blocks, customer.as_deref());
            ws.finish(result)
        }
        InventoryCommand::Return { numbers } => {
            let blocks = parse_numbers(&numbers)?;
            let result = ws.inventory.give_back(&change, &blocks);
            ws.finish(result)
        }
        InventoryCommand::List {
            customer,
            trunk,
            state,
            number,
        } => {
            let number = number.map(|n| E164::parse(&n)).transpose()?;
            let mut out = csv::Writer::from_writer(std::io::stdout().lock());
            out.write_record(INVENTORY_COLUMNS)?;
            for e in ws.inventory.entries() {
                let keep = customer
                    .as_deref()
                    .is_none_or(|c| e.customer.as_deref() == Some(c))
                    && trunk
                        .as_deref()
                        .is_none_or(|t| e.trunk.as_deref() == Some(t))
                    && state.is_none_or(|s| e.state == s)
                    && number.is_none_or(|n| e.block.contains(&n));
                if keep {
                    out.write_record(e.to_row())?;
                }
            }
            out.flush()?;
            Ok(true)
        }
        InventoryCommand::History { number } => {
            let blocks = parse_numbers(&[number])?;
            let journal = Journal::load(&ws.dir).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut out = csv::Writer::from_writer(std::io::stdout().lock());
            out.write_record(JOURNAL_COLUMNS)?;
            for r in journal.records() {
                if r.block()
                    .is_some_and(|b| blocks.iter().any(|x| x.overlaps(&b)))
                {
                    out.write_record(r.to_row())?;
                }
            }
            out.flush()?;
            Ok(true)
        }
        InventoryCommand::Lookup { numbers } => {
            let mut out = csv::Writer::from_writer(std::io::stdout().lock());
            out.write_record([
                "input", "e164", "state", "customer", "trunk", "site", "block", "routed", "error",
            ])?;
            let mut all_ok = true;
            for input in &numbers {
                let row: Vec<String> = match E164::parse(input) {
                    Ok(n) => match ws.inventory.entry(&n) {
                        Some(e) => vec![
                            input.clone(),
                            n.to_string(),
                            e.state.to_string(),
                            e.customer.clone().unwrap_or_default(),
                            e.trunk.clone().unwrap_or_default(),
                            e.site.clone().unwrap_or_default(),
                            e.block.to_string(),
                            if ws.inventory.route(&n).is_some() {
                                "yes"
                            } else {
                                "no"
                            }
                            .into(),
                            String::new(),
                        ],
                        None => vec![
                            input.clone(),
                            n.to_string(),
                            String::new(),
                            String::new(),
                            String::new(),
                            String::new(),
                            String::new(),
                            "no".into(),
                            "not in the inventory".into(),
                        ],
                    },
                    Err(e) => {
                        all_ok = false;
                        let mut row = vec![input.clone()];
                        row.extend(std::iter::repeat_n(String::new(), 7));
                        row.push(e.kind().to_string());
                        row
                    }
                };
                out.write_record(row)?;
            }
            out.flush()?;
            Ok(all_ok)
        }
        InventoryCommand::Check => {
            let mut problems = Vec::new();
            let journal = match Journal::load(&ws.dir) {
                Ok(j) => Some(j),
                Err(errors) => {
                    problems.extend(errors.iter().map(ToString::to_string));
                    None
                }
            };
            if let Some(arcep) = &ws.arcep {
                problems.extend(
                    ws.inventory
                        .check_with_arcep(&ws.provisioning, arcep)
                        .iter()
                        .map(ToString::to_string),
                );
            }
            if !problems.is_empty() {
                refused_lines(&problems);
                return Ok(false);
            }
            let numbers: u64 = ws
                .inventory
                .entries()
                .iter()
                .map(|e| u64::from(e.block.size()))
                .sum();
            println!(
                "ok: {} row(s), {numbers} number(s), {} port request(s), {} journal row(s){}",
                ws.inventory.len(),
                ws.inventory.requests().len(),
                journal.map_or(0, |j| j.records().len()),
                if ws.arcep.is_some() {
                    ", checked against ARCEP data"
                } else {
                    ""
                }
            );
            for r in ws.inventory.requests() {
                if let (number_portability::porting::PortState::Scheduled, Some(d)) =
                    (r.state, r.port_date)
                {
                    if d < change.date {
                        println!(
                            "due: {} was scheduled for {d}: complete it ({} complete {})",
                            r.id,
                            r.direction.command(),
                            r.id
                        );
                    }
                }
            }
            Ok(true)
        }
    }
}

fn refused_lines(lines: &[String]) {
    eprintln!("number-portability: {} problem(s):", lines.len());
    for l in lines {
        eprintln!("  {l}");
    }
}
