//! Customers: `customers.toml`, one `[[customer]]` entry per customer.
//!
//! ```toml
//! [[customer]]
//! id = "acme"                  # required, [a-z0-9][a-z0-9_-]*, unique
//! name = "ACME SAS"            # required, non-empty
//! category = "business"        # required, see CustomerCategory
//! currency = "EUR"             # required, ISO 4217: three uppercase letters
//! contract_start = 2023-04-01  # required date (TOML date or "YYYY-MM-DD")
//! ```
//!
//! This module owns the customer entry, its category (which decides whether the
//! unlimited plans can apply at all, contract.md §3) and the check that customer ids
//! are unique.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;

use crate::error::ErrorKind;
use crate::names::{is_id, ID_SYNTAX};
use crate::toml_reader::TomlDoc;

/// A customer of the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    id: String,
    name: String,
    category: CustomerCategory,
    currency: String,
    contract_start: NaiveDate,
}

impl Customer {
    /// The customer's id, unique in `customers.toml`; trunks refer to it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The customer's legal or trading name, for reports and invoices.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind of business; telecom professionals are excluded from the
    /// unlimited plans.
    pub fn category(&self) -> CustomerCategory {
        self.category
    }

    /// The ISO 4217 currency the customer is invoiced in, such as `EUR`.
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// The contract's start date: its anniversary is the yearly Syntec price
    /// revision date (contract.md §6, the default revision date).
    pub fn contract_start(&self) -> NaiveDate {
        self.contract_start
    }
}

/// The kind of business a customer runs.
///
/// Contract §7.2 excludes "professionnels des télécommunications : opérateurs,
/// téléboutiques, téléprospection, phoning, centre d'appels, cartes prépayées,
/// services vocaux" from the unlimited plans. Each of those is a category here,
/// except "phoning", which is outbound telephone canvassing: the same activity as
/// "téléprospection", so it maps to [`Telemarketing`](Self::Telemarketing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CustomerCategory {
    /// Any other business (`business`): the only category the unlimited plans
    /// apply to.
    Business,
    /// A telecom operator (`operator`, "opérateur").
    Operator,
    /// A call shop (`call_shop`, "téléboutique").
    CallShop,
    /// Telemarketing or phoning (`telemarketing`, "téléprospection", "phoning").
    Telemarketing,
    /// A call centre (`call_centre`, "centre d'appels").
    CallCentre,
    /// A prepaid calling card seller (`prepaid_cards`, "cartes prépayées").
    PrepaidCards,
    /// A voice service provider (`voice_services`, "services vocaux").
    VoiceServices,
}

impl CustomerCategory {
    /// Every category, in the order the file format lists them.
    pub const ALL: [CustomerCategory; 7] = [
        CustomerCategory::Business,
        CustomerCategory::Operator,
        CustomerCategory::CallShop,
        CustomerCategory::Telemarketing,
        CustomerCategory::CallCentre,
        CustomerCategory::PrepaidCards,
        CustomerCategory::VoiceServices,
    ];

    /// The name used in `customers.toml`, such as `call_centre`.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerCategory::Business => "business",
            CustomerCategory::Operator => "operator",
            CustomerCategory::CallShop => "call_shop",
            CustomerCategory::Telemarketing => "telemarketing",
            CustomerCategory::CallCentre => "call_centre",
            CustomerCategory::PrepaidCards => "prepaid_cards",
            CustomerCategory::VoiceServices => "voice_services",
        }
    }

    /// The category with the given file name, if any.
    pub fn from_name(name: &str) -> Option<CustomerCategory> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// True for the telecom professionals of contract §7.2, to whom the unlimited
    /// plans never apply (every call is billed per minute): every category but
    /// [`Business`](Self::Business).
    pub fn is_telecom_professional(self) -> bool {
        self != CustomerCategory::Business
    }
}

impl fmt::Display for CustomerCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The customers read from `customers.toml`.
#[derive(Debug, Default)]
pub(crate) struct CustomersFile {
    /// The entries without any error, in file order.
    pub(crate) customers: Vec<Customer>,
    /// Every well-formed id, valid entry or not, so that a trunk referring to a
    /// customer whose entry has another mistake is not also reported.
    pub(crate) ids: HashMap<String, usize>,
}

/// Reads and checks `customers.toml`, recording errors in `doc`.
pub(crate) fn read_customers(doc: &TomlDoc, text: &str) -> CustomersFile {
    let root = doc.parse(text);
    let mut top = doc.root(&root);
    let mut file = CustomersFile::default();
    if let Some(entries) = top.optional("customer").and_then(|v| v.array()) {
        for (index, entry) in entries.iter().enumerate() {
            let Some(mut r) = entry.entry_table(format!("customer #{}", index + 1)) else {
                continue;
            };

            let id = r.required("id").and_then(|v| {
                let id = v.str()?;
                if !is_id(id) {
                    v.error(format!("{id:?} is not a valid id ({ID_SYNTAX})"));
                    return None;
                }
                if let Some(first) = file.ids.get(id) {
                    v.error_kind(
                        ErrorKind::Conflict,
                        format!("duplicate customer id {id:?} (first defined at line {first})"),
                    );
                    return None;
                }
                file.ids.insert(id.to_owned(), r.line());
                Some(id.to_owned())
            });
            if let Some(id) = &id {
                r.set_entry(format!("customer {id:?}"));
            }
            let name = r.required("name").and_then(|v| v.non_empty_str());
            let category = r.required("category").and_then(|v| {
                let name = v.str()?;
                let category = CustomerCategory::from_name(name);
                if category.is_none() {
                    let expected: Vec<&str> =
                        CustomerCategory::ALL.iter().map(|c| c.as_str()).collect();
                    v.error(format!(
                        "{name:?} is not a customer category (expected one of: {})",
                        expected.join(", ")
                    ));
                }
                category
            });
            let currency = r.required("currency").and_then(|v| {
                let code = v.str()?;
                if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
                    Some(code)
                } else {
                    v.error(format!(
                        "{code:?} is not an ISO 4217 currency code (expected three uppercase letters, e.g. EUR)"
                    ));
                    None
                }
            });
            let contract_start = r.required("contract_start").and_then(|v| v.date());
            r.finish();

            if let (Some(id), Some(name), Some(category), Some(currency), Some(contract_start)) =
                (id, name, category, currency, contract_start)
            {
                file.customers.push(Customer {
                    id,
                    name: name.to_owned(),
                    category,
                    currency: currency.to_owned(),
                    contract_start,
                });
            }
        }
    }
    top.finish();
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (CustomersFile, Vec<String>) {
        let doc = TomlDoc::new("customers.toml", text);
        let file = read_customers(&doc, text);
        let errors = doc.into_errors().iter().map(|e| e.to_string()).collect();
        (file, errors)
    }

    #[test]
    fn reads_a_valid_customer() {
        let (file, errors) = read(
            r#"
[[customer]]
id = "acme"
name = "ACME SAS"
category = "call_centre"
currency = "EUR"
contract_start = 2023-04-01
"#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let c = &file.customers[0];
        assert_eq!(c.id(), "acme");
        assert_eq!(c.name(), "ACME SAS");
        assert_eq!(c.category(), CustomerCategory::CallCentre);
        assert!(c.category().is_telecom_professional());
        assert_eq!(c.currency(), "EUR");
        assert_eq!(
            c.contract_start(),
            NaiveDate::from_ymd_opt(2023, 4, 1).unwrap()
        );
    }

    #[test]
    fn only_business_customers_can_have_the_unlimited_plans() {
        for category in CustomerCategory::ALL {
            assert_eq!(
                category.is_telecom_professional(),
                category != CustomerCategory::Business
            );
            assert_eq!(
                CustomerCategory::from_name(category.as_str()),
                Some(category)
            );
        }
        assert_eq!(CustomerCategory::from_name("phoning"), None);
    }

    #[test]
    fn reports_every_mistake_of_every_entry() {
        let (file, errors) = read(
            r#"[[customer]]
id = "acme"
name = ""
category = "callcenter"
currency = "eur"
contract_start = "2023-02-30"
colour = "red"

[[customer]]
id = "acme"
name = "Other"
category = "business"
currency = "EUR"
contract_start = 2023-04-01

[[customer]]
id = "Bad Id"
"#,
        );
        assert!(file.customers.is_empty());
        assert_eq!(
            errors,
            [
                "customers.toml:3: customer \"acme\": name: is empty (expected a non-empty string)",
                "customers.toml:4: customer \"acme\": category: \"callcenter\" is not a customer category (expected one of: business, operator, call_shop, telemarketing, call_centre, prepaid_cards, voice_services)",
                "customers.toml:5: customer \"acme\": currency: \"eur\" is not an ISO 4217 currency code (expected three uppercase letters, e.g. EUR)",
                "customers.toml:6: customer \"acme\": contract_start: \"2023-02-30\" is not a date (expected YYYY-MM-DD)",
                "customers.toml:7: customer \"acme\": unknown field \"colour\" (expected one of: id, name, category, currency, contract_start)",
                "customers.toml:10: customer #2: id: duplicate customer id \"acme\" (first defined at line 1)",
                "customers.toml:17: customer #3: id: \"Bad Id\" is not a valid id (expected lowercase letters, digits, '-' and '_', starting with a letter or digit)",
                "customers.toml:16: customer #3: missing required field \"name\"",
                "customers.toml:16: customer #3: missing required field \"category\"",
                "customers.toml:16: customer #3: missing required field \"currency\"",
                "customers.toml:16: customer #3: missing required field \"contract_start\"",
            ]
        );
        assert!(file.ids.contains_key("acme"));
    }

    #[test]
    fn a_misspelt_array_name_is_an_unknown_field() {
        let (file, errors) = read("[[customers]]\nid = \"a\"\n");
        assert!(file.customers.is_empty());
        assert_eq!(
            errors,
            ["customers.toml:1: unknown field \"customers\" (expected one of: customer)"]
        );
    }
}
