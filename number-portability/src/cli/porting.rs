//! `number-portability port-in ...` and `port-out ...`: port requests.

use chrono::NaiveDate;
use clap::Subcommand;
use number_portability::inventory::{Journal, REQUEST_COLUMNS};
use number_portability::porting::workflow::{PortInOrder, PortOutOrder};
use number_portability::porting::{Direction, PortRequest, PortState, RejectReason};

use super::{describe, parse_date, parse_numbers, refused, StoreArgs, Workspace};

/// Subcommands shared by `port-in` and `port-out`.
#[derive(Debug, Subcommand)]
pub enum PortCommand {
    /// Record that the donor (port-in) or the provider (port-out) accepted the
    /// request.
    Accept {
        /// Request id (PI-2026-0001, PO-2026-0001).
        id: String,
    },
    /// Record a refusal with its reason code: wrong_data, number_inactive,
    /// rio_missing, rio_inconsistent, port_in_progress, not_holder.
    ///
    /// Port-in numbers leave the inventory; port-out numbers go back to their
    /// state.
    Reject {
        /// Request id.
        id: String,
        /// Reason code.
        code: RejectReason,
        /// Details given with the refusal.
        #[arg(default_value = "")]
        detail: String,
    },
    /// Agree the port date (a working day; French public holidays excluded).
    ///
    /// Default: the date the subscriber asked for, or the next working day. At
    /// most max_port_working_days working days after the request unless the
    /// subscriber asked for a later date. Scheduling again moves the date.
    Schedule {
        /// Request id.
        id: String,
        /// The port date, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date, value_name = "DATE")]
        port_date: Option<NaiveDate>,
    },
    /// Record that the port happened (on or after its date): port-in numbers
    /// become assigned to the request's customer, trunk and site; port-out
    /// numbers leave the inventory (released).
    Complete {
        /// Request id.
        id: String,
    },
    /// Abandon a request that is not finished; its numbers go back as they were.
    Cancel {
        /// Request id.
        id: String,
    },
    /// List requests as CSV (the columns of numbers/port_requests.csv).
    List {
        /// Only requests in this state: draft, submitted, accepted, rejected,
        /// scheduled, completed, cancelled.
        #[arg(long)]
        state: Option<PortState>,
    },
    /// Show a request and its history.
    Show {
        /// Request id.
        id: String,
    },
}

/// `port-in` subcommands.
#[derive(Debug, Subcommand)]
pub enum PortInCommand {
    /// Prepare a port-in (draft) for a customer: one number, several, or ranges
    /// (a business with 3 or more numbers may port only some of them).
    ///
    /// Checks the customer, trunk and site, the numbers (not already the
    /// provider's, in no other open request, in their territory/ZNE), the RIO
    /// (format, and key against the first number) and the requested date (a
    /// working day). The donor is the RIO's operator (MAJRIO) or the block
    /// holder (MAJNUM) unless --donor is given.
    Create {
        /// Numbers or ranges to port; the RIO is the first number's.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// Customer id.
        #[arg(long)]
        customer: String,
        /// Trunk id the numbers will be assigned to.
        #[arg(long)]
        trunk: String,
        /// Site id; may be omitted when the trunk has one site.
        #[arg(long)]
        site: Option<String>,
        /// The subscriber's RIO at the donor (12 characters).
        #[arg(long)]
        rio: String,
        /// Donor operator (ARCEP mnemonic).
        #[arg(long)]
        donor: Option<String>,
        /// The port date the subscriber asks for, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date, value_name = "DATE")]
        port_date: Option<NaiveDate>,
        /// Free text kept with the request.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Send a draft to the donor: checks it again; its numbers become
    /// porting_in.
    Submit {
        /// Request id.
        id: String,
    },
    #[command(flatten)]
    Common(PortCommand),
}

/// `port-out` subcommands.
#[derive(Debug, Subcommand)]
pub enum PortOutCommand {
    /// Record a port-out request received from another operator and check it.
    ///
    /// When the RIO is missing or does not match (key, the provider's RIO code,
    /// the holder's contract), a number is not the provider's, not in service,
    /// released more than 40 days ago, already being ported, or the numbers have
    /// several holders, the request is rejected at once with the reason to send
    /// back (exit 1). Otherwise its numbers become porting_out: still in service
    /// until the port completes.
    Create {
        /// Numbers or ranges asked for; the RIO is the first number's.
        #[arg(required = true)]
        numbers: Vec<String>,
        /// The RIO in the request (empty if none was sent).
        #[arg(long, default_value = "")]
        rio: String,
        /// The recipient operator (ARCEP mnemonic).
        #[arg(long)]
        recipient: String,
        /// The port date asked for, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date, value_name = "DATE")]
        port_date: Option<NaiveDate>,
        /// Free text kept with the request.
        #[arg(long, default_value = "")]
        note: String,
    },
    #[command(flatten)]
    Common(PortCommand),
}

/// Runs a `port-in` command.
pub fn run_in(command: PortInCommand, args: &StoreArgs) -> anyhow::Result<bool> {
    let changes = match &command {
        PortInCommand::Common(c) => changes(c),
        _ => true,
    };
    let mut ws = Workspace::open(args, changes)?;
    let change = ws.change(args);
    match command {
        PortInCommand::Create {
            numbers,
            customer,
            trunk,
            site,
            rio,
            donor,
            port_date,
            note,
        } => {
            let order = PortInOrder {
                customer,
                trunk,
                site,
                numbers: parse_numbers(&numbers)?,
                rio,
                donor,
                requested_date: port_date,
                note,
            };
            let result = ws
                .inventory
                .create_port_in(&ws.provisioning, ws.arcep.as_ref(), &change, &order)
                .map(|_| ());
            ws.finish(result)
        }
        PortInCommand::Submit { id } => {
            let result =
                ws.inventory
                    .submit_port_in(&ws.provisioning, ws.arcep.as_ref(), &change, &id);
            ws.finish(result)
        }
        PortInCommand::Common(c) => run_common(&mut ws, Direction::In, c, args),
    }
}

/// Runs a `port-out` command.
pub fn run_out(command: PortOutCommand, args: &StoreArgs) -> anyhow::Result<bool> {
    let changes = match &command {
        PortOutCommand::Common(c) => changes(c),
        _ => true,
    };
    let mut ws = Workspace::open(args, changes)?;
    let change = ws.change(args);
    match command {
        PortOutCommand::Create {
            numbers,
            rio,
            recipient,
            port_date,
            note,
        } => {
            let order = PortOutOrder {
                numbers: parse_numbers(&numbers)?,
                rio,
                recipient,
                requested_date: port_date,
                note,
            };
            match ws.inventory.receive_port_out(&change, &order) {
                Ok(receipt) => {
                    let accepted = receipt.rejection.is_none();
                    ws.finish(Ok(()))?;
                    if let Some((reason, detail)) = receipt.rejection {
                        eprintln!(
                            "number-portability: {} rejected: {reason} ({}): {detail}",
                            receipt.id,
                            reason.description()
                        );
                    }
                    Ok(accepted)
                }
                Err(e) => ws.finish(Err(e)),
            }
        }
        PortOutCommand::Common(c) => run_common(&mut ws, Direction::Out, c, args),
    }
}

fn changes(c: &PortCommand) -> bool {
    !matches!(c, PortCommand::List { .. } | PortCommand::Show { .. })
}

fn run_common(
    ws: &mut Workspace,
    direction: Direction,
    command: PortCommand,
    args: &StoreArgs,
) -> anyhow::Result<bool> {
    let change = ws.change(args);
    let inv = &mut ws.inventory;
    let result = match command {
        PortCommand::Accept { id } => inv.accept_port(&change, direction, &id),
        PortCommand::Reject { id, code, detail } => {
            inv.reject_port(&change, direction, &id, code, &detail)
        }
        PortCommand::Schedule { id, port_date } => inv
            .schedule_port(&change, direction, &id, port_date)
            .map(|_| ()),
        PortCommand::Complete { id } => inv.complete_port(&change, direction, &id),
        PortCommand::Cancel { id } => inv.cancel_port(&change, direction, &id),
        PortCommand::List { state } => {
            let mut out = csv::Writer::from_writer(std::io::stdout().lock());
            out.write_record(REQUEST_COLUMNS)?;
            for r in inv.requests() {
                if r.direction == direction && state.is_none_or(|s| r.state == s) {
                    out.write_record(r.to_row())?;
                }
            }
            out.flush()?;
            return Ok(true);
        }
        PortCommand::Show { id } => {
            let Some(r) = inv.request(&id).filter(|r| r.direction == direction) else {
                eprintln!(
                    "number-portability: {id}: no such {} request ({} list)",
                    direction.command(),
                    direction.command()
                );
                return Ok(false);
            };
            show(
                r,
                &Journal::load(&ws.dir).map_err(|e| anyhow::anyhow!("{e}"))?,
            );
            return Ok(true);
        }
    };
    if let Err(e) = &result {
        refused(e);
        return Ok(false);
    }
    ws.finish(result)
}

fn show(r: &PortRequest, journal: &Journal) {
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let holder: Vec<String> = [&r.customer, &r.trunk, &r.site]
        .into_iter()
        .filter_map(|s| s.clone())
        .collect();
    println!("request     {} ({})", r.id, r.direction.command());
    println!("state       {}", r.state);
    println!("customer    {}", holder.join(" / "));
    println!(
        "numbers     {} ({} number(s))",
        r.numbers_text(),
        r.number_count()
    );
    println!("rio         {}", opt(&r.rio));
    match r.direction {
        Direction::In => println!("donor       {}", opt(&r.operator)),
        Direction::Out => println!("recipient   {}", opt(&r.operator)),
    }
    println!("requested   {}", date(r.requested_date));
    println!("submitted   {}", date(r.submitted_on));
    println!("port date   {}", date(r.port_date));
    if let Some(reason) = r.rejection {
        println!("rejection   {reason} ({})", reason.description());
    }
    println!("note        {}", r.note);
    println!("history:");
    for rec in journal.of_request(&r.id) {
        let mut line = format!(
            "  {} {} {}",
            rec.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            rec.actor,
            describe(rec)
        );
        if !rec.reason.is_empty() {
            line.push_str(&format!(": {}", rec.reason));
        }
        println!("{line}");
    }
}
