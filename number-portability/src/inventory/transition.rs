//! Changing the inventory: `add`, `reserve`, `assign`, `release`, `return`.
//!
//! Every change names its actor, time, effective date and reason ([`Change`]) and
//! leaves one journal row per number or block it changed. A change over several
//! numbers is checked whole on a copy and applied only when every number passes;
//! otherwise every refusal is returned ([`InventoryErrors`]) and nothing changes.
//!
//! | action | from | to |
//! |---|---|---|
//! | `add` | not in the inventory, `released` | `available` |
//! | `reserve` | `available`, `reserved` (same customer), `quarantined` (same customer, or quarantine over) | `reserved` |
//! | `assign` | `available`, `reserved` (same customer), `assigned` (same customer: moves it), `quarantined` (same customer, or quarantine over) | `assigned` |
//! | `release` | `assigned` | `quarantined` until date + `quarantine_days` |
//! | `release` | `reserved` | `available` |
//! | `return` | `available`, `quarantined` after its quarantine (and 40-day port window) | `released` |
//!
//! Acting on part of a block (one number of an SDA block of 100) cuts the block
//! into aligned pieces that keep its state; pieces that end up alike are stored as
//! one block.

use chrono::{DateTime, Days, NaiveDate, Utc};
use provisioning::Provisioning;

use super::block::NumberBlock;
use super::entry::{Entry, NumberState, Origin};
use super::error::{InventoryError, InventoryErrorKind as K, InventoryErrors};
use super::journal::JournalRecord;
use super::rules::{check_category, check_own_block, Place, Rules};
use super::Inventory;
use crate::arcep::ArcepData;

/// Who makes a change, when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The person or system making it (journal `actor`).
    pub actor: String,
    /// When it is recorded.
    pub time: DateTime<Utc>,
    /// The Paris date it takes effect (quarantines and port dates count from it).
    pub date: NaiveDate,
    /// Why (free text, may be empty).
    pub reason: String,
}

impl Change {
    /// A change recorded now, effective today (Paris).
    pub fn now(actor: &str, reason: &str) -> Change {
        let time = Utc::now();
        Change {
            actor: actor.to_owned(),
            time,
            date: provisioning::paris_date(time),
            reason: reason.to_owned(),
        }
    }

    /// A change recorded at `time`, effective on `date`.
    pub fn at(actor: &str, time: DateTime<Utc>, date: NaiveDate, reason: &str) -> Change {
        Change {
            actor: actor.to_owned(),
            time,
            date,
            reason: reason.to_owned(),
        }
    }
}

/// The customer, and optionally trunk and site, a number is reserved or assigned
/// to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignee {
    /// Customer id.
    pub customer: String,
    /// Trunk id; required to assign.
    pub trunk: Option<String>,
    /// Site id; may be omitted for a trunk with one site.
    pub site: Option<String>,
}

impl Assignee {
    /// Customer, trunk and site.
    pub fn new(customer: &str, trunk: Option<&str>, site: Option<&str>) -> Assignee {
        Assignee {
            customer: customer.to_owned(),
            trunk: trunk.map(str::to_owned),
            site: site.map(str::to_owned),
        }
    }

    fn label(&self) -> String {
        let mut s = format!("customer {:?}", self.customer);
        if let Some(t) = &self.trunk {
            s.push_str(&format!(", trunk {t:?}"));
        }
        if let Some(site) = &self.site {
            s.push_str(&format!(", site {site:?}"));
        }
        s
    }
}

/// What one command does to one target block, for the journal.
pub(crate) struct Step<'a> {
    pub(crate) action: &'a str,
    pub(crate) request: Option<&'a str>,
}

impl Inventory {
    /// The pieces of `target` and the entry holding each (`None`: not in the
    /// inventory): the one entry holding all of it, or the entries inside it plus
    /// the gaps between them.
    pub(crate) fn segments(&self, target: &NumberBlock) -> Vec<(NumberBlock, Option<usize>)> {
        if let Some(i) = self.covering(target) {
            return vec![(*target, Some(i))];
        }
        let inside: Vec<usize> = (0..self.entries.len())
            .filter(|&i| target.contains_block(&self.entries[i].block))
            .collect();
        let blocks: Vec<NumberBlock> = inside.iter().map(|&i| self.entries[i].block).collect();
        let mut out: Vec<(NumberBlock, Option<usize>)> = inside
            .iter()
            .map(|&i| (self.entries[i].block, Some(i)))
            .collect();
        out.extend(gaps(target, &blocks).into_iter().map(|b| (b, None)));
        out.sort_by_key(|(b, _)| *b);
        out
    }

    /// Applies `f` to every piece of every target: `f` gets the piece and its
    /// entry and returns the new entry (its block is set here) or `None` when the
    /// piece leaves the inventory. All or nothing: every refusal is returned.
    pub(crate) fn change_blocks<F>(
        &mut self,
        targets: &[NumberBlock],
        change: &Change,
        step: &Step<'_>,
        mut f: F,
    ) -> Result<(), InventoryErrors>
    where
        F: FnMut(&NumberBlock, Option<&Entry>) -> Result<Option<Entry>, K>,
    {
        let mut work = self.clone();
        let mut errors = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            if targets[..i].iter().any(|o| o.overlaps(target)) {
                errors.push(InventoryError::new(
                    target,
                    K::Invalid("given twice (or inside another number given)".into()),
                ));
                continue;
            }
            let segments = work.segments(target);
            let mut new = Vec::with_capacity(segments.len());
            let mut failed = false;
            for (block, idx) in &segments {
                match f(block, idx.map(|i| &work.entries[i])) {
                    Ok(entry) => new.push(entry.map(|e| e.with_block(*block))),
                    Err(kind) => {
                        errors.push(InventoryError::new(block, kind));
                        failed = true;
                    }
                }
            }
            if !failed {
                work.replace(target, &segments, new, change, step);
            }
        }
        if !errors.is_empty() {
            return Err(InventoryErrors::new(errors));
        }
        *self = work;
        Ok(())
    }

    /// Replaces the pieces of `target` by `new`, carving an entry that holds more
    /// than the target, merging pieces that end up alike, and journals it.
    fn replace(
        &mut self,
        target: &NumberBlock,
        segments: &[(NumberBlock, Option<usize>)],
        new: Vec<Option<Entry>>,
        change: &Change,
        step: &Step<'_>,
    ) {
        let mut from: Vec<&str> = Vec::new();
        let mut remove = Vec::new();
        let mut add = Vec::new();
        let mut old_holder = None;
        for (block, idx) in segments {
            let state = idx.map_or("", |i| self.entries[i].state.as_str());
            if !from.contains(&state) {
                from.push(state);
            }
            if let Some(i) = *idx {
                let old = &self.entries[i];
                old_holder.get_or_insert_with(|| holder_of(old));
                if old.block != *block {
                    add.extend(
                        old.block
                            .without(block)
                            .into_iter()
                            .map(|b| old.with_block(b)),
                    );
                }
                remove.push(i);
            }
        }
        let kept: Vec<Entry> = new.into_iter().flatten().collect();
        let alike = kept.len() == segments.len() && kept.windows(2).all(|w| w[0].same_data(&w[1]));
        let mut to: Vec<&str> = Vec::new();
        for e in &kept {
            if !to.contains(&e.state.as_str()) {
                to.push(e.state.as_str());
            }
        }
        let holder = kept
            .first()
            .map(holder_of)
            .or(old_holder)
            .unwrap_or_default();
        let request = step
            .request
            .map(str::to_owned)
            .or_else(|| kept.first().and_then(|e| e.request.clone()))
            .unwrap_or_default();
        self.pending.push(JournalRecord::new(
            change.time,
            &change.actor,
            step.action,
            &target.to_string(),
            &from.join("|"),
            &to.join("|"),
            change.date,
            [&holder[0], &holder[1], &holder[2]],
            &request,
            &change.reason,
        ));
        remove.sort_unstable();
        for i in remove.into_iter().rev() {
            self.entries.swap_remove(i);
        }
        if alike && !kept.is_empty() {
            add.push(kept[0].with_block(*target));
        } else {
            add.extend(kept);
        }
        self.entries.extend(add);
        self.reindex();
    }

    /// Puts numbers of the provider's blocks in the stock (`available`). With
    /// ARCEP data, every number must lie in a MAJNUM block of one of the
    /// provider's mnemonics.
    ///
    /// # Errors
    ///
    /// Every number refused: already in the inventory, not a number a subscriber
    /// can hold, not in the provider's blocks.
    pub fn add(
        &mut self,
        arcep: Option<&ArcepData>,
        change: &Change,
        targets: &[NumberBlock],
    ) -> Result<(), InventoryErrors> {
        let settings = self.settings.clone();
        let date = change.date;
        self.change_blocks(
            targets,
            change,
            &Step {
                action: "add",
                request: None,
            },
            |b, old| {
                check_category(b)?;
                check_own_block(arcep, &settings, b)?;
                match old {
                    None => Ok(Some(Entry::available(*b, date))),
                    Some(e) if e.state == NumberState::Released => {
                        Ok(Some(Entry::available(*b, date)))
                    }
                    Some(e) => Err(K::AlreadyInInventory { state: e.state }),
                }
            },
        )
    }

    /// Reserves numbers for a customer (trunk and site optional).
    ///
    /// # Errors
    ///
    /// Every number refused (see the module table), or the customer, trunk or
    /// site refused.
    pub fn reserve(
        &mut self,
        provisioning: &Provisioning,
        arcep: Option<&ArcepData>,
        change: &Change,
        targets: &[NumberBlock],
        to: &Assignee,
    ) -> Result<(), InventoryErrors> {
        self.hold(
            provisioning,
            arcep,
            change,
            targets,
            to,
            NumberState::Reserved,
        )
    }

    /// Assigns numbers to a customer, trunk and site: inbound calls to them go to
    /// that trunk from now on.
    ///
    /// # Errors
    ///
    /// Every number refused: not in the inventory, held by another customer (one
    /// customer at a time), quarantined, a port in progress, used out of its
    /// territory or ZNE; or the customer, trunk or site refused.
    pub fn assign(
        &mut self,
        provisioning: &Provisioning,
        arcep: Option<&ArcepData>,
        change: &Change,
        targets: &[NumberBlock],
        to: &Assignee,
    ) -> Result<(), InventoryErrors> {
        self.hold(
            provisioning,
            arcep,
            change,
            targets,
            to,
            NumberState::Assigned,
        )
    }

    fn hold(
        &mut self,
        provisioning: &Provisioning,
        arcep: Option<&ArcepData>,
        change: &Change,
        targets: &[NumberBlock],
        to: &Assignee,
        state: NumberState,
    ) -> Result<(), InventoryErrors> {
        let settings = self.settings.clone();
        let rules = Rules {
            provisioning,
            arcep,
            settings: &settings,
        };
        let need_site = state == NumberState::Assigned;
        let place = rules
            .place(
                &to.customer,
                to.trunk.as_deref(),
                to.site.as_deref(),
                need_site,
            )
            .map_err(|(_, k)| InventoryErrors::one(to.label(), k))?;
        let site = rules.site_of(place.trunk.as_deref(), place.site.as_deref());
        let action = if need_site { "assign" } else { "reserve" };
        let date = change.date;
        self.change_blocks(
            targets,
            change,
            &Step {
                action,
                request: None,
            },
            |b, old| {
                if let Some(site) = site {
                    rules.check_site(b, site, true)?;
                }
                let Some(old) = old else {
                    return Err(K::NotInInventory);
                };
                check_can_hold(old, &place, state, date)?;
                Ok(Some(Entry {
                    block: *b,
                    state,
                    origin: old.origin,
                    customer: Some(place.customer.clone()),
                    trunk: place.trunk.clone(),
                    site: place.site.clone(),
                    since: date,
                    until: None,
                    request: None,
                }))
            },
        )
    }

    /// Releases numbers: an assigned number is quarantined for `quarantine_days`
    /// (and may still be ported out for 40 days); a reserved one goes back to the
    /// stock. With `customer`, every number must be that customer's.
    ///
    /// # Errors
    ///
    /// Every number refused: not assigned or reserved (a port in progress, already
    /// released...), or another customer's.
    pub fn release(
        &mut self,
        change: &Change,
        targets: &[NumberBlock],
        customer: Option<&str>,
    ) -> Result<(), InventoryErrors> {
        let date = change.date;
        let until = date.checked_add_days(Days::new(u64::from(self.settings.quarantine_days)));
        self.change_blocks(
            targets,
            change,
            &Step {
                action: "release",
                request: None,
            },
            |b, old| {
                let Some(old) = old else {
                    return Err(K::NotInInventory);
                };
                if let (Some(c), Some(holder)) = (customer, old.customer.as_deref()) {
                    if c != holder
                        && matches!(old.state, NumberState::Assigned | NumberState::Reserved)
                    {
                        return Err(K::HeldByOther {
                            customer: holder.to_owned(),
                            state: old.state,
                        });
                    }
                }
                match old.state {
                    NumberState::Assigned => Ok(Some(Entry {
                        state: NumberState::Quarantined,
                        since: date,
                        until: Some(until.ok_or_else(|| K::Invalid("date out of range".into()))?),
                        request: None,
                        ..old.with_block(*b)
                    })),
                    NumberState::Reserved => Ok(Some(Entry {
                        origin: old.origin,
                        ..Entry::available(*b, date)
                    })),
                    state => Err(K::WrongState {
                        action: "release",
                        state,
                        expected: "assigned or reserved",
                    }),
                }
            },
        )
    }

    /// Takes numbers out of the provider's hands (`released`): stock numbers
    /// given up, and quarantined numbers once their quarantine is over (a
    /// ported-in number then returns to its block holder).
    ///
    /// # Errors
    ///
    /// Every number refused: not available or quarantined, still quarantined.
    pub fn give_back(
        &mut self,
        change: &Change,
        targets: &[NumberBlock],
    ) -> Result<(), InventoryErrors> {
        let date = change.date;
        self.change_blocks(
            targets,
            change,
            &Step {
                action: "return",
                request: None,
            },
            |b, old| {
                let Some(old) = old else {
                    return Err(K::NotInInventory);
                };
                match old.state {
                    NumberState::Available => Ok(Some(Entry {
                        state: NumberState::Released,
                        since: date,
                        ..old.with_block(*b)
                    })),
                    NumberState::Quarantined if old.quarantine_over(date) => Ok(Some(Entry {
                        state: NumberState::Released,
                        since: date,
                        until: None,
                        trunk: None,
                        site: None,
                        ..old.with_block(*b)
                    })),
                    NumberState::Quarantined => Err(K::Quarantined {
                        until: old.until.unwrap_or(date),
                        customer: old.customer_str().to_owned(),
                    }),
                    state => Err(K::WrongState {
                        action: "return",
                        state,
                        expected: "available, or quarantined with its quarantine over",
                    }),
                }
            },
        )
    }
}

impl Inventory {
    /// Checks every row against ARCEP data, as the commands do for a change: the
    /// provider's own numbers lie in its blocks (MAJNUM), numbers in service are
    /// used in their ZNE (overseas always, metropolitan under the policy), and the
    /// provider's RIO code is its own (MAJRIO). Load already checked the rest.
    pub fn check_with_arcep(
        &self,
        provisioning: &Provisioning,
        arcep: &ArcepData,
    ) -> Vec<InventoryError> {
        let rules = Rules {
            provisioning,
            arcep: Some(arcep),
            settings: &self.settings,
        };
        let mut errors = Vec::new();
        for e in &self.entries {
            if e.origin == Origin::Own && e.state != NumberState::Released {
                if let Err(k) = check_own_block(Some(arcep), &self.settings, &e.block) {
                    errors.push(InventoryError::new(e.block, k));
                }
            }
            let in_service = matches!(
                e.state,
                NumberState::Reserved | NumberState::Assigned | NumberState::PortingIn
            ) || (e.state == NumberState::PortingOut && e.until.is_none());
            if let Some(site) = rules.site_of(e.trunk.as_deref(), e.site.as_deref()) {
                if in_service {
                    if let Err(k) = rules.check_site(&e.block, site, true) {
                        errors.push(InventoryError::new(e.block, k));
                    }
                }
            }
        }
        if let Some(code) = &self.settings.rio_operator_code {
            if arcep.counts().3 > 0 {
                match arcep.rio_operator(code) {
                    Some(r) if self.settings.is_ours(&r.operator) => {}
                    Some(r) => errors.push(InventoryError::new(
                        "rio_operator_code",
                        K::RioOperator(format!(
                            "MAJRIO gives code {code} to {}, not to the provider ({})",
                            r.operator,
                            self.settings.operator_mnemonics.join(", ")
                        )),
                    )),
                    None => errors.push(InventoryError::new(
                        "rio_operator_code",
                        K::RioOperator(format!("code {code} is not in MAJRIO")),
                    )),
                }
            }
        }
        errors
    }
}

/// Whether `old` may become `state` for `place` on `date`.
fn check_can_hold(
    old: &Entry,
    place: &Place,
    state: NumberState,
    date: NaiveDate,
) -> Result<(), K> {
    let same_customer = old.customer.as_deref() == Some(place.customer.as_str());
    let other = || K::HeldByOther {
        customer: old.customer_str().to_owned(),
        state: old.state,
    };
    match old.state {
        NumberState::Available => Ok(()),
        NumberState::Released => Err(K::NotInInventory),
        NumberState::Reserved if same_customer => Ok(()),
        NumberState::Assigned if same_customer && state == NumberState::Assigned => {
            if old.trunk == place.trunk && old.site == place.site {
                Err(K::Invalid(format!(
                    "already assigned to customer {:?} on trunk {:?} site {:?}",
                    place.customer,
                    place.trunk.as_deref().unwrap_or(""),
                    place.site.as_deref().unwrap_or("")
                )))
            } else {
                Ok(())
            }
        }
        NumberState::Assigned if same_customer => Err(K::WrongState {
            action: "reserve",
            state: old.state,
            expected: "available",
        }),
        NumberState::Reserved | NumberState::Assigned => Err(other()),
        NumberState::PortingIn | NumberState::PortingOut => Err(K::PortInProgress {
            request: old.request.clone().unwrap_or_default(),
        }),
        NumberState::Quarantined if same_customer => Ok(()),
        NumberState::Quarantined if old.quarantine_over(date) => {
            if old.origin == Origin::Ported {
                Err(K::PortedNumberNotReusable)
            } else {
                Ok(())
            }
        }
        NumberState::Quarantined => Err(K::Quarantined {
            until: old.until.unwrap_or(date),
            customer: old.customer_str().to_owned(),
        }),
    }
}

/// Customer, trunk and site of an entry, empty when unset.
fn holder_of(e: &Entry) -> [String; 3] {
    [
        e.customer.clone().unwrap_or_default(),
        e.trunk.clone().unwrap_or_default(),
        e.site.clone().unwrap_or_default(),
    ]
}

/// The parts of `target` not covered by `inside` (blocks inside it).
fn gaps(target: &NumberBlock, inside: &[NumberBlock]) -> Vec<NumberBlock> {
    if !inside.iter().any(|b| target.overlaps(b)) {
        return vec![*target];
    }
    if inside.iter().any(|b| b.contains_block(target)) {
        return Vec::new();
    }
    target
        .children()
        .iter()
        .flat_map(|c| gaps(c, inside))
        .collect()
}
