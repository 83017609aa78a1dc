//! One row of the inventory: a number or block, its [`NumberState`], where it comes
//! from ([`Origin`]) and who holds it.
//!
//! What each state means and requires (checked at load and kept by every
//! transition):
//!
//! | state | meaning | customer | trunk, site | other |
//! |---|---|---|---|---|
//! | `available` | in the provider's stock, free | none | none | |
//! | `reserved` | promised to a customer, not in service | required | optional | |
//! | `assigned` | in service: inbound calls are routed to the site | required | required | |
//! | `porting_in` | being ported in from another operator | required | required | `request` |
//! | `porting_out` | being ported out; still in service until the port date when it was assigned | required | as before | `request`; `until` kept when it was quarantined |
//! | `quarantined` | released by the customer; not reusable before `until` | former holder | kept | `until` |
//! | `released` | no longer served by the provider (ported out, or returned to the block holder) | former holder, optional | optional | |

use std::fmt;
use std::str::FromStr;

use chrono::{Days, NaiveDate};

use super::block::NumberBlock;

/// How many days after the end of a contract a released number may still be
/// ported out (contract.md §2, ARCEP: 40 days). A regulatory period, not a policy
/// setting.
pub const PORTABLE_AFTER_RELEASE_DAYS: u64 = 40;

/// Where a number is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NumberState {
    /// In the provider's stock, free to reserve or assign.
    Available,
    /// Promised to a customer (order in progress), not in service.
    Reserved,
    /// In service for a customer, trunk and site.
    Assigned,
    /// Being ported in from another operator by a port-in request.
    PortingIn,
    /// Being ported out to another operator by a port-out request.
    PortingOut,
    /// Released by its customer; cannot be given to another customer before the
    /// end of the quarantine.
    Quarantined,
    /// No longer served by the provider: ported out, or returned to its block
    /// holder. Kept for the record.
    Released,
}

impl NumberState {
    /// Every state, in life order.
    pub const ALL: [NumberState; 7] = [
        NumberState::Available,
        NumberState::Reserved,
        NumberState::Assigned,
        NumberState::PortingIn,
        NumberState::PortingOut,
        NumberState::Quarantined,
        NumberState::Released,
    ];

    /// The name used in files and on the command line: `porting_in`.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberState::Available => "available",
            NumberState::Reserved => "reserved",
            NumberState::Assigned => "assigned",
            NumberState::PortingIn => "porting_in",
            NumberState::PortingOut => "porting_out",
            NumberState::Quarantined => "quarantined",
            NumberState::Released => "released",
        }
    }

    /// The names of every state, for messages.
    pub fn names() -> String {
        NumberState::ALL.map(NumberState::as_str).join(", ")
    }
}

impl fmt::Display for NumberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NumberState {
    type Err = String;
    fn from_str(s: &str) -> Result<NumberState, String> {
        NumberState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown state {s:?} (expected one of: {})",
                    NumberState::names()
                )
            })
    }
}

/// Where a number comes from: the provider may only hold numbers of its own ARCEP
/// blocks or numbers ported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// From a block ARCEP assigned to the provider (MAJNUM).
    Own,
    /// Ported in from another operator; returns to its block holder when released.
    Ported,
}

impl Origin {
    /// `own` or `ported`.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Own => "own",
            Origin::Ported => "ported",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Origin {
    type Err = String;
    fn from_str(s: &str) -> Result<Origin, String> {
        match s {
            "own" => Ok(Origin::Own),
            "ported" => Ok(Origin::Ported),
            _ => Err(format!("unknown origin {s:?} (expected own or ported)")),
        }
    }
}

/// One row of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The number or aligned block.
    pub block: NumberBlock,
    /// Where it is in its life.
    pub state: NumberState,
    /// Own block or ported in.
    pub origin: Origin,
    /// The customer holding it (former holder when quarantined or released).
    pub customer: Option<String>,
    /// The trunk its calls go to.
    pub trunk: Option<String>,
    /// The site of that trunk it is used at.
    pub site: Option<String>,
    /// The Paris date it entered its state. For `porting_out` the date of the
    /// state before the port-out (assignment or release), which the port request
    /// restores when it is rejected or cancelled.
    pub since: NaiveDate,
    /// `quarantined` (and `porting_out` of a quarantined number): the first day
    /// the number may be given to another customer.
    pub until: Option<NaiveDate>,
    /// `porting_in`, `porting_out`: the port request moving it; `released` after a
    /// port-out: the request that moved it out.
    pub request: Option<String>,
}

impl Entry {
    /// An entry of the provider's stock.
    pub fn available(block: NumberBlock, since: NaiveDate) -> Entry {
        Entry {
            block,
            state: NumberState::Available,
            origin: Origin::Own,
            customer: None,
            trunk: None,
            site: None,
            since,
            until: None,
            request: None,
        }
    }

    /// The same holder and dates for another block (pieces of a carved block).
    pub(crate) fn with_block(&self, block: NumberBlock) -> Entry {
        Entry {
            block,
            ..self.clone()
        }
    }

    /// True when everything but the block is equal: pieces that can be merged.
    pub(crate) fn same_data(&self, other: &Entry) -> bool {
        self.with_block(other.block) == *other
    }

    /// For a quarantined number: true when its quarantine is over on `date`.
    pub fn quarantine_over(&self, date: NaiveDate) -> bool {
        self.until.is_some_and(|until| date >= until)
    }

    /// The last day a released number may be ported out: 40 days after its
    /// release.
    pub fn portable_until(&self) -> Option<NaiveDate> {
        (self.state == NumberState::Quarantined
            || (self.state == NumberState::PortingOut && self.until.is_some()))
        .then(|| {
            self.since
                .checked_add_days(Days::new(PORTABLE_AFTER_RELEASE_DAYS))
        })
        .flatten()
    }

    /// The state a `porting_out` entry goes back to when its port is rejected or
    /// cancelled: quarantined when it had a quarantine end, assigned otherwise.
    pub fn state_before_port_out(&self) -> NumberState {
        if self.until.is_some() {
            NumberState::Quarantined
        } else {
            NumberState::Assigned
        }
    }

    /// The row as written in `inventory.csv` (`INVENTORY_COLUMNS`).
    pub fn to_row(&self) -> Vec<String> {
        vec![
            self.block.to_string(),
            self.state.to_string(),
            self.origin.to_string(),
            self.customer.clone().unwrap_or_default(),
            self.trunk.clone().unwrap_or_default(),
            self.site.clone().unwrap_or_default(),
            self.since.to_string(),
            self.until.map(|d| d.to_string()).unwrap_or_default(),
            self.request.clone().unwrap_or_default(),
        ]
    }

    /// The customer, or an empty string.
    pub fn customer_str(&self) -> &str {
        self.customer.as_deref().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip() {
        for st in NumberState::ALL {
            assert_eq!(st.as_str().parse::<NumberState>(), Ok(st));
        }
        let err = "ported".parse::<NumberState>().unwrap_err();
        assert!(
            err.contains("\"ported\"") && err.contains("porting_in"),
            "{err}"
        );
        assert_eq!("own".parse::<Origin>(), Ok(Origin::Own));
        assert!("mine".parse::<Origin>().is_err());
    }

    #[test]
    fn quarantine_and_portability_windows() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let block = NumberBlock::parse("+33145233100").unwrap();
        let mut e = Entry::available(block, d(1, 10));
        e.state = NumberState::Quarantined;
        e.customer = Some("acme".into());
        e.until = Some(d(4, 10));
        assert!(!e.quarantine_over(d(4, 9)));
        assert!(e.quarantine_over(d(4, 10)));
        // 10 January + 40 days = 19 February.
        assert_eq!(e.portable_until(), Some(d(2, 19)));
        assert_eq!(e.state_before_port_out(), NumberState::Quarantined);
        e.state = NumberState::Assigned;
        e.until = None;
        assert_eq!(e.portable_until(), None);
    }
}
