//! Loads and validates the provider's provisioning directory: customers, trunks,
//! sites, channel counts and per-minute tariffs. Every fairtrunk component (SIP
//! edge, importer, rating) loads provisioning through [`Provisioning::load`].
//!
//! Loading reports **every** problem at once, each with its file, line, entry and
//! field, so that a file can be fixed in one pass:
//!
//! ```text
//! trunks.toml:14: trunk "acme-paris": channels[1].from: "2026-13-01" is not a date (expected YYYY-MM-DD)
//! trunks.toml:22: trunk "acme-paris": unknown field "chanels" (expected one of: id, customer, ...)
//! tariffs/standard.csv:7: price_per_minute: "0,12" is not a decimal (use a dot: 0.12)
//! ```
//!
//! Run `provisioning check DIR` (the binary of this crate) before deploying a
//! change: it prints `ok: ...` and the fingerprint, or every error and exits 1.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use provisioning::Provisioning;
//!
//! let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning");
//! let provisioning = match Provisioning::load(&dir) {
//!     Ok(p) => p,
//!     Err(errors) => panic!("{errors}"),
//! };
//! let found = provisioning
//!     .trunk_for_source("127.0.0.21".parse().unwrap())
//!     .expect("a trunk owns 127.0.0.21");
//! assert_eq!(found.trunk.id(), "acme-multisite");
//! assert_eq!(found.site.map(|s| s.id()), Some("paris-hq"));
//! println!("provisioning version {}", provisioning.fingerprint());
//! ```
//!
//! The format reference below is `provisioning/reference.md`, also linked from the
//! project README.
#![doc = ""]
#![doc = include_str!("../reference.md")]
#![deny(missing_docs)]

mod calendar;
mod customer;
mod error;
mod fraud_caps;
mod identify;
mod names;
mod site;
mod snapshot;
mod tariff;
pub mod toml_reader;
mod trunk;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

pub use calendar::{paris_date, paris_day_start, parse_date};
pub use customer::{Customer, CustomerCategory};
pub use error::{ErrorKind, ProvisioningError, ProvisioningErrors};
pub use fraud_caps::{ClassCaps, FraudCaps, MAX_FRAUD_CAP};
pub use identify::{DigestCredentials, Identify, SourceMatch};
pub use site::Site;
pub use tariff::{Increments, TariffRow, MAX_PRICE_DECIMALS, TARIFF_COLUMNS};
pub use trunk::{
    ChannelChange, Host, Inbound, InboundTarget, Plan, Suspension, Transport, Trunk, MAX_CHANNELS,
};

use identify::{IdentifyIndex, TrunkIdentifiers};
use toml_reader::TomlDoc;

/// The customers file, relative to the provisioning directory.
pub const CUSTOMERS_FILE: &str = "customers.toml";
/// The trunks file, relative to the provisioning directory.
pub const TRUNKS_FILE: &str = "trunks.toml";
/// The tariffs folder, relative to the provisioning directory.
pub const TARIFFS_DIR: &str = "tariffs";

/// A validated provisioning directory.
///
/// Everything in it has passed every check: ids are unique, references resolve,
/// identifiers do not clash and tariff periods do not overlap. Reload by calling
/// [`Provisioning::load`] again and swapping the result in.
#[derive(Debug, Clone)]
pub struct Provisioning {
    customers: Vec<Customer>,
    trunks: Vec<Trunk>,
    tariffs: Vec<TariffRow>,
    fingerprint: String,
    customer_index: HashMap<String, usize>,
    trunk_index: HashMap<String, usize>,
    identify: IdentifyIndex,
}

impl Provisioning {
    /// Loads and validates the provisioning directory `dir`.
    ///
    /// # Errors
    ///
    /// Returns every problem found (never an empty list): a missing or unreadable
    /// file, TOML or CSV syntax, missing, unknown or invalid fields, and clashes
    /// between entries. See the [crate documentation](crate) for the rules.
    pub fn load(dir: &Path) -> Result<Provisioning, ProvisioningErrors> {
        let (snapshot, mut errors) = snapshot::read_snapshot(dir, is_interpreted);

        let customers = match text_of(&snapshot, CUSTOMERS_FILE, &mut errors) {
            Some(text) => {
                let doc = TomlDoc::new(CUSTOMERS_FILE, text);
                let file = customer::read_customers(&doc, text);
                errors.extend(doc.into_errors());
                Some(file)
            }
            None => None,
        };

        let mut trunks = Vec::new();
        if let Some(text) = text_of(&snapshot, TRUNKS_FILE, &mut errors) {
            let doc = TomlDoc::new(TRUNKS_FILE, text);
            let entries = trunk::read_trunks(&doc, text, customers.as_ref().map(|c| &c.ids));
            let identifiers: Vec<TrunkIdentifiers<'_>> = entries
                .iter()
                .map(|e| TrunkIdentifiers {
                    entry: &e.entry,
                    refs: &e.identify,
                })
                .collect();
            identify::check_conflicts(&doc, &identifiers);
            errors.extend(doc.into_errors());
            trunks = entries.into_iter().filter_map(|e| e.trunk).collect();
        }

        let mut tariffs = Vec::new();
        for (file, bytes) in &snapshot.files {
            if is_tariff_file(file) {
                let (rows, row_errors) = tariff::read_tariff_file(file, bytes);
                tariffs.extend(rows);
                errors.extend(row_errors);
            }
        }
        errors.extend(tariff::check_overlaps(&tariffs));

        if snapshot.readable {
            for required in [CUSTOMERS_FILE, TRUNKS_FILE] {
                if !snapshot.files.contains_key(required) {
                    errors.push(ProvisioningError::new(
                        ErrorKind::Io,
                        required,
                        None,
                        "",
                        "",
                        format!("file not found in {} (it is required)", dir.display()),
                    ));
                }
            }
        }

        if !errors.is_empty() {
            return Err(ProvisioningErrors::new(errors));
        }
        let customers = customers.map(|c| c.customers).unwrap_or_default();
        Ok(Provisioning::from_valid(
            customers,
            trunks,
            tariffs,
            snapshot.fingerprint,
        ))
    }

    /// Builds the lookups over entries that passed every check.
    fn from_valid(
        customers: Vec<Customer>,
        trunks: Vec<Trunk>,
        tariffs: Vec<TariffRow>,
        fingerprint: String,
    ) -> Provisioning {
        let customer_index = customers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id().to_owned(), i))
            .collect();
        let trunk_index = trunks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id().to_owned(), i))
            .collect();
        let identify = IdentifyIndex::new(&trunks);
        Provisioning {
            customers,
            trunks,
            tariffs,
            fingerprint,
            customer_index,
            trunk_index,
            identify,
        }
    }

    /// Every customer, in file order.
    pub fn customers(&self) -> &[Customer] {
        &self.customers
    }

    /// Every trunk, in file order.
    pub fn trunks(&self) -> &[Trunk] {
        &self.trunks
    }

    /// Every tariff row: files in name order, rows in line order. Rows of a prefix
    /// never overlap in time; pick the rows in force
    /// ([`TariffRow::in_force_at`]) and then the longest prefix.
    pub fn tariffs(&self) -> &[TariffRow] {
        &self.tariffs
    }

    /// The customer with this id.
    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.customer_index.get(id).map(|&i| &self.customers[i])
    }

    /// The trunk with this id.
    pub fn trunk(&self, id: &str) -> Option<&Trunk> {
        self.trunk_index.get(id).map(|&i| &self.trunks[i])
    }

    /// The trunks sold to a customer, in file order.
    pub fn trunks_of<'a>(&'a self, customer_id: &'a str) -> impl Iterator<Item = &'a Trunk> + 'a {
        self.trunks
            .iter()
            .filter(move |t| t.customer_id() == customer_id)
    }

    /// The hex SHA-256 of every file in the directory tree (relative paths and
    /// contents; names starting with `.` excepted), identifying this provisioning
    /// version. Rating records it with each run.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The trunk a request from `source` belongs to: the trunk with the most
    /// specific `identify.source_addresses` block containing it, and the site
    /// whose `source_addresses` contain it, if any. IPv4-mapped IPv6 addresses
    /// match as IPv4.
    pub fn trunk_for_source(&self, source: IpAddr) -> Option<SourceMatch<'_>> {
        let trunk = &self.trunks[self.identify.trunk_for_source(source)?];
        Some(SourceMatch {
            trunk,
            site: trunk.site_for_source(source),
        })
    }

    /// The trunk whose `identify.tls_fqdn` is `fqdn` (the name in the SBC's
    /// certificate), compared case-insensitively, a trailing dot ignored.
    pub fn trunk_for_tls_fqdn(&self, fqdn: &str) -> Option<&Trunk> {
        self.identify
            .trunk_for_tls_fqdn(fqdn)
            .map(|i| &self.trunks[i])
    }

    /// The trunk whose `identify.digest_username` is `username`, compared exactly.
    pub fn trunk_for_digest_user(&self, username: &str) -> Option<&Trunk> {
        self.identify
            .trunk_for_digest_username(username)
            .map(|i| &self.trunks[i])
    }
}

/// True for the files this crate parses (the snapshot keeps their contents).
fn is_interpreted(relative: &str) -> bool {
    relative == CUSTOMERS_FILE || relative == TRUNKS_FILE || is_tariff_file(relative)
}

/// `tariffs/<name>.csv`, directly in the tariffs folder.
fn is_tariff_file(relative: &str) -> bool {
    relative
        .strip_prefix(TARIFFS_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|name| name.ends_with(".csv") && !name.contains('/'))
}

/// The text of a TOML file of the snapshot, without a UTF-8 byte order mark;
/// `None` (with an error when it is not UTF-8) when it cannot be parsed.
fn text_of<'s>(
    snapshot: &'s snapshot::Snapshot,
    file: &str,
    errors: &mut Vec<ProvisioningError>,
) -> Option<&'s str> {
    let bytes = snapshot.files.get(file)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            errors.push(ProvisioningError::new(
                ErrorKind::Syntax,
                file,
                Some(line),
                "",
                "",
                "the file is not UTF-8 text (save it as UTF-8)",
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioning_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Provisioning>();
        assert_send_sync::<ProvisioningErrors>();
    }

    #[test]
    fn tariff_files_are_csv_files_directly_in_the_folder() {
        assert!(is_tariff_file("tariffs/standard.csv"));
        assert!(!is_tariff_file("tariffs/old/standard.csv"));
        assert!(!is_tariff_file("tariffs/README.md"));
        assert!(!is_tariff_file("tariffsx/a.csv"));
        assert!(!is_tariff_file("numbers/a.csv"));
        assert!(is_interpreted("customers.toml"));
        assert!(!is_interpreted("plans.toml"));
    }

    #[test]
    fn non_utf8_toml_is_reported_with_its_line() {
        let mut snapshot = snapshot::Snapshot::default();
        snapshot
            .files
            .insert("trunks.toml".into(), b"a = 1\nb = \"\xE9\"\n".to_vec());
        let mut errors = Vec::new();
        assert_eq!(text_of(&snapshot, "trunks.toml", &mut errors), None);
        assert_eq!(
            errors[0].to_string(),
            "trunks.toml:2: the file is not UTF-8 text (save it as UTF-8)"
        );
    }
}
