//! What a number is: [`Category`], French [`Region`], [`CountryId`] and the
//! [`Classification`] the rating engine and the edge ask for.
//!
//! Categories are the ones plans and tariffs are written in (contract.md §3): a plan
//! says "fixed geographic and non-geographic numbers of the French plan", never a list
//! of numbers. Their snake_case names are the names used in the data tables and in the
//! CLI output.

use std::fmt;
use std::str::FromStr;

/// What kind of number a number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Category {
    /// A fixed line tied to a place (France: 01-05 and the overseas 0262, 0590...).
    FixedGeographic,
    /// France 09: fixed-line numbers not tied to a place (VoIP boxes); other
    /// countries' personal and corporate numbers.
    NonGeographic,
    /// A mobile phone (France: 06, 073-079 and the overseas 0639, 069x).
    Mobile,
    /// Machine-to-machine numbers (France: 14-digit 0700), not national mobiles.
    MachineToMachine,
    /// Free to the caller (France 0800-0805).
    SpecialFree,
    /// Service numbers priced like a geographic call (France 0806-0809).
    SpecialNormalPrice,
    /// Premium and shared-cost service numbers (France 081, 082, 089).
    SpecialPremium,
    /// Operator customer services, France 10XY.
    OperatorService,
    /// Other short numbers: France 3BPQ and 116XYZ.
    ShortNumber,
    /// Directory enquiries, France 118XYZ.
    Directory,
    /// Emergency numbers (ARCEP's list: 15 17 18 112 114 115 116000 116117 119 191 196
    /// 197): always routed, never refused for lack of a channel.
    Emergency,
    /// Carrier selection prefixes (France 16XY).
    CarrierSelection,
    /// The country's plan does not tell fixed from mobile (North America).
    FixedOrMobile,
    /// Global services without a country: satellite and international networks
    /// (+870, +881, +882, +883...).
    InternationalNetwork,
    /// A well-formed number in a range the plan does not assign.
    Unassigned,
    /// A number of a country whose plan is not described in the prefix table.
    Unknown,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 16] = [
        Category::FixedGeographic,
        Category::NonGeographic,
        Category::Mobile,
        Category::MachineToMachine,
        Category::SpecialFree,
        Category::SpecialNormalPrice,
        Category::SpecialPremium,
        Category::OperatorService,
        Category::ShortNumber,
        Category::Directory,
        Category::Emergency,
        Category::CarrierSelection,
        Category::FixedOrMobile,
        Category::InternationalNetwork,
        Category::Unassigned,
        Category::Unknown,
    ];

    /// The snake_case name used in data files and output: `fixed_geographic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::FixedGeographic => "fixed_geographic",
            Category::NonGeographic => "non_geographic",
            Category::Mobile => "mobile",
            Category::MachineToMachine => "machine_to_machine",
            Category::SpecialFree => "special_free",
            Category::SpecialNormalPrice => "special_normal_price",
            Category::SpecialPremium => "special_premium",
            Category::OperatorService => "operator_service",
            Category::ShortNumber => "short_number",
            Category::Directory => "directory",
            Category::Emergency => "emergency",
            Category::CarrierSelection => "carrier_selection",
            Category::FixedOrMobile => "fixed_or_mobile",
            Category::InternationalNetwork => "international_network",
            Category::Unassigned => "unassigned",
            Category::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Category, String> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown category {s:?}"))
    }
}

/// The five metropolitan French regions of geographic numbers (first digit 1-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Region {
    /// 01: Île-de-France.
    IleDeFrance,
    /// 02: north-west.
    NorthWest,
    /// 03: north-east.
    NorthEast,
    /// 04: south-east (and Corsica).
    SouthEast,
    /// 05: south-west.
    SouthWest,
}

impl Region {
    /// Every region, 01 to 05.
    pub const ALL: [Region; 5] = [
        Region::IleDeFrance,
        Region::NorthWest,
        Region::NorthEast,
        Region::SouthEast,
        Region::SouthWest,
    ];

    /// The snake_case name used in data files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::IleDeFrance => "ile_de_france",
            Region::NorthWest => "north_west",
            Region::NorthEast => "north_east",
            Region::SouthEast => "south_east",
            Region::SouthWest => "south_west",
        }
    }

    /// The zone digit Z of the national number 0Z: 1 to 5.
    pub fn zone_digit(self) -> u8 {
        match self {
            Region::IleDeFrance => 1,
            Region::NorthWest => 2,
            Region::NorthEast => 3,
            Region::SouthEast => 4,
            Region::SouthWest => 5,
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Region {
    type Err = String;
    fn from_str(s: &str) -> Result<Region, String> {
        Region::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown region {s:?}"))
    }
}

/// A country or territory: its ISO 3166-1 alpha-2 code (`FR`, `RE`, `YT`), or `001`,
/// the ITU region code of non-geographic calling codes (+800, +870, +882...).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryId {
    /// ASCII bytes, a zero byte after a 2-letter code.
    code: [u8; 3],
}

impl CountryId {
    /// Accepts two ASCII uppercase letters or three ASCII digits.
    pub fn new(code: &str) -> Option<CountryId> {
        let b = code.as_bytes();
        let ok = (b.len() == 2 && b.iter().all(u8::is_ascii_uppercase))
            || (b.len() == 3 && b.iter().all(u8::is_ascii_digit));
        if !ok {
            return None;
        }
        let mut out = [0u8; 3];
        out[..b.len()].copy_from_slice(b);
        Some(CountryId { code: out })
    }

    /// `FR`, `RE`, `001`.
    pub fn as_str(&self) -> &str {
        let len = if self.code[2] == 0 { 2 } else { 3 };
        std::str::from_utf8(&self.code[..len]).unwrap_or("")
    }
}

impl fmt::Display for CountryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryId({})", self.as_str())
    }
}

/// Everything plans, rating and routing need to know about a number's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Classification {
    /// Country or territory of the number by longest E.164 prefix (`FR`, `RE`, `YT`,
    /// `CA`...); for a short code, the country of the plan it was dialled in.
    pub country: CountryId,
    /// The E.164 calling code (33, 262, 1...).
    pub calling_code: u16,
    /// The category plans and tariffs are written in.
    pub category: Category,
    /// For metropolitan French geographic numbers: the 01-05 region.
    pub region: Option<Region>,
    /// For numbers of the home plan's overseas territories: the territory (`RE`, `YT`,
    /// `GP`, `GF`, `MQ`, `PM`).
    pub territory: Option<CountryId>,
    /// The number is an emergency number (category [`Category::Emergency`]).
    pub is_emergency: bool,
    /// The number belongs to an overseas territory of the home numbering plan.
    pub is_overseas: bool,
    /// The number belongs to the home numbering plan (France: metropolitan and the
    /// overseas territories dialled with a 0), i.e. it is a national destination.
    pub is_national: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
        }
        assert!("premium"
            .parse::<Category>()
            .unwrap_err()
            .contains("\"premium\""));
    }

    #[test]
    fn region_names_and_zone_digits() {
        for (i, r) in Region::ALL.into_iter().enumerate() {
            assert_eq!(r.as_str().parse::<Region>(), Ok(r));
            assert_eq!(usize::from(r.zone_digit()), i + 1);
        }
    }

    #[test]
    fn country_ids() {
        assert_eq!(CountryId::new("FR").unwrap().as_str(), "FR");
        assert_eq!(CountryId::new("001").unwrap().as_str(), "001");
        assert!(CountryId::new("fr").is_none());
        assert!(CountryId::new("FRA").is_none());
        assert!(CountryId::new("01").is_none());
    }
}
