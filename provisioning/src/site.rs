//! Sites: the customer premises a trunk serves, `[[trunk.site]]` entries.
//!
//! ```toml
//! [[trunk.site]]                    # at least one per trunk
//! id = "paris-hq"                   # unique within the trunk
//! name = "Siège Paris"
//! address = "12 rue de la Paix, 75002 Paris"
//! insee_code = "75056"              # INSEE commune code
//! channels = 6                      # optional limit inside the trunk-wide count
//! source_addresses = ["192.0.2.10"] # optional; inside the trunk's identify.source_addresses
//! ```
//!
//! Contract §3.2 lets the customer allot channels per site in a multi-site
//! configuration: a site's `channels` is a limit inside the trunk-wide count, from 1
//! to the largest count the trunk ever has. Calls from a site's `source_addresses`
//! are attributed to it. The INSEE commune code places the site for the numbering
//! rules (ZNE, overseas departments) of the number-portability crate.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::ErrorKind;
use crate::identify::{parse_source_address, show_net};
use crate::names::{is_id, ID_SYNTAX};
use crate::toml_reader::TableReader;

/// A customer site served by a trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    id: String,
    name: String,
    address: String,
    insee_code: String,
    channels: Option<u32>,
    source_addresses: Vec<IpNet>,
}

impl Site {
    /// The site's id, unique within its trunk.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The site's name, for reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The postal address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The INSEE code of the site's commune: five characters, digits or `2A`/`2B`
    /// followed by three digits in Corsica; overseas departments start with `97`.
    pub fn insee_code(&self) -> &str {
        &self.insee_code
    }

    /// True when the site is in an overseas department or collectivity (INSEE code
    /// starting with `97`).
    pub fn is_overseas(&self) -> bool {
        self.insee_code.starts_with("97")
    }

    /// The site's own channel limit inside the trunk-wide count, if any.
    pub fn channels(&self) -> Option<u32> {
        self.channels
    }

    /// The addresses whose calls are attributed to this site; each lies inside
    /// the trunk's `identify.source_addresses`.
    pub fn source_addresses(&self) -> &[IpNet] {
        &self.source_addresses
    }

    /// The prefix length of this site's most specific block containing `ip`.
    pub(crate) fn match_len(&self, ip: IpAddr) -> Option<u8> {
        self.source_addresses
            .iter()
            .filter(|net| net.contains(&ip))
            .map(|net| net.prefix_len())
            .max()
    }
}

/// What a site is checked against: the trunk it belongs to.
pub(crate) struct SiteContext<'c> {
    /// The largest channel count of the trunk, when its channels are valid.
    pub(crate) max_channels: Option<u32>,
    /// The trunk's source addresses, when they are valid.
    pub(crate) trunk_sources: Option<&'c [IpNet]>,
    /// Site ids already seen in this trunk, with their line.
    pub(crate) seen_ids: &'c mut HashMap<String, usize>,
    /// Source addresses already claimed by a site of this trunk, with its id.
    pub(crate) seen_sources: &'c mut HashMap<IpNet, String>,
}

/// Reads one `[[trunk.site]]` entry.
pub(crate) fn read_site(mut r: TableReader<'_, '_>, ctx: SiteContext<'_>) -> Option<Site> {
    let line = r.line();
    let id = r.required("id").and_then(|v| {
        let id = v.str()?;
        if !is_id(id) {
            v.error(format!("{id:?} is not a valid site id ({ID_SYNTAX})"));
            return None;
        }
        if let Some(first) = ctx.seen_ids.get(id) {
            v.error_kind(
                ErrorKind::Conflict,
                format!("duplicate site id {id:?} in this trunk (first defined at line {first})"),
            );
            return None;
        }
        ctx.seen_ids.insert(id.to_owned(), line);
        Some(id.to_owned())
    });
    let name = r.required("name").and_then(|v| v.non_empty_str());
    let address = r.required("address").and_then(|v| v.non_empty_str());
    let insee_code = r.required("insee_code").and_then(|v| {
        let code = v.str()?;
        match check_insee_code(code) {
            Ok(()) => Some(code),
            Err(message) => {
                v.error(message);
                None
            }
        }
    });

    let limit = r.optional("channels");
    let channels = limit.as_ref().and_then(|v| {
        let n = v.integer()?;
        let max = ctx.max_channels?;
        if n < 1 || n > i64::from(max) {
            v.error(format!(
                "{n} is outside 1..={max} (a site's limit lies inside the trunk's largest channel count, {max})"
            ));
            return None;
        }
        u32::try_from(n).ok()
    });
    let channels_ok = limit.is_none() || channels.is_some();

    let mut sources_ok = true;
    let mut source_addresses = Vec::new();
    if let Some(items) = r.optional("source_addresses").and_then(|v| v.array()) {
        for item in items {
            let Some(text) = item.str() else {
                sources_ok = false;
                continue;
            };
            let net = match parse_source_address(text) {
                Ok(net) => net,
                Err(message) => {
                    item.error(message);
                    sources_ok = false;
                    continue;
                }
            };
            if let Some(trunk_sources) = ctx.trunk_sources {
                if !trunk_sources.iter().any(|outer| outer.contains(&net)) {
                    let listed: Vec<String> = trunk_sources.iter().map(show_net).collect();
                    let listed = if listed.is_empty() {
                        "none".to_owned()
                    } else {
                        listed.join(", ")
                    };
                    item.error(format!(
                        "{text:?} is not inside the trunk's identify.source_addresses ({listed})"
                    ));
                    sources_ok = false;
                    continue;
                }
            }
            if let Some(other) = ctx.seen_sources.get(&net) {
                item.error_kind(
                    ErrorKind::Conflict,
                    format!("{text:?} is already claimed by site {other:?} (a call's site must be unambiguous)"),
                );
                sources_ok = false;
                continue;
            }
            source_addresses.push(net);
        }
    }
    for net in &source_addresses {
        ctx.seen_sources
            .insert(*net, id.clone().unwrap_or_default());
    }
    r.finish();

    if !(channels_ok && sources_ok) {
        return None;
    }
    Some(Site {
        id: id?,
        name: name?.to_owned(),
        address: address?.to_owned(),
        insee_code: insee_code?.to_owned(),
        channels,
        source_addresses,
    })
}

/// Checks an INSEE commune code: five digits, or `2A`/`2B` and three digits for
/// Corsica. Department `00` does not exist and `20` was split into `2A` and `2B`
/// in 1976. The error is the message to report.
fn check_insee_code(code: &str) -> Result<(), String> {
    let expected =
        "expected 5 characters: digits, or 2A/2B and 3 digits in Corsica, e.g. 75056 or 2A004";
    let bytes = code.as_bytes();
    let digits_from = |start: usize| bytes.iter().skip(start).all(u8::is_ascii_digit);
    if bytes.len() != 5 {
        return Err(format!(
            "{code:?} is not an INSEE commune code ({expected})"
        ));
    }
    if code.starts_with("2A") || code.starts_with("2B") {
        return if digits_from(2) {
            Ok(())
        } else {
            Err(format!(
                "{code:?} is not an INSEE commune code ({expected})"
            ))
        };
    }
    if code.starts_with("2a") || code.starts_with("2b") {
        return Err(format!(
            "{code:?} is not an INSEE commune code (Corsican codes use an uppercase letter: {}{})",
            code[..2].to_ascii_uppercase(),
            &code[2..]
        ));
    }
    if !digits_from(0) {
        return Err(format!(
            "{code:?} is not an INSEE commune code ({expected})"
        ));
    }
    if code.starts_with("20") {
        return Err(format!(
            "{code:?} uses the former Corsican department 20 (use 2A or 2B)"
        ));
    }
    if code.starts_with("00") {
        return Err(format!(
            "{code:?} is not an INSEE commune code (there is no department 00)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toml_reader::TomlDoc;

    fn read(text: &str, max: Option<u32>, trunk: Option<&[IpNet]>) -> (Option<Site>, Vec<String>) {
        let doc = TomlDoc::new("trunks.toml", text);
        let root = doc.parse(text);
        let mut top = doc.root(&root);
        let mut seen = HashMap::new();
        seen.insert("taken".to_owned(), 1);
        let mut seen_sources = HashMap::new();
        let site = top.required("site").and_then(|v| v.table()).and_then(|r| {
            read_site(
                r,
                SiteContext {
                    max_channels: max,
                    trunk_sources: trunk,
                    seen_ids: &mut seen,
                    seen_sources: &mut seen_sources,
                },
            )
        });
        top.finish();
        let errors = doc.into_errors().iter().map(|e| e.to_string()).collect();
        (site, errors)
    }

    #[test]
    fn insee_codes() {
        for good in [
            "75056", "69123", "44109", "97411", "2A004", "2B033", "01001",
        ] {
            assert_eq!(check_insee_code(good), Ok(()), "{good}");
        }
        for bad in [
            "7505",
            "750566",
            "7505A",
            "2C004",
            "2A0O4",
            "",
            "九七四一一",
        ] {
            assert!(check_insee_code(bad).is_err(), "{bad}");
        }
        assert!(check_insee_code("2a004").unwrap_err().contains("2A004"));
        assert!(check_insee_code("20004")
            .unwrap_err()
            .contains("use 2A or 2B"));
        assert!(check_insee_code("00100").is_err());
    }

    #[test]
    fn reads_a_site_with_limits_and_addresses() {
        let trunk = [parse_source_address("127.0.0.20/30").unwrap()];
        let (site, errors) = read(
            "[site]\nid = \"paris-hq\"\nname = \"Siège Paris\"\naddress = \"12 rue de la Paix\"\ninsee_code = \"97411\"\nchannels = 12\nsource_addresses = [\"127.0.0.21\"]\n",
            Some(20),
            Some(&trunk),
        );
        assert!(errors.is_empty(), "{errors:?}");
        let site = site.unwrap();
        assert_eq!(site.id(), "paris-hq");
        assert_eq!(site.channels(), Some(12));
        assert!(site.is_overseas());
        assert_eq!(site.match_len("127.0.0.21".parse().unwrap()), Some(32));
        assert_eq!(site.match_len("127.0.0.22".parse().unwrap()), None);
    }

    #[test]
    fn reports_limits_addresses_and_duplicate_ids() {
        let trunk = [parse_source_address("127.0.0.20/30").unwrap()];
        let (site, errors) = read(
            "[site]\nid = \"taken\"\nname = \"x\"\naddress = \"y\"\ninsee_code = \"2B033\"\nchannels = 21\nsource_addresses = [\"127.0.0.30\"]\n",
            Some(20),
            Some(&trunk),
        );
        assert!(site.is_none());
        assert_eq!(
            errors,
            [
                "trunks.toml:2: site.id: duplicate site id \"taken\" in this trunk (first defined at line 1)",
                "trunks.toml:6: site.channels: 21 is outside 1..=20 (a site's limit lies inside the trunk's largest channel count, 20)",
                "trunks.toml:7: site.source_addresses[0]: \"127.0.0.30\" is not inside the trunk's identify.source_addresses (127.0.0.20/30)",
            ]
        );
    }

    #[test]
    fn a_zero_site_limit_is_refused() {
        let (_, errors) = read(
            "[site]\nid = \"a\"\nname = \"x\"\naddress = \"y\"\ninsee_code = \"75056\"\nchannels = 0\n",
            Some(20),
            None,
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("0 is outside 1..=20"));
    }
}
