//! What an import run did, per file and in total, and the `--max-reject` threshold.

use crate::draft::Reason;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Counts for one input file (or the whole run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows read (valid or not).
    pub read: u64,
    /// New records written (or, in a dry run, that would be).
    pub imported: u64,
    /// Teams rows that matched an edge record and enriched it instead of becoming a
    /// second call.
    pub enriched: u64,
    /// Rows already stored (an earlier import, or earlier in this run).
    pub duplicates: u64,
    /// Rows read, valid, but neither checked nor written: the run stopped first
    /// ([`crate::import::ImportReport::stopped`]).
    pub not_stored: u64,
    /// Refused rows per reason.
    pub rejected: BTreeMap<Reason, u64>,
    /// Notes per code (imported rows with something to tell).
    pub notes: BTreeMap<&'static str, u64>,
    /// Records ClickHouse acknowledged.
    pub delivered: u64,
    /// Records kept in the spool (ClickHouse unreachable): delivered by a later run.
    pub spooled: u64,
    /// Records refused by ClickHouse or their own check, kept in the spool's
    /// `rejected.jsonl`.
    pub set_aside: u64,
}

impl Counts {
    /// All rejected rows.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Counts) {
        self.read += other.read;
        self.imported += other.imported;
        self.enriched += other.enriched;
        self.duplicates += other.duplicates;
        self.not_stored += other.not_stored;
        for (k, v) in &other.rejected {
            *self.rejected.entry(*k).or_default() += v;
        }
        for (k, v) in &other.notes {
            *self.notes.entry(k).or_default() += v;
        }
        self.delivered += other.delivered;
        self.spooled += other.spooled;
        self.set_aside += other.set_aside;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} read, {} imported, {} enriched edge records, {} duplicates, {} rejected",
            self.read,
            self.imported,
            self.enriched,
            self.duplicates,
            self.rejected_total()
        )?;
        if !self.rejected.is_empty() {
            let parts: Vec<String> = self
                .rejected
                .iter()
                .map(|(k, v)| format!("{} {v}", k.as_str()))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        if self.not_stored > 0 {
            write!(f, ", {} not stored (the run stopped)", self.not_stored)?;
        }
        if !self.notes.is_empty() {
            let parts: Vec<String> = self.notes.iter().map(|(k, v)| format!("{k} {v}")).collect();
            write!(f, "; notes: {}", parts.join(", "))?;
        }
        Ok(())
    }
}

/// One file's outcome.
#[derive(Clone, Debug, Default)]
pub struct FileSummary {
    /// The file as given.
    pub path: PathBuf,
    /// Its counts.
    pub counts: Counts,
    /// Its reject file, if rows were refused.
    pub reject_file: Option<PathBuf>,
    /// What stopped reading it early, if anything.
    pub error: Option<String>,
    /// Something to tell about a file read whole.
    pub warning: Option<String>,
}

/// The `--max-reject` threshold: a number of rows, or a percentage of the rows read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxReject {
    /// At most this many rejected rows.
    Rows(u64),
    /// At most this percentage of the rows read.
    Percent(f64),
}

/// The default: 1 % of the rows read. Isolated bad rows are listed in the reject file
/// and the summary and the run succeeds; beyond 1 %, a systematic problem (wrong
/// format or mapping, unprovisioned trunk, truncated export) is likely and the run
/// fails so that a scheduler alerts someone.
pub const DEFAULT_MAX_REJECT: &str = "1%";

impl MaxReject {
    /// Reads `N` or `N%`.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(text: &str) -> Result<MaxReject, String> {
        let bad = || {
            format!(
                "--max-reject {text:?} is neither a number of rows (100) nor a percentage (0.5%)"
            )
        };
        match text.trim().strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(MaxReject::Percent(v)),
                _ => Err(bad()),
            },
            None => text.trim().parse().map(MaxReject::Rows).map_err(|_| bad()),
        }
    }

    /// True when `rejected` out of `read` rows is over the threshold.
    pub fn exceeded(self, rejected: u64, read: u64) -> bool {
        match self {
            MaxReject::Rows(n) => rejected > n,
            MaxReject::Percent(p) => rejected as f64 > read as f64 * p / 100.0,
        }
    }
}

impl fmt::Display for MaxReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxReject::Rows(n) => write!(f, "{n} rows"),
            MaxReject::Percent(p) => write!(f, "{p}% of the rows read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_and_apply() {
        assert_eq!(MaxReject::parse("1%").unwrap(), MaxReject::Percent(1.0));
        assert_eq!(MaxReject::parse("25").unwrap(), MaxReject::Rows(25));
        assert!(MaxReject::parse("lots").unwrap_err().contains("\"lots\""));
        assert!(MaxReject::parse("120%").is_err());
        let one = MaxReject::parse(DEFAULT_MAX_REJECT).unwrap();
        assert!(!one.exceeded(10, 1_000));
        assert!(one.exceeded(11, 1_000));
        assert!(MaxReject::Rows(0).exceeded(1, 1_000_000));
    }

    #[test]
    fn counts_print_reasons() {
        let mut c = Counts {
            read: 5,
            imported: 2,
            ..Counts::default()
        };
        c.rejected.insert(Reason::BadNumber, 2);
        c.rejected.insert(Reason::UnknownTrunk, 1);
        assert_eq!(
            c.to_string(),
            "5 read, 2 imported, 0 enriched edge records, 0 duplicates, 3 rejected (bad_number 2, unknown_trunk 1)"
        );
        let mut total = Counts::default();
        total.add(&c);
        total.add(&Counts {
            read: 4,
            not_stored: 4,
            ..Counts::default()
        });
        assert_eq!(
            total.to_string(),
            "9 read, 2 imported, 0 enriched edge records, 0 duplicates, 3 rejected (bad_number 2, unknown_trunk 1), 4 not stored (the run stopped)"
        );
    }
}
