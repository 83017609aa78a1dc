//! Port requests: numbers moving between the provider and another operator.
//!
//! A request carries one number, several, or ranges (a business with 3 or more
//! numbers may port only some of them, contract.md §2), the subscriber's RIO, the
//! other operator and the dates. Its life:
//!
//! ```text
//! draft -> submitted -> accepted -> scheduled -> completed
//!            |             |           |  (reschedule: scheduled -> scheduled)
//!            v             v           v
//!         rejected     cancelled   cancelled        (draft, submitted -> cancelled too)
//! ```
//!
//! - **Port-in** (`PI-…`): the provider asks the donor operator for the numbers. A
//!   draft is prepared; `submit` checks the RIO (format and key against the first
//!   number) and puts the numbers in the inventory as `porting_in`; the donor
//!   accepts or rejects with a [`RejectReason`]; the port is scheduled on a working
//!   day; completion makes them `assigned`; a rejection or cancellation takes them
//!   out again.
//! - **Port-out** (`PO-…`): another operator asks for the provider's numbers. It
//!   arrives `submitted`; if it fails the checks (RIO, holder, 40-day window, a port
//!   in progress) it is rejected at once with the reason; otherwise the numbers
//!   become `porting_out` (still in service), and on completion `released`: they
//!   leave the inventory.
//!
//! Every transition is a journal row with time, actor and reason. Transitions
//! are methods of [`crate::inventory::Inventory`] (see [`workflow`]).

pub mod workflow;

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use crate::inventory::NumberBlock;

/// Which way the numbers move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From another operator to the provider.
    In,
    /// From the provider to another operator.
    Out,
}

impl Direction {
    /// `in` or `out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    /// The prefix of request ids: `PI` or `PO`.
    pub fn id_prefix(self) -> &'static str {
        match self {
            Direction::In => "PI",
            Direction::Out => "PO",
        }
    }

    /// The command name: `port-in` or `port-out`.
    pub fn command(self) -> &'static str {
        match self {
            Direction::In => "port-in",
            Direction::Out => "port-out",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Direction, String> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            _ => Err(format!("unknown direction {s:?} (expected in or out)")),
        }
    }
}

/// Where a port request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortState {
    /// Prepared, not sent (port-in only).
    Draft,
    /// Sent to the donor (port-in) or received from the recipient (port-out).
    Submitted,
    /// The donor accepted it.
    Accepted,
    /// The donor refused it, with a reason. Final.
    Rejected,
    /// A port date is agreed.
    Scheduled,
    /// The numbers moved. Final.
    Completed,
    /// Abandoned before completion. Final.
    Cancelled,
}

impl PortState {
    /// Every state, in life order.
    pub const ALL: [PortState; 7] = [
        PortState::Draft,
        PortState::Submitted,
        PortState::Accepted,
        PortState::Rejected,
        PortState::Scheduled,
        PortState::Completed,
        PortState::Cancelled,
    ];

    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Draft => "draft",
            PortState::Submitted => "submitted",
            PortState::Accepted => "accepted",
            PortState::Rejected => "rejected",
            PortState::Scheduled => "scheduled",
            PortState::Completed => "completed",
            PortState::Cancelled => "cancelled",
        }
    }

    /// True until the request is rejected, completed or cancelled.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            PortState::Rejected | PortState::Completed | PortState::Cancelled
        )
    }

    /// True when the request's numbers are in the inventory as `porting_in` or
    /// `porting_out` (every open state but draft).
    pub fn holds_numbers(self) -> bool {
        self.is_open() && self != PortState::Draft
    }

    /// True when the workflow allows going from `self` to `to`.
    pub fn can_become(self, to: PortState) -> bool {
        use PortState as S;
        matches!(
            (self, to),
            (S::Draft, S::Submitted)
                | (S::Submitted, S::Accepted | S::Rejected)
                | (S::Accepted, S::Scheduled)
                | (S::Scheduled, S::Scheduled | S::Completed)
                | (
                    S::Draft | S::Submitted | S::Accepted | S::Scheduled,
                    S::Cancelled
                )
        )
    }

    /// The states from which `to` can be reached, for messages.
    pub fn sources_of(to: PortState) -> &'static str {
        match to {
            PortState::Draft => "new",
            PortState::Submitted => "draft",
            PortState::Accepted | PortState::Rejected => "submitted",
            PortState::Scheduled => "accepted or scheduled",
            PortState::Completed => "scheduled",
            PortState::Cancelled => "draft, submitted, accepted or scheduled",
        }
    }
}

impl fmt::Display for PortState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PortState {
    type Err = String;
    fn from_str(s: &str) -> Result<PortState, String> {
        PortState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown port request state {s:?} (expected one of: {})",
                    PortState::ALL.map(PortState::as_str).join(", ")
                )
            })
    }
}

/// Why a donor refuses a port (the codes of the inter-operator process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The request's data is wrong (unknown number, bad customer data).
    WrongData,
    /// The number is not active at the donor.
    NumberInactive,
    /// No RIO was given.
    RioMissing,
    /// The RIO does not match the number (key, operator, contract).
    RioInconsistent,
    /// Another port of the number is in progress.
    PortInProgress,
    /// The requester is not the number's holder.
    NotHolder,
}

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 6] = [
        RejectReason::WrongData,
        RejectReason::NumberInactive,
        RejectReason::RioMissing,
        RejectReason::RioInconsistent,
        RejectReason::PortInProgress,
        RejectReason::NotHolder,
    ];

    /// The code used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::WrongData => "wrong_data",
            RejectReason::NumberInactive => "number_inactive",
            RejectReason::RioMissing => "rio_missing",
            RejectReason::RioInconsistent => "rio_inconsistent",
            RejectReason::PortInProgress => "port_in_progress",
            RejectReason::NotHolder => "not_holder",
        }
    }

    /// What the code means.
    pub fn description(self) -> &'static str {
        match self {
            RejectReason::WrongData => "wrong data in the request",
            RejectReason::NumberInactive => "number not active",
            RejectReason::RioMissing => "RIO missing",
            RejectReason::RioInconsistent => "RIO inconsistent with the number",
            RejectReason::PortInProgress => "port already in progress",
            RejectReason::NotHolder => "requester is not the holder of the number",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RejectReason {
    type Err = String;
    fn from_str(s: &str) -> Result<RejectReason, String> {
        RejectReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown rejection reason {s:?} (expected one of: {})",
                    RejectReason::ALL.map(RejectReason::as_str).join(", ")
                )
            })
    }
}

/// A port request, as stored in `numbers/port_requests.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    /// `PI-2026-0001` (port-in) or `PO-2026-0001` (port-out).
    pub id: String,
    /// In or out.
    pub direction: Direction,
    /// Where it is.
    pub state: PortState,
    /// Port-in: the customer the numbers go to. Port-out: their holder (empty
    /// when the numbers are not the provider's).
    pub customer: Option<String>,
    /// Port-in: the trunk the numbers will be assigned to.
    pub trunk: Option<String>,
    /// Port-in: the site of that trunk.
    pub site: Option<String>,
    /// The numbers and blocks.
    pub numbers: Vec<NumberBlock>,
    /// The subscriber's RIO, as given (checked on submit / receipt).
    pub rio: Option<String>,
    /// The other operator (ARCEP mnemonic): donor for a port-in, recipient for a
    /// port-out.
    pub operator: Option<String>,
    /// The port date the subscriber asked for.
    pub requested_date: Option<NaiveDate>,
    /// When it was sent (port-in) or received (port-out).
    pub submitted_on: Option<NaiveDate>,
    /// The agreed port date.
    pub port_date: Option<NaiveDate>,
    /// Why it was rejected.
    pub rejection: Option<RejectReason>,
    /// Free text: rejection details, remarks.
    pub note: String,
}

impl PortRequest {
    /// The numbers as text, space separated (the file form).
    pub fn numbers_text(&self) -> String {
        self.numbers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The row as written in `port_requests.csv` (`REQUEST_COLUMNS`).
    pub fn to_row(&self) -> Vec<String> {
        let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        vec![
            self.id.clone(),
            self.direction.to_string(),
            self.state.to_string(),
            self.customer.clone().unwrap_or_default(),
            self.trunk.clone().unwrap_or_default(),
            self.site.clone().unwrap_or_default(),
            self.numbers_text(),
            self.rio.clone().unwrap_or_default(),
            self.operator.clone().unwrap_or_default(),
            date(self.requested_date),
            date(self.submitted_on),
            date(self.port_date),
            self.rejection.map(|r| r.to_string()).unwrap_or_default(),
            self.note.clone(),
        ]
    }

    /// How many numbers the request moves.
    pub fn number_count(&self) -> u32 {
        self.numbers.iter().map(NumberBlock::size).sum()
    }

    /// True when the request includes `block` (or a block holding it).
    pub fn covers(&self, block: &NumberBlock) -> bool {
        self.numbers.iter().any(|b| b.contains_block(block))
    }

    /// True when the request shares a number with `block`.
    pub fn overlaps(&self, block: &NumberBlock) -> bool {
        self.numbers.iter().any(|b| b.overlaps(block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in PortState::ALL {
            assert_eq!(s.as_str().parse::<PortState>(), Ok(s));
        }
        for r in RejectReason::ALL {
            assert_eq!(r.as_str().parse::<RejectReason>(), Ok(r));
        }
        assert!("late"
            .parse::<RejectReason>()
            .unwrap_err()
            .contains("not_holder"));
        assert_eq!("out".parse::<Direction>(), Ok(Direction::Out));
        assert!("sideways".parse::<Direction>().is_err());
    }

    #[test]
    fn transitions_of_the_workflow() {
        use PortState as S;
        let allowed: Vec<(S, S)> = S::ALL
            .into_iter()
            .flat_map(|a| S::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            [
                (S::Draft, S::Submitted),
                (S::Draft, S::Cancelled),
                (S::Submitted, S::Accepted),
                (S::Submitted, S::Rejected),
                (S::Submitted, S::Cancelled),
                (S::Accepted, S::Scheduled),
                (S::Accepted, S::Cancelled),
                (S::Scheduled, S::Scheduled),
                (S::Scheduled, S::Completed),
                (S::Scheduled, S::Cancelled),
            ]
        );
        for s in [S::Rejected, S::Completed, S::Cancelled] {
            assert!(!s.is_open());
            assert!(S::ALL.iter().all(|t| !s.can_become(*t)), "{s} is final");
        }
        assert!(!S::Draft.holds_numbers());
        assert!(S::Scheduled.holds_numbers());
    }
}
