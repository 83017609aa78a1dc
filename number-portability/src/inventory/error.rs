//! Why a change to the inventory or a port request was refused.
//!
//! A command acting on several numbers checks all of them before changing
//! anything and reports every refusal at once ([`InventoryErrors`]); nothing is
//! applied unless everything passes. Messages are lowercase, name the number or
//! request and say what would make the change possible.

use std::fmt;

use chrono::NaiveDate;

use super::entry::NumberState;
use crate::porting::{PortState, RejectReason};
use crate::rio::RioError;

/// One refusal, about one number, block or request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subject}: {kind}")]
pub struct InventoryError {
    subject: String,
    kind: InventoryErrorKind,
}

impl InventoryError {
    /// A refusal about `subject` (a number, a block or a request id).
    pub fn new(subject: impl fmt::Display, kind: InventoryErrorKind) -> InventoryError {
        InventoryError {
            subject: subject.to_string(),
            kind,
        }
    }

    /// The number, block or request refused.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Why.
    pub fn kind(&self) -> &InventoryErrorKind {
        &self.kind
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InventoryErrorKind {
    /// The number is not in the inventory (or not all numbers of the block are).
    NotInInventory,
    /// The number is already in the inventory.
    AlreadyInInventory {
        /// Its state.
        state: NumberState,
    },
    /// The number's state does not allow the action.
    WrongState {
        /// The action refused (`assign`, `release`...).
        action: &'static str,
        /// Its state.
        state: NumberState,
        /// The states the action needs.
        expected: &'static str,
    },
    /// The number is held by another customer: one customer at a time.
    HeldByOther {
        /// The customer holding it.
        customer: String,
        /// Its state.
        state: NumberState,
    },
    /// The number is quarantined and may not go to another customer yet.
    Quarantined {
        /// The first day it may be given to another customer.
        until: NaiveDate,
        /// Its former holder.
        customer: String,
    },
    /// A ported-in number cannot go back to the stock: it returns to its block
    /// holder.
    PortedNumberNotReusable,
    /// A customer, trunk or site that does not exist or does not fit.
    Reference(String),
    /// The kind of number cannot be held by a customer (short, international,
    /// unassigned range...).
    Category(String),
    /// An overseas number on a site outside its territory, or a metropolitan
    /// geographic number on an overseas site.
    Territory(String),
    /// The site's commune is not in the number's ZNE.
    Zne(String),
    /// The number is not in a block ARCEP assigned to the provider.
    NotOurBlock {
        /// The block holder, when the number is in a known block.
        holder: Option<String>,
    },
    /// The number was released more than 40 days ago: it can no longer be ported
    /// out.
    NotPortable {
        /// The last day it could be ported out.
        portable_until: NaiveDate,
    },
    /// Another open port request holds the number.
    PortInProgress {
        /// That request.
        request: String,
    },
    /// The RIO is malformed or does not match the number.
    Rio(RioError),
    /// The RIO was not issued by the operator it should come from.
    RioOperator(String),
    /// No port request has this id.
    UnknownRequest,
    /// The request's state does not allow the action.
    RequestState {
        /// The action refused.
        action: &'static str,
        /// The request's state.
        state: PortState,
        /// The states the action needs.
        expected: &'static str,
    },
    /// The action does not apply to a request of this direction.
    Direction(String),
    /// A date that is not allowed (not a working day, too early, past the legal
    /// limit).
    Date(String),
    /// A port-out request that must be rejected, with the reason to give the
    /// recipient operator.
    MustReject {
        /// The reason code to send.
        reason: RejectReason,
        /// Why.
        detail: String,
    },
    /// Another problem, described.
    Invalid(String),
}

impl fmt::Display for InventoryErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use InventoryErrorKind as K;
        match self {
            K::NotInInventory => f.write_str(
                "not in the inventory; add it first (inventory add) or port it in (port-in create)",
            ),
            K::AlreadyInInventory { state } => {
                write!(f, "already in the inventory ({state})")
            }
            K::WrongState {
                action,
                state,
                expected,
            } => write!(f, "cannot {action} a number that is {state} (it must be {expected})"),
            K::HeldByOther { customer, state } => write!(
                f,
                "held by customer {customer:?} ({state}); a number belongs to one customer at a time, release it first"
            ),
            K::Quarantined { until, customer } => write!(
                f,
                "quarantined after its release by {customer:?}; it can go to another customer from {until}"
            ),
            K::PortedNumberNotReusable => f.write_str(
                "was ported in: when released it returns to its block holder (inventory return), it cannot go back to the stock",
            ),
            K::Reference(m) | K::Category(m) | K::Territory(m) | K::Zne(m) | K::Invalid(m) => {
                f.write_str(m)
            }
            K::NotOurBlock { holder: Some(h) } => write!(
                f,
                "in a block ARCEP assigned to {h}, not to the provider (operator_mnemonics in numbers/settings.toml); port it in instead"
            ),
            K::NotOurBlock { holder: None } => f.write_str(
                "in no block of the ARCEP data (MAJNUM); only numbers of the provider's blocks or ported-in numbers can be held",
            ),
            K::NotPortable { portable_until } => write!(
                f,
                "released more than 40 days ago: it could be ported out until {portable_until}"
            ),
            K::PortInProgress { request } => {
                write!(f, "port already in progress (request {request})")
            }
            K::Rio(e) => write!(f, "{e}"),
            K::RioOperator(m) | K::Direction(m) | K::Date(m) => f.write_str(m),
            K::UnknownRequest => f.write_str("no such port request (port-in list, port-out list)"),
            K::RequestState {
                action,
                state,
                expected,
            } => write!(f, "cannot {action} a request that is {state} (it must be {expected})"),
            K::MustReject { reason, detail } => write!(
                f,
                "{detail}; reject the request with reason {reason}"
            ),
        }
    }
}

/// Every refusal of one change, in the order of the numbers given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.errors))]
pub struct InventoryErrors {
    errors: Vec<InventoryError>,
}

impl InventoryErrors {
    /// Wraps refusals (never empty when returned by a change).
    pub fn new(errors: Vec<InventoryError>) -> InventoryErrors {
        InventoryErrors { errors }
    }

    /// One refusal.
    pub fn one(subject: impl fmt::Display, kind: InventoryErrorKind) -> InventoryErrors {
        InventoryErrors::new(vec![InventoryError::new(subject, kind)])
    }

    /// The refusals.
    pub fn errors(&self) -> &[InventoryError] {
        &self.errors
    }

    /// The first refusal's kind (tests and callers that act on one number).
    pub fn first_kind(&self) -> Option<&InventoryErrorKind> {
        self.errors.first().map(InventoryError::kind)
    }
}

fn lines(errors: &[InventoryError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_subject_and_the_fix() {
        let e = InventoryError::new(
            "+33145233100",
            InventoryErrorKind::HeldByOther {
                customer: "acme".into(),
                state: NumberState::Assigned,
            },
        );
        assert_eq!(
            e.to_string(),
            "+33145233100: held by customer \"acme\" (assigned); a number belongs to one customer at a time, release it first"
        );
        let all = InventoryErrors::new(vec![
            e.clone(),
            InventoryError::new("PI-2026-0001", InventoryErrorKind::UnknownRequest),
        ]);
        assert_eq!(all.to_string().lines().count(), 2);
        assert_eq!(all.first_kind(), Some(e.kind()));
    }
}
