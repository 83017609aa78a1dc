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
//! # Directory layout
//!
//! ```text
//! <dir>/customers.toml   [[customer]] entries (required)
//! <dir>/trunks.toml      [[trunk]] entries (required)
//! <dir>/tariffs/*.csv    per-minute tariffs (optional folder): checked here, priced by rating
//! <dir>/plans.toml       owned by the rating crate (plan settings, breach policy):
//!                        not interpreted here, part of the fingerprint
//! <dir>/numbers/         owned by the number-portability crate (number inventory):
//!                        not interpreted here, part of the fingerprint
//! ```
//!
//! Any other file is ignored but is part of the [fingerprint](Provisioning::fingerprint)
//! (the SHA-256 of every file in the tree, names starting with `.` excepted), which
//! rating records to say which provisioning version a run used.
//!
//! All dates are Europe/Paris calendar dates: a date means 00:00 Paris time on that
//! day ([`paris_day_start`]). Ids are `[a-z0-9][a-z0-9_-]*`. TOML dates may be
//! written as TOML dates (`2026-10-16`) or strings (`"2026-10-16"`).
//!
//! # `customers.toml`
//!
//! ```toml
//! [[customer]]
//! id = "acme"                  # required, unique
//! name = "ACME SAS"            # required, non-empty
//! category = "business"        # required: business | operator | call_shop | telemarketing
//!                              #   | call_centre | prepaid_cards | voice_services
//! currency = "EUR"             # required, ISO 4217: three uppercase letters
//! contract_start = 2023-04-01  # required date: its anniversary is the yearly Syntec
//!                              #   price revision date
//! ```
//!
//! Every category but `business` is a telecom professional excluded from the
//! unlimited plans ([`CustomerCategory::is_telecom_professional`]).
//!
//! # `trunks.toml`
//!
//! ```toml
//! [[trunk]]
//! id = "acme-paris"                 # required, unique across trunks
//! customer = "acme"                 # required, an id from customers.toml
//! plan = "fixed_mobile_intl"        # required: fixed | fixed_mobile_intl
//! international_destinations = ["+32", "+41"]  # "+" and 1-6 digits, no duplicates;
//!                                   #   only with fixed_mobile_intl
//! channels = [ { from = 2024-01-01, channels = 10 }, { from = 2026-10-16, channels = 20 } ]
//!                                   # required, non-empty, dates strictly increasing,
//!                                   #   0..=100000 (0 = no service from that date)
//!
//! [trunk.identify]                  # required; at least one of source_addresses,
//!                                   #   tls_fqdn, digest_username
//! source_addresses = ["192.0.2.10", "198.51.100.0/28", "2001:db8::/64"]
//! digest_username = "acme-paris"    # digest_username and digest_password come together
//! digest_password = "s3cret"
//! tls_fqdn = "sbc1.acme.fr"         # a DNS name, compared case-insensitively
//! mutual_tls = false                # default false; true requires tls_fqdn
//!
//! [trunk.inbound]                   # required: where calls to the customer's numbers go
//! target = "192.0.2.10:5060"        # host:port; IPv4, [IPv6] or DNS name; port 1-65535
//! transport = "udp"                 # udp | tcp | tls
//!
//! [[trunk.site]]                    # at least one
//! id = "paris-hq"                   # unique within the trunk
//! name = "Siège Paris"              # required, non-empty
//! address = "12 rue de la Paix, 75002 Paris"   # required, non-empty
//! insee_code = "75056"              # 5 digits, or 2A/2B + 3 digits (Corsica)
//! channels = 6                      # optional limit inside the trunk: 1..= its largest count
//! source_addresses = ["192.0.2.10"] # optional: calls from these are this site's; each
//!                                   #   inside one of the trunk's identify.source_addresses
//!
//! [[trunk.suspension]]              # optional: the unlimited plan is suspended, every
//!                                   #   call of the trunk is billed per minute
//! from = 2026-10-10                 # date (00:00 Paris) or date-time with offset
//! to = 2026-10-20                   # exclusive, after from
//! reason = "fraud suspicion, ticket 4711"      # required, non-empty
//! ```
//!
//! Checks across entries: trunk ids are unique and refer to an existing customer;
//! no source address of one trunk overlaps one of another trunk (equal, containing
//! or contained blocks); a TLS name or digest user name belongs to one trunk; site
//! ids are unique in their trunk and a site address belongs to one site. A CIDR
//! block must be written with its network address (`198.51.100.0/28`).
//!
//! # `tariffs/*.csv`
//!
//! Every `.csv` file directly in `tariffs/`, in name order. The header row is
//! required (line 1); columns are found by name, unknown or missing columns are
//! errors; fields are trimmed and a UTF-8 byte order mark is skipped.
//!
//! ```text
//! prefix,label,class,price_per_minute,connect_fee,increments,effective_from,effective_to
//! +331,France fixe Île-de-France,fixed,0.012,,60/60,2024-01-01,
//! +44,Royaume-Uni fixe,international,0.03,0,60/60,2024-01-01,2026-10-15
//! +44,Royaume-Uni fixe,international,0.025,0,60/60,2026-10-15,
//! 3949,France Travail,short,0.012,,60/60,2024-01-01,
//! ```
//!
//! - `prefix`: `+` and 1-15 digits, or 1-6 digits for a French short number;
//! - `label`: non-empty; `class`: `[a-z0-9_]+`;
//! - `price_per_minute`, `connect_fee`: decimal with a dot, 0 or more, at most 6
//!   decimal places; an empty `connect_fee` is 0;
//! - `increments`: `A/B` seconds, both at least 1 ([`Increments`]);
//! - `effective_from`: inclusive; `effective_to`: exclusive, empty for open-ended,
//!   after `effective_from`;
//! - rows of one prefix (in any files) must not be in force at the same time.
//!
//! # Errors
//!
//! [`ProvisioningErrors`] lists every problem, sorted by file and line. A TOML or
//! CSV syntax error does not stop the check of the rest of the file; a bad row or
//! entry does not stop the others from being checked. Nothing in this crate panics
//! on bad input.

#![deny(missing_docs)]

mod calendar;
mod customer;
mod error;
mod identify;
mod names;
mod site;
mod snapshot;
mod tariff;
mod toml_reader;
mod trunk;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

pub use calendar::{paris_date, paris_day_start};
pub use customer::{Customer, CustomerCategory};
pub use error::{ErrorKind, ProvisioningError, ProvisioningErrors};
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
