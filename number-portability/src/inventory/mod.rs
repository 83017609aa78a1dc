//! The number inventory: which customer, trunk and site holds each number, and
//! the history of every change.
//!
//! # What the SIP edge and rating call
//!
//! ```
//! use std::path::Path;
//! use number_portability::inventory::Inventory;
//! use number_portability::E164;
//!
//! let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
//! // At start and on every reload (SIGHUP): every file error at once, or the
//! // inventory. Keep the previous one when this fails.
//! let inventory = Inventory::load(&dir).unwrap_or_else(|errors| panic!("{errors}"));
//!
//! // Inbound routing: DID -> customer, trunk, site. Numbers of an SDA block match
//! // the block. O(1): at most four hash lookups.
//! let did = E164::parse("+33145233142").unwrap();
//! let route = inventory.route(&did).expect("an assigned DID");
//! assert_eq!((route.customer, route.trunk, route.site), ("acme", "acme-multisite", "paris-hq"));
//!
//! // Caller-ID check and shared-trunk detection: does the caller number belong to
//! // the customer of the trunk the call came from?
//! assert!(inventory.belongs_to(&did, "acme"));
//! assert!(!inventory.belongs_to(&did, "contoso"));
//! ```
//!
//! - [`Inventory::route`] answers for numbers in service: `assigned`, and
//!   `porting_out` numbers that were assigned (they stay in service until the
//!   port completes). Quarantined, reserved, porting-in and released numbers have
//!   no route: the edge refuses the call (404) or sends it to the carrier.
//! - [`Inventory::belongs_to`] is true for `assigned`, `porting_in` (the customer
//!   already uses the number at the donor and may present it) and in-service
//!   `porting_out` numbers of that customer.
//! - [`Inventory::holder`] gives the holder in any state that has one, with the
//!   state, for callers that need more.
//!
//! An [`Inventory`] is immutable once loaded and `Send + Sync`: share it in an
//! `Arc` and swap it on reload. [`Inventory::load`] reads the provisioning too (to
//! check references); [`Inventory::load_with`] takes an already loaded
//! [`provisioning::Provisioning`] so a reload parses it once.
//!
//! # Storage: plain files in `<provisioning>/numbers/`
//!
//! The inventory is part of the provisioning directory, as DESIGN.md wants every
//! assignment to be: reviewable, diffable and versioned with the customers and
//! trunks it refers to, loaded without a database by the edge at start, and
//! covered by the provisioning fingerprint that rating records. ClickHouse would
//! add a dependency to the edge's start and reload for a table of a few
//! thousand rows; the history is an append-only CSV instead, which survives
//! restarts with the rest of the directory.
//!
//! | file | content |
//! |---|---|
//! | `settings.toml` | numbering policy: quarantine, ZNE check, ARCEP mnemonics... ([`settings`]) |
//! | `inventory.csv` | current state, one row per number or aligned block (below) |
//! | `port_requests.csv` | current state of every port request ([`crate::porting`]) |
//! | `journal.csv` | append-only history of numbers and requests ([`journal`]) |
//! | `arcep/` | optional: the ARCEP files commands check against (`arcep_dir`) |
//!
//! `inventory.csv` (columns by name, any order; `number`, `state`, `since`
//! required):
//!
//! ```text
//! number,state,origin,customer,trunk,site,since,until,request
//! +33145233100..+33145233199,assigned,own,acme,acme-multisite,paris-hq,2024-01-15,,
//! +33145233200,quarantined,own,acme,acme-multisite,lyon,2026-05-04,2026-08-02,
//! +33145231042,porting_in,ported,acme,acme-multisite,paris-hq,2026-06-01,,PI-2026-0001
//! ```
//!
//! - `number`: one number (E.164) or an aligned block `first..last` of 10, 100 or
//!   1000 ([`NumberBlock`]); a number is on one row only;
//! - `state`, and what each state requires: see [`NumberState`] and [`entry`];
//! - `origin`: `own` (a block ARCEP assigned to the provider) or `ported` (ported
//!   in); default `own`;
//! - `customer`, `trunk`, `site`: ids from `customers.toml` and `trunks.toml`; the
//!   site may be left empty for a trunk with one site;
//! - `since`: the Paris date the state began; `until`: end of quarantine;
//!   `request`: the port request moving the number.
//!
//! Load checks every row (syntax, state requirements, references, kind of number,
//! overseas territory, overlaps, port requests both ways) and reports every
//! problem as `numbers/inventory.csv:LINE: number "...": FIELD: message`. The
//! commands of the `number-portability` binary change the files: they check the
//! transition, append the journal, then replace the state files atomically
//! ([`files`]).
//!
//! # Rules
//!
//! One customer at a time; quarantine of 45 to 120 days (setting) after release,
//! during which only the former holder may get the number back, and 40 days during
//! which it may still be ported out; overseas geographic numbers only on a site of
//! their territory and ZNE; metropolitan ZNE only under the policy setting; numbers
//! from the provider's ARCEP blocks or ported in ([`rules`]).

pub mod block;
pub mod entry;
pub mod error;
pub mod files;
pub mod journal;
mod load;
pub mod rules;
pub mod settings;
pub mod transition;

use std::collections::HashMap;

pub use block::NumberBlock;
pub use entry::{Entry, NumberState, Origin, PORTABLE_AFTER_RELEASE_DAYS};
pub use error::{InventoryError, InventoryErrorKind, InventoryErrors};
pub use files::NumbersLock;
pub use journal::{Journal, JournalRecord, JOURNAL_COLUMNS, JOURNAL_FILE};
pub use load::{INVENTORY_COLUMNS, REQUEST_COLUMNS};
pub use settings::NumberSettings;
pub use transition::{Assignee, Change};

use crate::number::E164;
use crate::porting::PortRequest;

/// The folder of the provisioning directory this crate owns.
pub const NUMBERS_DIR: &str = "numbers";
/// The current-state file, relative to the provisioning directory.
pub const INVENTORY_FILE: &str = "numbers/inventory.csv";
/// The port requests file, relative to the provisioning directory.
pub const REQUESTS_FILE: &str = "numbers/port_requests.csv";

/// Where inbound calls to a number in service go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    /// The customer id (`customers.toml`).
    pub customer: &'a str,
    /// The trunk id (`trunks.toml`): its `[trunk.inbound]` target gets the call.
    pub trunk: &'a str,
    /// The site id within the trunk.
    pub site: &'a str,
    /// The number or SDA block the number belongs to.
    pub block: NumberBlock,
    /// `assigned` or `porting_out`.
    pub state: NumberState,
}

/// The current holder of a number, in any state that has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder<'a> {
    /// The customer id.
    pub customer: &'a str,
    /// The trunk id, when set (always for `assigned` and `porting_in`).
    pub trunk: Option<&'a str>,
    /// The site id, when set (always for `assigned` and `porting_in`).
    pub site: Option<&'a str>,
    /// The number or block the number belongs to.
    pub block: NumberBlock,
    /// `reserved`, `assigned`, `porting_in` or `porting_out`.
    pub state: NumberState,
}

/// The loaded inventory and port requests, with O(1) lookups.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    settings: NumberSettings,
    /// Sorted by block.
    pub(crate) entries: Vec<Entry>,
    /// Entries of 10^k numbers by first number, k = 0..=3.
    index: [HashMap<E164, u32>; 4],
    pub(crate) requests: Vec<PortRequest>,
    /// Journal rows of changes not saved yet.
    pub(crate) pending: Vec<JournalRecord>,
}

impl Inventory {
    /// An empty inventory with default settings.
    pub fn new() -> Inventory {
        Inventory::default()
    }

    /// The entry holding `number`, in any state.
    pub fn entry(&self, number: &E164) -> Option<&Entry> {
        for exp in 0..=block::MAX_BLOCK_EXP {
            let Some(b) = NumberBlock::around(number, exp) else {
                break;
            };
            if let Some(&i) = self.index[usize::from(exp)].get(&b.first()) {
                return Some(&self.entries[i as usize]);
            }
        }
        None
    }

    /// Inbound routing: where calls to `number` go, when it is in service
    /// (`assigned`, or `porting_out` of an assigned number until the port
    /// completes).
    pub fn route(&self, number: &E164) -> Option<Route<'_>> {
        let e = self.entry(number)?;
        let in_service = e.state == NumberState::Assigned
            || (e.state == NumberState::PortingOut && e.until.is_none());
        if !in_service {
            return None;
        }
        Some(Route {
            customer: e.customer.as_deref()?,
            trunk: e.trunk.as_deref()?,
            site: e.site.as_deref()?,
            block: e.block,
            state: e.state,
        })
    }

    /// The holder of `number`: `reserved`, `assigned`, `porting_in` and
    /// `porting_out` numbers (not quarantined, available or released ones).
    pub fn holder(&self, number: &E164) -> Option<Holder<'_>> {
        let e = self.entry(number)?;
        let held = matches!(
            e.state,
            NumberState::Reserved
                | NumberState::Assigned
                | NumberState::PortingIn
                | NumberState::PortingOut
        );
        if !held {
            return None;
        }
        Some(Holder {
            customer: e.customer.as_deref()?,
            trunk: e.trunk.as_deref(),
            site: e.site.as_deref(),
            block: e.block,
            state: e.state,
        })
    }

    /// Caller-ID check: true when `number` is the customer's to present:
    /// `assigned`, `porting_in`, or `porting_out` while still in service.
    pub fn belongs_to(&self, number: &E164, customer: &str) -> bool {
        self.entry(number).is_some_and(|e| {
            let usable = match e.state {
                NumberState::Assigned | NumberState::PortingIn => true,
                NumberState::PortingOut => e.until.is_none(),
                _ => false,
            };
            usable && e.customer.as_deref() == Some(customer)
        })
    }

    /// Every entry, sorted by number.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// How many rows (numbers and blocks) the inventory has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the inventory has no row.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries a customer holds or held (its numbers in every state).
    pub fn entries_of<'a>(&'a self, customer: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.customer.as_deref() == Some(customer))
    }

    /// The numbering policy.
    pub fn settings(&self) -> &NumberSettings {
        &self.settings
    }

    /// Every port request, in creation order.
    pub fn requests(&self) -> &[PortRequest] {
        &self.requests
    }

    /// The port request with this id.
    pub fn request(&self, id: &str) -> Option<&PortRequest> {
        self.requests.iter().find(|r| r.id == id)
    }

    /// Journal rows of the changes made since loading, not saved yet.
    pub fn pending(&self) -> &[JournalRecord] {
        &self.pending
    }

    /// Sorts the entries and rebuilds the lookup index.
    fn reindex(&mut self) {
        self.entries.sort_by_key(|e| e.block);
        for map in &mut self.index {
            map.clear();
        }
        for (i, e) in self.entries.iter().enumerate() {
            self.index[usize::from(e.block.exp())].insert(e.block.first(), i as u32);
        }
    }

    /// The index of the entry holding all of `block` (equal or larger).
    fn covering(&self, block: &NumberBlock) -> Option<usize> {
        for exp in block.exp()..=block::MAX_BLOCK_EXP {
            let Some(b) = NumberBlock::around(&block.first(), exp) else {
                break;
            };
            if let Some(&i) = self.index[usize::from(exp)].get(&b.first()) {
                return Some(i as usize);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Inventory>();
    }
}
