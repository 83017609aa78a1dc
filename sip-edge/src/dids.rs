//! Inbound number lookup: which trunk (and site) receives a call to a DID.
//!
//! The number inventory belongs to the `number-portability` crate (issue 3, part 4);
//! until its lookup lands, the edge reads DIDs through the [`DidDirectory`] trait and
//! ships one implementation, [`StaticDids`], over the `[inbound_numbers]` table of its
//! configuration. Wiring the inventory is one more implementation of the trait.

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
}
