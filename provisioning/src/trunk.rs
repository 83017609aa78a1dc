//! Trunks: `trunks.toml`, one `[[trunk]]` entry per SIP trunk sold.
//!
//! ```toml
//! [[trunk]]
//! id = "acme-paris"                 # required, [a-z0-9][a-z0-9_-]*, unique
//! customer = "acme"                 # required, an id from customers.toml
//! plan = "fixed_mobile_intl"        # required: fixed | fixed_mobile_intl
//! international_destinations = ["+32", "+41"]  # "+" and 1-6 digits; fixed_mobile_intl only
//! channels = [ { from = 2024-01-01, channels = 10 }, { from = 2026-10-16, channels = 20 } ]
//!
//! [trunk.identify]                  # required, see the identify module
//! source_addresses = ["192.0.2.10"]
//!
//! [trunk.inbound]                   # required: where calls to the customer's numbers go
//! target = "192.0.2.10:5060"        # host:port; IPv4, [IPv6] or DNS name; port 1-65535
//! transport = "udp"                 # udp | tcp | tls
//!
//! [[trunk.site]]                    # at least one, see the site module
//! id = "paris-hq"
//! name = "Siège Paris"
//! address = "12 rue de la Paix, 75002 Paris"
//! insee_code = "75056"
//!
//! [trunk.fraud_caps]                # optional, see the fraud_caps module
//! international = { concurrent = 4, per_minute = 10 }
//!
//! [[trunk.suspension]]              # optional: the unlimited plan is suspended
//! from = 2026-10-10                 # date (00:00 Paris) or date-time with offset
//! to = 2026-10-20                   # exclusive, after from
//! reason = "fraud suspicion, ticket 4711"
//! ```
//!
//! This module owns the trunk entry and the rules about one trunk: its plan, its
//! channel count over time (contract §3.2: inbound and outbound calls share it; a
//! change takes effect at 00:00 Europe/Paris on its date; 0 means no service from
//! that date), where inbound calls go, and the periods when the unlimited plan is
//! suspended (contract §7.2: every call of the trunk is then billed per minute).
//! Identification and sites have their own modules.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, NaiveDate, Utc};

use crate::calendar::paris_date;
use crate::error::ErrorKind;
use crate::fraud_caps::{read_fraud_caps, FraudCaps};
use crate::identify::{read_identify, Identify, IdentifyRefs};
use crate::names::{is_dns_name, is_e164_prefix, is_id, ID_SYNTAX};
use crate::site::{read_site, Site, SiteContext};
use crate::toml_reader::{TableReader, TomlDoc};

/// The most channels one trunk can have.
pub const MAX_CHANNELS: u32 = 100_000;

/// The unlimited plan a trunk is sold with (contract §7.2). Which destinations each
/// plan covers is decided by the rating crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Plan {
    /// `fixed`: unlimited calls to national fixed numbers (01-05, 09).
    Fixed,
    /// `fixed_mobile_intl`: national fixed and mobile numbers, plus the
    /// international destinations listed on the order
    /// ([`Trunk::international_destinations`]).
    FixedMobileIntl,
}

impl Plan {
    /// Every plan.
    pub const ALL: [Plan; 2] = [Plan::Fixed, Plan::FixedMobileIntl];

    /// The name used in `trunks.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Fixed => "fixed",
            Plan::FixedMobileIntl => "fixed_mobile_intl",
        }
    }

    /// The plan with the given file name, if any.
    pub fn from_name(name: &str) -> Option<Plan> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel count taking effect at 00:00 Europe/Paris on a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelChange {
    from: NaiveDate,
    channels: u32,
}

impl ChannelChange {
    /// The Paris calendar date the count takes effect (at 00:00 Paris time).
    pub fn from(&self) -> NaiveDate {
        self.from
    }

    /// The number of simultaneous calls, inbound and outbound together; 0 means no
    /// service.
    pub fn channels(&self) -> u32 {
        self.channels
    }
}

/// Where calls to the customer's numbers are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    target: InboundTarget,
    transport: Transport,
}

impl Inbound {
    /// The customer's PBX or SBC.
    pub fn target(&self) -> &InboundTarget {
        &self.target
    }

    /// The SIP transport to reach it with.
    pub fn transport(&self) -> Transport {
        self.transport
    }
}

/// A host and port, written `192.0.2.10:5060`, `[2001:db8::1]:5060` or
/// `sbc.contoso.fr:5061`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InboundTarget {
    host: Host,
    port: u16,
}

impl InboundTarget {
    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port, 1 to 65535.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for InboundTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            Host::Dns(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

/// The host part of an [`InboundTarget`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IP address.
    Ip(IpAddr),
    /// A DNS name, in lowercase, resolved by the SIP edge (RFC 3263).
    Dns(String),
}

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `udp`
    Udp,
    /// `tcp`
    Tcp,
    /// `tls` (SIP over TLS, as Teams Direct Routing requires)
    Tls,
}

impl Transport {
    /// The name used in `trunks.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    fn from_name(name: &str) -> Option<Transport> {
        [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A period when the trunk's unlimited plan is suspended: every call starting in
/// `[from, to)` is billed per minute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Suspension {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    reason: String,
}

impl Suspension {
    /// The first instant of the suspension (a date means 00:00 Europe/Paris).
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    /// The end of the suspension, exclusive.
    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }

    /// Why the plan is suspended, for the billing team and the customer.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// True when `instant` lies in `[from, to)`.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.from <= instant && instant < self.to
    }
}

/// A SIP trunk sold to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    id: String,
    customer: String,
    plan: Plan,
    international_destinations: Vec<String>,
    channels: Vec<ChannelChange>,
    identify: Identify,
    inbound: Inbound,
    sites: Vec<Site>,
    suspensions: Vec<Suspension>,
    fraud_caps: FraudCaps,
}

impl Trunk {
    /// The trunk's id, unique in `trunks.toml`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id of the customer the trunk is sold to.
    pub fn customer_id(&self) -> &str {
        &self.customer
    }

    /// The unlimited plan.
    pub fn plan(&self) -> Plan {
        self.plan
    }

    /// The E.164 prefixes of the international destinations on the order (`+32`,
    /// `+41`), in file order; always empty for [`Plan::Fixed`].
    pub fn international_destinations(&self) -> &[String] {
        &self.international_destinations
    }

    /// Every channel count with the date it takes effect, dates strictly increasing.
    pub fn channel_changes(&self) -> &[ChannelChange] {
        &self.channels
    }

    /// The channel count in force on a Paris calendar date; 0 before the first
    /// change.
    pub fn channels_on(&self, date: NaiveDate) -> u32 {
        let in_force = self.channels.partition_point(|c| c.from <= date);
        match in_force.checked_sub(1) {
            Some(i) => self.channels[i].channels,
            None => 0,
        }
    }

    /// The channel count in force at an instant (on its Paris calendar date).
    pub fn channels_at(&self, instant: DateTime<Utc>) -> u32 {
        self.channels_on(paris_date(instant))
    }

    /// The largest channel count the trunk ever has: the bound of per-site limits.
    pub fn max_channels(&self) -> u32 {
        self.channels.iter().map(|c| c.channels).max().unwrap_or(0)
    }

    /// How the trunk's calls are recognised.
    pub fn identify(&self) -> &Identify {
        &self.identify
    }

    /// Where inbound calls go.
    pub fn inbound(&self) -> &Inbound {
        &self.inbound
    }

    /// The sites, in file order (at least one).
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// The site with this id.
    pub fn site(&self, id: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.id() == id)
    }

    /// The site a call from `ip` is attributed to: the one whose source addresses
    /// contain it, the most specific block winning.
    pub fn site_for_source(&self, ip: IpAddr) -> Option<&Site> {
        let ip = ip.to_canonical();
        self.sites
            .iter()
            .filter_map(|site| site.match_len(ip).map(|len| (len, site)))
            .max_by_key(|(len, _)| *len)
            .map(|(_, site)| site)
    }

    /// The toll-fraud caps per destination class (`[trunk.fraud_caps]`; none when
    /// absent).
    pub fn fraud_caps(&self) -> &FraudCaps {
        &self.fraud_caps
    }

    /// The suspension periods, in file order.
    pub fn suspensions(&self) -> &[Suspension] {
        &self.suspensions
    }

    /// The suspension in force at `instant`, if any (the first in file order when
    /// several overlap).
    pub fn suspension_at(&self, instant: DateTime<Utc>) -> Option<&Suspension> {
        self.suspensions.iter().find(|s| s.contains(instant))
    }
}

/// What was read from one `[[trunk]]` entry, valid or not.
pub(crate) struct TrunkEntry {
    /// The trunk, when the entry has no error.
    pub(crate) trunk: Option<Trunk>,
    /// The entry's name in error messages: `trunk "acme-paris"` or `trunk #3`.
    pub(crate) entry: String,
    /// The identifiers that could be read, for the cross-trunk checks.
    pub(crate) identify: IdentifyRefs,
}

/// Reads every `[[trunk]]` entry of `trunks.toml`. `customer_ids` are the ids
/// defined in `customers.toml`, or `None` when that file could not be read (then
/// customer references are not checked).
pub(crate) fn read_trunks(
    doc: &TomlDoc,
    text: &str,
    customer_ids: Option<&HashMap<String, usize>>,
) -> Vec<TrunkEntry> {
    let root = doc.parse(text);
    let mut top = doc.root(&root);
    let mut seen_ids = HashMap::new();
    let mut entries = Vec::new();
    if let Some(values) = top.optional("trunk").and_then(|v| v.array()) {
        for (index, value) in values.iter().enumerate() {
            if let Some(r) = value.entry_table(format!("trunk #{}", index + 1)) {
                entries.push(read_trunk(r, &mut seen_ids, customer_ids));
            }
        }
    }
    top.finish();
    entries
}

fn read_trunk(
    mut r: TableReader<'_, '_>,
    seen_ids: &mut HashMap<String, usize>,
    customer_ids: Option<&HashMap<String, usize>>,
) -> TrunkEntry {
    let line = r.line();
    let id = r.required("id").and_then(|v| {
        let id = v.str()?;
        if !is_id(id) {
            v.error(format!("{id:?} is not a valid id ({ID_SYNTAX})"));
            return None;
        }
        if let Some(first) = seen_ids.get(id) {
            v.error_kind(
                ErrorKind::Conflict,
                format!("duplicate trunk id {id:?} (first defined at line {first})"),
            );
            return None;
        }
        seen_ids.insert(id.to_owned(), line);
        Some(id.to_owned())
    });
    if let Some(id) = &id {
        r.set_entry(format!("trunk {id:?}"));
    }

    let customer = r.required("customer").and_then(|v| {
        let customer = v.str()?;
        if let Some(known) = customer_ids {
            if !known.contains_key(customer) {
                v.error_kind(
                    ErrorKind::UnknownReference,
                    format!("unknown customer {customer:?} (not defined in customers.toml)"),
                );
                return None;
            }
        }
        Some(customer.to_owned())
    });

    let plan = r.required("plan").and_then(|v| {
        let name = v.str()?;
        let plan = Plan::from_name(name);
        if plan.is_none() {
            v.error(format!(
                "{name:?} is not a plan (expected one of: fixed, fixed_mobile_intl)"
            ));
        }
        plan
    });

    let intl = r.optional("international_destinations");
    let international_destinations = intl.as_ref().and_then(|v| {
        let mut prefixes: Vec<String> = Vec::new();
        let mut valid = true;
        for item in v.array()? {
            let Some(prefix) = item.str() else {
                valid = false;
                continue;
            };
            if !is_e164_prefix(prefix, 6) {
                item.error(format!(
                    "{prefix:?} is not an international destination prefix (expected \"+\" and 1 to 6 digits, e.g. \"+32\")"
                ));
                valid = false;
            } else if prefixes.iter().any(|p| p == prefix) {
                item.error_kind(ErrorKind::Conflict, format!("{prefix:?} is listed twice"));
                valid = false;
            } else {
                prefixes.push(prefix.to_owned());
            }
        }
        if plan == Some(Plan::Fixed) && !prefixes.is_empty() {
            v.error(
                "international destinations are only allowed with plan \"fixed_mobile_intl\" (this trunk's plan is \"fixed\")",
            );
            valid = false;
        }
        valid.then_some(prefixes)
    });
    let intl_ok = intl.is_none() || international_destinations.is_some();

    let channels = r.required("channels").and_then(|v| read_channels(&v));
    let max_channels = channels
        .as_ref()
        .map(|c| c.iter().map(|c| c.channels).max().unwrap_or(0));

    let (identify, identify_refs) = match r.required("identify").and_then(|v| v.table()) {
        Some(t) => read_identify(t),
        None => (None, IdentifyRefs::default()),
    };

    let inbound = r
        .required("inbound")
        .and_then(|v| v.table())
        .and_then(read_inbound);

    let mut sites = Vec::new();
    let mut sites_ok = true;
    match r.optional("site").and_then(|v| v.array()) {
        Some(values) if !values.is_empty() => {
            let mut site_ids = HashMap::new();
            let mut site_sources = HashMap::new();
            let trunk_sources = identify.as_ref().map(|i| i.source_addresses());
            for value in values {
                let site = value.table().and_then(|t| {
                    read_site(
                        t,
                        SiteContext {
                            max_channels,
                            trunk_sources,
                            seen_ids: &mut site_ids,
                            seen_sources: &mut site_sources,
                        },
                    )
                });
                match site {
                    Some(site) => sites.push(site),
                    None => sites_ok = false,
                }
            }
        }
        Some(_) => {
            r.error(
                ErrorKind::MissingField,
                "site is empty (expected at least one [[trunk.site]])",
            );
            sites_ok = false;
        }
        None => {
            r.error(
                ErrorKind::MissingField,
                "missing required field \"site\" (expected at least one [[trunk.site]])",
            );
            sites_ok = false;
        }
    }

    let mut suspensions = Vec::new();
    let mut suspensions_ok = true;
    if let Some(values) = r.optional("suspension").and_then(|v| v.array()) {
        for value in values {
            match value.table().and_then(read_suspension) {
                Some(s) => suspensions.push(s),
                None => suspensions_ok = false,
            }
        }
    }
    let fraud_caps_value = r.optional("fraud_caps");
    let fraud_caps = match &fraud_caps_value {
        Some(v) => v.table().and_then(read_fraud_caps),
        None => Some(FraudCaps::default()),
    };
    let entry = r.entry().to_owned();
    r.finish();

    let trunk = match (id, customer, plan, channels, identify, inbound) {
        (Some(id), Some(customer), Some(plan), Some(channels), Some(identify), Some(inbound))
            if intl_ok && sites_ok && suspensions_ok && fraud_caps.is_some() =>
        {
            Some(Trunk {
                id,
                customer,
                plan,
                international_destinations: international_destinations.unwrap_or_default(),
                channels,
                identify,
                inbound,
                sites,
                suspensions,
                fraud_caps: fraud_caps.unwrap_or_default(),
            })
        }
        _ => None,
    };
    TrunkEntry {
        trunk,
        entry,
        identify: identify_refs,
    }
}

/// Reads the `channels` array: `{ from = DATE, channels = N }` entries, dates
/// strictly increasing, counts 0..=[`MAX_CHANNELS`].
fn read_channels(v: &crate::toml_reader::ValueReader<'_, '_>) -> Option<Vec<ChannelChange>> {
    let items = v.array()?;
    if items.is_empty() {
        v.error("is empty (expected at least one { from = YYYY-MM-DD, channels = N } entry)");
        return None;
    }
    let mut changes: Vec<ChannelChange> = Vec::new();
    let mut valid = true;
    for item in items {
        let Some(mut t) = item.table() else {
            valid = false;
            continue;
        };
        let from = t.required("from").and_then(|v| {
            let date = v.date()?;
            if let Some(previous) = changes.last() {
                if date <= previous.from {
                    v.error(format!(
                        "{date} is not after the previous change's date {} (dates must strictly increase)",
                        previous.from
                    ));
                    return None;
                }
            }
            Some(date)
        });
        let channels = t.required("channels").and_then(|v| {
            let n = v.integer()?;
            match u32::try_from(n) {
                Ok(n) if n <= MAX_CHANNELS => Some(n),
                _ => {
                    v.error(format!(
                        "{n} is out of range (expected 0..={MAX_CHANNELS}; 0 means no service from that date)"
                    ));
                    None
                }
            }
        });
        t.finish();
        match (from, channels) {
            (Some(from), Some(channels)) => changes.push(ChannelChange { from, channels }),
            _ => valid = false,
        }
    }
    valid.then_some(changes)
}

fn read_inbound(mut r: TableReader<'_, '_>) -> Option<Inbound> {
    let target = r.required("target").and_then(|v| {
        let text = v.str()?;
        let target = parse_target(text);
        if target.is_none() {
            v.error(format!(
                "{text:?} is not host:port (expected e.g. 192.0.2.10:5060, [2001:db8::1]:5060 or sbc.contoso.fr:5061, port 1-65535)"
            ));
        }
        target
    });
    let transport = r.required("transport").and_then(|v| {
        let name = v.str()?;
        let transport = Transport::from_name(name);
        if transport.is_none() {
            v.error(format!(
                "{name:?} is not a transport (expected one of: udp, tcp, tls)"
            ));
        }
        transport
    });
    r.finish();
    Some(Inbound {
        target: target?,
        transport: transport?,
    })
}

/// Parses `host:port`, with IPv6 hosts in brackets.
fn parse_target(text: &str) -> Option<InboundTarget> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:")?;
        (Host::Ip(IpAddr::V6(ip.parse::<Ipv6Addr>().ok()?)), port)
    } else {
        let (host, port) = text.rsplit_once(':')?;
        let host = if let Ok(ip) = host.parse::<Ipv4Addr>() {
            Host::Ip(IpAddr::V4(ip))
        } else if is_dns_name(host) {
            Host::Dns(host.to_ascii_lowercase())
        } else {
            return None;
        };
        (host, port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok()?;
    (port != 0).then_some(InboundTarget { host, port })
}

fn read_suspension(mut r: TableReader<'_, '_>) -> Option<Suspension> {
    let from_value = r.required("from");
    let from = from_value.as_ref().and_then(|v| v.instant());
    let to = r.required("to").and_then(|v| {
        let to = v.instant()?;
        if let (Some(from), Some(from_value)) = (from, &from_value) {
            if to <= from {
                v.error(format!(
                    "{} is not after from {} (to is exclusive and must be after from)",
                    v.shown(),
                    from_value.shown()
                ));
                return None;
            }
        }
        Some(to)
    });
    let reason = r.required("reason").and_then(|v| v.non_empty_str());
    r.finish();
    Some(Suspension {
        from: from?,
        to: to?,
        reason: reason?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const VALID: &str = r#"
[[trunk]]
id = "acme-multisite"
customer = "acme"
plan = "fixed_mobile_intl"
international_destinations = ["+32", "+41"]
channels = [
  { from = 2024-01-01, channels = 20 },
  { from = 2026-10-16, channels = 30 },
]

[trunk.identify]
source_addresses = ["127.0.0.20/30"]

[trunk.inbound]
target = "[2001:db8::1]:5060"
transport = "udp"

[[trunk.site]]
id = "paris-hq"
name = "Siège Paris"
address = "12 rue de la Paix, 75002 Paris"
insee_code = "75056"
channels = 20
source_addresses = ["127.0.0.21"]

[[trunk.site]]
id = "lyon"
name = "Agence Lyon"
address = "1 place Bellecour, 69002 Lyon"
insee_code = "69123"
source_addresses = ["127.0.0.22"]

[[trunk.suspension]]
from = 2026-09-10
to = "2026-09-20T12:00:00+02:00"
reason = "fraud suspicion, ticket 4711"
"#;

    fn customers() -> HashMap<String, usize> {
        HashMap::from([("acme".to_owned(), 1)])
    }

    fn read(text: &str) -> (Vec<TrunkEntry>, Vec<String>) {
        let doc = TomlDoc::new("trunks.toml", text);
        let entries = read_trunks(&doc, text, Some(&customers()));
        let errors = doc.into_errors().iter().map(|e| e.to_string()).collect();
        (entries, errors)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn valid_trunk() -> Trunk {
        let (mut entries, errors) = read(VALID);
        assert!(errors.is_empty(), "{errors:?}");
        entries.remove(0).trunk.unwrap()
    }

    #[test]
    fn reads_a_complete_trunk() {
        let trunk = valid_trunk();
        assert_eq!(trunk.id(), "acme-multisite");
        assert_eq!(trunk.customer_id(), "acme");
        assert_eq!(trunk.plan(), Plan::FixedMobileIntl);
        assert_eq!(trunk.international_destinations(), ["+32", "+41"]);
        assert_eq!(trunk.max_channels(), 30);
        assert_eq!(trunk.sites().len(), 2);
        assert_eq!(trunk.site("lyon").unwrap().insee_code(), "69123");
        assert_eq!(trunk.inbound().target().to_string(), "[2001:db8::1]:5060");
        assert_eq!(trunk.inbound().transport(), Transport::Udp);
    }

    #[test]
    fn channel_count_follows_paris_dates() {
        let trunk = valid_trunk();
        assert_eq!(trunk.channels_on(date(2023, 12, 31)), 0);
        assert_eq!(trunk.channels_on(date(2024, 1, 1)), 20);
        assert_eq!(trunk.channels_on(date(2026, 10, 15)), 20);
        assert_eq!(trunk.channels_on(date(2026, 10, 16)), 30);
        // 00:00 Paris on 16 October 2026 is 22:00 UTC on the 15th (summer time).
        let before = Utc.with_ymd_and_hms(2026, 10, 15, 21, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 10, 15, 22, 0, 0).unwrap();
        assert_eq!(trunk.channels_at(before), 20);
        assert_eq!(trunk.channels_at(after), 30);
    }

    #[test]
    fn suspensions_are_half_open() {
        let trunk = valid_trunk();
        let from = Utc.with_ymd_and_hms(2026, 9, 9, 22, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 9, 20, 10, 0, 0).unwrap();
        let s = trunk.suspension_at(from).unwrap();
        assert_eq!((s.from(), s.to()), (from, to));
        assert_eq!(s.reason(), "fraud suspicion, ticket 4711");
        assert!(trunk
            .suspension_at(from - chrono::Duration::seconds(1))
            .is_none());
        assert!(trunk
            .suspension_at(to - chrono::Duration::seconds(1))
            .is_some());
        assert!(trunk.suspension_at(to).is_none());
    }

    #[test]
    fn sites_are_found_by_source_address() {
        let trunk = valid_trunk();
        let site = |ip: &str| trunk.site_for_source(ip.parse().unwrap()).map(|s| s.id());
        assert_eq!(site("127.0.0.21"), Some("paris-hq"));
        assert_eq!(site("::ffff:127.0.0.22"), Some("lyon"));
        assert_eq!(site("127.0.0.23"), None);
    }

    #[test]
    fn inbound_targets() {
        let t = |s: &str| parse_target(s).map(|t| t.to_string());
        assert_eq!(t("192.0.2.10:5060").as_deref(), Some("192.0.2.10:5060"));
        assert_eq!(
            t("SBC.Contoso.fr:5061").as_deref(),
            Some("sbc.contoso.fr:5061")
        );
        assert_eq!(
            t("[2001:db8::1]:5060").as_deref(),
            Some("[2001:db8::1]:5060")
        );
        for bad in [
            "192.0.2.10",
            "192.0.2.10:0",
            "192.0.2.10:65536",
            "192.0.2.10:+50",
            "2001:db8::1:5060",
            "[2001:db8::1]",
            "localhost:5060",
            "999.0.2.10:5060",
            ":5060",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn reports_every_mistake_of_a_trunk() {
        let text = r#"[[trunk]]
id = "bad"
customer = "nobody"
plan = "fixed"
international_destinations = ["+44", "44"]
channels = [
  { from = 2026-10-16, channels = 10 },
  { from = 2026-01-01, channels = -1 },
]
chanels = 3

[trunk.identify]
digest_username = "bad"

[trunk.inbound]
target = "192.0.2.10"
transport = "sctp"

[[trunk.suspension]]
from = 2026-09-20
to = 2026-09-10
reason = ""
"#;
        let (entries, errors) = read(text);
        assert!(entries[0].trunk.is_none());
        let expected = [
            "trunks.toml:3: trunk \"bad\": customer: unknown customer \"nobody\" (not defined in customers.toml)",
            "trunks.toml:5: trunk \"bad\": international_destinations[1]: \"44\" is not an international destination prefix",
            "trunks.toml:5: trunk \"bad\": international_destinations: international destinations are only allowed with plan \"fixed_mobile_intl\"",
            "trunks.toml:8: trunk \"bad\": channels[1].from: 2026-01-01 is not after the previous change's date 2026-10-16",
            "trunks.toml:8: trunk \"bad\": channels[1].channels: -1 is out of range (expected 0..=100000",
            "trunks.toml:13: trunk \"bad\": identify.digest_username: is set without digest_password",
            "trunks.toml:16: trunk \"bad\": inbound.target: \"192.0.2.10\" is not host:port",
            "trunks.toml:17: trunk \"bad\": inbound.transport: \"sctp\" is not a transport",
            "trunks.toml:1: trunk \"bad\": missing required field \"site\"",
            "trunks.toml:21: trunk \"bad\": suspension[0].to: 2026-09-10 is not after from 2026-09-20",
            "trunks.toml:22: trunk \"bad\": suspension[0].reason: is empty",
            "trunks.toml:10: trunk \"bad\": unknown field \"chanels\" (expected one of: id, customer, plan, international_destinations, channels, identify, inbound, site, suspension, fraud_caps)",
        ];
        for phrase in expected {
            assert!(
                errors.iter().any(|e| e.starts_with(phrase)),
                "missing {phrase:?} in:\n{}",
                errors.join("\n")
            );
        }
        assert_eq!(errors.len(), expected.len(), "{}", errors.join("\n"));
    }

    #[test]
    fn duplicate_trunk_ids_are_reported() {
        let text = format!("{VALID}\n{}", VALID.replace("[2001:db8::1]", "192.0.2.1"));
        let (entries, errors) = read(&text);
        assert!(entries[0].trunk.is_some());
        assert!(entries[1].trunk.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains(
                "trunk #2: id: duplicate trunk id \"acme-multisite\" (first defined at line 2)"
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn a_site_limit_above_the_trunk_count_is_reported() {
        let text = VALID.replace("channels = 20\nsource", "channels = 31\nsource");
        let (entries, errors) = read(&text);
        assert!(entries[0].trunk.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("site[0].channels: 31 is outside 1..=30"));
    }

    #[test]
    fn two_sites_claiming_one_address_conflict() {
        let text = VALID.replace("[\"127.0.0.22\"]", "[\"127.0.0.21\"]");
        let (_, errors) = read(&text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("site[1].source_addresses[0]: \"127.0.0.21\" is already claimed by site \"paris-hq\""),
            "{errors:?}"
        );
    }

    #[test]
    fn fraud_caps_are_read_per_class() {
        assert_eq!(valid_trunk().fraud_caps(), &FraudCaps::default());
        let text = VALID.replace(
            "[trunk.inbound]",
            "[trunk.fraud_caps]\ninternational = { concurrent = 4, per_minute = 10 }\npremium = { concurrent = 0 }\n\n[trunk.inbound]",
        );
        let (mut entries, errors) = read(&text);
        assert!(errors.is_empty(), "{errors:?}");
        let trunk = entries.remove(0).trunk.unwrap();
        let caps = trunk.fraud_caps();
        assert_eq!(caps.international().concurrent(), Some(4));
        assert_eq!(caps.international().per_minute(), Some(10));
        assert_eq!(caps.premium().concurrent(), Some(0));
        assert_eq!(caps.premium().per_minute(), None);
        assert_eq!(caps.other().concurrent(), None);
    }

    #[test]
    fn fraud_cap_mistakes_are_reported_with_their_line() {
        let text = VALID.replace(
            "[trunk.inbound]",
            "[trunk.fraud_caps]\ninternational = { concurrent = -1, per_minut = 10 }\nsatellite = { concurrent = 1 }\npremium = 3\n\n[trunk.inbound]",
        );
        let (entries, errors) = read(&text);
        assert!(entries[0].trunk.is_none());
        let all = errors.join("\n");
        for phrase in [
            "trunks.toml:16: trunk \"acme-multisite\": fraud_caps.international.concurrent: -1 is out of range (expected 0..=1000000",
            "fraud_caps.international: unknown field \"per_minut\" (expected one of: concurrent, per_minute)",
            "fraud_caps: unknown field \"satellite\" (expected one of: international, premium, other)",
            "fraud_caps.premium: expected a table",
        ] {
            assert!(all.contains(phrase), "missing {phrase:?} in:\n{all}");
        }
    }
}
