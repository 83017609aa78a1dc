//! "Does this caller number belong to this customer": the shared-service evidence
//! of contract §3, answered by number-portability's number inventory (the
//! `numbers/` folder of the provisioning directory, its one source of truth).
//!
//! A number belongs to a customer when the inventory says the customer may
//! present it ([`Inventory::belongs_to`]: `assigned`, `porting_in`, or
//! `porting_out` while still in service). A customer without any such number has
//! no inventory yet and its callers are not checked (no flag on every call of a
//! customer whose numbers were never entered).
//!
//! The inventory read is the provisioning directory's current one, like every
//! other provisioning input: re-rating an old month uses the directory as it is
//! (its fingerprint is recorded with the run), not the journal's past states.

use std::collections::HashSet;
use std::path::Path;

use number_portability::inventory::{Inventory, NumberState};
use provisioning::{Provisioning, ProvisioningErrors};

/// The customers' numbers, as the caller check needs them.
#[derive(Debug, Default)]
pub struct CustomerNumbers {
    inventory: Inventory,
    /// Customers holding at least one number they may present.
    holders: HashSet<String>,
}

impl CustomerNumbers {
    /// Wraps a loaded inventory.
    pub fn new(inventory: Inventory) -> Self {
        let holders = inventory
            .entries()
            .iter()
            .filter(|e| {
                matches!(
                    e.state,
                    NumberState::Assigned | NumberState::PortingIn | NumberState::PortingOut
                )
            })
            .filter_map(|e| e.customer.clone())
            .collect();
        CustomerNumbers { inventory, holders }
    }

    /// Loads `<dir>/numbers/` (absent: no numbers) against the loaded
    /// provisioning of the same directory.
    ///
    /// # Errors
    /// Every problem of the inventory files, in the provisioning error format.
    pub fn load(dir: &Path, provisioning: &Provisioning) -> Result<Self, ProvisioningErrors> {
        Inventory::load_with(dir, provisioning).map(CustomerNumbers::new)
    }

    /// True when the customer has numbers to check its callers against.
    pub fn knows(&self, customer: &str) -> bool {
        self.holders.contains(customer)
    }

    /// True when `caller` (as recorded) is a number the customer may present.
    /// Text that is not a number, or a short code, is never the customer's.
    pub fn holds(&self, customer: &str, caller: &str) -> bool {
        number_portability::parse(caller)
            .ok()
            .and_then(|n| n.as_e164().map(|e| self.inventory.belongs_to(e, customer)))
            .unwrap_or(false)
    }

    /// The inventory.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CustomerNumbers {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
        let p = Provisioning::load(&dir).unwrap();
        CustomerNumbers::load(&dir, &p).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn callers_are_checked_against_the_sample_inventory() {
        let numbers = sample();
        assert!(numbers.knows("acme"));
        assert!(numbers.knows("contoso"));
        assert!(!numbers.knows("nobody"));
        // An SDA block, in E.164 and national format.
        assert!(numbers.holds("acme", "+33145233142"));
        assert!(numbers.holds("acme", "01 45 23 31 42"));
        assert!(!numbers.holds("contoso", "+33145233142"));
        // Porting in: the customer already presents it; quarantined and
        // ported-out numbers are no longer the customer's.
        assert!(numbers.holds("acme", "+33145231042"));
        assert!(!numbers.holds("acme", "+33145233200"));
        assert!(!numbers.holds("acme", "+33145233050"));
        // Not numbers, short codes.
        assert!(!numbers.holds("acme", "anonymous"));
        assert!(!numbers.holds("acme", ""));
        assert!(!numbers.holds("acme", "3949"));
    }

    #[test]
    fn only_numbers_a_customer_may_present_make_an_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
        for f in ["customers.toml", "trunks.toml"] {
            std::fs::copy(sample.join(f), dir.path().join(f)).unwrap();
        }
        std::fs::create_dir(dir.path().join("numbers")).unwrap();
        std::fs::write(
            dir.path().join("numbers/inventory.csv"),
            "number,state,origin,customer,trunk,site,since,until,request\n\
             +33145233200,quarantined,own,acme,acme-multisite,paris-hq,2026-10-05,2027-01-03,\n\
             +33155990000,assigned,own,contoso,contoso-teams,la-defense,2024-09-01,,\n",
        )
        .unwrap();
        let p = Provisioning::load(dir.path()).unwrap();
        let numbers = CustomerNumbers::load(dir.path(), &p).unwrap_or_else(|e| panic!("{e}"));
        assert!(!numbers.knows("acme"), "a quarantined number only");
        assert!(numbers.knows("contoso"));
        // A broken inventory is an input error naming the file and line.
        std::fs::write(
            dir.path().join("numbers/inventory.csv"),
            "number,state,origin,customer,trunk,site,since,until,request\n\
             +33155990000,assigned,own,nobody,contoso-teams,la-defense,2024-09-01,,\n",
        )
        .unwrap();
        let errors = CustomerNumbers::load(dir.path(), &p)
            .unwrap_err()
            .to_string();
        assert!(errors.contains("numbers/inventory.csv:2"), "{errors}");
        assert!(errors.contains("nobody"), "{errors}");
    }
}
