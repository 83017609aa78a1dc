//! Ported-number routing: which operator serves a number now.
//!
//! A number keeps its digits when it is ported, so the block holder (MAJNUM) is no
//! longer the operator to route to. Operators exchange the list of ported numbers
//! with the routing prefix of the operator now serving each one; ARCEP's MAJPORTA
//! file says which operator each routing prefix belongs to. This module imports
//! such a list and answers, in this order:
//!
//! 1. the provider itself, for a number in its inventory that it serves
//!    (`available`, `reserved`, `assigned`, `porting_out` until the port,
//!    `quarantined`); a `porting_in` number is still served by its donor;
//! 2. the recipient of the provider's own completed port-out of the number
//!    (`released` with its request);
//! 3. the operator of the number's routing prefix in the ported-number list
//!    (MAJPORTA);
//! 4. the holder of the number's block (MAJNUM).
//!
//! The list is a CSV file read like ARCEP's (ISO-8859-1 or UTF-8, `;` separated,
//! columns by header name):
//!
//! ```text
//! Numero;Code_Portabilite
//! 0145233050;10002
//! ```
//!
//! (`Numéro`/`number`/`NDI` for the number, national or E.164;
//! `Code_Portabilite`/`Préfixe`/`routing_prefix` for the prefix). A number listed
//! twice keeps its last row: lists are appended in date order.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::arcep::reader::{decode, read_rows, Column};
use crate::arcep::{ArcepData, ArcepError, BadRow};
use crate::inventory::{Inventory, NumberState};
use crate::number::E164;
use crate::porting::{Direction, PortState};

/// Ported numbers and their routing prefix.
#[derive(Debug, Clone, Default)]
pub struct PortedNumbers {
    prefixes: HashMap<E164, String>,
}

/// Why an operator was found to serve a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServedBy {
    /// The number is in the provider's inventory and served by it.
    Provider,
    /// The provider ported it out: the recipient of that port-out.
    PortedOut,
    /// The ported-number list gives its routing prefix.
    PortedList,
    /// Not ported: the block holder (MAJNUM).
    BlockHolder,
}

impl ServedBy {
    /// `provider`, `ported_out`, `ported_list`, `block_holder`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServedBy::Provider => "provider",
            ServedBy::PortedOut => "ported_out",
            ServedBy::PortedList => "ported_list",
            ServedBy::BlockHolder => "block_holder",
        }
    }
}

impl fmt::Display for ServedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operator serving a number now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving {
    /// Its ARCEP mnemonic; empty when a routing prefix is not in MAJPORTA.
    pub operator: String,
    /// How it was found.
    pub by: ServedBy,
    /// The routing prefix, for a ported number.
    pub routing_prefix: Option<String>,
}

impl PortedNumbers {
    /// An empty list.
    pub fn new() -> PortedNumbers {
        PortedNumbers::default()
    }

    /// Reads a list file; bad rows are returned with their line and skipped.
    ///
    /// # Errors
    ///
    /// The file cannot be read.
    pub fn import(path: &Path) -> Result<(PortedNumbers, Vec<BadRow>), ArcepError> {
        let bytes = std::fs::read(path).map_err(|source| ArcepError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut list = PortedNumbers::new();
        let bad = list.import_bytes(&bytes);
        Ok((list, bad))
    }

    /// Adds the rows of a list file's bytes; returns the bad rows.
    pub fn import_bytes(&mut self, bytes: &[u8]) -> Vec<BadRow> {
        let text = decode(bytes);
        let cols = [
            Column {
                role: "number",
                names: &["numero", "number", "ndi", "numeroporte", "e164"],
                required: true,
            },
            Column {
                role: "routing prefix",
                names: &[
                    "codeportabilite",
                    "prefixeportabilite",
                    "prefixe",
                    "routingprefix",
                    "prefix",
                ],
                required: true,
            },
        ];
        let mut bad = Vec::new();
        read_rows(&text, &cols, &mut bad, |_, v| {
            let number = crate::default_plan()
                .parse_e164(v[0])
                .map_err(|e| e.to_string())?;
            let prefix = v[1];
            if prefix.is_empty()
                || prefix.len() > 14
                || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(format!(
                    "bad routing prefix {prefix:?}: 1 to 14 letters or digits expected"
                ));
            }
            self.prefixes.insert(number, prefix.to_owned());
            Ok(())
        });
        bad
    }

    /// The routing prefix of a ported number.
    pub fn prefix_of(&self, number: &E164) -> Option<&str> {
        self.prefixes.get(number).map(String::as_str)
    }

    /// How many numbers the list has.
    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

/// The operator serving `number` now: the provider (from its inventory; named by
/// the first of its `operator_mnemonics`), the ported-number list, or the block
/// holder; `None` when nothing is known.
pub fn serving_operator(
    number: &E164,
    inventory: Option<&Inventory>,
    ported: Option<&PortedNumbers>,
    arcep: Option<&ArcepData>,
) -> Option<Serving> {
    if let Some(inv) = inventory {
        let ours = inv.entry(number).is_some_and(|e| {
            matches!(
                e.state,
                NumberState::Available
                    | NumberState::Reserved
                    | NumberState::Assigned
                    | NumberState::PortingOut
                    | NumberState::Quarantined
            )
        });
        let ported_out = inv
            .entry(number)
            .filter(|e| e.state == NumberState::Released)
            .and_then(|e| inv.request(e.request.as_deref()?))
            .filter(|r| r.direction == Direction::Out && r.state == PortState::Completed)
            .and_then(|r| r.operator.clone());
        if let Some(operator) = ported_out {
            return Some(Serving {
                operator,
                by: ServedBy::PortedOut,
                routing_prefix: None,
            });
        }
        if ours {
            let name = inv
                .settings()
                .operator_mnemonics
                .first()
                .cloned()
                .unwrap_or_else(|| "provider".to_owned());
            return Some(Serving {
                operator: name,
                by: ServedBy::Provider,
                routing_prefix: None,
            });
        }
    }
    if let Some(prefix) = ported.and_then(|p| p.prefix_of(number)) {
        let operator = arcep
            .and_then(|a| a.porting_prefix(prefix))
            .map(|p| p.operator.clone())
            .unwrap_or_default();
        return Some(Serving {
            operator,
            by: ServedBy::PortedList,
            routing_prefix: Some(prefix.to_owned()),
        });
    }
    let holder = arcep?.operator_of(number)?;
    Some(Serving {
        operator: holder.to_owned(),
        by: ServedBy::BlockHolder,
        routing_prefix: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arcep::FileKind;

    fn arcep() -> ArcepData {
        let mut a = ArcepData::new();
        a.import(
            FileKind::Majnum,
            Path::new("MAJNUM.csv"),
            "EZABPQM;Tranche_Debut;Tranche_Fin;Mnémo\n0145231;0145231000;0145231999;FRTE\n"
                .as_bytes(),
        );
        a.import(
            FileKind::Majporta,
            Path::new("MAJPORTA.csv"),
            b"Code_Portabilite;Mn\xe9mo\n10002;SFR0\n",
        );
        a
    }

    #[test]
    fn ported_list_then_block_holder() {
        let mut list = PortedNumbers::new();
        let bad = list.import_bytes(
            b"Num\xe9ro;Code_Portabilite\n0145231042;10002\n+33145231043;10099\n0145;10002\n0145231044;\n",
        );
        assert_eq!(list.len(), 2);
        let lines: Vec<u64> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [4, 5]);
        let a = arcep();
        let n = |s: &str| E164::parse(s).unwrap();
        let s = serving_operator(&n("0145231042"), None, Some(&list), Some(&a)).unwrap();
        assert_eq!(
            (s.operator.as_str(), s.by, s.routing_prefix.as_deref()),
            ("SFR0", ServedBy::PortedList, Some("10002"))
        );
        // A prefix MAJPORTA does not know: the prefix is still given.
        let s = serving_operator(&n("0145231043"), None, Some(&list), Some(&a)).unwrap();
        assert_eq!(
            (s.operator.as_str(), s.routing_prefix.as_deref()),
            ("", Some("10099"))
        );
        let s = serving_operator(&n("0145231999"), None, Some(&list), Some(&a)).unwrap();
        assert_eq!((s.operator.as_str(), s.by), ("FRTE", ServedBy::BlockHolder));
        assert!(serving_operator(&n("0299999999"), None, Some(&list), Some(&a)).is_none());
    }
}
