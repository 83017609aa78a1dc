//! Phone numbers: what a number is and who holds it.
//!
//! This crate owns E.164 parsing and normalisation, the French numbering plan and
//! international prefixes (classification), ARCEP numbering data, the number
//! inventory and porting. It knows nothing about SIP or billing; every other
//! component asks it about numbers.
//!
//! - [`parse`] turns what SIP messages and call-record exports contain (`0123456789`,
//!   `+33 1 23 45 67 89`, `tel:`/`sip:` URIs, `112`...) into a [`Number`]: an [`E164`]
//!   or a national [`ShortCode`].
//! - [`classify`] tells what it is: a [`Classification`] with country, calling code,
//!   [`Category`] (fixed geographic, mobile, 0800 free...), French [`Region`], overseas
//!   territory, emergency flag.
//! - [`arcep::ArcepData`] imports ARCEP's open data files and answers "which operator
//!   holds this number's block", "which territory", "which ZNE".
//! - [`inventory::Inventory`] is the number inventory, loaded from the provisioning
//!   directory (`numbers/`): **the SIP edge and rating use two lookups**,
//!   O(1) whatever the inventory size:
//!   - [`Inventory::route(&E164) -> Option<Route>`](inventory::Inventory::route):
//!     DID → customer, trunk, site for inbound routing (numbers of an SDA block of
//!     10/100/1000 included);
//!   - [`Inventory::belongs_to(&E164, customer) -> bool`](inventory::Inventory::belongs_to):
//!     "does this caller number belong to this customer" (caller-ID checks,
//!     shared-trunk detection).
//!
//!   Load it with [`Inventory::load(provisioning_dir)`](inventory::Inventory::load)
//!   at start and on reload.
//! - [`porting`]: port-in and port-out requests and their workflow; [`rio`]: RIO
//!   format and key; [`calendar`]: French working days for port dates;
//!   [`routing`]: which operator serves a (ported) number now.
//!
//! The tables behind both are data files (`data/*.csv`), embedded as defaults and
//! replaceable through [`NumberingPlan::builder`].
//!
//! ```
//! use number_portability::{classify, parse, Category, Region};
//!
//! let n = parse("01 23 45 67 89").unwrap();
//! assert_eq!(n.to_string(), "+33123456789");
//! let c = classify(&n);
//! assert_eq!(c.category, Category::FixedGeographic);
//! assert_eq!(c.region, Some(Region::IleDeFrance));
//!
//! let mayotte = parse("0639 12 34 56").unwrap();
//! assert_eq!(mayotte.to_string(), "+262639123456");
//! assert_eq!(classify(&mayotte).territory.unwrap().as_str(), "YT");
//!
//! let samu = parse("15").unwrap();
//! assert!(classify(&samu).is_emergency);
//!
//! let err = parse("0800 FLEURS").unwrap_err();
//! assert!(err.to_string().contains("letter 'F'"));
//! ```
//!
//! The inventory, as the edge uses it:
//!
//! ```
//! use number_portability::inventory::Inventory;
//! use number_portability::E164;
//!
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
//! let inventory = Inventory::load(&dir).unwrap_or_else(|errors| panic!("{errors}"));
//! let did = E164::parse("+33145233142").unwrap(); // in acme's SDA block of 100
//! let route = inventory.route(&did).unwrap();
//! assert_eq!((route.customer, route.trunk, route.site), ("acme", "acme-multisite", "paris-hq"));
//! assert!(inventory.belongs_to(&did, "acme"));
//! ```
#![deny(missing_docs)]

pub mod arcep;
pub mod calendar;
mod error;
pub mod inventory;
mod number;
mod parse;
mod plan;
pub mod porting;
pub mod rio;
pub mod routing;
mod trie;

use std::sync::OnceLock;

pub use error::{ParseError, ParseErrorKind, PlanError, TableProblem};
pub use number::{Number, ShortCode, E164, MAX_E164_DIGITS, MAX_SHORT_CODE_DIGITS};
pub use plan::category::{Category, Classification, CountryId, Region};
pub use plan::{
    NumberingPlan, NumberingPlanBuilder, DEFAULT_COUNTRIES, DEFAULT_OVERSEAS, DEFAULT_PREFIXES,
    DEFAULT_SHORT_CODES, TABLE_FILES,
};

/// The built-in numbering plan with France as default country, loaded once.
pub fn default_plan() -> &'static NumberingPlan {
    static PLAN: OnceLock<NumberingPlan> = OnceLock::new();
    PLAN.get_or_init(|| {
        // The embedded tables are checked by this crate's tests; failing here is a
        // build defect, not an input error.
        NumberingPlan::builder()
            .build()
            .expect("the built-in numbering plan tables are valid")
    })
}

/// Parses a number with the built-in plan (default country France).
///
/// # Errors
///
/// [`ParseError`] naming the input and why it is not a number.
pub fn parse(input: &str) -> Result<Number, ParseError> {
    default_plan().parse(input)
}

/// Classifies a number with the built-in plan.
pub fn classify(number: &Number) -> Classification {
    default_plan().classify(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_is_shared() {
        assert!(std::ptr::eq(default_plan(), default_plan()));
    }

    #[test]
    fn free_functions_use_the_default_plan() {
        let n = parse("06 12 34 56 78").unwrap();
        assert_eq!(n.to_string(), "+33612345678");
        assert_eq!(classify(&n).category, Category::Mobile);
    }
}
