//! The customers' number inventory as rating needs it: "does this caller number
//! belong to this customer", the evidence of a shared service (contract §3).
//!
//! Until number-portability's inventory lands, it is a CSV file in the
//! provisioning directory (`rating/numbers.csv` by default, setting
//! `fair_use.inventory_file`), optional: a customer without rows has no inventory
//! and its callers are not checked.
//!
//! ```text
//! customer,first,last
//! acme,+33140000000,+33140000099      # an SDA block of 100 numbers
//! acme,+33472000000,                  # one number (last empty)
//! ```
//!
//! Numbers are normalised by number-portability; `first` and `last` must have the
//! same length and `first <= last`.

use std::collections::BTreeMap;
use std::path::Path;

use provisioning::{ErrorKind, Provisioning, ProvisioningError};

/// Number ranges per customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    ranges: BTreeMap<String, Vec<(String, String)>>,
}

impl Inventory {
    /// An inventory from ranges (tests).
    pub fn from_ranges(ranges: &[(&str, &str, &str)]) -> Self {
        let mut inventory = Inventory::default();
        for (customer, first, last) in ranges {
            inventory
                .ranges
                .entry((*customer).to_owned())
                .or_default()
                .push(((*first).to_owned(), (*last).to_owned()));
        }
        inventory
    }

    /// Loads `file` (relative to `dir`); an absent file is an empty inventory.
    ///
    /// # Errors
    /// Every bad row, in the provisioning error format.
    pub fn load(
        dir: &Path,
        file: &str,
        provisioning: &Provisioning,
    ) -> Result<Self, Vec<ProvisioningError>> {
        let path = dir.join(file);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Inventory::default()),
            Err(e) => {
                return Err(vec![ProvisioningError::new(
                    ErrorKind::Io,
                    file,
                    None,
                    "",
                    "",
                    format!("cannot read the file: {e}"),
                )])
            }
        };
        let mut inventory = Inventory::default();
        let mut errors = Vec::new();
        let rows =
            crate::inputs::read_csv(file, &bytes, &["customer", "first", "last"], &mut errors);
        for row in rows {
            let error = |field: &str, message: String| {
                ProvisioningError::new(
                    ErrorKind::InvalidValue,
                    file,
                    Some(row.line),
                    "",
                    field,
                    message,
                )
            };
            let customer = row.get("customer");
            if provisioning.customer(customer).is_none() {
                errors.push(ProvisioningError::new(
                    ErrorKind::UnknownReference,
                    file,
                    Some(row.line),
                    "",
                    "customer",
                    format!("customer {customer:?} is not in customers.toml"),
                ));
                continue;
            }
            let first = match number_portability::parse(row.get("first")) {
                Ok(n) => n.as_str().to_owned(),
                Err(e) => {
                    errors.push(error(
                        "first",
                        format!("{:?} is not a number: {e}", row.get("first")),
                    ));
                    continue;
                }
            };
            let last = if row.get("last").is_empty() {
                first.clone()
            } else {
                match number_portability::parse(row.get("last")) {
                    Ok(n) => n.as_str().to_owned(),
                    Err(e) => {
                        errors.push(error(
                            "last",
                            format!("{:?} is not a number: {e}", row.get("last")),
                        ));
                        continue;
                    }
                }
            };
            if first.len() != last.len() || first > last {
                errors.push(error(
                    "last",
                    format!("{last} does not end a range starting at {first} (same length, not before it)"),
                ));
                continue;
            }
            inventory
                .ranges
                .entry(customer.to_owned())
                .or_default()
                .push((first, last));
        }
        if errors.is_empty() {
            Ok(inventory)
        } else {
            Err(errors)
        }
    }

    /// True when the customer has an inventory.
    pub fn knows(&self, customer: &str) -> bool {
        self.ranges.contains_key(customer)
    }

    /// True when the normalised number is in one of the customer's ranges.
    pub fn holds(&self, customer: &str, number: &str) -> bool {
        self.ranges.get(customer).is_some_and(|ranges| {
            ranges.iter().any(|(first, last)| {
                number.len() == first.len() && first.as_str() <= number && number <= last.as_str()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_numbers_of_the_same_length() {
        let inv = Inventory::from_ranges(&[("acme", "+33140000000", "+33140000099")]);
        assert!(inv.knows("acme"));
        assert!(!inv.knows("other"));
        assert!(inv.holds("acme", "+33140000000"));
        assert!(inv.holds("acme", "+33140000099"));
        assert!(!inv.holds("acme", "+33140000100"));
        assert!(!inv.holds("acme", "+3314000005"));
        assert!(!inv.holds("other", "+33140000000"));
    }

    #[test]
    fn bad_rows_are_reported_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rating")).unwrap();
        std::fs::write(
            dir.path().join("rating/numbers.csv"),
            "customer,first,last\nacme,01 40 00 00 00,0140000099\nnobody,+33140000000,\nacme,+33140000099,+33140000000\nacme,hello,\n",
        )
        .unwrap();
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
        let p = Provisioning::load(&sample).unwrap();
        let errors: Vec<String> = Inventory::load(dir.path(), "rating/numbers.csv", &p)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("rating/numbers.csv:3: customer: customer \"nobody\""),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("rating/numbers.csv:4: last: +33140000000 does not end a range"),
            "{errors:?}"
        );
        assert!(
            errors[2].starts_with("rating/numbers.csv:5: first: \"hello\" is not a number"),
            "{errors:?}"
        );
        let absent = Inventory::load(dir.path(), "rating/none.csv", &p).unwrap();
        assert!(!absent.knows("acme"));
    }
}
