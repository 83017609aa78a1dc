//! How the SIP edge recognises a trunk: the `[trunk.identify]` table, the checks
//! that no two trunks can be mistaken for one another, and the lookups by source
//! address, TLS name and digest user name.
//!
//! ```toml
//! [trunk.identify]   # at least one of source_addresses, tls_fqdn, digest_username
//! source_addresses = ["192.0.2.10", "198.51.100.0/28", "2001:db8::/64"]
//! digest_username = "acme-paris"   # digest_username and digest_password come together
//! digest_password = "s3cret"
//! tls_fqdn = "sbc1.acme.fr"        # a DNS name, compared case-insensitively
//! mutual_tls = false               # default false; true requires tls_fqdn
//! ```
//!
//! Rules:
//! - a source address is an IP address (a single host) or a CIDR block written with
//!   its network address (`198.51.100.0/28`, not `198.51.100.5/28`);
//! - a source address of one trunk must not overlap any source address of another
//!   (equal, containing or contained), so that an address identifies one trunk;
//! - a TLS name and a digest user name belong to one trunk at most;
//! - when a packet's address matches several blocks of one trunk, the most specific
//!   block wins (it only matters for site attribution, see [`Trunk::site_for_source`]).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use crate::error::ErrorKind;
use crate::names::is_dns_name;
use crate::site::Site;
use crate::toml_reader::{TableReader, TomlDoc};
use crate::trunk::Trunk;

/// How a trunk's calls are recognised: by source address, TLS certificate name or
/// SIP digest credentials. At least one of them is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identify {
    source_addresses: Vec<IpNet>,
    tls_fqdn: Option<String>,
    digest: Option<DigestCredentials>,
    mutual_tls: bool,
}

impl Identify {
    /// The addresses the trunk's calls come from, as blocks (a single address is a
    /// /32 or /128 block).
    pub fn source_addresses(&self) -> &[IpNet] {
        &self.source_addresses
    }

    /// The DNS name of the customer's SBC (Teams Direct Routing), in lowercase.
    pub fn tls_fqdn(&self) -> Option<&str> {
        self.tls_fqdn.as_deref()
    }

    /// The SIP digest credentials the trunk registers or authenticates with.
    pub fn digest(&self) -> Option<&DigestCredentials> {
        self.digest.as_ref()
    }

    /// Whether the SBC must present a client certificate for
    /// [`tls_fqdn`](Self::tls_fqdn) (mutual TLS).
    pub fn mutual_tls(&self) -> bool {
        self.mutual_tls
    }
}

/// SIP digest credentials (RFC 3261 §22). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    username: String,
    password: String,
}

impl DigestCredentials {
    /// The digest user name, unique across trunks.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The shared secret.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for DigestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestCredentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// The trunk (and site, if one claims the address) that a source address belongs
/// to, as found by [`Provisioning::trunk_for_source`](crate::Provisioning::trunk_for_source).
#[derive(Debug, Clone, Copy)]
pub struct SourceMatch<'a> {
    /// The trunk whose `identify.source_addresses` contain the address.
    pub trunk: &'a Trunk,
    /// The site whose `source_addresses` contain the address (the most specific
    /// block wins), or `None` when no site of the trunk claims it.
    pub site: Option<&'a Site>,
}

/// Parses a source address: an IP address, or a CIDR block written with its
/// network address. The error is the message to report.
pub(crate) fn parse_source_address(text: &str) -> Result<IpNet, String> {
    let invalid = || {
        format!(
            "{text:?} is not an IP address or CIDR block (expected e.g. 192.0.2.10, 198.51.100.0/28 or 2001:db8::/64)"
        )
    };
    if text.contains('/') {
        let net = IpNet::from_str(text).map_err(|_| invalid())?;
        if net != net.trunc() {
            return Err(format!(
                "{text:?} has host bits set (did you mean {}?)",
                net.trunc()
            ));
        }
        Ok(net)
    } else {
        IpAddr::from_str(text)
            .map(IpNet::from)
            .map_err(|_| invalid())
    }
}

/// A block as an operator writes it: a single address without its `/32` or `/128`.
pub(crate) fn show_net(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// Where a trunk's identifiers were written, for the cross-trunk checks.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdentifyRefs {
    /// Each valid source address with its line and key path.
    pub(crate) source_addresses: Vec<(IpNet, usize, String)>,
    /// The lowercased TLS name with its line and key path.
    pub(crate) tls_fqdn: Option<(String, usize, String)>,
    /// The digest user name with its line and key path.
    pub(crate) digest_username: Option<(String, usize, String)>,
}

/// Reads a trunk's `identify` table. Returns the table if it is valid, and in any
/// case the identifiers that could be read.
pub(crate) fn read_identify(mut r: TableReader<'_, '_>) -> (Option<Identify>, IdentifyRefs) {
    let mut refs = IdentifyRefs::default();
    let mut valid = true;

    let mut source_addresses = Vec::new();
    if let Some(items) = r.optional("source_addresses").and_then(|v| v.array()) {
        for item in items {
            let Some(text) = item.str() else {
                valid = false;
                continue;
            };
            match parse_source_address(text) {
                Ok(net) if source_addresses.contains(&net) => {
                    item.error_kind(ErrorKind::Conflict, format!("{text:?} is listed twice"));
                    valid = false;
                }
                Ok(net) => {
                    source_addresses.push(net);
                    refs.source_addresses
                        .push((net, item.line(), item.path().to_owned()));
                }
                Err(message) => {
                    item.error(message);
                    valid = false;
                }
            }
        }
    }

    let tls = r.optional("tls_fqdn");
    let tls_fqdn = tls.as_ref().and_then(|v| {
        let name = v.str()?;
        if !is_dns_name(name) {
            v.error(format!(
                "{name:?} is not a DNS name (expected the SBC's fully qualified name, e.g. sbc.contoso.fr)"
            ));
            return None;
        }
        let name = name.to_ascii_lowercase();
        refs.tls_fqdn = Some((name.clone(), v.line(), v.path().to_owned()));
        Some(name)
    });
    valid &= tls.is_none() || tls_fqdn.is_some();

    let user = r.optional("digest_username");
    let username = user.as_ref().and_then(|v| v.non_empty_str());
    let pass = r.optional("digest_password");
    let password = pass.as_ref().and_then(|v| v.non_empty_str());
    valid &= user.is_none() || username.is_some();
    valid &= pass.is_none() || password.is_some();
    match (&user, &pass) {
        (Some(u), None) => {
            u.error("is set without digest_password (digest_username and digest_password come together)");
            valid = false;
        }
        (None, Some(p)) => {
            p.error("is set without digest_username (digest_username and digest_password come together)");
            valid = false;
        }
        _ => {}
    }
    if let (Some(u), Some(name)) = (&user, username) {
        refs.digest_username = Some((name.to_owned(), u.line(), u.path().to_owned()));
    }

    let mtls = r.optional("mutual_tls");
    let mutual_tls = mtls.as_ref().map_or(Some(false), |v| v.bool());
    valid &= mutual_tls.is_some();
    if let (Some(v), Some(true), None) = (&mtls, mutual_tls, &tls) {
        v.error("is true without tls_fqdn (mutual TLS checks the certificate against tls_fqdn)");
        valid = false;
    }

    if source_addresses.is_empty() && tls.is_none() && user.is_none() {
        r.error(
            ErrorKind::MissingField,
            "no way to identify the trunk (expected at least one of: source_addresses, tls_fqdn, digest_username)",
        );
        valid = false;
    }
    r.finish();

    let digest = match (username, password) {
        (Some(username), Some(password)) => Some(DigestCredentials {
            username: username.to_owned(),
            password: password.to_owned(),
        }),
        _ => None,
    };
    let identify = match mutual_tls {
        Some(mutual_tls) if valid => Some(Identify {
            source_addresses,
            tls_fqdn,
            digest,
            mutual_tls,
        }),
        _ => None,
    };
    (identify, refs)
}

/// A trunk's identifiers for the cross-trunk checks: the trunk's entry name and
/// where each identifier was written.
pub(crate) struct TrunkIdentifiers<'r> {
    /// The entry name errors are reported against, such as `trunk "acme-paris"`.
    pub(crate) entry: &'r str,
    /// The identifiers read from the trunk's `identify` table.
    pub(crate) refs: &'r IdentifyRefs,
}

/// Reports identifiers shared by two trunks: overlapping source addresses, and the
/// same TLS name or digest user name. The error goes on the later of the two and
/// names the other trunk.
pub(crate) fn check_conflicts(doc: &TomlDoc, trunks: &[TrunkIdentifiers<'_>]) {
    struct Source<'r> {
        net: IpNet,
        trunk: usize,
        line: usize,
        path: &'r str,
    }
    let mut sources: Vec<Source<'_>> = trunks
        .iter()
        .enumerate()
        .flat_map(|(trunk, t)| {
            t.refs
                .source_addresses
                .iter()
                .map(move |(net, line, path)| Source {
                    net: *net,
                    trunk,
                    line: *line,
                    path,
                })
        })
        .collect();
    // CIDR blocks are either nested or disjoint. Sorted by network address and then
    // from the widest block, every block comes right after the blocks containing
    // it; a stack of the open blocks gives the nearest one.
    sources.sort_by(|a, b| {
        (a.net.network(), a.net.prefix_len(), a.line).cmp(&(
            b.net.network(),
            b.net.prefix_len(),
            b.line,
        ))
    });
    let mut open: Vec<usize> = Vec::new();
    for i in 0..sources.len() {
        while let Some(&top) = open.last() {
            if sources[top].net.contains(&sources[i].net) {
                break;
            }
            open.pop();
        }
        if let Some(&top) = open.last() {
            let (outer, inner) = (&sources[top], &sources[i]);
            if outer.trunk != inner.trunk {
                let (here, there) = if inner.line >= outer.line {
                    (inner, outer)
                } else {
                    (outer, inner)
                };
                doc.report(
                    ErrorKind::Conflict,
                    here.line,
                    trunks[here.trunk].entry,
                    here.path,
                    format!(
                        "{} overlaps {} of {} (line {}); a source address must identify a single trunk",
                        show_net(&here.net),
                        show_net(&there.net),
                        trunks[there.trunk].entry,
                        there.line
                    ),
                );
            }
        }
        open.push(i);
    }

    let mut fqdns: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut users: HashMap<&str, (usize, usize)> = HashMap::new();
    for (trunk, t) in trunks.iter().enumerate() {
        let checks = [
            (&t.refs.tls_fqdn, &mut fqdns, "TLS name"),
            (&t.refs.digest_username, &mut users, "digest user name"),
        ];
        for (identifier, seen, what) in checks {
            let Some((value, line, path)) = identifier else {
                continue;
            };
            if let Some(&(first, first_line)) = seen.get(value.as_str()) {
                doc.report(
                    ErrorKind::Conflict,
                    *line,
                    t.entry,
                    path,
                    format!(
                        "{what} {value:?} is already used by {} (line {first_line})",
                        trunks[first].entry
                    ),
                );
            } else {
                seen.insert(value, (trunk, *line));
            }
        }
    }
}

/// The lookups the SIP edge makes for every request, built once per load.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdentifyIndex {
    /// For each (IPv6?, prefix length) in use, longest first: network address to
    /// trunk index.
    by_block: Vec<(bool, u8, HashMap<IpAddr, usize>)>,
    by_tls_fqdn: HashMap<String, usize>,
    by_digest_username: HashMap<String, usize>,
}

impl IdentifyIndex {
    /// Indexes the identifiers of valid trunks (no two share one).
    pub(crate) fn new(trunks: &[Trunk]) -> Self {
        let mut index = IdentifyIndex::default();
        let mut blocks: HashMap<(bool, u8), HashMap<IpAddr, usize>> = HashMap::new();
        for (i, trunk) in trunks.iter().enumerate() {
            let identify = trunk.identify();
            for net in identify.source_addresses() {
                blocks
                    .entry((net.network().is_ipv6(), net.prefix_len()))
                    .or_default()
                    .insert(net.network(), i);
            }
            if let Some(fqdn) = identify.tls_fqdn() {
                index.by_tls_fqdn.insert(fqdn.to_owned(), i);
            }
            if let Some(digest) = identify.digest() {
                index
                    .by_digest_username
                    .insert(digest.username().to_owned(), i);
            }
        }
        index.by_block = blocks
            .into_iter()
            .map(|((v6, len), map)| (v6, len, map))
            .collect();
        index
            .by_block
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        index
    }

    /// The trunk whose most specific block contains `ip`. IPv4-mapped IPv6
    /// addresses (`::ffff:192.0.2.10`, from dual-stack sockets) match as IPv4.
    pub(crate) fn trunk_for_source(&self, ip: IpAddr) -> Option<usize> {
        let ip = ip.to_canonical();
        self.by_block
            .iter()
            .filter(|(v6, _, _)| *v6 == ip.is_ipv6())
            .find_map(|(_, len, map)| {
                let network = IpNet::new(ip, *len).ok()?.network();
                map.get(&network).copied()
            })
    }

    /// The trunk with this TLS name, compared case-insensitively; a trailing dot
    /// (fully qualified form) is ignored.
    pub(crate) fn trunk_for_tls_fqdn(&self, fqdn: &str) -> Option<usize> {
        let fqdn = fqdn.strip_suffix('.').unwrap_or(fqdn);
        self.by_tls_fqdn.get(&fqdn.to_ascii_lowercase()).copied()
    }

    /// The trunk with this digest user name, compared exactly.
    pub(crate) fn trunk_for_digest_username(&self, username: &str) -> Option<usize> {
        self.by_digest_username.get(username).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Option<Identify>, IdentifyRefs, Vec<String>) {
        let doc = TomlDoc::new("trunks.toml", text);
        let root = doc.parse(text);
        let mut top = doc.root(&root);
        let table = top.required("identify").and_then(|v| v.table());
        let (identify, refs) = match table {
            Some(r) => read_identify(r),
            None => (None, IdentifyRefs::default()),
        };
        top.finish();
        let errors = doc.into_errors().iter().map(|e| e.to_string()).collect();
        (identify, refs, errors)
    }

    #[test]
    fn source_addresses_are_hosts_or_network_blocks() {
        assert_eq!(
            parse_source_address("192.0.2.10").unwrap().to_string(),
            "192.0.2.10/32"
        );
        assert_eq!(
            parse_source_address("2001:db8::/64").unwrap().to_string(),
            "2001:db8::/64"
        );
        assert_eq!(
            parse_source_address("198.51.100.5/28").unwrap_err(),
            "\"198.51.100.5/28\" has host bits set (did you mean 198.51.100.0/28?)"
        );
        for bad in [
            "192.0.2",
            "192.0.2.10/33",
            "host.example",
            "",
            "192.0.2.10 ",
        ] {
            assert!(parse_source_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_a_full_identify_table() {
        let (identify, refs, errors) = read(
            r#"[identify]
source_addresses = ["192.0.2.10", "198.51.100.0/28"]
tls_fqdn = "SBC1.Acme.fr"
digest_username = "acme-paris"
digest_password = "s3cret"
mutual_tls = true
"#,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let identify = identify.unwrap();
        assert_eq!(identify.source_addresses().len(), 2);
        assert_eq!(identify.tls_fqdn(), Some("sbc1.acme.fr"));
        assert_eq!(identify.digest().unwrap().username(), "acme-paris");
        assert_eq!(identify.digest().unwrap().password(), "s3cret");
        assert!(identify.mutual_tls());
        assert!(!format!("{identify:?}").contains("s3cret"));
        assert_eq!(refs.source_addresses[1].1, 2);
    }

    #[test]
    fn reports_each_mistake() {
        let (identify, _, errors) = read(
            r#"[identify]
source_addresses = ["192.0.2.10", "192.0.2.10", "10.0.0.1/8"]
digest_username = "acme"
tls_fqdn = "not a name"
mutual_tls = "yes"
"#,
        );
        assert!(identify.is_none());
        assert_eq!(
            errors,
            [
                "trunks.toml:2: identify.source_addresses[1]: \"192.0.2.10\" is listed twice",
                "trunks.toml:2: identify.source_addresses[2]: \"10.0.0.1/8\" has host bits set (did you mean 10.0.0.0/8?)",
                "trunks.toml:4: identify.tls_fqdn: \"not a name\" is not a DNS name (expected the SBC's fully qualified name, e.g. sbc.contoso.fr)",
                "trunks.toml:3: identify.digest_username: is set without digest_password (digest_username and digest_password come together)",
                "trunks.toml:5: identify.mutual_tls: expected true or false, found string \"yes\"",
            ]
        );
    }

    #[test]
    fn an_empty_identify_table_is_an_error() {
        let (identify, _, errors) = read("[identify]\nmutual_tls = false\n");
        assert!(identify.is_none());
        assert_eq!(
            errors,
            ["trunks.toml:1: identify: no way to identify the trunk (expected at least one of: source_addresses, tls_fqdn, digest_username)"]
        );
    }

    #[test]
    fn mutual_tls_needs_a_tls_name() {
        let (identify, _, errors) =
            read("[identify]\nsource_addresses = [\"192.0.2.1\"]\nmutual_tls = true\n");
        assert!(identify.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("mutual_tls: is true without tls_fqdn"));
    }

    #[test]
    fn overlapping_blocks_of_different_trunks_conflict() {
        let net = |s: &str| parse_source_address(s).unwrap();
        let a = IdentifyRefs {
            source_addresses: vec![
                (net("10.0.0.0/24"), 3, "identify.source_addresses[0]".into()),
                (net("10.0.0.7"), 3, "identify.source_addresses[1]".into()),
            ],
            tls_fqdn: Some(("sbc.a.fr".into(), 4, "identify.tls_fqdn".into())),
            digest_username: Some(("u".into(), 5, "identify.digest_username".into())),
        };
        let b = IdentifyRefs {
            source_addresses: vec![
                (
                    net("10.0.0.8/29"),
                    12,
                    "identify.source_addresses[0]".into(),
                ),
                (
                    net("10.0.1.0/24"),
                    12,
                    "identify.source_addresses[1]".into(),
                ),
            ],
            tls_fqdn: Some(("sbc.a.fr".into(), 13, "identify.tls_fqdn".into())),
            digest_username: Some(("v".into(), 14, "identify.digest_username".into())),
        };
        let doc = TomlDoc::new("trunks.toml", "");
        check_conflicts(
            &doc,
            &[
                TrunkIdentifiers {
                    entry: "trunk \"a\"",
                    refs: &a,
                },
                TrunkIdentifiers {
                    entry: "trunk \"b\"",
                    refs: &b,
                },
            ],
        );
        let errors: Vec<String> = doc.into_errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errors,
            [
                "trunks.toml:12: trunk \"b\": identify.source_addresses[0]: 10.0.0.8/29 overlaps 10.0.0.0/24 of trunk \"a\" (line 3); a source address must identify a single trunk",
                "trunks.toml:13: trunk \"b\": identify.tls_fqdn: TLS name \"sbc.a.fr\" is already used by trunk \"a\" (line 4)",
            ]
        );
    }
}
