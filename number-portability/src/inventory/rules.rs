//! Where a number may be used: references to the provisioning, the kind of
//! number, the overseas territory and ZNE rules, the provider's ARCEP blocks.
//!
//! - **References**: the customer exists (`customers.toml`), the trunk exists and
//!   is that customer's, the site is one of the trunk's. A trunk with one site
//!   needs no site name.
//! - **Kind**: only numbers of the French plan a subscriber can hold: fixed
//!   geographic, 09, mobile, machine-to-machine and 08 service numbers.
//! - **Territory** (always, contract.md §2): an overseas geographic number (0262,
//!   0590, 0594, 0596, 0269, 0508...) only on a site of its territory, placed by
//!   the INSEE code of the site's commune (971 Guadeloupe, 972 Martinique, 973
//!   Guyane, 974 La Réunion, 975 Saint-Pierre-et-Miquelon, 976 Mayotte; 977
//!   Saint-Barthélemy and 978 Saint-Martin share +590 with Guadeloupe). A
//!   metropolitan geographic number (01-05) only on a metropolitan site: ARCEP
//!   decision 2019-0954 freed them from their ZNE inside metropolitan France only.
//! - **ZNE** (needs ARCEP's ZNE file): number → ZABPQ (national digits 2-6) → ZNE →
//!   communes; the site's commune must be one of them. Always for overseas
//!   geographic numbers, for metropolitan ones only when `metropolitan_zne_check`
//!   is on. Paris, Lyon and Marseille arrondissement codes count as their commune.
//! - **Own block** (needs ARCEP's MAJNUM): a number added to the stock lies in a
//!   block whose holder is one of `operator_mnemonics`.

use provisioning::{Provisioning, Site};

use super::block::NumberBlock;
use super::error::InventoryErrorKind as K;
use super::settings::NumberSettings;
use crate::arcep::ArcepData;
use crate::{Category, Classification};

/// The checks, with what they need.
pub(crate) struct Rules<'a> {
    pub(crate) provisioning: &'a Provisioning,
    pub(crate) arcep: Option<&'a ArcepData>,
    pub(crate) settings: &'a NumberSettings,
}

/// A customer, trunk and site, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) customer: String,
    pub(crate) trunk: Option<String>,
    pub(crate) site: Option<String>,
}

impl<'a> Rules<'a> {
    /// Checks the references; fills in the site of a one-site trunk. With
    /// `need_site`, a trunk and site are required. The error names the field at
    /// fault (`customer`, `trunk` or `site`).
    pub(crate) fn place(
        &self,
        customer: &str,
        trunk: Option<&str>,
        site: Option<&str>,
        need_site: bool,
    ) -> Result<Place, (&'static str, K)> {
        let p = self.provisioning;
        if p.customer(customer).is_none() {
            let known: Vec<&str> = p.customers().iter().map(|c| c.id()).collect();
            return Err((
                "customer",
                K::Reference(format!(
                    "unknown customer {customer:?} (customers.toml has: {})",
                    known.join(", ")
                )),
            ));
        }
        let Some(trunk_id) = trunk else {
            if site.is_some() {
                return Err((
                    "site",
                    K::Reference("a site needs its trunk: give the trunk too".into()),
                ));
            }
            if need_site {
                let trunks: Vec<&str> = p.trunks_of(customer).map(|t| t.id()).collect();
                return Err((
                    "trunk",
                    K::Reference(format!(
                        "a trunk is required (customer {customer:?} has: {})",
                        if trunks.is_empty() {
                            "no trunk".to_owned()
                        } else {
                            trunks.join(", ")
                        }
                    )),
                ));
            }
            return Ok(Place {
                customer: customer.to_owned(),
                trunk: None,
                site: None,
            });
        };
        let Some(t) = p.trunk(trunk_id) else {
            return Err((
                "trunk",
                K::Reference(format!("unknown trunk {trunk_id:?} (trunks.toml)")),
            ));
        };
        if t.customer_id() != customer {
            return Err((
                "trunk",
                K::Reference(format!(
                    "trunk {trunk_id:?} belongs to customer {:?}, not {customer:?}",
                    t.customer_id()
                )),
            ));
        }
        let sites: Vec<&str> = t.sites().iter().map(|s| s.id()).collect();
        let site = match site {
            Some(s) if t.site(s).is_some() => Some(s.to_owned()),
            Some(s) => {
                return Err((
                    "site",
                    K::Reference(format!(
                        "trunk {trunk_id:?} has no site {s:?} (its sites: {})",
                        sites.join(", ")
                    )),
                ))
            }
            None if sites.len() == 1 => Some(sites[0].to_owned()),
            None if need_site => {
                return Err((
                    "site",
                    K::Reference(format!(
                        "trunk {trunk_id:?} has several sites ({}): give the site",
                        sites.join(", ")
                    )),
                ))
            }
            None => None,
        };
        Ok(Place {
            customer: customer.to_owned(),
            trunk: Some(trunk_id.to_owned()),
            site,
        })
    }

    /// The provisioning site of a place.
    pub(crate) fn site_of(&self, trunk: Option<&str>, site: Option<&str>) -> Option<&'a Site> {
        self.provisioning.trunk(trunk?)?.site(site?)
    }

    /// Territory, and ZNE when ARCEP data allows, of a block used at a site.
    pub(crate) fn check_site(
        &self,
        block: &NumberBlock,
        site: &Site,
        with_zne: bool,
    ) -> Result<(), K> {
        check_territory(block, site)?;
        if with_zne {
            self.check_zne(block, site)?;
        }
        Ok(())
    }

    fn check_zne(&self, block: &NumberBlock, site: &Site) -> Result<(), K> {
        let first = block.first();
        let c = crate::classify(&first.into());
        if c.category != Category::FixedGeographic {
            return Ok(());
        }
        let overseas = c.territory.is_some();
        if !overseas && !self.settings.metropolitan_zne_check {
            return Ok(());
        }
        let zne_rows = self.arcep.map_or(0, |a| a.counts().4);
        let Some(arcep) = self.arcep.filter(|_| zne_rows > 0) else {
            if overseas {
                // Without ARCEP's ZNE file the territory check is all that can be done.
                return Ok(());
            }
            return Err(K::Zne(
                "metropolitan_zne_check is on in numbers/settings.toml but no ARCEP ZNE file was given (--arcep DIR or arcep_dir)"
                    .into(),
            ));
        };
        let national = crate::default_plan()
            .to_national(&first)
            .unwrap_or_default();
        let zabpq = national.get(1..6).unwrap_or("");
        let Some(zne) = arcep.zne_of(&first) else {
            return Err(K::Zne(format!(
                "ZABPQ {zabpq} is not in the ARCEP ZNE file: the site's commune cannot be checked"
            )));
        };
        let insee = commune_of(site.insee_code());
        let inside = commune_of(&zne.code) == insee
            || zne.communes.iter().any(|c| commune_of(&c.insee) == insee);
        if inside {
            return Ok(());
        }
        let communes: Vec<&str> = zne.communes.iter().map(|c| c.insee.as_str()).collect();
        Err(K::Zne(format!(
            "site {:?} (commune {}) is outside ZNE {} {} of ZABPQ {zabpq} (communes: {}); a geographic number is used in its ZNE{}",
            site.id(),
            site.insee_code(),
            zne.code,
            zne.name,
            communes.join(" "),
            if overseas { " overseas" } else { " under metropolitan_zne_check" }
        )))
    }
}

/// The block lies in a MAJNUM block held by the provider (when MAJNUM data is
/// given).
pub(crate) fn check_own_block(
    arcep: Option<&ArcepData>,
    settings: &NumberSettings,
    block: &NumberBlock,
) -> Result<(), K> {
    let Some(arcep) = arcep.filter(|a| a.counts().0 > 0) else {
        return Ok(());
    };
    if settings.operator_mnemonics.is_empty() {
        return Err(K::Invalid(
            "operator_mnemonics is empty in numbers/settings.toml: the provider's ARCEP blocks cannot be told"
                .into(),
        ));
    }
    for n in [block.first(), block.last()] {
        match arcep.operator_of(&n) {
            Some(op) if settings.is_ours(op) => {}
            holder => {
                return Err(K::NotOurBlock {
                    holder: holder.map(str::to_owned),
                })
            }
        }
    }
    Ok(())
}

/// The kind of number may be held by a customer.
pub(crate) fn check_category(block: &NumberBlock) -> Result<Classification, K> {
    let c = crate::classify(&block.first().into());
    let last = crate::classify(&block.last().into());
    let allowed = matches!(
        c.category,
        Category::FixedGeographic
            | Category::NonGeographic
            | Category::Mobile
            | Category::MachineToMachine
            | Category::SpecialFree
            | Category::SpecialNormalPrice
            | Category::SpecialPremium
    );
    if !c.is_national {
        return Err(K::Category(format!(
            "a number of {} ({}), not of the French plan: it cannot be held here",
            c.country, c.category
        )));
    }
    if !allowed {
        return Err(K::Category(format!(
            "a {} number cannot be held by a subscriber",
            c.category
        )));
    }
    if last.category != c.category || last.territory != c.territory {
        return Err(K::Category(format!(
            "the block mixes kinds of numbers ({} and {})",
            c.category, last.category
        )));
    }
    Ok(c)
}

/// The numbering territory (`RE`, `GP`...) of a site's commune; `None` for
/// metropolitan France.
pub fn territory_of_insee(insee: &str) -> Option<&'static str> {
    match insee.get(..3)? {
        "971" | "977" | "978" => Some("GP"),
        "972" => Some("MQ"),
        "973" => Some("GF"),
        "974" => Some("RE"),
        "975" => Some("PM"),
        "976" => Some("YT"),
        _ => None,
    }
}

fn check_territory(block: &NumberBlock, site: &Site) -> Result<(), K> {
    let first = block.first();
    let c = crate::classify(&first.into());
    if c.category != Category::FixedGeographic {
        return Ok(());
    }
    let site_territory = territory_of_insee(site.insee_code());
    match (c.territory, site_territory) {
        (Some(t), Some(s)) if t.as_str() == s => Ok(()),
        (Some(t), _) => Err(K::Territory(format!(
            "a geographic number of {} ({t}): it can only be used on a site in {t}, and site {:?} is in commune {} ({})",
            crate::default_plan().country_name(t).unwrap_or(t.as_str()),
            site.id(),
            site.insee_code(),
            site_territory.unwrap_or("metropolitan France")
        ))),
        (None, Some(s)) => Err(K::Territory(format!(
            "a metropolitan geographic number cannot be used on site {:?} in commune {} ({s}): since ARCEP decision 2019-0954 01-05 numbers are free of their ZNE in metropolitan France only",
            site.id(),
            site.insee_code()
        ))),
        (None, None) => Ok(()),
    }
}

/// The commune of an INSEE code: arrondissements of Paris (751xx), Lyon (6938x)
/// and Marseille (132xx) count as the city.
fn commune_of(insee: &str) -> &str {
    match insee {
        c if c.starts_with("751") && c.len() == 5 => "75056",
        c if c.starts_with("6938") && c.len() == 5 => "69123",
        c if c.starts_with("132") && c.len() == 5 => "13055",
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territories_of_communes() {
        assert_eq!(territory_of_insee("97411"), Some("RE"));
        assert_eq!(territory_of_insee("97611"), Some("YT"));
        assert_eq!(territory_of_insee("97701"), Some("GP"));
        assert_eq!(territory_of_insee("75056"), None);
        assert_eq!(territory_of_insee("2A004"), None);
        assert_eq!(territory_of_insee(""), None);
        assert_eq!(commune_of("75102"), "75056");
        assert_eq!(commune_of("69383"), "69123");
        assert_eq!(commune_of("13201"), "13055");
        assert_eq!(commune_of("44109"), "44109");
    }

    #[test]
    fn kinds_of_numbers_a_customer_may_hold() {
        let ok = |s: &str| check_category(&NumberBlock::parse(s).unwrap());
        assert!(ok("+33145233100").is_ok());
        assert!(ok("+33970123456").is_ok());
        assert!(ok("+262262620000..+262262620999").is_ok());
        assert!(ok("+33800123456").is_ok());
        assert!(ok("+32470123456")
            .unwrap_err()
            .to_string()
            .contains("not of the French plan"));
        assert!(ok("+33401234567")
            .unwrap_err()
            .to_string()
            .contains("unassigned number cannot be held"));
    }
}
