//! Port request transitions, as methods of [`Inventory`]: every transition checks
//! the request's state and direction, records a journal row for the request and
//! one per number it moves, and is all or nothing.
//!
//! | transition | request | numbers |
//! |---|---|---|
//! | [`create_port_in`](Inventory::create_port_in) | → `draft` | checked, not moved |
//! | [`submit_port_in`](Inventory::submit_port_in) | `draft` → `submitted` | → `porting_in` |
//! | [`receive_port_out`](Inventory::receive_port_out) | → `submitted`, or `rejected` at once | `assigned`/`quarantined` → `porting_out` |
//! | [`accept_port`](Inventory::accept_port) | `submitted` → `accepted` | |
//! | [`reject_port`](Inventory::reject_port) | `submitted` → `rejected` | in: out of the inventory; out: back as they were |
//! | [`schedule_port`](Inventory::schedule_port) | `accepted`/`scheduled` → `scheduled` | |
//! | [`complete_port`](Inventory::complete_port) | `scheduled` → `completed` | in: → `assigned`; out: → `released` |
//! | [`cancel_port`](Inventory::cancel_port) | open → `cancelled` | as for a rejection |
//!
//! Dates: a requested or scheduled port date is a working day
//! ([`BusinessCalendar`]: French public holidays and the `extra_holidays`
//! setting); the port date is at most `max_port_working_days` working days after
//! the request was sent or received, unless the subscriber asked for a later date;
//! a port is completed on or after its date.
//!
//! RIOs: a port-in RIO is checked for format and key (against the first number of
//! the request, the line the RIO identifies; the others are ported with it, as for
//! a business contract with several numbers). Its operator code names the donor
//! (MAJRIO), or else the number's block holder does (MAJNUM). The RIOs the
//! provider issues ([`Inventory::issued_rio`]) are its `rio_operator_code`,
//! contract type `F` (fixed line), a 6-character contract reference derived from
//! the customer id ([`contract_reference`]), and the key; a port-out RIO must be
//! one of them.

use chrono::NaiveDate;
use provisioning::Provisioning;

use super::{Direction, PortRequest, PortState, RejectReason};
use crate::arcep::ArcepData;
use crate::calendar::BusinessCalendar;
use crate::inventory::error::{InventoryError, InventoryErrorKind as K, InventoryErrors};
use crate::inventory::rules::{check_category, Place, Rules};
use crate::inventory::transition::Step;
use crate::inventory::{Change, Entry, Inventory, JournalRecord, NumberBlock, NumberState, Origin};
use crate::number::E164;
use crate::rio::{Rio, RIO_ALPHABET};

/// The contract type of the RIOs the provider issues: a fixed line.
pub const ISSUED_RIO_CONTRACT_TYPE: char = 'F';

/// A port-in the provider prepares for a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInOrder {
    /// The customer the numbers go to.
    pub customer: String,
    /// The trunk they will be assigned to.
    pub trunk: String,
    /// The site; may be omitted for a trunk with one site.
    pub site: Option<String>,
    /// The numbers and blocks; the RIO is the first number's line.
    pub numbers: Vec<NumberBlock>,
    /// The subscriber's RIO at the donor.
    pub rio: String,
    /// The donor's ARCEP mnemonic, when known better than from the RIO.
    pub donor: Option<String>,
    /// The port date the subscriber asks for (a working day).
    pub requested_date: Option<NaiveDate>,
    /// Free text.
    pub note: String,
}

/// A port-out request received from another operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortOutOrder {
    /// The numbers asked for.
    pub numbers: Vec<NumberBlock>,
    /// The RIO the subscriber gave the recipient (empty when none was sent).
    pub rio: String,
    /// The recipient operator's ARCEP mnemonic.
    pub recipient: String,
    /// The port date asked for.
    pub requested_date: Option<NaiveDate>,
    /// Free text.
    pub note: String,
}

/// What happened to a received port-out request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortOutReceipt {
    /// The request id.
    pub id: String,
    /// When the checks failed: the reason sent back to the recipient and why.
    pub rejection: Option<(RejectReason, String)>,
}

/// The 6-character contract reference of a customer in the RIOs the provider
/// issues: the 32-bit FNV-1a hash of the customer id, written in the RIO alphabet
/// (so it never changes while the id does not).
pub fn contract_reference(customer: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in customer.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let mut v = h % 37u32.pow(6);
    let mut out = [0u8; 6];
    for slot in out.iter_mut().rev() {
        *slot = RIO_ALPHABET[(v % 37) as usize];
        v /= 37;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

impl Inventory {
    /// The working-day calendar of port dates (French holidays and
    /// `extra_holidays`).
    pub fn calendar(&self) -> BusinessCalendar {
        BusinessCalendar::with_extra_holidays(self.settings().extra_holidays.iter().copied())
    }

    /// The RIO the provider issues for one of its numbers (what the customer
    /// gives another operator to port it out): the number must be in service, or
    /// released less than 40 days ago.
    ///
    /// # Errors
    ///
    /// No `rio_operator_code` setting, or the number is not the provider's to port.
    pub fn issued_rio(&self, number: &E164, date: NaiveDate) -> Result<Rio, InventoryErrors> {
        let Some(code) = self.settings().rio_operator_code.clone() else {
            return Err(InventoryErrors::one(
                number,
                K::Invalid("rio_operator_code is not set in numbers/settings.toml".into()),
            ));
        };
        let Some(e) = self.entry(number) else {
            return Err(InventoryErrors::one(number, K::NotInInventory));
        };
        let portable = match e.state {
            NumberState::Assigned | NumberState::PortingOut => true,
            NumberState::Quarantined => e.portable_until().is_some_and(|u| date <= u),
            _ => false,
        };
        if !portable {
            return Err(InventoryErrors::one(
                number,
                K::WrongState {
                    action: "issue a RIO for",
                    state: e.state,
                    expected: "assigned, or released less than 40 days ago",
                },
            ));
        }
        let reference = contract_reference(e.customer_str());
        Rio::issue(&code, ISSUED_RIO_CONTRACT_TYPE, &reference, number)
            .map_err(|err| InventoryErrors::one(number, K::Rio(err)))
    }

    /// Prepares a port-in request (`draft`); returns its id. Nothing moves until
    /// it is submitted.
    ///
    /// # Errors
    ///
    /// Every problem: customer, trunk or site; numbers already in the inventory,
    /// in another open request, used out of their territory or ZNE, not numbers a
    /// subscriber holds; a bad RIO or one issued by the provider itself; a
    /// requested date that is not a working day after today.
    pub fn create_port_in(
        &mut self,
        provisioning: &Provisioning,
        arcep: Option<&ArcepData>,
        change: &Change,
        order: &PortInOrder,
    ) -> Result<String, InventoryErrors> {
        let settings = self.settings().clone();
        let rules = Rules {
            provisioning,
            arcep,
            settings: &settings,
        };
        let place = rules
            .place(
                &order.customer,
                Some(&order.trunk),
                order.site.as_deref(),
                true,
            )
            .map_err(|(_, k)| InventoryErrors::one(format!("customer {:?}", order.customer), k))?;
        let mut errors = self.check_port_in(&rules, &place, &order.numbers, &order.rio, None);
        if let Some(date) = order.requested_date {
            if let Err(k) = self.check_port_date(date, change.date) {
                errors.push(InventoryError::new("requested date", k));
            }
        }
        if !errors.is_empty() {
            return Err(InventoryErrors::new(errors));
        }
        let rio = Rio::parse(&order.rio).ok();
        let donor = order.donor.clone().or_else(|| {
            let a = arcep?;
            rio.and_then(|r| {
                a.rio_operator(r.operator_code())
                    .map(|o| o.operator.clone())
            })
            .or_else(|| {
                a.operator_of(&order.numbers.first()?.first())
                    .map(str::to_owned)
            })
        });
        let id = self.next_request_id(Direction::In, change.date);
        let request = PortRequest {
            id: id.clone(),
            direction: Direction::In,
            state: PortState::Draft,
            customer: Some(place.customer),
            trunk: place.trunk,
            site: place.site,
            numbers: order.numbers.clone(),
            rio: rio.map(|r| r.to_string()),
            operator: donor,
            requested_date: order.requested_date,
            submitted_on: None,
            port_date: None,
            rejection: None,
            note: order.note.clone(),
        };
        self.journal_request(change, &request, "", "port_in.create", &change.reason);
        self.requests.push(request);
        Ok(id)
    }

    /// Sends a draft port-in to the donor: checks it again and puts its numbers in
    /// the inventory as `porting_in`.
    ///
    /// # Errors
    ///
    /// The request is not a draft port-in, or a check of
    /// [`create_port_in`](Inventory::create_port_in) now fails (another request or
    /// a number added since).
    pub fn submit_port_in(
        &mut self,
        provisioning: &Provisioning,
        arcep: Option<&ArcepData>,
        change: &Change,
        id: &str,
    ) -> Result<(), InventoryErrors> {
        let i = self.request_index(id, Direction::In, PortState::Submitted, "submit")?;
        let r = self.requests[i].clone();
        let settings = self.settings().clone();
        let rules = Rules {
            provisioning,
            arcep,
            settings: &settings,
        };
        let place = rules
            .place(
                r.customer.as_deref().unwrap_or(""),
                r.trunk.as_deref(),
                r.site.as_deref(),
                true,
            )
            .map_err(|(_, k)| InventoryErrors::one(id, k))?;
        let errors = self.check_port_in(
            &rules,
            &place,
            &r.numbers,
            r.rio.as_deref().unwrap_or(""),
            Some(id),
        );
        if !errors.is_empty() {
            return Err(InventoryErrors::new(errors));
        }
        let mut work = self.clone();
        let date = change.date;
        work.set_request_state(
            change,
            i,
            PortState::Submitted,
            "port_in.submit",
            &change.reason,
        );
        work.requests[i].submitted_on = Some(date);
        work.change_blocks(
            &r.numbers,
            change,
            &Step {
                action: "port_in.submit",
                request: Some(id),
            },
            |b, old| match old {
                Some(e) if e.state != NumberState::Released => {
                    Err(K::AlreadyInInventory { state: e.state })
                }
                _ => Ok(Some(Entry {
                    block: *b,
                    state: NumberState::PortingIn,
                    origin: Origin::Ported,
                    customer: Some(place.customer.clone()),
                    trunk: place.trunk.clone(),
                    site: place.site.clone(),
                    since: date,
                    until: None,
                    request: Some(id.to_owned()),
                })),
            },
        )?;
        *self = work;
        Ok(())
    }

    /// Records a port-out request received from another operator (`submitted`)
    /// and checks it: when the RIO is missing or inconsistent, a number is not the
    /// provider's, inactive, released more than 40 days ago, already being ported,
    /// or the numbers have several holders, the request is rejected at once with
    /// that reason; otherwise its numbers become `porting_out` (still in service).
    ///
    /// # Errors
    ///
    /// Only when the request cannot be recorded at all (no number, a number given
    /// twice); a failed check is a rejection, in the receipt.
    pub fn receive_port_out(
        &mut self,
        change: &Change,
        order: &PortOutOrder,
    ) -> Result<PortOutReceipt, InventoryErrors> {
        if order.numbers.is_empty() {
            return Err(InventoryErrors::one(
                "port-out request",
                K::Invalid("no number given".into()),
            ));
        }
        let twice: Vec<InventoryError> = order
            .numbers
            .iter()
            .enumerate()
            .filter(|(i, b)| order.numbers[..*i].iter().any(|o| o.overlaps(b)))
            .map(|(_, b)| InventoryError::new(b, K::Invalid("given twice".into())))
            .collect();
        if !twice.is_empty() {
            return Err(InventoryErrors::new(twice));
        }
        let (holder, rejection) = self.check_port_out(order, change.date);
        let id = self.next_request_id(Direction::Out, change.date);
        let mut work = self.clone();
        let request = PortRequest {
            id: id.clone(),
            direction: Direction::Out,
            state: PortState::Submitted,
            customer: holder.clone(),
            trunk: None,
            site: None,
            numbers: order.numbers.clone(),
            rio: (!order.rio.trim().is_empty()).then(|| order.rio.trim().to_owned()),
            operator: Some(order.recipient.clone()),
            requested_date: order.requested_date,
            submitted_on: Some(change.date),
            port_date: None,
            rejection: None,
            note: order.note.clone(),
        };
        work.journal_request(change, &request, "", "port_out.create", &change.reason);
        work.requests.push(request);
        let i = work.requests.len() - 1;
        if let Some((reason, detail)) = &rejection {
            work.requests[i].rejection = Some(*reason);
            work.requests[i].note = join_note(&order.note, detail);
            work.set_request_state(
                change,
                i,
                PortState::Rejected,
                "port_out.reject",
                &format!("{reason}: {detail}"),
            );
        } else {
            work.change_blocks(
                &order.numbers,
                change,
                &Step {
                    action: "port_out.create",
                    request: Some(&id),
                },
                |b, old| match old {
                    Some(e)
                        if matches!(e.state, NumberState::Assigned | NumberState::Quarantined) =>
                    {
                        Ok(Some(Entry {
                            state: NumberState::PortingOut,
                            request: Some(id.clone()),
                            ..e.with_block(*b)
                        }))
                    }
                    Some(e) => Err(K::WrongState {
                        action: "port out",
                        state: e.state,
                        expected: "assigned or quarantined",
                    }),
                    None => Err(K::NotInInventory),
                },
            )?;
        }
        *self = work;
        Ok(PortOutReceipt { id, rejection })
    }

    /// The donor accepted the port (port-in), or the provider accepts it
    /// (port-out).
    ///
    /// # Errors
    ///
    /// Unknown request, other direction, not `submitted`.
    pub fn accept_port(
        &mut self,
        change: &Change,
        direction: Direction,
        id: &str,
    ) -> Result<(), InventoryErrors> {
        let i = self.request_index(id, direction, PortState::Accepted, "accept")?;
        let action = format!("{}.accept", action_prefix(direction));
        self.set_request_state(change, i, PortState::Accepted, &action, &change.reason);
        Ok(())
    }

    /// The port is refused with a reason code and details: port-in numbers leave
    /// the inventory, port-out numbers go back to their state.
    ///
    /// # Errors
    ///
    /// Unknown request, other direction, not `submitted`.
    pub fn reject_port(
        &mut self,
        change: &Change,
        direction: Direction,
        id: &str,
        reason: RejectReason,
        detail: &str,
    ) -> Result<(), InventoryErrors> {
        let i = self.request_index(id, direction, PortState::Rejected, "reject")?;
        let why = if detail.is_empty() {
            reason.to_string()
        } else {
            format!("{reason}: {detail}")
        };
        let mut work = self.clone();
        let action = format!("{}.reject", action_prefix(direction));
        work.requests[i].rejection = Some(reason);
        let note = join_note(&work.requests[i].note, detail);
        work.requests[i].note = note;
        work.set_request_state(change, i, PortState::Rejected, &action, &why);
        work.undo_port_numbers(change, i, &action, &why)?;
        *self = work;
        Ok(())
    }

    /// Agrees the port date: `date`, or else the date the subscriber asked for,
    /// or else the next working day. Returns it.
    ///
    /// # Errors
    ///
    /// Unknown request, other direction, not `accepted` or `scheduled`; a date
    /// that is not a working day, is before the change's date, or is after the
    /// legal limit without the subscriber asking for it.
    pub fn schedule_port(
        &mut self,
        change: &Change,
        direction: Direction,
        id: &str,
        date: Option<NaiveDate>,
    ) -> Result<NaiveDate, InventoryErrors> {
        let i = self.request_index(id, direction, PortState::Scheduled, "schedule")?;
        let r = &self.requests[i];
        let cal = self.calendar();
        let port_date = date
            .or(r.requested_date.filter(|d| *d >= change.date))
            .unwrap_or_else(|| cal.add_business_days(change.date, 1));
        self.check_port_date(port_date, change.date)
            .map_err(|k| InventoryErrors::one(id, k))?;
        let sent = r.submitted_on.unwrap_or(change.date);
        let days = self.settings().max_port_working_days;
        let latest = cal.add_business_days(sent, days);
        if port_date > latest && r.requested_date != Some(port_date) {
            return Err(InventoryErrors::one(
                id,
                K::Date(format!(
                    "{port_date} is after the latest port date {latest} ({days} working days after the request of {sent}); \
                     a later date is only possible when the subscriber asked for it (requested date)"
                )),
            ));
        }
        let action = format!("{}.schedule", action_prefix(direction));
        let why = join_note(&format!("port date {port_date}"), &change.reason);
        self.requests[i].port_date = Some(port_date);
        self.set_request_state(change, i, PortState::Scheduled, &action, &why);
        Ok(port_date)
    }

    /// The port happened: port-in numbers become `assigned` to the request's
    /// customer, trunk and site; port-out numbers become `released` (they leave
    /// the provider).
    ///
    /// # Errors
    ///
    /// Unknown request, other direction, not `scheduled`, or before its port date.
    pub fn complete_port(
        &mut self,
        change: &Change,
        direction: Direction,
        id: &str,
    ) -> Result<(), InventoryErrors> {
        let i = self.request_index(id, direction, PortState::Completed, "complete")?;
        let r = self.requests[i].clone();
        if let Some(port_date) = r.port_date.filter(|d| change.date < *d) {
            return Err(InventoryErrors::one(
                id,
                K::Date(format!(
                    "the port is scheduled for {port_date}: complete it on or after that date (or reschedule it)"
                )),
            ));
        }
        let mut work = self.clone();
        let action = format!("{}.complete", action_prefix(direction));
        work.set_request_state(change, i, PortState::Completed, &action, &change.reason);
        let date = change.date;
        let expected = port_state(direction);
        work.change_blocks(
            &r.numbers,
            change,
            &Step {
                action: &action,
                request: Some(id),
            },
            |b, old| match old {
                Some(e) if e.state == expected && e.request.as_deref() == Some(id) => {
                    Ok(Some(match direction {
                        Direction::In => Entry {
                            state: NumberState::Assigned,
                            since: date,
                            request: None,
                            ..e.with_block(*b)
                        },
                        Direction::Out => Entry {
                            state: NumberState::Released,
                            trunk: None,
                            site: None,
                            since: date,
                            until: None,
                            ..e.with_block(*b)
                        },
                    }))
                }
                _ => Err(K::Invalid(format!("not {expected} for request {id}"))),
            },
        )?;
        *self = work;
        Ok(())
    }

    /// The port is abandoned (by the customer, or the recipient for a port-out):
    /// numbers as for a rejection.
    ///
    /// # Errors
    ///
    /// Unknown request, other direction, already rejected, completed or
    /// cancelled.
    pub fn cancel_port(
        &mut self,
        change: &Change,
        direction: Direction,
        id: &str,
    ) -> Result<(), InventoryErrors> {
        let i = self.request_index(id, direction, PortState::Cancelled, "cancel")?;
        let mut work = self.clone();
        let action = format!("{}.cancel", action_prefix(direction));
        let holds = work.requests[i].state.holds_numbers();
        work.set_request_state(change, i, PortState::Cancelled, &action, &change.reason);
        if holds {
            work.undo_port_numbers(change, i, &action, &change.reason)?;
        }
        *self = work;
        Ok(())
    }

    /// Checks a port-in: the numbers, the other open requests and the RIO.
    fn check_port_in(
        &self,
        rules: &Rules<'_>,
        place: &Place,
        numbers: &[NumberBlock],
        rio: &str,
        own: Option<&str>,
    ) -> Vec<InventoryError> {
        let mut errors = Vec::new();
        if numbers.is_empty() {
            errors.push(InventoryError::new(
                "port-in request",
                K::Invalid("no number given".into()),
            ));
            return errors;
        }
        let site = rules.site_of(place.trunk.as_deref(), place.site.as_deref());
        for (i, b) in numbers.iter().enumerate() {
            if numbers[..i].iter().any(|o| o.overlaps(b)) {
                errors.push(InventoryError::new(b, K::Invalid("given twice".into())));
                continue;
            }
            let checks = check_category(b)
                .map(|_| ())
                .and_then(|()| site.map_or(Ok(()), |s| rules.check_site(b, s, true)));
            if let Err(k) = checks {
                errors.push(InventoryError::new(b, k));
                continue;
            }
            for (piece, idx) in self.segments(b) {
                if let Some(e) = idx.map(|i| &self.entries[i]) {
                    if e.state != NumberState::Released {
                        errors.push(InventoryError::new(
                            piece,
                            K::AlreadyInInventory { state: e.state },
                        ));
                    }
                }
            }
            if let Some(other) = self
                .requests
                .iter()
                .find(|r| r.state.is_open() && Some(r.id.as_str()) != own && r.overlaps(b))
            {
                errors.push(InventoryError::new(
                    b,
                    K::PortInProgress {
                        request: other.id.clone(),
                    },
                ));
            }
        }
        let subject = own.unwrap_or("RIO");
        match Rio::parse(rio) {
            Err(e) => errors.push(InventoryError::new(subject, K::Rio(e))),
            Ok(r) => {
                if let Err(e) = r.check_number(&numbers[0].first()) {
                    errors.push(InventoryError::new(subject, K::Rio(e)));
                }
                if rules.settings.rio_operator_code.as_deref() == Some(r.operator_code()) {
                    errors.push(InventoryError::new(
                        subject,
                        K::RioOperator(format!(
                            "RIO {r} was issued by the provider itself (operator code {}): the number is already the provider's",
                            r.operator_code()
                        )),
                    ));
                } else if let Some(a) = rules.arcep.filter(|a| a.counts().3 > 0) {
                    if a.rio_operator(r.operator_code()).is_none() {
                        errors.push(InventoryError::new(
                            subject,
                            K::RioOperator(format!(
                                "RIO operator code {} of {r} is not in MAJRIO: check the RIO with the subscriber",
                                r.operator_code()
                            )),
                        ));
                    }
                }
            }
        }
        errors
    }

    /// Checks a received port-out: its holder, and the rejection it deserves.
    fn check_port_out(
        &self,
        order: &PortOutOrder,
        date: NaiveDate,
    ) -> (Option<String>, Option<(RejectReason, String)>) {
        let mut holders: Vec<String> = Vec::new();
        let mut reject: Option<(RejectReason, String)> = None;
        let mut first_problem = |reason: RejectReason, detail: String| {
            if reject.is_none() {
                reject = Some((reason, detail));
            }
        };
        if order.rio.trim().is_empty() {
            first_problem(RejectReason::RioMissing, "no RIO in the request".into());
        }
        if let Some(d) = order.requested_date {
            if let Some(why) = self.calendar().day_off(d) {
                first_problem(
                    RejectReason::WrongData,
                    format!("requested port date {d} is not a working day ({why})"),
                );
            }
        }
        for b in &order.numbers {
            for (piece, idx) in self.segments(b) {
                let Some(e) = idx.map(|i| &self.entries[i]) else {
                    first_problem(
                        RejectReason::WrongData,
                        format!("{piece} is not a number of the provider"),
                    );
                    continue;
                };
                match e.state {
                    NumberState::Assigned => {}
                    NumberState::Quarantined => match e.portable_until() {
                        Some(until) if date <= until => {}
                        until => first_problem(
                            RejectReason::NumberInactive,
                            format!(
                                "{piece} was released on {} and could be ported out until {}",
                                e.since,
                                until.map(|u| u.to_string()).unwrap_or_default()
                            ),
                        ),
                    },
                    NumberState::PortingIn | NumberState::PortingOut => first_problem(
                        RejectReason::PortInProgress,
                        format!(
                            "{piece} is {} (request {})",
                            e.state,
                            e.request.as_deref().unwrap_or("")
                        ),
                    ),
                    NumberState::Released => first_problem(
                        RejectReason::WrongData,
                        format!("{piece} is no longer a number of the provider"),
                    ),
                    NumberState::Available | NumberState::Reserved => first_problem(
                        RejectReason::NumberInactive,
                        format!("{piece} is not in service ({})", e.state),
                    ),
                }
                if let Some(c) = &e.customer {
                    if !holders.contains(c) {
                        holders.push(c.clone());
                    }
                }
            }
            if let Some(other) = self
                .requests
                .iter()
                .find(|r| r.state.is_open() && r.overlaps(b))
            {
                first_problem(
                    RejectReason::PortInProgress,
                    format!("{b} is in open request {}", other.id),
                );
            }
        }
        if holders.len() > 1 {
            first_problem(
                RejectReason::NotHolder,
                format!(
                    "the numbers belong to several customers ({}): one request per holder",
                    holders.join(", ")
                ),
            );
        }
        let holder = holders.first().cloned();
        if !order.rio.trim().is_empty() {
            match Rio::parse(&order.rio) {
                Err(e) => first_problem(RejectReason::RioInconsistent, e.to_string()),
                Ok(rio) => {
                    if let Err(e) = rio.check_number(&order.numbers[0].first()) {
                        first_problem(RejectReason::RioInconsistent, e.to_string());
                    }
                    if let Some(code) = self.settings().rio_operator_code.as_deref() {
                        if rio.operator_code() != code {
                            first_problem(
                                RejectReason::RioInconsistent,
                                format!(
                                    "RIO {rio} was issued by operator code {}, not by the provider ({code})",
                                    rio.operator_code()
                                ),
                            );
                        } else if let Some(h) = &holder {
                            if rio.reference() != contract_reference(h) {
                                first_problem(
                                    RejectReason::RioInconsistent,
                                    format!(
                                        "RIO {rio}: contract reference {} is not that of the numbers' holder",
                                        rio.reference()
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        (holder, reject)
    }

    /// A port date is a working day, not before `today`.
    fn check_port_date(&self, date: NaiveDate, today: NaiveDate) -> Result<(), K> {
        if let Some(why) = self.calendar().day_off(date) {
            return Err(K::Date(format!(
                "{date} is not a working day ({why}); the next one is {}",
                self.calendar().on_or_after(date)
            )));
        }
        if date < today {
            return Err(K::Date(format!("{date} is in the past (today is {today})")));
        }
        Ok(())
    }

    /// The index of request `id`, checked: direction, and that it may become `to`.
    fn request_index(
        &self,
        id: &str,
        direction: Direction,
        to: PortState,
        action: &'static str,
    ) -> Result<usize, InventoryErrors> {
        let Some(i) = self.requests.iter().position(|r| r.id == id) else {
            return Err(InventoryErrors::one(id, K::UnknownRequest));
        };
        let r = &self.requests[i];
        if r.direction != direction {
            return Err(InventoryErrors::one(
                id,
                K::Direction(format!(
                    "a port-{} request: use the {} command",
                    r.direction,
                    r.direction.command()
                )),
            ));
        }
        if to == PortState::Submitted && direction == Direction::Out {
            return Err(InventoryErrors::one(
                id,
                K::Direction("a port-out request arrives submitted".into()),
            ));
        }
        if !r.state.can_become(to) {
            return Err(InventoryErrors::one(
                id,
                K::RequestState {
                    action,
                    state: r.state,
                    expected: PortState::sources_of(to),
                },
            ));
        }
        Ok(i)
    }

    /// Puts a request's numbers back after a rejection or cancellation.
    fn undo_port_numbers(
        &mut self,
        change: &Change,
        i: usize,
        action: &str,
        why: &str,
    ) -> Result<(), InventoryErrors> {
        let r = self.requests[i].clone();
        let expected = port_state(r.direction);
        let change = Change {
            reason: why.to_owned(),
            ..change.clone()
        };
        self.change_blocks(
            &r.numbers,
            &change,
            &Step {
                action,
                request: Some(&r.id),
            },
            |b, old| match old {
                Some(e) if e.state == expected && e.request.as_deref() == Some(r.id.as_str()) => {
                    Ok(match r.direction {
                        Direction::In => None,
                        Direction::Out => Some(Entry {
                            state: e.state_before_port_out(),
                            request: None,
                            ..e.with_block(*b)
                        }),
                    })
                }
                _ => Err(K::Invalid(format!("not {expected} for request {}", r.id))),
            },
        )
    }

    /// Changes a request's state and journals it.
    fn set_request_state(
        &mut self,
        change: &Change,
        i: usize,
        to: PortState,
        action: &str,
        why: &str,
    ) {
        let from = self.requests[i].state;
        self.requests[i].state = to;
        let r = self.requests[i].clone();
        self.journal_request(change, &r, from.as_str(), action, why);
    }

    fn journal_request(
        &mut self,
        change: &Change,
        r: &PortRequest,
        from: &str,
        action: &str,
        why: &str,
    ) {
        self.pending.push(JournalRecord::new(
            change.time,
            &change.actor,
            action,
            &r.id,
            from,
            r.state.as_str(),
            change.date,
            [
                r.customer.as_deref().unwrap_or(""),
                r.trunk.as_deref().unwrap_or(""),
                r.site.as_deref().unwrap_or(""),
            ],
            "",
            why,
        ));
    }

    /// `PI-2026-0001`: the next number of the year for the direction.
    fn next_request_id(&self, direction: Direction, date: NaiveDate) -> String {
        use chrono::Datelike;
        let prefix = format!("{}-{}-", direction.id_prefix(), date.year());
        let last = self
            .requests
            .iter()
            .filter_map(|r| r.id.strip_prefix(&prefix)?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        format!("{prefix}{:04}", last + 1)
    }
}

fn action_prefix(direction: Direction) -> &'static str {
    match direction {
        Direction::In => "port_in",
        Direction::Out => "port_out",
    }
}

fn port_state(direction: Direction) -> NumberState {
    match direction {
        Direction::In => NumberState::PortingIn,
        Direction::Out => NumberState::PortingOut,
    }
}

fn join_note(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}; {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_references_are_stable_rio_symbols() {
        // The references of the sample's issued RIOs (numbers/port_requests.csv).
        assert_eq!(contract_reference("acme"), "Q8T+42");
        assert_eq!(contract_reference("hotel-lagon"), "QEZAR0");
        assert_eq!(contract_reference("acme").len(), 6);
        assert_ne!(contract_reference("acme"), contract_reference("acme2"));
    }
}
