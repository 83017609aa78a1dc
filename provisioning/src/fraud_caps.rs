//! Toll-fraud caps of a trunk: the optional `[trunk.fraud_caps]` table.
//!
//! ```toml
//! [trunk.fraud_caps]                # optional; a class or a field left out has no cap
//! international = { concurrent = 4, per_minute = 10 }
//! premium = { concurrent = 0 }      # 0: calls of the class are refused
//! other = { per_minute = 120 }
//! ```
//!
//! Outbound calls are sorted into three destination classes by the SIP edge (with
//! `number-portability`'s classification): `premium` (surcharged service numbers,
//! French 081/082/089 and their foreign equivalents, satellite and international
//! network ranges), `international` (any other number outside the national plan) and
//! `other` (everything else). A cap limits the calls of a class in progress at once
//! (`concurrent`) and the calls of a class admitted within any 60 seconds
//! (`per_minute`). This module owns the format and its checks; the edge enforces it.

use crate::toml_reader::{TableReader, ValueReader};

/// The largest cap value: a sanity bound, far above any trunk's traffic.
pub const MAX_FRAUD_CAP: u32 = 1_000_000;

/// Caps of one destination class; `None` is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCaps {
    concurrent: Option<u32>,
    per_minute: Option<u32>,
}

impl ClassCaps {
    /// Calls of the class in progress at once, at most.
    pub fn concurrent(&self) -> Option<u32> {
        self.concurrent
    }

    /// Calls of the class admitted within any 60 seconds, at most.
    pub fn per_minute(&self) -> Option<u32> {
        self.per_minute
    }
}

/// A trunk's caps per destination class (no caps when the table is absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FraudCaps {
    international: ClassCaps,
    premium: ClassCaps,
    other: ClassCaps,
}

impl FraudCaps {
    /// Caps of calls outside the national plan (premium excluded).
    pub fn international(&self) -> ClassCaps {
        self.international
    }

    /// Caps of surcharged and international premium destinations.
    pub fn premium(&self) -> ClassCaps {
        self.premium
    }

    /// Caps of every other destination.
    pub fn other(&self) -> ClassCaps {
        self.other
    }
}

/// Reads `[trunk.fraud_caps]`; `None` after an error (already reported).
pub(crate) fn read_fraud_caps(mut r: TableReader<'_, '_>) -> Option<FraudCaps> {
    let international = r.optional("international").map(|v| read_class(&v));
    let premium = r.optional("premium").map(|v| read_class(&v));
    let other = r.optional("other").map(|v| read_class(&v));
    r.finish();
    Some(FraudCaps {
        international: international.unwrap_or(Some(ClassCaps::default()))?,
        premium: premium.unwrap_or(Some(ClassCaps::default()))?,
        other: other.unwrap_or(Some(ClassCaps::default()))?,
    })
}

fn read_class(v: &ValueReader<'_, '_>) -> Option<ClassCaps> {
    let mut t = v.table()?;
    let concurrent = t.optional("concurrent").map(|v| read_cap(&v));
    let per_minute = t.optional("per_minute").map(|v| read_cap(&v));
    t.finish();
    Some(ClassCaps {
        concurrent: concurrent.transpose().ok()?,
        per_minute: per_minute.transpose().ok()?,
    })
}

/// A valid cap, or `Err(())` once the problem is reported.
fn read_cap(v: &ValueReader<'_, '_>) -> Result<u32, ()> {
    let n = v.integer().ok_or(())?;
    match u32::try_from(n) {
        Ok(n) if n <= MAX_FRAUD_CAP => Ok(n),
        _ => {
            v.error(format!(
                "{n} is out of range (expected 0..={MAX_FRAUD_CAP}; 0 refuses every call of the class)"
            ));
            Err(())
        }
    }
}
