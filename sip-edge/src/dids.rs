//! Inbound number lookup: which trunk (and site) receives a call to a DID.
//!
//! The edge reads DIDs through the [`DidDirectory`] trait. In production it is
//! [`InventoryDids`]: the number inventory of the `number-portability` crate
//! (`<provisioning>/numbers/`, loaded with the provisioning at start and on SIGHUP),
//! in front of which the configuration's `[inbound_numbers]` table ([`StaticDids`])
//! is consulted first, for numbers an operator routes by hand (tests, migrations).
//! Only numbers in service have a route (`assigned`, and `porting_out` until the
//! port completes); any other number gets 404.

use crate::config::InboundNumber;
use std::collections::BTreeMap;

/// Where calls to a number go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DidRoute {
    /// Trunk id from provisioning.
    pub trunk_id: String,
    /// Site id inside the trunk, when the number belongs to a site.
    pub site_id: Option<String>,
}

/// Looks up the holder of a called number.
pub trait DidDirectory: Send + Sync {
    /// The trunk and site holding `number` (E.164 as `number_portability` writes it,
    /// or a short code); `None` when the provider does not route it to a customer.
    fn lookup(&self, number: &str) -> Option<DidRoute>;
}

/// A fixed table of numbers (the configuration's `[inbound_numbers]`).
#[derive(Clone, Debug, Default)]
pub struct StaticDids {
    numbers: BTreeMap<String, InboundNumber>,
}

impl StaticDids {
    /// A directory over `numbers` (keys already normalised).
    pub fn new(numbers: BTreeMap<String, InboundNumber>) -> Self {
        StaticDids { numbers }
    }
}

impl DidDirectory for StaticDids {
    fn lookup(&self, number: &str) -> Option<DidRoute> {
        self.numbers.get(number).map(|n| DidRoute {
            trunk_id: n.trunk.clone(),
            site_id: n.site.clone(),
        })
    }
}

/// The number inventory, with the configuration's table consulted first.
pub struct InventoryDids {
    overrides: StaticDids,
    inventory: number_portability::inventory::Inventory,
}

impl InventoryDids {
    /// A directory over `inventory` with `overrides` taking precedence.
    pub fn new(overrides: StaticDids, inventory: number_portability::inventory::Inventory) -> Self {
        InventoryDids {
            overrides,
            inventory,
        }
    }
}

impl DidDirectory for InventoryDids {
    fn lookup(&self, number: &str) -> Option<DidRoute> {
        if let Some(route) = self.overrides.lookup(number) {
            return Some(route);
        }
        let e164 = number_portability::E164::parse(number).ok()?;
        self.inventory.route(&e164).map(|r| DidRoute {
            trunk_id: r.trunk.to_string(),
            site_id: Some(r.site.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_table_lookup() {
        let mut numbers = BTreeMap::new();
        numbers.insert(
            "+33140000001".to_string(),
            InboundNumber {
                trunk: "acme".into(),
                site: Some("paris".into()),
            },
        );
        let dids = StaticDids::new(numbers);
        assert_eq!(
            dids.lookup("+33140000001"),
            Some(DidRoute {
                trunk_id: "acme".into(),
                site_id: Some("paris".into())
            })
        );
        assert_eq!(dids.lookup("+33140000002"), None);
    }

    #[test]
    fn inventory_of_the_sample_provisioning() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
        let provisioning = provisioning::Provisioning::load(&dir).unwrap();
        let inventory =
            number_portability::inventory::Inventory::load_with(&dir, &provisioning).unwrap();
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "+33145233000".to_string(),
            InboundNumber {
                trunk: "contoso-teams".into(),
                site: None,
            },
        );
        let dids = InventoryDids::new(StaticDids::new(overrides), inventory);
        // A number of an assigned SDA block.
        assert_eq!(
            dids.lookup("+33145233142"),
            Some(DidRoute {
                trunk_id: "acme-multisite".into(),
                site_id: Some("paris-hq".into())
            })
        );
        // The configuration's table wins.
        assert_eq!(
            dids.lookup("+33145233000").unwrap().trunk_id,
            "contoso-teams"
        );
        // Released numbers and short codes have no route.
        assert_eq!(dids.lookup("+33145233050"), None);
        assert_eq!(dids.lookup("112"), None);
    }
}
