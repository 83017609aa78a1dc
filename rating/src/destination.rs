//! What a call's destination is and whether the trunk's plan covers it.
//!
//! The destination is normalised and classified by `number-portability`; the plan
//! decides by number categories (contract §3: "plans are defined by number
//! categories, never by listing individual numbers"):
//! - emergency numbers are never billed and never counted;
//! - national numbers (the home plan, metropolitan and overseas) are in plan when
//!   their category is in the plan's `national_categories`, or is 0806-0809 and
//!   `special_normal_price_in_plan` is set; overseas numbers only when
//!   `overseas_in_plan` is set;
//! - numbers of another plan are in plan when they start with one of the order's
//!   international destinations and their category is in the plan's
//!   `international_categories`;
//! - anything else, including a destination that is not a number, is out of plan.
//!
//! Where the trunk is plays no part: contract.md §3 defines the plans by the
//! destination's number categories, and `overseas_in_plan` is a setting of the
//! plan, so a trunk with a site in Réunion calling Réunion numbers follows it like
//! a Paris trunk (numbers in national format are read the same from any site:
//! `0262…` is `+262262…`). The trunk's location matters to the number inventory
//! (an overseas number is only assigned on a site of its territory), not to
//! rating.

use number_portability::{Category, Classification, Number};

use crate::settings::PlanSettings;

/// A classified destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A number (no allocation: numbers are inline).
    Number(Number, Classification),
    /// Text that is not a number, as recorded, and why (boxed: rare, and it keeps
    /// a destination small, which millions of handed-over rows copy).
    Invalid(Box<Invalid>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Invalid {
    raw: String,
    error: String,
}

impl Destination {
    /// Normalises and classifies a recorded callee.
    pub fn classify(callee: &str) -> Destination {
        let kind = match number_portability::parse(callee) {
            Ok(number) => Kind::Number(number, number_portability::classify(&number)),
            Err(e) => Kind::Invalid(Box::new(Invalid {
                raw: callee.to_owned(),
                error: e.to_string(),
            })),
        };
        Destination { kind }
    }

    /// The normalised number (E.164 with `+`, or a national short code), or the
    /// text as recorded when it is not a number.
    pub fn number(&self) -> &str {
        match &self.kind {
            Kind::Number(n, _) => n.as_str(),
            Kind::Invalid(invalid) => &invalid.raw,
        }
    }

    /// The classification, when the text is a number.
    pub fn classification(&self) -> Option<Classification> {
        match &self.kind {
            Kind::Number(_, c) => Some(*c),
            Kind::Invalid(_) => None,
        }
    }

    /// Why the text is not a number.
    pub fn parse_error(&self) -> Option<&str> {
        match &self.kind {
            Kind::Number(..) => None,
            Kind::Invalid(invalid) => Some(&invalid.error),
        }
    }

    /// The category name for outputs (`fixed_geographic`, `not_a_number`...).
    pub fn category_name(&self) -> &'static str {
        match &self.kind {
            Kind::Number(_, c) => c.category.as_str(),
            Kind::Invalid(_) => "not_a_number",
        }
    }

    /// True for an emergency number.
    pub fn is_emergency(&self) -> bool {
        matches!(&self.kind, Kind::Number(_, c) if c.is_emergency)
    }

    /// The number packed in a `u64` (digits, with a flag bit for short codes), to
    /// count distinct numbers without keeping strings; `None` when not a number.
    pub fn packed(&self) -> Option<u64> {
        match &self.kind {
            Kind::Number(n, _) => pack_number(n.as_str()),
            Kind::Invalid(_) => None,
        }
    }
}

/// Classified numbers kept by their packed form ([`pack_number`]), so that the
/// destinations a month calls again and again (a few popular numbers make most of
/// the calls) are parsed once: a direct-mapped table of `SLOTS` entries, where a
/// number evicts the one before it in its slot. Text that does not pack (not a
/// number, separators) is classified each time.
pub struct DestinationCache {
    slots: Vec<Option<(u64, Number, Classification)>>,
}

impl DestinationCache {
    /// Entries: 64 Ki numbers (a few MiB).
    const SLOTS: usize = 1 << 16;

    /// An empty cache.
    pub fn new() -> Self {
        DestinationCache {
            slots: vec![None; Self::SLOTS],
        }
    }

    fn slot_of(packed: u64) -> usize {
        (packed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48) as usize % Self::SLOTS
    }

    /// The slot `callee` would be found in, if it packs.
    pub fn slot_index(callee: &[u8]) -> Option<usize> {
        pack_number_bytes(callee).map(Self::slot_of)
    }

    /// Reads the slots at `indexes` ([`slot_index`](Self::slot_index)), so that
    /// they are in the CPU cache by the time [`classify`](Self::classify) looks:
    /// the first stage gathers the slots of a chunk's rows first, then reads them
    /// in one tight loop, where the reads overlap instead of each waiting for
    /// memory in turn. Returns a count to feed to [`std::hint::black_box`].
    pub fn touch(&self, indexes: &[usize]) -> usize {
        indexes
            .iter()
            .filter(|&&i| self.slots.get(i).is_some_and(Option::is_some))
            .count()
    }

    /// [`Destination::classify`] of `callee`, from the cache when it holds it.
    pub fn classify(&mut self, callee: &str) -> Destination {
        let Some(packed) = pack_number(callee) else {
            return Destination::classify(callee);
        };
        let slot = Self::slot_of(packed);
        if let Some(Some((key, number, classification))) = self.slots.get(slot) {
            if *key == packed {
                return Destination {
                    kind: Kind::Number(*number, *classification),
                };
            }
        }
        let destination = Destination::classify(callee);
        if let (Kind::Number(number, classification), Some(entry)) =
            (&destination.kind, self.slots.get_mut(slot))
        {
            *entry = Some((packed, *number, *classification));
        }
        destination
    }
}

impl Default for DestinationCache {
    fn default() -> Self {
        Self::new()
    }
}

/// Packs an E.164 number (`+` and up to 15 digits) or a short code (up to 15
/// digits) in a `u64`: the digits as a number, times 2, plus 1 for short codes,
/// with a leading 1 digit so that leading zeros survive.
pub fn pack_number(number: &str) -> Option<u64> {
    pack_number_bytes(number.as_bytes())
}

/// [`pack_number`] of text as bytes (only ASCII digits and `+` pack).
pub fn pack_number_bytes(number: &[u8]) -> Option<u64> {
    let (digits, short) = match number.strip_prefix(b"+") {
        Some(d) => (d, 0),
        None => (number, 1),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut value: u64 = 1;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(b - b'0');
    }
    Some(value * 2 + short)
}

/// Unpacks [`pack_number`].
pub fn unpack_number(packed: u64) -> String {
    let short = packed % 2 == 1;
    let digits = (packed / 2).to_string();
    let digits = digits.get(1..).unwrap_or_default();
    if short {
        digits.to_owned()
    } else {
        format!("+{digits}")
    }
}

/// Whether the plan covers a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// An emergency number: never billed, never counted.
    Emergency,
    /// Covered by the plan.
    InPlan,
    /// Not covered: billed per minute; the reason says why.
    OutOfPlan(String),
}

impl Eligibility {
    /// True when covered by the plan.
    pub fn is_in_plan(&self) -> bool {
        matches!(self, Eligibility::InPlan)
    }
}

/// Decides whether `plan` covers `destination`, given the order's international
/// destinations (E.164 prefixes such as `+32`).
pub fn eligibility(
    destination: &Destination,
    plan: &PlanSettings,
    international_destinations: &[String],
) -> Eligibility {
    let Some(c) = destination.classification() else {
        return Eligibility::OutOfPlan(format!(
            "not a number: {}",
            destination.parse_error().unwrap_or("unreadable")
        ));
    };
    if c.is_emergency {
        return Eligibility::Emergency;
    }
    if c.is_national {
        if c.is_overseas && !plan.overseas_in_plan {
            return Eligibility::OutOfPlan(format!(
                "overseas number ({}) outside the plan",
                c.country
            ));
        }
        let covered = plan.national_categories.contains(&c.category)
            || (c.category == Category::SpecialNormalPrice && plan.special_normal_price_in_plan);
        return if covered {
            Eligibility::InPlan
        } else {
            Eligibility::OutOfPlan(format!("{} numbers are not in the plan", c.category))
        };
    }
    let ordered = international_destinations
        .iter()
        .any(|prefix| destination.number().starts_with(prefix.as_str()));
    if !ordered {
        return Eligibility::OutOfPlan(format!(
            "international destination {} is not on the order",
            c.country
        ));
    }
    if plan.international_categories.contains(&c.category) {
        Eligibility::InPlan
    } else {
        Eligibility::OutOfPlan(format!(
            "{} numbers of {} are not in the plan",
            c.category, c.country
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisioning::Plan;

    fn plan(p: Plan) -> PlanSettings {
        PlanSettings::contract_default(p, Default::default())
    }

    fn in_plan(number: &str, settings: &PlanSettings, intl: &[&str]) -> bool {
        let intl: Vec<String> = intl.iter().map(|s| s.to_string()).collect();
        eligibility(&Destination::classify(number), settings, &intl).is_in_plan()
    }

    #[test]
    fn touching_finds_the_slots_classify_fills() {
        let mut cache = DestinationCache::new();
        let slot = DestinationCache::slot_index(b"+33612345678").unwrap();
        assert_eq!(cache.touch(&[slot]), 0);
        cache.classify("+33612345678");
        assert_eq!(cache.touch(&[slot]), 1);
        assert_eq!(DestinationCache::slot_index(b"06 12"), None);
        assert_eq!(
            pack_number_bytes(b"+33612345678"),
            pack_number("+33612345678")
        );
    }

    #[test]
    fn the_cache_classifies_like_a_fresh_parse() {
        let mut cache = DestinationCache::new();
        let mut numbers: Vec<String> = (0..200_000u64)
            .map(|n| format!("+336{:08}", n * 7919 % 100_000_000))
            .collect();
        numbers.extend(
            [
                "+33612345678",
                "+33612345678",
                "0612345678",
                "112",
                "3949",
                "+3301234",
                "+330612345678",
                "+262262123456",
                "+442079460000",
                "anonymous",
                "",
                "+",
                "+0033612345678",
            ]
            .map(String::from),
        );
        // Twice: the second pass reads what the first one left in the cache.
        for _ in 0..2 {
            for number in &numbers {
                assert_eq!(
                    cache.classify(number),
                    Destination::classify(number),
                    "{number}"
                );
            }
        }
    }

    #[test]
    fn fixed_plan_covers_01_to_05_and_09_only() {
        let fixed = plan(Plan::Fixed);
        for n in [
            "+33140000000",
            "+33240000000",
            "+33540000000",
            "+33912345678",
            "0140000000",
        ] {
            assert!(in_plan(n, &fixed, &[]), "{n}");
        }
        for n in [
            "+33612345678",
            "+33756123456",
            "+33810123456",
            "+33800123456",
            "3949",
            "118712",
            "+3221234567",
        ] {
            assert!(!in_plan(n, &fixed, &[]), "{n}");
        }
    }

    #[test]
    fn fixed_mobile_intl_adds_mobiles_and_ordered_destinations() {
        let fmi = plan(Plan::FixedMobileIntl);
        assert!(in_plan("+33612345678", &fmi, &[]));
        assert!(in_plan("+33756123456", &fmi, &[]));
        assert!(in_plan("+3221234567", &fmi, &["+32"]));
        assert!(in_plan("+32470123456", &fmi, &["+32"]));
        assert!(!in_plan("+3221234567", &fmi, &["+41"]));
        assert!(!in_plan("+4420123456", &fmi, &["+32"]));
    }

    #[test]
    fn m2m_0700_is_not_a_mobile() {
        let fmi = plan(Plan::FixedMobileIntl);
        assert!(!in_plan("+337001234567890", &fmi, &[]));
        assert!(in_plan("+33756123456", &fmi, &[]));
    }

    #[test]
    fn overseas_numbers_follow_the_setting() {
        let mut fixed = plan(Plan::Fixed);
        let overseas_fixed = [
            "+262262123456",
            "+590590123456",
            "+594594123456",
            "+596596123456",
            "+508411234",
            "+590590871234", // Saint-Martin, +590
        ];
        for n in overseas_fixed {
            assert!(in_plan(n, &fixed, &[]), "{n} in plan by default");
        }
        // An overseas mobile is a mobile: not in the fixed plan either way.
        assert!(!in_plan("+262692123456", &fixed, &[]));
        fixed.overseas_in_plan = false;
        for n in overseas_fixed {
            assert!(
                !in_plan(n, &fixed, &[]),
                "{n} out of plan with the setting off"
            );
        }
        assert!(in_plan("+33140000000", &fixed, &[]));
        let mut fmi = plan(Plan::FixedMobileIntl);
        assert!(in_plan("+262692123456", &fmi, &[]));
        fmi.overseas_in_plan = false;
        assert!(!in_plan("+262692123456", &fmi, &[]));
        // +269 is the Comoros, not Mayotte: international.
        assert!(!in_plan("+269123456", &plan(Plan::FixedMobileIntl), &[]));
    }

    #[test]
    fn special_normal_price_numbers_follow_the_setting() {
        let mut fixed = plan(Plan::Fixed);
        for n in [
            "+33806123456",
            "+33807123456",
            "+33808123456",
            "+33809123456",
        ] {
            assert!(in_plan(n, &fixed, &[]), "{n}");
        }
        assert!(!in_plan("+33805123456", &fixed, &[]));
        fixed.special_normal_price_in_plan = false;
        assert!(!in_plan("+33806123456", &fixed, &[]));
    }

    #[test]
    fn emergency_and_garbage() {
        let fixed = plan(Plan::Fixed);
        assert_eq!(
            eligibility(&Destination::classify("112"), &fixed, &[]),
            Eligibility::Emergency
        );
        assert_eq!(
            eligibility(&Destination::classify("15"), &fixed, &[]),
            Eligibility::Emergency
        );
        let garbage = Destination::classify("anonymous");
        assert!(matches!(
            eligibility(&garbage, &fixed, &[]),
            Eligibility::OutOfPlan(reason) if reason.starts_with("not a number")
        ));
        assert_eq!(garbage.category_name(), "not_a_number");
        assert_eq!(garbage.packed(), None);
    }

    #[test]
    fn packing_keeps_numbers_apart() {
        for n in [
            "+33140000000",
            "3949",
            "+1",
            "15",
            "+999999999999999",
            "015",
        ] {
            assert_eq!(unpack_number(pack_number(n).unwrap()), n);
        }
        assert_ne!(pack_number("+3949"), pack_number("3949"));
        assert_ne!(pack_number("015"), pack_number("15"));
        assert_eq!(pack_number("+1234567890123456"), None);
        assert_eq!(pack_number("+33a"), None);
    }
}
