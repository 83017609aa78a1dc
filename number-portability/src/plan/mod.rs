//! The numbering plan: the data tables and the lookups built on them.
//!
//! A [`NumberingPlan`] holds four tables, each a CSV file shipped in `data/` and
//! embedded in the binary as the default, each replaceable at load time
//! ([`NumberingPlanBuilder`]) by a newer or more detailed file:
//!
//! | file | what it says |
//! |---|---|
//! | `countries.csv` | every ITU calling code, plus areas for territories sharing one (NANP, +262 Mayotte, +39 06698 Vatican...) |
//! | `prefixes.csv` | category, French region and allowed lengths by E.164 prefix |
//! | `fr_short_codes.csv` | French short numbers: emergency, 10XY, 3BPQ, 118XYZ, 16XY |
//! | `fr_overseas.csv` | French national prefixes of the overseas calling codes (0692 → +262) |
//!
//! Each table is indexed in a digit trie at load time, so classifying a number walks
//! its digits once per table: O(digits), no regex, no allocation. The plan also owns
//! the default country used to read national numbers (France unless configured).
//!
//! The short-code and overseas tables describe the French plan: they apply when the
//! default country belongs to plan `FR`.

pub(crate) mod category;
pub(crate) mod tables;

use std::path::Path;

use crate::error::{PlanError, TableProblem};
use crate::number::{Number, ShortCode, E164};
use crate::trie::PrefixTrie;
use category::{Category, Classification, CountryId};
use tables::{CountryRow, OverseasRow, PrefixRow, ShortRow};

/// Default `countries.csv`, embedded from `data/`.
pub const DEFAULT_COUNTRIES: &str = include_str!("../../data/countries.csv");
/// Default `prefixes.csv`, embedded from `data/`.
pub const DEFAULT_PREFIXES: &str = include_str!("../../data/prefixes.csv");
/// Default `fr_short_codes.csv`, embedded from `data/`.
pub const DEFAULT_SHORT_CODES: &str = include_str!("../../data/fr_short_codes.csv");
/// Default `fr_overseas.csv`, embedded from `data/`.
pub const DEFAULT_OVERSEAS: &str = include_str!("../../data/fr_overseas.csv");

/// File names looked for by [`NumberingPlanBuilder::data_dir`].
pub const TABLE_FILES: [&str; 4] = [
    "countries.csv",
    "prefixes.csv",
    "fr_short_codes.csv",
    "fr_overseas.csv",
];

/// The plan whose short-code and overseas tables ship with this crate.
const FRENCH_PLAN: &str = "FR";

/// The numbering plan tables and their indexes. Build one with
/// [`NumberingPlan::builder`], or use [`crate::default_plan`].
#[derive(Debug, Clone)]
pub struct NumberingPlan {
    pub(crate) countries: Vec<CountryRow>,
    /// calling code + area → index in `countries`.
    pub(crate) country_trie: PrefixTrie,
    pub(crate) prefixes: Vec<PrefixRow>,
    /// E.164 prefix → index in `prefixes`.
    pub(crate) prefix_trie: PrefixTrie,
    pub(crate) short_rows: Vec<ShortRow>,
    /// code → index in `short_groups` (rows sharing a code, by length).
    pub(crate) short_trie: PrefixTrie,
    pub(crate) short_groups: Vec<Vec<u32>>,
    pub(crate) overseas: Vec<OverseasRow>,
    /// national prefix → index in `overseas`.
    pub(crate) overseas_trie: PrefixTrie,
    /// Index in `countries` of the default country.
    pub(crate) home: usize,
    /// Calling codes of the countries in the home plan (France: 33 262 590 594 596 508).
    pub(crate) home_calling_codes: Vec<String>,
    /// The French short-code and overseas tables apply to the home plan.
    pub(crate) french_rules: bool,
}

/// One table's source text.
#[derive(Debug, Clone)]
struct Source {
    name: String,
    text: String,
}

/// Loads a [`NumberingPlan`], replacing any of the default tables.
#[derive(Debug, Clone)]
pub struct NumberingPlanBuilder {
    countries: Option<Source>,
    prefixes: Option<Source>,
    short_codes: Option<Source>,
    overseas: Option<Source>,
    default_country: String,
}

impl Default for NumberingPlanBuilder {
    fn default() -> Self {
        NumberingPlanBuilder {
            countries: None,
            prefixes: None,
            short_codes: None,
            overseas: None,
            default_country: FRENCH_PLAN.to_owned(),
        }
    }
}

impl NumberingPlanBuilder {
    /// The country whose national numbers (`0123456789`) and international prefix
    /// (`00`) are read: an ISO code present in `countries.csv`. Default `FR`.
    pub fn default_country(mut self, iso: &str) -> Self {
        iso.clone_into(&mut self.default_country);
        self
    }

    /// Replaces `countries.csv`; `name` is used in error messages.
    pub fn countries(mut self, name: &str, text: String) -> Self {
        self.countries = Some(Source {
            name: name.into(),
            text,
        });
        self
    }

    /// Replaces `prefixes.csv`; `name` is used in error messages.
    pub fn prefixes(mut self, name: &str, text: String) -> Self {
        self.prefixes = Some(Source {
            name: name.into(),
            text,
        });
        self
    }

    /// Replaces `fr_short_codes.csv`; `name` is used in error messages.
    pub fn short_codes(mut self, name: &str, text: String) -> Self {
        self.short_codes = Some(Source {
            name: name.into(),
            text,
        });
        self
    }

    /// Replaces `fr_overseas.csv`; `name` is used in error messages.
    pub fn overseas(mut self, name: &str, text: String) -> Self {
        self.overseas = Some(Source {
            name: name.into(),
            text,
        });
        self
    }

    /// Replaces each default table that has a file of the same name
    /// ([`TABLE_FILES`]) in `dir`; tables without a file keep their default.
    ///
    /// # Errors
    ///
    /// A file that exists but cannot be read (or is not UTF-8).
    pub fn data_dir(mut self, dir: &Path) -> std::io::Result<Self> {
        for name in TABLE_FILES {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
            })?;
            let label = path.display().to_string();
            self = match name {
                "countries.csv" => self.countries(&label, text),
                "prefixes.csv" => self.prefixes(&label, text),
                "fr_short_codes.csv" => self.short_codes(&label, text),
                _ => self.overseas(&label, text),
            };
        }
        Ok(self)
    }

    /// Parses and indexes the tables.
    ///
    /// # Errors
    ///
    /// [`PlanError`] listing every bad line of every table, duplicate keys, an
    /// unknown default country and overseas rows naming unknown calling codes.
    pub fn build(self) -> Result<NumberingPlan, PlanError> {
        let mut problems: Vec<TableProblem> = Vec::new();
        let src = |s: &Option<Source>, name: &str, default: &'static str| match s {
            Some(s) => (s.name.clone(), s.text.clone()),
            None => (format!("{name} (built-in)"), default.to_owned()),
        };
        let (cn, ct) = src(&self.countries, "countries.csv", DEFAULT_COUNTRIES);
        let (pn, pt) = src(&self.prefixes, "prefixes.csv", DEFAULT_PREFIXES);
        let (sn, st) = src(&self.short_codes, "fr_short_codes.csv", DEFAULT_SHORT_CODES);
        let (on, ot) = src(&self.overseas, "fr_overseas.csv", DEFAULT_OVERSEAS);
        let countries = tables::countries(&cn, &ct, &mut problems);
        let prefixes = tables::prefixes(&pn, &pt, &mut problems);
        let short_rows = tables::short_codes(&sn, &st, &mut problems);
        let overseas = tables::overseas(&on, &ot, &mut problems);
        fn dup(problems: &mut Vec<TableProblem>, table: &str, key: &str) {
            problems.push(TableProblem {
                table: table.to_owned(),
                line: 0,
                message: format!("duplicate key {key:?}"),
            })
        }

        let mut country_trie = PrefixTrie::default();
        for (i, c) in countries.iter().enumerate() {
            let key = format!("{}{}", c.calling_code, c.area);
            if country_trie.insert(key.as_bytes(), i as u32).is_some() {
                dup(&mut problems, &cn, &key);
            }
        }
        let mut prefix_trie = PrefixTrie::default();
        for (i, p) in prefixes.iter().enumerate() {
            if prefix_trie.insert(p.prefix.as_bytes(), i as u32).is_some() {
                dup(&mut problems, &pn, &p.prefix);
            }
        }
        let mut short_trie = PrefixTrie::default();
        let mut short_groups: Vec<Vec<u32>> = Vec::new();
        for (i, s) in short_rows.iter().enumerate() {
            match short_trie.exact(s.code.as_bytes()) {
                Some(g) => {
                    let group = &mut short_groups[g as usize];
                    if group
                        .iter()
                        .any(|&j| short_rows[j as usize].length == s.length)
                    {
                        dup(&mut problems, &sn, &format!("{}/{}", s.code, s.length));
                    }
                    group.push(i as u32);
                }
                None => {
                    short_trie.insert(s.code.as_bytes(), short_groups.len() as u32);
                    short_groups.push(vec![i as u32]);
                }
            }
        }
        let mut overseas_trie = PrefixTrie::default();
        for (i, o) in overseas.iter().enumerate() {
            if overseas_trie
                .insert(o.national_prefix.as_bytes(), i as u32)
                .is_some()
            {
                dup(&mut problems, &on, &o.national_prefix);
            }
            if !countries.iter().any(|c| c.calling_code == o.calling_code) {
                problems.push(TableProblem {
                    table: on.clone(),
                    line: 0,
                    message: format!(
                        "national prefix {:?} maps to calling code {:?}, which countries.csv lacks",
                        o.national_prefix, o.calling_code
                    ),
                });
            }
        }
        let home = countries
            .iter()
            .position(|c| c.id.as_str() == self.default_country && c.area.is_empty())
            .or_else(|| {
                countries
                    .iter()
                    .position(|c| c.id.as_str() == self.default_country)
            });
        let Some(home) = home else {
            problems.push(TableProblem {
                table: cn.clone(),
                line: 0,
                message: format!(
                    "default country {:?} is not in the countries table; use an ISO code such as FR",
                    self.default_country
                ),
            });
            return Err(PlanError::new(problems));
        };
        if !problems.is_empty() {
            return Err(PlanError::new(problems));
        }
        let home_plan = countries[home].plan;
        let mut home_calling_codes: Vec<String> = countries
            .iter()
            .filter(|c| c.plan == home_plan)
            .map(|c| c.calling_code.clone())
            .collect();
        home_calling_codes.dedup();
        Ok(NumberingPlan {
            french_rules: home_plan.as_str() == FRENCH_PLAN,
            countries,
            country_trie,
            prefixes,
            prefix_trie,
            short_rows,
            short_trie,
            short_groups,
            overseas,
            overseas_trie,
            home,
            home_calling_codes,
        })
    }
}

impl NumberingPlan {
    /// A builder starting from the built-in tables and France as default country.
    pub fn builder() -> NumberingPlanBuilder {
        NumberingPlanBuilder::default()
    }

    /// The default country national numbers are read in.
    pub fn default_country(&self) -> CountryId {
        self.countries[self.home].id
    }

    /// The English name of a country or territory, from `countries.csv`.
    pub fn country_name(&self, id: CountryId) -> Option<&str> {
        self.countries
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.as_str())
    }

    /// The country row of an E.164 digit string, by longest calling code + area.
    pub(crate) fn country_of(&self, digits: &[u8]) -> Option<&CountryRow> {
        self.country_trie
            .longest(digits)
            .map(|(i, _)| &self.countries[i as usize])
    }

    /// The short-code row matching all of `digits`: longest code whose length is
    /// exactly `digits.len()`.
    pub(crate) fn short_row(&self, digits: &[u8]) -> Option<&ShortRow> {
        let mut best = None;
        self.short_trie.walk(digits, |g, _| {
            for &i in &self.short_groups[g as usize] {
                if self.short_rows[i as usize].length == digits.len() {
                    best = Some(i);
                }
            }
        });
        best.map(|i| &self.short_rows[i as usize])
    }

    /// Classifies a parsed number.
    pub fn classify(&self, number: &Number) -> Classification {
        match number {
            Number::E164(n) => self.classify_e164(n),
            Number::Short(s) => self.classify_short(s),
        }
    }

    /// Classifies an E.164 number: country by longest prefix over every ITU calling
    /// code, category and region by longest prefix in `prefixes.csv`
    /// ([`Category::Unknown`] when no row covers it).
    pub fn classify_e164(&self, n: &E164) -> Classification {
        let digits = n.digits().as_bytes();
        let home = &self.countries[self.home];
        let (country, plan) = match self.country_of(digits) {
            Some(c) => (c.id, c.plan),
            None => (CountryId::new("001").unwrap_or(home.id), home.id),
        };
        let row = self
            .prefix_trie
            .longest(digits)
            .map(|(i, _)| &self.prefixes[i as usize]);
        let category = row.map_or(Category::Unknown, |r| r.category);
        let is_national = plan == home.plan;
        let is_overseas = is_national && country != home.id && country != home.plan;
        Classification {
            country,
            calling_code: n.calling_code(),
            category,
            region: row.and_then(|r| r.region),
            territory: is_overseas.then_some(country),
            is_emergency: category == Category::Emergency,
            is_overseas,
            is_national,
        }
    }

    /// Classifies a short code with the short-code table of its plan.
    pub fn classify_short(&self, s: &ShortCode) -> Classification {
        let home = &self.countries[self.home];
        let country = if home.calling_code.parse() == Ok(s.calling_code()) {
            home.id
        } else {
            self.countries
                .iter()
                .find(|c| c.area.is_empty() && c.calling_code.parse() == Ok(s.calling_code()))
                .map_or(home.id, |c| c.id)
        };
        let category = self
            .short_row(s.as_str().as_bytes())
            .filter(|_| self.french_rules && country == home.id)
            .map_or(Category::Unknown, |r| r.category);
        Classification {
            country,
            calling_code: s.calling_code(),
            category,
            region: None,
            territory: None,
            is_emergency: category == Category::Emergency,
            is_overseas: false,
            is_national: country == home.id,
        }
    }

    /// The label of a short code in the short-code table (`SAMU (medical
    /// emergency)` for 15).
    pub fn short_code_label(&self, s: &ShortCode) -> Option<&str> {
        self.short_row(s.as_str().as_bytes())
            .map(|r| r.label.as_str())
    }

    /// The national digits of a number of the home plan, trunk prefix included, as
    /// ARCEP files write them: `0123456789`, `0692123456` for +262692123456,
    /// `0508411234` for +508411234. `None` for numbers of other plans.
    pub fn to_national(&self, n: &E164) -> Option<String> {
        let home = &self.countries[self.home];
        let cc = n.calling_code_str();
        let nsn = n.national_number();
        if self.french_rules {
            for o in self.overseas.iter().filter(|o| o.calling_code == cc) {
                let candidate = format!("{}{}", &o.national_prefix[..o.drop_digits], nsn);
                if candidate.starts_with(&o.national_prefix) {
                    return Some(candidate);
                }
            }
        }
        (cc == home.calling_code).then(|| format!("{}{}", home.trunk_prefix, nsn))
    }

    /// The number as a person in the default country dials it: `01 23 45 67 89` for
    /// the home plan (pairs of digits), `+32 470123456` otherwise, `112` for a short
    /// code. Parsing the result gives back the same number.
    pub fn format_national(&self, number: &Number) -> String {
        match number {
            Number::Short(s) => s.as_str().to_owned(),
            Number::E164(n) => match self.to_national(n) {
                Some(national) if self.french_rules => national
                    .as_bytes()
                    .chunks(2)
                    .map(|c| std::str::from_utf8(c).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(" "),
                Some(national) => national,
                None => n.format_international(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_tables_load_without_problems() {
        let plan = NumberingPlan::builder().build().unwrap();
        assert_eq!(plan.default_country().as_str(), "FR");
        assert!(plan.countries.len() > 230, "{}", plan.countries.len());
        let mut codes = plan.home_calling_codes.clone();
        codes.sort();
        assert_eq!(codes, vec!["262", "33", "508", "590", "594", "596"]);
    }

    #[test]
    fn unknown_default_country_is_an_error() {
        let err = NumberingPlan::builder()
            .default_country("ZZ")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("default country \"ZZ\""), "{err}");
    }

    #[test]
    fn replaced_table_errors_name_the_table_and_line() {
        let err = NumberingPlan::builder()
            .prefixes(
                "my-prefixes.csv",
                "prefix;category\n33;mobile\n33;fixed_geographic\n".into(),
            )
            .build()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("my-prefixes.csv:0: duplicate key \"33\""),
            "{msg}"
        );
    }

    #[test]
    fn overseas_rows_must_name_known_calling_codes() {
        let err = NumberingPlan::builder()
            .overseas(
                "o.csv",
                "national_prefix;calling_code;drop_digits\n0692;999;1\n".into(),
            )
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("\"999\""), "{err}");
    }

    #[test]
    fn short_row_takes_longest_code_of_exact_length() {
        let plan = NumberingPlan::builder().build().unwrap();
        assert_eq!(
            plan.short_row(b"116000").unwrap().category,
            Category::Emergency
        );
        assert_eq!(
            plan.short_row(b"116006").unwrap().category,
            Category::ShortNumber
        );
        assert_eq!(
            plan.short_row(b"3949").unwrap().category,
            Category::ShortNumber
        );
        assert!(plan.short_row(b"39490").is_none());
        assert!(plan.short_row(b"11").is_none());
    }
}
